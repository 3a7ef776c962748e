"""
Tests for otter2.convergence.gathering: the requests a gather makes, in order,
with canned answers, and the Observation (or the readable failure) it yields.
"""

from collections.abc import Callable
from typing import Any

from attrs import evolve
from effect.testing import parallel_sequence, perform_sequence
from pyrsistent import pmap, pvector
from twisted.internet.error import ConnectionRefusedError
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud import clb, heat, nova, rcv3
from otter2.cloud.request import NoSuchEndpoint, Response
from otter2.convergence.gathering import (
    GatherError,
    Observation,
    ServiceMissing,
    gather_clb,
    gather_group,
    gather_rcv3,
    gather_servers,
    gather_stacks,
)
from otter2.model.cloud import (
    CLB,
    CLBDescription,
    CLBNode,
    NodeCondition,
    RCv3Description,
    RCv3Node,
)
from tests.cloud.test_clb_feed import CREATED_DRAINING, UPDATED_DRAINING, feed
from tests.cloud.test_heat import stack_json
from tests.cloud.test_nova import server_json

NEXT = "http://nova/v2/t1/servers/detail?limit=100&marker="


def answer(status: int, body: Any = None) -> Callable[[object], Response]:
    return lambda _: Response(status, body)


def raise_(error: Exception) -> Callable[[object], Any]:
    def fail(_: object) -> Any:
        raise error
    return fail


def page(servers: list, marker: str = "") -> Callable[[object], Response]:
    links = [{"rel": "next", "href": NEXT + marker}] if marker else []
    return answer(200, {"servers": servers, "servers_links": links})


def marker_page(marker: str) -> Any:
    return nova.list_servers_request("t1", (("limit", "100"), ("marker", marker)))


MINE = server_json(id="a")
OTHER = server_json(id="b", metadata={"rax:autoscale:group:id": "g2"})
LEGACY = server_json(id="c", metadata={"rax:auto_scaling_group_id": "g1"})


class GatherServersTests(SynchronousTestCase):
    """The group's servers, from every page of the listing."""

    def test_pages(self) -> None:
        """Pages are followed by their next links and the group's servers kept."""
        servers = perform_sequence([
            (nova.list_servers_request("t1"), page([MINE, OTHER], marker="b")),
            (marker_page("b"), page([LEGACY], marker="c")),
            (marker_page("c"), page([])),
        ], gather_servers("t1", "g1"))
        self.assertEqual(servers, [nova.parse_server(MINE), nova.parse_server(LEGACY)])

    def test_last_page(self) -> None:
        """A page without a next link ends the listing."""
        servers = perform_sequence([(nova.list_servers_request("t1"), page([MINE]))],
                                   gather_servers("t1", "g1"))
        self.assertEqual(servers, [nova.parse_server(MINE)])

    def test_same_next_link_twice(self) -> None:
        """The same next link twice in a row fails the gather with a reason."""
        with self.assertRaises(GatherError) as caught:
            perform_sequence([
                (nova.list_servers_request("t1"), page([MINE], marker="a")),
                (marker_page("a"), page([OTHER], marker="a")),
            ], gather_servers("t1", "g1"))
        self.assertIn("same next page twice", caught.exception.reason)

    def test_error_status(self) -> None:
        """An error answer fails the gather, quoting Nova."""
        with self.assertRaises(GatherError) as caught:
            perform_sequence([(nova.list_servers_request("t1"), answer(
                500, {"computeFault": {"message": "Boom"}}))], gather_servers("t1", "g1"))
        self.assertEqual(caught.exception.reason,
                         "Could not list the servers of Cloud Servers: Boom (HTTP 500)")

    def test_rate_limited(self) -> None:
        """A listing refused with 429 and Retry-After fails the gather saying so, with
        the seconds asked; one without Retry-After asks nothing."""
        limited = Response(429, {"overLimit": {"message": "This request was rate-limited."}},
                           {"retry-after": "30"})
        with self.assertRaises(GatherError) as caught:
            perform_sequence([(nova.list_servers_request("t1"), lambda _: limited)],
                             gather_servers("t1", "g1"))
        self.assertEqual(caught.exception.retry_after, 30.0)
        self.assertEqual(caught.exception.reason,
                         "Could not list the servers of Cloud Servers: the service is limiting "
                         "the rate of requests and asked to wait 30 s: This request was "
                         "rate-limited. (HTTP 429)")
        with self.assertRaises(GatherError) as caught:
            perform_sequence([(nova.list_servers_request("t1"), answer(429))],
                             gather_servers("t1", "g1"))
        self.assertIsNone(caught.exception.retry_after)

    def test_unreachable(self) -> None:
        """A transport failure fails the gather, naming the service."""
        with self.assertRaises(GatherError) as caught:
            perform_sequence([(nova.list_servers_request("t1"),
                               raise_(ConnectionRefusedError()))], gather_servers("t1", "g1"))
        self.assertTrue(caught.exception.reason.startswith("Could not reach Cloud Servers"))

    def test_no_endpoint(self) -> None:
        """A catalog without Nova is ServiceMissing, with the §3.5 message."""
        with self.assertRaises(ServiceMissing) as caught:
            perform_sequence([(nova.list_servers_request("t1"), raise_(
                NoSuchEndpoint("cloudServersOpenStack", "ORD")))], gather_servers("t1", "g1"))
        self.assertIn("Could not locate service cloudServersOpenStack", caught.exception.reason)

    def test_unreadable_server(self) -> None:
        """A member the listing describes unreadably fails the gather, naming it."""
        broken = server_json(id="z", created="yesterday")
        with self.assertRaises(GatherError) as caught:
            perform_sequence([(nova.list_servers_request("t1"), page([broken]))],
                             gather_servers("t1", "g1"))
        self.assertIn("server z", caught.exception.reason)


