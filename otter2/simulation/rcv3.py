"""
The simulated RackConnect v3: load balancer pools and their cloud-server
members, changed in bulk (201/204, or 409 with ``{"errors": [...]}`` and no
change at all); plus the out-of-band operations tests use on pools.

test-case-name: tests.simulation.test_rcv3
"""

from __future__ import annotations

from typing import Any

from attrs import evolve
from pyrsistent import PMap, PVector

from otter2.cloud.request import Response, ServiceRequest
from otter2.model.cloud import ServerState
from otter2.simulation.state import (
    PoolMember,
    SimulatedCloud,
    SimulatedPool,
    SimulatedServer,
    json_response,
    new_uuid,
    nova_tenant,
    tenant_pools,
    timestamp,
    with_pool,
)


def _errors(status: int, *messages: str) -> Response:
    return json_response(status, {"errors": list(messages)})


def handle_rcv3(cloud: SimulatedCloud, request: ServiceRequest,
                now: float) -> tuple[SimulatedCloud, Response]:
    """The cloud after a RackConnect v3 request, and its answer."""
    pools = tenant_pools(cloud, request.tenant_id)
    match request.method, request.path.strip("/").split("/"):
        case "GET", ["load_balancer_pools"]:
            return cloud, json_response(200, [_render_pool(pools[i]) for i in sorted(pools)])
        case ("POST" | "DELETE") as method, ["load_balancer_pools", "nodes"]:
            pairs = _pairs(request.json)
            if pairs is None:
                return cloud, _errors(400, "Request body must be a list of cloud_server "
                                           "and load_balancer_pool pairs")
            if method == "POST":
                return _add(cloud, request.tenant_id, pairs, now)
            return _remove(cloud, request.tenant_id, pairs)
        case "GET", ["load_balancer_pools", pool_id, *rest] if rest in ([], ["nodes"]):
            pool = pools.get(pool_id.lower())
            if pool is None:
                return cloud, _errors(404, f"Load Balancer Pool {pool_id} does not exist")
            if rest:
                members = sorted(pool.members.values(), key=lambda m: (m.created, m.id))
                return cloud, json_response(200, [_render_member(pool, m) for m in members])
            return cloud, json_response(200, _render_pool(pool))
    return cloud, _errors(404, "Resource not found")


def _pairs(body: Any) -> list[tuple[str, str]] | None:
    """(pool id lower-cased, server id) pairs of a bulk body, or None if malformed."""
    if not isinstance(body, PVector):
        return None
    pairs = []
    for item in body:
        try:
            pairs.append((str(item["load_balancer_pool"]["id"]).lower(),
                          str(item["cloud_server"]["id"])))
        except (KeyError, TypeError):
            return None
    return pairs


def _render_pool(pool: SimulatedPool) -> dict:
    count = len(pool.members)
    return {"id": pool.id, "name": pool.name, "port": pool.port, "status": pool.status,
            "status_detail": None, "virtual_ip": pool.virtual_ip,
            "node_counts": {"cloud_servers": count, "external": 0, "total": count}}


def _render_member(pool: SimulatedPool, member: PoolMember) -> dict:
    return {"id": member.id, "created": timestamp(member.created), "updated": None,
            "load_balancer_pool": {"id": pool.id}, "cloud_server": {"id": member.server_id},
            "status": "ACTIVE", "status_detail": None}


def _pool_problem(pools: PMap, pool_id: str) -> str | None:
    pool = pools.get(pool_id)
    if pool is None:
        return f"Load Balancer Pool {pool_id} does not exist"
    if pool.status != "ACTIVE":
        return f"Load Balancer Pool {pool_id} is not in an ACTIVE state"
    return None


def _server_problem(server: SimulatedServer | None, server_id: str) -> str | None:
    if server is None:
        return f"Cloud Server {server_id} does not exist"
    if server.status is not ServerState.ACTIVE:
        return f"Cloud Server {server_id} is unprocessable"
    return None


def _add(cloud: SimulatedCloud, tenant_id: str, pairs: list[tuple[str, str]],
         now: float) -> tuple[SimulatedCloud, Response]:
    pools = tenant_pools(cloud, tenant_id)
    servers = nova_tenant(cloud, tenant_id).servers
    errors = []
    for pool_id, server_id in pairs:
        problem = _pool_problem(pools, pool_id) or _server_problem(servers.get(server_id),
                                                                   server_id)
        if problem is None and server_id in pools[pool_id].members:
            problem = (f"Cloud Server {server_id} is already a member of "
                       f"Load Balancer Pool {pool_id}")
        if problem is not None:
            errors.append(problem)
    if errors:
        return cloud, _errors(409, *errors)
    added = []
    for pool_id, server_id in pairs:
        cloud, member_id = new_uuid(cloud)
        pool = tenant_pools(cloud, tenant_id)[pool_id]
        member = PoolMember(id=member_id, server_id=server_id, created=now)
        cloud = with_pool(cloud, tenant_id,
                          evolve(pool, members=pool.members.set(server_id, member)))
        added.append(_render_member(pool, member))
    return cloud, json_response(201, added)


def _remove(cloud: SimulatedCloud, tenant_id: str,
            pairs: list[tuple[str, str]]) -> tuple[SimulatedCloud, Response]:
    pools = tenant_pools(cloud, tenant_id)
    errors = []
    for pool_id, server_id in pairs:
        problem = _pool_problem(pools, pool_id)
        if problem is None and server_id not in pools[pool_id].members:
            problem = (f"Cloud Server {server_id} is not a member of "
                       f"Load Balancer Pool {pool_id}")
        if problem is not None:
            errors.append(problem)
    if errors:
        return cloud, _errors(409, *errors)
    for pool_id, server_id in pairs:
        pool = tenant_pools(cloud, tenant_id)[pool_id]
        cloud = with_pool(cloud, tenant_id,
                          evolve(pool, members=pool.members.discard(server_id)))
    return cloud, Response(204)


# Out-of-band operations: what the RackConnect operator does.

def add_pool(cloud: SimulatedCloud, tenant_id: str, pool_id: str, *,
             name: str = "default", port: int = 80) -> SimulatedCloud:
    """The cloud with a new, empty, ACTIVE pool (its id lower-cased)."""
    number = len(tenant_pools(cloud, tenant_id)) + 1
    pool = SimulatedPool(id=pool_id.lower(), name=name, port=port,
                         virtual_ip=f"203.0.113.{number % 256}")
    return with_pool(cloud, tenant_id, pool)


def set_pool_status(cloud: SimulatedCloud, tenant_id: str, pool_id: str,
                    status: str) -> SimulatedCloud:
    """The cloud with a pool in another status (changes to it then get 409)."""
    pool = tenant_pools(cloud, tenant_id)[pool_id.lower()]
    return with_pool(cloud, tenant_id, evolve(pool, status=status))
