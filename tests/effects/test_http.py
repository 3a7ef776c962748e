"""
Tests for otter2.effects.http: the ServiceRequest performer for real, with
treq's StubTreq serving a small Klein fake of a cloud service.
"""

import json
from typing import Any

from klein import Klein
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import IRequest
from txeffect import perform

from otter2.cloud import nova
from otter2.cloud.catalog import Catalog, public_endpoint_url
from otter2.cloud.request import NoSuchEndpoint, Response, ServiceRequest, ServiceType
from otter2.convergence.executing import step_effect
from otter2.convergence.gathering import gather_group
from otter2.convergence.steps import DeleteServer
from otter2.effects.dispatcher import make_dispatcher
from otter2.effects.http import RequestWatch, StaticAuthenticator, perform_service_request
from otter2.store.memory import MemoryGroupStore
from tests.stub_treq import StubTreq

CATALOG = [
    {"name": "cloudServersOpenStack", "type": "compute", "endpoints": [
        {"region": "DFW", "publicURL": "http://dfw.servers.example/v2/t1"},
        {"region": "ORD", "publicURL": "http://ord.servers.example/v2/t1/"}]},
    {"name": "cloudServersPreprod", "type": "compute", "endpoints": [
        {"region": "ORD", "publicURL": "http://preprod.servers.example/v2/t1"}]},
    {"name": "cloudLoadBalancers", "type": "rax:load-balancer", "endpoints": [
        {"region": "DFW", "publicURL": "http://dfw.clb.example/v1.0/t1"}]},
]


class FakeNova:
    """A few Nova routes that record what they are sent; only ``good`` tokens pass."""

    app = Klein()

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.good_tokens = {"good"}
        self.over_quota = False

    def _record(self, request: IRequest) -> bool:
        headers = {name.decode().lower(): values[-1].decode()
                   for name, values in request.requestHeaders.getAllRawHeaders()}
        self.seen.append({"method": request.method.decode(), "uri": request.uri.decode(),
                          "host": headers.get("host"), "headers": headers,
                          "body": request.content.read().decode()})
        if headers.get("x-auth-token") not in self.good_tokens:
            request.setResponseCode(401)
            request.setHeader("content-type", "application/json")
            return False
        return True

    @app.route("/v2/t1/servers/<server_id>", methods=["GET", "DELETE"])
    def server(self, request: IRequest, server_id: str) -> Any:
        if not self._record(request):
            return json.dumps({"unauthorized": {"message": "Invalid token", "code": 401}})
        request.setHeader("content-type", "application/json")
        if server_id == "gone":
            request.setResponseCode(404)
            return json.dumps({"itemNotFound": {"message": "Instance not found", "code": 404}})
        if request.method == b"DELETE":
            request.setResponseCode(204)
            return b""
        return json.dumps({"server": {"id": server_id, "status": "ACTIVE"}})

    @app.route("/v2/t1/servers/detail")
    def detail(self, request: IRequest) -> Any:
        self._record(request)
        request.setHeader("content-type", "application/json")
        marker = request.args.get(b"marker", [b""])[0].decode()
        first = {"id": "a", "status": "ACTIVE", "created": "2015-01-01T00:00:00Z",
                 "metadata": {"rax:autoscale:group:id": "g1"}}
        second = dict(first, id="b", metadata={})
        if marker:
            return json.dumps({"servers": [second], "servers_links": []})
        return json.dumps({"servers": [first], "servers_links": [
            {"rel": "next", "href": "http://ord.servers.example/v2/t1/servers/detail?"
                                    "limit=100&marker=a"}]})

    @app.route("/v2/t1/servers", methods=["POST"])
    def create(self, request: IRequest) -> Any:
        if not self._record(request):
            return json.dumps({"unauthorized": {"message": "Invalid token", "code": 401}})
        if self.over_quota:
            request.setResponseCode(403)
            request.setHeader("content-type", "application/json")
            return json.dumps({"forbidden": {"message": "Quota exceeded for instances",
                                             "code": 403}})
        request.setResponseCode(202)
        request.setHeader("content-type", "application/json")
        return json.dumps({"server": {"id": "s9"}, "echo": json.loads(self.seen[-1]["body"])})

    @app.route("/v2/t1/flavors")
    def flavors(self, request: IRequest) -> Any:
        request.setHeader("content-type", "application/json")
        if not self._record(request):
            request.setResponseCode(403)
            return json.dumps({"forbidden": {"message": "Policy doesn't allow it", "code": 403}})
        return json.dumps({"flavors": []})

    @app.route("/v2/t1/plain")
    def plain(self, request: IRequest) -> Any:
        self._record(request)
        request.setResponseCode(403)
        request.setHeader("content-type", "text/plain")
        return b"403 Forbidden\n\nAccess was denied to this resource."


