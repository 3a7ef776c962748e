"""
Tests for otter2.convergence.tenant_view against the simulated cloud: one
observation of a tenant gives each group exactly what its own gather would
have shown it, each failure fails only the groups that need what failed, and
the tenant's servers and load balancers are read once however many groups
share them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from attrs import evolve
from effect import Effect

from otter2.cloud import nova
from otter2.cloud.request import ServiceType
from otter2.convergence.gathering import GatherError, gather_group
from otter2.convergence.iteration import cared_for, converge_one_group
from otter2.convergence.tenant_view import TenantView, gather_tenant
from otter2.model import ScalingGroup
from otter2.model.cloud import CLBNode, NodeCondition, Observation, RCv3Node
from otter2.simulation import add_pool, delete_server, fail_service, set_quota
from tests.convergence.tenant import SETTINGS, TenantCase, clb, launch, pool

POOL_ID = "d6d3aa7c-0000-4f7e-9b1e-0123456789ab"
GROUPS = ("shared_a", "shared_b", "alone", "bare", "pooled")


def normal(observation: Observation) -> tuple[Any, ...]:
    """An observation with its nodes in a set order: the order of load
    balancers is not part of what was seen."""
    return (list(observation.servers), sorted(observation.lb_nodes, key=repr),
            dict(observation.clbs))


def lbs_of(observation: Observation) -> set[str]:
    """The load balancers (CLBs and pools) whose nodes the observation holds."""
    return {node.description.lb_id for node in observation.lb_nodes}


class TenantViewCase(TenantCase):
    """
    Tenant t1 with CLB 5 shared by shared_a and shared_b (which also uses
    CLB 6), CLB 7 used by alone, a group without load balancers (bare), one
    on a RackConnect pool (pooled), all converged; tenant t2 has a CLB 5 too.
    """

    def setUp(self) -> None:
        super().setUp()
        for lb_id in (5, 6, 7):
            self.add_clb(lb_id)
        self.add_clb(5, tenant_id="t2")
        self.holder.cloud = add_pool(self.holder.cloud, "t1", POOL_ID)
        self.make_group("shared_a", 2, [clb(5)], draining_timeout=600)
        self.make_group("shared_b", 1, [clb(5), clb(6)])
        self.make_group("alone", 1, [clb(7)])
        self.make_group("bare", 2)
        self.make_group("pooled", 1, [pool(POOL_ID)])
        self.make_group("other", 1, [clb(5)], tenant_id="t2")
        self.settle(GROUPS)
        self.settle(["other"], tenant_id="t2")
        self.requests.clear()

    def view(self, groups: dict[str, ScalingGroup] | None = None) -> TenantView:
        """The tenant view of t1 gathered for ``groups`` (by default all five, as stored)."""
        if groups is None:
            groups = {group_id: self.group(group_id) for group_id in GROUPS}
        view: TenantView = self.do(gather_tenant(
            "t1", {group_id: cared_for(group) for group_id, group in groups.items()}))
        return view


class ObservationTests(TenantViewCase):
    """Each group sees exactly its part of the tenant's cloud."""

    def assert_each_group_sees_its_own_gather(self) -> None:
        """Every group's part of the view is the observation its own gather makes."""
        view = self.view()
        for group_id in GROUPS:
            group = self.group(group_id)
            alone: Observation = self.do(gather_group("t1", group_id, cared_for(group)))
            self.assertEqual(normal(view.observation(group_id, cared_for(group))),
                             normal(alone), group_id)
            self.assertEqual(normal(view.observation(group_id)), normal(alone), group_id)

    def test_each_group_sees_what_its_own_gather_sees(self) -> None:
        """Every group's observation is the one its own gather makes of the same cloud."""
        self.assert_each_group_sees_its_own_gather()

    def test_draining_nodes_seen_as_alone(self) -> None:
        """
        While a node of shared_a drains from the CLB it shares with shared_b,
        each group still sees what its own gather sees: shared_b is not told
        when shared_a's node began draining.
        """
        group = self.group("shared_a")
        self.store.save_state(evolve(group.state, desired=1))
        self.do(converge_one_group("t1", "shared_a", SETTINGS))
        self.clock.advance(30)
        seen = self.do(gather_group("t1", "shared_a", cared_for(group)))
        [draining] = [node for node in seen.lb_nodes
                      if node.description.condition is NodeCondition.DRAINING]
        self.assertIsNotNone(draining.drained_at)
        self.assert_each_group_sees_its_own_gather()

    def test_each_group_gets_its_servers_and_its_load_balancers(self) -> None:
        """
        A group gets its servers only, and the nodes of its own load balancers
        only: never those of a CLB only another group uses, nor those of the
        other tenant's CLB of the same id.
        """
        view = self.view()
        seen = {group_id: view.observation(group_id, cared_for(self.group(group_id)))
                for group_id in GROUPS}
        self.assertEqual({group_id: len(o.servers) for group_id, o in seen.items()},
                         {"shared_a": 2, "shared_b": 1, "alone": 1, "bare": 2, "pooled": 1})
        owners = Counter(server.id for o in seen.values() for server in o.servers)
        self.assertEqual(set(owners.values()), {1})
        self.assertEqual({group_id: (lbs_of(o), set(o.clbs)) for group_id, o in seen.items()},
                         {"shared_a": ({"5"}, {"5"}), "shared_b": ({"5", "6"}, {"5", "6"}),
                          "alone": ({"7"}, {"7"}), "bare": (set(), set()),
                          "pooled": ({POOL_ID}, set())})
        # CLB 5 of t1 carries the servers of shared_a and shared_b, not t2's.
        self.assertEqual(len(seen["shared_a"].lb_nodes), 3)
        self.assertTrue(all(isinstance(n, CLBNode) for n in seen["shared_b"].lb_nodes))
        self.assertTrue(all(isinstance(n, RCv3Node) for n in seen["pooled"].lb_nodes))

    def test_load_balancers_of_the_servers_metadata(self) -> None:
        """
        A group whose configuration no longer names its CLB, and whose record
        was lost, still sees that CLB's nodes: its servers' metadata names it.
        """
        moved = evolve(self.group("alone"), launch=launch(), servers=[])
        self.assertEqual(cared_for(moved), set())
        seen = self.view({"alone": moved}).observation("alone", cared_for(moved))
        self.assertEqual((len(seen.servers), lbs_of(seen), set(seen.clbs)),
                         (1, {"7"}, {"7"}))

    def test_load_balancers_of_the_record(self) -> None:
        """
        A group whose configuration no longer names its CLB and whose server
        was deleted out of band still sees the node left behind on that CLB:
        its record names it.
        """
        [server] = self.group("alone").servers
        self.holder.cloud = delete_server(self.holder.cloud, "t1", server.id)
        moved = evolve(self.group("alone"), launch=launch())
        seen = self.view({"alone": moved}).observation("alone", cared_for(moved))
        self.assertEqual((list(seen.servers), lbs_of(seen), len(seen.lb_nodes)),
                         ([], {"7"}, 1))

    def test_group_without_servers(self) -> None:
        """A group the listing shows no server of sees no servers, and its CLBs' nodes."""
        fresh = self.make_group("fresh", 0, [clb(6)])
        seen = self.view({"fresh": fresh}).observation("fresh", cared_for(fresh))
        self.assertEqual((list(seen.servers), lbs_of(seen)), ([], {"6"}))


