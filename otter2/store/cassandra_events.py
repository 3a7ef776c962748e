"""
Scheduled events in Cassandra: the pending events a group's row holds, the
bucketed index the scheduler reads (rest-api §9.5), and firing an event
exactly once.

# Note [Cassandra events]
Cassandra has no transaction across partitions: a lightweight transaction
(LWT, ``IF ...``) is a compare-and-set on one partition, and a logged batch
is applied entirely (eventually, by its batch log) but compares nothing.
An event lives in two places:

- the truth: the group's row, column ``pending_events``, maps each schedule
  policy to its one pending event (bucket, trigger, version, cron). It
  changes only by LWT, compared as a whole (``IF pending_events = ?``), and
  in the same LWT as the state when firing changes the state;
- the index: a row of ``scaling_schedule_v2`` per event, in its bucket's
  partition, earliest first, which ``due_events`` reads. Its key holds the
  version, so a row is never rewritten, only inserted and deleted.

Firing (``fire_event``) is: (1) insert the next event's row; (2) one LWT on
the group's row that saves the state (``IF version = ?``) and replaces the
fired event by the next one in ``pending_events`` (``IF pending_events = ?``);
(3) one batch that deletes the fired event's row and inserts the next's
again. The LWT decides: it applies once, so the state changes once and the
event is consumed once (Note [Exactly once] in ``otter2.scheduling``). A
crash between the steps leaves only index rows that ``pending_events`` does
not hold: a next event whose LWT never applied, or the event already fired.
Either is refused as `StaleEvent` when the scheduler fires it, and then
deleted (the firing that was cut short is retried meanwhile, its event
still pending). A row the LWT made pending was inserted before it, so
nothing pending is ever missing from the index. Updating and deleting a
policy follow the same order: insert the new row, LWT, delete the old one.

What Cassandra guarantees here: LWTs on one row are linearizable (Paxos, at
serial consistency SERIAL), and a QUORUM read sees every LWT committed before
it (the commit is written at QUORUM). What it does not: mixing LWT and
ordinary writes on the same cells (the ordinary write's client timestamp can
be behind the Paxos ballot's and lose, or ahead and shadow a later LWT), so
every write of a ``scaling_group`` or ``divergent`` row is an LWT, and the
index rows, never compared, are only ever written without one.

One race needs more: deleting a stale index row while another firing
makes the very same row pending (an overdue event fired by two schedulers
at once, both arming the same next event). So a firing inserts the next
event's row again after its LWT (in the batch that deletes the fired one),
and a deletion of stale rows reads the pending events afterwards and puts
back any row that became pending. Either the deletion comes before the
re-insert, or the read after it sees the LWT that preceded the re-insert;
that holds while the clocks of the nodes (whose timestamps order the
deletion and the insert) disagree by less than those round trips.

Fencing (a node writes for a bucket only while it owns it) adds ``AND
fences = ?`` to the firing's LWT: see Note [Cassandra fencing]. The event's
bucket is its fence's.

test-case-name: tests.store.test_cassandra, tests.store.test_stores
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from otter2.model import Execution, Fence, GroupState, ScheduledEvent
from otter2.model.journal import from_execution
from otter2.store.cassandra_fencing import CassandraFences, raise_fences
from otter2.store.cassandra_marks import CassandraMarks
from otter2.store.cassandra_rows import (
    EVENT_COLUMNS,
    Pending,
    change_group,
    delete_event,
    describe,
    dump_pending,
    dump_receipts,
    event_from_row,
    insert_event,
    insert_journal,
    insert_receipt,
    load_pending,
    load_receipts,
    pending_event,
    replace_pending,
)
from otter2.store.cassandra_session import (
    CQLConnection,
    Row,
    Statement,
    applied,
    batch,
    found,
    gather,
)
from otter2.store.interface import FencedOut, NoSuchGroup, StaleEvent, StaleVersion


async def read_group_row(cql: CQLConnection, tenant_id: str, group_id: str,
                         columns: str) -> Row | None:
    """Those columns of the group's row, None if it has none."""
    rows = await cql.execute(Statement(
        f"SELECT {columns} FROM scaling_group WHERE tenant_id = %s AND group_id = %s",
        (tenant_id, group_id)))
    return rows[0] if rows else None


async def keep_receipts(cql: CQLConnection, tenant_id: str, group_id: str,
                        text: str | None) -> None:
    """Copy the receipts a group's row holds (its ``receipts`` as read) to the
    executions table and the journal, before an LWT replaces them; Note [Cassandra receipts]."""
    receipts = load_receipts(tenant_id, group_id, text)
    if receipts:  # with their journal events: Note [Cassandra journal]
        await cql.execute(batch([insert_receipt(e) for e in receipts]
                                + insert_journal([from_execution(e) for e in receipts])))


async def change_pending(cql: CQLConnection, tenant_id: str, group_id: str,
                         change: Callable[[Pending], Pending]) -> tuple[Pending, Pending] | None:
    """
    Apply ``change`` to the group's pending events by LWT, again on what the
    LWT found until it applies: the pending events before and after; None
    if the group is gone.
    """
    row = await read_group_row(cql, tenant_id, group_id, "pending_events")
    while row is not None:
        read = load_pending(row["pending_events"])
        written = change(read)
        if written == read:
            return read, written
        answer = await cql.execute(replace_pending(tenant_id, group_id, read, written))
        if applied(answer):
            return read, written
        row = answer[0] if found(answer, "pending_events") else None
    return None


