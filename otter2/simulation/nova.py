"""
The simulated Nova (compute v2): servers, their metadata, the instance
quota and the paginated listing, answered with the real API's status codes
and error bodies; plus the out-of-band operations tests use on servers.

test-case-name: tests.simulation.test_nova
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from attrs import evolve
from pyrsistent import PMap, PVector, freeze, pmap

from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.model.cloud import ServerState
from otter2.simulation.state import (
    NovaTenant,
    SimulatedCloud,
    SimulatedServer,
    due,
    endpoint,
    json_response,
    new_uuid,
    nova_tenant,
    roll,
    timestamp,
    with_nova_tenant,
    with_server,
)

MAX_LIMIT = 1000  # Nova's osapi_max_limit: the page size when none is asked for
_VM_STATES = {ServerState.BUILD: "building", ServerState.ACTIVE: "active"}


def nova_fault(status: int, kind: str, message: str) -> Response:
    """Nova's error body: ``{kind: {"message": ..., "code": status}}``."""
    return json_response(status, {kind: {"message": message, "code": status}})


def _no_server(server_id: str) -> Response:
    return nova_fault(404, "itemNotFound", f"Instance {server_id} could not be found.")


def handle_nova(cloud: SimulatedCloud, request: ServiceRequest,
                now: float) -> tuple[SimulatedCloud, Response]:
    """The cloud after a Nova request, and Nova's answer."""
    tenant_id, body = request.tenant_id, request.json
    parts = request.path.strip("/").split("/")
    match request.method, parts:
        case "GET", ["servers"]:
            return cloud, _list(cloud, tenant_id, request, detail=False)
        case "GET", ["servers", "detail"]:
            return cloud, _list(cloud, tenant_id, request, detail=True)
        case "POST", ["servers"]:
            return _create(cloud, tenant_id, body, now)
        case "GET", ["images", image_id]:
            status = nova_tenant(cloud, tenant_id).images.get(image_id, "ACTIVE")
            if status == "DELETED":
                return cloud, nova_fault(404, "itemNotFound", "Image not found.")
            return cloud, json_response(200, {"image": {"id": image_id, "status": status}})
        case "GET", ["flavors", flavor_id]:
            if flavor_id in nova_tenant(cloud, tenant_id).missing_flavors:
                return cloud, nova_fault(404, "itemNotFound", "Flavor not found.")
            return cloud, json_response(200, {"flavor": {"id": flavor_id}})
        case "GET", ["limits"]:
            return cloud, json_response(200, {"limits": {"absolute": {
                "maxPersonality": 5, "maxPersonalitySize": 1000,
                "maxServerMeta": cloud.behaviour.metadata_limit}}})
    if len(parts) < 2 or parts[0] != "servers":
        return cloud, nova_fault(404, "itemNotFound", "The resource could not be found.")
    server = nova_tenant(cloud, tenant_id).servers.get(parts[1])
    if server is None:
        return cloud, _no_server(parts[1])
    match request.method, parts[2:]:
        case "GET", []:
            return cloud, json_response(200, {"server": render_server(cloud, tenant_id, server)})
        case "DELETE", []:
            return _delete(cloud, tenant_id, server, now), Response(204)
        case "GET", ["metadata"]:
            return cloud, json_response(200, {"metadata": server.metadata})
        case ("PUT" | "POST") as method, ["metadata"]:
            return _set_metadata(cloud, tenant_id, server, body, now, replace=method == "PUT")
        case "GET", ["metadata", key]:
            if key not in server.metadata:
                return cloud, nova_fault(404, "itemNotFound", "Metadata item was not found")
            return cloud, json_response(200, {"meta": {key: server.metadata[key]}})
        case "PUT", ["metadata", key]:
            return _set_metadata_item(cloud, tenant_id, server, key, body, now)
        case "DELETE", ["metadata", key]:
            if key not in server.metadata:
                return cloud, nova_fault(404, "itemNotFound", "Metadata item was not found")
            changed = evolve(server, metadata=server.metadata.discard(key), updated=now)
            return with_server(cloud, tenant_id, changed), Response(204)
    return cloud, nova_fault(404, "itemNotFound", "The resource could not be found.")


