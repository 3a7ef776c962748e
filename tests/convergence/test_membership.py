"""
Tests for otter2.convergence.membership, through planning: draining (spec §2.6),
load balancers of kept servers (§2.7, §2.11 rows 11-17), launch-configuration
LB changes, and node matching.
"""

from pyrsistent import PBag, pbag
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud.metadata import lb_metadata
from otter2.convergence.collector import StepCollector
from otter2.convergence.planning import DRAINING_KEY, DRAINING_REASON, DRAINING_VALUE, plan
from otter2.convergence.steps import (
    AddNodesToCLB,
    BulkAddToRCv3,
    BulkRemoveFromRCv3,
    ChangeCLBNode,
    ConvergeLater,
    DeleteServer,
    FailConvergence,
    RecordLoadBalancers,
    RemoveNodesFromCLB,
    SetMetadataItemOnServer,
    Step,
)
from otter2.convergence.transforming import Plan
from otter2.model.cloud import (
    CLB,
    CLBDescription,
    LBDescription,
    LBNode,
    NodeCondition,
    NodeType,
    RCv3Description,
    ServerState,
)
from tests.convergence.support import CREATE, clb_node, group, rcv3_node, server, steps_for

ACTIVE, BUILD = ServerState.ACTIVE, ServerState.BUILD
ENABLED, DISABLED, DRAINING = NodeCondition.ENABLED, NodeCondition.DISABLED, NodeCondition.DRAINING
CLB5 = CLBDescription("5", 80)
IP1, IP2 = "10.0.0.1", "10.0.0.2"
MARK = SetMetadataItemOnServer("abc", DRAINING_KEY, DRAINING_VALUE)


def record(server_id: str, *lbs: LBDescription) -> RecordLoadBalancers:
    """The step that makes a server's metadata (empty but for it) name ``lbs``."""
    return RecordLoadBalancers(server_id, lb_metadata(lbs))


def to_drain(lb_id: str, node_id: str) -> ChangeCLBNode:
    return ChangeCLBNode(lb_id, node_id, DRAINING, 1, NodeType.PRIMARY)


def enable(lb_id: str, node_id: str) -> ChangeCLBNode:
    return ChangeCLBNode(lb_id, node_id, ENABLED, 1, NodeType.PRIMARY)