async def replace_event(cql: CQLConnection, tenant_id: str, group_id: str, policy_id: str,
                        event: ScheduledEvent | None) -> None:
    """Make ``event`` the policy's pending event (none: no event); Note [Cassandra events]."""
    if event is not None:
        await cql.execute(insert_event(event))

    def replaced(pending: Pending) -> Pending:
        others = {p: e for p, e in pending.items() if p != policy_id}
        return others if event is None else {**others, policy_id: describe(event)}
    changed = await change_pending(cql, tenant_id, group_id, replaced)
    old = changed[0].get(policy_id) if changed else None
    if old is not None and (event is None or old != describe(event)):
        await cql.execute(delete_event(pending_event(tenant_id, group_id, policy_id, old)))


class CassandraEvents:
    """The scheduled events of `CassandraGroupStore`; Note [Cassandra events]."""

    def __init__(self, cql: CQLConnection, marks: CassandraMarks,
                 fences: CassandraFences) -> None:
        self._cql = cql
        self._marks = marks
        self._fences = fences

    async def due_events(self, buckets: Sequence[int], now: float,
                         limit: int) -> list[ScheduledEvent]:
        """Each bucket's due events, read at once, earliest first overall."""
        pages = await gather([self._cql.execute(Statement(
            f"SELECT {EVENT_COLUMNS} FROM scaling_schedule_v2 WHERE bucket = %s "
            "AND trigger <= %s LIMIT %s", (bucket, now, limit))) for bucket in buckets])
        found = [event_from_row(row) for rows in pages for row in rows]
        return sorted(found, key=lambda e: (e.trigger, e.policy_id))[:limit]

    async def earliest_trigger(self, buckets: Sequence[int]) -> float | None:
        pages = await gather([self._cql.execute(Statement(
            "SELECT trigger FROM scaling_schedule_v2 WHERE bucket = %s LIMIT 1", (bucket,)))
            for bucket in buckets])
        triggers = [row["trigger"] for rows in pages for row in rows]
        return min(triggers) if triggers else None

    async def fire_event(self, event: ScheduledEvent, state: GroupState | None,
                         next_event: ScheduledEvent | None, mark_divergent: bool,
                         execution: Execution | None = None,
                         fence: Fence | None = None) -> None:
        """Consume ``event`` with the change it causes and its receipt, fenced with
        ``fence``; Note [Cassandra events], Note [Cassandra receipts], Note
        [Cassandra fencing]."""
        tenant_id, group_id = event.tenant_id, event.group_id
        await self._fences.check(fence)
        if next_event is not None:
            await self._cql.execute(insert_event(next_event))
        row = await read_group_row(self._cql, tenant_id, group_id,
                                   "version, pending_events, receipts, fences")
        while True:
            if row is None:
                if state is not None:
                    await self._refused(event, False, next_event, {})
                    raise NoSuchGroup()
                # The group went with its events: this one is consumed with it.
                await self._forget(tenant_id, group_id, [event, next_event])
                return
            pending = load_pending(row["pending_events"])
            if pending.get(event.policy_id) != describe(event):
                await self._refused(event, True, next_event, pending)
                raise StaleEvent()
            if state is not None and row["version"] != state.version:
                await self._refused(event, False, next_event, pending)
                raise StaleVersion()
            try:
                sets, compared = raise_fences(row.get("fences"), fence)
            except FencedOut:
                await self._refused(event, False, next_event, pending)
                raise
            written = {p: e for p, e in pending.items() if p != event.policy_id}
            if next_event is not None:
                written[next_event.policy_id] = describe(next_event)
            sets["pending_events"] = dump_pending(written)
            compared["pending_events"] = row["pending_events"]
            if execution is not None:
                await keep_receipts(self._cql, tenant_id, group_id, row["receipts"])
                sets["receipts"] = dump_receipts([execution])
                compared["receipts"] = row["receipts"]
            answer = await self._cql.execute(
                change_group(tenant_id, group_id, state, sets, compared))
            if applied(answer):
                break
            row = answer[0] if found(answer, "pending_events") else None
        # The next event's row again: see Note [Cassandra events].
        await self._cql.execute(batch([delete_event(event)] + (
            [insert_event(next_event)] if next_event is not None else [])))
        if mark_divergent:  # after the LWT: Note [Cassandra marks]
            await self._marks.mark(tenant_id, group_id)

    async def _refused(self, event: ScheduledEvent, stale: bool,
                       next_event: ScheduledEvent | None, pending: Pending) -> None:
        """
        Undo what a refused firing of ``event`` did before its LWT: delete the
        next event's row, and ``event``'s if it is ``stale``, unless
        ``pending`` holds them.
        """
        await self._forget(event.tenant_id, event.group_id, [
            e for e in ((event if stale else None), next_event)
            if e is not None and pending.get(e.policy_id) != describe(e)])

    async def _forget(self, tenant_id: str, group_id: str,
                      events: Sequence[ScheduledEvent | None]) -> None:
        """
        Delete the index rows of ``events``, which the group did not hold as
        pending; then put back any of them that a firing made pending
        meanwhile (see Note [Cassandra events]).
        """
        stale = [e for e in events if e is not None]
        if not stale:
            return
        await self._cql.execute(batch([delete_event(e) for e in stale]))
        row = await read_group_row(self._cql, tenant_id, group_id, "pending_events")
        pending = load_pending(row["pending_events"]) if row else {}
        back = [e for e in stale if pending.get(e.policy_id) == describe(e)]
        if back:
            await self._cql.execute(batch([insert_event(e) for e in back]))
