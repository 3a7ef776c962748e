"""
The activity journal of the SQLite store (table ``journal``, see Note
[Journal] in ``otter2.model.journal``): execution events inserted in the
transaction of their receipts (`insert_journal`), other events appended,
listed newest first through the table's indexes.

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred, succeed

from otter2.model import Execution, Fence, JournalEvent
from otter2.model.journal import from_execution
from otter2.store.journal import from_json, to_json
from otter2.store.sqlite_database import Database
from otter2.store.sqlite_rows import check_fence

_COLUMNS = "tenant_id, group_id, event_id, kind, at, server_id, record"


def insert_journal(conn: sqlite3.Connection, events: Sequence[JournalEvent]) -> None:
    """Add events inside the caller's transaction; an id already there keeps its event."""
    conn.executemany(
        f"INSERT OR IGNORE INTO journal ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(e.tenant_id, e.group_id, e.event_id, e.kind.value, e.at, e.server_id,
          json.dumps(to_json(e))) for e in events])


def insert_execution_events(conn: sqlite3.Connection,
                            executions: Sequence[Execution]) -> None:
    """The journal's events of receipts, inside the transaction recording them."""
    insert_journal(conn, [from_execution(e) for e in executions])


def _event(row: tuple[Any, ...]) -> JournalEvent:
    tenant_id, group_id, event_id, kind, at, server_id, record = row
    return from_json(tenant_id, group_id, event_id, kind, at, server_id, json.loads(record))


class SQLiteJournal:
    """The journal operations of `SQLiteGroupStore`, over its database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def append_journal(self, events: Sequence[JournalEvent], retain_since: float,
                       fence: Fence | None = None) -> Deferred[None]:
        if not events and fence is None:
            return succeed(None)
        key = (events[0].tenant_id, events[0].group_id) if events else None

        def work() -> None:
            with self._db.transaction() as conn:
                check_fence(conn, fence)
                if key is None or conn.execute(
                        "SELECT 1 FROM scaling_group WHERE tenant_id=? AND group_id=?",
                        key).fetchone() is None:
                    return
                conn.execute("DELETE FROM journal WHERE tenant_id=? AND group_id=? AND at<?",
                             (*key, retain_since))
                insert_journal(conn, events)
        return self._db.run(work)

    def list_journal(self, tenant_id: str, group_id: str, limit: int, marker: str | None,
                     since: float | None = None, kinds: Sequence[str] = (),
                     server_id: str | None = None) -> Deferred[list[JournalEvent]]:
        def work() -> list[JournalEvent]:
            conn = self._db.conn
            where = ["tenant_id=?", "group_id=?"]
            values: list[Any] = [tenant_id, group_id]
            after = None if marker is None else conn.execute(
                "SELECT at, event_id FROM journal WHERE tenant_id=? AND group_id=? "
                "AND event_id=?", (tenant_id, group_id, marker)).fetchone()
            if after is not None:
                where.append("(at<? OR (at=? AND event_id>?))")
                values += [after[0], after[0], after[1]]
            if since is not None:
                where.append("at>=?")
                values.append(since)
            if kinds:
                where.append(f"kind IN ({', '.join('?' * len(kinds))})")
                values += list(kinds)
            if server_id is not None:
                where.append("server_id=?")
                values.append(server_id)
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM journal WHERE {' AND '.join(where)} "
                "ORDER BY at DESC, event_id LIMIT ?", (*values, limit)).fetchall()
            return [_event(row) for row in rows]
        return self._db.run(work)

    def load_journal(self, tenant_id: str, group_id: str,
                     event_ids: Sequence[str]) -> Deferred[dict[str, JournalEvent]]:
        def work() -> dict[str, JournalEvent]:
            if not event_ids:
                return {}
            rows = self._db.conn.execute(
                f"SELECT {_COLUMNS} FROM journal WHERE tenant_id=? AND group_id=? AND "
                f"event_id IN ({', '.join('?' * len(event_ids))})",
                (tenant_id, group_id, *event_ids)).fetchall()
            return {row[2]: _event(row) for row in rows}
        return self._db.run(work)
