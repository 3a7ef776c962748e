"""
Root causes: which journal root each server that convergence creates, deletes
or otherwise acts on is attributed to (Note [Journal] in
``otter2.model.journal``). Pure functions of what an iteration saw, planned
and read back from the journal.

# Note [Root causes]
Every server convergence creates or deletes is attributed to exactly one
root (or to none, said so, when the journal cannot tell):

- a replacement: the create that replaces a server that broke (ERROR, built
  past its timeout) or vanished out of band, and the delete of the broken
  server, belong to the ``observed`` event of that server. The replacements
  take the lowest of the slots being filled: the servers they replace were
  there before any capacity change still being served;
- a create for capacity fills slot s (the s-th server of the group: the kept
  servers fill 1..k, the creates k+1...) and belongs to the most recent
  capacity-changing root (an ``execution`` or ``change`` whose details move
  the desired capacity) with desired_before < s <= desired_after: +5 then +3
  from 10 gives slots 11..15 to the first and 16..18 to the second, however
  many iterations (step limits) it takes;
- a server beyond the desired capacity (slot s, counted in the order the
  planner keeps servers) belongs to the most recent root with
  desired_after < s <= desired_before;
- every other step on a server (its nodes added once ACTIVE, its membership
  repaired) belongs to the root it was created for, which its create wrote
  into its metadata (``CAUSE_KEY``); a server marked for draining, or gone,
  belongs to the root of the latest event that removed it from the group (a
  drain or delete step, or its owner's change: the journal says which), and a
  gone server with none was deleted out of band: its ``observed`` event;
  a server created before the journal has none.

The capacity roots are read only by an iteration that creates or deletes for
capacity (a bounded number of them, newest first): a steady iteration reads
nothing. A root pruned from the journal leaves its slots with none.

Observations get ids derived from what was observed (`event_id`): seeing the
same broken or vanished server again in the next iteration names the same
event, and nothing new is appended.

test-case-name: tests.convergence.test_causes
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from attrs import frozen
from pyrsistent import PMap

from otter2.cloud.metadata import cause_of
from otter2.model import EventKind, JournalEvent
from otter2.model.cloud import ObservedServer

#: How many capacity-changing roots an iteration that needs them reads.
CAPACITY_ROOTS = 100

#: The kinds of roots that change the desired capacity.
CAPACITY_KINDS = (EventKind.EXECUTION.value, EventKind.CHANGE.value)


def event_id(*parts: object) -> str:
    """A deterministic event id made of ``parts``: the same parts, the same id."""
    text = "\x1f".join(str(part) for part in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@frozen
class CapacityRoot:
    """A root that moved the desired capacity from ``before`` to ``after``."""

    event_id: str
    before: int
    after: int


def capacity_roots(events: Iterable[JournalEvent]) -> list[CapacityRoot]:
    """The roots among ``events`` (newest first) that moved the desired
    capacity, in the same order."""
    roots = []
    for event in events:
        change = event.capacity_change if event.kind.is_root else None
        if change is not None:
            roots.append(CapacityRoot(event.event_id, *change))
    return roots


def slot_root(roots: Sequence[CapacityRoot], slot: int, growing: bool) -> str | None:
    """
    The root that slot ``slot`` (1-based) belongs to: the most recent of
    ``roots`` (newest first) that raised the capacity through it (``growing``)
    or lowered it through it; None if none did.
    """
    for root in roots:
        low, high = sorted((root.before, root.after))
        if (root.after > root.before) is growing and low < slot <= high:
            return root.event_id
    return None


def creation_roots(roots: Sequence[CapacityRoot], kept: int, replacing: Sequence[str],
                   creates: int) -> list[str | None]:
    """
    The root of each of ``creates`` servers built after the ``kept`` ones:
    the observations of ``replacing`` (servers lost, oldest slots first) for
    the first, then the capacity root of each slot filled.
    """
    replaced: list[str | None] = list(replacing[:creates])
    first = kept + len(replaced)
    return replaced + [slot_root(roots, first + index + 1, growing=True)
                       for index in range(creates - len(replaced))]


def removal_roots(roots: Sequence[CapacityRoot], capacity: int,
                  surplus: Sequence[str]) -> dict[str, str | None]:
    """The root of each server of ``surplus`` (beyond ``capacity``, in the order the
    planner keeps servers): the capacity root of its slot."""
    return {server_id: slot_root(roots, capacity + index + 1, growing=False)
            for index, server_id in enumerate(surplus)}


@frozen
class Attribution:
    """
    The roots of an iteration's steps: ``creates`` for each creation, in the
    order the plan's creations come; ``servers`` for each existing server
    acted on, by id (absent: the one its metadata names, or none); and the
    ``observed`` events to append (roots not yet recorded).
    """

    creates: tuple[str | None, ...]
    servers: PMap
    observed: tuple[JournalEvent, ...]

    def root_of(self, server: ObservedServer | None, server_id: str) -> str | None:
        """The root of a step on ``server_id`` (``server`` as observed, if it was)."""
        if server_id in self.servers:
            root: str | None = self.servers[server_id]
            return root
        return cause_of(server.metadata) if server is not None else None
