"""
Rows of the SQLite store: JSON encoding, row decoders, column lists.

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Sequence

from otter2.model.cloud import CLBDescription, LBDescription, RCv3Description, RecordedServer
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
                  "deleting, created, active, limited_retries, build_failures, build_after")


def dumps(value: Any) -> str:
    return json.dumps(thaw_json(value), separators=(",", ":"))


def group_from_row(row: sqlite3.Row) -> ScalingGroup:
    (tenant_id, group_id, config, launch, desired, version, paused, suspended,
     status, error_reasons, group_touched, policy_touched, deleting, created,
     active, limited_retries, build_failures, build_after) = row
    state = GroupState(
        tenant_id=tenant_id, group_id=group_id, desired=desired, version=version,
        paused=bool(paused), suspended=bool(suspended), status=GroupStatus(status),
        error_reasons=json.loads(error_reasons), group_touched=group_touched,
        policy_touched=json.loads(policy_touched), limited_retries=limited_retries,
        build_failures=build_failures, build_after=build_after)
    return ScalingGroup(tenant_id=tenant_id, group_id=group_id,
                        config=json.loads(config), launch=json.loads(launch),
                        state=state, created=created, deleting=bool(deleting),
                        servers=load_servers(active))


# The record of servers is a JSON list in the ``active`` column, one object
# per server; its load balancers are written as a launch configuration names
# them, so the column stays readable by hand.


def _lb_entry(description: LBDescription) -> dict[str, Any]:
    if isinstance(description, CLBDescription):
        return {"loadBalancerId": description.lb_id, "port": description.port}
    return {"loadBalancerId": description.lb_id, "type": "RackConnectV3"}


def _lb_description(entry: dict[str, Any]) -> LBDescription:
    if entry.get("type") == "RackConnectV3":
        return RCv3Description(str(entry["loadBalancerId"]))
    return CLBDescription(str(entry["loadBalancerId"]), int(entry["port"]))


def dump_servers(servers: Sequence[RecordedServer]) -> str:
    """The record of servers as the ``active`` column holds it."""
    return json.dumps([
        {"id": s.id, "links": thaw_json(s.links), "address": s.address, "active": s.active,
         "lbs": sorted((_lb_entry(d) for d in s.load_balancers),
                       key=lambda e: (e["loadBalancerId"], e.get("port", 0)))}
        for s in servers], separators=(",", ":"))


def load_servers(text: str) -> list[RecordedServer]:
    """The record of servers from the ``active`` column."""
    return [RecordedServer(id=str(entry["id"]), links=entry.get("links", []),
                           address=str(entry.get("address", "")),
                           active=bool(entry.get("active", True)),
                           load_balancers=[_lb_description(lb) for lb in entry.get("lbs", ())])
            for entry in json.loads(text)]


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