def node(node_id: int, condition: str = "ENABLED") -> dict:
    return {"id": node_id, "address": f"10.0.0.{node_id}", "port": 80,
            "condition": condition, "status": "ONLINE"}


LBS = answer(200, {"loadBalancers": [{"id": 5}, {"id": 6}, {"id": 7}]})
MONITOR = answer(200, {"healthMonitor": {"type": "CONNECT"}})
NOT_FOUND = answer(404, {"message": "Load balancer not found"})
#: ``stats`` as mimic answers it: not served.
NO_STATS = [(clb.stats_request("t1", "5"), answer(404, {"message": "Resource not found"}))]


def draining_node(node_id: int, drained_at: Any = None) -> CLBNode:
    return CLBNode(str(node_id), f"10.0.0.{node_id}",
                   CLBDescription("5", 80, condition=NodeCondition.DRAINING),
                   drained_at=drained_at)


class GatherCLBTests(SynchronousTestCase):
    """Nodes and health monitors of the group's CLBs."""

    def test_nodes_monitor_and_feed(self) -> None:
        """Only wanted, existing LBs are read; draining nodes get their time from the feed."""
        result = perform_sequence([
            (clb.list_load_balancers_request("t1"), LBS),
            parallel_sequence([[parallel_sequence([
                [(clb.list_nodes_request("t1", "5"),
                  answer(200, {"nodes": [node(1), node(2, "DRAINING")]}))],
                [(clb.health_monitor_request("t1", "5"), MONITOR)],
            ]), parallel_sequence([[
                (clb.node_feed_request("t1", "5", "2"),
                 answer(200, feed(("x", "2015-01-01T00:00:40Z"),
                                  next_href="http://clb/5/nodes/2.atom?marker=7"))),
                (clb.node_feed_request("t1", "5", "2", (("marker", "7"),)),
                 answer(200, feed((UPDATED_DRAINING, "2015-01-01T00:00:20Z")))),
            ], NO_STATS])]]),
        ], gather_clb("t1", ["5", "9"]))
        self.assertEqual(result, (
            [CLBNode("1", "10.0.0.1", CLBDescription("5", 80)), draining_node(2, 1420070420.0)],
            {"5": CLB(health_monitor=True)}))

    def test_feed_ends(self) -> None:
        """An empty page ends the feed: the draining time stays unknown."""
        result = perform_sequence([
            (clb.list_load_balancers_request("t1"), LBS),
            parallel_sequence([[parallel_sequence([
                [(clb.list_nodes_request("t1", "5"), answer(200, {"nodes": [
                    node(2, "DRAINING")]}))],
                [(clb.health_monitor_request("t1", "5"), answer(200, {"healthMonitor": {}}))],
            ]), parallel_sequence([[
                (clb.node_feed_request("t1", "5", "2"),
                 answer(200, feed(next_href="http://clb/5/nodes/2.atom?marker=7"))),
            ], NO_STATS])]]),
        ], gather_clb("t1", ["5"]))
        self.assertEqual(result, ([draining_node(2)], {"5": CLB()}))

    def test_created_draining(self) -> None:
        """A node created DRAINING began draining at its creation."""
        result = perform_sequence([
            (clb.list_load_balancers_request("t1"), LBS),
            parallel_sequence([[parallel_sequence([
                [(clb.list_nodes_request("t1", "5"), answer(200, {"nodes": [
                    node(2, "DRAINING")]}))],
                [(clb.health_monitor_request("t1", "5"), MONITOR)],
            ]), parallel_sequence([[
                (clb.node_feed_request("t1", "5", "2"),
                 answer(200, feed((CREATED_DRAINING, "2015-01-01T00:00:10Z")))),
            ], NO_STATS])]]),
        ], gather_clb("t1", ["5"]))
        self.assertEqual(result[0], [draining_node(2, 1420070410.0)])

    def test_lb_deleted_during_feed(self) -> None:
        """An LB found gone while reading a feed has no nodes and no CLB."""
        result = perform_sequence([
            (clb.list_load_balancers_request("t1"), LBS),
            parallel_sequence([[parallel_sequence([
                [(clb.list_nodes_request("t1", "5"), answer(200, {"nodes": [
                    node(1), node(2, "DRAINING")]}))],
                [(clb.health_monitor_request("t1", "5"), MONITOR)],
            ]), parallel_sequence([[(clb.node_feed_request("t1", "5", "2"), NOT_FOUND)],
                                   NO_STATS])]]),
        ], gather_clb("t1", ["5"]))
        self.assertEqual(result, ([], {}))

    def test_lb_gone(self) -> None:
        """An LB gone before its nodes or monitor are read counts as no nodes, no health."""
        result = perform_sequence([
            (clb.list_load_balancers_request("t1"), LBS),
            parallel_sequence([
                [parallel_sequence([[(clb.list_nodes_request("t1", "5"), NOT_FOUND)],
                                    [(clb.health_monitor_request("t1", "5"), NOT_FOUND)]])],
                [parallel_sequence([[(clb.list_nodes_request("t1", "6"),
                                      answer(200, {"nodes": []}))],
                                    [(clb.health_monitor_request("t1", "6"), MONITOR)]])],
            ]),
        ], gather_clb("t1", ["5", "6"]))
        self.assertEqual(result, ([], {"6": CLB(health_monitor=True)}))

    def test_failure(self) -> None:
        """An error listing nodes fails the gather with a reason naming the LB."""
        with self.assertRaises(GatherError) as caught:
            perform_sequence([
                (clb.list_load_balancers_request("t1"), LBS),
                parallel_sequence([[parallel_sequence([
                    [(clb.list_nodes_request("t1", "5"), answer(500, {"message": "down"}))],
                    [(clb.health_monitor_request("t1", "5"), MONITOR)]])]]),
            ], gather_clb("t1", ["5"]))
        self.assertEqual(caught.exception.reason,
                         "Could not list the nodes of Cloud Load Balancer 5: down (HTTP 500)")

    def draining(self, stats: Callable[[object], Any]) -> list[CLBNode]:
        """The nodes gathered from CLB 5 with a DRAINING and an ENABLED node, its
        ``stats`` answered with ``stats``."""
        nodes: list[CLBNode]
        nodes, _ = perform_sequence([
            (clb.list_load_balancers_request("t1"), LBS),
            parallel_sequence([[parallel_sequence([
                [(clb.list_nodes_request("t1", "5"), answer(200, {"nodes": [
                    node(1), node(2, "DRAINING")]}))],
                [(clb.health_monitor_request("t1", "5"), MONITOR)],
            ]), parallel_sequence([
                [(clb.node_feed_request("t1", "5", "2"),
                  answer(200, feed((UPDATED_DRAINING, "2015-01-01T00:00:20Z"))))],
                [(clb.stats_request("t1", "5"), stats)],
            ])]]),
        ], gather_clb("t1", ["5"]))
        return nodes

    def test_idle_load_balancer(self) -> None:
        """A load balancer holding no connection says its DRAINING nodes have none;
        its other nodes are not told."""
        self.assertEqual(self.draining(answer(200, {"currentConn": 0, "maxConn": 4})), [
            CLBNode("1", "10.0.0.1", CLBDescription("5", 80)),
            evolve(draining_node(2, 1420070420.0), connections=0)])

    def test_busy_or_unknown_connections(self) -> None:
        """Connections on the load balancer, or stats that cannot be read, leave the
        draining node's count unknown (it may be the one holding them)."""
        for stats in [answer(200, {"currentConn": 3}), answer(404, {"message": "nope"}),
                      answer(200, {"maxConn": 0}), raise_(ConnectionRefusedError())]:
            self.assertEqual(self.draining(stats)[1], draining_node(2, 1420070420.0))

    def test_no_stats_without_draining(self) -> None:
        """Without DRAINING nodes the load balancer's stats are not read."""
        result = perform_sequence([
            (clb.list_load_balancers_request("t1"), LBS),
            parallel_sequence([[parallel_sequence([
                [(clb.list_nodes_request("t1", "5"), answer(200, {"nodes": [node(1)]}))],
                [(clb.health_monitor_request("t1", "5"), MONITOR)]])]]),
        ], gather_clb("t1", ["5"]))
        self.assertEqual(result[0], [CLBNode("1", "10.0.0.1", CLBDescription("5", 80))])

    def test_being_deleted_counts_as_missing(self) -> None:
        """A load balancer listed as PENDING_DELETE or DELETED (CLB's or mimic's
        spelling) is not read: no nodes to add to or remove from, no CLB."""
        listing = answer(200, {"loadBalancers": [
            {"id": 5, "status": "PENDING_DELETE"}, {"id": 6, "status": "PENDING-DELETE"},
            {"id": 7, "status": "DELETED"}, {"id": 8, "status": "ACTIVE"}]})
        result = perform_sequence([
            (clb.list_load_balancers_request("t1"), listing),
            parallel_sequence([[parallel_sequence([
                [(clb.list_nodes_request("t1", "8"), answer(200, {"nodes": []}))],
                [(clb.health_monitor_request("t1", "8"), MONITOR)]])]]),
        ], gather_clb("t1", ["5", "6", "7", "8"]))
        self.assertEqual(result, ([], {"8": CLB(health_monitor=True)}))

    def test_nothing_wanted(self) -> None:
        """No wanted LB reads nothing."""
        self.assertEqual(perform_sequence([], gather_clb("t1", [])), ([], {}))