class DrainAndDeleteTests(SynchronousTestCase):
    """Spec §2.6: taking a server off its load balancers, then deleting it."""

    def drain(self, nodes: list, timeout: float = 10, now: float = 0, draining: bool = False,
              state: ServerState = ACTIVE, capacity: int = 0) -> PBag:
        abc = server("abc", state, address=IP1, draining=draining)
        return steps_for(capacity, [abc], nodes, draining_timeout=timeout, now=now)

    def test_no_timeout(self) -> None:
        """Timeout 0: an ENABLED node is removed and the server deleted at once."""
        self.assertEqual(self.drain([clb_node("1", IP1)], timeout=0),
                         pbag([RemoveNodesFromCLB("5", {"1"}), DeleteServer("abc")]))

    def test_disabled_node(self) -> None:
        """A DISABLED node is removed at once, a quiet node (it takes no connection)."""
        self.assertEqual(self.drain([clb_node("1", IP1, condition=DISABLED)]),
                         pbag([RemoveNodesFromCLB("5", {"1"}, {"1"}), DeleteServer("abc")]))

    def test_enabled_node_starts_draining(self) -> None:
        """An ENABLED node starts draining and the server is marked."""
        self.assertEqual(self.drain([clb_node("1", IP1)]), pbag([to_drain("5", "1"), MARK]))

    def test_draining_node_waits(self) -> None:
        """A node draining for less than the timeout, with connections or unknown, waits."""
        for connections in [1, None]:
            node = clb_node("1", IP1, condition=DRAINING, drained_at=0, connections=connections)
            self.assertEqual(self.drain([node], now=5),
                             pbag([ConvergeLater([DRAINING_REASON]), MARK]))

    def test_drained_node_goes(self) -> None:
        """A node with no connections left, or past the timeout, goes with its server,
        a quiet node (it takes no new connection)."""
        for connections, now in [(0, 5), (None, 15), (3, 10)]:
            node = clb_node("1", IP1, condition=DRAINING, drained_at=0, connections=connections)
            self.assertEqual(self.drain([node], now=now, draining=True),
                             pbag([RemoveNodesFromCLB("5", {"1"}, {"1"}), DeleteServer("abc")]))

    def test_building_server_is_not_drained(self) -> None:
        """A BUILD server scaled down leaves its CLB and RCv3 nodes at once."""
        nodes = [clb_node("1", IP1), rcv3_node("r", "6", "abc")]
        self.assertEqual(self.drain(nodes, state=BUILD), pbag([
            RemoveNodesFromCLB("5", {"1"}), BulkRemoveFromRCv3({("6", "abc")}),
            DeleteServer("abc")]))

    def test_rcv3_node_is_not_drained(self) -> None:
        """An RCv3 node is removed at once, whatever the timeout."""
        self.assertEqual(self.drain([rcv3_node("r", "6", "abc")], timeout=3600),
                         pbag([BulkRemoveFromRCv3({("6", "abc")}), DeleteServer("abc")]))

    def test_marked_server_not_marked_again(self) -> None:
        """A server already marked only has its node drained."""
        self.assertEqual(self.drain([clb_node("1", IP1)], draining=True),
                         pbag([to_drain("5", "1")]))

    def test_marked_server_without_nodes(self) -> None:
        """A marked server with no node is deleted at once."""
        self.assertEqual(self.drain([], draining=True), pbag([DeleteServer("abc")]))

    def test_marked_server_is_replaced(self) -> None:
        """A marked server goes even when capacity would keep it, and is replaced."""
        self.assertEqual(self.drain([], draining=True, capacity=1),
                         pbag([DeleteServer("abc"), CREATE]))

    def test_partly_removed(self) -> None:
        """While some node still drains, removals go ahead and the server stays."""
        nodes = [clb_node("1", IP1, condition=DISABLED), clb_node("2", IP1, lb_id="6")]
        self.assertEqual(self.drain(nodes), pbag([RemoveNodesFromCLB("5", {"1"}, {"1"}),
                                                  to_drain("6", "2"), MARK]))

    def test_drained_from_every_load_balancer(self) -> None:
        """A server that goes leaves every LB with a node of it, configured or not."""
        self.assertEqual(self.drain([clb_node("1", IP1, lb_id="9", port=22)]),
                         pbag([to_drain("9", "1"), MARK]))

    def test_unknown_drain_start_postpones_this_server(self) -> None:
        """
        A draining node without drained_at (Otter's DrainingUnavailable, which
        failed the whole plan) makes only its server wait, a limited number of
        times, with a readable reason; the rest of the plan stands.
        """
        node = clb_node("1", IP1, condition=DRAINING)
        broken = server("err", ServerState.ERROR)
        abc = server("abc", address=IP1)
        self.assertEqual(steps_for(0, [abc, broken], [node], draining_timeout=10), pbag([
            ConvergeLater(["Waiting for Cloud Load Balancer 5 to tell when node 1 began "
                           "draining"], limited=True),
            MARK, DeleteServer("err")]))


