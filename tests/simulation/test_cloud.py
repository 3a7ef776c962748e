"""
Tests for otter2.simulation.cloud: time, randomness and failures of the
simulated cloud, as pure transitions.
"""

from __future__ import annotations

from attrs import evolve
from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud.request import Response, ServiceType
from otter2.model.group import thaw_json
from otter2.simulation import (
    Behaviour,
    SimulatedCloud,
    advance,
    fail_service,
    limit_rate,
)
from otter2.simulation.state import roll
from tests.simulation.support import START, call, create_body

NOVA = ServiceType.CLOUD_SERVERS
CLB = ServiceType.CLOUD_LOAD_BALANCERS


def create(cloud: SimulatedCloud, count: int, now: float = START,
           tenant_id: str = "t1") -> tuple[SimulatedCloud, list[Response]]:
    """The cloud after ``count`` creates, and their answers."""
    answers = []
    for i in range(count):
        cloud, response = call(cloud, NOVA, "POST", "servers", now, json=create_body(f"s{i}"),
                               tenant_id=tenant_id)
        answers.append(response)
    return cloud, answers


def statuses(cloud: SimulatedCloud, tenant_id: str = "t1") -> list[str]:
    """The status of every server of a tenant."""
    return sorted(s.status.value for s in cloud.nova[tenant_id].servers.values())


class RandomnessTests(SynchronousTestCase):
    """The cloud's randomness comes from the seed it carries."""

    def test_same_seed_same_cloud(self) -> None:
        """The same requests on clouds with the same seed give equal clouds and answers."""
        behaviour = Behaviour(error_rate=0.5, fault_rate=0.2)
        first, first_answers = create(SimulatedCloud(behaviour, seed=7), 20)
        second, second_answers = create(SimulatedCloud(behaviour, seed=7), 20)
        self.assertEqual(first, second)
        self.assertEqual(first_answers, second_answers)

    def test_other_seed_other_ids(self) -> None:
        """Clouds with different seeds give servers different ids."""
        first, _ = create(SimulatedCloud(seed=1), 1)
        second, _ = create(SimulatedCloud(seed=2), 1)
        self.assertNotEqual(set(first.nova["t1"].servers), set(second.nova["t1"].servers))

    @given(seed=st.integers(0, 2**64 - 1))
    def test_roll_is_a_fraction(self, seed: int) -> None:
        """A roll is in [0, 1) and moves the seed on."""
        cloud, draw = roll(SimulatedCloud(seed=seed))
        self.assertTrue(0 <= draw < 1)
        self.assertNotEqual(cloud.seed, seed)


class BuildTests(SynchronousTestCase):
    """Servers build for the build time, then become ACTIVE or, at the error rate, ERROR."""

    def test_build_then_active(self) -> None:
        """A server is BUILD until its build time has passed, then ACTIVE."""
        cloud, _ = create(SimulatedCloud(Behaviour(build_time=60)), 1)
        self.assertEqual(statuses(advance(cloud, START + 59.9)), ["BUILD"])
        built = advance(cloud, START + 60)
        self.assertEqual(statuses(built), ["ACTIVE"])
        self.assertEqual([s.updated for s in built.nova["t1"].servers.values()], [START + 60])

    def test_no_build_time(self) -> None:
        """With no build time a server is ACTIVE at once."""
        cloud, _ = create(SimulatedCloud(Behaviour(build_time=0)), 1)
        self.assertEqual(statuses(cloud), ["ACTIVE"])

    def test_error_rate(self) -> None:
        """About the error rate's share of builds end in ERROR, the rest ACTIVE."""
        cloud, _ = create(SimulatedCloud(Behaviour(build_time=10, error_rate=0.3,
                                                   instance_quota=1000)), 300)
        built = statuses(advance(cloud, START + 10))
        self.assertEqual(set(built), {"ACTIVE", "ERROR"})
        self.assertTrue(60 <= built.count("ERROR") <= 120, built.count("ERROR"))

    def test_every_build_fails(self) -> None:
        """At an error rate of 1, every server ends in ERROR with a fault."""
        cloud, answers = create(SimulatedCloud(Behaviour(build_time=10, error_rate=1)), 3)
        cloud = advance(cloud, START + 10)
        self.assertEqual(statuses(cloud), ["ERROR"] * 3)
        server_id = answers[0].body["server"]["id"]
        cloud, response = call(cloud, NOVA, "GET", f"servers/{server_id}", START + 10)
        self.assertEqual(response.body["server"]["fault"]["code"], 500)

    def test_nothing_due(self) -> None:
        """Before anything is due, advancing leaves the very same cloud."""
        cloud, _ = create(SimulatedCloud(Behaviour(build_time=60)), 2)
        self.assertIs(advance(cloud, START + 30), cloud)

    @given(build_times=st.lists(st.floats(0, 100), max_size=6),
           first=st.floats(0, 200), second=st.floats(0, 200))
    def test_advance_in_steps(self, build_times: list[float], first: float,
                              second: float) -> None:
        """Advancing to a time in two steps gives the same cloud as in one."""
        cloud = SimulatedCloud()
        for number, build_time in enumerate(build_times):
            cloud = evolve(cloud, behaviour=Behaviour(build_time=build_time))
            cloud, _ = call(cloud, NOVA, "POST", "servers", 0, json=create_body(f"s{number}"))
        early, late = sorted([first, second])
        self.assertEqual(advance(advance(cloud, early), late), advance(cloud, late))


