"""
An in-memory cloud that behaves like Nova, Cloud Load Balancers,
RackConnect v3 and Heat do, as pure transitions on an immutable
`SimulatedCloud`:

- ``handle(cloud, request, now)`` answers one `ServiceRequest` the way the
  real service would (status codes, bodies, pagination, error bodies);
- ``advance(cloud, now)`` lets time pass: BUILD servers become ACTIVE (or
  ERROR, at the behaviour's rate) after the build time, PENDING_UPDATE load
  balancers become ACTIVE after their window, stack operations end after the
  stack time;
- the out-of-band operations (``delete_server``, ``set_server_status``,
  ``remove_node``, ``set_load_balancer_status``, ``fail_service``,
  ``limit_rate``, ``set_quota``, ``damage_stack``...) are what operators and failing
  hosts do behind otter2's back.

``otter2.simulation.performers`` serves ``handle`` to the dispatcher and over
HTTP; ``otter2.simulation.run`` drives convergence against it.

test-case-name: tests.simulation.test_cloud
"""

from __future__ import annotations

import math
from collections.abc import Callable

from attrs import evolve

from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.simulation.clb import (
    add_load_balancer,
    advance_load_balancers,
    handle_clb,
    remove_node,
    set_current_connections,
    set_load_balancer_status,
    set_node_online,
)
from otter2.simulation.clb_nodes import clb_error
from otter2.simulation.heat import handle_heat
from otter2.simulation.heat_stacks import (
    advance_heat,
    damage_stack,
    delete_stack,
    fail_stack_deletes,
    set_stack_status,
    tenant_stacks,
)
from otter2.simulation.heat_validation import heat_error
from otter2.simulation.nova import (
    advance_nova,
    delete_server,
    handle_nova,
    nova_fault,
    set_quota,
    set_server_metadata,
    set_server_status,
)
from otter2.simulation.rcv3 import add_pool, handle_rcv3, set_pool_status
from otter2.simulation.state import (
    JSON_HEADERS,
    Behaviour,
    CLBStatus,
    Outage,
    SimulatedCloud,
    json_response,
    roll,
)

Handler = Callable[[SimulatedCloud, ServiceRequest, float], tuple[SimulatedCloud, Response]]

_HANDLERS: dict[ServiceType, Handler] = {
    ServiceType.CLOUD_SERVERS: handle_nova,
    ServiceType.CLOUD_LOAD_BALANCERS: handle_clb,
    ServiceType.RACKCONNECT_V3: handle_rcv3,
    ServiceType.ORCHESTRATION: handle_heat,
}


def handle(cloud: SimulatedCloud, request: ServiceRequest,
           now: float) -> tuple[SimulatedCloud, Response]:
    """
    The cloud after ``request`` arrives at ``now``, and the service's answer.

    Time passes first (see `advance`). A service in an outage, or a request
    losing the draw against the behaviour's fault rate, gets a 5xx and
    changes nothing; so does a tenant's request over its rate limit, answered
    413 or 429 with the seconds left in ``Retry-After``.
    """
    cloud = advance(cloud, now)
    limit = cloud.rate_limits.get((request.tenant_id, request.service))
    if limit is not None and now < limit.until:
        return cloud, rate_limited(request.service, limit.status, limit.until - now)
    outage = cloud.outages.get(request.service)
    if outage is not None and now < outage.until:
        return cloud, service_fault(request.service, outage.status)
    if cloud.behaviour.fault_rate > 0:
        cloud, draw = roll(cloud)
        if draw < cloud.behaviour.fault_rate:
            return cloud, service_fault(request.service, 500)
    handler = _HANDLERS.get(request.service)
    if handler is None:
        return cloud, json_response(404, {"message": f"{request.service.value} is not "
                                          "simulated", "code": 404})
    return handler(cloud, request, now)