class MembershipTests(SynchronousTestCase):
    """Spec §2.7 and §2.11 rows 11 to 17: load balancers of kept ACTIVE servers."""

    def test_surplus_goes_and_kept_server_joins(self) -> None:
        """Row 11: the older server goes, the newer joins CLB 5."""
        servers = [server("t0", created=0, address=IP1, lbs=[CLB5]),
                   server("t1", created=1, address=IP2, lbs=[CLB5])]
        self.assertEqual(steps_for(1, servers, lbs=[CLB5]),
                         pbag([DeleteServer("t0"), AddNodesToCLB("5", {(IP2, CLB5)})]))

    def test_joins_drained_behind_a_health_monitor(self) -> None:
        """Row 12: a monitored CLB gets the node DRAINING; RCv3 pools get the server."""
        clb3, pool = CLBDescription("3", 80), RCv3Description("6")
        servers = [server("a", address=IP1), server("b", address=IP2)]
        drained = CLBDescription("3", 80, condition=DRAINING)
        self.assertEqual(
            steps_for(2, servers, lbs=[CLB5, clb3, pool],
                      clbs={"5": CLB(health_monitor=False), "3": CLB(health_monitor=True)}),
            pbag([AddNodesToCLB("5", {(IP1, CLB5), (IP2, CLB5)}),
                  AddNodesToCLB("3", {(IP1, drained), (IP2, drained)}),
                  BulkAddToRCv3({("6", "a"), ("6", "b")})]))

    def test_unknown_load_balancer_fails(self) -> None:
        """Row 13: a wanted CLB without health information fails with a readable reason."""
        self.assertEqual(steps_for(1, [server("a", address=IP1)], lbs=[CLB5], clbs={}),
                         pbag([FailConvergence([
                             "Cloud Load Balancer does not exist: 5"])]))

    def test_drift_is_reset(self) -> None:
        """Row 14: a node whose weight, condition or type drifted is set back."""
        for drifted in [clb_node("1", IP1, weight=5), clb_node("1", IP1, condition=DISABLED),
                        clb_node("1", IP1, type=NodeType.SECONDARY)]:
            self.assertEqual(steps_for(1, [server("a", address=IP1)], [drifted], lbs=[CLB5]),
                             pbag([enable("5", "1")]))

    def monitored(self, node: LBNode, now: float) -> PBag:
        return steps_for(1, [server("a", address=IP1)], [node], lbs=[CLB5],
                         clbs={"5": CLB(health_monitor=True)}, now=now)

    def test_online_node_is_enabled(self) -> None:
        """Row 15: a joining node that came ONLINE is enabled."""
        node = clb_node("1", IP1, condition=DRAINING, online=True, drained_at=1)
        self.assertEqual(self.monitored(node, 300), pbag([enable("5", "1")]))

    def test_offline_too_long_fails(self) -> None:
        """Row 16: a node OFFLINE for longer than the build timeout needs the owner."""
        node = clb_node("1", IP1, condition=DRAINING, online=False, drained_at=1)
        self.assertEqual(self.monitored(node, 3602), pbag([FailConvergence([
            "Node 1 of Cloud Load Balancer 5 has remained OFFLINE for more than 3600 "
            "seconds"])]))

    def test_offline_timeout_is_its_own_setting(self) -> None:
        """With an OFFLINE timeout of 600 s, a node OFFLINE for 700 s fails; builds keep 3600."""
        node = clb_node("1", IP1, condition=DRAINING, online=False, drained_at=0)
        server_ = server("a", address=IP1, lbs=[CLB5])
        found = plan(group(1, [CLB5]), [server_], [node], {"5": CLB(health_monitor=True)}, 700,
                     3600, offline_timeout=600)
        self.assertEqual(list(found.steps), [FailConvergence([
            "Node 1 of Cloud Load Balancer 5 has remained OFFLINE for more than 600 seconds"])])
        waiting = plan(group(1, [CLB5]), [server_], [node], {"5": CLB(health_monitor=True)}, 500,
                       3600, offline_timeout=600)
        self.assertEqual(waiting.wake_at, 600)

    def test_offline_node_waits(self) -> None:
        """Row 17, and the strict ``>``: an OFFLINE node within the timeout is waited for."""
        node = clb_node("1", IP1, condition=DRAINING, online=False, drained_at=1)
        waiting = pbag([ConvergeLater(["Waiting for node 1 of Cloud Load Balancer 5 to come "
                                       "ONLINE"])])
        self.assertEqual([self.monitored(node, 300), self.monitored(node, 3601)],
                         [waiting, waiting])

    def test_offline_node_of_unknown_age_waits_limited(self) -> None:
        """An OFFLINE joining node without drained_at is waited for a limited time."""
        node = clb_node("1", IP1, condition=DRAINING, online=False)
        self.assertEqual(self.monitored(node, 300), pbag([ConvergeLater(
            ["Waiting for node 1 of Cloud Load Balancer 5 to come ONLINE"], limited=True)]))

    def test_drift_on_unknown_load_balancer_fails(self) -> None:
        """A drifted node on a CLB without health information fails readably."""
        self.assertEqual(steps_for(1, [server("a", address=IP1)], [clb_node("1", IP1, weight=3)],
                                   lbs=[CLB5], clbs={}),
                         pbag([FailConvergence(["Cloud Load Balancer does not exist: 5"])]))

    def test_several_ports(self) -> None:
        """Two ports on one CLB give two nodes, in one merged addition."""
        ports = [CLBDescription("5", 8080), CLBDescription("5", 8081)]
        self.assertEqual(steps_for(1, [server("a", address=IP1)], lbs=ports),
                         pbag([AddNodesToCLB("5", {(IP1, ports[0]), (IP1, ports[1])})]))

    def test_no_servicenet_address(self) -> None:
        """A server without a ServiceNet address fails readably instead of never joining."""
        self.assertEqual(steps_for(1, [server("a")], lbs=[CLB5]), pbag([FailConvergence([
            "Server a has no ServiceNet address, so it cannot be added to Cloud Load "
            "Balancer 5"])]))

    def test_rcv3_member_is_never_changed(self) -> None:
        """A server already in its RCv3 pool needs nothing."""
        self.assertEqual(steps_for(1, [server("a")], [rcv3_node("r", "6", "a")],
                                   lbs=[RCv3Description("6")]), pbag([]))

    def test_only_active_servers_join(self) -> None:
        """Building, waiting and held servers are not added to load balancers yet."""
        for state in [BUILD, ServerState.RESIZE, ServerState.SUSPENDED]:
            steps = steps_for(1, [server("a", state, address=IP1)], lbs=[CLB5])
            self.assertFalse([step for step in steps if isinstance(step, AddNodesToCLB)])


