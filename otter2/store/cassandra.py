"""
The Cassandra group store: the `GroupStore` contract on a Cassandra cluster
shared by several otter2 nodes, through cassandra-driver
(``otter2.store.cassandra_session``). Tables are in ``schema/cassandra``,
applied by ``scripts/otter2-cql-schema``.

`CassandraGroupStore` keeps groups, their state and the divergent marks
itself, and hands policies and webhooks to `CassandraPolicies`, scheduled
events to `CassandraEvents` (Note [Cassandra events]), execution receipts to
`CassandraExecutions` (Note [Cassandra receipts]), bucket claims and the
fencing of writes to `CassandraFences` (Note [Cassandra fencing]), the
activity journal to `CassandraJournal` (Note [Cassandra journal]).

# Note [Cassandra consistency]
Each statement chooses its level; they are, for every table:

| statement | level |
|---|---|
| reads of rows (groups, policies, webhooks, events, capability index, marks) | QUORUM |
| writes without a condition (policies, webhooks, index rows, event rows), logged batches | QUORUM |
| lightweight transactions (every write of ``scaling_group``, ``divergent`` and ``bucket_owner``) | SERIAL for Paxos, QUORUM for the commit |
| reads of ``bucket_owner`` (a bucket's latest claim) | SERIAL |
| receipts copied to ``executions``, and their expiry | QUORUM |
| the journal's reads, its appends and expiry (logged batches) | QUORUM |
| counts for metrics, the health check | ONE |

QUORUM reads and writes overlap in at least one replica, so a read sees
every write acknowledged before it, LWTs included (their commit is a QUORUM
write). SERIAL (rather than LOCAL_SERIAL) keeps LWTs linearizable across
data centres, where nodes of several data centres may write one group.

Every change of a group's row is an LWT: ``IF version = ?`` for a state (a
config change bumps the version too, as in the other stores), ``IF deleting
= false`` for the configurations and deletion mark, ``IF EXISTS`` for the
record of servers, ``IF NOT EXISTS`` for creation. So a row never comes
back after its deletion (Cassandra's upsert would otherwise recreate the
row a late write names: the "resurrected rows" of rest-api §9.8), and
ordinary writes never mix with LWTs on one row (Note [Cassandra events]).

What Cassandra does not give, and what that costs: limits are counted
before the write (two creations at once may pass ``maxGroups`` together); a
group is created by a batch of its policies then the LWT of its row, so a
crash in between leaves policies no group shows; an update or deletion of a
policy or webhook checks existence by a read before its write, so one racing
the deletion of its group can leave rows nobody lists; a divergent mark is
added just after the write that asks for it (Note [Cassandra marks]). None
of these changes a group's state, fires an event or records a key twice.

test-case-name: tests.store.test_cassandra, tests.store.test_stores
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from attrs import evolve
from twisted.internet.defer import Deferred

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
from otter2.store.cassandra_events import CassandraEvents, read_group_row
from otter2.store.cassandra_executions import CassandraExecutions
from otter2.store.cassandra_fencing import CassandraFences, has_row, raise_fences
from otter2.store.cassandra_journal import CassandraJournal
from otter2.store.cassandra_marks import CassandraMarks
from otter2.store.cassandra_policies import CassandraPolicies
from otter2.store.cassandra_rows import (
    GROUP_COLUMNS,
    group_from_row,
    insert_group,
    load_pending,
    pending_event,
    with_events,
    write_state,
)
from otter2.store.cassandra_session import (
    ONE,
    CQLConnection,
    DriverSession,
    Statement,
    applied,
    connect,
    deferred,
    found,
)
from otter2.store.documents import dump_servers, dumps
from otter2.store.interface import (
    FencedOut,
    NoSuchGroup,
    OverLimit,
    StaleVersion,
    StoreError,
    StoreUnavailable,
)

_KEY = "WHERE tenant_id = %s AND group_id = %s"
_COLUMNS = ", ".join(GROUP_COLUMNS)


class CassandraGroupStore:
    """A `GroupStore` on Cassandra; see the module docstring."""

    def __init__(self, call_from_thread: Callable[..., object],
                 hosts: Sequence[str] = ("127.0.0.1",),
                 port: int = 9042, keyspace: str = "otter2",
                 session: DriverSession | None = None) -> None:
        """
        The store of ``keyspace`` on the cluster at ``hosts``, connected by
        `start` (a daemon connects when its services start, after twistd may
        have forked); or on a driver ``session`` already connected. Results
        reach the reactor through ``call_from_thread``.
        """
        self._call_from_thread = call_from_thread
        self._where = (tuple(hosts), port, keyspace)
        self._cluster: Any = None
        self._cql: CQLConnection | None = None
        if session is not None:
            self._connected(session)

    def _connected(self, session: DriverSession) -> None:
        self._cql = CQLConnection(session, self._call_from_thread)
        self._marks = CassandraMarks(self._cql)
        self._fences = CassandraFences(self._cql)
        self._policies = CassandraPolicies(self._cql)
        self._events = CassandraEvents(self._cql, self._marks, self._fences)
        self._executions = CassandraExecutions(self._cql, self._marks)
        self._journal = CassandraJournal(self._cql, self._fences)

    def start(self) -> None:
        """Connect (blocking, as the daemon starts); `StoreUnavailable` says why not."""
        if self._cql is None:
            self._cluster, session = connect(*self._where)
            self._connected(session)

    def close(self) -> None:
        """Shut the driver's connections and threads down (once)."""
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.shutdown()

    @property
    def cql(self) -> CQLConnection:
        if self._cql is None:
            raise StoreUnavailable("the Cassandra store is not connected")
        return self._cql

    # -- groups ---------------------------------------------------------------

    @deferred
    async def create_group(self, group: ScalingGroup, policies: Sequence[Policy],
                           events: Sequence[ScheduledEvent], max_groups: int) -> None:
        rows = await self.cql.execute(Statement(
            "SELECT deleting FROM scaling_group WHERE tenant_id = %s", (group.tenant_id,)))
        count = sum(1 for row in rows if not row["deleting"])
        if count >= max_groups:
            raise OverLimit(count)
        await self._policies.insert_policies(policies, events)
        answer = await self.cql.execute(insert_group(group, with_events({}, list(events))))
        if not applied(answer):
            raise StoreError(f"the group {group.group_id} exists already")

    @deferred
    async def load_group(self, tenant_id: str, group_id: str,
                         include_deleting: bool = False) -> ScalingGroup | None:
        row = await read_group_row(self.cql, tenant_id, group_id, _COLUMNS)
        if row is None or (row["deleting"] and not include_deleting):
            return None
        return group_from_row(row)

    @deferred
    async def list_groups(self, tenant_id: str, limit: int,
                          marker: str | None) -> list[ScalingGroup]:
        listed: list[ScalingGroup] = []
        after = marker or ""
        while len(listed) < limit:
            rows = await self.cql.execute(Statement(
                f"SELECT {_COLUMNS} FROM scaling_group WHERE tenant_id = %s AND group_id > %s "
                "LIMIT %s", (tenant_id, after, limit)))
            listed.extend(group_from_row(row) for row in rows if not row["deleting"])
            if len(rows) < limit:
                break
            after = rows[-1]["group_id"]
        return listed[:limit]

    @deferred
    async def save_state(self, state: GroupState, fence: Fence | None = None) -> GroupState:
        if fence is None:
            answer = await self.cql.execute(write_state(state))
            if not applied(answer):
                raise StaleVersion() if found(answer, "version") else NoSuchGroup()
            return evolve(state, version=state.version + 1)
        return await self._fences.save_state(state, fence)

    @deferred
    async def update_config(self, tenant_id: str, group_id: str,
                            config: Mapping[str, Any]) -> None:
        # The bounds decide the state: the version is bumped, so a state
        # computed under the old ones loses its compare-and-set.
        row = await read_group_row(self.cql, tenant_id, group_id, "version, deleting")
        while row is not None and found([row], "version") and not row["deleting"]:
            answer = await self.cql.execute(Statement(
                f"UPDATE scaling_group SET config = %s, version = %s {_KEY} "
                "IF version = %s AND deleting = %s",
                (dumps(config), row["version"] + 1, tenant_id, group_id, row["version"],
                 False), lwt=True))
            if applied(answer):
                return
            row = answer[0]
        raise NoSuchGroup()

    async def _if_live(self, tenant_id: str, group_id: str, sets: str,
                       values: tuple[Any, ...]) -> None:
        answer = await self.cql.execute(Statement(
            f"UPDATE scaling_group SET {sets} {_KEY} IF deleting = %s",
            (*values, tenant_id, group_id, False), lwt=True))
        if not applied(answer):
            raise NoSuchGroup()

    @deferred
    async def update_launch(self, tenant_id: str, group_id: str,
                            launch: Mapping[str, Any]) -> None:
        await self._if_live(tenant_id, group_id, "launch = %s", (dumps(launch),))

    @deferred
    async def mark_deleting(self, tenant_id: str, group_id: str) -> None:
        await self._if_live(tenant_id, group_id, "deleting = %s", (True,))

    @deferred
    async def save_servers(self, tenant_id: str, group_id: str,
                           servers: Sequence[RecordedServer],
                           fence: Fence | None = None) -> None:
        if fence is None:
            await self.cql.execute(Statement(
                f"UPDATE scaling_group SET active = %s {_KEY} IF EXISTS",
                (dump_servers(servers), tenant_id, group_id), lwt=True))
            return
        await self._fences.write_row(tenant_id, group_id, {"active": dump_servers(servers)},
                                     fence)

    @deferred
    async def delete_group(self, tenant_id: str, group_id: str,
                           fence: Fence | None = None) -> None:
        # The group's row goes last: until then a retry finds what is left.
        if fence is not None:  # the row's fences raised first: Note [Cassandra fencing]
            await self._fences.write_row(tenant_id, group_id, {}, fence)
        row = await read_group_row(self.cql, tenant_id, group_id, "pending_events, fences")
        _, kept = raise_fences(row["fences"], fence) if row else ({}, {})
        pending = load_pending(row["pending_events"]) if row else {}
        await self._policies.delete_all(tenant_id, group_id, [
            pending_event(tenant_id, group_id, p, e) for p, e in pending.items()])
        await self._marks.clear(tenant_id, group_id, None)
        answer = await self.cql.execute(Statement(
            f"DELETE FROM scaling_group {_KEY} IF {'fences = %s' if kept else 'EXISTS'}",
            (tenant_id, group_id, *kept.values()), lwt=True))
        if kept and not applied(answer) and has_row(answer, "fences"):
            await self._marks.mark(tenant_id, group_id)  # left to the new owner
            raise FencedOut()

    # -- policies and webhooks: see CassandraPolicies ---------------------------

    def create_policies(self, tenant_id: str, group_id: str, policies: Sequence[Policy],
                        events: Sequence[ScheduledEvent],
                        max_policies: int) -> Deferred[None]:
        return Deferred.fromCoroutine(self._policies.create_policies(
            tenant_id, group_id, policies, events, max_policies))

    def list_policies(self, tenant_id: str, group_id: str, limit: int,
                      marker: str | None) -> Deferred[list[Policy]]:
        return Deferred.fromCoroutine(self._policies.list_policies(
            tenant_id, group_id, limit, marker))

    def load_policy(self, tenant_id: str, group_id: str,
                    policy_id: str) -> Deferred[Policy | None]:
        return Deferred.fromCoroutine(self._policies.load_policy(tenant_id, group_id, policy_id))

    def update_policy(self, policy: Policy, event: ScheduledEvent | None) -> Deferred[None]:
        return Deferred.fromCoroutine(self._policies.update_policy(policy, event))

    def delete_policy(self, tenant_id: str, group_id: str, policy_id: str) -> Deferred[None]:
        return Deferred.fromCoroutine(self._policies.delete_policy(
            tenant_id, group_id, policy_id))

    def create_webhooks(self, tenant_id: str, group_id: str, policy_id: str,
                        webhooks: Sequence[Webhook], max_webhooks: int) -> Deferred[None]:
        return Deferred.fromCoroutine(self._policies.create_webhooks(
            tenant_id, group_id, policy_id, webhooks, max_webhooks))

    def list_webhooks(self, tenant_id: str, group_id: str, policy_id: str,
                      limit: int | None, marker: str | None) -> Deferred[list[Webhook]]:
        return Deferred.fromCoroutine(self._policies.list_webhooks(
            tenant_id, group_id, policy_id, limit, marker))

    def list_group_webhooks(self, tenant_id: str, group_id: str) -> Deferred[list[Webhook]]:
        return Deferred.fromCoroutine(self._policies.list_group_webhooks(tenant_id, group_id))

    def load_webhook(self, tenant_id: str, group_id: str, policy_id: str,
                     webhook_id: str) -> Deferred[Webhook | None]:
        return Deferred.fromCoroutine(self._policies.load_webhook(
            tenant_id, group_id, policy_id, webhook_id))

    def update_webhook(self, webhook: Webhook) -> Deferred[None]:
        return Deferred.fromCoroutine(self._policies.update_webhook(webhook))

    def delete_webhook(self, tenant_id: str, group_id: str, policy_id: str,
                       webhook_id: str) -> Deferred[None]:
        return Deferred.fromCoroutine(self._policies.delete_webhook(
            tenant_id, group_id, policy_id, webhook_id))

    def lookup_capability(self, capability_hash: str) -> Deferred[CapabilityTarget | None]:
        return Deferred.fromCoroutine(self._policies.lookup_capability(capability_hash))

    # -- schedule events: see CassandraEvents -----------------------------------

    def due_events(self, buckets: Sequence[int], now: float,
                   limit: int) -> Deferred[list[ScheduledEvent]]:
        return Deferred.fromCoroutine(self._events.due_events(buckets, now, limit))

    def fire_event(self, event: ScheduledEvent, state: GroupState | None,
                   next_event: ScheduledEvent | None,
                   mark_divergent: bool,
                   execution: Execution | None = None,
                   fence: Fence | None = None) -> Deferred[None]:
        return Deferred.fromCoroutine(self._events.fire_event(
            event, state, next_event, mark_divergent, execution, fence))

    # -- execution receipts: see CassandraExecutions -----------------------------

    def record_executions(self, state: GroupState | None, executions: Sequence[Execution],
                          mark_divergent: bool, keys_since: float,
                          retain_since: float) -> Deferred[GroupState | None]:
        return Deferred.fromCoroutine(self._executions.record_executions(
            state, executions, mark_divergent, keys_since, retain_since))

    def find_executions(self, tenant_id: str, group_id: str, keys: Sequence[str],
                        since: float) -> Deferred[dict[str, Execution]]:
        return Deferred.fromCoroutine(self._executions.find_executions(
            tenant_id, group_id, keys, since))

    def load_execution(self, tenant_id: str, group_id: str,
                       execution_id: str) -> Deferred[Execution | None]:
        return Deferred.fromCoroutine(self._executions.load_execution(
            tenant_id, group_id, execution_id))

    def list_executions(self, tenant_id: str, group_id: str, limit: int,
                        marker: str | None) -> Deferred[list[Execution]]:
        return Deferred.fromCoroutine(self._executions.list_executions(
            tenant_id, group_id, limit, marker))

    # -- the activity journal: see CassandraJournal -------------------------------

    def append_journal(self, events: Sequence[JournalEvent], retain_since: float,
                       fence: Fence | None = None) -> Deferred[None]:
        return Deferred.fromCoroutine(self._journal.append_journal(events, retain_since,
                                                                   fence))

    def list_journal(self, tenant_id: str, group_id: str, limit: int, marker: str | None,
                     since: float | None = None, kinds: Sequence[str] = (),
                     server_id: str | None = None) -> Deferred[list[JournalEvent]]:
        return Deferred.fromCoroutine(self._journal.list_journal(
            tenant_id, group_id, limit, marker, since, kinds, server_id))

    def load_journal(self, tenant_id: str, group_id: str,
                     event_ids: Sequence[str]) -> Deferred[dict[str, JournalEvent]]:
        return Deferred.fromCoroutine(self._journal.load_journal(tenant_id, group_id,
                                                                 event_ids))

    def earliest_trigger(self, buckets: Sequence[int]) -> Deferred[float | None]:
        return Deferred.fromCoroutine(self._events.earliest_trigger(buckets))

    # -- divergent marks, metrics, health -------------------------------------

    def claim_bucket(self, bucket: int) -> Deferred[int]:
        return Deferred.fromCoroutine(self._fences.claim(bucket))

    @deferred
    async def mark_divergent(self, tenant_id: str, group_id: str) -> None:
        await self._marks.mark(tenant_id, group_id)

    @deferred
    async def clear_divergent(self, tenant_id: str, group_id: str,
                              mark: int | None = None, fence: Fence | None = None) -> None:
        await self._fences.check(fence)
        cleared = await self._marks.clear(tenant_id, group_id, mark)
        if cleared and fence is not None and await self._fences.token(fence.bucket) > fence.token:
            # Claimed meanwhile: the mark is the new owner's; Note [Cassandra fencing].
            await self._marks.mark(tenant_id, group_id)
            raise FencedOut()

    def list_divergent(self) -> Deferred[list[DivergentMark]]:
        return Deferred.fromCoroutine(self._marks.list())

    @deferred
    async def list_all_groups(self) -> list[tuple[str, str]]:
        rows = await self.cql.execute(Statement("SELECT tenant_id, group_id FROM scaling_group"))
        return sorted((row["tenant_id"], row["group_id"]) for row in rows)

    @deferred
    async def count_rows(self) -> dict[str, int]:
        counts = {}
        for name, table in (("groups", "scaling_group"), ("policies", "scaling_policies"),
                            ("webhooks", "policy_webhooks")):
            [row] = await self.cql.execute(Statement(f"SELECT count(*) FROM {table}",
                                                     consistency=ONE))
            counts[name] = row["count"]
        return counts

    @deferred
    async def check_health(self) -> float:
        start = time.monotonic()
        await self.cql.execute(Statement("SELECT name FROM schema_migration LIMIT 1",
                                         consistency=ONE))
        return time.monotonic() - start