class FailureTests(TenantViewCase):
    """What could not be read fails the groups that need it, and only those."""

    def failed(self, view: TenantView) -> dict[str, str]:
        """The groups whose observation fails, with the reason."""
        failed = {}
        for group_id in GROUPS:
            try:
                view.observation(group_id, cared_for(self.group(group_id)))
            except GatherError as error:
                failed[group_id] = error.reason
        return failed

    def test_unreadable_clb_fails_only_its_groups(self) -> None:
        """A CLB whose nodes cannot be read fails the group that uses it, no other."""
        self.failing.append(lambda request: request.path == "loadbalancers/7/nodes")
        failed = self.failed(self.view())
        self.assertEqual(list(failed), ["alone"])
        self.assertIn("Could not list the nodes of Cloud Load Balancer 7", failed["alone"])

    def test_unreadable_shared_clb_fails_its_sharers(self) -> None:
        """A shared CLB that cannot be read fails every group that shares it."""
        self.failing.append(lambda request: request.path == "loadbalancers/5/healthmonitor")
        self.assertEqual(sorted(self.failed(self.view())), ["shared_a", "shared_b"])

    def test_clb_listing_failure_fails_the_groups_with_clbs(self) -> None:
        """When the CLBs cannot be listed, the groups with CLBs fail; the others do not."""
        self.failing.append(lambda request: request.path == "loadbalancers")
        failed = self.failed(self.view())
        self.assertEqual(sorted(failed), ["alone", "shared_a", "shared_b"])
        self.assertIn("Could not list the load balancers", failed["alone"])

    def test_rcv3_failure_fails_only_the_groups_with_pools(self) -> None:
        """RackConnect failing fails the group on a pool, no other."""
        self.holder.cloud = fail_service(self.holder.cloud, ServiceType.RACKCONNECT_V3,
                                         self.clock.seconds() + 60)
        failed = self.failed(self.view())
        self.assertEqual(list(failed), ["pooled"])
        self.assertIn("RackConnect", failed["pooled"])

    def test_listing_failure_fails_every_group(self) -> None:
        """
        When the servers cannot be listed every group fails, even one without
        load balancers, and no load balancer is read.
        """
        self.holder.cloud = fail_service(self.holder.cloud, ServiceType.CLOUD_SERVERS,
                                         self.clock.seconds() + 60)
        view = self.view()
        failed = self.failed(view)
        self.assertEqual(sorted(failed), sorted(GROUPS))
        self.assertEqual(len(set(failed.values())), 1)
        self.assertIn("Could not list the servers of Cloud Servers", failed["bare"])
        self.assertEqual([r.service for r in self.requests], [ServiceType.CLOUD_SERVERS])

    def test_other_tenant_is_untouched(self) -> None:
        """A failing tenant's gather makes no request of another tenant's cloud."""
        self.holder.cloud = fail_service(self.holder.cloud, ServiceType.CLOUD_SERVERS,
                                         self.clock.seconds() + 60)
        self.view()
        self.assertEqual({r.tenant_id for r in self.requests}, {"t1"})


