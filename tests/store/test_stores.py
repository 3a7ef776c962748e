"""
Tests for the group store: a contract every backend keeps, run here against
the SQLite store on real files, the memory store, the Cassandra store on a
fake driver session, and the Cassandra store on a real cluster whenever
``OTTER2_TEST_CASSANDRA=host:port`` names one (skipped, saying so, otherwise).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import TypeVar

from attrs import evolve
from twisted.internet import reactor
from twisted.internet.interfaces import IReactorThreads
from twisted.trial.unittest import TestCase

from otter2.model import (
    Execution,
    Fence,
    GroupState,
    Policy,
    Refusal,
    ScalingGroup,
    ScheduledEvent,
    Trigger,
    Webhook,
)
from otter2.model.cloud import CLBDescription, RCv3Description, RecordedServer
from otter2.store.cassandra import CassandraGroupStore
from otter2.store.cassandra_schema import apply_schema
from otter2.store.cassandra_session import connect
from otter2.store.interface import (
    DuplicateExecution,
    FencedOut,
    GroupStore,
    NoSuchGroup,
    NoSuchPolicy,
    NoSuchWebhook,
    OverLimit,
    StaleEvent,
    StaleVersion,
)
from otter2.store.memory import MemoryGroupStore
from otter2.store.sqlite import SQLiteGroupStore
from tests.store.cql_fake import FakeSession
from tests.store.journal_contract import journal_contract

T = TypeVar("T")

CONFIG = {"name": "web", "cooldown": 0, "minEntities": 1, "maxEntities": 10,
          "metadata": {"k": "v"}}
LAUNCH = {"type": "launch_server", "args": {"server": {"flavorRef": "f", "imageRef": "i"}}}


def present(value: T | None) -> T:
    """``value``, which must not be None for the test to go on."""
    if value is None:
        raise AssertionError("expected a value, found None")
    return value


def group(tenant_id: str = "t1", group_id: str = "g1", desired: int = 1) -> ScalingGroup:
    return ScalingGroup(tenant_id=tenant_id, group_id=group_id, config=CONFIG,
                        launch=LAUNCH, state=GroupState(tenant_id, group_id, desired),
                        created=1.0)


def policy(policy_id: str = "p1", tenant_id: str = "t1", group_id: str = "g1") -> Policy:
    return Policy(tenant_id, group_id, policy_id,
                  {"name": "up", "type": "webhook", "change": 1, "cooldown": 0.5}, "v1")


def event(policy_id: str, trigger: float, bucket: int = 1) -> ScheduledEvent:
    return ScheduledEvent("t1", "g1", policy_id, trigger, "v1", cron="* * * * *", bucket=bucket)


def webhook(webhook_id: str = "w1", policy_id: str = "p1", hash_: str = "a" * 64) -> Webhook:
    return Webhook("t1", "g1", policy_id, webhook_id, "hook", hash_, {"m": "n"})


def group_store_tests(build_store: Callable[[TestCase], GroupStore]) -> type[TestCase]:
    """A contract suite for a store built by ``build_store``."""

    class GroupStoreContract(journal_contract(), TestCase):  # type: ignore[misc]
        def setUp(self) -> None:
            self.store = build_store(self)

        async def test_group_round_trip(self) -> None:
            """A created group loads back with its documents and state."""
            await self.store.create_group(group(), [policy()], [], 10)
            loaded = await self.store.load_group("t1", "g1")
            self.assertEqual(loaded, group())
            self.assertEqual(await self.store.load_policy("t1", "g1", "p1"), policy())

        async def test_tenant_isolation(self) -> None:
            """Another tenant's URL cannot see or change a group."""
            await self.store.create_group(group(), [policy()], [], 10)
            self.assertIsNone(await self.store.load_group("t2", "g1"))
            self.assertEqual(await self.store.list_groups("t2", 10, None), [])
            self.assertIsNone(await self.store.load_policy("t2", "g1", "p1"))
            with self.assertRaises(NoSuchGroup):
                await self.store.update_config("t2", "g1", CONFIG)

        async def test_stale_write_changes_nothing(self) -> None:
            """A write based on an old version is refused and changes nothing."""
            await self.store.create_group(group(), [], [], 10)
            state = present(await self.store.load_group("t1", "g1")).state
            saved = await self.store.save_state(evolve(state, desired=3))
            self.assertEqual(saved.version, state.version + 1)
            with self.assertRaises(StaleVersion):
                await self.store.save_state(evolve(state, desired=5))
            self.assertEqual(present(await self.store.load_group("t1", "g1")).state, saved)

        async def test_config_change_invalidates_older_state(self) -> None:
            """A state computed before a config change cannot be saved after it."""
            await self.store.create_group(group(), [], [], 10)
            state = present(await self.store.load_group("t1", "g1")).state
            await self.store.update_config("t1", "g1", {**CONFIG, "maxEntities": 2})
            with self.assertRaises(StaleVersion):
                await self.store.save_state(evolve(state, desired=5))
            reloaded = present(await self.store.load_group("t1", "g1"))
            self.assertEqual((reloaded.max_entities, reloaded.state.desired), (2, 1))

        async def test_save_state_of_missing_group(self) -> None:
            """Saving the state of an unknown group is NoSuchGroup."""
            with self.assertRaises(NoSuchGroup):
                await self.store.save_state(GroupState("t1", "nope", 1))

        async def test_group_limit(self) -> None:
            """A group past the tenant's limit is refused; deleting ones don't count."""
            await self.store.create_group(group(group_id="a"), [], [], 2)
            await self.store.create_group(group(group_id="b"), [], [], 2)
            with self.assertRaises(OverLimit):
                await self.store.create_group(group(group_id="c"), [], [], 2)
            await self.store.mark_deleting("t1", "a")
            await self.store.create_group(group(group_id="c"), [], [], 2)
            self.assertIsNone(await self.store.load_group("t1", "a"))
            self.assertIsNotNone(await self.store.load_group("t1", "a", include_deleting=True))

        async def test_list_groups_pages_by_id(self) -> None:
            """Groups list in ascending id order, after the marker."""
            for group_id in ["c", "a", "b"]:
                await self.store.create_group(group(group_id=group_id), [], [], 10)
            first = await self.store.list_groups("t1", 2, None)
            self.assertEqual([g.group_id for g in first], ["a", "b"])
            rest = await self.store.list_groups("t1", 2, "b")
            self.assertEqual([g.group_id for g in rest], ["c"])

        async def test_policy_limit_is_all_or_nothing(self) -> None:
            """Policies that would pass the limit are refused together."""
            await self.store.create_group(group(), [policy("p1")], [], 10)
            with self.assertRaises(OverLimit) as caught:
                await self.store.create_policies("t1", "g1", [policy("p2"), policy("p3")],
                                                 [], 2)
            self.assertEqual(caught.exception.current, 1)
            self.assertEqual(len(await self.store.list_policies("t1", "g1", 10, None)), 1)

        async def test_policies_need_a_group(self) -> None:
            """Policies of an unknown group are refused."""
            with self.assertRaises(NoSuchGroup):
                await self.store.create_policies("t1", "g1", [policy()], [], 10)

        async def test_update_policy(self) -> None:
            """An update replaces the body and version; a missing policy fails."""
            await self.store.create_group(group(), [policy()], [], 10)
            new = evolve(policy(), data={"name": "x", "type": "webhook", "change": 2,
                                         "cooldown": 0}, version="v2")
            event = ScheduledEvent("t1", "g1", "p1", 5.0, "v2")
            await self.store.update_policy(new, event)
            self.assertEqual(await self.store.load_policy("t1", "g1", "p1"), new)
            with self.assertRaises(NoSuchPolicy):
                await self.store.update_policy(evolve(new, policy_id="p9"), None)

        async def test_delete_policy_removes_capabilities(self) -> None:
            """Deleting a policy removes its webhooks and their capability index."""
            await self.store.create_group(group(), [policy()], [], 10)
            await self.store.create_webhooks("t1", "g1", "p1", [webhook()], 25)
            target = present(await self.store.lookup_capability("a" * 64))
            self.assertEqual((target.tenant_id, target.group_id, target.policy_id),
                             ("t1", "g1", "p1"))
            await self.store.delete_policy("t1", "g1", "p1")
            self.assertIsNone(await self.store.lookup_capability("a" * 64))
            self.assertIsNone(await self.store.load_webhook("t1", "g1", "p1", "w1"))
            with self.assertRaises(NoSuchPolicy):
                await self.store.delete_policy("t1", "g1", "p1")

        async def test_webhooks(self) -> None:
            """Webhooks are limited per policy, updated and deleted with their index."""
            await self.store.create_group(group(), [policy()], [], 10)
            await self.store.create_webhooks(
                "t1", "g1", "p1", [webhook("w1"), webhook("w2", hash_="b" * 64)], 3)
            with self.assertRaises(OverLimit):
                await self.store.create_webhooks(
                    "t1", "g1", "p1", [webhook("w3", hash_="c" * 64),
                                       webhook("w4", hash_="d" * 64)], 3)
            with self.assertRaises(NoSuchPolicy):
                await self.store.create_webhooks("t1", "g1", "p9", [webhook("w9")], 3)
            renamed = evolve(webhook("w1"), name="new", metadata={})
            await self.store.update_webhook(renamed)
            self.assertEqual(await self.store.load_webhook("t1", "g1", "p1", "w1"), renamed)
            listed = await self.store.list_webhooks("t1", "g1", "p1", 1, "w1")
            self.assertEqual([w.webhook_id for w in listed], ["w2"])
            await self.store.delete_webhook("t1", "g1", "p1", "w2")
            self.assertIsNone(await self.store.lookup_capability("b" * 64))
            with self.assertRaises(NoSuchWebhook):
                await self.store.delete_webhook("t1", "g1", "p1", "w2")

        async def test_divergent_marks(self) -> None:
            """Marks grow with each request and are cleared only if unchanged."""
            await self.store.mark_divergent("t1", "g1")
            await self.store.mark_divergent("t1", "g1")
            await self.store.mark_divergent("t2", "g2")
            marks = await self.store.list_divergent()
            self.assertEqual([(m.tenant_id, m.group_id) for m in marks],
                             [("t1", "g1"), ("t2", "g2")])
            self.assertEqual(marks[0].mark, marks[1].mark + 1)
            await self.store.mark_divergent("t1", "g1")
            await self.store.clear_divergent("t1", "g1", marks[0].mark)
            self.assertEqual(len(await self.store.list_divergent()), 2)
            await self.store.clear_divergent("t1", "g1", marks[0].mark + 1)
            await self.store.clear_divergent("t2", "g2")
            self.assertEqual(await self.store.list_divergent(), [])

        async def test_list_all_groups(self) -> None:
            """Every group is listed, deleting ones included."""
            await self.store.create_group(group(group_id="a"), [], [], 10)
            await self.store.create_group(group(tenant_id="t2", group_id="b"), [], [], 10)
            await self.store.mark_deleting("t1", "a")
            self.assertEqual(await self.store.list_all_groups(), [("t1", "a"), ("t2", "b")])

        async def test_delete_group(self) -> None:
            """Deleting a group removes it and everything under it."""
            await self.store.create_group(group(), [policy()], [], 10)
            await self.store.create_webhooks("t1", "g1", "p1", [webhook()], 25)
            await self.store.delete_group("t1", "g1")
            self.assertIsNone(await self.store.load_group("t1", "g1", include_deleting=True))
            self.assertEqual(await self.store.count_rows(),
                             {"groups": 0, "policies": 0, "webhooks": 0})

        async def test_record_of_servers_round_trip(self) -> None:
            """The record of servers reads back as written, load balancers included."""
            await self.store.create_group(group(), [], [], 10)
            record = [RecordedServer("s1", links=[{"href": "http://nova/s1", "rel": "self"}],
                                     address="10.0.0.1", active=True,
                                     load_balancers=[CLBDescription("5", 80),
                                                     RCv3Description("pool")]),
                      RecordedServer("s2")]
            await self.store.save_servers("t1", "g1", record)
            self.assertEqual(list(present(await self.store.load_group("t1", "g1")).servers), record)

        async def test_retry_counts_are_kept_with_the_state(self) -> None:
            """The LIMITED_RETRY count, the build back-off, the reasons a group waits and
            the instant its divergence alarm counts from are kept with the group's state."""
            await self.store.create_group(group(), [], [], 10)
            loaded = present(await self.store.load_group("t1", "g1"))
            self.assertEqual(list(loaded.state.waiting), [])
            saved = await self.store.save_state(evolve(
                loaded.state, limited_retries=4, build_failures=5, build_after=1234.5,
                waiting=["waiting for servers to build", "Could not reach Cloud Servers"],
                diverged_since=1000.25))
            self.assertEqual(present(await self.store.load_group("t1", "g1")).state, saved)

        async def test_due_events_by_bucket_and_time(self) -> None:
            """Due events of the asked buckets come earliest first, at most ``limit``."""
            await self.store.create_group(group(), [policy("a"), policy("b"), policy("c")],
                                          [event("a", 10.0, bucket=1), event("b", 5.0, bucket=2),
                                           event("c", 50.0, bucket=1)], 10)
            due = await self.store.due_events([1, 2], 20.0, 10)
            self.assertEqual([(e.policy_id, e.trigger) for e in due], [("b", 5.0), ("a", 10.0)])
            self.assertEqual([e.policy_id for e in await self.store.due_events([1], 20.0, 10)],
                             ["a"])
            self.assertEqual(len(await self.store.due_events([1, 2], 100.0, 2)), 2)
            self.assertEqual(await self.store.earliest_trigger([1]), 10.0)
            self.assertIsNone(await self.store.earliest_trigger([3]))

        async def test_fire_event_is_all_or_nothing(self) -> None:
            """
            Firing consumes the event, saves the state, arms the next event and
            marks the group in one step; a stale state or a consumed event
            writes nothing.
            """
            first = event("p1", 10.0)
            await self.store.create_group(group(), [policy()], [first], 10)
            state = present(await self.store.load_group("t1", "g1")).state
            nxt = event("p1", 70.0)
            with self.assertRaises(StaleVersion):
                await self.store.fire_event(first, evolve(state, desired=5, version=7), nxt, True)
            self.assertEqual([e.trigger for e in await self.store.due_events([1], 100.0, 10)],
                             [10.0])
            self.assertEqual(await self.store.list_divergent(), [])
            await self.store.fire_event(first, evolve(state, desired=5), nxt, True)
            self.assertEqual(present(await self.store.load_group("t1", "g1")).state.desired, 5)
            self.assertEqual([e.trigger for e in await self.store.due_events([1], 100.0, 10)],
                             [70.0])
            self.assertEqual([m.group_id for m in await self.store.list_divergent()], ["g1"])
            with self.assertRaises(StaleEvent):
                await self.store.fire_event(first, None, nxt, False)

        async def test_event_follows_its_policy(self) -> None:
            """Updating a policy replaces its event; deleting it removes the event."""
            await self.store.create_group(group(), [policy()], [event("p1", 10.0)], 10)
            await self.store.update_policy(policy(), event("p1", 30.0))
            self.assertEqual([e.trigger for e in await self.store.due_events([1], 100.0, 10)],
                             [30.0])
            await self.store.delete_policy("t1", "g1", "p1")
            self.assertEqual(await self.store.due_events([1], 100.0, 10), [])

        async def test_receipts_with_the_state_they_decided(self) -> None:
            """Receipts are recorded with the state and the mark in one write, read
            back whole, and a stale state records nothing."""
            await self.store.create_group(group(), [policy()], [], 10)
            state = present(await self.store.load_group("t1", "g1")).state
            applied = receipt("e1", 10.0, key="k1", before=1, after=2)
            refused = receipt("e2", 10.0, refusal=Refusal(403, "CannotExecutePolicyError",
                                                          "Cooldowns not met."))
            with self.assertRaises(StaleVersion):
                await self.store.record_executions(evolve(state, desired=2, version=9),
                                                   [applied], True, 0.0, 0.0)
            self.assertIsNone(await self.store.load_execution("t1", "g1", "e1"))
            saved = await self.store.record_executions(evolve(state, desired=2),
                                                       [applied, refused], True, 0.0, 0.0)
            self.assertEqual(present(saved).version, state.version + 1)
            self.assertEqual(present(await self.store.load_group("t1", "g1")).state.desired, 2)
            self.assertEqual([m.group_id for m in await self.store.list_divergent()], ["g1"])
            self.assertEqual(await self.store.load_execution("t1", "g1", "e1"), applied)
            self.assertEqual(await self.store.load_execution("t1", "g1", "e2"), refused)
            self.assertIsNone(await self.store.load_execution("t1", "other", "e1"))
            with self.assertRaises(NoSuchGroup):
                await self.store.record_executions(None, [receipt("e3", 1.0, group_id="gone")],
                                                   False, 0.0, 0.0)

        async def test_a_key_is_taken_within_its_window(self) -> None:
            """A key recorded since the window's start refuses a second record, and is
            found by key; an older one is free again and found no more."""
            await self.store.create_group(group(), [policy()], [], 10)
            await self.store.record_executions(None, [receipt("e1", 10.0, key="k")],
                                               False, 0.0, 0.0)
            with self.assertRaises(DuplicateExecution):
                await self.store.record_executions(None, [receipt("e2", 20.0, key="k")],
                                                   False, 5.0, 0.0)
            with self.assertRaises(DuplicateExecution):
                await self.store.record_executions(
                    None, [receipt("e3", 20.0, key="j"), receipt("e4", 20.0, key="j")],
                    False, 5.0, 0.0)
            self.assertIsNone(await self.store.load_execution("t1", "g1", "e2"))
            self.assertEqual(await self.store.find_executions("t1", "g1", ["k", "x"], 5.0),
                             {"k": receipt("e1", 10.0, key="k")})
            self.assertEqual(await self.store.find_executions("t1", "g1", ["k"], 11.0), {})
            await self.store.record_executions(None, [receipt("e5", 20.0, key="k")],
                                               False, 11.0, 0.0)
            self.assertEqual(await self.store.find_executions("t1", "g1", ["k"], 11.0),
                             {"k": receipt("e5", 20.0, key="k")})

        async def test_receipts_list_newest_first_and_expire(self) -> None:
            """Receipts list newest first (ties by id) in pages after a marker; those
            older than the retention go with the next record, all with the group."""
            await self.store.create_group(group(), [policy()], [], 10)
            receipts = [receipt("b", 10.0), receipt("a", 10.0), receipt("c", 30.0),
                        receipt("d", 20.0)]
            await self.store.record_executions(None, receipts, False, 0.0, 0.0)
            listed = await self.store.list_executions("t1", "g1", 10, None)
            self.assertEqual([e.execution_id for e in listed], ["c", "d", "a", "b"])
            page = await self.store.list_executions("t1", "g1", 2, "d")
            self.assertEqual([e.execution_id for e in page], ["a", "b"])
            await self.store.record_executions(None, [receipt("e", 40.0)], False, 0.0, 15.0)
            listed = await self.store.list_executions("t1", "g1", 10, None)
            self.assertEqual([e.execution_id for e in listed], ["e", "c", "d"])
            await self.store.delete_group("t1", "g1")
            self.assertEqual(await self.store.list_executions("t1", "g1", 10, None), [])

        async def test_fired_event_leaves_its_receipt(self) -> None:
            """A fired event records its receipt in the same write; a refused firing
            records none."""
            first = event("p1", 10.0)
            await self.store.create_group(group(), [policy()], [first], 10)
            fired = receipt("s1", 12.0, trigger=Trigger.SCHEDULE)
            with self.assertRaises(StaleVersion):
                await self.store.fire_event(first, GroupState("t1", "g1", 3, version=5), None,
                                            True, fired)
            self.assertIsNone(await self.store.load_execution("t1", "g1", "s1"))
            await self.store.fire_event(first, None, None, True, fired)
            self.assertEqual(await self.store.load_execution("t1", "g1", "s1"), fired)
        async def test_claims_give_growing_tokens(self) -> None:
            """Each claim of a bucket gives a token greater than the last; buckets
            count apart."""
            first = await self.store.claim_bucket(7)
            self.assertGreater(await self.store.claim_bucket(7), first)
            self.assertEqual(await self.store.claim_bucket(8), 1)

        async def test_current_fence_lets_writes_through(self) -> None:
            """Writes fenced with the bucket's latest token (or not fenced) are made."""
            first = event("p1", 10.0, bucket=3)
            await self.store.create_group(group(), [policy()], [first], 10)
            fence = Fence(3, await self.store.claim_bucket(3))
            state = present(await self.store.load_group("t1", "g1")).state
            saved = await self.store.save_state(evolve(state, desired=2), fence=fence)
            await self.store.save_servers("t1", "g1", [RecordedServer("s1")], fence)
            await self.store.fire_event(first, None, None, True, fence=fence)
            [mark] = await self.store.list_divergent()
            await self.store.clear_divergent("t1", "g1", mark.mark, fence)
            loaded = present(await self.store.load_group("t1", "g1"))
            self.assertEqual((loaded.state, [s.id for s in loaded.servers]), (saved, ["s1"]))
            self.assertEqual(await self.store.list_divergent(), [])
            await self.store.delete_group("t1", "g1", fence)
            self.assertIsNone(await self.store.load_group("t1", "g1", True))

        async def test_stale_fence_writes_nothing(self) -> None:
            """Once a later owner claims the bucket, every write fenced with the
            older token is refused with FencedOut and changes nothing; the new
            owner's writes go through."""
            first = event("p1", 10.0, bucket=3)
            await self.store.create_group(group(), [policy()], [first], 10)
            await self.store.mark_divergent("t1", "g1")
            [mark] = await self.store.list_divergent()
            old = Fence(3, await self.store.claim_bucket(3))
            new = Fence(3, await self.store.claim_bucket(3))
            before = present(await self.store.load_group("t1", "g1"))
            with self.assertRaises(FencedOut):
                await self.store.save_state(evolve(before.state, desired=9), fence=old)
            with self.assertRaises(FencedOut):
                await self.store.save_servers("t1", "g1", [RecordedServer("s1")], old)
            with self.assertRaises(FencedOut):
                await self.store.fire_event(first, evolve(before.state, desired=9), None,
                                            True, fence=old)
            with self.assertRaises(FencedOut):
                await self.store.clear_divergent("t1", "g1", mark.mark, old)
            with self.assertRaises(FencedOut):
                await self.store.delete_group("t1", "g1", old)
            self.assertEqual(present(await self.store.load_group("t1", "g1")), before)
            self.assertEqual(await self.store.list_divergent(), [mark])
            self.assertEqual(await self.store.due_events([3], 100.0, 10), [first])
            await self.store.fire_event(first, None, None, False, fence=new)
            await self.store.save_state(evolve(before.state, desired=9), fence=Fence(4, 0))
            self.assertEqual(present(await self.store.load_group("t1", "g1")).state.desired, 9)

    return GroupStoreContract