def advance(cloud: SimulatedCloud, now: float) -> SimulatedCloud:
    """The cloud at ``now``: every timed transition due by then has happened."""
    if now < cloud.next_change:
        return cloud
    next_change = math.inf
    nova = cloud.nova.evolver()
    for tenant_id, tenant in cloud.nova.items():
        nova[tenant_id], due_at = advance_nova(tenant, now)
        next_change = min(next_change, due_at)
    load_balancers = cloud.load_balancers.evolver()
    for tenant_id, lbs in cloud.load_balancers.items():
        load_balancers[tenant_id], due_at = advance_load_balancers(lbs, now)
        next_change = min(next_change, due_at)
    heat = cloud.heat.evolver()
    for tenant_id, stacks in cloud.heat.items():
        heat[tenant_id], due_at = advance_heat(stacks, now)
        next_change = min(next_change, due_at)
    return evolve(cloud, nova=nova.persistent(), load_balancers=load_balancers.persistent(),
                  heat=heat.persistent(), next_change=next_change)


def service_fault(service: ServiceType, status: int) -> Response:
    """What a failing service answers, in its own error body shape."""
    if service is ServiceType.CLOUD_SERVERS:
        if status == 503:
            return nova_fault(503, "serviceUnavailable", "Service Unavailable")
        return nova_fault(status, "computeFault", "The server has either erred or is "
                          "incapable of performing the requested operation.")
    if service is ServiceType.CLOUD_LOAD_BALANCERS:
        return clb_error(status, "Service Unavailable" if status == 503 else
                         "An unknown exception has occurred. Please contact support.")
    if service is ServiceType.ORCHESTRATION:
        if status == 503:
            return heat_error(503, "HTTPServiceUnavailable", "Service Unavailable")
        return heat_error(status, "HTTPInternalServerError", "The server has either erred or "
                          "is incapable of performing the requested operation.")
    return json_response(status, {"errors": ["Internal server error"]})


def rate_limited(service: ServiceType, status: int, seconds: float) -> Response:
    """
    What a service answers a tenant over its rate limit: Nova and CLB an
    ``overLimit`` fault, RackConnect its error list, Heat its error body;
    all of them with the whole seconds left before the limit lifts in
    ``Retry-After``.
    """
    wait = str(max(1, math.ceil(seconds)))
    if service is ServiceType.ORCHESTRATION:
        error = heat_error(status, "HTTPTooManyRequests" if status == 429 else
                           "HTTPRequestEntityTooLarge", "This request was rate-limited.")
        return Response(status, error.body, {**JSON_HEADERS, "retry-after": wait})
    if service is ServiceType.RACKCONNECT_V3:
        body: dict = {"errors": ["Too many requests: rate limit exceeded"]}
    else:
        body = {"overLimit": {"code": status, "message": "This request was rate-limited.",
                              "retryAfter": wait,
                              "details": "Too many requests for this account; retry later."}}
    return Response(status, body, {**JSON_HEADERS, "retry-after": wait})


def limit_rate(cloud: SimulatedCloud, tenant_id: str, service: ServiceType, until: float,
               status: int = 429) -> SimulatedCloud:
    """The cloud with a service refusing every request of a tenant as over the
    account's rate limit until ``until`` (a storm of 429s, or of Nova's and
    CLB's 413s); other tenants are served."""
    return evolve(cloud, rate_limits=cloud.rate_limits.set((tenant_id, service),
                                                           Outage(until, status)))


def fail_service(cloud: SimulatedCloud, service: ServiceType, until: float,
                 status: int = 500) -> SimulatedCloud:
    """The cloud with a service answering ``status`` to everything until ``until``."""
    return evolve(cloud, outages=cloud.outages.set(service, Outage(until, status)))


__all__ = [
    "Behaviour", "CLBStatus", "SimulatedCloud", "add_load_balancer", "add_pool", "advance",
    "damage_stack", "delete_server", "delete_stack", "fail_service", "fail_stack_deletes",
    "handle", "limit_rate", "rate_limited", "remove_node", "service_fault",
    "set_current_connections", "set_load_balancer_status", "set_node_online", "set_pool_status", "set_quota",
    "set_server_metadata", "set_server_status", "set_stack_status", "tenant_stacks",
]
