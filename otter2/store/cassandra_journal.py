"""
The activity journal in Cassandra (tables ``journal`` and ``journal_ids``;
Note [Journal] in ``otter2.model.journal``).

# Note [Cassandra journal]
A group's events are one partition of ``journal``, clustered by ``at DESC,
event_id ASC``: the API's order, so that a page is a slice read from the
partition's start (or from just after a marker's event) with a LIMIT.
``journal_ids`` gives an event's time by its id, for a marker, for loading
the events a walk back to a root names, and for idempotent appends: an
append first reads the times of its events' ids and writes only the new
ones, both tables in one logged batch (QUORUM). Two appends of one new event
at once both write it, the same rows with the same values.

An execution's event is its receipt (`from_execution`): a receipt is
recorded by the LWT of the group's row (Note [Cassandra receipts]) and then
copied out of the row by the next write that records any, so its event is
written by that copy (``keep_receipts``, in the batch copying the receipt)
and, until then, read from the row: every read of the journal reads the
row's receipts too. So an event is there once its receipt is, and a refused
record leaves none.

Filters on kind or server are applied to the rows read (Cassandra would need
ALLOW FILTERING or another table): such a listing reads the group's events
from the marker on until it has a page, at most the partition, which the
retention bounds. The retention deletes the rows an append finds older than
it (a read of that slice, then a batch); deleting the group deletes both
partitions with its policies (``CassandraPolicies.delete_all``). An append
checks that the group's row exists first, so a deleted group's journal takes
nothing, but one racing the deletion may leave rows no group lists.

A fenced append (convergence's) first reads its bucket's claim, as every
fenced write does (Note [Cassandra fencing]), and is refused with `FencedOut`
if a later owner has claimed the bucket. The journal's rows are not the
group's row, so no LWT orders them after the claim: an append already past
that read may still land after it. Its events then record what the old owner
did, which stays true; nothing reads the journal to decide anything.

test-case-name: tests.store.test_stores, tests.store.test_cassandra
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from otter2.model import Fence, JournalEvent
from otter2.model.journal import from_execution
from otter2.store import journal
from otter2.store.cassandra_events import read_group_row
from otter2.store.cassandra_fencing import CassandraFences
from otter2.store.cassandra_rows import JOURNAL_COLUMNS, insert_journal, load_receipts
from otter2.store.cassandra_session import CQLConnection, Row, Statement, batch, gather

_GROUP = "WHERE tenant_id = %s AND group_id = %s"
_COLUMNS = JOURNAL_COLUMNS


def _event(row: Row) -> JournalEvent:
    return journal.from_json(row["tenant_id"], row["group_id"], row["event_id"], row["kind"],
                             row["at"], row["server_id"], json.loads(row["record"]))


class CassandraJournal:
    """The journal of `CassandraGroupStore`; Note [Cassandra journal]."""

    def __init__(self, cql: CQLConnection, fences: CassandraFences) -> None:
        self._cql = cql
        self._fences = fences

    async def _held(self, tenant_id: str, group_id: str) -> list[JournalEvent]:
        """The events of the receipts the group's row holds (not yet copied out)."""
        row = await read_group_row(self._cql, tenant_id, group_id, "receipts")
        return [from_execution(e) for e in
                load_receipts(tenant_id, group_id, row["receipts"] if row else None)]

    async def _times(self, tenant_id: str, group_id: str,
                     event_ids: Sequence[str]) -> dict[str, float]:
        """The times of the events of those ids that the journal's table holds."""
        answers = await gather([self._cql.execute(Statement(
            f"SELECT event_id, at FROM journal_ids {_GROUP} AND event_id = %s",
            (tenant_id, group_id, event_id))) for event_id in dict.fromkeys(event_ids)])
        return {row["event_id"]: row["at"] for rows in answers for row in rows}

    async def append_journal(self, events: Sequence[JournalEvent], retain_since: float,
                             fence: Fence | None = None) -> None:
        await self._fences.check(fence)
        if not events:
            return
        tenant_id, group_id = events[0].tenant_id, events[0].group_id
        if await read_group_row(self._cql, tenant_id, group_id, "version") is None:
            return
        there = await self._times(tenant_id, group_id, [e.event_id for e in events])
        new = list({e.event_id: e for e in reversed(events)
                    if e.event_id not in there}.values())
        old = await self._cql.execute(Statement(
            f"SELECT at, event_id FROM journal {_GROUP} AND at < %s",
            (tenant_id, group_id, float(retain_since))))
        deletions = [Statement(statement, (tenant_id, group_id, *key)) for row in old
                     for statement, key in (
                         (f"DELETE FROM journal {_GROUP} AND at = %s AND event_id = %s",
                          (row["at"], row["event_id"])),
                         (f"DELETE FROM journal_ids {_GROUP} AND event_id = %s",
                          (row["event_id"],)))]
        writes = deletions + insert_journal(new)
        if writes:
            await self._cql.execute(batch(writes))

    async def list_journal(self, tenant_id: str, group_id: str, limit: int,
                           marker: str | None, since: float | None = None,
                           kinds: Sequence[str] = (),
                           server_id: str | None = None) -> list[JournalEvent]:
        held = await self._held(tenant_id, group_id)
        after = next((e for e in held if e.event_id == marker), None)
        if after is None and marker is not None:
            loaded = await self._load(tenant_id, group_id, [marker])
            after = loaded.get(marker)
        filtered = bool(kinds) or server_id is not None
        found: list[JournalEvent] = []
        for statement in self._slices(tenant_id, group_id, after, since,
                                      None if filtered else limit):
            rows = await self._cql.execute(statement)
            found.extend(e for e in map(_event, rows)
                         if journal.wanted(e, since, kinds, server_id))
        ids = {e.event_id for e in found}
        return journal.page(found + [e for e in held if e.event_id not in ids], limit, after,
                            since, kinds, server_id)

    def _slices(self, tenant_id: str, group_id: str, after: JournalEvent | None,
                since: float | None, limit: int | None) -> list[Statement]:
        """The reads of the partition's rows after ``after`` (from its start if None),
        at or after ``since``: the rest of ``after``'s instant, then the older ones."""
        statements = []
        bounds, values = "", []
        if after is not None:
            if since is None or after.at >= since:
                statements.append(Statement(
                    f"SELECT {_COLUMNS} FROM journal {_GROUP} AND at = %s AND event_id > %s"
                    + ("" if limit is None else " LIMIT %s"),
                    (tenant_id, group_id, float(after.at), after.event_id)
                    + (() if limit is None else (limit,))))
            bounds, values = " AND at < %s", [float(after.at)]
        if since is not None:
            bounds += " AND at >= %s"
            values.append(float(since))
        statements.append(Statement(
            f"SELECT {_COLUMNS} FROM journal {_GROUP}{bounds}"
            + ("" if limit is None else " LIMIT %s"),
            (tenant_id, group_id, *values) + (() if limit is None else (limit,))))
        return statements

    async def _load(self, tenant_id: str, group_id: str,
                    event_ids: Sequence[str]) -> dict[str, JournalEvent]:
        times = await self._times(tenant_id, group_id, event_ids)
        answers = await gather([self._cql.execute(Statement(
            f"SELECT {_COLUMNS} FROM journal {_GROUP} AND at = %s AND event_id = %s",
            (tenant_id, group_id, at, event_id))) for event_id, at in times.items()])
        return {row["event_id"]: _event(row) for rows in answers for row in rows}

    async def load_journal(self, tenant_id: str, group_id: str,
                           event_ids: Sequence[str]) -> dict[str, JournalEvent]:
        held = {e.event_id: e for e in await self._held(tenant_id, group_id)
                if e.event_id in event_ids}
        rest = [i for i in event_ids if i not in held]
        return {**(await self._load(tenant_id, group_id, rest) if rest else {}), **held}
