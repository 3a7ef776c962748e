"""
Tests for otter2.effects.courtesy: the real `ServiceRequest` performer, at
courtesy's pace, with treq's StubTreq serving the simulated cloud and a
``task.Clock`` for the time.
"""

from __future__ import annotations

import math
from typing import Any

from attrs import evolve
from effect import Effect
from pyrsistent import pmap
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import Request
from txeffect import perform

from otter2.cloud.catalog import Catalog
from otter2.cloud.courtesy import asked_wait
from otter2.cloud.messages import retry_after
from otter2.cloud.request import ServiceRequest, ServiceType
from otter2.effects.courtesy import Courtesy
from otter2.effects.dispatcher import make_dispatcher
from otter2.simulation import (
    Behaviour,
    CloudHolder,
    SimulatedCloud,
    limit_rate,
    simulated_catalog,
    simulated_resource,
)
from otter2.store.memory import MemoryGroupStore
from tests.stub_treq import StubTreq

REGION = "ORD"
NOVA = ServiceType.CLOUD_SERVERS
CLB = ServiceType.CLOUD_LOAD_BALANCERS


class Arrivals(Resource):
    """The simulated cloud, noting when each request reaches it (tenant, method, path)."""

    isLeaf = True

    def __init__(self, cloud: Resource, clock: Clock) -> None:
        super().__init__()
        self.cloud = cloud
        self.clock = clock
        self.seen: list[tuple[float, str, str, str]] = []

    def render(self, request: Request) -> Any:
        _, service, tenant, *rest = request.path.decode().split("/")
        self.seen.append((self.clock.seconds(), tenant, request.method.decode(),
                          "/".join([service, *rest])))
        return self.cloud.render(request)


class TenantsAuthenticator:
    """Each tenant's own catalog of the simulated cloud."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def authenticate(self, tenant_id: str) -> Deferred[tuple[str, Catalog]]:
        """A token and the tenant's catalog."""
        return succeed(("token", simulated_catalog(self.base_url, REGION, tenant_id)))

    def invalidate(self, tenant_id: str) -> None:
        """Nothing to forget."""


