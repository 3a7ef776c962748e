"""
Rows of the SQLite store: JSON encoding, row decoders, column lists.

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from otter2.model import (
    GroupState,
    GroupStatus,
    Policy,
    ScalingGroup,
    Webhook,
    thaw_json,
)

GROUP_COLUMNS = ("tenant_id, group_id, config, launch, desired, version, paused, "
                  "suspended, status, error_reasons, group_touched, policy_touched, "
                  "deleting, created, active")


def dumps(value: Any) -> str:
    return json.dumps(thaw_json(value), separators=(",", ":"))


def group_from_row(row: sqlite3.Row) -> ScalingGroup:
    (tenant_id, group_id, config, launch, desired, version, paused, suspended,
     status, error_reasons, group_touched, policy_touched, deleting, created,
     active) = row
    state = GroupState(
        tenant_id=tenant_id, group_id=group_id, desired=desired, version=version,
        paused=bool(paused), suspended=bool(suspended), status=GroupStatus(status),
        error_reasons=json.loads(error_reasons), group_touched=group_touched,
        policy_touched=json.loads(policy_touched))
    return ScalingGroup(tenant_id=tenant_id, group_id=group_id,
                        config=json.loads(config), launch=json.loads(launch),
                        state=state, created=created, deleting=bool(deleting),
                        active=json.loads(active))


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
