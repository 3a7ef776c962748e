"""
Tests for otter2.service.selfheal on a Clock with the in-memory store: when
each group is marked, and which groups are not.
"""

from __future__ import annotations

from typing import Any

from attrs import evolve
from effect import ComposedDispatcher

from otter2.service.selfheal import SelfHeal
from otter2.store.intents import MarkDivergent
from tests.service.test_converger import ConvergerTestCase


class SpreadTests(ConvergerTestCase):
    """Self-heal marks its groups one by one over its interval."""

    def setUp(self) -> None:
        super().setUp()
        self.start = self.clock.seconds()
        self.marks: list[tuple[float, str]] = []

        def record(intent: Any) -> None:
            if isinstance(intent, MarkDivergent):
                self.marks.append((self.clock.seconds() - self.start, intent.group_id))

        self.selfheal = SelfHeal(self.clock, ComposedDispatcher([record, self.dispatcher]),
                                 interval=60)

    def groups(self, *group_ids: str) -> None:
        for group_id in group_ids:
            self.make_group(group_id, desired=0)
            self.store.clear_divergent("t1", group_id)

    def advance(self, seconds: int) -> None:
        for _ in range(seconds):
            self.clock.advance(1)

    def test_marks_are_spread_and_once_per_interval(self) -> None:
        """Four groups are marked 15 s apart, each once per 60 s interval."""
        self.groups("g1", "g2", "g3", "g4")
        self.selfheal.startService()
        self.addCleanup(self.selfheal.stopService)
        self.advance(179)
        self.assertEqual(self.marks, [
            (60.0, "g1"), (75.0, "g2"), (90.0, "g3"), (105.0, "g4"),
            (120.0, "g1"), (135.0, "g2"), (150.0, "g3"), (165.0, "g4")])

    def test_suspended_groups_are_not_marked(self) -> None:
        """A suspended tenant's group is not marked, unless it is being deleted."""
        self.groups("g1", "g2", "g3")
        for group_id in ["g1", "g2"]:
            state = self.store.groups[("t1", group_id)].state
            self.store.save_state(evolve(state, suspended=True))
        self.store.mark_deleting("t1", "g2")
        self.selfheal.heal()
        self.advance(60)
        self.assertEqual([group_id for _, group_id in self.marks], ["g2", "g3"])
        self.assertEqual(sorted(self.store.divergent), [("t1", "g2"), ("t1", "g3")])

    def test_stopping_cancels_the_marks_to_come(self) -> None:
        """Once stopped, self-heal makes none of the marks it had scheduled."""
        self.groups("g1", "g2", "g3")
        self.selfheal.startService()
        self.advance(60)
        self.selfheal.stopService()
        self.advance(120)
        self.assertEqual(self.marks, [(60.0, "g1")])
        self.assertEqual(self.clock.getDelayedCalls(), [])
