"""
Tests for otter2.service.scheduler on a Clock: schedule policies fire within
one interval of their time, exactly once, whatever happens around them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from attrs import evolve
from effect import ComposedDispatcher, base_dispatcher
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from txeffect import make_twisted_dispatcher

from otter2.control.schedule import policy_event
from otter2.effects.dispatcher import store_dispatcher, world_dispatcher
from otter2.metrics import Metrics
from otter2.model import Fence, GroupState, Policy, ScalingGroup, ScheduledEvent
from otter2.partition import AllBuckets
from otter2.service.scheduler import Scheduler
from otter2.store.intents import DueEvents, FireEvent
from otter2.store.memory import MemoryGroupStore
from otter2.store.sqlite import SQLiteGroupStore
from tests.service.test_converger import FencedOwnership
from tests.test_metrics import value

BUCKETS = 4
START = datetime(2030, 1, 1, 7, 59, 30, tzinfo=UTC).timestamp()
EIGHT = START + 30


def group(group_id: str = "g1", desired: int = 1) -> ScalingGroup:
    return ScalingGroup(
        tenant_id="t1", group_id=group_id,
        config={"name": group_id, "cooldown": 0, "minEntities": 0, "maxEntities": 1000},
        launch={"type": "launch_server", "args": {"server": {}}},
        state=GroupState("t1", group_id, desired), created=0.0)


def policy(args: dict[str, str], policy_id: str = "p1", group_id: str = "g1",
           change: int = 1) -> Policy:
    return Policy("t1", group_id, policy_id, {"name": policy_id, "type": "schedule",
                                              "change": change, "cooldown": 0,
                                              "args": args}, "v1")


def event_of(policy: Policy, now: float) -> ScheduledEvent:
    """The scheduler event of a schedule ``policy``."""
    event = policy_event(policy, now, BUCKETS)
    if event is None:
        raise AssertionError(f"policy {policy.policy_id} has no scheduler event")
    return event


class SchedulerTestCase(SynchronousTestCase):
    """A scheduler every 10 s over the in-memory store."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.store = MemoryGroupStore()
        self.scheduler = self.make_scheduler(self.store)

    def make_scheduler(self, store: Any, batchsize: int = 100, wrap: Any = None) -> Scheduler:
        dispatchers = [store_dispatcher(store), world_dispatcher(self.clock),
                       make_twisted_dispatcher(self.clock), base_dispatcher]
        if wrap is not None:
            dispatchers.insert(0, wrap)
        return Scheduler(self.clock, ComposedDispatcher(dispatchers), interval=10,
                         batchsize=batchsize, buckets=range(1, BUCKETS + 1))

    def add(self, *policies: Policy, group_id: str = "g1") -> None:
        events = [policy_event(p, self.clock.seconds(), BUCKETS) for p in policies]
        self.store.create_group(group(group_id), list(policies), [e for e in events if e], 1000)

    def desired(self, group_id: str = "g1") -> int:
        return self.store.groups[("t1", group_id)].state.desired

    def run_until(self, moment: float, step: float = 1.0) -> list[tuple[float, int]]:
        """Run the scheduler to ``moment``; the (time, desired) after each change."""
        changes = [(self.clock.seconds(), self.desired())]
        if not self.scheduler.running:
            self.scheduler.startService()
            if self.desired() != changes[-1][1]:
                changes.append((self.clock.seconds(), self.desired()))
        while self.clock.seconds() < moment:
            self.clock.advance(step)
            if self.desired() != changes[-1][1]:
                changes.append((self.clock.seconds(), self.desired()))
        return changes


