"""
A real otter2 API on a loopback port in the test process, with a treq client.
"""

from __future__ import annotations

import json
from typing import Any

from attrs import evolve, frozen
from effect import ComposedDispatcher
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IReactorThreads
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.server import Site

from otter2.api.app import OtterAPI
from otter2.api.site import APISite
from otter2.cloud.metadata import GROUP_ID_KEY
from otter2.cloud.request import ServiceRequest, ServiceType
from otter2.config import Config, IdentityConfig, Limits
from otter2.effects import make_dispatcher
from otter2.simulation import CloudHolder, SimulatedCloud, handle, simulated_dispatcher
from otter2.store.sqlite import SQLiteGroupStore

URL_ROOT = "https://autoscale.example"


@frozen
class Answer:
    """What the API answered."""

    code: int
    headers: Headers
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name)
        return values[0] if values else None


def serve_on_loopback(case: SynchronousTestCase, site: Site) -> str:
    """The base URL of ``site`` served on a free loopback port until ``case`` ends."""
    # Twisted types listenTCP's factory as ServerFactory[_ProtoWithFactory], and
    # Factory is invariant in its protocol, so the annotation refuses every Site.
    port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[arg-type]
    case.addCleanup(port.stopListening)
    address = port.getHost()
    assert isinstance(address, IPv4Address)
    return f"http://127.0.0.1:{address.port}"


def minimal_group(**config: Any) -> dict[str, Any]:
    """The smallest valid create-group body."""
    group_config = {"name": "web", "cooldown": 0, "minEntities": 0, **config}
    return {
        "groupConfiguration": group_config,
        "launchConfiguration": {"type": "launch_server", "args": {
            "server": {"flavorRef": "general1-1", "imageRef": "image-1"}}},
    }


class APITestCase(TestCase):
    """Serves the API over a fresh SQLite file; ``self.root`` is tenant t1's URL."""

    limits = Limits()

    def setUp(self) -> None:
        self.store_path = self.mktemp() + ".sqlite"
        self.store = SQLiteGroupStore(IReactorThreads(reactor), self.store_path)
        self.addCleanup(self.store.close)
        self.config = self.make_config(evolve(Config(), url_root=URL_ROOT, limits=self.limits))
        self.api = OtterAPI(self.config, self.make_dispatcher(), reactor)
        self.base = serve_on_loopback(
            self, APISite(self.api.resource(), self.limits.max_body_bytes))
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.http = HTTPClient(Agent(reactor, pool=pool))
        self.root = self.base + "/v1.0/t1"

    def make_config(self, config: Config) -> Config:
        """The API's configuration (subclasses add to it)."""
        return config

    def make_dispatcher(self) -> Any:
        """The API's dispatcher: the store only (subclasses add a cloud)."""
        return make_dispatcher(reactor, self.store)

    async def call(self, method: str, url: str, body: Any = None, raw: bytes | None = None,
                   headers: dict[str, str] | None = None) -> Answer:
        """Send a request; ``url`` is absolute or relative to tenant t1's root."""
        if not url.startswith("http"):
            url = self.root + url
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        response = await self.http.request(
            method, url, data=data,
            headers=Headers({k: [v] for k, v in (headers or {}).items()}))
        content = await response.content()
        return Answer(response.code, response.headers, content)

    async def create_group(self, body: dict[str, Any] | None = None,
                           tenant: str = "t1") -> dict[str, Any]:
        """Create a group (minimal unless given) and return its document."""
        answer = await self.call("POST", f"{self.base}/v1.0/{tenant}/groups/",
                                 body or minimal_group())
        self.assertEqual(answer.code, 201, answer.raw)
        group: dict[str, Any] = answer.json["group"]
        return group

    async def create_policy(self, group_id: str, **policy: Any) -> dict[str, Any]:
        """Create one webhook policy (cooldown 0 unless given) and return it."""
        body = {"name": "p", "type": "webhook", "cooldown": 0, **policy}
        answer = await self.call("POST", f"/groups/{group_id}/policies/", [body])
        self.assertEqual(answer.code, 201, answer.raw)
        created: dict[str, Any] = answer.json["policies"][0]
        return created

    async def desired(self, group_id: str) -> int:
        """The group's desired capacity as the state endpoint reports it."""
        answer = await self.call("GET", f"/groups/{group_id}/state/")
        self.assertEqual(answer.code, 200, answer.raw)
        desired: int = answer.json["group"]["desiredCapacity"]
        return desired


class CloudAPITestCase(APITestCase):
    """The API with Identity configured and a simulated cloud behind it
    (``self.holder``), so that servers can be made in its Nova."""

    def make_config(self, config: Config) -> Config:
        return evolve(config, identity=IdentityConfig("http://identity", "otter", "pw"))

    def make_dispatcher(self) -> Any:
        self.holder = CloudHolder(SimulatedCloud())
        return ComposedDispatcher([simulated_dispatcher(self.holder, reactor),
                                   super().make_dispatcher()])

    def server(self, group_id: str, **metadata: str) -> str:
        """An ACTIVE server in the simulated cloud with the group's membership
        metadata (and ``metadata``)."""
        request = ServiceRequest("t1", ServiceType.CLOUD_SERVERS, "POST", "servers", json={
            "server": {"name": "s", "flavorRef": "f", "imageRef": "i",
                       "metadata": {GROUP_ID_KEY: group_id, **metadata}}})
        self.holder.cloud, response = handle(self.holder.cloud, request, reactor.seconds())
        return str(response.body["server"]["id"])