POOLS = answer(200, [{"id": "Pool-A"}, {"id": "pool-b"}])


class GatherRCv3Tests(SynchronousTestCase):
    """Members of the group's RackConnect v3 pools."""

    def test_members(self) -> None:
        """Wanted pools (compared lower-cased) are read; others are not."""
        nodes = perform_sequence([
            (rcv3.list_pools_request("t1"), POOLS),
            parallel_sequence([[(rcv3.list_pool_nodes_request("t1", "Pool-A"), answer(200, [
                {"id": "n1", "cloud_server": {"id": "s1"}}]))]]),
        ], gather_rcv3("t1", ["pool-a", "pool-z"]))
        self.assertEqual(nodes, [RCv3Node("n1", RCv3Description("pool-a"), "s1")])

    def test_missing_endpoint(self) -> None:
        """A catalog without RackConnect means no members."""
        nodes = perform_sequence([(rcv3.list_pools_request("t1"), raise_(
            NoSuchEndpoint("rackconnect", "ORD")))], gather_rcv3("t1", ["pool-a"]))
        self.assertEqual(nodes, [])

    def test_failure(self) -> None:
        """An error listing pools fails the gather."""
        with self.assertRaises(GatherError):
            perform_sequence([(rcv3.list_pools_request("t1"), answer(503))],
                             gather_rcv3("t1", ["pool-a"]))


