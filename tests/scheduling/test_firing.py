"""
Tests for otter2.scheduling.firing: what firing an event does, decided from
the group, the policy and the time, and written with the event's consumption.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from attrs import evolve
from effect import ComposedDispatcher, base_dispatcher
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from txeffect import make_twisted_dispatcher, perform

from otter2.control.schedule import policy_event
from otter2.effects.dispatcher import store_dispatcher, world_dispatcher
from otter2.model import GroupState, Policy, ScalingGroup, ScheduledEvent, Trigger
from otter2.scheduling.firing import Fired, Outcome, decide, fire
from otter2.store.memory import MemoryGroupStore

MINUTE = 60.0
NOW = datetime(2030, 1, 1, 8, 0, tzinfo=UTC).timestamp()


def group(desired: int = 1, **state: Any) -> ScalingGroup:
    return ScalingGroup(
        tenant_id="t1", group_id="g1",
        config={"name": "g", "cooldown": 0, "minEntities": 0, "maxEntities": 10},
        launch={"type": "launch_server", "args": {"server": {}}},
        state=GroupState("t1", "g1", desired, **state), created=0.0)


def schedule_policy(args: dict[str, str], version: str = "v1", **data: Any) -> Policy:
    body = {"name": "s", "type": "schedule", "cooldown": 0, "args": args,
            **(data or {"change": 2})}
    return Policy("t1", "g1", "p1", body, version)


def event_for(policy: Policy, trigger: float) -> ScheduledEvent:
    event = policy_event(policy, trigger - 1, 8)
    assert event is not None
    return evolve(event, trigger=trigger)


CRON = schedule_policy({"cron": "* * * * *"})


class DecideTests(SynchronousTestCase):
    """The decision is an execution as the API makes it, and the event that follows."""

    def test_executed_cron_arms_the_next_minute(self) -> None:
        """A cron policy adds two servers and its next event is the following minute."""
        firing = decide(event_for(CRON, NOW), group(), CRON, NOW + 3)
        self.assertEqual((firing.outcome, firing.mark_divergent), (Outcome.EXECUTED, True))
        assert firing.state is not None and firing.next_event is not None
        self.assertEqual((firing.state.desired, firing.next_event.trigger), (3, NOW + MINUTE))
        self.assertEqual(firing.message, "desired capacity 1 -> 3")

    def test_at_has_no_next_event(self) -> None:
        """An at policy fires once."""
        at = schedule_policy({"at": "2030-01-01T08:00:00Z"})
        self.assertIsNone(decide(event_for(at, NOW), group(), at, NOW).next_event)

    def test_missed_occurrences_fire_once(self) -> None:
        """Fired an hour late, a cron goes on from its next occurrence after now."""
        firing = decide(event_for(CRON, NOW), group(), CRON, NOW + 3600 + 5)
        assert firing.next_event is not None
        self.assertEqual(firing.next_event.trigger, NOW + 3600 + MINUTE)

    def test_clock_behind_the_trigger_does_not_fire_it_again(self) -> None:
        """A clock a little behind the trigger still arms the next occurrence, not the same."""
        firing = decide(event_for(CRON, NOW), group(), CRON, NOW - 2)
        assert firing.next_event is not None
        self.assertEqual(firing.next_event.trigger, NOW + MINUTE)

    def test_cooldown_and_no_change_still_converge(self) -> None:
        """A refusal changes nothing, asks for convergence and keeps the cron going."""
        hot = group(group_touched=NOW - 1)
        hot = evolve(hot, config=hot.config.set("cooldown", 60))
        firing = decide(event_for(CRON, NOW), hot, CRON, NOW)
        self.assertEqual((firing.outcome, firing.state, firing.mark_divergent),
                         (Outcome.REFUSED, None, True))
        self.assertIn("Cooldowns not met", firing.message)
        self.assertIsNotNone(firing.next_event)
        same = schedule_policy({"cron": "* * * * *"}, desiredCapacity=1)
        self.assertEqual(decide(event_for(same, NOW), group(), same, NOW).outcome,
                         Outcome.REFUSED)

    def test_paused_group_is_not_executed(self) -> None:
        """A paused group's event is consumed without executing; a cron goes on."""
        firing = decide(event_for(CRON, NOW), group(paused=True), CRON, NOW)
        self.assertEqual((firing.outcome, firing.state, firing.mark_divergent),
                         (Outcome.NOT_EXECUTED, None, False))
        self.assertIn("paused", firing.message)
        self.assertIsNotNone(firing.next_event)

    def test_gone_group_or_changed_policy_discards(self) -> None:
        """No group, no policy or another version of it: the event is dropped, nothing armed."""
        event = event_for(CRON, NOW)
        for found_group, found_policy in [(None, CRON), (group(), None),
                                          (group(), evolve(CRON, version="v2"))]:
            firing = decide(event, found_group, found_policy, NOW)
            self.assertEqual((firing.outcome, firing.state, firing.next_event),
                             (Outcome.DISCARDED, None, None))


class FireTests(SynchronousTestCase):
    """Firing through the store: once, with the state change, whatever the races."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.store = MemoryGroupStore()
        self.dispatcher = ComposedDispatcher([
            store_dispatcher(self.store), world_dispatcher(self.clock),
            make_twisted_dispatcher(self.clock), base_dispatcher])

    def fire(self, event: ScheduledEvent) -> Fired:
        result: Fired | None = self.successResultOf(perform(self.dispatcher, fire(event)))
        assert result is not None
        return result

    def test_fires_once(self) -> None:
        """The first firing executes and arms the next event; the same event again is refused."""
        event = event_for(CRON, NOW)
        self.store.create_group(group(), [CRON], [event], 10)
        fired = self.fire(event)
        self.assertEqual(fired.firing.outcome, Outcome.EXECUTED)
        self.assertEqual(self.store.groups[("t1", "g1")].state.desired, 3)
        self.assertEqual([e.trigger for e in self.store.events[("t1", "g1")].values()],
                         [NOW + MINUTE])
        self.assertEqual(self.fire(event).firing.outcome, Outcome.ALREADY_FIRED)
        self.assertEqual(self.store.groups[("t1", "g1")].state.desired, 3)
        self.assertEqual(list(self.store.divergent), [("t1", "g1")])

    def test_firings_leave_receipts(self) -> None:
        """An executed firing and a refused one each leave a schedule receipt with
        the event's trigger; the same event fired again leaves none."""
        no_change = schedule_policy({"cron": "* * * * *"}, desiredCapacity=3)
        first = event_for(CRON, NOW)
        self.store.create_group(group(), [CRON], [first], 10)
        self.fire(first)
        self.fire(first)
        second = event_for(no_change, NOW + MINUTE)
        self.store.update_policy(no_change, second)
        self.clock.advance(MINUTE)
        self.fire(second)
        receipts = sorted(self.store.executions[("t1", "g1")].values(), key=lambda e: e.at)
        self.assertEqual(
            [(e.trigger, e.scheduled_for, e.desired_before, e.desired_after,
              e.refusal and e.refusal.error_type) for e in receipts],
            [(Trigger.SCHEDULE, NOW, 1, 3, None),
             (Trigger.SCHEDULE, NOW + MINUTE, 3, 3, "CannotExecutePolicyError")])