class FailureTests(SynchronousTestCase):
    """Services fail at the fault rate and during outages, changing nothing."""

    def test_fault_rate(self) -> None:
        """About the fault rate's share of requests answer 500, and those create nothing."""
        cloud, answers = create(SimulatedCloud(Behaviour(fault_rate=0.5,
                                                         instance_quota=1000)), 200)
        failed = [a for a in answers if a.status == 500]
        self.assertTrue(70 <= len(failed) <= 130, len(failed))
        self.assertEqual(len(cloud.nova["t1"].servers), 200 - len(failed))
        self.assertIn("computeFault", failed[0].body)

    def test_outage(self) -> None:
        """A failing service answers its status until the outage ends; others work."""
        cloud = fail_service(SimulatedCloud(), CLB, until=START + 100, status=503)
        cloud, response = call(cloud, CLB, "GET", "loadbalancers", START + 99)
        self.assertEqual(thaw_json(response.body), {"message": "Service Unavailable",
                                                    "code": 503})
        cloud, response = call(cloud, NOVA, "GET", "servers/detail", START + 99)
        self.assertEqual(response.status, 200)
        cloud, response = call(cloud, CLB, "GET", "loadbalancers", START + 100)
        self.assertEqual(response.status, 200)

    def test_nova_outage_body(self) -> None:
        """Nova in an outage answers its computeFault body and builds nothing."""
        cloud = fail_service(SimulatedCloud(), NOVA, until=START + 10)
        cloud, answers = create(cloud, 1)
        self.assertEqual(answers[0].status, 500)
        self.assertEqual(answers[0].body["computeFault"]["code"], 500)
        self.assertNotIn("t1", cloud.nova)

    def test_rate_limit(self) -> None:
        """A tenant over its rate limit gets 429 with the whole seconds left in
        Retry-After and creates nothing, until the limit lifts; others are served."""
        cloud = limit_rate(SimulatedCloud(), "t1", NOVA, until=START + 30)
        cloud, [refused] = create(cloud, 1)
        self.assertEqual((refused.status, refused.headers["retry-after"]), (429, "30"))
        self.assertEqual(refused.body["overLimit"]["retryAfter"], "30")
        self.assertNotIn("t1", cloud.nova)
        cloud, [served] = create(cloud, 1, tenant_id="t2")
        self.assertEqual(served.status, 202)
        cloud, response = call(cloud, CLB, "GET", "loadbalancers", START + 1)
        self.assertEqual(response.status, 200)
        cloud, response = call(cloud, NOVA, "GET", "servers/detail", START + 29.5)
        self.assertEqual((response.status, response.headers["retry-after"]), (429, "1"))
        cloud, [later] = create(cloud, 1, now=START + 30)
        self.assertEqual(later.status, 202)

    def test_rate_limit_bodies(self) -> None:
        """CLB's 413 is its overLimit fault; RackConnect's 429 lists its error."""
        cloud = limit_rate(SimulatedCloud(), "t1", CLB, until=START + 5, status=413)
        cloud = limit_rate(cloud, "t1", ServiceType.RACKCONNECT_V3, until=START + 5)
        _, response = call(cloud, CLB, "GET", "loadbalancers")
        self.assertEqual((response.status, response.body["overLimit"]["code"]), (413, 413))
        _, response = call(cloud, ServiceType.RACKCONNECT_V3, "GET", "load_balancer_pools")
        self.assertEqual((response.status, response.headers["retry-after"]), (429, "5"))
        self.assertIn("errors", response.body)

    def test_unknown_route(self) -> None:
        """A path no service has answers 404 in the service's error shape."""
        _, response = call(SimulatedCloud(), NOVA, "GET", "volumes/nope")
        self.assertEqual(response.body["itemNotFound"]["code"], 404)
        _, response = call(SimulatedCloud(), CLB, "GET", "nope")
        self.assertEqual(response.body["code"], 404)
