"""
Tests for otter2.service.divergence on a Clock over the in-memory store: the
alarm is logged as an error, counted, and shown in the group's state.
"""

from __future__ import annotations

from attrs import evolve
from effect import ComposedDispatcher, base_dispatcher
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from txeffect import make_twisted_dispatcher
from zope.interface import provider

from otter2.api.render import render_state
from otter2.effects.dispatcher import store_dispatcher
from otter2.metrics import Metrics
from otter2.model.cloud import RecordedServer
from otter2.service.divergence import DivergenceWatch
from otter2.store.memory import MemoryGroupStore
from tests.store.test_stores import group
from tests.test_metrics import value

TIMEOUT = 3600.0


class DivergenceWatchTests(SynchronousTestCase):
    """A group stuck short of its desired capacity raises the alarm after the timeout."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.store = MemoryGroupStore()
        stuck = evolve(group("t1", "g1", 3), servers=[RecordedServer("s1", active=True)])
        self.successResultOf(self.store.create_group(stuck, [], [], 100))
        self.metrics = Metrics()
        dispatcher = ComposedDispatcher([store_dispatcher(self.store),
                                         make_twisted_dispatcher(self.clock), base_dispatcher])
        self.watch = DivergenceWatch(self.clock, dispatcher, TIMEOUT,
                                     observe=self.metrics.divergence_watched)
        self.errors: list[LogEvent] = []

        @provider(ILogObserver)
        def logged(event: LogEvent) -> None:
            if event.get("log_namespace") == "otter2.divergence":
                self.errors.append(event)
        globalLogPublisher.addObserver(logged)
        self.addCleanup(globalLogPublisher.removeObserver, logged)
        self.watch.startService()
        self.addCleanup(self.watch.stopService)

    def advance(self, seconds: float) -> None:
        for _ in range(int(seconds // 60)):
            self.clock.advance(60)

    def test_alarm_after_the_timeout(self) -> None:
        """Nothing before the timeout; then one error naming the group, the alarm
        counted, and the group's state saying it is stuck, to its owner too."""
        started = self.clock.seconds()
        self.advance(TIMEOUT)
        self.assertEqual((self.errors, value(self.metrics, "otter2_divergence_alarms_total")),
                         ([], 0))
        self.assertEqual(value(self.metrics, "otter2_divergent_groups"), 1)
        self.advance(120)
        self.assertEqual([(e["group_id"], e["desired"], e["actual"]) for e in self.errors],
                         [("g1", 3, 1)])
        self.assertIn("remains diverged and unchanged", self.errors[0]["log_format"])
        self.assertEqual(value(self.metrics, "otter2_divergence_alarms_total"), 1)
        self.assertGreater(value(self.metrics, "otter2_oldest_divergence_seconds"), TIMEOUT)
        state = self.store.groups[("t1", "g1")].state
        self.assertEqual(state.diverged_since, started + 60)
        [waiting] = render_state(self.store.groups[("t1", "g1")])["waiting"]
        self.assertIn("has not changed since", waiting["message"])
        self.advance(TIMEOUT)
        self.assertEqual(len(self.errors), 2)

    def test_converging_clears_the_alarm(self) -> None:
        """Once the group has its servers, the state no longer says it is stuck and the
        gauges fall to zero."""
        self.advance(TIMEOUT + 120)
        key = ("t1", "g1")
        self.store.groups[key] = evolve(self.store.groups[key], servers=[
            RecordedServer(f"s{i}", active=True) for i in range(3)])
        self.advance(60)
        self.assertIsNone(self.store.groups[key].state.diverged_since)
        self.assertNotIn("waiting", render_state(self.store.groups[key]))
        self.assertEqual([value(self.metrics, name) for name in (
            "otter2_divergent_groups", "otter2_oldest_divergence_seconds")], [0, 0])