OLD, NEW = CLBDescription("5", 80), CLBDescription("7", 80)


class LaunchConfigChangeTests(SynchronousTestCase):
    """
    A change of the launch configuration's LBs applies to existing servers:
    they join the new LBs and leave, drained, the ones they were created with.
    """

    def test_joins_new_load_balancer(self) -> None:
        """
        A kept server joins an LB added to the launch configuration once its
        metadata names it: first the record, then the join.
        """
        a = server("a", address=IP1, lbs=[OLD])
        self.assertEqual(steps_for(1, [a], [clb_node("1", IP1)], lbs=[OLD, NEW]),
                         pbag([record("a", OLD, NEW)]))
        recorded = server("a", address=IP1, lbs=[OLD, NEW])
        self.assertEqual(steps_for(1, [recorded], [clb_node("1", IP1)], lbs=[OLD, NEW]),
                         pbag([AddNodesToCLB("7", {(IP1, NEW)})]))

    def test_drains_from_removed_load_balancer(self) -> None:
        """Its node on an LB its metadata records but the group dropped drains; it stays."""
        a = server("a", address=IP1, lbs=[OLD])
        nodes = [clb_node("1", IP1), clb_node("2", IP1, lb_id="7")]
        self.assertEqual(steps_for(1, [a], nodes, lbs=[NEW], draining_timeout=30),
                         pbag([to_drain("5", "1"), record("a", OLD, NEW)]))

    def test_removed_at_once_without_draining_timeout(self) -> None:
        """
        Without a draining timeout the node is removed at once; the old LB stays
        recorded until its node is seen gone, the new one is recorded before
        the server joins it.
        """
        a = server("a", address=IP1, lbs=[OLD])
        self.assertEqual(steps_for(1, [a], [clb_node("1", IP1)], lbs=[NEW]),
                         pbag([RemoveNodesFromCLB("5", {"1"}), record("a", OLD, NEW)]))

    def test_draining_node_is_removed_when_drained(self) -> None:
        """The draining node waits for the draining timeout, then is removed."""
        a = server("a", address=IP1, lbs=[OLD])
        node = clb_node("1", IP1, condition=DRAINING, drained_at=0)
        self.assertEqual(
            [steps_for(1, [a], [node], lbs=[], draining_timeout=30, now=now)
             for now in (10, 30)],
            [pbag([ConvergeLater([DRAINING_REASON])]),
             pbag([RemoveNodesFromCLB("5", {"1"}, {"1"})])])

    def test_unknown_drain_start(self) -> None:
        """A draining node without drained_at waits a limited time, readably."""
        a = server("a", address=IP1, lbs=[OLD])
        node = clb_node("1", IP1, condition=DRAINING)
        self.assertEqual(steps_for(1, [a], [node], draining_timeout=30), pbag([ConvergeLater(
            ["Waiting for Cloud Load Balancer 5 to tell when node 1 began draining"],
            limited=True)]))

    def test_removed_pool(self) -> None:
        """A dropped RCv3 pool the server was created with is left at once."""
        a = server("a", lbs=[RCv3Description("6")])
        self.assertEqual(steps_for(1, [a], [rcv3_node("r", "6", "a")], draining_timeout=30),
                         pbag([BulkRemoveFromRCv3({("6", "a")})]))

    def test_port_change(self) -> None:
        """
        A new port on the same CLB: the old port's node starts draining and the
        new port is recorded; then the server joins the new port; the drained
        node goes; last the old port leaves the record. The plans say why they
        are not done.
        """
        port = CLBDescription("5", 8080)
        desired = group(1, [port], draining_timeout=30)
        old, both = server("a", address=IP1, lbs=[OLD]), server("a", address=IP1,
                                                                 lbs=[OLD, port])
        draining = clb_node("1", IP1, condition=DRAINING, drained_at=0)
        plans = [plan(desired, [old], [clb_node("1", IP1)], {"5": CLB()}, 0, 3600),
                 plan(desired, [both], [draining], {"5": CLB()}, 10, 3600),
                 plan(desired, [both], [draining, clb_node("2", IP1, port=8080)],
                      {"5": CLB()}, 30, 3600),
                 plan(desired, [both], [clb_node("2", IP1, port=8080)], {"5": CLB()}, 31, 3600)]
        self.assertEqual(plans, [
            Plan([to_drain("5", "1"), record("a", OLD, port)],
                 ["adding server a to Cloud Load Balancer 5 waits for the next iteration: "
                  "its metadata must name it first"], kept=["a"], wake_at=30),
            Plan([AddNodesToCLB("5", {(IP1, port)}), ConvergeLater([DRAINING_REASON])],
                 kept=["a"], wake_at=30),
            Plan([RemoveNodesFromCLB("5", {"1"}, {"1"})],
                 ["server a leaves Cloud Load Balancer 5; its record is updated once the node "
                  "is seen gone"], kept=["a"]),
            Plan([record("a", port)], kept=["a"])])

    def test_user_nodes_are_left_alone(self) -> None:
        """
        Nodes on LBs neither configured nor recorded are the user's: never
        touched (the recorded LB the server has left is dropped from its record).
        """
        a = server("a", address=IP1, lbs=[OLD])
        nodes: list[LBNode] = [clb_node("1", IP1, lb_id="9", weight=7),
                               clb_node("2", IP1, lb_id="9", port=22, condition=DRAINING),
                               rcv3_node("r", "8", "a")]
        self.assertEqual(steps_for(1, [a], nodes, draining_timeout=30), pbag([record("a")]))

    def test_only_active_servers_change(self) -> None:
        """Waiting and held servers keep their nodes on dropped LBs for now."""
        for state in [ServerState.RESIZE, ServerState.SUSPENDED]:
            a = server("a", state, address=IP1, lbs=[OLD])
            steps = steps_for(1, [a], [clb_node("1", IP1)], lbs=[NEW])
            self.assertFalse([step for step in steps
                              if isinstance(step, (ChangeCLBNode, RemoveNodesFromCLB))])


