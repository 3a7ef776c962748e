"""
The JSON documents both durable stores keep in text columns: configurations,
policy bodies, state maps and the record of servers, encoded the same way by
the SQLite and the Cassandra backends.

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from otter2.model import thaw_json
from otter2.model.cloud import CLBDescription, LBDescription, RCv3Description, RecordedServer


def dumps(value: Any) -> str:
    """Compact JSON (ASCII only) of a frozen or plain JSON value."""
    return json.dumps(thaw_json(value), separators=(",", ":"))


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
