"""
Tests for otter2.api.launch_check: the intents of the remote check of a
launch configuration, with canned Nova answers; and its load balancer
checks through the real API, with the simulated cloud behind it.
"""

from __future__ import annotations

import base64
from typing import Any

from attrs import evolve
from effect.testing import parallel_sequence, perform_sequence
from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase

from otter2.api.launch_check import check_launch_config
from otter2.cloud.courtesy import held_answer
from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.config import Config, IdentityConfig
from otter2.control.errors import APIError
from otter2.effects import make_dispatcher
from otter2.effects.http import StaticAuthenticator
from otter2.intents import RandomHex
from otter2.simulation import (
    CLBStatus,
    CloudHolder,
    SimulatedCloud,
    add_load_balancer,
    add_pool,
    fail_service,
    set_load_balancer_status,
    simulated_catalog,
    simulated_resource,
)
from otter2.simulation.nova import set_image_status
from tests.api.support import APITestCase, minimal_group
from tests.api.test_errors import assert_error
from tests.stub_treq import StubTreq

CLOUD = "http://cloud.simulated"
REGION = "ORD"


def nova(relative: str) -> ServiceRequest:
    return ServiceRequest("t1", ServiceType.CLOUD_SERVERS, "GET", relative)


def lb_service(relative: str) -> ServiceRequest:
    return ServiceRequest("t1", ServiceType.CLOUD_LOAD_BALANCERS, "GET", relative)


def pools() -> ServiceRequest:
    return ServiceRequest("t1", ServiceType.RACKCONNECT_V3, "GET", "load_balancer_pools")


def launch(**server: Any) -> dict[str, Any]:
    return {"type": "launch_server", "args": {"server": {
        "flavorRef": "f1", "imageRef": "i1", **server}}}


IMAGE_OK = Response(200, {"image": {"id": "i1", "status": "ACTIVE"}})
FLAVOR_OK = Response(200, {"flavor": {"id": "f1"}})
LIMITS = Response(200, {"limits": {"absolute": {"maxPersonality": 2,
                                                "maxPersonalitySize": 10}}})


def raise_(error: Exception) -> Any:
    raise error


