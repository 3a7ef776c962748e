"""
Convergence against the simulated cloud, wired through the real dispatcher
composition and store: the scenarios of the convergence engine, run for
simulated minutes on a Clock.
"""

from __future__ import annotations

from typing import Any

from attrs import evolve
from effect import ComposedDispatcher
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud.request import ServiceType
from otter2.config import ConvergerConfig
from otter2.convergence.iteration import converge_one_group
from otter2.effects.dispatcher import store_dispatcher
from otter2.model import GroupState, GroupStatus, ScalingGroup
from otter2.model.cloud import ServerState
from otter2.model.outcome import Verdict
from otter2.simulation import (
    Behaviour,
    CLBStatus,
    CloudHolder,
    SimulatedCloud,
    Timeline,
    add_load_balancer,
    capacity,
    delete_server,
    fail_service,
    remove_node,
    run_for,
    set_load_balancer_status,
    set_quota,
    set_server_status,
    standalone_dispatcher,
)
from otter2.store.memory import MemoryGroupStore

SERVICENET = {"uuid": "11111111-1111-1111-1111-111111111111"}


class Scenario(SynchronousTestCase):
    """A group of tenant t1 converging on the simulated cloud, CLB 5 on port 80."""

    behaviour = Behaviour(build_time=60)

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.holder = CloudHolder(SimulatedCloud(self.behaviour))
        self.holder.cloud = add_load_balancer(self.holder.cloud, "t1", 5, self.clock.seconds())
        self.store = MemoryGroupStore()
        self.dispatcher = ComposedDispatcher([
            store_dispatcher(self.store), standalone_dispatcher(self.holder, self.clock)])

    def make_group(self, desired: int, draining_timeout: float | None = None,
                   lbs: Any = ({"loadBalancerId": 5, "port": 80},)) -> None:
        args: dict[str, Any] = {
            "server": {"name": "web", "flavorRef": "general1-1", "imageRef": "image",
                       "networks": [SERVICENET]},
            "loadBalancers": list(lbs)}
        if draining_timeout is not None:
            args["draining_timeout"] = draining_timeout
        group = ScalingGroup(
            tenant_id="t1", group_id="g1",
            config={"name": "web", "cooldown": 0, "minEntities": 0, "maxEntities": 100},
            launch={"type": "launch_server", "args": args},
            state=GroupState("t1", "g1", desired), created=0.0)
        self.store.create_group(group, [], [], 10)

    def set_desired(self, desired: int) -> None:
        group = self.store.groups[("t1", "g1")]
        self.store.save_state(evolve(group.state, desired=desired))

    def converge_for(self, minutes: float) -> Timeline:
        return run_for(self.clock, self.holder,
                       lambda: converge_one_group("t1", "g1", ConvergerConfig(build_timeout=600)),
                       self.dispatcher, minutes=minutes, interval=10,
                       measure=lambda cloud: capacity(cloud, "t1", "g1"))

    def servers(self) -> list[Any]:
        return list(self.holder.cloud.nova["t1"].servers.values())

    def assert_converged(self, timeline: Timeline, count: int) -> None:
        """The group has ``count`` ACTIVE servers, each with one node on CLB 5."""
        final = timeline.samples[-1]
        self.assertEqual(final.error, None, final)
        self.assertEqual(final.result.verdict, Verdict.SUCCESS, final)
        self.assertEqual((final.capacity.active, final.capacity.building,
                          final.capacity.errored, final.capacity.lb_nodes),
                         (count, 0, 0, count), final)
        self.assertEqual(len(final.result.active_ids), count)
        state = self.store.groups[("t1", "g1")]
        self.assertEqual(len([s for s in state.servers if s.active]), count)


class ScalingTests(Scenario):
    """Scaling up and down."""

    def test_scale_up_then_down_with_draining(self) -> None:
        """0 → 25 → 3: servers are built in batches, then drained and deleted."""
        self.make_group(25, draining_timeout=30)
        up = self.converge_for(minutes=10)
        self.assert_converged(up, 25)
        self.assertLessEqual(max(s.capacity.building for s in up.samples), 25)
        self.set_desired(3)
        down = self.converge_for(minutes=10)
        # Draining first: the extra servers outlive the first iteration.
        self.assertEqual(down.samples[0].capacity.active, 25)
        self.assertEqual(down.samples[0].result.verdict, Verdict.RETRY)
        self.assert_converged(down, 3)
        self.assertEqual(len(self.servers()), 3)

    def test_never_creates_more_than_asked(self) -> None:
        """At no sample does the group have more servers than desired."""
        self.make_group(12)
        timeline = self.converge_for(minutes=8)
        self.assert_converged(timeline, 12)
        for sample in timeline.samples:
            c = sample.capacity
            self.assertLessEqual(c.active + c.building + c.errored, 12, sample)


class FlakyCloudTests(Scenario):
    """Failures of the cloud are survived."""

    behaviour = Behaviour(build_time=60, error_rate=0.3)

    def test_build_failures(self) -> None:
        """With 30% of builds ending in ERROR, the group still reaches 10."""
        self.make_group(10)
        self.assert_converged(self.converge_for(minutes=20), 10)


