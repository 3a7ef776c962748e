"""
The nodes of a simulated Cloud Load Balancer: adding (with CLB's validation,
duplicate check and node limit), changing, removing in bulk and rendering
them, and CLB's error bodies. Each change returns the load balancer and the
answer; ``clb`` decides whether the load balancer may change at all.

test-case-name: tests.simulation.test_clb
"""

from __future__ import annotations

from typing import Any

from attrs import evolve
from pyrsistent import PMap, PVector

from otter2.cloud.request import Response
from otter2.model.cloud import NodeCondition, NodeType
from otter2.simulation.state import (
    SimulatedCloud,
    SimulatedLoadBalancer,
    SimulatedNode,
    json_response,
)

_CONDITIONS = {c.value: c for c in NodeCondition}
_TYPES = {t.value: t for t in NodeType}


def clb_error(status: int, message: str) -> Response:
    """CLB's error body: ``{"message": ..., "code": status}``."""
    return json_response(status, {"message": message, "code": status})


def validation_failure(*messages: str) -> Response:
    """CLB's 400 for a request that breaks its rules."""
    return json_response(400, {"message": "Validation Failure", "code": 400,
                               "details": "The object is not valid",
                               "validationErrors": {"messages": list(messages)}})


def render_node(node: SimulatedNode, now: float) -> dict:
    """A node as CLB lists it."""
    return {"id": node.id, "address": node.address, "port": node.port,
            "condition": node.condition.value, "type": node.type.value,
            "weight": node.weight, "status": node.status(now)}


def _created_summary(node: SimulatedNode) -> str:
    return (f"Node successfully created with address: '{node.address}', port: '{node.port}', "
            f"condition: '{node.condition.value}', weight: '{node.weight}'")


def _updated_summary(node: SimulatedNode) -> str:
    return (f"Node successfully updated with address: '{node.address}', port: '{node.port}', "
            f"weight: '{node.weight}', condition: '{node.condition.value}'")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _settings_problems(given: PMap) -> list[str]:
    """What is wrong with a node's condition, type and weight, if anything."""
    problems = []
    if "condition" in given and given["condition"] not in _CONDITIONS:
        problems.append("condition must be one of ENABLED, DISABLED, DRAINING")
    if "type" in given and given["type"] not in _TYPES:
        problems.append("type must be one of PRIMARY, SECONDARY")
    if "weight" in given and not (_is_int(given["weight"]) and 1 <= given["weight"] <= 100):
        problems.append("Weight must be between 1 and 100.")
    return problems


def _node_problems(given: Any) -> list[str]:
    if not isinstance(given, PMap):
        return ["Each node must be an object."]
    problems = _settings_problems(given)
    if not isinstance(given.get("address"), str) or not given["address"]:
        problems.append("Node address is required.")
    if not (_is_int(given.get("port")) and 1 <= given["port"] <= 65535):
        problems.append("Port must be between 1 and 65535.")
    if "condition" not in given:
        problems.append("Node condition is required.")
    return problems


def add_nodes(cloud: SimulatedCloud, lb: SimulatedLoadBalancer, given: Any,
              now: float) -> tuple[SimulatedLoadBalancer, Response]:
    """The load balancer with new nodes (ids from ``cloud.next_node_id`` on),
    and CLB's answer: 202 with the nodes, 400, 413 over the limit, or 422 for
    a duplicate address and port."""
    if not isinstance(given, PVector) or not given:
        return lb, validation_failure("Must provide at least one node.")
    problems = [p for g in given for p in _node_problems(g)]
    if problems:
        return lb, validation_failure(*problems)
    taken = {(n.address, n.port) for n in lb.nodes.values()}
    asked = [(g["address"], g["port"]) for g in given]
    if len(set(asked)) < len(asked) or taken.intersection(asked):
        return lb, clb_error(422, "Duplicate nodes detected. One or more nodes already "
                                  "configured on load balancer.")
    limit = cloud.behaviour.node_limit
    if len(lb.nodes) + len(given) > limit:
        return lb, clb_error(413, f"Nodes must not exceed {limit} per load balancer.")
    online_at = now + cloud.behaviour.health_check_time if lb.health_monitor else now
    nodes = lb.nodes.evolver()
    created = []
    for number, spec in enumerate(given, start=cloud.next_node_id):
        node = SimulatedNode(
            id=number, address=spec["address"], port=spec["port"],
            condition=_CONDITIONS[spec["condition"]], type=_TYPES[spec.get("type", "PRIMARY")],
            weight=spec.get("weight", 1), created=now, online_at=online_at)
        node = evolve(node, events=node.events.append((now, _created_summary(node))))
        nodes[number] = node
        created.append(render_node(node, now))
    return evolve(lb, nodes=nodes.persistent()), json_response(202, {"nodes": created})


def update_node(lb: SimulatedLoadBalancer, node_id: int, body: Any, method: str,
                now: float) -> tuple[SimulatedLoadBalancer, Response]:
    """The load balancer after a node's PUT (condition, weight, type) or DELETE,
    and CLB's answer: 202, 400, or 404 for an unknown node."""
    node: SimulatedNode | None = lb.nodes.get(node_id)
    if node is None:
        return lb, clb_error(404, f"Node with id #{node_id} not found for "
                                  f"loadbalancer #{lb.id}")
    if method == "DELETE":
        return evolve(lb, nodes=lb.nodes.discard(node_id)), Response(202)
    given = body.get("node") if isinstance(body, PMap) else None
    if not isinstance(given, PMap):
        return lb, validation_failure("Must provide a node.")
    problems = _settings_problems(given)
    if "address" in given:
        problems.append("Node ip field cannot be modified.")
    if "port" in given:
        problems.append("Port field cannot be modified.")
    if problems:
        return lb, validation_failure(*problems)
    node = evolve(node, condition=_CONDITIONS[given.get("condition", node.condition.value)],
                  type=_TYPES[given.get("type", node.type.value)],
                  weight=given.get("weight", node.weight))
    node = evolve(node, events=node.events.append((now, _updated_summary(node))))
    return evolve(lb, nodes=lb.nodes.set(node_id, node)), Response(202)


def remove_nodes(lb: SimulatedLoadBalancer,
                 ids: list[str]) -> tuple[SimulatedLoadBalancer, Response]:
    """The load balancer without the nodes of a bulk delete (all or none),
    and CLB's answer: 202, or 400 naming the ids it does not have."""
    if not ids:
        return lb, clb_error(400, "Must supply one or more id's to process this request.")
    unknown = sorted({i for i in ids if not i.isdigit() or int(i) not in lb.nodes})
    if unknown:
        return lb, validation_failure(
            f"Node ids {','.join(unknown)} are not a part of your loadbalancer")
    nodes = lb.nodes.evolver()
    for node_id in {int(i) for i in ids}:
        del nodes[node_id]
    return evolve(lb, nodes=nodes.persistent()), Response(202)