def render_server(cloud: SimulatedCloud, tenant_id: str, server: SimulatedServer) -> dict:
    """
    A server's detail, as ``GET servers/{id}`` and ``servers/detail`` show
    it: a dict of its own, whose parts (read, never written, as every answer
    is) are shared by every answer that shows the server as it is now. A
    tenant's listing shows every server at every round of convergence.
    """
    return dict(_detail(cloud.base_url, tenant_id, server))


@lru_cache(maxsize=1 << 15)
def _detail(base_url: str, tenant_id: str, server: SimulatedServer) -> dict:
    links = _frozen_links(base_url, tenant_id, server.id)
    detail: dict[str, Any] = {
        "id": server.id, "name": server.name, "status": server.status.value,
        "tenant_id": tenant_id, "user_id": "simulated-user", "hostId": "simulated-host",
        "created": timestamp(server.created), "updated": timestamp(server.updated),
        "metadata": server.metadata, "links": links,
        "addresses": {"private": [{"addr": server.private_address, "version": 4}],
                      "public": [{"addr": server.public_address, "version": 4}]},
        "accessIPv4": server.public_address, "accessIPv6": "",
        "image": {"id": server.image_id, "links": []},
        "flavor": {"id": server.flavor_id, "links": []},
        "key_name": None, "OS-DCF:diskConfig": "AUTO",
        "progress": 100 if server.status is ServerState.ACTIVE else 0,
        "OS-EXT-STS:vm_state": _VM_STATES.get(server.status, server.status.value.lower()),
        "OS-EXT-STS:task_state": "deleting" if server.deleted_at is not None else None,
        "OS-EXT-STS:power_state": 1 if server.status is ServerState.ACTIVE else 0,
    }
    if server.status is ServerState.ERROR:
        detail["fault"] = {"code": 500, "created": timestamp(server.updated),
                           "message": "No valid host was found. "}
    return detail


def _links(cloud: SimulatedCloud, tenant_id: str, server_id: str) -> PVector:
    return _frozen_links(cloud.base_url, tenant_id, server_id)


@lru_cache(maxsize=1 << 15)
def _frozen_links(base_url: str, tenant_id: str, server_id: str) -> PVector:
    """
    A server's links, made once and shared by every answer that shows it
    (frozen, which is the same JSON: the HTTP face thaws it). A tenant's
    listing shows thousands of servers at every round of convergence, which
    keeps what it reads as it is (``nova.parse_server``).
    """
    url = f"{endpoint(base_url, ServiceType.CLOUD_SERVERS, tenant_id)}/servers/{server_id}"
    links: PVector = freeze([{"href": url, "rel": "self"}, {"href": url, "rel": "bookmark"}])
    return links


def _list(cloud: SimulatedCloud, tenant_id: str, request: ServiceRequest,
          detail: bool) -> Response:
    """A page of servers, newest first, with a next link when the page is full."""
    query = dict(request.params)
    try:
        limit = min(int(query.get("limit", MAX_LIMIT)), MAX_LIMIT)
    except ValueError:
        return nova_fault(400, "badRequest", "limit param must be an integer")
    if limit < 0:
        return nova_fault(400, "badRequest", "limit param must be positive")
    tenant = nova_tenant(cloud, tenant_id)
    position = len(tenant.order)
    if "marker" in query:
        marker = tenant.servers.get(query["marker"])
        if marker is None:
            return nova_fault(400, "badRequest", f"marker [{query['marker']}] not found")
        position = marker.sequence
    page: list[SimulatedServer] = []
    while position > 0 and len(page) < limit:
        position -= 1
        server = tenant.servers.get(tenant.order[position])
        if server is not None:
            page.append(server)
    if detail:
        servers = [render_server(cloud, tenant_id, s) for s in page]
    else:
        servers = [{"id": s.id, "name": s.name, "links": _links(cloud, tenant_id, s.id)}
                   for s in page]
    body: dict[str, Any] = {"servers": servers}
    if page and len(page) == limit:
        params = [(k, v) for k, v in request.params if k != "marker"] + [("marker", page[-1].id)]
        url = endpoint(cloud.base_url, ServiceType.CLOUD_SERVERS, tenant_id)
        body["servers_links"] = [{"href": f"{url}/{request.path.strip('/')}?{urlencode(params)}",
                                  "rel": "next"}]
    return json_response(200, body)


