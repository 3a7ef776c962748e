"""
The simulated Cloud Load Balancers (v1): load balancers, their nodes, health
monitors, nodes' Atom feeds and connection counts (``stats``), with the real API's immutable windows
(PENDING_UPDATE after every change, answered 422), node limit (413) and error
bodies; plus the out-of-band operations tests use on load balancers.

test-case-name: tests.simulation.test_clb
"""

from __future__ import annotations

import math
from typing import Any
from xml.sax.saxutils import escape

from attrs import evolve
from pyrsistent import PMap, pmap

from otter2.cloud.request import Response, ServiceRequest
from otter2.simulation.clb_nodes import (
    add_nodes,
    clb_error,
    remove_nodes,
    render_node,
    update_node,
    validation_failure,
)
from otter2.simulation.state import (
    CLBStatus,
    SimulatedCloud,
    SimulatedLoadBalancer,
    due,
    json_response,
    tenant_load_balancers,
    timestamp,
    with_load_balancer,
)

# What a transient status becomes when its time is up.
STATUS_AFTER = {
    CLBStatus.BUILD: CLBStatus.ACTIVE,
    CLBStatus.PENDING_UPDATE: CLBStatus.ACTIVE,
    CLBStatus.PENDING_DELETE: CLBStatus.DELETED,
}
_ATOM_HEADERS = pmap({"content-type": "application/atom+xml"})


def immutable(lb: SimulatedLoadBalancer) -> Response | None:
    """The 422 CLB answers a change to this load balancer, or None if it may change."""
    if lb.status is CLBStatus.DELETED:
        return clb_error(422, "The load balancer is deleted and considered immutable.")
    if lb.status is not CLBStatus.ACTIVE:
        return clb_error(422, f"Load Balancer '{lb.id}' has a status of "
                              f"'{lb.status.value}' and is considered immutable.")
    return None


def _updated(cloud: SimulatedCloud, tenant_id: str, lb: SimulatedLoadBalancer,
             now: float) -> SimulatedCloud:
    """The cloud with a changed load balancer, PENDING_UPDATE for its window."""
    window = cloud.behaviour.clb_update_time if lb.update_time is None else lb.update_time
    lb = evolve(lb, updated=now)
    if window > 0:
        lb = evolve(lb, status=CLBStatus.PENDING_UPDATE, status_until=now + window)
        cloud = due(cloud, now + window)
    return with_load_balancer(cloud, tenant_id, lb)


def handle_clb(cloud: SimulatedCloud, request: ServiceRequest,
               now: float) -> tuple[SimulatedCloud, Response]:
    """The cloud after a CLB request, and CLB's answer."""
    tenant_id, body = request.tenant_id, request.json
    parts = request.path.strip("/").split("/")
    lbs = tenant_load_balancers(cloud, tenant_id)
    match request.method, parts:
        case "GET", ["loadbalancers"]:
            listed = [_summary(lbs[i]) for i in sorted(lbs)]
            return cloud, json_response(200, {"loadBalancers": listed})
        case "POST", ["loadbalancers"]:
            return _create(cloud, tenant_id, body, now)
    if len(parts) < 2 or parts[0] != "loadbalancers":
        return cloud, clb_error(404, "Resource not found")
    lb = lbs.get(_int(parts[1]))
    if lb is None:
        return cloud, clb_error(404, "Load balancer not found")
    rest = parts[2:]
    if rest and rest[0] == "nodes" and request.method == "GET" and lb.status is CLBStatus.DELETED:
        return cloud, clb_error(410, "The loadbalancer is marked as deleted.")
    match request.method, rest:
        case "GET", []:
            return cloud, json_response(200, {"loadBalancer": _detail(lb, now)})
        case "DELETE", []:
            return _delete(cloud, tenant_id, lb, now)
        case "GET", ["nodes"]:
            nodes = [render_node(lb.nodes[i], now) for i in sorted(lb.nodes)]
            return cloud, json_response(200, {"nodes": nodes})
        case "GET", ["nodes", node_file] if node_file.endswith(".atom"):
            return cloud, _feed(lb, node_file)
        case "GET", ["nodes", node_id]:
            node = lb.nodes.get(_int(node_id))
            if node is None:
                return cloud, clb_error(404, f"Node with id #{node_id} not found for "
                                             f"loadbalancer #{lb.id}")
            return cloud, json_response(200, {"node": render_node(node, now)})
        case "GET", ["healthmonitor"]:
            return cloud, json_response(200, {"healthMonitor": lb.health_monitor})
        case "GET", ["stats"] if lb.current_connections is not None:
            return cloud, json_response(200, _stats(lb.current_connections))
    refusal = immutable(lb)
    if refusal is not None:
        deleting = lb.status in (CLBStatus.PENDING_DELETE, CLBStatus.DELETED)
        if request.method == "DELETE" and rest == ["nodes"] and not deleting:
            refusal = clb_error(422, "LoadBalancer is not ACTIVE")
        return cloud, refusal
    match request.method, rest:
        case "POST", ["nodes"]:
            given = body.get("nodes") if isinstance(body, PMap) else None
            lb, answer = add_nodes(cloud, lb, given, now)
        case "DELETE", ["nodes"]:
            lb, answer = remove_nodes(lb, [v for k, v in request.params if k == "id"])
        case ("PUT" | "DELETE") as method, ["nodes", node_id]:
            lb, answer = update_node(lb, _int(node_id), body, method, now)
        case "PUT", ["healthmonitor"]:
            monitor = body.get("healthMonitor") if isinstance(body, PMap) else None
            if not isinstance(monitor, PMap) or "type" not in monitor:
                return cloud, validation_failure("Must provide a health monitor type.")
            lb, answer = evolve(lb, health_monitor=monitor), Response(202)
        case "DELETE", ["healthmonitor"]:
            lb, answer = evolve(lb, health_monitor=pmap()), Response(202)
        case _:
            return cloud, clb_error(404, "Resource not found")
    if answer.status >= 400:
        return cloud, answer
    cloud = evolve(cloud, next_node_id=max(cloud.next_node_id, max(lb.nodes, default=0) + 1))
    return _updated(cloud, tenant_id, lb, now), answer


