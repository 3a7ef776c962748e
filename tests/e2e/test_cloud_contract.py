"""
The Nova, CLB, RackConnect v3 and Heat behaviour suite that the simulated cloud keeps
(``tests/simulation/contract.py``), run against mimic through otter2's real
HTTP performer: the catalog comes from mimic's Identity (a password login),
every request goes through `perform_service_request` in region ORD.

This mimic runs on its own clock (no ``--realtime``), so `pass_time` is a
``tick`` and the suite's 30 s builds and 60 s outages take no real time.
What the suite does out of band maps onto mimic's control planes:

- a build time: ``server_building`` metadata on each create;
- a forced status: ``POST {cloudServersBehavior}/attributes/``;
- a Nova outage: a ``fail`` creation behaviour, removed once the outage's
  time has passed on mimic's clock;
- an instance quota: mimic has none. A ``sequence`` creation behaviour lets
  the creates up to the limit through and refuses the next ones 403 with
  Nova's quota message (mimic counts creates, not live servers);
- a PENDING_UPDATE window: ``lb_pending_update`` metadata on the CLB, and a
  PENDING_DELETE window ``lb_pending_delete`` (without it mimic removes a
  deleted CLB at once);
- a RackConnect v3 pool: the one mimic gives every tenant;
- Heat needs nothing: mimic serves it in ORD and its stacks change state at once.

mimic uses the build metadata in preference to any creation behaviour, so
while a behaviour is in place new servers are created without it (and are
ACTIVE at once).
"""

from __future__ import annotations

import itertools
import json
import math
import os
from typing import Any

from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.web.client import Agent, HTTPConnectionPool

from otter2.cloud.catalog import public_endpoint_url
from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.effects.auth import CachingAuthenticator, PasswordAuthenticator
from otter2.effects.http import perform_service_request
from tests.e2e.support import REGION, Mimic, shared_mimic
from tests.simulation.contract import cloud_behaviour_tests

NOVA_CONTROL = "cloudServersBehavior"
REFUSED_AFTER_LIMIT = 100  # creates a quota refuses before mimic's sequence starts over
_tenants = itertools.count(1)


class MimicCloudUnderTest:
    """A tenant of a mimic on its own clock, reached through otter2's performer."""

    build_time = 30.0

    def __init__(self, mimic: Mimic) -> None:
        self.mimic = mimic
        self.tenant_id = f"{os.getpid()}{next(_tenants):04d}"
        # Not persistent: no connection outlives the test (trial's dirty reactor check).
        self.http = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor,
                                                                      persistent=False)))
        login = PasswordAuthenticator(self.http, mimic.identity, f"contract-{self.tenant_id}",
                                      "any password does")
        self.authenticator = CachingAuthenticator(login, reactor, ttl=300.0, retries=0,
                                                  retry_interval=0.0)
        self.elapsed = 0.0  # on mimic's clock, since this test began
        self.behaviours: dict[str, float] = {}  # creation behaviour id: when it ends

    def send(self, request: ServiceRequest) -> Deferred[Response]:
        return perform_service_request(self.http, self.authenticator, REGION, None, None,
                                       request)

    async def pass_time(self, seconds: float) -> None:
        await self._call("POST", f"{self.mimic.url}/mimic/v1.1/tick", {"amount": seconds},
                         200)
        self.elapsed += seconds
        for behaviour_id, end in list(self.behaviours.items()):
            if end <= self.elapsed:
                await self._call("DELETE", await self._nova_control(
                    f"behaviors/creation/{behaviour_id}"), None, 204)
                del self.behaviours[behaviour_id]

    def server_metadata(self) -> dict[str, str]:
        return {} if self.behaviours else {"server_building": f"{self.build_time:g}"}

    async def new_load_balancer(self, pending_update: float, pending_delete: float = 0) -> str:
        metadata = [{"key": key, "value": str(math.ceil(seconds))}
                    for key, seconds in (("lb_pending_update", pending_update),
                                         ("lb_pending_delete", pending_delete)) if seconds]
        body = {"loadBalancer": {"name": "contract", "protocol": "HTTP", "port": 80,
                                 "virtualIps": [{"type": "PUBLIC"}], "nodes": [],
                                 "metadata": metadata}}
        response: Response = await self.send(ServiceRequest(
            self.tenant_id, ServiceType.CLOUD_LOAD_BALANCERS, "POST", "loadbalancers",
            json=body))
        if response.status != 202:
            raise AssertionError(f"mimic refused a load balancer: {response}")
        return str(response.body["loadBalancer"]["id"])

    async def existing_pool(self) -> str:
        """The one pool mimic gives every tenant (found by listing them, as mimic
        has no other way to name it)."""
        _, catalog = await self.authenticator.authenticate(self.tenant_id)
        pools = await self._call("GET", public_endpoint_url(catalog, "rackconnect", REGION)
                                 + "/load_balancer_pools", None, 200)
        return str(pools[0]["id"])

    async def force_server_status(self, server_id: str, status: str) -> None:
        await self._call("POST", await self._nova_control("attributes/"),
                         {"status": {server_id: status}}, 201)

    async def limit_instances(self, count: int) -> None:
        listed: Response = await self.send(ServiceRequest(
            self.tenant_id, ServiceType.CLOUD_SERVERS, "GET", "servers/detail"))
        if listed.status != 200:
            raise AssertionError(f"mimic would not list servers: {listed}")
        allowed = max(0, count - len(listed.body["servers"]))
        refusal = {"name": "fail", "parameters": {
            "code": 403, "type": "forbidden",
            "message": f"Quota exceeded for instances: Requested 1, but already used "
                       f"{count} of {count} instances"}}
        await self._add_behaviour({"name": "sequence", "parameters": {"behaviors": [
            *[{"name": "default"}] * allowed, *[refusal] * REFUSED_AFTER_LIMIT]}}, math.inf)

    async def fail_nova(self, seconds: float) -> None:
        await self._add_behaviour({"name": "fail", "parameters": {
            "code": 500, "message": "Nova fails (a mimic creation behaviour)"}},
            self.elapsed + seconds)

    async def _add_behaviour(self, behaviour: dict[str, Any], end: float) -> None:
        answer = await self._call("POST", await self._nova_control("behaviors/creation"),
                                  {"criteria": [{"server_name": ".*"}], **behaviour}, 201)
        self.behaviours[answer["id"]] = end

    async def _nova_control(self, path: str) -> str:
        _, catalog = await self.authenticator.authenticate(self.tenant_id)
        return f"{public_endpoint_url(catalog, NOVA_CONTROL, REGION)}/{path}"

    async def _call(self, method: str, url: str, body: Any, status: int) -> Any:
        """The JSON answer (or None) of a control-plane request that must answer ``status``."""
        response = await self.http.request(method, url,
                                           **({} if body is None else {"json": body}))
        content = await response.content()
        if response.code != status:
            raise AssertionError(f"mimic answered {method} {url} {response.code}: "
                                 f"{content[:300]!r}")
        return json.loads(content) if content.strip() else None


class MimicBehaviourTests(cloud_behaviour_tests(  # type: ignore[misc]  # a computed base class
        lambda case: MimicCloudUnderTest(shared_mimic(realtime=False)))):
    """mimic, through otter2's HTTP performer, keeps the Nova, CLB, RCv3 and Heat contract."""
