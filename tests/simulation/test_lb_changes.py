"""
Convergence against the simulated cloud when the load balancers change: the
launch configuration moves the group from CLB 5 to CLB 6 and an RCv3 pool,
and a server is lost while its old load balancer is busy.
"""

from __future__ import annotations

from typing import Any

from effect import Effect
from txeffect import perform

from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.model.cloud import NodeCondition, ServerState
from otter2.model.outcome import Verdict
from otter2.simulation import (
    CLBStatus,
    add_load_balancer,
    add_pool,
    set_load_balancer_status,
    set_server_status,
    simulated_dispatcher,
)
from otter2.simulation.state import SimulatedCloud
from tests.simulation.test_convergence import SERVICENET, Scenario

CLB5 = {"loadBalancerId": 5, "port": 80}
CLB6 = {"loadBalancerId": 6, "port": 80}
POOL = {"loadBalancerId": "p1", "type": "RackConnectV3"}


class LBChangeScenario(Scenario):
    """The Scenario's CLB 5, plus CLB 6 and pool p1, each with nodes that are not the group's."""

    def setUp(self) -> None:
        super().setUp()
        now = self.clock.seconds()
        self.holder.cloud = add_pool(add_load_balancer(self.holder.cloud, "t1", 6, now),
                                     "t1", "p1")
        self.stranger = self.call(ServiceType.CLOUD_SERVERS, "POST", "servers", {
            "server": {"name": "stranger", "flavorRef": "general1-1", "imageRef": "image",
                       "networks": [SERVICENET]}}).body["server"]["id"]
        self.clock.advance(self.behaviour.build_time)
        address = self.holder.cloud.nova["t1"].servers[self.stranger].private_address
        for lb_id in (5, 6):
            for at in (address, "10.250.0.1"):
                answer = self.call(ServiceType.CLOUD_LOAD_BALANCERS, "POST",
                                   f"loadbalancers/{lb_id}/nodes",
                                   {"nodes": [{"address": at, "port": 80,
                                               "condition": "ENABLED"}]})
                self.assertEqual(answer.status, 202, answer)
                self.clock.advance(self.behaviour.clb_update_time)
        answer = self.call(ServiceType.RACKCONNECT_V3, "POST", "load_balancer_pools/nodes", [
            {"load_balancer_pool": {"id": "p1"}, "cloud_server": {"id": self.stranger}}])
        self.assertEqual(answer.status, 201, answer)

    def call(self, service: ServiceType, method: str, path: str, body: Any) -> Response:
        """The simulated cloud's answer to one request, as anyone might make it."""
        done: list[Response] = []
        perform(simulated_dispatcher(self.holder, self.clock),
                Effect(ServiceRequest("t1", service, method, path, json=body))
                ).addCallback(done.append)
        return done[0]

    def change_lbs(self, lbs: list[dict]) -> None:
        """The group's launch configuration names ``lbs`` from now on."""
        group = self.store.groups[("t1", "g1")]
        args = {**group.launch["args"], "loadBalancers": lbs}
        self.store.update_launch("t1", "g1", {"type": "launch_server", "args": args})

    def others(self, cloud: SimulatedCloud) -> dict:
        """Every node and pool member that is not of one of the group's servers."""
        ours = {s.private_address for s in cloud.nova["t1"].servers.values()
                if s.id != self.stranger}
        found: dict[tuple, Any] = {
            ("node", lb.id, node.id): node for lb in cloud.load_balancers["t1"].values()
            for node in lb.nodes.values() if node.address not in ours}
        found.update({("member", pool.id, member.server_id): member
                      for pool in cloud.pools["t1"].values()
                      for member in pool.members.values() if member.server_id == self.stranger})
        return found

    def group_nodes(self, lb_id: int) -> dict[int, NodeCondition]:
        """The conditions of the group's nodes on a CLB, by node id."""
        ours = {s.private_address for s in self.servers() if s.id != self.stranger}
        return {node.id: node.condition
                for node in self.holder.cloud.load_balancers["t1"][lb_id].nodes.values()
                if node.address in ours}

    def group_servers(self) -> list[Any]:
        return [s for s in self.servers() if s.id != self.stranger]