TAG = "autoscale_g1"


def stacks_page(stacks: list) -> Callable[[object], Response]:
    return answer(200, {"stacks": stacks})


def numbered(first: int, count: int) -> list:
    return [stack_json(id=f"st{n:03}", stack_name=f"autoscale_g1_{n:03}")
            for n in range(first, first + count)]


class GatherStacksTests(SynchronousTestCase):
    """The group's Heat stacks, from every page of the listing by its tag."""

    def test_one_page(self) -> None:
        """A page shorter than the limit is the last; its stacks are read."""
        stacks = perform_sequence([
            (heat.list_stacks_request("t1", TAG), stacks_page([stack_json()])),
        ], gather_stacks("t1", "g1"))
        self.assertEqual(stacks, [heat.parse_stack(stack_json())])

    def test_pages(self) -> None:
        """A full page is followed by the next, after its last stack."""
        first, second = numbered(0, 100), numbered(100, 3)
        stacks = perform_sequence([
            (heat.list_stacks_request("t1", TAG), stacks_page(first)),
            (heat.list_stacks_request("t1", TAG, "st099"), stacks_page(second)),
        ], gather_stacks("t1", "g1"))
        self.assertEqual(stacks, [heat.parse_stack(s) for s in first + second])

    def test_full_last_page(self) -> None:
        """A full page followed by an empty one ends the listing."""
        first = numbered(0, 100)
        stacks = perform_sequence([
            (heat.list_stacks_request("t1", TAG), stacks_page(first)),
            (heat.list_stacks_request("t1", TAG, "st099"), stacks_page([])),
        ], gather_stacks("t1", "g1"))
        self.assertEqual(len(stacks), 100)

    def test_repeated_page_stops(self) -> None:
        """A page that brings no stack not seen before (a cloud ignoring the marker)
        ends the listing; repeated stacks are read once."""
        first = numbered(0, 100)
        stacks = perform_sequence([
            (heat.list_stacks_request("t1", TAG), stacks_page(first)),
            (heat.list_stacks_request("t1", TAG, "st099"), stacks_page(first)),
        ], gather_stacks("t1", "g1"))
        self.assertEqual(stacks, [heat.parse_stack(s) for s in first])

    def test_partly_repeated_page_goes_on(self) -> None:
        """A full page with some new stacks is followed; the repeated ones are dropped."""
        first, second = numbered(0, 100), numbered(50, 100)
        stacks = perform_sequence([
            (heat.list_stacks_request("t1", TAG), stacks_page(first)),
            (heat.list_stacks_request("t1", TAG, "st099"), stacks_page(second)),
            (heat.list_stacks_request("t1", TAG, "st149"), stacks_page([])),
        ], gather_stacks("t1", "g1"))
        self.assertEqual([s.id for s in stacks], [f"st{n:03}" for n in range(150)])

    def test_repeated_on_one_page(self) -> None:
        """A stack listed twice on one page is read once, not counted twice."""
        stacks = perform_sequence([
            (heat.list_stacks_request("t1", TAG), stacks_page([stack_json(), stack_json()])),
        ], gather_stacks("t1", "g1"))
        self.assertEqual(stacks, [heat.parse_stack(stack_json())])

    def test_other_tags_dropped(self) -> None:
        """A stack whose shown tags lack the group's tag is not the group's; one whose
        tags are not shown is."""
        mine = stack_json(id="a", tags="x,autoscale_g1")
        other = stack_json(id="b", tags=["autoscale_g2"])
        untagged = stack_json(id="c", tags=None)
        stacks = perform_sequence([
            (heat.list_stacks_request("t1", TAG), stacks_page([mine, other, untagged])),
        ], gather_stacks("t1", "g1"))
        self.assertEqual([s.id for s in stacks], ["a", "c"])

    def test_error_status(self) -> None:
        """A 5xx fails the gather, quoting Heat."""
        with self.assertRaises(GatherError) as caught:
            perform_sequence([(heat.list_stacks_request("t1", TAG), answer(
                503, {"code": 503, "error": {"message": "Heat is down"}}))],
                gather_stacks("t1", "g1"))
        self.assertEqual(caught.exception.reason,
                         "Could not list the stacks of Cloud Orchestration: Heat is down "
                         "(HTTP 503)")
        self.assertIsNone(caught.exception.retry_after)

    def test_rate_limited(self) -> None:
        """A 429 with Retry-After fails the gather saying so, with the seconds asked."""
        limited = Response(429, {"error": {"message": "Too many requests"}},
                           {"retry-after": "30"})
        with self.assertRaises(GatherError) as caught:
            perform_sequence([(heat.list_stacks_request("t1", TAG), lambda _: limited)],
                             gather_stacks("t1", "g1"))
        self.assertEqual(caught.exception.retry_after, 30.0)
        self.assertEqual(caught.exception.reason,
                         "Could not list the stacks of Cloud Orchestration: the service is "
                         "limiting the rate of requests and asked to wait 30 s: Too many "
                         "requests (HTTP 429)")

    def test_no_endpoint(self) -> None:
        """A catalog without Heat is ServiceMissing, with the §3.5 message."""
        with self.assertRaises(ServiceMissing) as caught:
            perform_sequence([(heat.list_stacks_request("t1", TAG), raise_(
                NoSuchEndpoint("cloudOrchestration", "ORD")))], gather_stacks("t1", "g1"))
        self.assertIn("Could not locate service cloudOrchestration", caught.exception.reason)

    def test_unreachable(self) -> None:
        """A transport failure fails the gather, naming the service."""
        with self.assertRaises(GatherError) as caught:
            perform_sequence([(heat.list_stacks_request("t1", TAG),
                               raise_(ConnectionRefusedError()))], gather_stacks("t1", "g1"))
        self.assertTrue(caught.exception.reason.startswith(
            "Could not reach Cloud Orchestration"))

    def test_unreadable(self) -> None:
        """An unreadable page, or a stack without a status, fails the gather saying so."""
        with self.assertRaises(GatherError) as caught:
            perform_sequence([(heat.list_stacks_request("t1", TAG), answer(200, {}))],
                             gather_stacks("t1", "g1"))
        self.assertIn("the answer was unreadable", caught.exception.reason)
        with self.assertRaises(GatherError) as caught:
            perform_sequence([(heat.list_stacks_request("t1", TAG), stacks_page([
                stack_json(id="z", stack_status=None)]))], gather_stacks("t1", "g1"))
        self.assertIn("stack z", caught.exception.reason)