class CheckLaunchConfigTests(SynchronousTestCase):
    """Problems are collected into one InvalidLaunchConfiguration."""

    def check(self, config: dict[str, Any], answers: list[Any]) -> Any:
        return perform_sequence([parallel_sequence([[a] for a in answers])],
                                check_launch_config("t1", config))

    def problems(self, config: dict[str, Any], answers: list[Any]) -> list[str]:
        with self.assertRaises(APIError) as caught:
            self.check(config, answers)
        error: APIError = caught.exception
        self.assertEqual((error.status, error.error_type), (400, "InvalidLaunchConfiguration"))
        lines = error.message.splitlines()
        self.assertEqual(lines[0], "Following problems with launch configuration:")
        return lines[1:]

    def test_valid(self) -> None:
        """An existing ACTIVE image and an existing flavor pass."""
        self.assertIsNone(self.check(launch(), [(nova("images/i1"), lambda _: IMAGE_OK),
                                                (nova("flavors/f1"), lambda _: FLAVOR_OK)]))

    def test_missing_and_inactive(self) -> None:
        """A missing flavor and an inactive image give one line each."""
        self.assertEqual(self.problems(launch(), [
            (nova("images/i1"), lambda _: Response(200, {"image": {"status": "SAVING"}})),
            (nova("flavors/f1"), lambda _: Response(404, {"itemNotFound": {}}))]),
            ['Inactive imageRef "i1" in launchConfiguration',
             'Invalid flavorRef "f1" in launchConfiguration'])

    def test_personality(self) -> None:
        """Bad base64, too many files and a file too large are each reported."""
        files = [{"path": "/a", "contents": "not base64!"},
                 {"path": "/b", "contents": base64.b64encode(b"x" * 11).decode()},
                 {"path": "/c", "contents": base64.b64encode(b"ok").decode()}]
        self.assertEqual(self.problems(launch(personality=files), [
            (nova("images/i1"), lambda _: IMAGE_OK), (nova("flavors/f1"), lambda _: FLAVOR_OK),
            (nova("limits"), lambda _: LIMITS)]),
            ['Invalid base64 encoding for contents of path "/a"',
             'Number of files "3" in personality exceeds maximum limit "2"',
             'File "/b" content\'s size exceeds maximum size "10"'])

    def test_boot_from_volume_checks_flavor_only(self) -> None:
        """Without an imageRef only the flavor is looked up."""
        config = launch(imageRef=None, block_device_mapping_v2=[{}])
        self.assertIsNone(self.check(config, [(nova("flavors/f1"), lambda _: FLAVOR_OK)]))

    def test_outage_is_503(self) -> None:
        """A Nova that cannot answer is a 503 to retry, not an invalid image."""
        with self.assertRaises(APIError) as caught:
            self.check(launch(), [(nova("images/i1"), lambda _: Response(503, "down")),
                                  (nova("flavors/f1"), lambda _: FLAVOR_OK)])
        self.assertEqual(caught.exception.status, 503)
        with self.assertRaises(APIError) as caught:
            self.check(launch(), [(nova("images/i1"), lambda _: raise_(OSError("refused"))),
                                  (nova("flavors/f1"), lambda _: FLAVOR_OK)])
        self.assertEqual(caught.exception.status, 503)
        self.assertIn("refused", caught.exception.message)

    def test_rate_limit_is_503(self) -> None:
        """A lookup refused over the rate limit (Nova's 413 or 429, or the answer
        given while the tenant waits out a Retry-After) is a 503, not an invalid image."""
        for limited in [Response(413, {"overLimit": {"message": "slow"}}, {"retry-after": "5"}),
                        held_answer(30)]:
            with self.assertRaises(APIError) as caught:
                self.check(launch(), [(nova("images/i1"), lambda _, r=limited: r),
                                      (nova("flavors/f1"), lambda _: FLAVOR_OK)])
            self.assertEqual(caught.exception.status, 503)

    def test_load_balancer_lookups(self) -> None:
        """Each distinct CLB is looked up and the pools listed, at once with Nova."""
        config = launch()
        config["args"]["loadBalancers"] = [
            {"loadBalancerId": 5, "port": 80}, {"loadBalancerId": "5", "port": 81},
            {"loadBalancerId": "P1", "type": "RackConnectV3"}]
        shown = Response(200, {"loadBalancer": {"id": 5, "status": "ACTIVE"}})
        self.assertIsNone(self.check(config, [
            (nova("images/i1"), lambda _: IMAGE_OK), (nova("flavors/f1"), lambda _: FLAVOR_OK),
            (lb_service("loadbalancers/5"), lambda _: shown),
            (pools(), lambda _: Response(200, [{"id": "p1"}]))]))

    def test_unreachable_load_balancers_are_503(self) -> None:
        """A CLB service that cannot be reached is a 503 saying why."""
        config = launch()
        config["args"]["loadBalancers"] = [{"loadBalancerId": 5, "port": 80}]
        with self.assertRaises(APIError) as caught:
            self.check(config, [
                (nova("images/i1"), lambda _: IMAGE_OK),
                (nova("flavors/f1"), lambda _: FLAVOR_OK),
                (lb_service("loadbalancers/5"), lambda _: raise_(OSError("refused")))])
        self.assertEqual((caught.exception.status, caught.exception.error_type),
                         (503, "CloudLoadBalancersUnavailable"))
        self.assertIn("refused", caught.exception.message)

    def stack_check(self, answer: Any) -> Any:
        stack = {"template": {"heat_template_version": "2015-04-30", "resources": {}}}
        preview = ServiceRequest("t1", ServiceType.ORCHESTRATION, "POST", "stacks/preview",
                                 json={**stack, "stack_name": "autoscale_preview_00ff"})
        return perform_sequence([(RandomHex(8), lambda _: "00ff"), (preview, answer)],
                                check_launch_config("t1", {"type": "launch_stack",
                                                           "args": {"stack": stack}}))

    def test_stack_previewed(self) -> None:
        """A launch_stack configuration is previewed by Heat; a 200 accepts it."""
        self.assertIsNone(self.stack_check(lambda _: Response(200, {"stack": {}})))

    def test_stack_refused_by_heat(self) -> None:
        """A 400 from Heat's preview is InvalidLaunchConfiguration with Heat's message."""
        body = {"code": 400, "title": "Bad Request", "explanation": "The server could not "
                "comply with the request since it is either malformed or otherwise incorrect.",
                "error": {"message": "Unknown resource Type : OS::Nope", "traceback": None,
                          "type": "StackValidationFailed"}}
        with self.assertRaises(APIError) as caught:
            self.stack_check(lambda _: Response(400, body))
        self.assertEqual((caught.exception.status, caught.exception.error_type,
                          caught.exception.message),
                         (400, "InvalidLaunchConfiguration",
                          f"{PROBLEMS}\nUnknown resource Type : OS::Nope"))

    def test_stack_heat_down(self) -> None:
        """Heat failing to answer is a 503 to try again, not a verdict on the stack."""
        with self.assertRaises(APIError) as caught:
            self.stack_check(lambda _: Response(503, "down"))
        self.assertEqual((caught.exception.status, caught.exception.error_type),
                         (503, "CloudOrchestrationUnavailable"))


