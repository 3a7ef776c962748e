"""
The embedded group store: one SQLite file (`otter2.store.sqlite_database`).

`SQLiteGroupStore` keeps groups, divergent marks and metrics itself and hands
policies, webhooks and schedule events to `SQLitePolicies` (receipts to
`SQLiteExecutions`, the journal to `SQLiteJournal`); all work through
the one `Database`, its thread and its transactions. Reads of a group are
answered from memory: see Note [Group cache].

test-case-name: tests.store.test_stores, tests.store.test_sqlite_database
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import evolve
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorThreads

from otter2.model import (
    CapabilityTarget,
    DivergentMark,
    Execution,
    Fence,
    GroupState,
    JournalEvent,
    Policy,
    ScalingGroup,
    ScheduledEvent,
    Webhook,
)
from otter2.model.cloud import RecordedServer
from otter2.store.documents import dump_servers, dumps
from otter2.store.interface import (
    NoSuchGroup,
    OverLimit,
)
from otter2.store.sqlite_database import Database
from otter2.store.sqlite_events import SQLiteEvents
from otter2.store.sqlite_executions import SQLiteExecutions
from otter2.store.sqlite_journal import SQLiteJournal
from otter2.store.sqlite_policies import SQLitePolicies, insert_policies
from otter2.store.sqlite_rows import (
    GROUP_COLUMNS,
    check_fence,
    claim_bucket_row,
    group_from_row,
    mark_divergent_row,
    with_state,
    write_state,
)


class SQLiteGroupStore:
    """A `GroupStore` in one SQLite file; see the module docstring."""

    def __init__(self, reactor: IReactorThreads, path: str, start: bool = True,
                 shared: bool = False) -> None:
        """The store of the file at ``path``, opened now unless ``start`` is false: then
        `start` opens it (a daemon opens its store when its services start, after
        twistd may have forked). ``shared``: other processes write the file too
        (Note [Group cache])."""
        self._db = Database(reactor, path, start, shared)
        self._policies = SQLitePolicies(self._db)
        self._events = SQLiteEvents(self._db)
        self._executions = SQLiteExecutions(self._db)
        self._journal = SQLiteJournal(self._db)

    def start(self) -> None:
        """Open the file and start the store's thread; `StoreUnavailable` says why not."""
        self._db.start()

    def close(self) -> None:
        """Stop the store's thread and close the file."""
        self._db.close()

    # -- groups ---------------------------------------------------------------

    def create_group(self, group: ScalingGroup, policies: Sequence[Policy],
                     events: Sequence[ScheduledEvent], max_groups: int) -> Deferred[None]:
        def work() -> None:
            with self._db.transaction() as conn:
                (count,) = conn.execute(
                    "SELECT count(*) FROM scaling_group WHERE tenant_id=? AND deleting=0",
                    (group.tenant_id,)).fetchone()
                if count >= max_groups:
                    raise OverLimit(count)
                s = group.state
                conn.execute(
                    f"INSERT INTO scaling_group ({GROUP_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (group.tenant_id, group.group_id, dumps(group.config),
                     dumps(group.launch), s.desired, s.version, int(s.paused),
                     int(s.suspended), s.status.value, dumps(s.error_reasons),
                     s.group_touched, dumps(s.policy_touched), 0, group.created,
                     dump_servers(group.servers), s.limited_retries, s.build_failures,
                     s.build_after, dumps(s.waiting), s.diverged_since))
                insert_policies(conn, policies, events)
        return self._db.write((group.tenant_id, group.group_id), work, documents=True)

    def load_group(self, tenant_id: str, group_id: str,
                   include_deleting: bool = False) -> Deferred[ScalingGroup | None]:
        def work() -> Any:
            return self._db.conn.execute(
                f"SELECT {GROUP_COLUMNS} FROM scaling_group "
                "WHERE tenant_id=? AND group_id=?", (tenant_id, group_id)).fetchone()

        def visible(group: ScalingGroup | None) -> ScalingGroup | None:
            return group if group is None or include_deleting or not group.deleting else None

        # See Note [Group cache].
        return self._db.read_group((tenant_id, group_id), work,
                                   group_from_row).addCallback(visible)

    def list_groups(self, tenant_id: str, limit: int,
                    marker: str | None) -> Deferred[list[ScalingGroup]]:
        def keys() -> list[tuple[str, str]]:
            return self._db.conn.execute(
                "SELECT tenant_id, group_id FROM scaling_group WHERE tenant_id=? "
                "AND group_id>? AND deleting=0 ORDER BY group_id LIMIT ?",
                (tenant_id, marker or "", limit)).fetchall()

        def rows(missing: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
            found = {}
            for start in range(0, len(missing), 400):
                chunk = [group_id for _, group_id in missing[start:start + 400]]
                for row in self._db.conn.execute(
                        f"SELECT {GROUP_COLUMNS} FROM scaling_group WHERE tenant_id=? "
                        f"AND group_id IN ({', '.join('?' * len(chunk))}) AND deleting=0",
                        (tenant_id, *chunk)):
                    found[(row[0], row[1])] = row
            return found
        # See Note [Group cache]: the groups already in memory are not read again.
        return self._db.read_groups(keys, rows, group_from_row)

    def save_state(self, state: GroupState,
                   fence: Fence | None = None) -> Deferred[GroupState]:
        def work() -> GroupState:
            with self._db.transaction() as conn:
                check_fence(conn, fence)
                write_state(conn, state)
            return evolve(state, version=state.version + 1)
        # See Note [Group cache]: the copy in memory takes the state written.
        return self._db.write((state.tenant_id, state.group_id), work, with_state)

    def _update_group_column(self, column: str, tenant_id: str, group_id: str,
                             value: Any) -> Deferred[None]:
        def work() -> None:
            with self._db.transaction() as conn:
                cursor = conn.execute(
                    f"UPDATE scaling_group SET {column}=? WHERE tenant_id=? "
                    "AND group_id=? AND deleting=0", (value, tenant_id, group_id))
                if cursor.rowcount == 0:
                    raise NoSuchGroup()
        return self._db.write((tenant_id, group_id), work)

    def update_config(self, tenant_id: str, group_id: str,
                      config: Mapping[str, Any]) -> Deferred[None]:
        # The bounds decide the state, so a state computed under the old ones
        # must lose its compare-and-set: the config change bumps the version.
        def work() -> None:
            with self._db.transaction() as conn:
                cursor = conn.execute(
                    "UPDATE scaling_group SET config=?, version=version+1 WHERE "
                    "tenant_id=? AND group_id=? AND deleting=0",
                    (dumps(config), tenant_id, group_id))
                if cursor.rowcount == 0:
                    raise NoSuchGroup()
        return self._db.write((tenant_id, group_id), work)

    def update_launch(self, tenant_id: str, group_id: str, launch: Mapping[str, Any]) -> Deferred[None]:
        return self._update_group_column("launch", tenant_id, group_id, dumps(launch))

    def mark_deleting(self, tenant_id: str, group_id: str) -> Deferred[None]:
        return self._update_group_column("deleting", tenant_id, group_id, 1)

    def save_servers(self, tenant_id: str, group_id: str,
                     servers: Sequence[RecordedServer],
                     fence: Fence | None = None) -> Deferred[None]:
        def work() -> None:
            with self._db.transaction() as conn:
                check_fence(conn, fence)
                conn.execute("UPDATE scaling_group SET active=? WHERE tenant_id=? "
                             "AND group_id=?", (dump_servers(servers), tenant_id, group_id))
        return self._db.write((tenant_id, group_id), work)

    def delete_group(self, tenant_id: str, group_id: str,
                     fence: Fence | None = None) -> Deferred[None]:
        def work() -> None:
            key = (tenant_id, group_id)
            with self._db.transaction() as conn:
                check_fence(conn, fence)
                for table in ("scaling_group", "scaling_policy", "policy_webhook",
                              "schedule_event", "divergent", "execution", "journal"):
                    conn.execute(f"DELETE FROM {table} WHERE tenant_id=? AND group_id=?",
                                 key)
        return self._db.write((tenant_id, group_id), work, documents=True)

    # -- policies and webhooks: see SQLitePolicies ------------------------------

    def create_policies(self, tenant_id: str, group_id: str, policies: Sequence[Policy],
                        events: Sequence[ScheduledEvent],
                        max_policies: int) -> Deferred[None]:
        return self._policies.create_policies(tenant_id, group_id, policies, events,
                                              max_policies)

    def list_policies(self, tenant_id: str, group_id: str, limit: int,
                      marker: str | None) -> Deferred[list[Policy]]:
        return self._policies.list_policies(tenant_id, group_id, limit, marker)

    def load_policy(self, tenant_id: str, group_id: str,
                    policy_id: str) -> Deferred[Policy | None]:
        return self._policies.load_policy(tenant_id, group_id, policy_id)

    def update_policy(self, policy: Policy,
                      event: ScheduledEvent | None) -> Deferred[None]:
        return self._policies.update_policy(policy, event)

    def delete_policy(self, tenant_id: str, group_id: str, policy_id: str) -> Deferred[None]:
        return self._policies.delete_policy(tenant_id, group_id, policy_id)

    def create_webhooks(self, tenant_id: str, group_id: str, policy_id: str,
                        webhooks: Sequence[Webhook], max_webhooks: int) -> Deferred[None]:
        return self._policies.create_webhooks(tenant_id, group_id, policy_id, webhooks,
                                              max_webhooks)

    def list_webhooks(self, tenant_id: str, group_id: str, policy_id: str,
                      limit: int | None,
                      marker: str | None) -> Deferred[list[Webhook]]:
        return self._policies.list_webhooks(tenant_id, group_id, policy_id, limit, marker)

    def list_group_webhooks(self, tenant_id: str,
                            group_id: str) -> Deferred[list[Webhook]]:
        return self._policies.list_group_webhooks(tenant_id, group_id)

    def load_webhook(self, tenant_id: str, group_id: str, policy_id: str,
                     webhook_id: str) -> Deferred[Webhook | None]:
        return self._policies.load_webhook(tenant_id, group_id, policy_id, webhook_id)

    def update_webhook(self, webhook: Webhook) -> Deferred[None]:
        return self._policies.update_webhook(webhook)

    def delete_webhook(self, tenant_id: str, group_id: str, policy_id: str,
                       webhook_id: str) -> Deferred[None]:
        return self._policies.delete_webhook(tenant_id, group_id, policy_id, webhook_id)

    def lookup_capability(self, capability_hash: str) -> Deferred[CapabilityTarget | None]:
        return self._policies.lookup_capability(capability_hash)

    # -- schedule events -------------------------------------------------------

    def due_events(self, buckets: Sequence[int], now: float,
                   limit: int) -> Deferred[list[ScheduledEvent]]:
        return self._events.due_events(buckets, now, limit)

    def fire_event(self, event: ScheduledEvent, state: GroupState | None,
                   next_event: ScheduledEvent | None,
                   mark_divergent: bool,
                   execution: Execution | None = None,
                   fence: Fence | None = None) -> Deferred[None]:
        return self._events.fire_event(event, state, next_event, mark_divergent, execution,
                                       fence)

    # -- execution receipts: see SQLiteExecutions --------------------------------

    def record_executions(self, state: GroupState | None, executions: Sequence[Execution],
                          mark_divergent: bool, keys_since: float,
                          retain_since: float) -> Deferred[GroupState | None]:
        return self._executions.record_executions(state, executions, mark_divergent,
                                                  keys_since, retain_since)

    def find_executions(self, tenant_id: str, group_id: str, keys: Sequence[str],
                        since: float) -> Deferred[dict[str, Execution]]:
        return self._executions.find_executions(tenant_id, group_id, keys, since)

    def load_execution(self, tenant_id: str, group_id: str,
                       execution_id: str) -> Deferred[Execution | None]:
        return self._executions.load_execution(tenant_id, group_id, execution_id)

    def list_executions(self, tenant_id: str, group_id: str, limit: int,
                        marker: str | None) -> Deferred[list[Execution]]:
        return self._executions.list_executions(tenant_id, group_id, limit, marker)

    # -- the activity journal: see SQLiteJournal ----------------------------------

    def append_journal(self, events: Sequence[JournalEvent], retain_since: float,
                       fence: Fence | None = None) -> Deferred[None]:
        return self._journal.append_journal(events, retain_since, fence)

    def list_journal(self, tenant_id: str, group_id: str, limit: int, marker: str | None,
                     since: float | None = None, kinds: Sequence[str] = (),
                     server_id: str | None = None) -> Deferred[list[JournalEvent]]:
        return self._journal.list_journal(tenant_id, group_id, limit, marker, since, kinds,
                                          server_id)

    def load_journal(self, tenant_id: str, group_id: str,
                     event_ids: Sequence[str]) -> Deferred[dict[str, JournalEvent]]:
        return self._journal.load_journal(tenant_id, group_id, event_ids)

    def earliest_trigger(self, buckets: Sequence[int]) -> Deferred[float | None]:
        return self._events.earliest_trigger(buckets)

    # -- divergent marks, metrics, health -------------------------------------

    def mark_divergent(self, tenant_id: str, group_id: str) -> Deferred[None]:
        def work() -> None:
            with self._db.transaction() as conn:
                mark_divergent_row(conn, tenant_id, group_id)
        return self._db.run(work)

    def clear_divergent(self, tenant_id: str, group_id: str,
                        mark: int | None = None,
                        fence: Fence | None = None) -> Deferred[None]:
        def work() -> None:
            with self._db.transaction() as conn:
                check_fence(conn, fence)
                if mark is None:
                    conn.execute("DELETE FROM divergent WHERE tenant_id=? AND group_id=?",
                                 (tenant_id, group_id))
                else:
                    conn.execute("DELETE FROM divergent WHERE tenant_id=? AND group_id=? "
                                 "AND mark=?", (tenant_id, group_id, mark))
        return self._db.run(work)

    def claim_bucket(self, bucket: int) -> Deferred[int]:
        def work() -> int:
            with self._db.transaction() as conn:
                return claim_bucket_row(conn, bucket)
        return self._db.run(work)

    def list_divergent(self) -> Deferred[list[DivergentMark]]:
        def work() -> list[DivergentMark]:
            return [DivergentMark(*row) for row in self._db.conn.execute(
                "SELECT tenant_id, group_id, mark FROM divergent "
                "ORDER BY tenant_id, group_id")]
        return self._db.run(work)

    def list_all_groups(self) -> Deferred[list[tuple[str, str]]]:
        def work() -> list[tuple[str, str]]:
            return [(tenant, group) for tenant, group in self._db.conn.execute(
                "SELECT tenant_id, group_id FROM scaling_group ORDER BY tenant_id, group_id")]
        return self._db.run(work)

    def count_rows(self) -> Deferred[dict[str, int]]:
        def work() -> dict[str, int]:
            counts = {}
            for name, table in (("groups", "scaling_group"), ("policies", "scaling_policy"),
                                ("webhooks", "policy_webhook")):
                (counts[name],) = self._db.conn.execute(
                    f"SELECT count(*) FROM {table}").fetchone()
            return counts
        return self._db.run(work)

    def check_health(self) -> Deferred[float]:
        def work() -> float:
            start = time.monotonic()
            self._db.conn.execute("SELECT count(*) FROM schema_migration").fetchone()
            return time.monotonic() - start
        return self._db.run(work)