class CourtesyTests(SynchronousTestCase):
    """Calls meet Retry-After (refused unsent, or waited for its last moment), and wait
    out throttles and the per-tenant cap on the clock."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.holder = CloudHolder(SimulatedCloud(Behaviour(build_time=60)))
        self.arrivals = Arrivals(simulated_resource(self.holder, self.clock), self.clock)
        self.http = StubTreq(self.arrivals)
        self.use(Courtesy(self.clock))

    def use(self, courtesy: Courtesy) -> None:
        """Perform through a dispatcher at ``courtesy``'s pace."""
        self.courtesy = courtesy
        self.dispatcher = make_dispatcher(
            self.clock, MemoryGroupStore(), http=self.http, region=REGION, courtesy=courtesy,
            authenticator=TenantsAuthenticator(self.holder.cloud.base_url))

    def send(self, tenant_id: str, service: ServiceType, method: str,
             path: str, json: Any = None) -> Deferred[Any]:
        deferred: Deferred[Any] = perform(self.dispatcher, Effect(
            ServiceRequest(tenant_id, service, method, path, json=json)))
        self.http.flush()
        return deferred

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass in steps of an eighth of a second (exact in binary),
        answering what arrives meanwhile."""
        for _ in range(math.ceil(seconds * 8)):
            self.clock.advance(0.125)
            self.http.flush()

    def test_retry_after_holds_the_tenant(self) -> None:
        """After a 429 with Retry-After: 30, the tenant's Nova calls are answered at once
        with a 429 giving the seconds left, and not sent, until the 30 s are over;
        another tenant's calls, and the tenant's CLB calls, go at once."""
        self.holder.cloud = limit_rate(self.holder.cloud, "t1", NOVA, until=30)
        first = self.successResultOf(self.send("t1", NOVA, "GET", "servers/detail"))
        self.assertEqual((first.status, first.headers["retry-after"]), (429, "30"))
        held = self.successResultOf(self.send("t1", NOVA, "GET", "servers/detail"))
        other = self.successResultOf(self.send("t2", NOVA, "GET", "servers/detail"))
        clb = self.successResultOf(self.send("t1", CLB, "GET", "loadbalancers"))
        self.assertEqual((held.status, held.headers["retry-after"], other.status, clb.status),
                         (429, "30", 200, 200))
        self.assertEqual(held.body["overLimit"]["message"],
                         "otter2 did not send the call: the wait asked ends in 30 s")
        self.advance(10.125)
        later = self.successResultOf(self.send("t1", NOVA, "GET", "servers/detail"))
        self.assertEqual((later.status, later.headers["retry-after"]), (429, "20"))
        self.advance(20)
        self.assertEqual(
            self.successResultOf(self.send("t1", NOVA, "GET", "servers/detail")).status, 200)
        self.assertEqual([(round(t, 1), tenant) for t, tenant, _, path in self.arrivals.seen
                          if path.startswith(NOVA.value)],
                         [(0, "t1"), (0, "t2"), (30.1, "t1")])

    def test_refusal_is_read_as_the_service_would_be(self) -> None:
        """The unsent answer is a rate limit like the service's own: it asks for the
        seconds left, rounded up so that the next look comes after the wait."""
        self.holder.cloud = limit_rate(self.holder.cloud, "t1", CLB, until=10, status=413)
        self.successResultOf(self.send("t1", CLB, "GET", "loadbalancers"))
        self.advance(2.5)
        held = self.successResultOf(self.send("t1", CLB, "GET", "loadbalancers"))
        self.assertEqual((asked_wait(held), retry_after(held)), (8.0, 8.0))

    def test_last_moment_of_a_wait_is_waited(self) -> None:
        """A call made within a second of the wait's end waits for it, then is sent
        and answered: no refusal for a moment's wait."""
        self.holder.cloud = limit_rate(self.holder.cloud, "t1", CLB, until=10, status=413)
        self.successResultOf(self.send("t1", CLB, "GET", "loadbalancers"))
        self.advance(9.25)
        held = [self.send("t1", CLB, "GET", "loadbalancers") for _ in range(3)]
        for deferred in held:
            self.assertNoResult(deferred)
        self.advance(0.875)
        self.assertEqual([self.successResultOf(d).status for d in held], [200, 200, 200])
        self.assertEqual([round(t, 1) for t, _, _, _ in self.arrivals.seen],
                         [0, 10, 10, 10])

    def test_throttle_serialises_its_kind(self) -> None:
        """With create_server_delay 1, creates go one at a time, each a second after
        the last one ended; Nova reads are not throttled."""
        self.use(Courtesy(self.clock, pmap({"create_server_delay": 1.0})))
        body = {"server": {"name": "s", "imageRef": "i", "flavorRef": "f"}}
        creates = [self.send(tenant, NOVA, "POST", "servers", body) for tenant in ("t1", "t2")]
        read = self.successResultOf(self.send("t1", NOVA, "GET", "servers/detail"))
        self.assertEqual(read.status, 200)
        self.advance(2.125)
        self.assertEqual([self.successResultOf(d).status for d in creates], [202, 202])
        self.assertEqual([(round(t, 1), method) for t, _, method, _ in self.arrivals.seen],
                         [(0, "GET"), (1, "POST"), (2, "POST")])

    def test_throttled_calls_heed_a_wait_asked_meanwhile(self) -> None:
        """Creates queued behind a throttle when a 429 comes back still take their
        turn (the throttle's delay is waited), then are refused without being sent."""
        self.use(Courtesy(self.clock, pmap({"create_server_delay": 1.0})))
        self.holder.cloud = limit_rate(self.holder.cloud, "t1", NOVA, until=30)
        body = {"server": {"name": "s", "imageRef": "i", "flavorRef": "f"}}
        creates = [self.send("t1", NOVA, "POST", "servers", body) for _ in range(3)]
        self.advance(1.125)
        first = self.successResultOf(creates[0])
        self.assertNoResult(creates[1])
        self.advance(2)
        answers = [first, *(self.successResultOf(d) for d in creates[1:])]
        self.assertEqual([(a.status, a.headers["retry-after"]) for a in answers],
                         [(429, "29"), (429, "28"), (429, "27")])
        self.assertEqual([round(t, 1) for t, _, _, _ in self.arrivals.seen], [1])

    def test_slot_heeds_a_wait_asked_meanwhile(self) -> None:
        """A call waiting for a slot when a 429 comes back for its tenant is refused
        with the time asked (from the answer's arrival, 5 s after it was sent)
        instead of going in."""
        self.holder.cloud = evolve(limit_rate(self.holder.cloud, "t1", NOVA, until=20),
                                   behaviour=Behaviour(latency=5))
        self.use(Courtesy(self.clock, max_in_flight_per_tenant=1))
        calls = [self.send("t1", NOVA, "GET", "servers/detail") for _ in range(2)]
        self.advance(5.125)
        answers = [self.successResultOf(d) for d in calls]
        self.assertEqual([(a.status, a.headers["retry-after"]) for a in answers],
                         [(429, "20"), (429, "20")])
        self.assertEqual([round(t, 1) for t, _, _, _ in self.arrivals.seen], [0])

    def test_clb_throttle_is_per_tenant(self) -> None:
        """A CLB throttle holds each tenant apart: two tenants' calls go side by side."""
        self.use(Courtesy(self.clock, pmap({"get_clb_delay": 0.5})))
        calls = [self.send(tenant, CLB, "GET", "loadbalancers") for tenant in ("t1", "t2", "t1")]
        self.advance(1.125)
        self.assertEqual([self.successResultOf(d).status for d in calls], [200, 200, 200])
        self.assertEqual([(round(t, 1), tenant) for t, tenant, _, _ in self.arrivals.seen],
                         [(0.5, "t1"), (0.5, "t2"), (1.0, "t1")])

    def test_calls_in_flight_are_capped_per_tenant(self) -> None:
        """Past the cap a tenant's call waits for one in flight to end; another
        tenant's does not."""
        self.holder.cloud = SimulatedCloud(Behaviour(latency=5))
        self.use(Courtesy(self.clock, max_in_flight_per_tenant=2))
        calls = [self.send("t1", NOVA, "GET", "servers/detail") for _ in range(3)]
        other = self.send("t2", NOVA, "GET", "servers/detail")
        self.advance(10.125)
        self.assertEqual([self.successResultOf(d).status for d in [*calls, other]],
                         [200] * 4)
        self.assertEqual([(round(t, 1), tenant) for t, tenant, _, _ in self.arrivals.seen],
                         [(0, "t1"), (0, "t1"), (0, "t2"), (5, "t1")])


    def test_waits_are_told(self) -> None:
        """A throttle's delay is told as throttle, a refused call as refused, a short
        hold sat out as retry_after."""
        waits: list[tuple[str, str, float]] = []
        self.use(Courtesy(self.clock, pmap({"create_server_delay": 1.0}),
                          on_wait=lambda request, reason, seconds: waits.append(
                              (request.service.value, reason, seconds))))
        body = {"server": {"name": "s", "imageRef": "i", "flavorRef": "f"}}
        self.send("t1", NOVA, "POST", "servers", body)
        self.advance(1.125)
        self.holder.cloud = limit_rate(self.holder.cloud, "t1", CLB, until=12, status=413)
        self.successResultOf(self.send("t1", CLB, "GET", "loadbalancers"))
        self.successResultOf(self.send("t1", CLB, "GET", "loadbalancers"))
        self.advance(10.5)
        self.send("t1", CLB, "GET", "loadbalancers")
        self.assertEqual([(service, reason) for service, reason, _ in waits],
                         [(NOVA.value, "throttle"), (CLB.value, "refused"),
                          (CLB.value, "retry_after")])
        self.assertEqual(waits[0][2], 1.0)