def receipt(execution_id: str, at: float, key: str | None = None, before: int = 1,
            after: int = 1, refusal: Refusal | None = None, group_id: str = "g1",
            trigger: Trigger = Trigger.API) -> Execution:
    return Execution(tenant_id="t1", group_id=group_id, execution_id=execution_id,
                     policy_id="p1", trigger=trigger, at=at, desired_before=before,
                     desired_after=after, refusal=refusal, idempotency_key=key,
                     request_id="r-" + execution_id)


def _sqlite_store(case: TestCase) -> SQLiteGroupStore:
    store = SQLiteGroupStore(IReactorThreads(reactor), case.mktemp() + ".sqlite")
    case.addCleanup(store.close)
    return store


class SQLiteGroupStoreTests(
        group_store_tests(_sqlite_store)):  # type: ignore[misc]  # a computed base class
    """The SQLite store keeps the contract."""


class SQLiteDurabilityTests(TestCase):
    """What was committed survives closing and reopening the file."""

    async def test_reopen(self) -> None:
        """A group written, then the store closed, is there on reopening."""
        path = self.mktemp() + ".sqlite"
        store = SQLiteGroupStore(IReactorThreads(reactor), path)
        await store.create_group(group(), [policy()], [], 10)
        store.close()
        reopened = SQLiteGroupStore(IReactorThreads(reactor), path)
        self.addCleanup(reopened.close)
        self.assertEqual(await reopened.load_group("t1", "g1"), group())


