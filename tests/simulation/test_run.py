"""
Tests for otter2.simulation.run: repeated iterations against the simulated
cloud on a clock, and the capacity they leave over time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from effect import ComposedDispatcher, Delay, Effect, TypeDispatcher, parallel
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from txeffect import deferred_performer

from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.simulation import (
    Behaviour,
    Capacity,
    CloudHolder,
    SimulatedCloud,
    add_load_balancer,
    add_pool,
    capacity,
    fail_service,
    run_for,
    simulated_catalog,
    simulated_resource,
    standalone_dispatcher,
)
from tests.simulation.support import BASE_URL, REGION, call, create_body, send_with_treq
from tests.stub_treq import StubTreq

NOVA = ServiceType.CLOUD_SERVERS
GROUP = "rax:autoscale:group:id"


def create_up_to(count: int, group_id: str = "g1") -> Callable[[], Effect]:
    """An iteration that lists the servers and creates the missing ones."""

    def create_missing(listing: Response) -> Effect:
        missing = count - len(listing.body["servers"])
        creates = [Effect(ServiceRequest("t1", NOVA, "POST", "servers",
                                         json=create_body(**{GROUP: group_id})))
                   for _ in range(missing)]
        return parallel(creates).on(lambda answers: [a.status for a in answers])

    def iterate() -> Effect:
        return Effect(ServiceRequest("t1", NOVA, "GET", "servers/detail")).on(create_missing)

    return iterate


class RunForTests(SynchronousTestCase):
    """run_for performs an iteration every interval and samples capacity after each."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.holder = CloudHolder(SimulatedCloud(Behaviour(build_time=60)))

    def run_iterations(self, iterate: Callable[[], Effect], minutes: float = 5,
            dispatcher: Any = None) -> Any:
        return run_for(self.clock, self.holder, iterate,
                       dispatcher or standalone_dispatcher(self.holder, self.clock),
                       minutes=minutes, interval=10)

    def test_capacity_over_time(self) -> None:
        """Servers are building for the build time, then active, one sample per tick."""
        timeline = self.run_iterations(create_up_to(3))
        self.assertEqual([s.time for s in timeline.samples], [10.0 * i for i in range(31)])
        self.assertEqual(timeline.samples[0].capacity, Capacity(building=3))
        self.assertEqual(timeline.samples[0].result, [202, 202, 202])
        self.assertEqual(timeline.samples[5].capacity, Capacity(building=3))
        self.assertEqual(timeline.first_time(lambda c: c.active == 3), 60.0)
        self.assertEqual(timeline.final(), Capacity(active=3))
        self.assertEqual(len(self.holder.cloud.nova["t1"].servers), 3)

    def test_latency(self) -> None:
        """Each iteration ends after its requests' latency; the next starts on the tick."""
        self.holder.cloud = SimulatedCloud(Behaviour(build_time=60, latency=1.5))
        timeline = self.run_iterations(create_up_to(2), minutes=1)
        self.assertEqual([s.time for s in timeline.samples][:3], [3.0, 11.5, 21.5])
        self.assertEqual(timeline.final(), Capacity(active=2))

    def test_failures_are_recorded(self) -> None:
        """An iteration that fails is recorded and the next runs anyway."""
        self.holder.cloud = fail_service(self.holder.cloud, NOVA, until=25)
        timeline = self.run_iterations(create_up_to(1), minutes=2)
        self.assertEqual([s.error is not None for s in timeline.samples][:4],
                         [True, True, True, False])
        self.assertIn("KeyError", timeline.samples[0].error)
        self.assertEqual(timeline.first_time(lambda c: c.active == 1), 90.0)

    def test_iteration_outlasting_the_run(self) -> None:
        """An iteration still running when the run is over raises RuntimeError."""
        with self.assertRaises(RuntimeError):
            self.run_iterations(lambda: Effect(Delay(3600)), minutes=1)

    def test_stuck_iteration(self) -> None:
        """An iteration waiting for something the clock cannot bring raises RuntimeError."""

        class Forever:
            pass

        never = TypeDispatcher({Forever: deferred_performer(lambda d, i: Deferred())})
        with self.assertRaises(RuntimeError):
            self.run_iterations(lambda: Effect(Forever()), dispatcher=never)

    def test_interval_must_be_positive(self) -> None:
        """A run with no interval between iterations is refused."""
        with self.assertRaises(ValueError):
            run_for(self.clock, self.holder, create_up_to(1),
                    standalone_dispatcher(self.holder, self.clock), minutes=1, interval=0)


class OverHTTPTests(SynchronousTestCase):
    """run_for drives iterations that reach the cloud over HTTP with latency."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.holder = CloudHolder(SimulatedCloud(Behaviour(build_time=30, latency=1),
                                                 base_url=BASE_URL))
        self.http = StubTreq(simulated_resource(self.holder, self.clock))

        @deferred_performer
        def over_http(dispatcher: Any, request: ServiceRequest) -> Deferred[Response]:
            catalog = simulated_catalog(BASE_URL, REGION, request.tenant_id)
            return Deferred.fromCoroutine(send_with_treq(self.http, catalog, REGION, request))

        self.dispatcher = ComposedDispatcher([TypeDispatcher({ServiceRequest: over_http}),
                                              standalone_dispatcher(self.holder, self.clock)])

    def test_flush(self) -> None:
        """With StubTreq's flush, delayed HTTP answers arrive and the run completes."""
        timeline = run_for(self.clock, self.holder, create_up_to(2), self.dispatcher,
                           minutes=1, flush=self.http.flush)
        self.assertEqual(timeline.final(), Capacity(active=2))
        self.assertEqual(timeline.samples[0].result, [202, 202])

    def test_no_flush(self) -> None:
        """Without it, the first answer never arrives and the run stops."""
        with self.assertRaises(RuntimeError):
            run_for(self.clock, self.holder, create_up_to(2), self.dispatcher, minutes=1)


class CapacityTests(SynchronousTestCase):
    """Capacity counts a tenant's or group's servers by status and their LB nodes."""

    def test_group_and_nodes(self) -> None:
        """Only the group's servers count, with their CLB nodes and pool members."""
        cloud = add_pool(add_load_balancer(SimulatedCloud(Behaviour(build_time=0)), "t1", 7, 0),
                         "t1", "pool")
        ids = []
        for group_id in ("g1", "g1", "g2"):
            cloud, created = call(cloud, NOVA, "POST", "servers", 0,
                                  json=create_body(**{GROUP: group_id}))
            ids.append(created.body["server"]["id"])
        cloud, _ = call(cloud, NOVA, "POST", "servers", 0, json=create_body())
        address = cloud.nova["t1"].servers[ids[0]].private_address
        cloud, _ = call(cloud, ServiceType.CLOUD_LOAD_BALANCERS, "POST",
                        "loadbalancers/7/nodes", 0,
                        json={"nodes": [{"address": address, "port": 80,
                                         "condition": "ENABLED"}]})
        cloud, _ = call(cloud, ServiceType.RACKCONNECT_V3, "POST", "load_balancer_pools/nodes",
                        0, json=[{"cloud_server": {"id": ids[1]},
                                  "load_balancer_pool": {"id": "pool"}}])
        self.assertEqual(capacity(cloud, "t1", "g1"), Capacity(active=2, lb_nodes=2))
        self.assertEqual(capacity(cloud, "t1", "g2"), Capacity(active=1))
        self.assertEqual(capacity(cloud), Capacity(active=4, lb_nodes=2))
        self.assertEqual(capacity(cloud, "t2"), Capacity())