class GatherGroupTests(SynchronousTestCase):
    """The whole observation of a group."""

    def test_no_load_balancers(self) -> None:
        """A group with no LB anywhere reads only its servers."""
        observation = perform_sequence([(nova.list_servers_request("t1"), page([MINE]))],
                                       gather_group("t1", "g1", []))
        self.assertEqual(observation, Observation([nova.parse_server(MINE)]))

    def test_recorded_and_desired(self) -> None:
        """CLBs and pools come from the configuration and from the servers' metadata."""
        recorded = server_json(id="a", metadata={
            "rax:autoscale:group:id": "g1",
            "rax:autoscale:lb:CloudLoadBalancer:6": '[{"port": 80}]'})
        observation = perform_sequence([
            (nova.list_servers_request("t1"), page([recorded])),
            parallel_sequence([
                [(clb.list_load_balancers_request("t1"), answer(200, {"loadBalancers": [
                    {"id": 6}, {"id": 7}]})),
                 parallel_sequence([[parallel_sequence([
                     [(clb.list_nodes_request("t1", "6"), answer(200, {"nodes": [node(1)]}))],
                     [(clb.health_monitor_request("t1", "6"), MONITOR)]])]])],
                [(rcv3.list_pools_request("t1"), answer(200, [{"id": "p"}])),
                 parallel_sequence([[(rcv3.list_pool_nodes_request("t1", "p"), answer(200, [
                     {"id": "n1", "cloud_server": {"id": "a"}}]))]])],
            ]),
        ], gather_group("t1", "g1", [CLBDescription("5", 80), RCv3Description("p")]))
        self.assertEqual(observation, Observation(
            servers=[nova.parse_server(recorded)],
            lb_nodes=[CLBNode("1", "10.0.0.1", CLBDescription("6", 80)),
                      RCv3Node("n1", RCv3Description("p"), "a")],
            clbs={"6": CLB(health_monitor=True)}))

    def test_only_the_groups_draining_nodes_are_looked_into(self) -> None:
        """Of the DRAINING nodes, only those at a group server's address get their feed
        and their load balancer's stats read: here, CLB 5 holds the group's draining
        node (10.0.0.5), CLB 6 only another's."""
        def nodes_of(lb_id: str, address: str) -> Any:
            return [(clb.list_nodes_request("t1", lb_id), answer(200, {"nodes": [
                {"id": 9, "address": address, "port": 80, "condition": "DRAINING"}]}))]
        observation = perform_sequence([
            (nova.list_servers_request("t1"), page([MINE])),
            (clb.list_load_balancers_request("t1"), LBS),
            parallel_sequence([
                [parallel_sequence([nodes_of("5", "10.0.0.5"),
                                    [(clb.health_monitor_request("t1", "5"), MONITOR)]]),
                 parallel_sequence([
                     [(clb.node_feed_request("t1", "5", "9"), answer(200, feed()))],
                     [(clb.stats_request("t1", "5"), answer(200, {"currentConn": 0}))]])],
                [parallel_sequence([nodes_of("6", "10.0.0.99"),
                                    [(clb.health_monitor_request("t1", "6"), MONITOR)]])],
            ]),
        ], gather_group("t1", "g1", [CLBDescription("5", 80), CLBDescription("6", 80)]))
        self.assertEqual([(n.address, n.connections) for n in observation.lb_nodes
                          if isinstance(n, CLBNode)], [("10.0.0.5", 0), ("10.0.0.99", None)])

    def test_only_clbs(self) -> None:
        """A group with only CLBs reads no RackConnect."""
        observation = perform_sequence([
            (nova.list_servers_request("t1"), page([MINE])),
            (clb.list_load_balancers_request("t1"), answer(200, {"loadBalancers": []})),
        ], gather_group("t1", "g1", [CLBDescription("5", 80)]))
        self.assertEqual(observation.lb_nodes, pvector())
        self.assertEqual(observation.clbs, pmap())

    def test_failure_is_raised(self) -> None:
        """A failing part fails the whole gather with its reason."""
        with self.assertRaises(GatherError) as caught:
            perform_sequence([
                (nova.list_servers_request("t1"), page([MINE])),
                parallel_sequence([
                    [(clb.list_load_balancers_request("t1"), answer(500, {"message": "x"}))],
                    [(rcv3.list_pools_request("t1"), answer(200, []))],
                ]),
            ], gather_group("t1", "g1", [CLBDescription("5", 80), RCv3Description("p")]))
        self.assertIn("Could not list the load balancers", caught.exception.reason)