class MemoryGroupStoreTests(
        group_store_tests(lambda case: MemoryGroupStore())):  # type: ignore[misc]  # a computed base class
    """The in-memory store keeps the same contract."""


def _fake_cassandra_store(case: TestCase) -> CassandraGroupStore:
    session = FakeSession()
    case.addCleanup(session.shutdown)
    apply_schema(session, "otter2_test", "simple:1")
    session.page_size = 2  # so that reads of several rows go page by page
    return CassandraGroupStore(IReactorThreads(reactor).callFromThread, session=session)


class FakeCassandraGroupStoreTests(
        group_store_tests(_fake_cassandra_store)):  # type: ignore[misc]  # a computed base class
    """The Cassandra store keeps the contract on a fake driver session."""


#: ``host:port`` of a Cassandra the contract suite also runs against, if set.
CASSANDRA = os.environ.get("OTTER2_TEST_CASSANDRA", "")


def _cassandra_store(case: TestCase) -> CassandraGroupStore:
    """A store on a fresh keyspace of the cluster at `CASSANDRA`, dropped afterwards."""
    host, _, port = CASSANDRA.rpartition(":")
    keyspace = f"otter2_test_{uuid.uuid4().hex[:12]}"
    cluster, session = connect([host], int(port), None)
    case.addCleanup(cluster.shutdown)
    apply_schema(session, keyspace, "simple:1")
    case.addCleanup(session.execute, f"DROP KEYSPACE IF EXISTS {keyspace}")
    return CassandraGroupStore(IReactorThreads(reactor).callFromThread, session=session)