class LaunchConfigurationLBChangeTests(LBChangeScenario):
    """A change of the launch configuration's load balancers applies to existing servers."""

    def test_servers_move_to_the_new_load_balancers(self) -> None:
        """From CLB 5 to CLB 6 and pool p1: the same servers join the new, drain off the old."""
        self.make_group(3, draining_timeout=30, lbs=[CLB5])
        self.assert_converged(self.converge_for(minutes=5), 3)
        kept = {s.id for s in self.group_servers()}
        others = self.others(self.holder.cloud)
        self.assertEqual(len(others), 5)
        self.change_lbs([CLB6, POOL])

        seen = {node_id: {condition} for node_id, condition in self.group_nodes(5).items()}
        for _ in range(30):
            result = self.converge_for(minutes=0).samples[-1].result
            for node_id, condition in self.group_nodes(5).items():
                seen[node_id].add(condition)
            self.assertEqual(self.others(self.holder.cloud), others)
            if result.verdict is Verdict.SUCCESS:
                break
        self.assertEqual(result.verdict, Verdict.SUCCESS, result)
        self.assertEqual({s.id for s in self.group_servers()}, kept)
        self.assertEqual(self.group_nodes(5), {})
        self.assertEqual(set(self.group_nodes(6).values()), {NodeCondition.ENABLED})
        self.assertEqual(len(self.group_nodes(6)), 3)
        self.assertEqual(set(self.holder.cloud.pools["t1"]["p1"].members),
                         kept | {self.stranger})
        self.assertEqual(list(seen.values()), [{NodeCondition.ENABLED, NodeCondition.DRAINING}] * 3)
        self.assertEqual(len(result.active_ids), 3)


class LoadBalancerHistoryTests(LBChangeScenario):
    """Membership survives several changes (Note [Load-balancer history])."""

    def test_five_then_six_then_seven(self) -> None:
        """CLB 5, then 6, then 7: the same servers end on CLB 7 only, strangers untouched."""
        self.holder.cloud = add_load_balancer(self.holder.cloud, "t1", 7, self.clock.seconds())
        self.make_group(3, draining_timeout=30, lbs=[CLB5])
        self.assert_converged(self.converge_for(minutes=5), 3)
        kept = {s.id for s in self.group_servers()}
        others = self.others(self.holder.cloud)
        for lbs in ([CLB6], [{"loadBalancerId": 7, "port": 80}]):
            self.change_lbs(lbs)
            for _ in range(30):
                result = self.converge_for(minutes=0).samples[-1].result
                if result.verdict is Verdict.SUCCESS:
                    break
            self.assertEqual(result.verdict, Verdict.SUCCESS, result)
        self.assertEqual({s.id for s in self.group_servers()}, kept)
        self.assertEqual((self.group_nodes(5), self.group_nodes(6)), ({}, {}))
        self.assertEqual(len(self.group_nodes(7)), 3)
        self.assertEqual(self.others(self.holder.cloud), others)
        for found in self.group_servers():
            self.assertEqual(
                sorted(k for k in found.metadata if k.startswith("rax:autoscale:lb:")),
                ["rax:autoscale:lb:CloudLoadBalancer:7"])


class LostServerTests(LBChangeScenario):
    """A server lost before its nodes could be removed leaves none behind."""

    def test_errored_server_on_a_busy_old_load_balancer(self) -> None:
        """An errored server's node on a busy CLB nobody names any more is removed later."""
        # After a move from CLB 5 to CLB 6, the server errs while CLB 5 is busy:
        # it is deleted at once, and only its record still names CLB 5.
        self.make_group(1, lbs=[CLB5])
        self.assert_converged(self.converge_for(minutes=5), 1)
        [server] = self.group_servers()
        self.change_lbs([CLB6])
        self.holder.cloud = set_server_status(self.holder.cloud, "t1", server.id,
                                              ServerState.ERROR, self.clock.seconds())
        self.holder.cloud = set_load_balancer_status(
            self.holder.cloud, "t1", 5, CLBStatus.PENDING_UPDATE, self.clock.seconds() + 15)
        others = self.others(self.holder.cloud)
        timeline = self.converge_for(minutes=5)
        self.assertEqual(timeline.samples[-1].result.verdict, Verdict.SUCCESS)
        self.assertNotIn(server.id, [s.id for s in self.servers()])
        self.assertEqual([node for node in self.holder.cloud.load_balancers["t1"][5].nodes.values()
                          if node.address == server.private_address], [])
        self.assertEqual(len(self.group_nodes(6)), 1)
        self.assertEqual(self.others(self.holder.cloud), others)

