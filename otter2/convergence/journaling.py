"""
What an iteration of a ``launch_server`` group writes to the activity
journal (Note [Journal] in ``otter2.model.journal``): the observations it
made (roots), its plan, and one step event per server or node acted on,
each caused by its root (Note [Root causes] in ``causes``).

An iteration with no step reads and writes nothing here. One with steps
first reads back from the journal only what attribution needs (`recall`):
the capacity roots when it creates or removes servers for capacity, the
latest events about each server marked for draining or gone (acted on), and
whether its observations are already recorded. Then `attribute` decides each root,
`stamped` writes the root of each create into the new server's metadata, and
``step_events.iteration_events`` makes the events the iteration appends with
its conclusion.

test-case-name: tests.convergence.test_journaling
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from attrs import frozen
from effect import Constant, Effect, parallel
from pyrsistent import PMap, pmap

from otter2.cloud.metadata import with_cause
from otter2.convergence.causes import (
    CAPACITY_KINDS,
    CAPACITY_ROOTS,
    Attribution,
    CapacityRoot,
    capacity_roots,
    creation_roots,
    event_id,
    removal_roots,
)
from otter2.convergence.destiny import Destiny, destiny
from otter2.convergence.planning import KEEP_ORDER
from otter2.convergence.stacks import KEEP_ORDER as STACK_KEEP_ORDER
from otter2.convergence.stacks import StackFate, stack_fate
from otter2.convergence.step_events import FAILED, acted_on
from otter2.convergence.steps import (
    AddNodesToCLB,
    BulkAddToRCv3,
    CreateServer,
    CreateStack,
    Step,
)
from otter2.model import EventKind, JournalEvent
from otter2.model.cloud import (
    LBNode,
    ObservedServer,
    ObservedStack,
    RecordedServer,
)
from otter2.store.intents import ListJournal, LoadJournal

#: The kinds of events that say what last happened to a server.
_ABOUT_A_SERVER = (EventKind.STEP.value, EventKind.CHANGE.value, EventKind.OBSERVED.value)

#: How many of the latest events about a server are read to find what removed it.
SERVER_EVENTS = 10

#: The step actions that remove a server from its group (a drain leads to deletion).
_REMOVING = ("mark draining", "drain node", "delete")


@frozen
class Survey:
    """
    The servers (or Heat stacks) of one plan that attribution looks at:
    ``broken`` ones it replaces (id and the state they are in), ``unit`` says
    which, ``gone`` ones (deleted, whoever did it), ``draining`` ones
    (marked in an earlier iteration), ``surplus`` ones beyond the desired
    capacity (in the planner's keep order); ``creates`` counts the plan's
    creations and ``kept`` the servers it keeps.
    """

    broken: tuple[tuple[str, str], ...]
    gone: tuple[str, ...]
    draining: tuple[str, ...]
    surplus: tuple[str, ...]
    creates: int
    kept: int
    capacity: int
    removed_nodes: tuple[tuple[str, str], ...] = ()  # (server id, load balancer id)
    unit: str = "server"

    @property
    def needs_capacity_roots(self) -> bool:
        """Whether attribution needs the capacity roots of the journal."""
        return bool(self.creates or self.surplus)


def survey(servers: Sequence[ObservedServer], lb_nodes: Iterable[LBNode], steps: Iterable[Step],
           kept: int, capacity: int, now: float, build_timeout: float,
           recorded: Iterable[RecordedServer] = ()) -> Survey:
    """
    The `Survey` of a plan of ``steps`` keeping ``kept`` servers of
    ``servers`` (those it saw, vanished ones included) for ``capacity``;
    ``recorded`` is the group's record from the last iteration. Servers marked
    for draining, or gone, are surveyed only when a step acts on them (gone
    ones also when servers are created: they may be replaced).
    """
    steps = list(steps)
    touched = acted_on(steps, servers, lb_nodes)
    creates = sum(isinstance(s, CreateServer) for s in steps)
    fates: dict[Destiny, list[ObservedServer]] = {fate: [] for fate in Destiny}
    for server in sorted(servers, key=lambda s: (-s.created, s.id)):
        fates[destiny(server, now, build_timeout)].append(server)
    order = [server.id for fate in KEEP_ORDER for server in fates[fate]]
    return Survey(
        broken=tuple((server.id, server.state.value) for server in fates[Destiny.REPLACE]),
        gone=tuple(sorted(server.id for server in fates[Destiny.CLEANUP]
                          if creates or server.id in touched)),
        draining=tuple(sorted(server.id for server in fates[Destiny.DRAIN]
                              if server.id in touched)),
        surplus=tuple(order[kept:]), creates=creates,
        kept=kept, capacity=capacity,
        removed_nodes=tuple(sorted(_removed_by_hand(servers, steps, recorded))))


def stack_survey(stacks: Iterable[ObservedStack], steps: Iterable[Step], kept: int,
                 capacity: int) -> Survey:
    """The `Survey` of a ``launch_stack`` group's plan of ``steps`` keeping ``kept``
    of ``stacks`` for ``capacity``: failed stacks are broken, and the counted
    ones beyond the capacity surplus."""
    fates: dict[StackFate, list[ObservedStack]] = {fate: [] for fate in StackFate}
    for stack in sorted(stacks, key=lambda s: (-s.created, s.id)):
        fates[stack_fate(stack)].append(stack)
    order = [stack.id for fate in STACK_KEEP_ORDER for stack in fates[fate]]
    broken = [*fates[StackFate.REPLACE], *fates[StackFate.DELETE_AGAIN]]
    return Survey(
        broken=tuple((stack.id, f"{stack.action}_{stack.status}") for stack in broken),
        gone=(), draining=(), surplus=tuple(order[kept:]),
        creates=sum(isinstance(step, CreateStack) for step in steps), kept=kept,
        capacity=capacity, unit="stack")


def _removed_by_hand(servers: Sequence[ObservedServer], steps: Sequence[Step],
                     recorded: Iterable[RecordedServer]) -> set[tuple[str, str]]:
    """(server id, load balancer id) of the nodes a step adds back for a server that
    served on that load balancer at the last iteration: someone removed them."""
    served = {entry.id: {lb.lb_id for lb in entry.load_balancers}
              for entry in recorded if entry.active}
    if not served:
        return set()
    at_address = {s.servicenet_address: s.id for s in servers if s.servicenet_address}
    found: set[tuple[str, str]] = set()
    for step in steps:
        if isinstance(step, AddNodesToCLB):
            pairs = [(at_address.get(address), step.lb_id) for address, _ in step.address_configs]
        elif isinstance(step, BulkAddToRCv3):
            pairs = [(server_id, pool) for pool, server_id in step.lb_node_pairs]
        else:
            continue
        found.update((server_id, lb_id) for server_id, lb_id in pairs
                     if server_id is not None and lb_id in served.get(server_id, ()))
    return found


@frozen
class Recalled:
    """What attribution read back from the journal: the capacity roots (newest
    first), the latest events about each server asked (newest first), by id, and
    the ids of the observations already recorded."""

    roots: tuple[CapacityRoot, ...] = ()
    about: PMap = pmap()  # server id -> list of JournalEvent
    recorded: frozenset[str] = frozenset()


def observed_ids(tenant_id: str, group_id: str, found: Survey) -> dict[str, str]:
    """The id of each observation ``found`` could make, by what it is about."""
    ids = {f"broken:{broken}": event_id(tenant_id, group_id, broken, "broken")
           for broken, _ in found.broken}
    ids.update({f"vanished:{server_id}": event_id(tenant_id, group_id, server_id, "vanished")
                for server_id in found.gone})
    ids.update({f"node:{server_id}:{lb_id}": event_id(tenant_id, group_id, server_id,
                                                      "node removed", lb_id)
                for server_id, lb_id in found.removed_nodes})
    return ids


def recall(tenant_id: str, group_id: str, found: Survey) -> Effect:
    """An Effect of the `Recalled` that attributing ``found`` needs; of an empty
    one, with no read, when it needs none."""
    reads: list[Effect] = []
    if found.needs_capacity_roots:
        reads.append(Effect(ListJournal(tenant_id, group_id, CAPACITY_ROOTS, None,
                                        kinds=CAPACITY_KINDS)))
    asked = sorted({*found.gone, *found.draining})
    reads.extend(Effect(ListJournal(tenant_id, group_id, SERVER_EVENTS, None,
                                    kinds=_ABOUT_A_SERVER,
                                    server_id=server_id)) for server_id in asked)
    candidates = sorted(observed_ids(tenant_id, group_id, found).values())
    if candidates:
        reads.append(Effect(LoadJournal(tenant_id, group_id, candidates)))
    if not reads:
        return Effect(Constant(Recalled()))

    def read(results: list[Any]) -> Recalled:
        results = list(results)
        roots = capacity_roots(results.pop(0)) if found.needs_capacity_roots else []
        about = dict(zip(asked, (list(events) for events in results[:len(asked)]),
                         strict=True))
        loaded = results[len(asked)] if candidates else {}
        return Recalled(tuple(roots), pmap(about), frozenset(loaded))
    return parallel(reads).on(read)


def attribute(tenant_id: str, group_id: str, now: float, found: Survey,
              recalled: Recalled) -> Attribution:
    """Each root of a plan's steps; see Note [Root causes] in ``causes``."""
    ids = observed_ids(tenant_id, group_id, found)
    observed: list[JournalEvent] = []
    roots: dict[str, str | None] = {}
    lost: list[str] = []

    def observe(key: str, server_id: str, summary: str, **details: Any) -> str:
        the_id = ids[key]
        if the_id not in recalled.recorded:
            observed.append(JournalEvent(
                tenant_id=tenant_id, group_id=group_id, event_id=the_id,
                kind=EventKind.OBSERVED, at=now, summary=summary, server_id=server_id,
                details=details))
        return the_id

    for broken, state in found.broken:
        root = observe(f"broken:{broken}", broken,
                       f"{found.unit} {broken} is broken ({state}): replaced",
                       what="broken", state=state)
        roots[broken] = root
        lost.append(root)
    for server_id in found.gone:
        about = recalled.about.get(server_id, [])
        removal = _removal(about)
        if removal is not None:
            roots[server_id] = _root(removal)
            continue
        root = observe(f"vanished:{server_id}", server_id,
                       f"server {server_id} was deleted out of band", what="vanished")
        roots[server_id] = root
        if not any(root in (event.event_id, event.cause) for event in about):
            lost.append(root)  # not replaced yet
    for server_id in found.draining:
        removal = _removal(recalled.about.get(server_id, []))
        roots[server_id] = None if removal is None else _root(removal)
    roots.update(removal_roots(recalled.roots, found.capacity, found.surplus))
    for server_id, lb_id in found.removed_nodes:
        roots[server_id] = observe(
            f"node:{server_id}:{lb_id}", server_id,
            f"server {server_id}'s node on load balancer {lb_id} was removed out of band",
            what="node removed", lb_id=lb_id)
    creates = creation_roots(recalled.roots, found.kept, lost, found.creates)
    return Attribution(tuple(creates), pmap(roots), tuple(observed))


def _removal(events: Iterable[JournalEvent]) -> JournalEvent | None:
    """The newest of ``events`` (about one server, newest first) that removed the
    server from its group: an owner's change, or a step that drained or deleted
    it and was not refused; None if there is none."""
    for event in events:
        if event.kind is EventKind.CHANGE or (
                event.kind is EventKind.STEP and event.details.get("action") in _REMOVING
                and event.details.get("outcome") != FAILED):
            return event
    return None


def _root(event: JournalEvent) -> str | None:
    """The root ``event`` follows from (itself if it is one)."""
    return event.event_id if event.kind.is_root else event.cause


def stamped(steps: Iterable[Step], attribution: Attribution) -> list[Step]:
    """``steps`` with each creation's root written into its server's metadata."""
    roots = iter(attribution.creates)
    result: list[Step] = []
    for step in steps:
        if isinstance(step, CreateServer):  # a stack has no metadata of ours
            root = next(roots, None)
            if root is not None:
                step = CreateServer(with_cause(step.server_config, root))
        result.append(step)
    return result