class RotatingAuthenticator:
    """Hands out ``stale`` first and ``good`` after each invalidation; counts both."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.authentications = 0
        self.invalidations = 0

    def authenticate(self, tenant_id: str) -> Deferred[tuple[str, Catalog]]:
        self.authentications += 1
        return succeed((self.tokens[min(self.invalidations, len(self.tokens) - 1)], CATALOG))

    def invalidate(self, tenant_id: str) -> None:
        self.invalidations += 1


def request(path: str, method: str = "GET", **kwargs: Any) -> ServiceRequest:
    return ServiceRequest("t1", ServiceType.CLOUD_SERVERS, method, path, **kwargs)


class PerformServiceRequestTests(SynchronousTestCase):
    """The performer against a fake Nova."""

    def setUp(self) -> None:
        self.nova = FakeNova()
        self.stub = StubTreq(self.nova.app.resource())

    def perform(self, intent: ServiceRequest, authenticator: Any = None,
                region: str = "ORD", names: Any = None) -> Response:
        authenticator = authenticator or StaticAuthenticator("good", CATALOG)
        deferred = perform_service_request(self.stub, authenticator, region, names, None,
                                           intent)
        self.stub.flush()
        return self.successResultOf(deferred)

    def test_headers_body_and_query(self) -> None:
        """The token, JSON headers and User-Agent are sent, with the JSON body and query."""
        response = self.perform(request("servers", "POST", params=(("a", "1"), ("a", "2")),
                                        json={"server": {"name": "x"}}))
        self.assertEqual(response.status, 202)
        self.assertEqual(response.body["echo"], {"server": {"name": "x"}})
        [seen] = self.nova.seen
        self.assertEqual(seen["uri"], "/v2/t1/servers?a=1&a=2")
        self.assertEqual(
            {k: seen["headers"][k] for k in ["content-type", "accept", "user-agent",
                                            "x-auth-token"]},
            {"content-type": "application/json", "accept": "application/json",
             "user-agent": "otter2", "x-auth-token": "good"})

    def test_region(self) -> None:
        """The endpoint is the named service's in the configured region."""
        self.perform(request("servers/s1"), region="ORD")
        self.perform(request("servers/s1"), region="DFW")
        self.assertEqual([s["host"] for s in self.nova.seen],
                         ["ord.servers.example", "dfw.servers.example"])

    def test_configured_name(self) -> None:
        """A configured service name picks that catalog entry."""
        self.perform(request("servers/s1"),
                     names={ServiceType.CLOUD_SERVERS: "cloudServersPreprod"})
        self.assertEqual(self.nova.seen[0]["host"], "preprod.servers.example")

    def test_no_endpoint(self) -> None:
        """No endpoint for the service in the region fails with NoSuchEndpoint."""
        deferred = perform_service_request(
            self.stub, StaticAuthenticator("good", CATALOG), "ORD", None, None,
            ServiceRequest("t1", ServiceType.CLOUD_LOAD_BALANCERS, "GET", "loadbalancers"))
        failure = self.failureResultOf(deferred, NoSuchEndpoint)
        self.assertEqual((failure.value.service_name, failure.value.region),
                         ("cloudLoadBalancers", "ORD"))
        self.assertEqual(self.nova.seen, [])

    def test_reauthenticates_once(self) -> None:
        """A 401 drops the token, authenticates again and retries once."""
        authenticator = RotatingAuthenticator(["stale", "good"])
        response = self.perform(request("servers/s1"), authenticator)
        self.assertEqual(response, Response(200, {"server": {"id": "s1", "status": "ACTIVE"}},
                                            response.headers))
        self.assertEqual((authenticator.authentications, authenticator.invalidations), (2, 1))
        self.assertEqual([s["headers"]["x-auth-token"] for s in self.nova.seen],
                         ["stale", "good"])

    def test_second_401_is_answered(self) -> None:
        """A second 401 is the answer: no third try."""
        authenticator = RotatingAuthenticator(["stale"])
        response = self.perform(request("servers/s1"), authenticator)
        self.assertEqual(response.status, 401)
        self.assertEqual(response.body["unauthorized"]["message"], "Invalid token")
        self.assertEqual(len(self.nova.seen), 2)

    def test_403_reauthenticates_once(self) -> None:
        """A 403 drops the token, authenticates again and retries once, like a 401."""
        authenticator = RotatingAuthenticator(["stale", "good"])
        response = self.perform(request("flavors"), authenticator)
        self.assertEqual((response.status, response.body), (200, {"flavors": []}))
        self.assertEqual((authenticator.authentications, authenticator.invalidations), (2, 1))
        self.assertEqual([s["headers"]["x-auth-token"] for s in self.nova.seen],
                         ["stale", "good"])

    def test_second_403_is_answered(self) -> None:
        """A second 403 is the answer: the token is dropped once, with no third try."""
        authenticator = RotatingAuthenticator(["stale"])
        response = self.perform(request("flavors"), authenticator)
        self.assertEqual(response.status, 403)
        self.assertEqual(response.body["forbidden"]["code"], 403)
        self.assertEqual((len(self.nova.seen), authenticator.invalidations), (2, 1))

    def test_refused_create_is_answered_at_once(self) -> None:
        """A create refused with 403 (over quota) is the answer: the token is kept and
        the create is not sent again (spec §3.1: a create renews its token on 401
        only)."""
        self.nova.over_quota = True
        authenticator = RotatingAuthenticator(["good", "other"])
        response = self.perform(nova.create_server_request("t1", {"server": {"name": "a"}}),
                                authenticator)
        self.assertEqual(response.status, 403)
        self.assertEqual(response.body["forbidden"]["message"], "Quota exceeded for instances")
        self.assertEqual((len(self.nova.seen), authenticator.invalidations), (1, 0))

    def test_create_with_stale_token_is_sent_again(self) -> None:
        """A create answered 401 drops the token and is sent once more with a fresh one."""
        authenticator = RotatingAuthenticator(["stale", "good"])
        response = self.perform(nova.create_server_request("t1", {"server": {"name": "a"}}),
                                authenticator)
        self.assertEqual(response.status, 202)
        self.assertEqual([s["headers"]["x-auth-token"] for s in self.nova.seen],
                         ["stale", "good"])

    def test_every_status_is_a_response(self) -> None:
        """Error statuses are answers, with their JSON body; an empty body is None."""
        self.assertEqual(self.perform(request("servers/gone")).status, 404)
        self.assertEqual(self.perform(request("servers/gone")).body["itemNotFound"]["code"],
                         404)
        self.assertIsNone(self.perform(request("servers/s1", "DELETE")).body)

    def test_text_body(self) -> None:
        """A body that is not JSON is text."""
        response = self.perform(request("plain"))
        self.assertEqual(response.status, 403)
        self.assertEqual(response.body, "403 Forbidden\n\nAccess was denied to this resource.")
        self.assertEqual(response.headers["content-type"], "text/plain")

    def test_transport_failure(self) -> None:
        """A transport failure is raised."""
        class Unreachable:
            def request(self, method: str, url: str, **kwargs: Any) -> Deferred[Any]:
                return fail(ConnectionRefusedError())

        deferred = perform_service_request(Unreachable(), StaticAuthenticator("good", CATALOG),
                                           "ORD", None, None, request("servers/s1"))
        self.failureResultOf(deferred, ConnectionRefusedError)

    def test_watched(self) -> None:
        """With a watch, each request sent is told with its answer (None when the
        transport failed) and its seconds on the watch's clock, and logged at debug
        level with its service, method, status and time."""
        clock = Clock()
        heard: list[tuple[str, int | None, float]] = []
        watch = RequestWatch(clock, lambda intent, response, seconds: heard.append(
            (intent.path, None if response is None else response.status, seconds)))

        class Unreachable:
            def request(self, method: str, url: str, **kwargs: Any) -> Deferred[Any]:
                return fail(ConnectionRefusedError())

        with capturedLogs() as events:
            deferred = perform_service_request(self.stub, StaticAuthenticator("good", CATALOG),
                                               "ORD", None, None, request("servers/s1"),
                                               watch=watch)
            self.stub.flush()
            self.successResultOf(deferred)
            self.failureResultOf(perform_service_request(
                Unreachable(), StaticAuthenticator("good", CATALOG), "ORD", None, None,
                request("servers/s2"), watch=watch), ConnectionRefusedError)
        self.assertEqual(heard, [("servers/s1", 200, 0.0), ("servers/s2", None, 0.0)])
        logged = [e for e in events if e.get("log_namespace") == "otter2.cloud"]
        self.assertEqual([(e["log_level"], e["service"], e["method"], e["status"])
                          for e in logged],
                         [(LogLevel.debug, "cloudServersOpenStack", "GET", 200),
                          (LogLevel.debug, "cloudServersOpenStack", "GET", "no answer")])


