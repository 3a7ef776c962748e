"""
The policies, webhooks and schedule events of the SQLite store: the gateway
`SQLiteGroupStore` hands those operations to, over the store's `Database`.

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from twisted.internet.defer import Deferred

from otter2.model import CapabilityTarget, Policy, ScheduledEvent, Webhook
from otter2.store.documents import dumps
from otter2.store.interface import NoSuchGroup, NoSuchPolicy, NoSuchWebhook, OverLimit
from otter2.store.sqlite_database import Database
from otter2.store.sqlite_events import delete_policy_events, insert_events
from otter2.store.sqlite_rows import WEBHOOK_COLUMNS, policy_from_row, webhook_from_row


def _group_exists(conn: sqlite3.Connection, tenant_id: str, group_id: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM scaling_group WHERE tenant_id=? AND group_id=? AND deleting=0",
        (tenant_id, group_id)).fetchone() is not None


def insert_policies(conn: sqlite3.Connection, policies: Sequence[Policy],
                    events: Sequence[ScheduledEvent]) -> None:
    """Insert the policies and their schedule events, inside the caller's transaction."""
    conn.executemany(
        "INSERT INTO scaling_policy VALUES (?, ?, ?, ?, ?)",
        [(p.tenant_id, p.group_id, p.policy_id, dumps(p.data), p.version)
         for p in policies])
    _insert_events(conn, events)


def _insert_events(conn: sqlite3.Connection, events: Sequence[ScheduledEvent]) -> None:
    insert_events(conn, events)


