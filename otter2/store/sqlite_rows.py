"""
Rows of the SQLite store: row decoders, column lists (JSON documents are
encoded by `otter2.store.documents`).

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

import json
import sqlite3

from attrs import evolve

from otter2.model import (
    Fence,
    GroupState,
    GroupStatus,
    Policy,
    ScalingGroup,
    Webhook,
)
from otter2.store.documents import dumps, load_servers
from otter2.store.interface import FencedOut, NoSuchGroup, StaleVersion

GROUP_COLUMNS = ("tenant_id, group_id, config, launch, desired, version, paused, "
                  "suspended, status, error_reasons, group_touched, policy_touched, "
                  "deleting, created, active, limited_retries, build_failures, build_after, waiting, "
                 "diverged_since")


def group_from_row(row: sqlite3.Row) -> ScalingGroup:
    (tenant_id, group_id, config, launch, desired, version, paused, suspended,
     status, error_reasons, group_touched, policy_touched, deleting, created,
     active, limited_retries, build_failures, build_after, waiting, diverged_since) = row
    state = GroupState(
        tenant_id=tenant_id, group_id=group_id, desired=desired, version=version,
        paused=bool(paused), suspended=bool(suspended), status=GroupStatus(status),
        error_reasons=json.loads(error_reasons), group_touched=group_touched,
        policy_touched=json.loads(policy_touched), limited_retries=limited_retries,
        build_failures=build_failures, build_after=build_after, waiting=json.loads(waiting),
        diverged_since=diverged_since)
    return ScalingGroup(tenant_id=tenant_id, group_id=group_id,
                        config=json.loads(config), launch=json.loads(launch),
                        state=state, created=created, deleting=bool(deleting),
                        servers=load_servers(active))


def write_state(conn: sqlite3.Connection, state: GroupState) -> None:
    """
    Save ``state`` if its version is current, inside the caller's transaction:
    `StaleVersion` otherwise (`NoSuchGroup` if the group is absent).
    """
    cursor = conn.execute(
        "UPDATE scaling_group SET desired=?, version=version+1, paused=?, "
        "suspended=?, status=?, error_reasons=?, group_touched=?, "
        "policy_touched=?, limited_retries=?, build_failures=?, build_after=?, waiting=?, "
        "diverged_since=? "
        "WHERE tenant_id=? AND group_id=? AND version=?",
        (state.desired, int(state.paused), int(state.suspended),
         state.status.value, dumps(state.error_reasons),
         state.group_touched, dumps(state.policy_touched), state.limited_retries,
         state.build_failures, state.build_after, dumps(state.waiting), state.diverged_since,
         state.tenant_id, state.group_id, state.version))
    if cursor.rowcount == 0:
        row = conn.execute("SELECT 1 FROM scaling_group WHERE tenant_id=? AND group_id=?",
                           (state.tenant_id, state.group_id)).fetchone()
        raise StaleVersion() if row else NoSuchGroup()


def with_state(group: ScalingGroup, state: GroupState | None) -> ScalingGroup:
    """The group as a write of ``state`` (`write_state`: every field of it, its
    version one more) leaves its row; None: the state unchanged."""
    return group if state is None else evolve(group, state=state)


def mark_divergent_row(conn: sqlite3.Connection, tenant_id: str, group_id: str) -> None:
    """Ask convergence to look at the group, inside the caller's transaction."""
    conn.execute("INSERT INTO divergent VALUES (?, ?, 1) ON CONFLICT (tenant_id, "
                 "group_id) DO UPDATE SET mark=mark+1", (tenant_id, group_id))


def policy_from_row(row: sqlite3.Row) -> Policy:
    tenant_id, group_id, policy_id, data, version = row
    return Policy(tenant_id=tenant_id, group_id=group_id, policy_id=policy_id,
                  data=json.loads(data), version=version)


def webhook_from_row(row: sqlite3.Row) -> Webhook:
    (tenant_id, group_id, policy_id, webhook_id, name, metadata, cap_version,
     cap_hash) = row
    return Webhook(tenant_id=tenant_id, group_id=group_id, policy_id=policy_id,
                   webhook_id=webhook_id, name=name, metadata=json.loads(metadata),
                   capability_version=cap_version, capability_hash=cap_hash)


WEBHOOK_COLUMNS = ("tenant_id, group_id, policy_id, webhook_id, name, metadata, "
                    "capability_version, capability_hash")


def check_fence(conn: sqlite3.Connection, fence: Fence | None) -> None:
    """`FencedOut` if a later owner has claimed the fence's bucket, inside the
    caller's transaction (so the write that follows is refused with it)."""
    if fence is None:
        return
    row = conn.execute("SELECT token FROM bucket_owner WHERE bucket=?",
                       (fence.bucket,)).fetchone()
    if row is not None and row[0] > fence.token:
        raise FencedOut()


def claim_bucket_row(conn: sqlite3.Connection, bucket: int) -> int:
    """A new token for ``bucket``, one more than the last, recorded."""
    conn.execute("INSERT INTO bucket_owner (bucket, token) VALUES (?, 1) "
                 "ON CONFLICT (bucket) DO UPDATE SET token=token+1", (bucket,))
    (token,) = conn.execute("SELECT token FROM bucket_owner WHERE bucket=?",
                            (bucket,)).fetchone()
    return int(token)