class RequestTests(TenantViewCase):
    """One gather reads the tenant's servers once and each load balancer once."""

    def reads(self) -> Counter[tuple[str, str]]:
        return Counter((r.method, r.path) for r in self.requests)

    def test_one_listing_of_every_page(self) -> None:
        """
        With more servers than a page holds, the listing asks for every page
        once, for all the groups together.
        """
        self.holder.cloud = set_quota(self.holder.cloud, "t1", 300)
        for number in range(150):  # servers of no group
            self.do(Effect(nova.create_server_request(
                "t1", {"server": {"name": f"pet-{number}", "flavorRef": "f", "imageRef": "i"}})))
        self.requests.clear()
        view = self.view()
        listings = self.listings()
        self.assertEqual(len(listings), 2)
        self.assertEqual(len({r.params for r in listings}), 2)
        self.assertEqual(sum(len(servers) for servers in view.members.values()), 7)

    def test_each_load_balancer_read_once(self) -> None:
        """
        CLB 5, shared by two groups, is read once (its nodes, its health
        monitor); the CLBs and the pools are listed once; nothing is changed.
        """
        self.view()
        self.assertEqual(self.reads(), Counter({
            ("GET", "servers/detail"): 1, ("GET", "loadbalancers"): 1,
            ("GET", "loadbalancers/5/nodes"): 1, ("GET", "loadbalancers/5/healthmonitor"): 1,
            ("GET", "loadbalancers/6/nodes"): 1, ("GET", "loadbalancers/6/healthmonitor"): 1,
            ("GET", "loadbalancers/7/nodes"): 1, ("GET", "loadbalancers/7/healthmonitor"): 1,
            ("GET", "load_balancer_pools"): 1,
            ("GET", f"load_balancer_pools/{POOL_ID}/nodes"): 1}))

    def test_only_needed_load_balancers_are_read(self) -> None:
        """A gather for groups without load balancers reads none."""
        self.view({"bare": self.group("bare")})
        self.assertEqual(self.reads(), Counter({("GET", "servers/detail"): 1}))