class CassandraGroupStoreTests(
        group_store_tests(_cassandra_store)):  # type: ignore[misc]  # a computed base class
    """The Cassandra store keeps the contract on a real cluster."""

    if not CASSANDRA:
        skip = ("the store contract suite skipped Cassandra: set OTTER2_TEST_CASSANDRA="
                "host:port to run it against a cluster")


class SQLiteGroupCacheTests(TestCase):
    """Reads answered from memory never outlive a write (Note [Group cache])."""

    def setUp(self) -> None:
        self.store = _sqlite_store(self)

    async def test_every_write_is_seen_by_the_next_read(self) -> None:
        """A cached group read after each kind of write shows that write."""
        await self.store.create_group(group(), [], [], 10)
        cached = present(await self.store.load_group("t1", "g1"))
        saved = await self.store.save_state(evolve(cached.state, desired=4))
        self.assertEqual(present(await self.store.load_group("t1", "g1")).state, saved)
        await self.store.update_config("t1", "g1", {**CONFIG, "name": "renamed"})
        self.assertEqual(present(await self.store.load_group("t1", "g1")).name, "renamed")
        await self.store.update_launch("t1", "g1", {"type": "launch_stack", "args": {}})
        self.assertEqual(present(await self.store.load_group("t1", "g1")).launch["type"],
                         "launch_stack")
        await self.store.save_servers("t1", "g1", [RecordedServer("s1", active=True)])
        self.assertEqual(len(present(await self.store.load_group("t1", "g1")).servers), 1)
        await self.store.mark_deleting("t1", "g1")
        self.assertIsNone(await self.store.load_group("t1", "g1"))
        self.assertTrue(present(await self.store.load_group("t1", "g1", True)).deleting)
        await self.store.delete_group("t1", "g1")
        self.assertIsNone(await self.store.load_group("t1", "g1", True))

    async def test_read_in_flight_during_a_write(self) -> None:
        """A read that started before a write does not leave the old group cached."""
        await self.store.create_group(group(), [], [], 10)  # leaves nothing cached
        before = self.store.load_group("t1", "g1")
        write = self.store.save_state(evolve(group().state, desired=7))
        self.assertEqual(present(await before).state.desired, 1)
        await write
        self.assertEqual(present(await self.store.load_group("t1", "g1")).state.desired, 7)

    async def test_listing_and_reads_share_the_cache(self) -> None:
        """A listing keeps the groups it parsed and serves cached ones as they are;
        a write is seen by the next listing, and a listing in flight during a
        write leaves no stale copy."""
        await self.store.create_group(group(group_id="a"), [], [], 10)
        await self.store.create_group(group(group_id="b"), [], [], 10)
        [a, b] = await self.store.list_groups("t1", 10, None)
        self.assertIs(present(await self.store.load_group("t1", "a")), a)
        [again, _] = await self.store.list_groups("t1", 10, None)
        self.assertIs(again, a)
        saved = await self.store.save_state(evolve(b.state, desired=5))
        self.assertEqual([g.state for g in await self.store.list_groups("t1", 10, None)],
                         [a.state, saved])
        listing = self.store.list_groups("t1", 10, None)
        write = self.store.save_state(evolve(a.state, desired=9))
        # The write forgot a's copy before the listing found it: a's row is read
        # after the write, and the listing is answered after it.
        self.assertEqual([g.state.desired for g in await listing], [9, 5])
        await write
        self.assertEqual(present(await self.store.load_group("t1", "a")).state.desired, 9)
        self.assertEqual([g.state.desired for g in await self.store.list_groups("t1", 10, None)],
                         [9, 5])

    async def test_listing_reads_only_rows_not_in_memory(self) -> None:
        """A listing parses the rows of the groups it does not hold, keeps them, and
        leaves out a group deleted between its two reads."""
        for group_id in ("a", "b", "c"):
            await self.store.create_group(group(group_id=group_id), [], [], 10)
        a = present(await self.store.load_group("t1", "a"))
        listing = self.store.list_groups("t1", 10, None)
        gone = self.store.delete_group("t1", "c")
        self.assertEqual([g.group_id for g in await listing], ["a", "b"])
        await gone
        [first, second] = await self.store.list_groups("t1", 10, None)
        self.assertIs(first, a)
        self.assertIs(present(await self.store.load_group("t1", "b")), second)

    async def test_missing_group_is_cached_until_created(self) -> None:
        """An unknown group read as None is found once created."""
        self.assertIsNone(await self.store.load_group("t1", "g1"))
        await self.store.create_group(group(), [], [], 10)
        self.assertEqual(await self.store.load_group("t1", "g1"), group())


