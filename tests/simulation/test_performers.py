"""
Tests for otter2.simulation.performers: the simulated cloud behaves like Nova,
CLB, RackConnect v3 and Heat through the fast performer and over HTTP, answers
after its latency, and lists its endpoints in an Identity catalog.
"""

from __future__ import annotations

from effect import Effect
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from txeffect import perform

from otter2.cloud.request import ServiceRequest, ServiceType
from otter2.intents import Now
from otter2.simulation import (
    Behaviour,
    CloudHolder,
    SimulatedCloud,
    simulated_catalog,
    simulated_dispatcher,
    simulated_resource,
    standalone_dispatcher,
)
from tests.simulation.contract import cloud_behaviour_tests
from tests.simulation.support import (
    SimulatedCloudUnderTest,
    through_http,
    through_performer,
)
from tests.stub_treq import StubTreq

LIST = ServiceRequest("t1", ServiceType.CLOUD_SERVERS, "GET", "servers/detail")


class FastPerformerBehaviourTests(
        cloud_behaviour_tests(  # type: ignore[misc]  # a computed base class
            lambda case: SimulatedCloudUnderTest(through_performer))):
    """The simulated cloud keeps the Nova, CLB, RCv3 and Heat contract through the fast performer."""


class HTTPBehaviourTests(cloud_behaviour_tests(  # type: ignore[misc]  # a computed base class
        lambda case: SimulatedCloudUnderTest(through_http))):
    """The simulated cloud keeps the Nova, CLB, RCv3 and Heat contract over HTTP, through treq."""


class LatencyTests(SynchronousTestCase):
    """Answers arrive the behaviour's latency after their requests, by the clock."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.holder = CloudHolder(SimulatedCloud(Behaviour(latency=2.5)))

    def test_performer_answers_after_latency(self) -> None:
        """The performer's answer comes once the clock has run the latency."""
        result = perform(simulated_dispatcher(self.holder, self.clock), Effect(LIST))
        self.assertNoResult(result)
        self.clock.advance(2.4)
        self.assertNoResult(result)
        self.clock.advance(0.1)
        self.assertEqual(self.successResultOf(result).status, 200)

    def test_change_happens_on_arrival(self) -> None:
        """The cloud changes when a request arrives, before its answer does."""
        create = ServiceRequest("t1", ServiceType.CLOUD_SERVERS, "POST", "servers",
                                json={"server": {"name": "a", "flavorRef": "1"}})
        result = perform(simulated_dispatcher(self.holder, self.clock), Effect(create))
        self.assertNoResult(result)
        self.assertEqual(len(self.holder.cloud.nova["t1"].servers), 1)

    def test_http_answers_after_latency(self) -> None:
        """Over HTTP, the response comes once the clock has run the latency."""
        http = StubTreq(simulated_resource(self.holder, self.clock))
        url = simulated_catalog("http://cloud.simulated", "ORD", "t1")[0]["endpoints"][0]
        response = http.get(url["publicURL"] + "/servers/detail")
        self.assertNoResult(response)
        self.clock.advance(2.5)
        http.flush()
        self.assertEqual(self.successResultOf(response).code, 200)


class StackTimeTests(SynchronousTestCase):
    """Heat's operations end by the clock the cloud is served on."""

    def test_stack_created_by_the_clock(self) -> None:
        """A stack created through the performer is CREATE_IN_PROGRESS until the clock
        has run the stack time, then CREATE_COMPLETE."""
        clock = Clock()
        holder = CloudHolder(SimulatedCloud(Behaviour(stack_time=30)))
        dispatcher = simulated_dispatcher(holder, clock)
        create = ServiceRequest("t1", ServiceType.ORCHESTRATION, "POST", "stacks", json={
            "stack_name": "s", "template": {"heat_template_version": "2015-10-15",
                                            "resources": {}}})
        self.assertEqual(self.successResultOf(perform(dispatcher, Effect(create))).status, 201)
        listing = Effect(ServiceRequest("t1", ServiceType.ORCHESTRATION, "GET", "stacks"))
        statuses = []
        for seconds in (29, 1):
            clock.advance(seconds)
            response = self.successResultOf(perform(dispatcher, listing))
            statuses.append(response.body["stacks"][0]["stack_status"])
        self.assertEqual(statuses, ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"])


class HTTPResourceTests(TestCase):
    """The HTTP resource refuses what no service would take."""

    def setUp(self) -> None:
        self.holder = CloudHolder(SimulatedCloud())
        self.http = StubTreq(simulated_resource(self.holder, Clock()))

    async def test_unknown_service_is_404(self) -> None:
        """A path naming no simulated service answers 404."""
        response = await self.http.get("http://cloud.simulated/cloudFiles/t1/containers")
        self.assertEqual(response.code, 404)

    async def test_malformed_json_is_400(self) -> None:
        """A body that is not JSON answers 400 and changes nothing."""
        response = await self.http.post(
            "http://cloud.simulated/cloudServersOpenStack/t1/servers", data=b"{nope")
        self.assertEqual(response.code, 400)
        self.assertEqual(self.holder.cloud, SimulatedCloud())

    async def test_json_content_type(self) -> None:
        """A JSON answer says so in its content type."""
        response = await self.http.get(
            "http://cloud.simulated/cloudLoadBalancers/t1/loadbalancers")
        self.assertEqual(response.headers.getRawHeaders("content-type"), ["application/json"])
        self.assertEqual(await response.json(), {"loadBalancers": []})


class CatalogTests(SynchronousTestCase):
    """The catalog lists each simulated service under the base URL."""

    def test_catalog_shape(self) -> None:
        """Each service has its catalog name, type, and one endpoint in the region."""
        catalog = simulated_catalog("http://sim.test/", "ORD", "42")
        self.assertEqual(catalog, [
            {"name": "cloudServersOpenStack", "type": "compute",
             "endpoints": [{"region": "ORD", "tenantId": "42",
                            "publicURL": "http://sim.test/cloudServersOpenStack/42"}]},
            {"name": "cloudLoadBalancers", "type": "rax:load-balancer",
             "endpoints": [{"region": "ORD", "tenantId": "42",
                            "publicURL": "http://sim.test/cloudLoadBalancers/42"}]},
            {"name": "rackconnect", "type": "rax:rackconnect",
             "endpoints": [{"region": "ORD", "tenantId": "42",
                            "publicURL": "http://sim.test/rackconnect/42"}]},
            {"name": "cloudOrchestration", "type": "orchestration",
             "endpoints": [{"region": "ORD", "tenantId": "42",
                            "publicURL": "http://sim.test/cloudOrchestration/42"}]},
        ])


class StandaloneDispatcherTests(SynchronousTestCase):
    """The standalone dispatcher performs the time by the same clock as the cloud."""

    def test_now_is_the_clock(self) -> None:
        """Now() is the clock's time."""
        clock = Clock()
        clock.advance(77)
        dispatcher = standalone_dispatcher(CloudHolder(SimulatedCloud()), clock)
        self.assertEqual(self.successResultOf(perform(dispatcher, Effect(Now()))), 77)