class CatalogTests(SynchronousTestCase):
    """Finding a public URL in a catalog."""

    def test_lookup(self) -> None:
        """The first service of the name, its first endpoint in the region."""
        self.assertEqual(public_endpoint_url(CATALOG, "cloudServersOpenStack", "DFW"),
                         "http://dfw.servers.example/v2/t1")
        self.assertEqual(public_endpoint_url(CATALOG, "cloudServersOpenStack", None),
                         "http://dfw.servers.example/v2/t1")
        with self.assertRaises(NoSuchEndpoint):
            public_endpoint_url(CATALOG, "rackconnect", "DFW")


class DispatcherWiringTests(SynchronousTestCase):
    """make_dispatcher performs ServiceRequest when given an HTTP client."""

    def test_step_through_dispatcher(self) -> None:
        """A delete step runs through the real performer and reads Nova's answers."""
        fake = FakeNova()
        stub = StubTreq(fake.app.resource())
        dispatcher = make_dispatcher(Clock(), MemoryGroupStore(), http=stub,
                                     authenticator=StaticAuthenticator("good", CATALOG),
                                     region="ORD")
        deferred = perform(dispatcher, step_effect(DeleteServer("gone"), "t1"))
        stub.flush()
        self.assertEqual(self.successResultOf(deferred), nova.deleted("gone"))

    def test_gather_through_dispatcher(self) -> None:
        """A gather runs through the real performer, pages and all."""
        fake = FakeNova()
        stub = StubTreq(fake.app.resource())
        dispatcher = make_dispatcher(Clock(), MemoryGroupStore(), http=stub,
                                     authenticator=StaticAuthenticator("good", CATALOG),
                                     region="ORD")
        deferred = perform(dispatcher, gather_group("t1", "g1", []))
        stub.flush()
        observation = self.successResultOf(deferred)
        self.assertEqual([server.id for server in observation.servers], ["a"])
        self.assertEqual([seen["uri"] for seen in fake.seen], [
            "/v2/t1/servers/detail?limit=100", "/v2/t1/servers/detail?limit=100&marker=a"])

    def test_without_http(self) -> None:
        """Without an HTTP client, ServiceRequest has no performer (the signature stays)."""
        dispatcher = make_dispatcher(Clock(), MemoryGroupStore())
        self.assertIsNone(dispatcher(request("servers")))

    def test_http_needs_authenticator(self) -> None:
        """An HTTP client without an authenticator is refused."""
        with self.assertRaises(ValueError):
            make_dispatcher(Clock(), MemoryGroupStore(),
                            http=StubTreq(FakeNova().app.resource()))
