"""
The simulated cloud as a `CloudUnderTest` of the behaviour suite, reached
through the fast performer or over HTTP with ``StubTreq``; and a sender of
`ServiceRequest` over treq that the e2e suite can use against mimic.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from effect import Effect
from pyrsistent import pmap
from twisted.internet.task import Clock
from txeffect import perform

from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.model.cloud import ServerState
from otter2.model.group import thaw_json
from otter2.simulation import (
    Behaviour,
    CloudHolder,
    SimulatedCloud,
    add_load_balancer,
    add_pool,
    fail_service,
    handle,
    set_quota,
    set_server_status,
    simulated_catalog,
    simulated_dispatcher,
    simulated_resource,
)
from tests.stub_treq import StubTreq

BASE_URL = "http://cloud.simulated"
REGION = "ORD"
START = 1_900_000_000.0  # 2030-03-17
POOL_ID = "d6d3aa7c-0000-4f7e-9b1e-0123456789ab"


def endpoint_of(catalog: list[dict], service: ServiceType, region: str) -> str:
    """The public URL of a service in a region of an Identity v2 catalog."""
    for entry in catalog:
        if entry["name"] == service.value:
            for place in entry["endpoints"]:
                if place.get("region") == region:
                    url: str = place["publicURL"]
                    return url
    raise LookupError(f"no {service.value} in {region}")


async def send_with_treq(http: Any, catalog: list[dict], region: str,
                         request: ServiceRequest) -> Response:
    """Send ``request`` with a treq client (or ``StubTreq``) to the endpoint the
    catalog names, and the response as a value (JSON body parsed, or text)."""
    url = f"{endpoint_of(catalog, request.service, region)}/{request.path}"
    body = None if request.json is None else thaw_json(request.json)
    response = await http.request(request.method, url, params=list(request.params),
                                  json=body, headers={"accept": "application/json"})
    content = await response.content()
    headers = {name.decode().lower(): values[0].decode()
               for name, values in response.headers.getAllRawHeaders()}
    parsed: Any = None
    if content and "json" in headers.get("content-type", ""):
        parsed = json.loads(content)
    elif content:
        parsed = content.decode("utf-8")
    return Response(response.code, parsed, pmap(headers))


class SimulatedCloudUnderTest:
    """The simulated cloud on a clock, reached through ``sender``."""

    tenant_id = "123456"
    build_time = 30.0

    def __init__(self, sender: Callable[[CloudHolder, Clock],
                                        Callable[[ServiceRequest], Awaitable[Response]]],
                 behaviour: Behaviour = Behaviour(build_time=30.0)) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.holder = CloudHolder(SimulatedCloud(behaviour, base_url=BASE_URL))
        self.send = sender(self.holder, self.clock)
        self.next_lb_id = 1000

    async def pass_time(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def server_metadata(self) -> dict[str, str]:
        return {}

    async def new_load_balancer(self, pending_update: float, pending_delete: float = 0) -> str:
        self.next_lb_id += 1
        self.holder.cloud = add_load_balancer(self.holder.cloud, self.tenant_id,
                                              self.next_lb_id, self.clock.seconds(),
                                              update_time=pending_update,
                                              delete_time=pending_delete or None)
        return str(self.next_lb_id)

    async def existing_pool(self) -> str:
        self.holder.cloud = add_pool(self.holder.cloud, self.tenant_id, POOL_ID)
        return POOL_ID

    async def force_server_status(self, server_id: str, status: str) -> None:
        self.holder.cloud = set_server_status(self.holder.cloud, self.tenant_id, server_id,
                                              ServerState(status), self.clock.seconds())

    async def limit_instances(self, count: int) -> None:
        self.holder.cloud = set_quota(self.holder.cloud, self.tenant_id, count)

    async def fail_nova(self, seconds: float) -> None:
        self.holder.cloud = fail_service(self.holder.cloud, ServiceType.CLOUD_SERVERS,
                                         self.clock.seconds() + seconds)


def through_performer(holder: CloudHolder,
                      clock: Clock) -> Callable[[ServiceRequest], Awaitable[Response]]:
    """Requests performed as intents by the simulated dispatcher."""
    dispatcher = simulated_dispatcher(holder, clock)

    async def send(request: ServiceRequest) -> Response:
        response: Response = await perform(dispatcher, Effect(request))
        return response

    return send


def through_http(holder: CloudHolder,
                 clock: Clock) -> Callable[[ServiceRequest], Awaitable[Response]]:
    """Requests sent with treq (``StubTreq``) to the simulated cloud's HTTP resource,
    at the endpoints of its catalog."""
    http = StubTreq(simulated_resource(holder, clock))

    async def send(request: ServiceRequest) -> Response:
        catalog = simulated_catalog(BASE_URL, REGION, request.tenant_id)
        return await send_with_treq(http, catalog, REGION, request)

    return send


def call(cloud: SimulatedCloud, service: ServiceType, method: str, path: str,
         now: float = START, params: tuple[tuple[str, str], ...] = (), json: Any = None,
         tenant_id: str = "t1") -> tuple[SimulatedCloud, Response]:
    """The cloud after one request to it, and the answer (the pure transition)."""
    return handle(cloud, ServiceRequest(tenant_id, service, method, path, params, json), now)


def create_body(name: str = "s", **metadata: str) -> dict:
    """A Nova create-server body."""
    return {"server": {"name": name, "imageRef": "image", "flavorRef": "general1-1",
                       "metadata": metadata}}
