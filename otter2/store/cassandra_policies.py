"""
The policies and webhooks of the Cassandra store, with the capability index
of the anonymous execute endpoint.

Their rows are written without lightweight transactions (never compared;
see Note [Cassandra consistency] in ``otter2.store.cassandra``): an
existence check is a QUORUM read before the write, and rows written together
(policies with their events, webhooks with their index rows, a deletion) are
one logged batch. A limit is checked by counting before the batch, so two
creations at the very same time can pass a limit together, as in Otter.

test-case-name: tests.store.test_cassandra, tests.store.test_stores
"""

from __future__ import annotations

from collections.abc import Sequence

from otter2.model import CapabilityTarget, Policy, ScheduledEvent, Webhook
from otter2.store.cassandra_events import (
    change_pending,
    read_group_row,
    replace_event,
)
from otter2.store.cassandra_rows import (
    POLICY_COLUMNS,
    WEBHOOK_COLUMNS,
    delete_event,
    insert_event,
    insert_policy,
    pending_event,
    policy_from_row,
    webhook_from_row,
    with_events,
)
from otter2.store.cassandra_session import CQLConnection, Statement, batch
from otter2.store.documents import dumps
from otter2.store.interface import NoSuchGroup, NoSuchPolicy, NoSuchWebhook, OverLimit

_GROUP = "tenant_id = %s AND group_id = %s"
_POLICY = "tenant_id = %s AND group_id = %s AND policy_id = %s"
_WEBHOOK = "tenant_id = %s AND group_id = %s AND policy_id = %s AND webhook_id = %s"


def _delete_key(capability_hash: str) -> Statement:
    return Statement("DELETE FROM webhook_keys WHERE capability_hash = %s", (capability_hash,))


