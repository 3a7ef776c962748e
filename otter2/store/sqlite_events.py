"""
The schedule events of the SQLite store: due events by bucket and trigger
(the table's primary key), and firing one in a single transaction with the
group-state change it causes (see Note [Exactly once] in
``otter2.scheduling``).

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from twisted.internet.defer import Deferred

from otter2.model import Execution, Fence, GroupState, ScheduledEvent
from otter2.store.interface import StaleEvent
from otter2.store.sqlite_database import Database
from otter2.store.sqlite_executions import insert_executions
from otter2.store.sqlite_journal import insert_execution_events
from otter2.store.sqlite_rows import check_fence, mark_divergent_row, write_state

_EVENT_COLUMNS = "bucket, trigger, policy_id, tenant_id, group_id, cron, version"


def insert_events(conn: sqlite3.Connection, events: Sequence[ScheduledEvent]) -> None:
    """Insert schedule events, inside the caller's transaction."""
    conn.executemany(
        f"INSERT OR REPLACE INTO schedule_event ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(e.bucket, e.trigger, e.policy_id, e.tenant_id, e.group_id, e.cron, e.version)
         for e in events])


def delete_policy_events(conn: sqlite3.Connection, tenant_id: str, group_id: str,
                         policy_id: str) -> None:
    """Remove a policy's pending events, inside the caller's transaction."""
    conn.execute("DELETE FROM schedule_event WHERE tenant_id=? AND group_id=? AND policy_id=?",
                 (tenant_id, group_id, policy_id))


def _event(row: tuple) -> ScheduledEvent:
    bucket, trigger, policy_id, tenant_id, group_id, cron, version = row
    return ScheduledEvent(tenant_id=tenant_id, group_id=group_id, policy_id=policy_id,
                          trigger=trigger, version=version, cron=cron, bucket=bucket)


class SQLiteEvents:
    """The schedule-event operations of `SQLiteGroupStore`, over its database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def due_events(self, buckets: Sequence[int], now: float,
                   limit: int) -> Deferred[list[ScheduledEvent]]:
        def work() -> list[ScheduledEvent]:
            found: list[ScheduledEvent] = []
            for bucket in buckets:  # each an index range: (bucket, trigger <= now)
                rows = self._db.conn.execute(
                    f"SELECT {_EVENT_COLUMNS} FROM schedule_event WHERE bucket=? "
                    "AND trigger<=? ORDER BY trigger LIMIT ?", (bucket, now, limit)).fetchall()
                found.extend(_event(row) for row in rows)
            return sorted(found, key=lambda e: (e.trigger, e.policy_id))[:limit]
        return self._db.run(work)

    def fire_event(self, event: ScheduledEvent, state: GroupState | None,
                   next_event: ScheduledEvent | None,
                   mark_divergent: bool,
                   execution: Execution | None = None,
                   fence: Fence | None = None) -> Deferred[None]:
        def work() -> None:
            with self._db.transaction() as conn:
                check_fence(conn, fence)
                consumed = conn.execute(
                    "DELETE FROM schedule_event WHERE bucket=? AND trigger=? AND policy_id=? "
                    "AND version=?", (event.bucket, event.trigger, event.policy_id,
                                      event.version))
                if consumed.rowcount == 0:
                    raise StaleEvent()
                if state is not None:
                    write_state(conn, state)
                if next_event is not None:
                    insert_events(conn, [next_event])
                if execution is not None:
                    insert_executions(conn, [execution])
                    insert_execution_events(conn, [execution])
                if mark_divergent:
                    mark_divergent_row(conn, event.tenant_id, event.group_id)
        return self._db.write((event.tenant_id, event.group_id), work)

    def earliest_trigger(self, buckets: Sequence[int]) -> Deferred[float | None]:
        def work() -> float | None:
            triggers = [row[0] for bucket in buckets for row in self._db.conn.execute(
                "SELECT min(trigger) FROM schedule_event WHERE bucket=?", (bucket,))
                if row[0] is not None]
            return min(triggers) if triggers else None
        return self._db.run(work)