POOL = "d6d3aa7c-0000-4f7e-9b1e-0123456789ab"
PROBLEMS = "Following problems with launch configuration:"


def with_load_balancers(*entries: Any) -> dict[str, Any]:
    """The minimal create-group body, its launch configuration with these load balancers."""
    body = minimal_group()
    body["launchConfiguration"]["args"]["loadBalancers"] = list(entries)
    return body


def clb_entry(lb_id: Any, port: int = 80) -> dict[str, Any]:
    return {"loadBalancerId": lb_id, "port": port}


def pool_entry(pool_id: str) -> dict[str, Any]:
    return {"loadBalancerId": pool_id, "type": "RackConnectV3"}


class LoadBalancerCheckTests(APITestCase):
    """
    With a cloud configured, the load balancers of a launch configuration are
    looked up in the tenant's cloud: the simulated one, reached over HTTP
    through the real performer and a catalog, before anything is stored.
    """

    def make_config(self, config: Config) -> Config:
        return evolve(config, identity=IdentityConfig("http://identity", "otter", "pw"))

    def make_dispatcher(self) -> Any:
        now = reactor.seconds()
        cloud = add_load_balancer(SimulatedCloud(base_url=CLOUD), "t1", 4711, now)
        cloud = add_load_balancer(cloud, "t1", 4712, now)
        self.holder = CloudHolder(add_pool(cloud, "t1", POOL))
        self.authenticator = StaticAuthenticator("token",
                                                 simulated_catalog(CLOUD, REGION, "t1"))
        return make_dispatcher(reactor, self.store,
                               http=StubTreq(simulated_resource(self.holder, reactor)),
                               authenticator=self.authenticator, region=REGION)

    def without_service(self, name: str) -> None:
        """The tenant's catalog from now on lacks the service called ``name``."""
        self.authenticator.catalog = [service for service in self.authenticator.catalog
                                      if service["name"] != name]

    async def refused(self, body: dict[str, Any], *lines: str) -> None:
        """Creating the group is refused with exactly these problem lines, and
        nothing is stored."""
        answer = await self.call("POST", "/groups", body)
        assert_error(self, answer, 400, "InvalidLaunchConfiguration",
                     "\n".join([PROBLEMS, *lines]))
        self.assertEqual((await self.call("GET", "/groups")).json["groups"], [])

    async def test_existing_load_balancers_pass(self) -> None:
        """Existing CLBs (given as numbers or digits) and pools (in any case) pass, at
        creation and in a launch update."""
        body = with_load_balancers(clb_entry(4711), clb_entry("4711", 8080), clb_entry("4712"),
                                   pool_entry(POOL.upper()))
        group = await self.create_group(body)
        answer = await self.call("PUT", f"/groups/{group['id']}/launch",
                                 body["launchConfiguration"])
        self.assertEqual(answer.code, 204, answer.raw)

    async def test_unknown_load_balancer(self) -> None:
        """A CLB id the tenant does not have is refused, named."""
        await self.refused(with_load_balancers(clb_entry(4711), clb_entry(999999)),
                           "Cloud Load Balancer does not exist: 999999")

    async def test_malformed_load_balancer_ids(self) -> None:
        """Ids that are not positive integers are refused, each named, without a lookup."""
        await self.refused(
            with_load_balancers(clb_entry("abc"), clb_entry(0), clb_entry(-3),
                                clb_entry("007")),
            *[f'Invalid loadBalancerId "{lb_id}" in launchConfiguration: a Cloud Load '
              "Balancer id is a positive integer, without leading zeros"
              for lb_id in ("abc", "0", "-3", "007")])

    async def test_schema_refusals_come_first(self) -> None:
        """Ids the schema refuses (empty, with spaces, fractions, booleans) stay
        validation errors."""
        for lb_id in ("", "47 11", 4.5, 4.0, True, None):
            answer = await self.call("POST", "/groups", with_load_balancers(clb_entry(lb_id)))
            assert_error(self, answer, 400, "ValidationError")

    async def test_load_balancer_being_deleted(self) -> None:
        """A CLB being deleted, or deleted, is refused, named."""
        cloud = set_load_balancer_status(self.holder.cloud, "t1", 4711,
                                         CLBStatus.PENDING_DELETE)
        self.holder.cloud = set_load_balancer_status(cloud, "t1", 4712, CLBStatus.DELETED)
        await self.refused(with_load_balancers(clb_entry(4711), clb_entry(4712)),
                           "Cloud Load Balancer is currently being deleted: 4711",
                           "Cloud Load Balancer is currently being deleted: 4712")

    async def test_unknown_pool(self) -> None:
        """A RackConnect v3 pool the tenant does not have is refused, named once
        however its id is cased."""
        other = "abcdef00-0000-4000-8000-000000000000"
        await self.refused(with_load_balancers(pool_entry(POOL), pool_entry(other),
                                               pool_entry(other.upper())),
                           f"RackConnect v3 load balancer pool {other} does not exist")

    async def test_no_rackconnect(self) -> None:
        """A pool is refused when the tenant's catalog lacks RackConnect, which is said
        once; load balancers alone need no RackConnect."""
        self.without_service("rackconnect")
        await self.refused(with_load_balancers(pool_entry(POOL), pool_entry("other")),
                           "RackConnect v3 is not available to tenant t1: its service "
                           "catalog has no rackconnect endpoint in region ORD")
        await self.create_group(with_load_balancers(clb_entry(4711)))

    async def test_no_load_balancer_service(self) -> None:
        """A CLB is refused when the tenant's catalog lacks Cloud Load Balancers."""
        self.without_service("cloudLoadBalancers")
        await self.refused(with_load_balancers(clb_entry(4711), clb_entry(4712)),
                           "Cloud Load Balancers is not available to tenant t1: its service "
                           "catalog has no cloudLoadBalancers endpoint in region ORD")

    async def test_load_balancer_outage(self) -> None:
        """A CLB service that cannot answer is a 503 to try again; nothing is stored."""
        self.holder.cloud = fail_service(self.holder.cloud, ServiceType.CLOUD_LOAD_BALANCERS,
                                         reactor.seconds() + 3600, status=503)
        answer = await self.call("POST", "/groups", with_load_balancers(clb_entry(4711)))
        assert_error(self, answer, 503, "CloudLoadBalancersUnavailable",
                     "Could not check the launch configuration's load balancer 4711 with "
                     "Cloud Load Balancers (HTTP 503); try again later")
        self.assertEqual((await self.call("GET", "/groups")).json["groups"], [])

    async def test_rackconnect_outage(self) -> None:
        """A RackConnect that cannot answer is a 503 to try again; nothing is stored."""
        self.holder.cloud = fail_service(self.holder.cloud, ServiceType.RACKCONNECT_V3,
                                         reactor.seconds() + 3600)
        answer = await self.call("POST", "/groups", with_load_balancers(pool_entry(POOL)))
        assert_error(self, answer, 503, "RackConnectUnavailable",
                     "Could not check the launch configuration's load balancer pools with "
                     "RackConnect v3 (HTTP 500); try again later")
        self.assertEqual((await self.call("GET", "/groups")).json["groups"], [])

    async def test_launch_update_is_checked(self) -> None:
        """A launch update naming a missing CLB is refused and changes nothing."""
        group = await self.create_group(with_load_balancers(clb_entry(4711)))
        launch = with_load_balancers(clb_entry(999999))["launchConfiguration"]
        answer = await self.call("PUT", f"/groups/{group['id']}/launch", launch)
        assert_error(self, answer, 400, "InvalidLaunchConfiguration",
                     f"{PROBLEMS}\nCloud Load Balancer does not exist: 999999")
        shown = await self.call("GET", f"/groups/{group['id']}/launch")
        self.assertEqual(shown.json["launchConfiguration"]["args"]["loadBalancers"],
                         [clb_entry(4711)])

    async def test_every_problem_is_listed(self) -> None:
        """Image, malformed and missing CLBs and a missing pool are all listed, in order."""
        body = with_load_balancers(clb_entry(999999), clb_entry("abc"), pool_entry("other"))
        body["launchConfiguration"]["args"]["server"]["imageRef"] = "no-such-image"
        self.holder.cloud = set_image_status(self.holder.cloud, "t1", "no-such-image",
                                             "DELETED")
        await self.refused(
            body, 'Invalid imageRef "no-such-image" in launchConfiguration',
            'Invalid loadBalancerId "abc" in launchConfiguration: a Cloud Load Balancer id '
            "is a positive integer, without leading zeros",
            "Cloud Load Balancer does not exist: 999999",
            "RackConnect v3 load balancer pool other does not exist")


class NoCloudTests(APITestCase):
    """Without a cloud configured, load balancers are not looked up."""

    async def test_load_balancers_are_not_looked_up(self) -> None:
        """Any CLB id and pool the schema takes is stored as sent."""
        body = with_load_balancers(clb_entry(999999), clb_entry("abc"), pool_entry("other"))
        group = await self.create_group(body)
        self.assertEqual(group["launchConfiguration"], body["launchConfiguration"])