class CassandraPolicies:
    """Policy and webhook operations of `CassandraGroupStore`."""

    def __init__(self, cql: CQLConnection) -> None:
        self._cql = cql

    # -- policies -------------------------------------------------------------

    async def create_policies(self, tenant_id: str, group_id: str, policies: Sequence[Policy],
                              events: Sequence[ScheduledEvent], max_policies: int) -> None:
        row = await read_group_row(self._cql, tenant_id, group_id, "deleting")
        if row is None or row["deleting"]:
            raise NoSuchGroup()
        [counted] = await self._cql.execute(Statement(
            f"SELECT count(*) FROM scaling_policies WHERE {_GROUP}", (tenant_id, group_id)))
        if counted["count"] + len(policies) > max_policies:
            raise OverLimit(counted["count"])
        await self.insert_policies(policies, events)
        if events and await change_pending(
                self._cql, tenant_id, group_id, lambda p: with_events(p, list(events))) is None:
            raise NoSuchGroup()

    async def insert_policies(self, policies: Sequence[Policy],
                              events: Sequence[ScheduledEvent]) -> None:
        """The policies and their events' index rows, one logged batch."""
        if policies or events:
            await self._cql.execute(batch([insert_policy(p) for p in policies]
                                          + [insert_event(e) for e in events]))

    async def list_policies(self, tenant_id: str, group_id: str, limit: int,
                            marker: str | None) -> list[Policy]:
        rows = await self._cql.execute(Statement(
            f"SELECT {POLICY_COLUMNS} FROM scaling_policies WHERE {_GROUP} AND policy_id > %s "
            "LIMIT %s", (tenant_id, group_id, marker or "", limit)))
        return [policy_from_row(row) for row in rows]

    async def load_policy(self, tenant_id: str, group_id: str,
                          policy_id: str) -> Policy | None:
        rows = await self._cql.execute(Statement(
            f"SELECT {POLICY_COLUMNS} FROM scaling_policies WHERE {_POLICY}",
            (tenant_id, group_id, policy_id)))
        return policy_from_row(rows[0]) if rows else None

    async def update_policy(self, policy: Policy, event: ScheduledEvent | None) -> None:
        key = (policy.tenant_id, policy.group_id, policy.policy_id)
        if await self.load_policy(*key) is None:
            raise NoSuchPolicy()
        await self._cql.execute(Statement(
            f"UPDATE scaling_policies SET data = %s, version = %s WHERE {_POLICY}",
            (dumps(policy.data), policy.version, *key)))
        await replace_event(self._cql, *key, event)

    async def delete_policy(self, tenant_id: str, group_id: str, policy_id: str) -> None:
        key = (tenant_id, group_id, policy_id)
        if await self.load_policy(*key) is None:
            raise NoSuchPolicy()
        hooks = await self.list_webhooks(*key, None, None)
        changed = await change_pending(
            self._cql, tenant_id, group_id,
            lambda pending: {p: e for p, e in pending.items() if p != policy_id})
        old = changed[0].get(policy_id) if changed else None
        await self._cql.execute(batch(
            [Statement(f"DELETE FROM scaling_policies WHERE {_POLICY}", key),
             Statement(f"DELETE FROM policy_webhooks WHERE {_POLICY}", key)]
            + [_delete_key(w.capability_hash) for w in hooks]
            + ([delete_event(pending_event(*key, old))] if old else [])))

    # -- webhooks -------------------------------------------------------------

    async def create_webhooks(self, tenant_id: str, group_id: str, policy_id: str,
                              webhooks: Sequence[Webhook], max_webhooks: int) -> None:
        key = (tenant_id, group_id, policy_id)
        if await self.load_policy(*key) is None:
            raise NoSuchPolicy()
        [counted] = await self._cql.execute(Statement(
            f"SELECT count(*) FROM policy_webhooks WHERE {_POLICY}", key))
        if counted["count"] + len(webhooks) > max_webhooks:
            raise OverLimit(counted["count"])
        statements = []
        for w in webhooks:
            statements.append(Statement(
                f"INSERT INTO policy_webhooks ({WEBHOOK_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (w.tenant_id, w.group_id, w.policy_id, w.webhook_id, w.name,
                 dumps(w.metadata), w.capability_version, w.capability_hash)))
            statements.append(Statement(
                "INSERT INTO webhook_keys (capability_hash, tenant_id, group_id, policy_id, "
                "webhook_id) VALUES (%s, %s, %s, %s, %s)",
                (w.capability_hash, *key, w.webhook_id)))
        if statements:
            await self._cql.execute(batch(statements))

    async def list_webhooks(self, tenant_id: str, group_id: str, policy_id: str,
                            limit: int | None, marker: str | None) -> list[Webhook]:
        page = "" if limit is None else " LIMIT %s"
        rows = await self._cql.execute(Statement(
            f"SELECT {WEBHOOK_COLUMNS} FROM policy_webhooks WHERE {_POLICY} "
            f"AND webhook_id > %s{page}",
            (tenant_id, group_id, policy_id, marker or "")
            + (() if limit is None else (limit,))))
        return [webhook_from_row(row) for row in rows]

    async def list_group_webhooks(self, tenant_id: str, group_id: str) -> list[Webhook]:
        rows = await self._cql.execute(Statement(
            f"SELECT {WEBHOOK_COLUMNS} FROM policy_webhooks WHERE {_GROUP}",
            (tenant_id, group_id)))
        return [webhook_from_row(row) for row in rows]

    async def load_webhook(self, tenant_id: str, group_id: str, policy_id: str,
                           webhook_id: str) -> Webhook | None:
        rows = await self._cql.execute(Statement(
            f"SELECT {WEBHOOK_COLUMNS} FROM policy_webhooks WHERE {_WEBHOOK}",
            (tenant_id, group_id, policy_id, webhook_id)))
        return webhook_from_row(rows[0]) if rows else None

    async def update_webhook(self, webhook: Webhook) -> None:
        key = (webhook.tenant_id, webhook.group_id, webhook.policy_id, webhook.webhook_id)
        if await self.load_webhook(*key) is None:
            raise NoSuchWebhook()
        await self._cql.execute(Statement(
            f"UPDATE policy_webhooks SET name = %s, metadata = %s WHERE {_WEBHOOK}",
            (webhook.name, dumps(webhook.metadata), *key)))

    async def delete_webhook(self, tenant_id: str, group_id: str, policy_id: str,
                             webhook_id: str) -> None:
        key = (tenant_id, group_id, policy_id, webhook_id)
        found = await self.load_webhook(*key)
        if found is None:
            raise NoSuchWebhook()
        await self._cql.execute(batch([
            Statement(f"DELETE FROM policy_webhooks WHERE {_WEBHOOK}", key),
            _delete_key(found.capability_hash)]))

    async def lookup_capability(self, capability_hash: str) -> CapabilityTarget | None:
        rows = await self._cql.execute(Statement(
            "SELECT tenant_id, group_id, policy_id, webhook_id FROM webhook_keys "
            "WHERE capability_hash = %s", (capability_hash,)))
        if not rows:
            return None
        return CapabilityTarget(rows[0]["tenant_id"], rows[0]["group_id"], rows[0]["policy_id"],
                                rows[0]["webhook_id"])

    async def delete_all(self, tenant_id: str, group_id: str,
                         events: Sequence[ScheduledEvent]) -> None:
        """Delete the group's policies, webhooks, capability index rows, execution
        receipts, journal and the index rows of ``events``, one logged batch."""
        hooks = await self.list_group_webhooks(tenant_id, group_id)
        await self._cql.execute(batch(
            [Statement(f"DELETE FROM {table} WHERE {_GROUP}", (tenant_id, group_id))
             for table in ("scaling_policies", "policy_webhooks", "executions", "journal",
                           "journal_ids")]
            + [_delete_key(w.capability_hash) for w in hooks]
            + [delete_event(e) for e in events]))