def _feed(lb: SimulatedLoadBalancer, node_file: str) -> Response:
    """A node's Atom feed: its changes, newest first."""
    node = lb.nodes.get(_int(node_file[:-len(".atom")]))
    if node is None:
        return clb_error(404, "Node not found")
    entries = "".join(
        f"<entry><summary type=\"text\">{escape(summary)}</summary>"
        f"<updated>{timestamp(when)[:-1]}.000Z</updated></entry>"
        for when, summary in reversed(node.events))
    feed = ('<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f'<title type="text">Node {node.id}</title>{entries}</feed>')
    return Response(200, feed, _ATOM_HEADERS)


def _stats(current: int) -> dict:
    """A load balancer's ``stats``: its current connections, the other counters 0."""
    counters = ("connectTimeOut", "connectError", "connectFailure", "dataTimedOut",
                "keepAliveTimedOut", "maxConn", "connectTimeOutSsl", "connectErrorSsl",
                "connectFailureSsl", "dataTimedOutSsl", "keepAliveTimedOutSsl", "maxConnSsl",
                "currentConnSsl")
    return {**dict.fromkeys(counters, 0), "currentConn": current}


def _int(text: str) -> int:
    return int(text) if text.isdigit() else -1


def _virtual_ips(lb: SimulatedLoadBalancer) -> list[dict]:
    return [{"address": f"198.19.{lb.id >> 8 & 255}.{lb.id & 255}", "id": lb.id,
             "type": "PUBLIC", "ipVersion": "IPV4"}]


def _summary(lb: SimulatedLoadBalancer) -> dict:
    return {"id": lb.id, "name": lb.name, "protocol": lb.protocol, "port": lb.port,
            "algorithm": "RANDOM", "status": lb.status.value, "nodeCount": len(lb.nodes),
            "virtualIps": _virtual_ips(lb), "created": {"time": timestamp(lb.created)},
            "updated": {"time": timestamp(lb.updated)}}


def _detail(lb: SimulatedLoadBalancer, now: float) -> dict:
    detail = _summary(lb)
    del detail["nodeCount"]
    detail["nodes"] = [render_node(lb.nodes[i], now) for i in sorted(lb.nodes)]
    detail["healthMonitor"] = lb.health_monitor
    return detail


def _create(cloud: SimulatedCloud, tenant_id: str, body: Any,
            now: float) -> tuple[SimulatedCloud, Response]:
    spec = body.get("loadBalancer") if isinstance(body, PMap) else None
    if not isinstance(spec, PMap):
        return cloud, validation_failure("Must provide a load balancer.")
    missing = [k for k in ("name", "protocol", "port", "virtualIps") if k not in spec]
    if missing or not isinstance(spec.get("port"), int):
        return cloud, validation_failure(*[f"Must provide {k}." for k in missing or ["port"]])
    lb = SimulatedLoadBalancer(
        id=cloud.next_lb_id, name=str(spec["name"]), port=spec["port"],
        protocol=str(spec["protocol"]), created=now, updated=now,
        health_monitor=spec.get("healthMonitor", pmap()))
    lb, answer = (add_nodes(cloud, lb, spec["nodes"], now) if spec.get("nodes")
                  else (lb, Response(202)))
    if answer.status >= 400:
        return cloud, answer
    cloud = evolve(cloud, next_lb_id=lb.id + 1,
                   next_node_id=max(cloud.next_node_id, max(lb.nodes, default=0) + 1))
    build = cloud.behaviour.clb_update_time
    if build > 0:
        lb = evolve(lb, status=CLBStatus.BUILD, status_until=now + build)
        cloud = due(cloud, now + build)
    cloud = with_load_balancer(cloud, tenant_id, lb)
    return cloud, json_response(202, {"loadBalancer": _detail(lb, now)})


def _delete(cloud: SimulatedCloud, tenant_id: str, lb: SimulatedLoadBalancer,
            now: float) -> tuple[SimulatedCloud, Response]:
    refusal = immutable(lb)
    if refusal is not None:
        return cloud, refusal
    window = cloud.behaviour.clb_update_time if lb.delete_time is None else lb.delete_time
    lb = evolve(lb, status=CLBStatus.PENDING_DELETE, status_until=now + window, updated=now)
    return due(with_load_balancer(cloud, tenant_id, lb), now + window), Response(202)


def advance_load_balancers(lbs: PMap, now: float) -> tuple[PMap, float]:
    """A tenant's load balancers at ``now`` (transient statuses over), and when
    the next of their transitions is due."""
    changed = lbs.evolver()
    next_change = math.inf
    for lb in lbs.values():
        if lb.status_until is None or lb.status not in STATUS_AFTER:
            continue
        if lb.status_until <= now:
            changed[lb.id] = evolve(lb, status=STATUS_AFTER[lb.status], status_until=None,
                                    updated=lb.status_until)
        else:
            next_change = min(next_change, lb.status_until)
    return changed.persistent(), next_change


# Out-of-band operations: what an operator or the CLB service does.

def add_load_balancer(cloud: SimulatedCloud, tenant_id: str, lb_id: int, now: float, *,
                      name: str = "simulated", port: int = 80,
                      health_monitor: Any = None,
                      update_time: float | None = None,
                      delete_time: float | None = None) -> SimulatedCloud:
    """The cloud with a new ACTIVE load balancer of that id (``update_time``
    and ``delete_time`` override the behaviour's PENDING_UPDATE and
    PENDING_DELETE windows for it)."""
    lb = SimulatedLoadBalancer(id=lb_id, name=name, port=port, protocol="HTTP", created=now,
                               updated=now, health_monitor=health_monitor or pmap(),
                               update_time=update_time, delete_time=delete_time)
    cloud = evolve(cloud, next_lb_id=max(cloud.next_lb_id, lb_id + 1))
    return with_load_balancer(cloud, tenant_id, lb)


def set_load_balancer_status(cloud: SimulatedCloud, tenant_id: str, lb_id: int,
                             status: CLBStatus, until: float | None = None) -> SimulatedCloud:
    """The cloud with a load balancer in ``status``; a transient status ends at
    ``until`` (never when it is None)."""
    lb = evolve(tenant_load_balancers(cloud, tenant_id)[lb_id], status=status,
                status_until=until)
    cloud = with_load_balancer(cloud, tenant_id, lb)
    return cloud if until is None else due(cloud, until)


def remove_node(cloud: SimulatedCloud, tenant_id: str, lb_id: int,
                node_id: int) -> SimulatedCloud:
    """The cloud without that node (no PENDING_UPDATE window follows)."""
    lb = tenant_load_balancers(cloud, tenant_id)[lb_id]
    return with_load_balancer(cloud, tenant_id, evolve(lb, nodes=lb.nodes.discard(node_id)))


def set_current_connections(cloud: SimulatedCloud, tenant_id: str, lb_id: int,
                            count: int | None) -> SimulatedCloud:
    """The cloud with a load balancer whose ``stats`` say it holds ``count``
    connections now (None: ``stats`` is not served)."""
    lb = tenant_load_balancers(cloud, tenant_id)[lb_id]
    return with_load_balancer(cloud, tenant_id, evolve(lb, current_connections=count))


def set_node_online(cloud: SimulatedCloud, tenant_id: str, lb_id: int, node_id: int,
                    online: bool, now: float) -> SimulatedCloud:
    """The cloud with a node's health check passing (ONLINE) or failing (OFFLINE)."""
    lb = tenant_load_balancers(cloud, tenant_id)[lb_id]
    node = evolve(lb.nodes[node_id], online_at=now if online else None)
    return with_load_balancer(cloud, tenant_id, evolve(lb, nodes=lb.nodes.set(node_id, node)))