class SQLiteWrittenStateTests(TestCase):
    """A write of a group's state keeps its cached copy as the row now is (Note
    [Group cache])."""

    def setUp(self) -> None:
        self.path = self.mktemp() + ".sqlite"
        self.store = SQLiteGroupStore(IReactorThreads(reactor), self.path)
        self.addCleanup(self.store.close)

    async def from_file(self) -> ScalingGroup:
        """The group as a store opened afresh on the file parses its row."""
        fresh = SQLiteGroupStore(IReactorThreads(reactor), self.path)
        try:
            return present(await fresh.load_group("t1", "g1"))
        finally:
            fresh.close()

    async def test_kept_copy_is_the_row(self) -> None:
        """After a saved state, recorded executions with and without a state, and a
        convergence write, the group read from memory equals the row parsed."""
        await self.store.create_group(group(), [policy()], [], 10)
        state = present(await self.store.load_group("t1", "g1")).state
        state = await self.store.save_state(evolve(
            state, desired=3, error_reasons=["a"], policy_touched={"p1": 12.5},
            group_touched=12.5, waiting=["building"], diverged_since=3.25))
        self.assertEqual(await self.store.load_group("t1", "g1"), await self.from_file())
        saved = await self.store.record_executions(evolve(state, desired=4),
                                                   [receipt("e1", 13.0)], True, 0.0, 0.0)
        self.assertEqual(present(await self.store.load_group("t1", "g1")).state, saved)
        self.assertEqual(await self.store.load_group("t1", "g1"), await self.from_file())
        await self.store.record_executions(None, [receipt("e2", 14.0)], False, 0.0, 0.0)
        self.assertEqual(await self.store.load_group("t1", "g1"), await self.from_file())
        await self.store.save_servers("t1", "g1", [RecordedServer("s1", active=True)])
        self.assertEqual(await self.store.load_group("t1", "g1"), await self.from_file())

    async def test_write_behind_another_keeps_nothing_older(self) -> None:
        """A state written while another write of the group is in flight does not
        bring back a copy from before that write."""
        await self.store.create_group(group(), [], [], 10)  # leaves nothing cached
        read = self.store.load_group("t1", "g1")
        servers = self.store.save_servers("t1", "g1", [RecordedServer("s1", active=True)])
        state = present(await read).state  # cached, older than the write in flight
        saved = self.store.save_state(evolve(state, desired=2))
        await servers
        await saved
        found = present(await self.store.load_group("t1", "g1"))
        self.assertEqual((found.state.desired, len(found.servers)), (2, 1))
        self.assertEqual(found, await self.from_file())

    async def test_refused_write_keeps_nothing(self) -> None:
        """A state refused as stale leaves the group as it was."""
        await self.store.create_group(group(), [], [], 10)
        state = present(await self.store.load_group("t1", "g1")).state
        await self.store.save_state(evolve(state, desired=2))
        with self.assertRaises(StaleVersion):
            await self.store.save_state(evolve(state, desired=5))
        self.assertEqual(present(await self.store.load_group("t1", "g1")).state.desired, 2)