class FiringTests(SchedulerTestCase):
    """When and how often policies fire."""

    def test_at_fires_once_within_an_interval(self) -> None:
        """An at policy for 08:00 fires once, by 08:00:10."""
        self.add(policy({"at": "2030-01-01T08:00:00Z"}))
        changes = self.run_until(EIGHT + 300)
        self.assertEqual(len(changes), 2, changes)
        self.assertTrue(EIGHT <= changes[1][0] <= EIGHT + 10, changes)
        self.assertEqual(self.store.events.get(("t1", "g1")), {})

    def test_cron_fires_each_minute_once(self) -> None:
        """An every-minute cron fires once per minute, each within 10 s of the minute."""
        self.add(policy({"cron": "* * * * *"}))
        changes = self.run_until(EIGHT + 5 * 60 + 30)
        self.assertEqual([d for _, d in changes], [1, 2, 3, 4, 5, 6, 7])
        for minute, (when, _) in enumerate(changes[1:]):
            self.assertTrue(0 <= when - (EIGHT + 60 * minute) <= 10, changes)

    def test_missed_triggers_fire_once(self) -> None:
        """After an hour without a scheduler, a minutely cron fires once, then every minute."""
        self.add(policy({"cron": "* * * * *"}))
        self.clock.advance(3600)
        changes = self.run_until(EIGHT + 3600 + 60 + 20)
        # 59 missed occurrences fire once, at start; then 09:00 and 09:01.
        self.assertEqual([(t - EIGHT, d) for t, d in changes],
                         [(3570, 1), (3570, 2), (3600, 3), (3660, 4)])

    def test_paused_group_is_skipped_and_cron_goes_on(self) -> None:
        """While paused nothing fires; after resume the cron fires at its next minute."""
        self.add(policy({"cron": "* * * * *"}))
        state = self.store.groups[("t1", "g1")].state
        self.store.save_state(evolve(state, paused=True))
        self.run_until(EIGHT + 150)
        self.assertEqual(self.desired(), 1)
        self.store.save_state(evolve(self.store.groups[("t1", "g1")].state, paused=False))
        changes = self.run_until(EIGHT + 200)
        self.assertEqual([d for _, d in changes], [1, 2])
        self.assertTrue(EIGHT + 180 <= changes[1][0] <= EIGHT + 190, changes)

    def test_cooldown_refuses_and_converges(self) -> None:
        """A refused execution (cooldown) changes nothing but marks the group divergent."""
        hot = group()
        hot = evolve(hot, config=hot.config.set("cooldown", 3600),
                     state=evolve(hot.state, group_touched=START))
        self.store.create_group(hot, [policy({"cron": "* * * * *"})],
                                [event_of(policy({"cron": "* * * * *"}), START)], 10)
        self.run_until(EIGHT + 20)
        self.assertEqual((self.desired(), list(self.store.divergent)), (1, [("t1", "g1")]))

    def test_updated_policy_fires_with_its_new_args(self) -> None:
        """A policy moved from 08:00 to 08:03 fires at 08:03 only."""
        self.add(policy({"at": "2030-01-01T08:00:00Z"}))
        moved = evolve(policy({"at": "2030-01-01T08:03:00Z"}), version="v2")
        self.store.update_policy(moved, policy_event(moved, START, BUCKETS))
        changes = self.run_until(EIGHT + 300)
        self.assertEqual(len(changes), 2, changes)
        self.assertTrue(EIGHT + 180 <= changes[1][0] <= EIGHT + 190, changes)

    def test_deleted_policy_or_group_never_fires(self) -> None:
        """Events of a deleted policy or group are gone with them."""
        self.add(policy({"at": "2030-01-01T08:00:00Z"}))
        self.add(policy({"at": "2030-01-01T08:00:00Z"}, group_id="g2"), group_id="g2")
        self.store.delete_policy("t1", "g1", "p1")
        self.store.delete_group("t1", "g2")
        self.run_until(EIGHT + 60)
        self.assertEqual(self.desired(), 1)
        self.assertEqual(self.store.earliest_trigger(range(1, BUCKETS + 1)).result, None)

    def test_more_due_than_a_batch(self) -> None:
        """250 due events with batches of 100 all fire in the same tick."""
        self.scheduler = self.make_scheduler(self.store, batchsize=100)
        for index in range(250):
            self.add(policy({"at": "2030-01-01T08:00:00Z"}, group_id=f"g{index}"),
                     group_id=f"g{index}")
        self.clock.advance(30)
        self.scheduler.startService()
        self.assertEqual(sum(g.state.desired for g in self.store.groups.values()), 500)

    def test_health(self) -> None:
        """Healthy while it keeps up; an event overdue by more than 60 s makes it unhealthy."""
        self.add(policy({"at": "2030-01-01T08:00:00Z"}))
        self.clock.advance(30 + 61)
        unhealthy = self.successResultOf(self.scheduler.health())
        self.assertEqual((unhealthy.healthy, unhealthy.overdue), (False, 61.0))
        self.scheduler.startService()
        self.assertTrue(self.successResultOf(self.scheduler.health()).healthy)


