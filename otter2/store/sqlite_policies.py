"""
The policies and webhooks of the SQLite store, mixed into `SQLiteGroupStore`.

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable, ContextManager, Optional, Sequence, TypeVar

from twisted.internet.defer import Deferred

from otter2.model import CapabilityTarget, Policy, ScheduledEvent, Webhook
from otter2.store.interface import NoSuchGroup, NoSuchPolicy, NoSuchWebhook, OverLimit
from otter2.store.sqlite_rows import WEBHOOK_COLUMNS, dumps, policy_from_row, webhook_from_row

T = TypeVar("T")


class SQLitePolicies:
    """Policy and webhook operations; the connection and thread come from the store."""

    _conn: sqlite3.Connection

    def _run(self, work: Callable[..., T], *args: Any) -> Deferred[T]:
        raise NotImplementedError

    def _transaction(self) -> ContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _group_exists(self, conn: sqlite3.Connection, tenant_id: str, group_id: str) -> bool:
        raise NotImplementedError

    def _insert_policies(self, conn: sqlite3.Connection, policies: Sequence[Policy],
                         events: Sequence[ScheduledEvent]) -> None:
        raise NotImplementedError

    def _insert_events(self, conn: sqlite3.Connection,
                       events: Sequence[ScheduledEvent]) -> None:
        raise NotImplementedError

    # -- policies -------------------------------------------------------------

    def create_policies(self, tenant_id: str, group_id: str, policies: Sequence[Policy],
                        events: Sequence[ScheduledEvent],
                        max_policies: int) -> Deferred[None]:
        def work() -> None:
            with self._transaction() as conn:
                if not self._group_exists(conn, tenant_id, group_id):
                    raise NoSuchGroup()
                (count,) = conn.execute(
                    "SELECT count(*) FROM scaling_policy WHERE tenant_id=? AND group_id=?",
                    (tenant_id, group_id)).fetchone()
                if count + len(policies) > max_policies:
                    raise OverLimit(count)
                self._insert_policies(conn, policies, events)
        return self._run(work)

    def list_policies(self, tenant_id: str, group_id: str, limit: int,
                      marker: Optional[str]) -> Deferred[list[Policy]]:
        def work() -> list[Policy]:
            rows = self._conn.execute(
                "SELECT tenant_id, group_id, policy_id, data, version FROM scaling_policy "
                "WHERE tenant_id=? AND group_id=? AND policy_id>? ORDER BY policy_id "
                "LIMIT ?", (tenant_id, group_id, marker or "", limit)).fetchall()
            return [policy_from_row(row) for row in rows]
        return self._run(work)

    def load_policy(self, tenant_id: str, group_id: str,
                    policy_id: str) -> Deferred[Optional[Policy]]:
        def work() -> Optional[Policy]:
            row = self._conn.execute(
                "SELECT tenant_id, group_id, policy_id, data, version FROM scaling_policy "
                "WHERE tenant_id=? AND group_id=? AND policy_id=?",
                (tenant_id, group_id, policy_id)).fetchone()
            return None if row is None else policy_from_row(row)
        return self._run(work)

    def update_policy(self, policy: Policy,
                      event: Optional[ScheduledEvent]) -> Deferred[None]:
        def work() -> None:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "UPDATE scaling_policy SET data=?, version=? WHERE tenant_id=? "
                    "AND group_id=? AND policy_id=?",
                    (dumps(policy.data), policy.version, policy.tenant_id,
                     policy.group_id, policy.policy_id))
                if cursor.rowcount == 0:
                    raise NoSuchPolicy()
                self._insert_events(conn, [event] if event else [])
        return self._run(work)

    def delete_policy(self, tenant_id: str, group_id: str, policy_id: str) -> Deferred[None]:
        def work() -> None:
            key = (tenant_id, group_id, policy_id)
            with self._transaction() as conn:
                cursor = conn.execute("DELETE FROM scaling_policy WHERE tenant_id=? "
                                      "AND group_id=? AND policy_id=?", key)
                if cursor.rowcount == 0:
                    raise NoSuchPolicy()
                conn.execute("DELETE FROM policy_webhook WHERE tenant_id=? AND "
                             "group_id=? AND policy_id=?", key)
        return self._run(work)

    # -- webhooks -------------------------------------------------------------

    def create_webhooks(self, tenant_id: str, group_id: str, policy_id: str,
                        webhooks: Sequence[Webhook], max_webhooks: int) -> Deferred[None]:
        def work() -> None:
            key = (tenant_id, group_id, policy_id)
            with self._transaction() as conn:
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
        return self._run(work)

    def list_webhooks(self, tenant_id: str, group_id: str, policy_id: str,
                      limit: Optional[int],
                      marker: Optional[str]) -> Deferred[list[Webhook]]:
        def work() -> list[Webhook]:
            rows = self._conn.execute(
                f"SELECT {WEBHOOK_COLUMNS} FROM policy_webhook WHERE tenant_id=? AND "
                "group_id=? AND policy_id=? AND webhook_id>? ORDER BY webhook_id LIMIT ?",
                (tenant_id, group_id, policy_id, marker or "",
                 -1 if limit is None else limit)).fetchall()
            return [webhook_from_row(row) for row in rows]
        return self._run(work)

    def list_group_webhooks(self, tenant_id: str,
                            group_id: str) -> Deferred[list[Webhook]]:
        def work() -> list[Webhook]:
            rows = self._conn.execute(
                f"SELECT {WEBHOOK_COLUMNS} FROM policy_webhook WHERE tenant_id=? AND "
                "group_id=? ORDER BY policy_id, webhook_id", (tenant_id, group_id)).fetchall()
            return [webhook_from_row(row) for row in rows]
        return self._run(work)

    def load_webhook(self, tenant_id: str, group_id: str, policy_id: str,
                     webhook_id: str) -> Deferred[Optional[Webhook]]:
        def work() -> Optional[Webhook]:
            row = self._conn.execute(
                f"SELECT {WEBHOOK_COLUMNS} FROM policy_webhook WHERE tenant_id=? AND "
                "group_id=? AND policy_id=? AND webhook_id=?",
                (tenant_id, group_id, policy_id, webhook_id)).fetchone()
            return None if row is None else webhook_from_row(row)
        return self._run(work)

    def update_webhook(self, webhook: Webhook) -> Deferred[None]:
        def work() -> None:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "UPDATE policy_webhook SET name=?, metadata=? WHERE tenant_id=? AND "
                    "group_id=? AND policy_id=? AND webhook_id=?",
                    (webhook.name, dumps(webhook.metadata), webhook.tenant_id,
                     webhook.group_id, webhook.policy_id, webhook.webhook_id))
                if cursor.rowcount == 0:
                    raise NoSuchWebhook()
        return self._run(work)

    def delete_webhook(self, tenant_id: str, group_id: str, policy_id: str,
                       webhook_id: str) -> Deferred[None]:
        def work() -> None:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "DELETE FROM policy_webhook WHERE tenant_id=? AND group_id=? AND "
                    "policy_id=? AND webhook_id=?",
                    (tenant_id, group_id, policy_id, webhook_id))
                if cursor.rowcount == 0:
                    raise NoSuchWebhook()
        return self._run(work)

    def lookup_capability(self, capability_hash: str) -> Deferred[Optional[CapabilityTarget]]:
        def work() -> Optional[CapabilityTarget]:
            row = self._conn.execute(
                "SELECT tenant_id, group_id, policy_id FROM policy_webhook "
                "WHERE capability_hash=?", (capability_hash,)).fetchone()
            return None if row is None else CapabilityTarget(*row)
        return self._run(work)