class NodeMatchingTests(SynchronousTestCase):
    """Only nodes of the group's servers are ever touched."""

    def test_foreign_clb_nodes(self) -> None:
        """Nodes at addresses of no group server stay, beside removed and drained ones."""
        nodes = [clb_node("1", IP1), clb_node("2", "10.9.9.9"), clb_node("3", IP2),
                 clb_node("4", "10.9.9.8", condition=DRAINING)]
        servers = [server("err", ServerState.ERROR, address=IP1),
                   server("abc", address=IP2, created=0), server("keep", created=1)]
        self.assertEqual(steps_for(1, servers, nodes, draining_timeout=30), pbag([
            DeleteServer("err"), RemoveNodesFromCLB("5", {"1"}),
            ChangeCLBNode("5", "3", DRAINING, 1, NodeType.PRIMARY),
            SetMetadataItemOnServer("abc", DRAINING_KEY, DRAINING_VALUE)]))

    def test_foreign_rcv3_members(self) -> None:
        """Pool members of other servers stay."""
        nodes = [rcv3_node("r1", "6", "err"), rcv3_node("r2", "6", "stranger")]
        self.assertEqual(steps_for(0, [server("err", ServerState.ERROR)], nodes),
                         pbag([DeleteServer("err"), BulkRemoveFromRCv3({("6", "err")})]))

    def test_reused_address_belongs_to_the_live_server(self) -> None:
        """A deleted server's address reused by a group server: the node is the live one's."""
        for state in [ACTIVE, ServerState.UNKNOWN]:
            for order in (1, -1):
                servers = [server("old", ServerState.DELETED, address=IP1, created=5),
                           server("new", state, address=IP1, created=0)][::order]
                steps = steps_for(1, servers, [clb_node("1", IP1)], lbs=[CLB5])
                self.assertFalse([step for step in steps
                                  if isinstance(step, (RemoveNodesFromCLB, ChangeCLBNode))])

    def test_no_address_claims_nothing(self) -> None:
        """A server without a ServiceNet address owns no CLB node."""
        self.assertEqual(steps_for(1, [server("err", ServerState.ERROR)], [clb_node("1", "")]),
                         pbag([DeleteServer("err"), CREATE]))


