"""
The embedded group store: one SQLite file in WAL mode.

Every query runs on one dedicated thread that owns the connection, so the
reactor never waits on the disk and writes are serialised; each operation is
one transaction, which makes the limit checks and compare-and-set atomic.

# Note [Group cache]
The daemon owns its SQLite file, so every write of a group's row goes through
this store: reads of a group are answered from a copy kept in memory (the
most recently used ``CACHED_GROUPS``), without a trip to the store's thread.
A write forgets the group's copy when it is submitted, so later reads queue
behind it on the store's thread, and again when it is done, after any read
that ran before it has filed its answer (the one thread runs them in order
and their results come back in that order). Two processes must not share
one file.

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, TypeVar

from attrs import evolve
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from otter2.model import (
    DivergentMark,
    GroupState,
    Policy,
    ScalingGroup,
    ScheduledEvent,
)
from otter2.store.sqlite_policies import SQLitePolicies
from otter2.model.cloud import RecordedServer
from otter2.store.sqlite_rows import GROUP_COLUMNS, dump_servers, dumps, group_from_row
from otter2.store.interface import (
    NoSuchGroup,
    OverLimit,
    StaleVersion,
)

T = TypeVar("T")

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema" / "sqlite"
CACHED_GROUPS = 10_000
BUCKETS = 10


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


class SQLiteGroupStore(SQLitePolicies):
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
        self._groups: OrderedDict[tuple[str, str], Optional[ScalingGroup]] = OrderedDict()
        self._pool = ThreadPool(minthreads=1, maxthreads=1, name="otter2-sqlite")
        self._pool.start()

    def close(self) -> None:
        """Stop the store's thread and close the file."""
        self._pool.stop()
        self._conn.close()

    def _run(self, work: Callable[..., T], *args: Any) -> Deferred[T]:
        return deferToThreadPool(self._reactor, self._pool, work, *args)

    # See Note [Group cache].

    def _write(self, key: tuple[str, str], work: Callable[[], T]) -> Deferred[T]:
        """Run a write of the group's row; its cached copy is forgotten before and after."""
        self._groups.pop(key, None)

        def written(result: T) -> T:
            self._groups.pop(key, None)
            return result
        return self._run(work).addBoth(written)

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
            [(p.tenant_id, p.group_id, p.policy_id, dumps(p.data), p.version)
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
                    f"INSERT INTO scaling_group ({GROUP_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (group.tenant_id, group.group_id, dumps(group.config),
                     dumps(group.launch), s.desired, s.version, int(s.paused),
                     int(s.suspended), s.status.value, dumps(s.error_reasons),
                     s.group_touched, dumps(s.policy_touched), 0, group.created,
                     dump_servers(group.servers), s.limited_retries))
                self._insert_policies(conn, policies, events)
        return self._write((group.tenant_id, group.group_id), work)

    def load_group(self, tenant_id: str, group_id: str,
                   include_deleting: bool = False) -> Deferred[Optional[ScalingGroup]]:
        def work() -> Optional[ScalingGroup]:
            row = self._conn.execute(
                f"SELECT {GROUP_COLUMNS} FROM scaling_group "
                "WHERE tenant_id=? AND group_id=?", (tenant_id, group_id)).fetchone()
            if row is None:
                return None
            return group_from_row(row)

        def visible(group: Optional[ScalingGroup]) -> Optional[ScalingGroup]:
            return group if group is None or include_deleting or not group.deleting else None

        key = (tenant_id, group_id)
        if key in self._groups:
            self._groups.move_to_end(key)
            return succeed(visible(self._groups[key]))
        def remember(group: Optional[ScalingGroup]) -> Optional[ScalingGroup]:
            self._groups[key] = group
            if len(self._groups) > CACHED_GROUPS:
                self._groups.popitem(last=False)
            return visible(group)
        return self._run(work).addCallback(remember)

    def list_groups(self, tenant_id: str, limit: int,
                    marker: Optional[str]) -> Deferred[list[ScalingGroup]]:
        def work() -> list[ScalingGroup]:
            rows = self._conn.execute(
                f"SELECT {GROUP_COLUMNS} FROM scaling_group WHERE tenant_id=? "
                "AND group_id>? AND deleting=0 ORDER BY group_id LIMIT ?",
                (tenant_id, marker or "", limit)).fetchall()
            return [group_from_row(row) for row in rows]
        return self._run(work)

    def save_state(self, state: GroupState) -> Deferred[GroupState]:
        def work() -> GroupState:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "UPDATE scaling_group SET desired=?, version=version+1, paused=?, "
                    "suspended=?, status=?, error_reasons=?, group_touched=?, "
                    "policy_touched=?, limited_retries=? "
                    "WHERE tenant_id=? AND group_id=? AND version=?",
                    (state.desired, int(state.paused), int(state.suspended),
                     state.status.value, dumps(state.error_reasons),
                     state.group_touched, dumps(state.policy_touched), state.limited_retries,
                     state.tenant_id, state.group_id, state.version))
                if cursor.rowcount == 0:
                    row = conn.execute(
                        "SELECT 1 FROM scaling_group WHERE tenant_id=? AND group_id=?",
                        (state.tenant_id, state.group_id)).fetchone()
                    raise StaleVersion() if row else NoSuchGroup()
            return evolve(state, version=state.version + 1)
        return self._write((state.tenant_id, state.group_id), work)

    def _update_group_column(self, column: str, tenant_id: str, group_id: str,
                             value: Any) -> Deferred[None]:
        def work() -> None:
            with self._transaction() as conn:
                cursor = conn.execute(
                    f"UPDATE scaling_group SET {column}=? WHERE tenant_id=? "
                    "AND group_id=? AND deleting=0", (value, tenant_id, group_id))
                if cursor.rowcount == 0:
                    raise NoSuchGroup()
        return self._write((tenant_id, group_id), work)

    def update_config(self, tenant_id: str, group_id: str,
                      config: Mapping[str, Any]) -> Deferred[None]:
        # The bounds decide the state, so a state computed under the old ones
        # must lose its compare-and-set: the config change bumps the version.
        def work() -> None:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "UPDATE scaling_group SET config=?, version=version+1 WHERE "
                    "tenant_id=? AND group_id=? AND deleting=0",
                    (dumps(config), tenant_id, group_id))
                if cursor.rowcount == 0:
                    raise NoSuchGroup()
        return self._write((tenant_id, group_id), work)

    def update_launch(self, tenant_id: str, group_id: str, launch: Mapping[str, Any]) -> Deferred[None]:
        return self._update_group_column("launch", tenant_id, group_id, dumps(launch))

    def mark_deleting(self, tenant_id: str, group_id: str) -> Deferred[None]:
        return self._update_group_column("deleting", tenant_id, group_id, 1)

    def save_servers(self, tenant_id: str, group_id: str,
                     servers: Sequence[RecordedServer]) -> Deferred[None]:
        def work() -> None:
            with self._transaction() as conn:
                conn.execute("UPDATE scaling_group SET active=? WHERE tenant_id=? "
                             "AND group_id=?", (dump_servers(servers), tenant_id, group_id))
        return self._write((tenant_id, group_id), work)

    def delete_group(self, tenant_id: str, group_id: str) -> Deferred[None]:
        def work() -> None:
            key = (tenant_id, group_id)
            with self._transaction() as conn:
                for table in ("scaling_group", "scaling_policy", "policy_webhook",
                              "schedule_event", "divergent"):
                    conn.execute(f"DELETE FROM {table} WHERE tenant_id=? AND group_id=?",
                                 key)
        return self._write((tenant_id, group_id), work)

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