class SQLiteDocumentCacheTests(TestCase):
    """Policies and capability targets read from memory never outlive a write
    (Note [Document cache])."""

    def setUp(self) -> None:
        self.store = _sqlite_store(self)

    async def test_every_write_is_seen_by_the_next_read(self) -> None:
        """A policy and a capability read (so cached) then changed, deleted or
        created are read as the file now has them."""
        self.assertIsNone(await self.store.load_policy("t1", "g1", "p1"))
        self.assertIsNone(await self.store.lookup_capability("a" * 64))
        await self.store.create_group(group(), [policy()], [], 10)
        self.assertEqual(await self.store.load_policy("t1", "g1", "p1"), policy())
        self.assertIsNone(await self.store.load_policy("t1", "g1", "p2"))
        await self.store.create_policies("t1", "g1", [policy("p2")], [], 10)
        self.assertEqual(await self.store.load_policy("t1", "g1", "p2"), policy("p2"))
        changed = evolve(policy(), data={**policy().data, "change": 3}, version="v2")
        await self.store.update_policy(changed, None)
        self.assertEqual(await self.store.load_policy("t1", "g1", "p1"), changed)
        await self.store.create_webhooks("t1", "g1", "p1", [webhook()], 10)
        self.assertEqual(present(await self.store.lookup_capability("a" * 64)).webhook_id,
                         "w1")
        await self.store.delete_webhook("t1", "g1", "p1", "w1")
        self.assertIsNone(await self.store.lookup_capability("a" * 64))
        await self.store.create_webhooks("t1", "g1", "p1", [webhook()], 10)
        self.assertIsNotNone(await self.store.lookup_capability("a" * 64))
        await self.store.delete_policy("t1", "g1", "p1")
        self.assertIsNone(await self.store.load_policy("t1", "g1", "p1"))
        self.assertIsNone(await self.store.lookup_capability("a" * 64))
        await self.store.create_webhooks("t1", "g1", "p2", [webhook("w2", "p2", "b" * 64)], 10)
        self.assertIsNotNone(await self.store.lookup_capability("b" * 64))
        await self.store.delete_group("t1", "g1")
        self.assertIsNone(await self.store.load_policy("t1", "g1", "p2"))
        self.assertIsNone(await self.store.lookup_capability("b" * 64))

    async def test_manifest_reads(self) -> None:
        """A group's policies and webhooks read whole (as a manifest reads them) show
        every later write of them, and a caller changing its list changes no
        other caller's."""
        await self.store.create_group(group(), [policy()], [], 10)
        self.assertEqual(await self.store.list_policies("t1", "g1", -1, None), [policy()])
        self.assertEqual(await self.store.list_group_webhooks("t1", "g1"), [])
        await self.store.create_policies("t1", "g1", [policy("p2")], [], 10)
        await self.store.create_webhooks("t1", "g1", "p2", [webhook("w2", "p2")], 10)
        listed = await self.store.list_policies("t1", "g1", -1, None)
        self.assertEqual(listed, [policy(), policy("p2")])
        self.assertEqual([w.webhook_id for w in
                          await self.store.list_group_webhooks("t1", "g1")], ["w2"])
        listed.clear()
        self.assertEqual(len(await self.store.list_policies("t1", "g1", -1, None)), 2)
        await self.store.delete_policy("t1", "g1", "p2")
        self.assertEqual(await self.store.list_policies("t1", "g1", -1, None), [policy()])
        self.assertEqual(await self.store.list_group_webhooks("t1", "g1"), [])

    async def test_read_in_flight_during_a_write(self) -> None:
        """A read that started before a write of policies leaves no old copy."""
        await self.store.create_group(group(), [policy()], [], 10)
        before = self.store.load_policy("t1", "g1", "p1")
        changed = evolve(policy(), version="v2")
        write = self.store.update_policy(changed, None)
        self.assertEqual(await before, policy())
        after = self.store.load_policy("t1", "g1", "p1")  # submitted after the write
        self.assertEqual(await after, changed)
        await write
        self.assertEqual(await self.store.load_policy("t1", "g1", "p1"), changed)


