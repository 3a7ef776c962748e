"""
The simulated cloud served two ways, both over one mutable `CloudHolder`
and a clock (a ``twisted.internet.task.Clock`` in tests):

- ``simulated_dispatcher(holder, clock)`` performs `ServiceRequest` intents
  directly, so convergence runs against it through the ordinary dispatcher
  composition;
- ``simulated_resource(holder, clock)`` answers the same requests over HTTP
  under ``/{service}/{tenant}/...``, the endpoints ``simulated_catalog``
  lists, so the real treq performer and parsers can run against it (through
  ``treq.testing.StubTreq``).

Each answer arrives ``behaviour.latency`` seconds after its request, by the
clock; the cloud changes when the request arrives.

test-case-name: tests.simulation.test_performers
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from attrs import define
from effect import ComposedDispatcher, TypeDispatcher, base_dispatcher
from klein import Klein
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.web.resource import Resource
from twisted.web.server import Request
from txeffect import deferred_performer, make_twisted_dispatcher

from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.effects.dispatcher import world_dispatcher
from otter2.model.group import thaw_json
from otter2.simulation.cloud import handle
from otter2.simulation.state import SimulatedCloud, endpoint

_CATALOG_TYPES = {
    ServiceType.CLOUD_SERVERS: "compute",
    ServiceType.CLOUD_LOAD_BALANCERS: "rax:load-balancer",
    ServiceType.RACKCONNECT_V3: "rax:rackconnect",
    ServiceType.ORCHESTRATION: "orchestration",
}


@define
class CloudHolder:
    """The simulated cloud as it is now: the one mutable cell around the value."""

    cloud: SimulatedCloud


def answer(holder: CloudHolder, clock: IReactorTime,
           request: ServiceRequest) -> Response | Deferred[Response]:
    """The cloud's answer to a request arriving now: at once, or after the
    behaviour's latency."""
    holder.cloud, response = handle(holder.cloud, request, clock.seconds())
    latency = holder.cloud.behaviour.latency
    if latency <= 0:
        return response
    return deferLater(clock, latency, lambda: response)


def simulated_dispatcher(holder: CloudHolder, clock: IReactorTime) -> TypeDispatcher:
    """A performer of `ServiceRequest` against the simulated cloud in ``holder``."""

    @deferred_performer
    def perform(dispatcher: Any, request: ServiceRequest) -> Any:
        return answer(holder, clock, request)

    return TypeDispatcher({ServiceRequest: perform})


def standalone_dispatcher(holder: CloudHolder, clock: IReactorTime) -> ComposedDispatcher:
    """The simulated cloud plus the time (``Now``, ``Delay``), parallel effects
    and the base intents, all by ``clock``: enough to run convergence alone."""
    return ComposedDispatcher([
        simulated_dispatcher(holder, clock),
        world_dispatcher(clock),
        make_twisted_dispatcher(clock),
        base_dispatcher,
    ])


def simulated_catalog(base_url: str, region: str, tenant_id: str) -> list[dict]:
    """The Identity v2 ``serviceCatalog`` of a tenant of the simulated cloud
    served at ``base_url``."""
    return [{"name": service.value, "type": kind,
             "endpoints": [{"region": region, "tenantId": tenant_id,
                            "publicURL": endpoint(base_url, service, tenant_id)}]}
            for service, kind in _CATALOG_TYPES.items()]


class _SimulatedCloudSite:
    """The HTTP face of the simulated cloud."""

    app = Klein()

    def __init__(self, holder: CloudHolder, clock: IReactorTime) -> None:
        self.holder = holder
        self.clock = clock

    @app.route("/<string:service>/<string:tenant_id>/<path:path>",
               methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    def serve(self, request: Request, service: str, tenant_id: str,
              path: str) -> Any:
        try:
            kind = ServiceType(service)
        except ValueError:
            return _write(request, Response(404, "No such service", {"content-type": "text/plain"}))
        content = request.content.read() if request.content is not None else b""
        try:
            body = json.loads(content) if content.strip() else None
        except ValueError:
            return _write(request, Response(400, "Malformed JSON", {"content-type": "text/plain"}))
        query = urlsplit(request.uri.decode("utf-8")).query
        service_request = ServiceRequest(
            tenant_id=tenant_id, service=kind, method=request.method.decode("ascii"),
            path=path, params=tuple(parse_qsl(query, keep_blank_values=True)), json=body)
        result = answer(self.holder, self.clock, service_request)
        if isinstance(result, Deferred):
            return result.addCallback(lambda response: _write(request, response))
        return _write(request, result)


def _write(request: Request, response: Response) -> bytes:
    """The body of ``response``, after setting its status and headers on ``request``."""
    request.setResponseCode(response.status)
    for name, value in response.headers.items():
        request.setHeader(name, value)
    if response.body is None:
        return b""
    if isinstance(response.body, str):
        return response.body.encode("utf-8")
    return json.dumps(thaw_json(response.body)).encode("utf-8")


def simulated_resource(holder: CloudHolder, clock: IReactorTime) -> Resource:
    """The simulated cloud over HTTP: ``/{service}/{tenant}/{path}``, where
    service is a catalog name (``cloudServersOpenStack``...)."""
    resource: Resource = _SimulatedCloudSite(holder, clock).app.resource()
    return resource
