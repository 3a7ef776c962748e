"""
Execution receipts in Cassandra: recorded by the same lightweight transaction
as the state they decided, found by idempotency key, listed newest first.

# Note [Cassandra receipts]
A receipt must be written with the state change it decided, all or nothing
(Note [Receipts] in ``otter2.api.operations``), and Cassandra compares and
writes atomically only within one row's LWT. So the group's row holds, in
its ``receipts`` column, the receipts of the latest write that recorded any,
and that write's LWT sets them with the state (``IF version = ?``) and
compares the column as it read it (``IF receipts = ?``). Before replacing
them, the next such write copies the receipts it read into the
``executions`` table (a plain QUORUM batch, idempotent): the LWT then
applies only if they are still those it copied. A receipt is therefore
always in the row or in the table, and every read of receipts reads both.

Idempotency keys are checked against both before the LWT; two writers with
one key read the same row, one LWT applies and changes ``receipts``, and
the other, refused, reads again and finds the key. Receipts older than the
retention are deleted from the table after a record, as the other stores
drop them. What this costs: a record reads the group's receipts (the
partition of ``executions``, bounded by the retention) to check its keys,
and receipts are listed by reading that partition and sorting it.

test-case-name: tests.store.test_stores, tests.store.test_cassandra
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import evolve

from otter2.model import Execution, GroupState
from otter2.store.cassandra_events import keep_receipts, read_group_row
from otter2.store.cassandra_marks import CassandraMarks
from otter2.store.cassandra_rows import (
    RECEIPT_COLUMNS,
    change_group,
    dump_receipts,
    load_receipts,
    receipt_from_row,
)
from otter2.store.cassandra_session import CQLConnection, Statement, applied, batch, found
from otter2.store.executions import check_keys, newest_first
from otter2.store.interface import NoSuchGroup, StaleVersion

_GROUP = "WHERE tenant_id = %s AND group_id = %s"


class CassandraExecutions:
    """The receipts of `CassandraGroupStore`; Note [Cassandra receipts]."""

    def __init__(self, cql: CQLConnection, marks: CassandraMarks) -> None:
        self._cql = cql
        self._marks = marks

    async def _all(self, tenant_id: str, group_id: str,
                   text: str | None = None) -> list[Execution]:
        """
        Every receipt of the group: those its row holds (``text``, if read
        already), then its table rows. The row is read first: a receipt that
        leaves it afterwards was copied to the table before, so the table,
        read next, has it.
        """
        if text is None:
            row = await read_group_row(self._cql, tenant_id, group_id, "receipts")
            text = row["receipts"] if row else None
        rows = await self._cql.execute(Statement(
            f"SELECT {RECEIPT_COLUMNS} FROM executions {_GROUP}", (tenant_id, group_id)))
        held = load_receipts(tenant_id, group_id, text)
        ids = {e.execution_id for e in held}
        return held + [e for e in map(receipt_from_row, rows) if e.execution_id not in ids]

    async def record_executions(self, state: GroupState | None,
                                executions: Sequence[Execution], mark_divergent: bool,
                                keys_since: float, retain_since: float) -> GroupState | None:
        owner = executions[0] if executions else state
        if owner is None:
            return None
        tenant_id, group_id = owner.tenant_id, owner.group_id
        row = await read_group_row(self._cql, tenant_id, group_id, "version, receipts")
        while True:
            if row is None:
                raise NoSuchGroup()
            if any(e.idempotency_key is not None for e in executions):
                recorded = await self._all(tenant_id, group_id, row["receipts"])
                check_keys(executions, [e.idempotency_key for e in recorded
                                        if e.idempotency_key is not None
                                        and e.at >= keys_since])
            if state is not None and row["version"] != state.version:
                raise StaleVersion()
            await keep_receipts(self._cql, tenant_id, group_id, row["receipts"])
            answer = await self._cql.execute(change_group(
                tenant_id, group_id, state, {"receipts": dump_receipts(executions)},
                {"receipts": row["receipts"]}))
            if applied(answer):
                break
            row = answer[0] if found(answer, "receipts") else None
        if mark_divergent:  # after the LWT: Note [Cassandra marks]
            await self._marks.mark(tenant_id, group_id)
        await self._expire(tenant_id, group_id, retain_since)
        return None if state is None else evolve(state, version=state.version + 1)

    async def _expire(self, tenant_id: str, group_id: str, retain_since: float) -> None:
        """Delete the group's receipts recorded before ``retain_since`` from the table."""
        rows = await self._cql.execute(Statement(
            f"SELECT execution_id, at FROM executions {_GROUP}", (tenant_id, group_id)))
        old = [row["execution_id"] for row in rows if row["at"] < retain_since]
        if old:
            await self._cql.execute(batch([Statement(
                f"DELETE FROM executions {_GROUP} AND execution_id = %s",
                (tenant_id, group_id, execution_id)) for execution_id in old]))

    async def find_executions(self, tenant_id: str, group_id: str, keys: Sequence[str],
                              since: float) -> dict[str, Execution]:
        if not keys:
            return {}
        by_key: dict[str, Execution] = {}
        for e in sorted(await self._all(tenant_id, group_id), key=lambda e: e.at):
            if e.idempotency_key is not None and e.idempotency_key in keys and e.at >= since:
                by_key[e.idempotency_key] = e
        return by_key

    async def load_execution(self, tenant_id: str, group_id: str,
                             execution_id: str) -> Execution | None:
        row = await read_group_row(self._cql, tenant_id, group_id, "receipts")
        for e in load_receipts(tenant_id, group_id, row["receipts"] if row else None):
            if e.execution_id == execution_id:
                return e
        rows = await self._cql.execute(Statement(
            f"SELECT {RECEIPT_COLUMNS} FROM executions {_GROUP} AND execution_id = %s",
            (tenant_id, group_id, execution_id)))
        return receipt_from_row(rows[0]) if rows else None

    async def list_executions(self, tenant_id: str, group_id: str, limit: int,
                              marker: str | None) -> list[Execution]:
        listed = newest_first(await self._all(tenant_id, group_id))
        ids = [e.execution_id for e in listed]
        start = ids.index(marker) + 1 if marker in ids else 0
        return listed[start:start + limit]