class SharedFileTests(TestCase):
    """Two stores on one file, as two daemons on one machine (Note [Group cache])."""

    def setUp(self) -> None:
        path = self.mktemp() + ".sqlite"
        self.one = SQLiteGroupStore(IReactorThreads(reactor), path, shared=True)
        self.other = SQLiteGroupStore(IReactorThreads(reactor), path, shared=True)
        self.addCleanup(self.one.close)
        self.addCleanup(self.other.close)

    async def test_reads_see_the_other_process_writes(self) -> None:
        """A group read (and cached) by one store, then written through the other, is
        read as written by the first, alone and in listings; an unchanged file
        keeps serving the same copy."""
        await self.one.create_group(group(), [], [], 10)
        cached = present(await self.one.load_group("t1", "g1"))
        self.assertIs(present(await self.one.load_group("t1", "g1")), cached)
        saved = await self.other.save_state(evolve(cached.state, desired=6))
        self.assertEqual(present(await self.one.load_group("t1", "g1")).state, saved)
        [listed] = await self.one.list_groups("t1", 10, None)
        self.assertEqual(listed.state, saved)
        await self.other.update_config("t1", "g1", {**CONFIG, "name": "renamed"})
        [listed] = await self.one.list_groups("t1", 10, None)
        self.assertEqual(listed.name, "renamed")
        await self.other.delete_group("t1", "g1")
        self.assertIsNone(await self.one.load_group("t1", "g1", True))

    async def test_policies_and_capabilities_of_the_other_process(self) -> None:
        """A policy and a capability read by one store, then changed through the other,
        are read as changed by the first."""
        await self.one.create_group(group(), [policy()], [], 10)
        await self.one.create_webhooks("t1", "g1", "p1", [webhook()], 10)
        self.assertEqual(await self.one.load_policy("t1", "g1", "p1"), policy())
        self.assertIsNotNone(await self.one.lookup_capability("a" * 64))
        changed = evolve(policy(), version="v2")
        await self.other.update_policy(changed, None)
        await self.other.delete_webhook("t1", "g1", "p1", "w1")
        self.assertEqual(await self.one.load_policy("t1", "g1", "p1"), changed)
        self.assertIsNone(await self.one.lookup_capability("a" * 64))

    async def test_claims_and_fences_across_stores(self) -> None:
        """A bucket claimed through one store fences the writes made through the other
        with an older token."""
        await self.one.create_group(group(), [], [], 10)
        old = Fence(1, await self.one.claim_bucket(1))
        await self.other.claim_bucket(1)
        state = present(await self.one.load_group("t1", "g1")).state
        with self.assertRaises(FencedOut):
            await self.one.save_state(evolve(state, desired=3), fence=old)
