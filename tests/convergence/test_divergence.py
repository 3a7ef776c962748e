"""
Tests for otter2.convergence.divergence: the alarm fires for a group diverged
and unchanged past the timeout, once per timeout, and tracking restarts when
its figures change.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import PMap, pmap
from twisted.trial.unittest import SynchronousTestCase

from otter2.convergence.divergence import watch
from otter2.convergence.figures import GroupFigures

TIMEOUT = 3600.0


def figures(desired: int = 3, actual: int = 1, pending: int = 0, status: str = "ACTIVE",
            since: float | None = None) -> GroupFigures:
    return GroupFigures("t1", "g1", status, desired, actual, pending, since)


class WatchTests(SynchronousTestCase):
    """The watch's rule, look after look."""

    def looks(self, seen: Sequence[tuple[float, GroupFigures]]) -> list[tuple[float, int]]:
        """The instants of the alarms raised over the looks, and the number tracked."""
        tracked: PMap = pmap()
        raised: list[tuple[float, int]] = []
        for now, group in seen:
            watched = watch(tracked, [group], now, TIMEOUT)
            tracked = watched.tracked
            raised.extend((now, len(tracked)) for _ in watched.alarms)
        return raised

    def test_alarm_once_per_timeout(self) -> None:
        """A group stuck at the same figures raises an alarm past the timeout, then again
        one timeout later, not at every look."""
        self.assertEqual(self.looks([(t, figures()) for t in range(0, 8000, 60)]),
                         [(3660, 1), (7260, 1)])

    def test_change_restarts_tracking(self) -> None:
        """Figures that change start the count again."""
        seen = [(t, figures(actual=1 if t < 3000 else 2)) for t in range(0, 7000, 60)]
        self.assertEqual(self.looks(seen), [(6660, 1)])

    def test_converged_paused_or_error_are_dropped(self) -> None:
        """A group that converges, is paused or goes to ERROR is no longer tracked, and
        the instant kept in its state is cleared."""
        for group in (figures(actual=3), figures(status="paused", since=5.0),
                      figures(status="ERROR", since=5.0)):
            watched = watch(pmap({("t1", "g1"): None}), [group], 100.0, TIMEOUT)
            self.assertEqual(dict(watched.tracked), {})
        self.assertEqual(dict(watch(pmap(), [figures(actual=3, since=5.0)], 100.0,
                                    TIMEOUT).keep), {("t1", "g1"): None})

    def test_restart_goes_on_from_the_state(self) -> None:
        """After a restart, a group whose state keeps an instant is tracked from it: the
        alarm comes without waiting a whole timeout again."""
        watched = watch(pmap(), [figures(since=0.0)], 4000.0, TIMEOUT)
        self.assertEqual([(a.since, a.figures.group_id) for a in watched.alarms], [(0.0, "g1")])
        self.assertEqual(dict(watched.keep), {})

    def test_first_alarm_keeps_its_instant(self) -> None:
        """The first alarm keeps the instant the divergence counts from in the state."""
        tracked = watch(pmap(), [figures()], 100.0, TIMEOUT).tracked
        watched = watch(tracked, [figures()], 3701.0, TIMEOUT)
        self.assertEqual(dict(watched.keep), {("t1", "g1"): 100.0})
        self.assertEqual(watched.oldest(3701.0), 3601.0)

    @given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
                    min_size=1, max_size=30))
    def test_no_alarm_before_the_timeout(self, values: list[tuple[int, int, int]]) -> None:
        """Whatever the figures, no alarm is raised before the timeout has passed."""
        seen = [(i * 60.0, figures(*v)) for i, v in enumerate(values)]
        self.assertTrue(all(now > TIMEOUT for now, _ in self.looks(seen)))