def _metadata_problem(cloud: SimulatedCloud, metadata: Any) -> Response | None:
    if not isinstance(metadata, PMap) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        return nova_fault(400, "badRequest", "Invalid metadata: keys and values must be strings")
    limit = cloud.behaviour.metadata_limit
    if len(metadata) > limit:
        return nova_fault(403, "forbidden", f"Maximum number of metadata items exceeds {limit}")
    return None


def _create(cloud: SimulatedCloud, tenant_id: str, body: Any,
            now: float) -> tuple[SimulatedCloud, Response]:
    spec = body.get("server") if isinstance(body, PMap) else None
    if not isinstance(spec, PMap):
        return cloud, nova_fault(400, "badRequest", "Malformed request body")
    if "flavorRef" not in spec:
        return cloud, nova_fault(400, "badRequest", "Missing flavorRef attribute")
    metadata = spec.get("metadata", pmap())
    problem = _metadata_problem(cloud, metadata)
    if problem is not None:
        return cloud, problem
    tenant = nova_tenant(cloud, tenant_id)
    quota = cloud.behaviour.instance_quota if tenant.quota is None else tenant.quota
    # Counting is only needed once the tenant holds as many servers as its quota
    # (deleted ones included): a tenant of thousands of servers is not counted
    # at every creation.
    used = (sum(1 for s in tenant.servers.values() if s.deleted_at is None)
            if len(tenant.servers) >= quota else len(tenant.servers))
    if used + 1 > quota:
        return cloud, nova_fault(403, "forbidden", "Quota exceeded for instances: Requested 1, "
                                 f"but already used {used} of {quota} instances")
    cloud, server_id = new_uuid(cloud)
    cloud, password = new_uuid(cloud)
    outcome = ServerState.ACTIVE
    if cloud.behaviour.error_rate > 0:
        cloud, draw = roll(cloud)
        outcome = ServerState.ERROR if draw < cloud.behaviour.error_rate else outcome
    n = cloud.addresses_issued + 1
    ready_at = now + cloud.behaviour.build_time
    server = SimulatedServer(
        id=server_id, name=str(spec.get("name", "")), created=now, updated=now,
        status=ServerState.BUILD if ready_at > now else outcome, outcome=outcome,
        sequence=len(tenant.order), ready_at=ready_at,
        private_address=f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
        public_address=f"198.{18 + (n >> 16 & 1)}.{n >> 8 & 255}.{n & 255}",
        image_id=str(spec.get("imageRef", "")), flavor_id=str(spec["flavorRef"]),
        metadata=metadata)
    tenant = evolve(tenant, servers=tenant.servers.set(server_id, server),
                    order=tenant.order.append(server_id))
    cloud = evolve(with_nova_tenant(cloud, tenant_id, tenant), addresses_issued=n)
    if server.status is ServerState.BUILD:
        cloud = due(cloud, ready_at)
    links = _links(cloud, tenant_id, server_id)
    answer = {"server": {"id": server_id, "links": links, "adminPass": password.replace("-", "")[:12],
                         "OS-DCF:diskConfig": "AUTO"}}
    return cloud, Response(202, answer, {"content-type": "application/json",
                                         "location": links[0]["href"]})


def _delete(cloud: SimulatedCloud, tenant_id: str, server: SimulatedServer,
            now: float) -> SimulatedCloud:
    delete_time = cloud.behaviour.delete_time
    if delete_time <= 0:
        return delete_server(cloud, tenant_id, server.id)
    if server.deleted_at is not None:
        return cloud
    cloud = with_server(cloud, tenant_id, evolve(server, deleted_at=now + delete_time))
    return due(cloud, now + delete_time)


def _set_metadata(cloud: SimulatedCloud, tenant_id: str, server: SimulatedServer, body: Any,
                  now: float, replace: bool) -> tuple[SimulatedCloud, Response]:
    given = body.get("metadata") if isinstance(body, PMap) else None
    if not isinstance(given, PMap):
        return cloud, nova_fault(400, "badRequest", "Malformed request body")
    metadata = given if replace else server.metadata.update(given)
    problem = _metadata_problem(cloud, metadata)
    if problem is not None:
        return cloud, problem
    cloud = with_server(cloud, tenant_id, evolve(server, metadata=metadata, updated=now))
    return cloud, json_response(200, {"metadata": metadata})