class SQLitePolicies:
    """Policy and webhook operations of `SQLiteGroupStore`, over its database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- policies -------------------------------------------------------------

    def create_policies(self, tenant_id: str, group_id: str, policies: Sequence[Policy],
                        events: Sequence[ScheduledEvent],
                        max_policies: int) -> Deferred[None]:
        def work() -> None:
            with self._db.transaction() as conn:
                if not _group_exists(conn, tenant_id, group_id):
                    raise NoSuchGroup()
                (count,) = conn.execute(
                    "SELECT count(*) FROM scaling_policy WHERE tenant_id=? AND group_id=?",
                    (tenant_id, group_id)).fetchone()
                if count + len(policies) > max_policies:
                    raise OverLimit(count)
                insert_policies(conn, policies, events)
        return self._db.write_documents(work)

    def list_policies(self, tenant_id: str, group_id: str, limit: int,
                      marker: str | None) -> Deferred[list[Policy]]:
        def work() -> list[Policy]:
            rows = self._db.conn.execute(
                "SELECT tenant_id, group_id, policy_id, data, version FROM scaling_policy "
                "WHERE tenant_id=? AND group_id=? AND policy_id>? ORDER BY policy_id "
                "LIMIT ?", (tenant_id, group_id, marker or "", limit)).fetchall()
            return [policy_from_row(row) for row in rows]
        if limit < 0 and marker is None:  # all the group's policies: a manifest
            # See Note [Document cache].
            # A list of its own for each caller: the one kept must not change.
            return self._db.read_document(("policies", tenant_id, group_id), work) \
                .addCallback(list)
        return self._db.run(work)

    def load_policy(self, tenant_id: str, group_id: str,
                    policy_id: str) -> Deferred[Policy | None]:
        def work() -> Policy | None:
            row = self._db.conn.execute(
                "SELECT tenant_id, group_id, policy_id, data, version FROM scaling_policy "
                "WHERE tenant_id=? AND group_id=? AND policy_id=?",
                (tenant_id, group_id, policy_id)).fetchone()
            return None if row is None else policy_from_row(row)
        # See Note [Document cache].
        return self._db.read_document(("policy", tenant_id, group_id, policy_id), work)

    def update_policy(self, policy: Policy,
                      event: ScheduledEvent | None) -> Deferred[None]:
        def work() -> None:
            with self._db.transaction() as conn:
                cursor = conn.execute(
                    "UPDATE scaling_policy SET data=?, version=? WHERE tenant_id=? "
                    "AND group_id=? AND policy_id=?",
                    (dumps(policy.data), policy.version, policy.tenant_id,
                     policy.group_id, policy.policy_id))
                if cursor.rowcount == 0:
                    raise NoSuchPolicy()
                delete_policy_events(conn, policy.tenant_id, policy.group_id, policy.policy_id)
                _insert_events(conn, [event] if event else [])
        return self._db.write_documents(work)

    def delete_policy(self, tenant_id: str, group_id: str, policy_id: str) -> Deferred[None]:
        def work() -> None:
            key = (tenant_id, group_id, policy_id)
            with self._db.transaction() as conn:
                cursor = conn.execute("DELETE FROM scaling_policy WHERE tenant_id=? "
                                      "AND group_id=? AND policy_id=?", key)
                if cursor.rowcount == 0:
                    raise NoSuchPolicy()
                conn.execute("DELETE FROM policy_webhook WHERE tenant_id=? AND "
                             "group_id=? AND policy_id=?", key)
                delete_policy_events(conn, *key)
        return self._db.write_documents(work)

    # -- webhooks -------------------------------------------------------------

    def create_webhooks(self, tenant_id: str, group_id: str, policy_id: str,
                        webhooks: Sequence[Webhook], max_webhooks: int) -> Deferred[None]:
        def work() -> None:
            key = (tenant_id, group_id, policy_id)
            with self._db.transaction() as conn:
                if conn.execute("SELECT 1 FROM scaling_policy WHERE tenant_id=? AND "
                                "group_id=? AND policy_id=?", key).fetchone() is None:
                    raise NoSuchPolicy()
                (count,) = conn.execute(
                    "SELECT count(*) FROM policy_webhook WHERE tenant_id=? AND "
                    "group_id=? AND policy_id=?", key).fetchone()
                if count + len(webhooks) > max_webhooks:
                    raise OverLimit(count)
                conn.executemany(
                    f"INSERT INTO policy_webhook ({WEBHOOK_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(w.tenant_id, w.group_id, w.policy_id, w.webhook_id, w.name,
                      dumps(w.metadata), w.capability_version, w.capability_hash)
                     for w in webhooks])
        return self._db.write_documents(work)

    def list_webhooks(self, tenant_id: str, group_id: str, policy_id: str,
                      limit: int | None,
                      marker: str | None) -> Deferred[list[Webhook]]:
        def work() -> list[Webhook]:
            rows = self._db.conn.execute(
                f"SELECT {WEBHOOK_COLUMNS} FROM policy_webhook WHERE tenant_id=? AND "
                "group_id=? AND policy_id=? AND webhook_id>? ORDER BY webhook_id LIMIT ?",
                (tenant_id, group_id, policy_id, marker or "",
                 -1 if limit is None else limit)).fetchall()
            return [webhook_from_row(row) for row in rows]
        return self._db.run(work)

    def list_group_webhooks(self, tenant_id: str,
                            group_id: str) -> Deferred[list[Webhook]]:
        def work() -> list[Webhook]:
            rows = self._db.conn.execute(
                f"SELECT {WEBHOOK_COLUMNS} FROM policy_webhook WHERE tenant_id=? AND "
                "group_id=? ORDER BY policy_id, webhook_id", (tenant_id, group_id)).fetchall()
            return [webhook_from_row(row) for row in rows]
        # See Note [Document cache].
        return self._db.read_document(("group webhooks", tenant_id, group_id), work) \
            .addCallback(list)

    def load_webhook(self, tenant_id: str, group_id: str, policy_id: str,
                     webhook_id: str) -> Deferred[Webhook | None]:
        def work() -> Webhook | None:
            row = self._db.conn.execute(
                f"SELECT {WEBHOOK_COLUMNS} FROM policy_webhook WHERE tenant_id=? AND "
                "group_id=? AND policy_id=? AND webhook_id=?",
                (tenant_id, group_id, policy_id, webhook_id)).fetchone()
            return None if row is None else webhook_from_row(row)
        return self._db.run(work)

    def update_webhook(self, webhook: Webhook) -> Deferred[None]:
        def work() -> None:
            with self._db.transaction() as conn:
                cursor = conn.execute(
                    "UPDATE policy_webhook SET name=?, metadata=? WHERE tenant_id=? AND "
                    "group_id=? AND policy_id=? AND webhook_id=?",
                    (webhook.name, dumps(webhook.metadata), webhook.tenant_id,
                     webhook.group_id, webhook.policy_id, webhook.webhook_id))
                if cursor.rowcount == 0:
                    raise NoSuchWebhook()
        return self._db.write_documents(work)

    def delete_webhook(self, tenant_id: str, group_id: str, policy_id: str,
                       webhook_id: str) -> Deferred[None]:
        def work() -> None:
            with self._db.transaction() as conn:
                cursor = conn.execute(
                    "DELETE FROM policy_webhook WHERE tenant_id=? AND group_id=? AND "
                    "policy_id=? AND webhook_id=?",
                    (tenant_id, group_id, policy_id, webhook_id))
                if cursor.rowcount == 0:
                    raise NoSuchWebhook()
        return self._db.write_documents(work)

    def lookup_capability(self, capability_hash: str) -> Deferred[CapabilityTarget | None]:
        def work() -> CapabilityTarget | None:
            row = self._db.conn.execute(
                "SELECT tenant_id, group_id, policy_id, webhook_id FROM policy_webhook "
                "WHERE capability_hash=?", (capability_hash,)).fetchone()
            return None if row is None else CapabilityTarget(*row)
        # See Note [Document cache].
        return self._db.read_document(("capability", capability_hash), work)
