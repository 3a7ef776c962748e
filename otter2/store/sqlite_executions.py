"""
The execution receipts of the SQLite store (table ``execution``): recorded in
one transaction with the state change they decided, found by idempotency key,
listed newest first. See Note [Receipts] in ``otter2.api.operations``.

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from attrs import evolve
from twisted.internet.defer import Deferred, succeed

from otter2.model import Execution, GroupState
from otter2.store.executions import check_keys, from_json, to_json
from otter2.store.interface import NoSuchGroup
from otter2.store.sqlite_database import Database
from otter2.store.sqlite_journal import insert_execution_events
from otter2.store.sqlite_rows import mark_divergent_row, with_state, write_state

_COLUMNS = "tenant_id, group_id, execution_id, at, record"


def insert_executions(conn: sqlite3.Connection, executions: Sequence[Execution]) -> None:
    """Record receipts, inside the caller's transaction (their keys must be free)."""
    conn.executemany(
        f"INSERT INTO execution ({_COLUMNS}, idempotency_key) VALUES (?, ?, ?, ?, ?, ?)",
        [(e.tenant_id, e.group_id, e.execution_id, e.at, json.dumps(to_json(e)),
          e.idempotency_key) for e in executions])


def _execution(row: tuple) -> Execution:
    tenant_id, group_id, execution_id, at, record = row
    return from_json(tenant_id, group_id, execution_id, at, json.loads(record))


class SQLiteExecutions:
    """The receipt operations of `SQLiteGroupStore`, over its database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record_executions(self, state: GroupState | None, executions: Sequence[Execution],
                          mark_divergent: bool, keys_since: float,
                          retain_since: float) -> Deferred[GroupState | None]:
        owner = executions[0] if executions else state
        if owner is None:
            return succeed(None)
        tenant_id, group_id = owner.tenant_id, owner.group_id

        def work() -> GroupState | None:
            with self._db.transaction() as conn:
                if conn.execute("SELECT 1 FROM scaling_group WHERE tenant_id=? AND group_id=?",
                                (tenant_id, group_id)).fetchone() is None:
                    raise NoSuchGroup()
                keys = [e.idempotency_key for e in executions if e.idempotency_key is not None]
                if keys:
                    marks = ", ".join("?" * len(keys))
                    conn.execute(  # keys past their window are free again
                        "UPDATE execution SET idempotency_key=NULL WHERE tenant_id=? AND "
                        f"group_id=? AND idempotency_key IN ({marks}) AND at<?",
                        (tenant_id, group_id, *keys, keys_since))
                    check_keys(executions, [key for (key,) in conn.execute(
                        "SELECT idempotency_key FROM execution WHERE tenant_id=? AND "
                        f"group_id=? AND idempotency_key IN ({marks})",
                        (tenant_id, group_id, *keys))])
                if state is not None:
                    write_state(conn, state)
                conn.execute("DELETE FROM execution WHERE tenant_id=? AND group_id=? AND at<?",
                             (tenant_id, group_id, retain_since))
                insert_executions(conn, executions)
                insert_execution_events(conn, executions)
                if mark_divergent:
                    mark_divergent_row(conn, tenant_id, group_id)
            return None if state is None else evolve(state, version=state.version + 1)
        # See Note [Group cache]: the copy in memory takes the state written.
        return self._db.write((tenant_id, group_id), work, with_state)

    def find_executions(self, tenant_id: str, group_id: str, keys: Sequence[str],
                        since: float) -> Deferred[dict[str, Execution]]:
        def work() -> dict[str, Execution]:
            if not keys:
                return {}
            rows = self._db.conn.execute(
                f"SELECT {_COLUMNS}, idempotency_key FROM execution WHERE tenant_id=? AND "
                f"group_id=? AND idempotency_key IN ({', '.join('?' * len(keys))}) AND at>=?",
                (tenant_id, group_id, *keys, since)).fetchall()
            return {row[5]: _execution(row[:5]) for row in rows}
        return self._db.run(work)

    def load_execution(self, tenant_id: str, group_id: str,
                       execution_id: str) -> Deferred[Execution | None]:
        def work() -> Execution | None:
            row = self._db.conn.execute(
                f"SELECT {_COLUMNS} FROM execution WHERE tenant_id=? AND group_id=? AND "
                "execution_id=?", (tenant_id, group_id, execution_id)).fetchone()
            return None if row is None else _execution(row)
        return self._db.run(work)

    def list_executions(self, tenant_id: str, group_id: str, limit: int,
                        marker: str | None) -> Deferred[list[Execution]]:
        def work() -> list[Execution]:
            conn = self._db.conn
            after = None if marker is None else conn.execute(
                "SELECT at, execution_id FROM execution WHERE tenant_id=? AND group_id=? "
                "AND execution_id=?", (tenant_id, group_id, marker)).fetchone()
            if after is None:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM execution WHERE tenant_id=? AND group_id=? "
                    "ORDER BY at DESC, execution_id LIMIT ?", (tenant_id, group_id, limit))
            else:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM execution WHERE tenant_id=? AND group_id=? "
                    "AND (at<? OR (at=? AND execution_id>?)) "
                    "ORDER BY at DESC, execution_id LIMIT ?",
                    (tenant_id, group_id, after[0], after[0], after[1], limit))
            return [_execution(row) for row in rows.fetchall()]
        return self._db.run(work)