def _set_metadata_item(cloud: SimulatedCloud, tenant_id: str, server: SimulatedServer,
                       key: str, body: Any, now: float) -> tuple[SimulatedCloud, Response]:
    meta = body.get("meta") if isinstance(body, PMap) else None
    if not isinstance(meta, PMap) or not meta:
        return cloud, nova_fault(400, "badRequest", "Malformed request body")
    if len(meta) > 1:
        return cloud, nova_fault(400, "badRequest", "Request body contains too many items")
    if key not in meta:
        return cloud, nova_fault(400, "badRequest", "Request body and URI mismatch")
    metadata = server.metadata.set(key, meta[key])
    problem = _metadata_problem(cloud, metadata)
    if problem is not None:
        return cloud, problem
    cloud = with_server(cloud, tenant_id, evolve(server, metadata=metadata, updated=now))
    return cloud, json_response(200, {"meta": {key: meta[key]}})


def advance_nova(tenant: NovaTenant, now: float) -> tuple[NovaTenant, float]:
    """A tenant's servers at ``now`` (builds finished, deletions done), and when
    the next of its transitions is due."""
    servers = tenant.servers.evolver()
    next_change = math.inf
    for server in tenant.servers.values():
        if server.deleted_at is not None:
            if server.deleted_at <= now:
                del servers[server.id]
                continue
            next_change = min(next_change, server.deleted_at)
        if server.status is ServerState.BUILD:
            if server.ready_at <= now:
                servers[server.id] = evolve(server, status=server.outcome,
                                            updated=server.ready_at)
            else:
                next_change = min(next_change, server.ready_at)
    return evolve(tenant, servers=servers.persistent()), next_change


# Out-of-band operations: what an operator or a failing host does to Nova.

def delete_server(cloud: SimulatedCloud, tenant_id: str, server_id: str) -> SimulatedCloud:
    """The cloud without that server (gone at once, whatever the behaviour)."""
    tenant = nova_tenant(cloud, tenant_id)
    return with_nova_tenant(cloud, tenant_id,
                            evolve(tenant, servers=tenant.servers.discard(server_id)))


def set_server_status(cloud: SimulatedCloud, tenant_id: str, server_id: str,
                      status: ServerState, now: float) -> SimulatedCloud:
    """The cloud with a server forced into a status (BUILD stays until changed)."""
    server = nova_tenant(cloud, tenant_id).servers[server_id]
    return with_server(cloud, tenant_id, evolve(server, status=status, updated=now,
                                                ready_at=math.inf, outcome=status))


def set_server_metadata(cloud: SimulatedCloud, tenant_id: str, server_id: str,
                        metadata: Any) -> SimulatedCloud:
    """The cloud with a server's metadata replaced (to disown it, say)."""
    server = nova_tenant(cloud, tenant_id).servers[server_id]
    return with_server(cloud, tenant_id, evolve(server, metadata=metadata))


def set_image_status(cloud: SimulatedCloud, tenant_id: str, image_id: str,
                     status: str) -> SimulatedCloud:
    """The cloud with an image in ``status`` (``DELETED``: gone)."""
    tenant = nova_tenant(cloud, tenant_id)
    return with_nova_tenant(cloud, tenant_id,
                            evolve(tenant, images=tenant.images.set(image_id, status)))


def remove_flavor(cloud: SimulatedCloud, tenant_id: str, flavor_id: str) -> SimulatedCloud:
    """The cloud without that flavor."""
    tenant = nova_tenant(cloud, tenant_id)
    return with_nova_tenant(cloud, tenant_id, evolve(
        tenant, missing_flavors=tenant.missing_flavors.add(flavor_id)))


def set_quota(cloud: SimulatedCloud, tenant_id: str, instances: int) -> SimulatedCloud:
    """The cloud with a tenant allowed at most ``instances`` servers."""
    tenant = nova_tenant(cloud, tenant_id)
    return with_nova_tenant(cloud, tenant_id, evolve(tenant, quota=instances))