class StepCollectorTests(SynchronousTestCase):
    """The collector is the one place where steps are merged."""

    def test_clb_steps_merge_per_load_balancer(self) -> None:
        """Additions and removals merge per CLB, never across CLBs."""
        steps = StepCollector()
        steps.add("5", "10.0.0.1", CLB5)
        steps.add("5", "10.0.0.2", CLB5)
        steps.add("6", "10.0.0.1", CLBDescription("6", 80))
        steps.remove(clb_node("1", IP1))
        steps.remove(clb_node("2", IP2))
        self.assertEqual(pbag(steps.result()), pbag([
            AddNodesToCLB("5", {("10.0.0.1", CLB5), ("10.0.0.2", CLB5)}),
            AddNodesToCLB("6", {("10.0.0.1", CLBDescription("6", 80))}),
            RemoveNodesFromCLB("5", {"1", "2"}),
        ]))

    def test_rcv3_steps_merge_into_one(self) -> None:
        """All RCv3 additions become one bulk call, and all removals another."""
        steps = StepCollector()
        steps.add_to_pool("p1", "a")
        steps.add_to_pool("p2", "b")
        steps.remove(rcv3_node("n1", "p1", "c"))
        steps.remove(rcv3_node("n2", "p3", "d"))
        self.assertEqual(pbag(steps.result()), pbag([
            BulkAddToRCv3({("p1", "a"), ("p2", "b")}),
            BulkRemoveFromRCv3({("p1", "c"), ("p3", "d")}),
        ]))

    def test_waits_and_failures_fold(self) -> None:
        """Waits fold per ``limited`` flag and failures into one step, sorted, no repeats."""
        steps = StepCollector()
        for reason in ("b", "a", "c", "a"):
            steps.later(reason)
        steps.later("z", limited=True)
        steps.later("y", limited=True)
        for reason in ("second", "first", "second"):
            steps.fail(reason)
        self.assertEqual(pbag(steps.result()), pbag([
            ConvergeLater(["a", "b", "c"]),
            ConvergeLater(["y", "z"], limited=True),
            FailConvergence(["first", "second"]),
        ]))

    def test_other_steps_pass_through(self) -> None:
        """Server steps and CLB node changes are kept as they are, repeats included."""
        given: list[Step] = [CREATE, CREATE, DeleteServer("a"), enable("5", "1"),
                             enable("5", "2"), MARK]
        steps = StepCollector()
        for step in given:
            steps.append(step)
        self.assertEqual(steps.result(), given)

    def test_wake_at_is_the_soonest_end(self) -> None:
        """The soonest end of a known wait is kept; waits without an end add none."""
        steps = StepCollector()
        self.assertIsNone(steps.wake_at)
        steps.later("draining", until=130.0)
        steps.later("no end known", limited=True)
        steps.wake(115.0)
        steps.later("building", until=3700.0)
        self.assertEqual(steps.wake_at, 115.0)


class WakeAtTests(SynchronousTestCase):
    """The plan says when the waits it knows of end (Note [Looking again])."""

    def test_draining_node_wakes_when_its_timeout_ends(self) -> None:
        """A node that began draining at 100 with a 30 s timeout is due at 130."""
        the_plan = plan(group(0, [CLB5], draining_timeout=30),
                        [server("abc", address=IP1, draining=True)],
                        [clb_node("1", IP1, condition=DRAINING, drained_at=100.0)],
                        {"5": CLB()}, 110.0, 3600)
        self.assertEqual((the_plan.wake_at, the_plan.kept), (130.0, frozenset()))

    def test_node_set_draining_now_wakes_after_the_timeout(self) -> None:
        """A node put in DRAINING by this plan is due one timeout from now."""
        the_plan = plan(group(0, [CLB5], draining_timeout=30),
                        [server("abc", address=IP1)], [clb_node("1", IP1)],
                        {"5": CLB()}, 110.0, 3600)
        self.assertIn(to_drain("5", "1"), the_plan.steps)
        self.assertEqual(the_plan.wake_at, 140.0)

    def test_building_server_wakes_at_its_build_timeout(self) -> None:
        """A server building since 50 with a 600 s timeout is due at 650."""
        the_plan = plan(group(1), [server("abc", BUILD, created=50.0)], [], {}, 100.0, 600)
        self.assertEqual((the_plan.wake_at, set(the_plan.kept)), (650.0, {"abc"}))

    def test_kept_excludes_surplus(self) -> None:
        """Scaling down, the kept servers are the newest that count."""
        servers = [server("old", created=1.0), server("new", created=2.0)]
        self.assertEqual(set(plan(group(1), servers, [], {}, 100.0, 600).kept), {"new"})
