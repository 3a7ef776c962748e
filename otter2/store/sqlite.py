"""
The embedded group store: one SQLite file in WAL mode.

Every query runs on one dedicated thread that owns the connection, so the
reactor never waits on the disk and writes are serialised; each operation is
one transaction, which makes the limit checks and compare-and-set atomic.

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, TypeVar

from attrs import evolve
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from otter2.model import (
    CapabilityTarget,
    DivergentMark,
    GroupState,
    GroupStatus,
    Policy,
    ScalingGroup,
    ScheduledEvent,
    Webhook,
    thaw_json,
)
from otter2.store.interface import (
    NoSuchGroup,
    NoSuchPolicy,
    NoSuchWebhook,
    OverLimit,
    StaleVersion,
)

T = TypeVar("T")

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema" / "sqlite"
BUCKETS = 10

_GROUP_COLUMNS = ("tenant_id, group_id, config, launch, desired, version, paused, "
                  "suspended, status, error_reasons, group_touched, policy_touched, "
                  "deleting, created, active")


def _dumps(value: Any) -> str:
    return json.dumps(thaw_json(value), separators=(",", ":"))


def _group_from_row(row: sqlite3.Row) -> ScalingGroup:
    (tenant_id, group_id, config, launch, desired, version, paused, suspended,
     status, error_reasons, group_touched, policy_touched, deleting, created,
     active) = row
    state = GroupState(
        tenant_id=tenant_id, group_id=group_id, desired=desired, version=version,
        paused=bool(paused), suspended=bool(suspended), status=GroupStatus(status),
        error_reasons=json.loads(error_reasons), group_touched=group_touched,
        policy_touched=json.loads(policy_touched))
    return ScalingGroup(tenant_id=tenant_id, group_id=group_id,
                        config=json.loads(config), launch=json.loads(launch),
                        state=state, created=created, deleting=bool(deleting),
                        active=json.loads(active))


def _policy_from_row(row: sqlite3.Row) -> Policy:
    tenant_id, group_id, policy_id, data, version = row
    return Policy(tenant_id=tenant_id, group_id=group_id, policy_id=policy_id,
                  data=json.loads(data), version=version)


def _webhook_from_row(row: sqlite3.Row) -> Webhook:
    (tenant_id, group_id, policy_id, webhook_id, name, metadata, cap_version,
     cap_hash) = row
    return Webhook(tenant_id=tenant_id, group_id=group_id, policy_id=policy_id,
                   webhook_id=webhook_id, name=name, metadata=json.loads(metadata),
                   capability_version=cap_version, capability_hash=cap_hash)


_WEBHOOK_COLUMNS = ("tenant_id, group_id, policy_id, webhook_id, name, metadata, "
                    "capability_version, capability_hash")


def bucket_of(policy_id: str) -> int:
    """The scheduler bucket (1..BUCKETS) an event of this policy goes to."""
    return sum(policy_id.encode()) % BUCKETS + 1


def apply_schema(conn: sqlite3.Connection, schema_dir: Path = SCHEMA_DIR) -> None:
    """Bring the database up to the newest schema file, each file once."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migration (name TEXT PRIMARY KEY)")
    done = {name for (name,) in conn.execute("SELECT name FROM schema_migration")}
    for path in sorted(schema_dir.glob("*.sql")):
        if path.name in done:
            continue
        conn.executescript("BEGIN IMMEDIATE;\n" + path.read_text() +
                           f"\nINSERT INTO schema_migration VALUES ('{path.name}');\nCOMMIT;")