class OutOfBandTests(Scenario):
    """Damage done behind otter2's back is repaired."""

    def test_deleted_servers_are_replaced(self) -> None:
        """Servers deleted out of band are rebuilt and their nodes cleaned up."""
        self.make_group(4)
        self.assert_converged(self.converge_for(minutes=5), 4)
        for server in self.servers()[:2]:
            self.holder.cloud = delete_server(self.holder.cloud, "t1", server.id)
        self.assert_converged(self.converge_for(minutes=5), 4)

    def test_errored_server_is_replaced(self) -> None:
        """A server that goes to ERROR is deleted and replaced."""
        self.make_group(3)
        self.assert_converged(self.converge_for(minutes=5), 3)
        victim = self.servers()[0].id
        self.holder.cloud = set_server_status(self.holder.cloud, "t1", victim,
                                              ServerState.ERROR, self.clock.seconds())
        self.assert_converged(self.converge_for(minutes=5), 3)
        self.assertNotIn(victim, [s.id for s in self.servers()])

    def test_removed_nodes_come_back(self) -> None:
        """LB nodes removed out of band are added again."""
        self.make_group(3)
        self.assert_converged(self.converge_for(minutes=5), 3)
        lb = self.holder.cloud.load_balancers["t1"][5]
        for node_id in list(lb.nodes)[:2]:
            self.holder.cloud = remove_node(self.holder.cloud, "t1", 5, node_id)
        self.assertEqual(capacity(self.holder.cloud, "t1", "g1").lb_nodes, 1)
        self.assert_converged(self.converge_for(minutes=5), 3)

    def test_pending_update_window(self) -> None:
        """A CLB held in PENDING_UPDATE for two minutes ends converged."""
        self.make_group(3)
        self.holder.cloud = set_load_balancer_status(
            self.holder.cloud, "t1", 5, CLBStatus.PENDING_UPDATE, self.clock.seconds() + 120)
        self.assert_converged(self.converge_for(minutes=6), 3)

    def test_nova_outage(self) -> None:
        """A burst of Nova 503s delays but does not prevent convergence; meanwhile the
        group stays ACTIVE and its state says why it waits, until it converges."""
        self.make_group(3)
        self.holder.cloud = fail_service(self.holder.cloud, ServiceType.CLOUD_SERVERS,
                                         self.clock.seconds() + 90, status=503)
        first = self.converge_for(minutes=1)
        self.assertTrue(all(s.result.verdict is Verdict.RETRY for s in first.samples))
        state = self.store.groups[("t1", "g1")].state
        self.assertEqual(state.status, GroupStatus.ACTIVE)
        [waiting] = state.waiting
        self.assertTrue(waiting.startswith("Could not list the servers of Cloud Servers")
                        and waiting.endswith("(HTTP 503)"), waiting)
        self.assertEqual(list(state.error_reasons), [])
        self.assert_converged(self.converge_for(minutes=5), 3)
        self.assertEqual(list(self.store.groups[("t1", "g1")].state.waiting), [])

    def test_building_servers_are_waited_for(self) -> None:
        """While its servers build, the group's state says it waits for them."""
        self.make_group(2)
        self.converge_for(minutes=0.5)
        state = self.store.groups[("t1", "g1")].state
        self.assertEqual(state.status, GroupStatus.ACTIVE)
        self.assertTrue(state.waiting, state)
        self.assertTrue(any("build" in reason or "ACTIVE" in reason for reason in state.waiting),
                        state.waiting)


class DeletedLoadBalancerTests(Scenario):
    """A load balancer being deleted counts as gone, its nodes with it."""

    def test_pending_delete_is_an_error_not_a_retry(self) -> None:
        """A group growing on a CLB held in PENDING_DELETE, its old nodes still listed,
        goes to ERROR saying the CLB does not exist (it RETRYed for ever, ACTIVE, when it
        tried to remove and add nodes there); scaled to 0 it settles without touching
        the CLB."""
        self.make_group(2)
        self.assert_converged(self.converge_for(minutes=5), 2)
        self.holder.cloud = set_load_balancer_status(self.holder.cloud, "t1", 5,
                                                     CLBStatus.PENDING_DELETE)
        self.set_desired(3)
        stuck = self.converge_for(minutes=3)
        state = self.store.groups[("t1", "g1")].state
        self.assertEqual((state.status, list(state.error_reasons)),
                         (GroupStatus.ERROR, ["Cloud Load Balancer does not exist: 5"]))
        self.assertEqual(stuck.samples[-1].result.verdict, Verdict.FAILURE)
        self.assertEqual(len(self.holder.cloud.load_balancers["t1"][5].nodes), 2)

        self.set_desired(0)
        settled = self.converge_for(minutes=3)
        self.assertEqual(settled.samples[-1].result.verdict, Verdict.SUCCESS)
        self.assertEqual((self.servers(), self.store.groups[("t1", "g1")].state.status),
                         ([], GroupStatus.ACTIVE))


class QuotaTests(Scenario):
    """A quota puts the group in ERROR with a readable reason, until it is lifted."""

    def test_quota_error_and_recovery(self) -> None:
        """Over quota: ERROR naming the quota; quota raised: converged and ACTIVE."""
        self.holder.cloud = set_quota(self.holder.cloud, "t1", 2)
        self.make_group(4)
        stuck = self.converge_for(minutes=3)
        state = self.store.groups[("t1", "g1")].state
        self.assertEqual(state.status, GroupStatus.ERROR)
        self.assertTrue(any("Quota exceeded" in reason or "quota" in reason.lower()
                            for reason in state.error_reasons), state.error_reasons)
        self.assertEqual(stuck.samples[-1].capacity.active, 2)
        self.holder.cloud = set_quota(self.holder.cloud, "t1", 100)
        self.assert_converged(self.converge_for(minutes=5), 4)
        self.assertEqual(self.store.groups[("t1", "g1")].state.status, GroupStatus.ACTIVE)
