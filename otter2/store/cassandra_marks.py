"""
Divergent marks in Cassandra: one row per marked group, its mark counting the
requests; every write of the row is a lightweight transaction, so that a
mark is cleared only if it is still the one convergence read.

# Note [Cassandra marks]
A write that asks for a mark (a fired event, recorded executions) adds it after its LWT on the group's row, not
in it: the marks are their own table, which convergence scans, and an LWT
covers one partition. Added after, the mark is seen by convergence only
once the state it must act on is written. The cost is a window: a node
that dies between the group's LWT and the mark leaves a changed group
unmarked, until the self-heal pass (``selfheal.interval``) marks every
group, or the next request marks it.

test-case-name: tests.store.test_cassandra
"""

from __future__ import annotations

from otter2.model import DivergentMark
from otter2.store.cassandra_session import CQLConnection, Statement, applied

_KEY = "WHERE tenant_id = %s AND group_id = %s"


class CassandraMarks:
    """The divergent marks of `CassandraGroupStore`."""

    def __init__(self, cql: CQLConnection) -> None:
        self._cql = cql

    async def mark(self, tenant_id: str, group_id: str) -> int:
        """Add a request to the group's mark; the mark it now has."""
        rows = await self._cql.execute(Statement(
            f"SELECT mark FROM divergent {_KEY}", (tenant_id, group_id)))
        current: int | None = rows[0]["mark"] if rows else None
        while True:
            if current is None:
                answer = await self._cql.execute(Statement(
                    "INSERT INTO divergent (tenant_id, group_id, mark) VALUES (%s, %s, %s) "
                    "IF NOT EXISTS", (tenant_id, group_id, 1), lwt=True))
                new = 1
            else:
                answer = await self._cql.execute(Statement(
                    f"UPDATE divergent SET mark = %s {_KEY} IF mark = %s",
                    (current + 1, tenant_id, group_id, current), lwt=True))
                new = current + 1
            if applied(answer):
                return new
            current = answer[0].get("mark")

    async def clear(self, tenant_id: str, group_id: str, mark: int | None) -> bool:
        """Withdraw the group's mark: always, or only if it is still ``mark``;
        whether there was one to withdraw."""
        if mark is None:
            answer = await self._cql.execute(Statement(
                f"DELETE FROM divergent {_KEY} IF EXISTS", (tenant_id, group_id), lwt=True))
        else:
            answer = await self._cql.execute(Statement(
                f"DELETE FROM divergent {_KEY} IF mark = %s", (tenant_id, group_id, mark),
                lwt=True))
        return applied(answer)

    async def list(self) -> list[DivergentMark]:
        """Every mark, by tenant and group (a scan of the small table)."""
        rows = await self._cql.execute(Statement(
            "SELECT tenant_id, group_id, mark FROM divergent"))
        return sorted((DivergentMark(r["tenant_id"], r["group_id"], r["mark"]) for r in rows),
                      key=lambda m: (m.tenant_id, m.group_id))