class Crash(Exception):
    """The process died here."""


class CrashTests(TestCase):
    """A crash at any point of a firing leaves it done once overall (real SQLite file)."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.path = self.mktemp() + ".sqlite"

    def scheduler(self, wrap: Any = None) -> tuple[Scheduler, SQLiteGroupStore]:
        store = SQLiteGroupStore(IReactorThreads(reactor), self.path)
        dispatchers = [store_dispatcher(store), world_dispatcher(self.clock),
                       make_twisted_dispatcher(self.clock), base_dispatcher]
        if wrap is not None:
            dispatchers.insert(0, wrap)
        return Scheduler(self.clock, ComposedDispatcher(dispatchers), interval=10,
                         batchsize=100, buckets=range(1, BUCKETS + 1)), store

    async def crash_then_restart(self, before_write: bool) -> int:
        """Fire with a crash just before (or just after) the store writes; restart; desired."""
        first, store = self.scheduler()
        at = policy({"at": "2030-01-01T08:00:00Z"})
        await store.create_group(group(), [at], [event_of(at, START)], 10)
        self.clock.advance(31)

        def crash(intent: Any) -> Any:
            if not isinstance(intent, FireEvent):
                return None
            if before_write:
                raise Crash()
            performer = store_dispatcher(store)(intent)

            def written_then_crash(dispatcher: Any, intent: Any, box: Any) -> None:
                class Box:
                    def succeed(self, result: Any) -> None:
                        box.fail(Crash())

                    def fail(self, error: Any) -> None:
                        box.fail(error)
                performer(dispatcher, intent, Box())
            return written_then_crash

        crashing = Scheduler(self.clock, ComposedDispatcher([
            crash, store_dispatcher(store), world_dispatcher(self.clock),
            make_twisted_dispatcher(self.clock), base_dispatcher]), interval=10, batchsize=100,
            buckets=range(1, BUCKETS + 1))
        await crashing.tick()
        self.flushLoggedErrors(Crash)
        store.close()
        restarted, store = self.scheduler()
        self.clock.advance(10)
        await restarted.tick()
        await restarted.tick()
        found = await store.load_group("t1", "g1")
        assert found is not None
        self.assertIsNone(await store.earliest_trigger(range(1, BUCKETS + 1)))
        store.close()
        return found.state.desired

    async def test_crash_before_the_write(self) -> None:
        """Killed before the write: nothing happened; after the restart it fires once."""
        self.assertEqual(await self.crash_then_restart(before_write=True), 2)

    async def test_crash_after_the_write(self) -> None:
        """Killed right after the write: it happened once; the restart does not repeat it."""
        self.assertEqual(await self.crash_then_restart(before_write=False), 2)


class ObservedFiringTests(SchedulerTestCase):
    """Each event fired is told to the scheduler's observer: the metrics count it."""

    def test_fired_events_are_counted(self) -> None:
        """An every-minute cron fired three times counts three executions, with their
        lateness, in the daemon's metrics."""
        metrics = Metrics()
        self.scheduler = Scheduler(
            self.clock, ComposedDispatcher([store_dispatcher(self.store),
                                            world_dispatcher(self.clock),
                                            make_twisted_dispatcher(self.clock),
                                            base_dispatcher]),
            interval=10, batchsize=100, buckets=range(1, BUCKETS + 1),
            observe=metrics.event_fired)
        self.add(policy({"cron": "* * * * *"}))
        self.run_until(EIGHT + 2 * 60 + 30)
        self.assertEqual(
            [value(metrics, "otter2_scheduler_events_fired_total", outcome="executed"),
             value(metrics, "otter2_scheduler_event_lateness_seconds_count")], [3, 3])