class SQLiteGroupStore:
    """A `GroupStore` in one SQLite file; see the module docstring."""

    def __init__(self, reactor: IReactorThreads, path: str) -> None:
        self._reactor = reactor
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL survives the death of the process (SIGKILL) in WAL mode; only a
        # power loss could drop the last commits.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        apply_schema(self._conn)
        self._pool = ThreadPool(minthreads=1, maxthreads=1, name="otter2-sqlite")
        self._pool.start()

    def close(self) -> None:
        """Stop the store's thread and close the file."""
        self._pool.stop()
        self._conn.close()

    def _run(self, work: Callable[..., T], *args: Any) -> Deferred[T]:
        return deferToThreadPool(self._reactor, self._pool, work, *args)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- groups ---------------------------------------------------------------

    def _group_exists(self, conn: sqlite3.Connection, tenant_id: str, group_id: str) -> bool:
        return conn.execute(
            "SELECT 1 FROM scaling_group WHERE tenant_id=? AND group_id=? AND deleting=0",
            (tenant_id, group_id)).fetchone() is not None

    def _insert_policies(self, conn: sqlite3.Connection, policies: Sequence[Policy],
                         events: Sequence[ScheduledEvent]) -> None:
        conn.executemany(
            "INSERT INTO scaling_policy VALUES (?, ?, ?, ?, ?)",
            [(p.tenant_id, p.group_id, p.policy_id, _dumps(p.data), p.version)
             for p in policies])
        self._insert_events(conn, events)

    def _insert_events(self, conn: sqlite3.Connection,
                       events: Sequence[ScheduledEvent]) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO schedule_event VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(bucket_of(e.policy_id), e.trigger, e.policy_id, e.tenant_id, e.group_id,
              e.cron, e.version) for e in events])

    def create_group(self, group: ScalingGroup, policies: Sequence[Policy],
                     events: Sequence[ScheduledEvent], max_groups: int) -> Deferred[None]:
        def work() -> None:
            with self._transaction() as conn:
                (count,) = conn.execute(
                    "SELECT count(*) FROM scaling_group WHERE tenant_id=? AND deleting=0",
                    (group.tenant_id,)).fetchone()
                if count >= max_groups:
                    raise OverLimit(count)
                s = group.state
                conn.execute(
                    f"INSERT INTO scaling_group ({_GROUP_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (group.tenant_id, group.group_id, _dumps(group.config),
                     _dumps(group.launch), s.desired, s.version, int(s.paused),
                     int(s.suspended), s.status.value, _dumps(s.error_reasons),
                     s.group_touched, _dumps(s.policy_touched), 0, group.created,
                     _dumps(group.active)))
                self._insert_policies(conn, policies, events)
        return self._run(work)

    def load_group(self, tenant_id: str, group_id: str,
                   include_deleting: bool = False) -> Deferred[Optional[ScalingGroup]]:
        def work() -> Optional[ScalingGroup]:
            row = self._conn.execute(
                f"SELECT {_GROUP_COLUMNS} FROM scaling_group "
                "WHERE tenant_id=? AND group_id=?", (tenant_id, group_id)).fetchone()
            if row is None:
                return None
            group = _group_from_row(row)
            return group if include_deleting or not group.deleting else None
        return self._run(work)

    def list_groups(self, tenant_id: str, limit: int,
                    marker: Optional[str]) -> Deferred[list[ScalingGroup]]:
        def work() -> list[ScalingGroup]:
            rows = self._conn.execute(
                f"SELECT {_GROUP_COLUMNS} FROM scaling_group WHERE tenant_id=? "
                "AND group_id>? AND deleting=0 ORDER BY group_id LIMIT ?",
                (tenant_id, marker or "", limit)).fetchall()
            return [_group_from_row(row) for row in rows]
        return self._run(work)

    def save_state(self, state: GroupState) -> Deferred[GroupState]:
        def work() -> GroupState:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "UPDATE scaling_group SET desired=?, version=version+1, paused=?, "
                    "suspended=?, status=?, error_reasons=?, group_touched=?, "
                    "policy_touched=? WHERE tenant_id=? AND group_id=? AND version=?",
                    (state.desired, int(state.paused), int(state.suspended),
                     state.status.value, _dumps(state.error_reasons),
                     state.group_touched, _dumps(state.policy_touched),
                     state.tenant_id, state.group_id, state.version))
                if cursor.rowcount == 0:
                    row = conn.execute(
                        "SELECT 1 FROM scaling_group WHERE tenant_id=? AND group_id=?",
                        (state.tenant_id, state.group_id)).fetchone()
                    raise StaleVersion() if row else NoSuchGroup()
            return evolve(state, version=state.version + 1)
        return self._run(work)

    def _update_group_column(self, column: str, tenant_id: str, group_id: str,
                             value: Any) -> Deferred[None]:
        def work() -> None:
            with self._transaction() as conn:
                cursor = conn.execute(
                    f"UPDATE scaling_group SET {column}=? WHERE tenant_id=? "
                    "AND group_id=? AND deleting=0", (value, tenant_id, group_id))
                if cursor.rowcount == 0:
                    raise NoSuchGroup()
        return self._run(work)

    def update_config(self, tenant_id: str, group_id: str,
                      config: Mapping[str, Any]) -> Deferred[None]:
        # The bounds decide the state, so a state computed under the old ones
        # must lose its compare-and-set: the config change bumps the version.
        def work() -> None:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "UPDATE scaling_group SET config=?, version=version+1 WHERE "
                    "tenant_id=? AND group_id=? AND deleting=0",
                    (_dumps(config), tenant_id, group_id))
                if cursor.rowcount == 0:
                    raise NoSuchGroup()
        return self._run(work)

    def update_launch(self, tenant_id: str, group_id: str, launch: Mapping[str, Any]) -> Deferred[None]:
        return self._update_group_column("launch", tenant_id, group_id, _dumps(launch))

    def mark_deleting(self, tenant_id: str, group_id: str) -> Deferred[None]:
        return self._update_group_column("deleting", tenant_id, group_id, 1)

    def save_active(self, tenant_id: str, group_id: str,
                    servers: Sequence[dict]) -> Deferred[None]:
        def work() -> None:
            with self._transaction() as conn:
                conn.execute("UPDATE scaling_group SET active=? WHERE tenant_id=? "
                             "AND group_id=?", (_dumps(servers), tenant_id, group_id))
        return self._run(work)

    def delete_group(self, tenant_id: str, group_id: str) -> Deferred[None]:
        def work() -> None:
            key = (tenant_id, group_id)
            with self._transaction() as conn:
                for table in ("scaling_group", "scaling_policy", "policy_webhook",
                              "schedule_event", "divergent"):
                    conn.execute(f"DELETE FROM {table} WHERE tenant_id=? AND group_id=?",
                                 key)
        return self._run(work)

    # -- policies -------------------------------------------------------------

    def create_policies(self, tenant_id: str, group_id: str, policies: Sequence[Policy],
                        events: Sequence[ScheduledEvent],
                        max_policies: int) -> Deferred[None]:
        def work() -> None:
            with self._transaction() as conn:
                if not self._group_exists(conn, tenant_id, group_id):
                    raise NoSuchGroup()
                (count,) = conn.execute(
                    "SELECT count(*) FROM scaling_policy WHERE tenant_id=? AND group_id=?",
                    (tenant_id, group_id)).fetchone()
                if count + len(policies) > max_policies:
                    raise OverLimit(count)
                self._insert_policies(conn, policies, events)
        return self._run(work)

    def list_policies(self, tenant_id: str, group_id: str, limit: int,
                      marker: Optional[str]) -> Deferred[list[Policy]]:
        def work() -> list[Policy]:
            rows = self._conn.execute(
                "SELECT tenant_id, group_id, policy_id, data, version FROM scaling_policy "
                "WHERE tenant_id=? AND group_id=? AND policy_id>? ORDER BY policy_id "
                "LIMIT ?", (tenant_id, group_id, marker or "", limit)).fetchall()
            return [_policy_from_row(row) for row in rows]
        return self._run(work)

    def load_policy(self, tenant_id: str, group_id: str,
                    policy_id: str) -> Deferred[Optional[Policy]]:
        def work() -> Optional[Policy]:
            row = self._conn.execute(
                "SELECT tenant_id, group_id, policy_id, data, version FROM scaling_policy "
                "WHERE tenant_id=? AND group_id=? AND policy_id=?",
                (tenant_id, group_id, policy_id)).fetchone()
            return None if row is None else _policy_from_row(row)
        return self._run(work)

    def update_policy(self, policy: Policy,
                      event: Optional[ScheduledEvent]) -> Deferred[None]:
        def work() -> None:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "UPDATE scaling_policy SET data=?, version=? WHERE tenant_id=? "
                    "AND group_id=? AND policy_id=?",
                    (_dumps(policy.data), policy.version, policy.tenant_id,
                     policy.group_id, policy.policy_id))
                if cursor.rowcount == 0:
                    raise NoSuchPolicy()
                self._insert_events(conn, [event] if event else [])
        return self._run(work)

    def delete_policy(self, tenant_id: str, group_id: str, policy_id: str) -> Deferred[None]:
        def work() -> None:
            key = (tenant_id, group_id, policy_id)
            with self._transaction() as conn:
                cursor = conn.execute("DELETE FROM scaling_policy WHERE tenant_id=? "
                                      "AND group_id=? AND policy_id=?", key)
                if cursor.rowcount == 0:
                    raise NoSuchPolicy()
                conn.execute("DELETE FROM policy_webhook WHERE tenant_id=? AND "
                             "group_id=? AND policy_id=?", key)
        return self._run(work)

    # -- webhooks -------------------------------------------------------------

    def create_webhooks(self, tenant_id: str, group_id: str, policy_id: str,
                        webhooks: Sequence[Webhook], max_webhooks: int) -> Deferred[None]:
        def work() -> None:
            key = (tenant_id, group_id, policy_id)
            with self._transaction() as conn:
                if conn.execute("SELECT 1 FROM scaling_policy WHERE tenant_id=? AND "
                                "group_id=? AND policy_id=?", key).fetchone() is None:
                    raise NoSuchPolicy()
                (count,) = conn.execute(
                    "SELECT count(*) FROM policy_webhook WHERE tenant_id=? AND "
                    "group_id=? AND policy_id=?", key).fetchone()
                if count + len(webhooks) > max_webhooks:
                    raise OverLimit(count)
                conn.executemany(
                    f"INSERT INTO policy_webhook ({_WEBHOOK_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(w.tenant_id, w.group_id, w.policy_id, w.webhook_id, w.name,
                      _dumps(w.metadata), w.capability_version, w.capability_hash)
                     for w in webhooks])
        return self._run(work)

    def list_webhooks(self, tenant_id: str, group_id: str, policy_id: str,
                      limit: Optional[int],
                      marker: Optional[str]) -> Deferred[list[Webhook]]:
        def work() -> list[Webhook]:
            rows = self._conn.execute(
                f"SELECT {_WEBHOOK_COLUMNS} FROM policy_webhook WHERE tenant_id=? AND "
                "group_id=? AND policy_id=? AND webhook_id>? ORDER BY webhook_id LIMIT ?",
                (tenant_id, group_id, policy_id, marker or "",
                 -1 if limit is None else limit)).fetchall()
            return [_webhook_from_row(row) for row in rows]
        return self._run(work)

    def list_group_webhooks(self, tenant_id: str,
                            group_id: str) -> Deferred[list[Webhook]]:
        def work() -> list[Webhook]:
            rows = self._conn.execute(
                f"SELECT {_WEBHOOK_COLUMNS} FROM policy_webhook WHERE tenant_id=? AND "
                "group_id=? ORDER BY policy_id, webhook_id", (tenant_id, group_id)).fetchall()
            return [_webhook_from_row(row) for row in rows]
        return self._run(work)

    def load_webhook(self, tenant_id: str, group_id: str, policy_id: str,
                     webhook_id: str) -> Deferred[Optional[Webhook]]:
        def work() -> Optional[Webhook]:
            row = self._conn.execute(
                f"SELECT {_WEBHOOK_COLUMNS} FROM policy_webhook WHERE tenant_id=? AND "
                "group_id=? AND policy_id=? AND webhook_id=?",
                (tenant_id, group_id, policy_id, webhook_id)).fetchone()
            return None if row is None else _webhook_from_row(row)
        return self._run(work)

    def update_webhook(self, webhook: Webhook) -> Deferred[None]:
        def work() -> None:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "UPDATE policy_webhook SET name=?, metadata=? WHERE tenant_id=? AND "
                    "group_id=? AND policy_id=? AND webhook_id=?",
                    (webhook.name, _dumps(webhook.metadata), webhook.tenant_id,
                     webhook.group_id, webhook.policy_id, webhook.webhook_id))
                if cursor.rowcount == 0:
                    raise NoSuchWebhook()
        return self._run(work)

    def delete_webhook(self, tenant_id: str, group_id: str, policy_id: str,
                       webhook_id: str) -> Deferred[None]:
        def work() -> None:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "DELETE FROM policy_webhook WHERE tenant_id=? AND group_id=? AND "
                    "policy_id=? AND webhook_id=?",
                    (tenant_id, group_id, policy_id, webhook_id))
                if cursor.rowcount == 0:
                    raise NoSuchWebhook()
        return self._run(work)

    def lookup_capability(self, capability_hash: str) -> Deferred[Optional[CapabilityTarget]]:
        def work() -> Optional[CapabilityTarget]:
            row = self._conn.execute(
                "SELECT tenant_id, group_id, policy_id FROM policy_webhook "
                "WHERE capability_hash=?", (capability_hash,)).fetchone()
            return None if row is None else CapabilityTarget(*row)
        return self._run(work)

    # -- divergent marks, metrics, health -------------------------------------

    def mark_divergent(self, tenant_id: str, group_id: str) -> Deferred[None]:
        def work() -> None:
            with self._transaction() as conn:
                conn.execute(
                    "INSERT INTO divergent VALUES (?, ?, 1) ON CONFLICT (tenant_id, "
                    "group_id) DO UPDATE SET mark=mark+1", (tenant_id, group_id))
        return self._run(work)

    def clear_divergent(self, tenant_id: str, group_id: str,
                        mark: Optional[int] = None) -> Deferred[None]:
        def work() -> None:
            with self._transaction() as conn:
                if mark is None:
                    conn.execute("DELETE FROM divergent WHERE tenant_id=? AND group_id=?",
                                 (tenant_id, group_id))
                else:
                    conn.execute("DELETE FROM divergent WHERE tenant_id=? AND group_id=? "
                                 "AND mark=?", (tenant_id, group_id, mark))
        return self._run(work)

    def list_divergent(self) -> Deferred[list[DivergentMark]]:
        def work() -> list[DivergentMark]:
            return [DivergentMark(*row) for row in self._conn.execute(
                "SELECT tenant_id, group_id, mark FROM divergent "
                "ORDER BY tenant_id, group_id")]
        return self._run(work)

    def list_all_groups(self) -> Deferred[list[tuple[str, str]]]:
        def work() -> list[tuple[str, str]]:
            return [(tenant, group) for tenant, group in self._conn.execute(
                "SELECT tenant_id, group_id FROM scaling_group ORDER BY tenant_id, group_id")]
        return self._run(work)

    def count_rows(self) -> Deferred[dict[str, int]]:
        def work() -> dict[str, int]:
            counts = {}
            for name, table in (("groups", "scaling_group"), ("policies", "scaling_policy"),
                                ("webhooks", "policy_webhook")):
                (counts[name],) = self._conn.execute(
                    f"SELECT count(*) FROM {table}").fetchone()
            return counts
        return self._run(work)

    def check_health(self) -> Deferred[float]:
        def work() -> float:
            start = time.monotonic()
            self._conn.execute("SELECT count(*) FROM schema_migration").fetchone()
            return time.monotonic() - start
        return self._run(work)
