"""
The divergence alarm (Otter's rule, spec §5.9): which groups have stayed
diverged, with the same figures, for longer than ``divergent_timeout``.

# Note [Divergence alarm]
An ACTIVE group is diverged when its actual and pending servers together
differ from its desired ones (`GroupFigures.divergent`). The watch tracks each
diverged group with the instant it was first seen so and its figures; when
the figures change, tracking starts again from that instant, and a group that
converges, is paused, goes to ERROR (already shown to its owner and alerted
on) or is deleted is dropped. A group tracked for longer than the timeout
raises an `Alarm`, again once per timeout for as long as it stays so.

The instant a group's alarm counts from is kept in its state
(``GroupState.diverged_since``) when the alarm first fires, so that its owner
sees it (``waiting`` in the group's state) and a restarted daemon picks the
tracking up where it was rather than waiting a whole timeout again; it is
cleared once the group is no longer diverged and unchanged.

test-case-name: tests.convergence.test_divergence
"""

from __future__ import annotations

from collections.abc import Iterable

from attrs import evolve, frozen
from pyrsistent import PMap, pmap

from otter2.convergence.figures import GroupFigures

GroupKey = tuple[str, str]


@frozen
class Tracked:
    """A diverged group: its figures (desired, actual, pending), since when they have
    been so, and when it last raised an alarm."""

    figures: tuple[int, int, int]
    since: float
    alarmed: float | None = None


@frozen
class Alarm:
    """A group that has stayed diverged and unchanged for longer than the timeout."""

    figures: GroupFigures
    since: float


@frozen
class Watched:
    """What one look found: the groups tracked now, the alarms raised, and the
    instants to keep in each group's state (None: clear it) where they change."""

    tracked: PMap
    alarms: tuple[Alarm, ...]
    keep: PMap

    def oldest(self, now: float) -> float:
        """Seconds the longest-tracked group has stayed diverged (0 for none)."""
        return max((now - t.since for t in self.tracked.values()), default=0.0)


def watch(tracked: PMap, groups: Iterable[GroupFigures], now: float,
          timeout: float) -> Watched:
    """
    The next look of the watch over every group's figures, given what it
    ``tracked`` so far. See Note [Divergence alarm].
    """
    result: dict[GroupKey, Tracked] = {}
    alarms: list[Alarm] = []
    keep: dict[GroupKey, float | None] = {}
    for figures in groups:
        kept = figures.diverged_since
        key = (figures.tenant_id, figures.group_id)
        values = (figures.desired, figures.actual, figures.pending)
        if figures.status != "ACTIVE" or not figures.divergent:
            if kept is not None:
                keep[key] = None
            continue
        before: Tracked | None = tracked.get(key)
        if before is None and kept is not None:
            before = Tracked(values, kept)  # a restart: go on from the state's instant
        if before is None or before.figures != values:
            if kept is not None:
                keep[key] = None
            result[key] = Tracked(values, now)
            continue
        current = before
        if now - current.since > timeout and (
                current.alarmed is None or now - current.alarmed >= timeout):
            current = evolve(current, alarmed=now)
            alarms.append(Alarm(figures, current.since))
            if kept != current.since:
                keep[key] = current.since
        result[key] = current
    return Watched(pmap(result), tuple(alarms), pmap(keep))
