"""
Tests for `Converger.look_now` with `notify_after`, wired as the composition
root wires them: a group marked divergent on this node is converged at once,
on a Clock against the simulated cloud and the in-memory store.
"""

from __future__ import annotations

from typing import Any

from effect import ComposedDispatcher, Effect
from txeffect import perform

from otter2.effects.dispatcher import notify_after
from otter2.service.converger import Converger
from otter2.simulation import capacity
from otter2.store.intents import ListDivergent, MarkDivergent, marks_divergent
from tests.service.test_converger import ConvergerTestCase


class LookNowTests(ConvergerTestCase):
    """A mark made between ticks starts an iteration without waiting for the next tick."""

    def setUp(self) -> None:
        super().setUp()
        self.listings: list[float] = []

        def record(intent: Any) -> None:
            if isinstance(intent, ListDivergent):
                self.listings.append(self.clock.seconds())

        self.converger = Converger(self.clock, ComposedDispatcher([record, self.dispatcher]),
                                   self.settings)
        self.marking = notify_after(self.dispatcher, marks_divergent, self.converger.look_now)

    def mark(self, group_id: str) -> None:
        self.successResultOf(perform(self.marking, Effect(MarkDivergent("t1", group_id))))

    def test_mark_between_ticks_converges_at_once(self) -> None:
        """A group marked 1 s after a tick is building servers with no time passing."""
        self.make_group(desired=2)
        self.store.clear_divergent("t1", "g1")
        self.converger.startService()
        self.clock.advance(1)
        self.mark("g1")
        self.clock.advance(0)
        self.assertEqual(capacity(self.holder.cloud, "t1", "g1").building, 2)
        self.assertEqual(self.listings, [1_000_000.0, 1_000_001.0])

    def test_marks_made_together_share_one_look(self) -> None:
        """Three marks made in one turn of the reactor bring one extra look, not three."""
        for group_id in ["g1", "g2", "g3"]:
            self.make_group(group_id, desired=1)
            self.store.clear_divergent("t1", group_id)
        self.converger.startService()
        self.clock.advance(1)
        for group_id in ["g1", "g2", "g3"]:
            self.mark(group_id)
        self.clock.advance(0)
        self.assertEqual(self.listings, [1_000_000.0, 1_000_001.0])
        self.assertEqual(capacity(self.holder.cloud, "t1").building, 3)

    def test_stopped_converger_does_not_look(self) -> None:
        """A mark made while the converger is stopped schedules nothing."""
        self.make_group(desired=1)
        self.mark("g1")
        self.assertEqual((self.clock.getDelayedCalls(), self.listings), ([], []))