class GainingOwnership(FencedOwnership):
    """The buckets of ``fences``, to which `gain` adds one, telling the subscribers."""

    def __init__(self, fences: dict[int, Fence]) -> None:
        super().__init__(fences)
        self.subscribers: list[Callable[[], None]] = []

    def subscribe(self, changed: Callable[[], None]) -> None:
        self.subscribers.append(changed)

    def gain(self, fence: Fence) -> None:
        self.fences[fence.bucket] = fence
        for changed in self.subscribers:
            changed()


class OwnedBucketsTests(SchedulerTestCase):
    """With several nodes, the scheduler fires its own buckets' events only, fenced
    (Note [Fencing]); in 4 buckets g1 is in bucket 2 and g2 in bucket 4."""

    def owning(self, ownership: Any, interval: float = 10, wrap: Any = None) -> None:
        dispatcher = ComposedDispatcher([wrap or (lambda intent: None),
                                         store_dispatcher(self.store),
                                         world_dispatcher(self.clock),
                                         make_twisted_dispatcher(self.clock), base_dispatcher])
        self.scheduler = Scheduler(self.clock, dispatcher, interval=interval, batchsize=100,
                                   buckets=range(1, BUCKETS + 1), ownership=ownership)

    def test_gained_bucket_fires_at_once(self) -> None:
        """A node that gains a bucket (another node left) fires the bucket's overdue
        events at once, not at the end of its hour-long interval."""
        ownership = GainingOwnership({4: Fence(4, 1)})
        self.owning(ownership, interval=3600)
        self.add(policy({"at": "2030-01-01T08:00:00Z"}))
        self.assertEqual(self.run_until(EIGHT + 60), [(START, 1)])
        ownership.gain(Fence(2, self.successResultOf(self.store.claim_bucket(2))))
        self.clock.advance(0)
        self.assertEqual(self.desired(), 2)

    def test_bucket_gained_during_a_tick(self) -> None:
        """A bucket gained while a tick reads another bucket's due events does not start
        a second tick alongside: its events are fired as soon as that tick is done."""
        reads: list[DueEvents] = []
        gate: Deferred[None] = Deferred()

        def held(intent: Any) -> Any:
            if not isinstance(intent, DueEvents):
                return None
            reads.append(intent)
            performer = store_dispatcher(self.store)(intent)
            if len(reads) > 1:
                return performer
            return lambda dispatcher, intent, box: gate.addCallback(
                lambda _: performer(dispatcher, intent, box))
        ownership = GainingOwnership({4: Fence(4, 1)})
        self.owning(ownership, interval=3600, wrap=held)
        self.add(policy({"at": "2030-01-01T08:00:00Z"}))
        self.add(policy({"at": "2030-01-01T08:00:00Z"}, group_id="g2"), group_id="g2")
        self.clock.advance(EIGHT + 60 - START)
        self.scheduler.startService()  # its first tick reads bucket 4's events...
        ownership.gain(Fence(2, 1))  # ...while bucket 2 is gained
        self.clock.advance(0)
        self.assertEqual([r.buckets for r in reads], [[4]])
        gate.callback(None)
        self.assertEqual([r.buckets for r in reads], [[4], [2, 4]])
        self.assertEqual((self.desired("g1"), self.desired("g2")), (2, 2))

    def test_only_owned_buckets_fire(self) -> None:
        """The events of buckets this node does not own stay pending for their owner."""
        self.owning(AllBuckets([2]))
        self.add(policy({"at": "2030-01-01T08:00:00Z"}))
        self.add(policy({"at": "2030-01-01T08:00:00Z"}, group_id="g2"), group_id="g2")
        self.run_until(EIGHT + 60)
        self.assertEqual((self.desired("g1"), self.desired("g2")), (2, 1))
        self.assertEqual(len(self.store.events[("t1", "g2")]), 1)

    def test_stale_fence_fires_nothing(self) -> None:
        """An event whose bucket another owner has claimed since is not fired by the
        old owner: it stays pending and the group unchanged."""
        old = Fence(2, self.successResultOf(self.store.claim_bucket(2)))
        self.successResultOf(self.store.claim_bucket(2))
        self.owning(FencedOwnership({2: old}))
        self.add(policy({"at": "2030-01-01T08:00:00Z"}))
        self.run_until(EIGHT + 60)
        self.assertEqual(self.desired(), 1)
        self.assertEqual(len(self.store.events[("t1", "g1")]), 1)
