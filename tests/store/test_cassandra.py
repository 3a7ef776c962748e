"""
Tests for the Cassandra store's own behaviour, on a fake driver session
(`tests.store.cql_fake`): the statements it sends and at which consistency,
what a crash between its statements leaves, and how driver results reach
the reactor. The contract every store keeps is in `tests.store.test_stores`.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from attrs import evolve
from twisted.internet import reactor
from twisted.internet.interfaces import IReactorThreads
from twisted.trial.unittest import TestCase

from otter2.model import ScheduledEvent
from otter2.model.cloud import RecordedServer
from otter2.store.cassandra import CassandraGroupStore
from otter2.store.cassandra_schema import apply_schema
from otter2.store.cassandra_session import CQLConnection, Statement
from otter2.store.interface import (
    DuplicateExecution,
    NoSuchGroup,
    StaleEvent,
    StoreUnavailable,
)
from tests.store.cql_fake import Executed, FakeSession
from tests.store.journal_contract import entry
from tests.store.test_stores import group, policy, present, receipt, webhook

_WRITES = ("INSERT", "UPDATE", "DELETE", "BEGIN")


def _event(policy_id: str, trigger: float, version: str = "v1") -> ScheduledEvent:
    return ScheduledEvent("t1", "g1", policy_id, trigger, version, cron="* * * * *", bucket=3)


def _tables(statement: Executed) -> set[str]:
    """The tables a statement (or each statement of a batch) names."""
    return set(re.findall(r"(?:FROM|INTO|UPDATE)\s+(\w+)", statement.cql))


class CassandraStoreCase(TestCase):
    def setUp(self) -> None:
        self.session = FakeSession()
        self.addCleanup(self.session.shutdown)
        apply_schema(self.session, "otter2", "simple:1")
        self.store = CassandraGroupStore(IReactorThreads(reactor).callFromThread,
                                         session=self.session)
        self.session.executed.clear()

    def sent(self) -> list[Executed]:
        """The statements sent since the last call."""
        sent, self.session.executed[:] = list(self.session.executed), []
        return sent

    def event_rows(self) -> list[tuple[float, str]]:
        return [(row["trigger"], row["version"])
                for row in self.session.rows("scaling_schedule_v2")]


class StatementTests(CassandraStoreCase):
    """What the store sends, and at which consistency (Note [Cassandra consistency])."""

    async def test_state_write_is_one_lwt_on_the_version(self) -> None:
        """Saving a state is one UPDATE of the group's row, IF version = the version it
        was computed from, at serial consistency SERIAL and QUORUM."""
        await self.store.create_group(group(), [], [], 10)
        self.sent()
        await self.store.save_state(evolve(group().state, desired=4))
        [update] = self.sent()
        self.assertTrue(update.cql.startswith("UPDATE scaling_group SET "))
        self.assertTrue(update.cql.endswith("IF version = %s"))
        self.assertEqual(update.params[-3:], ("t1", "g1", 0))
        self.assertIn(1, update.params)  # the version it becomes
        self.assertEqual((update.consistency, update.serial), ("QUORUM", "SERIAL"))

    async def test_every_group_and_mark_write_is_an_lwt(self) -> None:
        """Across every operation, each write of scaling_group and divergent is a
        lightweight transaction at SERIAL; no other table is written with one; reads
        and other writes are at QUORUM, counts and the health check at ONE."""
        store = self.store
        await store.create_group(group(), [policy("p1"), policy("p2")], [_event("p2", 9.0)], 10)
        await store.create_webhooks("t1", "g1", "p1", [webhook()], 10)
        await store.create_policies("t1", "g1", [policy("p3")], [_event("p3", 5.0)], 10)
        loaded = present(await store.load_group("t1", "g1"))
        saved = await store.save_state(evolve(loaded.state, desired=2))
        await store.update_config("t1", "g1", {**loaded.config, "maxEntities": 5})
        await store.update_launch("t1", "g1", loaded.launch)
        await store.save_servers("t1", "g1", [RecordedServer("s1")])
        await store.mark_divergent("t1", "g1")
        await store.clear_divergent("t1", "g1", 1)
        await store.update_policy(policy("p2"), _event("p2", 20.0))
        await store.fire_event(_event("p3", 5.0), evolve(saved, desired=3, version=2),
                               _event("p3", 65.0), True)
        await store.record_executions(None, [receipt("e1", 1.0, key="k")], True, 0.0, 0.0)
        await store.record_executions(None, [receipt("e2", 2.0)], False, 0.0, 1.5)
        await store.find_executions("t1", "g1", ["k"], 0.0)
        await store.list_executions("t1", "g1", 10, None)
        await store.load_execution("t1", "g1", "e2")
        await store.append_journal([entry("j1", 3.0, server_id="s1")], 0.0)
        await store.append_journal([entry("j2", 4.0)], 3.5)
        await store.list_journal("t1", "g1", 10, "j2")
        await store.list_journal("t1", "g1", 10, None, 1.0, ["change"], "s1")
        await store.load_journal("t1", "g1", ["j2", "e2"])
        await store.update_webhook(evolve(webhook(), name="renamed"))
        await store.delete_webhook("t1", "g1", "p1", "w1")
        await store.delete_policy("t1", "g1", "p2")
        await store.list_groups("t1", 10, None)
        await store.due_events([3], 100.0, 10)
        await store.count_rows()
        await store.check_health()
        await store.mark_deleting("t1", "g1")
        await store.delete_group("t1", "g1")
        sent = self.sent()
        compared = {"scaling_group", "divergent"}
        for statement in sent:
            lwt = " IF " in statement.cql
            if statement.cql.startswith(_WRITES) and _tables(statement) & compared:
                self.assertTrue(lwt, statement.cql)
            if lwt:
                self.assertLessEqual(_tables(statement), compared, statement.cql)
                self.assertEqual(statement.serial, "SERIAL", statement.cql)
            counting = "count(*)" in statement.cql and "WHERE" not in statement.cql
            expected = "ONE" if counting or "schema_migration" in statement.cql else "QUORUM"
            self.assertEqual(statement.consistency, expected, statement.cql)
        self.assertEqual(self.session.rows("scaling_group"), [])
        self.assertEqual(self.session.rows("scaling_schedule_v2"), [])
        self.assertEqual(self.session.rows("webhook_keys"), [])
        self.assertEqual(self.session.rows("executions"), [])
        self.assertEqual((self.session.rows("journal"), self.session.rows("journal_ids")),
                         ([], []))

    async def test_late_writes_do_not_resurrect_a_deleted_group(self) -> None:
        """Writes naming a deleted group change nothing: its row does not come back
        (Cassandra's upsert would otherwise create it)."""
        await self.store.create_group(group(), [], [], 10)
        await self.store.delete_group("t1", "g1")
        await self.store.save_servers("t1", "g1", [RecordedServer("s1")])
        for write in (self.store.mark_deleting("t1", "g1"),
                      self.store.update_launch("t1", "g1", {}),
                      self.store.update_config("t1", "g1", {}),
                      self.store.save_state(group().state)):
            with self.assertRaises(NoSuchGroup):
                await write
        self.assertEqual(self.session.rows("scaling_group"), [])

    async def test_failure_of_one_bucket(self) -> None:
        """Due events read from several buckets at once fail as the store's error when
        one bucket cannot be read."""
        self.session.failures.append(lambda cql: "bucket = " in cql)
        with self.assertRaises(StoreUnavailable):
            await self.store.due_events([1, 2, 3], 100.0, 10)

    async def test_groups_listed_past_deleting_ones(self) -> None:
        """A page of groups is filled from further rows when deleting groups are
        skipped."""
        for group_id in "abcde":
            await self.store.create_group(group(group_id=group_id), [], [], 10)
        for group_id in "bc":
            await self.store.mark_deleting("t1", group_id)
        listed = await self.store.list_groups("t1", 2, None)
        self.assertEqual([g.group_id for g in listed], ["a", "d"])


class FiringTests(CassandraStoreCase):
    """Firing an event once, whatever happens between the statements (Note [Cassandra
    events])."""

    async def prepare(self) -> None:
        await self.store.create_group(group(), [policy("p1")], [_event("p1", 10.0)], 10)
        self.state = present(await self.store.load_group("t1", "g1")).state

    async def test_crash_after_the_lwt(self) -> None:
        """If the fired event's row cannot be deleted after the LWT, the state is saved
        once; the row left behind is refused and deleted when it is fired again, and
        the next event is pending."""
        await self.prepare()
        self.session.failures.append(
            lambda cql: cql.startswith("BEGIN BATCH DELETE FROM scaling_schedule_v2"))
        with self.assertRaises(StoreUnavailable):
            await self.store.fire_event(_event("p1", 10.0), evolve(self.state, desired=5),
                                        _event("p1", 70.0), True)
        self.assertEqual(self.event_rows(), [(10.0, "v1"), (70.0, "v1")])
        with self.assertRaises(StaleEvent):
            await self.store.fire_event(_event("p1", 10.0), evolve(self.state, desired=5),
                                        _event("p1", 70.0), True)
        loaded = present(await self.store.load_group("t1", "g1"))
        self.assertEqual((loaded.state.desired, loaded.state.version), (5, 1))
        self.assertEqual(self.event_rows(), [(70.0, "v1")])
        due = await self.store.due_events([3], 100.0, 10)
        self.assertEqual([e.trigger for e in due], [70.0])

    async def test_crash_before_the_lwt(self) -> None:
        """If the LWT fails, the event is still pending: firing it again saves the state
        once and leaves only the next event."""
        await self.prepare()
        self.session.failures.append(lambda cql: cql.startswith("UPDATE scaling_group"))
        with self.assertRaises(StoreUnavailable):
            await self.store.fire_event(_event("p1", 10.0), evolve(self.state, desired=5),
                                        _event("p1", 70.0), False)
        self.assertEqual(present(await self.store.load_group("t1", "g1")).state, self.state)
        await self.store.fire_event(_event("p1", 10.0), evolve(self.state, desired=5),
                                    _event("p1", 70.0), False)
        self.assertEqual(present(await self.store.load_group("t1", "g1")).state.desired, 5)
        self.assertEqual(self.event_rows(), [(70.0, "v1")])

    async def test_two_schedulers_fire_once(self) -> None:
        """Two firings of one event at once: one applies, the other is StaleEvent, and
        the state changes once."""
        await self.prepare()
        firings = [self.store.fire_event(_event("p1", 10.0), evolve(self.state, desired=5),
                                         _event("p1", 70.0), False) for _ in range(2)]
        outcomes = []
        for firing in firings:
            try:
                await firing
                outcomes.append("fired")
            except StaleEvent:
                outcomes.append("refused")
        self.assertEqual(sorted(outcomes), ["fired", "refused"])
        loaded = present(await self.store.load_group("t1", "g1"))
        self.assertEqual((loaded.state.desired, loaded.state.version), (5, 1))
        self.assertEqual(self.event_rows(), [(70.0, "v1")])

    async def test_row_made_pending_meanwhile_is_kept(self) -> None:
        """A refused firing deletes the next event's row it inserted, unless another
        firing made that very event pending meanwhile: then the row is put back."""
        await self.prepare()
        await self.store.update_policy(evolve(policy("p1"), version="v2"),
                                       _event("p1", 10.0, version="v2"))

        def other_firing() -> None:
            # Another scheduler's LWT lands after this firing read the group.
            [row] = self.session.table("scaling_group").rows.values()
            row["pending_events"] = row["pending_events"].replace(
                '"trigger":10.0,"version":"v2"', '"trigger":70.0,"version":"v1"')
        self.session.before.append(
            (lambda cql: cql.startswith("BEGIN BATCH DELETE FROM scaling_schedule_v2"),
             other_firing))
        with self.assertRaises(StaleEvent):
            await self.store.fire_event(_event("p1", 10.0), None, _event("p1", 70.0), False)
        self.assertEqual(self.event_rows(), [(10.0, "v2"), (70.0, "v1")])
        due = await self.store.due_events([3], 100.0, 10)
        self.assertIn(70.0, [e.trigger for e in due])

    async def test_stale_event_of_a_replaced_version(self) -> None:
        """An event read before its policy was updated is refused, and its row is gone
        while the new event stays pending."""
        await self.prepare()
        await self.store.update_policy(evolve(policy("p1"), version="v2"),
                                       _event("p1", 10.0, version="v2"))
        with self.assertRaises(StaleEvent):
            await self.store.fire_event(_event("p1", 10.0), None, None, False)
        self.assertEqual(self.event_rows(), [(10.0, "v2")])

    async def test_event_of_a_deleted_group_is_consumed(self) -> None:
        """An event left behind by a group deleted meanwhile is consumed when fired
        without a state change."""
        await self.prepare()
        self.session.failures.append(lambda cql: cql.startswith("BEGIN BATCH DELETE FROM "
                                                                "scaling_policies"))
        with self.assertRaises(StoreUnavailable):
            await self.store.delete_group("t1", "g1")
        await self.store.delete_group("t1", "g1")
        await self.store.fire_event(_event("p1", 10.0), None, None, False)
        self.assertEqual(self.event_rows(), [])


class ReceiptTests(CassandraStoreCase):
    """Receipts written with the state they decided (Note [Cassandra receipts])."""

    async def prepare(self) -> None:
        await self.store.create_group(group(), [policy("p1")], [], 10)

    def table_ids(self) -> list[str]:
        return [row["execution_id"] for row in self.session.rows("executions")]

    async def test_receipts_move_from_the_row_to_the_table(self) -> None:
        """A record's receipts are held by the group's row; the next record copies them
        to the table before replacing them, and reads see both."""
        await self.prepare()
        await self.store.record_executions(None, [receipt("e1", 1.0)], False, 0.0, 0.0)
        self.assertEqual(self.table_ids(), [])
        await self.store.record_executions(None, [receipt("e2", 2.0)], False, 0.0, 0.0)
        self.assertEqual(self.table_ids(), ["e1"])
        listed = await self.store.list_executions("t1", "g1", 10, None)
        self.assertEqual([e.execution_id for e in listed], ["e2", "e1"])
        self.assertEqual(await self.store.load_execution("t1", "g1", "e2"), receipt("e2", 2.0))

    async def test_failed_lwt_records_nothing(self) -> None:
        """If the LWT fails after the copy, the new receipts are nowhere and the old
        ones are still read once."""
        await self.prepare()
        await self.store.record_executions(None, [receipt("e1", 1.0)], False, 0.0, 0.0)
        self.session.failures.append(lambda cql: cql.startswith("UPDATE scaling_group"))
        with self.assertRaises(StoreUnavailable):
            await self.store.record_executions(None, [receipt("e2", 2.0)], False, 0.0, 0.0)
        listed = await self.store.list_executions("t1", "g1", 10, None)
        self.assertEqual([e.execution_id for e in listed], ["e1"])

    async def test_one_key_recorded_once_at_once(self) -> None:
        """Two records of one key at the same time: one is recorded, the other is
        DuplicateExecution."""
        await self.prepare()
        records = [self.store.record_executions(None, [receipt(i, 1.0, key="k")], False,
                                                0.0, 0.0) for i in ("e1", "e2")]
        outcomes = []
        for record in records:
            try:
                await record
                outcomes.append("recorded")
            except DuplicateExecution:
                outcomes.append("duplicate")
        self.assertEqual(sorted(outcomes), ["duplicate", "recorded"])
        self.assertEqual(len(await self.store.list_executions("t1", "g1", 10, None)), 1)


class JournalTests(CassandraStoreCase):
    """The journal's partition, newest first (Note [Cassandra journal])."""

    async def test_a_page_is_read_from_the_partition_start(self) -> None:
        """The table keeps a group's events newest first, and a page without filters
        reads a page's worth of rows (LIMIT), not the partition."""
        await self.store.create_group(group(), [], [], 10)
        await self.store.append_journal([entry(f"e{i}", float(i)) for i in range(6)], 0.0)
        rows = self.session.run("SELECT event_id FROM journal WHERE tenant_id = %s AND "
                                "group_id = %s", ("t1", "g1"))
        self.assertEqual([row["event_id"] for row in rows], ["e5", "e4", "e3", "e2", "e1", "e0"])
        del self.session.executed[:]
        page = await self.store.list_journal("t1", "g1", 2, "e4")
        self.assertEqual([e.event_id for e in page], ["e3", "e2"])
        reads = [s for s in self.session.executed  # the slices, not the marker's row
                 if "FROM journal " in s.cql and "event_id = %s" not in s.cql]
        self.assertEqual(len(reads), 2)
        self.assertTrue(all(s.cql.endswith("LIMIT %s") and s.params[-1] == 2 for s in reads))

    async def test_receipt_events_leave_the_row_with_their_receipts(self) -> None:
        """A receipt's event is read from the group's row until the next record copies
        it to the journal's table with the receipt."""
        await self.store.create_group(group(), [policy("p1")], [], 10)
        await self.store.record_executions(None, [receipt("e1", 1.0)], False, 0.0, 0.0)
        self.assertEqual(self.session.rows("journal"), [])
        await self.store.record_executions(None, [receipt("e2", 2.0)], False, 0.0, 0.0)
        self.assertEqual([row["event_id"] for row in self.session.rows("journal")], ["e1"])
        listed = await self.store.list_journal("t1", "g1", 10, None)
        self.assertEqual([e.event_id for e in listed], ["e2", "e1"])


class ConnectionTests(TestCase):
    """Driver results reach the reactor's thread; driver errors are one line."""

    def setUp(self) -> None:
        self.session = FakeSession("otter2")
        self.addCleanup(self.session.shutdown)
        self.session.run("CREATE TABLE t (k int, c int, v text, PRIMARY KEY ((k), c))", ())
        self.cql = CQLConnection(self.session, IReactorThreads(reactor).callFromThread)

    async def test_pages_are_gathered_on_the_reactor(self) -> None:
        """A result of several pages arrives whole, on the reactor's thread."""
        self.session.page_size = 2
        for c in range(5):
            await self.cql.execute(Statement("INSERT INTO t (k, c, v) VALUES (%s, %s, %s)",
                                             (1, c, "x")))
        threads: list[threading.Thread] = []

        def delivered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            threads.append(threading.current_thread())
            return rows
        rows = await self.cql.execute(Statement("SELECT c FROM t WHERE k = %s", (1,))) \
            .addCallback(delivered)
        self.assertEqual([row["c"] for row in rows], [0, 1, 2, 3, 4])
        self.assertEqual(threads, [threading.main_thread()])

    async def test_driver_error_is_one_line(self) -> None:
        """A refused statement is StoreUnavailable naming its verb and table."""
        with self.assertRaises(StoreUnavailable) as caught:
            await self.cql.execute(Statement("SELECT v FROM t WHERE v = %s", ("x",)))
        message = str(caught.exception)
        self.assertIn("(SELECT t)", message)
        self.assertIn("ALLOW FILTERING", message)
        self.assertNotIn("\n", message)
