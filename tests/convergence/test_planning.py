"""
Tests for otter2.convergence.planning: server counts (spec §2.2, §2.4, §2.5,
§2.11 rows 1-10 and 18), scale-down order (§2.3), plan(), import hygiene, and
properties over arbitrary observed states.
"""

import itertools
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator

from attrs import evolve
from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pbag
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud.metadata import desired_lbs_of
from otter2.convergence.destiny import COUNTED, Destiny, destiny
from otter2.convergence.planning import BUILDING_REASON, plan, plan_steps
from otter2.convergence.steps import (
    AddNodesToCLB,
    BulkAddToRCv3,
    BulkRemoveFromRCv3,
    ChangeCLBNode,
    ConvergeLater,
    CreateServer,
    DeleteServer,
    RecordLoadBalancers,
    RemoveNodesFromCLB,
    SetMetadataItemOnServer,
)
from otter2.convergence.transforming import Plan
from otter2.model.cloud import (
    CLB,
    CLBDescription,
    CLBNode,
    LBDescription,
    LBNode,
    NodeCondition,
    NodeType,
    ObservedServer,
    RCv3Description,
    RCv3Node,
    ServerState,
)
from otter2.model.desired import DesiredGroup
from tests.convergence import reference
from tests.convergence.support import CREATE, clb_node, group, rcv3_node, server, steps_for

ACTIVE, BUILD = ServerState.ACTIVE, ServerState.BUILD
DRAINING = NodeCondition.DRAINING
CLB5 = CLBDescription("5", 80)
IP1, IP2 = "10.0.0.1", "10.0.0.2"


class ServerCountTests(SynchronousTestCase):
    """Servers are created, kept and waited for as spec §2.2 and §2.11 say."""

    def test_creates_missing_servers(self) -> None:
        """Rows 1 and 2: an empty group gets one creation per missing server."""
        self.assertEqual([steps_for(1), steps_for(2)], [pbag([CREATE]), pbag([CREATE] * 2)])

    def test_waits_for_builds(self) -> None:
        """Row 3: a building server counts; the plan waits for it."""
        self.assertEqual(steps_for(1, [server("a", BUILD)]),
                         pbag([ConvergeLater([BUILDING_REASON])]))

    def test_waits_limited_for_transient_states(self) -> None:
        """Row 4: servers in transient states count, with a limited wait per server."""
        servers = [server("abc", ServerState.HARD_REBOOT), server("def", ServerState.PASSWORD)]
        self.assertEqual(steps_for(2, servers), pbag([ConvergeLater([
            "Waiting for server abc to transition to ACTIVE from HARD_REBOOT",
            "Waiting for server def to transition to ACTIVE from PASSWORD"], limited=True)]))

    def test_soft_reboot_is_not_replaced(self) -> None:
        """A REBOOT server (IGNORE, so replaced, in Otter) counts and is waited for."""
        self.assertEqual(steps_for(1, [server("abc", ServerState.REBOOT)]), pbag([ConvergeLater(
            ["Waiting for server abc to transition to ACTIVE from REBOOT"], limited=True)]))

    def test_held_server_is_left_alone(self) -> None:
        """Row 5, and otter2's held states: they count, with no step and no wait."""
        for state in [ServerState.RESCUE, ServerState.PAUSED, ServerState.SHELVED_OFFLOADED]:
            self.assertEqual(steps_for(1, [server("a", state)]), pbag([]))

    def test_unknown_server_is_replaced_not_touched(self) -> None:
        """Row 7: an unknown server is not counted, never deleted, its nodes kept."""
        unknown = server("abc", ServerState.UNKNOWN_TO_OTTER, address=IP1)
        self.assertEqual(steps_for(1, [unknown], [clb_node("1", IP1)]), pbag([CREATE]))
        self.assertEqual(steps_for(0, [unknown], [clb_node("1", IP1)]), pbag([]))

    def test_unknown_server_does_not_count(self) -> None:
        """An ACTIVE server beside an unknown one fills a capacity of one."""
        self.assertEqual(steps_for(1, [server("a"), server("b", ServerState.UNKNOWN)]),
                         pbag([]))

    def test_converged_group(self) -> None:
        """ACTIVE servers at capacity, on their LBs, need nothing."""
        servers = [server("a", address=IP1, lbs=[CLB5]), server("b", address=IP2, lbs=[CLB5])]
        self.assertEqual(steps_for(2, servers, [clb_node("1", IP1), clb_node("2", IP2)],
                                   lbs=[CLB5]), pbag([]))

    def test_negative_capacity_is_zero(self) -> None:
        """A negative capacity removes every server and creates none."""
        self.assertEqual(steps_for(-3, [server("a")]), pbag([DeleteServer("a")]))


class ScaleDownOrderTests(SynchronousTestCase):
    """Spec §2.3: which servers a scale-down removes."""

    def test_oldest_active_goes(self) -> None:
        """Of two ACTIVE servers, the older one goes."""
        self.assertEqual(steps_for(1, [server("new", created=1), server("old", created=0)]),
                         pbag([DeleteServer("old")]))

    def test_ties_are_broken_by_id(self) -> None:
        """Of two servers created together, the larger id goes, whatever the input order."""
        self.assertEqual(steps_for(1, [server("b"), server("a")]), pbag([DeleteServer("b")]))

    def test_building_goes_first_without_waiting(self) -> None:
        """ACTIVE(0), BUILD(1), ACTIVE(2) at capacity 2: the build goes, nothing waits."""
        servers = [server("a0", created=0), server("b1", BUILD, created=1),
                   server("a2", created=2)]
        self.assertEqual(steps_for(2, servers, now=5), pbag([DeleteServer("b1")]))

    def test_destiny_order(self) -> None:
        """
        Building < waiting < held < active: of a pair beside an ACTIVE server, at
        capacity 2, the lesser destiny goes even when it is the newer server
        (adapted: the ACTIVE anchor makes capacity 2 meaningful).
        """
        order = [BUILD, ServerState.HARD_REBOOT, ServerState.RESCUE, ACTIVE]
        for i, lesser in enumerate(order):
            for greater in order[i + 1:]:
                servers = [server("anchor", created=5), server("lesser", lesser, created=9),
                           server("greater", greater, created=1)]
                deleted = [step for step in steps_for(2, servers, now=10)
                           if isinstance(step, DeleteServer)]
                self.assertEqual(deleted, [DeleteServer("lesser")], (lesser, greater))

    def test_oldest_build_goes(self) -> None:
        """Of two builds, the older goes (as in Otter); the other is waited for."""
        servers = [server("b0", BUILD, created=0), server("b1", BUILD, created=1)]
        self.assertEqual(steps_for(1, servers, now=2),
                         pbag([DeleteServer("b0"), ConvergeLater([BUILDING_REASON])]))


class BrokenServerTests(SynchronousTestCase):
    """Spec §2.4 and §2.5: errored, deleted and timed-out servers."""

    def test_errored_server_is_replaced(self) -> None:
        """Row 6: an ERROR (or SHUTOFF) server is deleted and replaced."""
        for state in [ServerState.ERROR, ServerState.SHUTOFF]:
            self.assertEqual(steps_for(1, [server("abc", state)]),
                             pbag([DeleteServer("abc"), CREATE]))

    def test_errored_server_leaves_its_nodes(self) -> None:
        """
        Row 8: the ERROR server's CLB and RCv3 nodes go, without draining (otter2
        plans the two removals on CLB 5 as one step).
        """
        nodes: list[LBNode] = [clb_node("3", IP1, port=80), clb_node("5", IP1, port=8080),
                               rcv3_node("r", "6", "abc")]
        self.assertEqual(
            steps_for(1, [server("abc", ServerState.ERROR, address=IP1)], nodes,
                      draining_timeout=30),
            pbag([DeleteServer("abc"), RemoveNodesFromCLB("5", {"3", "5"}),
                  BulkRemoveFromRCv3({("6", "abc")}), CREATE]))

    def test_deleted_server_leaves_its_nodes(self) -> None:
        """Rows 9 and 10: a DELETED (or SOFT_DELETED) server only loses its nodes."""
        nodes: list[LBNode] = [clb_node("3", IP1), rcv3_node("r", "6", "abc")]
        for state in [ServerState.DELETED, ServerState.SOFT_DELETED]:
            gone = server("abc", state, address=IP1)
            self.assertEqual(steps_for(0, [gone], nodes), pbag([
                RemoveNodesFromCLB("5", {"3"}), BulkRemoveFromRCv3({("6", "abc")})]))
            self.assertEqual(steps_for(0, [gone]), pbag([]))

    def test_timed_out_build_is_replaced(self) -> None:
        """Row 18: a build as old as the build timeout is deleted and replaced."""
        servers = [server("slowpoke", BUILD, created=0), server("ok", created=0)]
        self.assertEqual(steps_for(2, servers, now=3600),
                         pbag([DeleteServer("slowpoke"), CREATE]))

    def test_timed_out_build_not_replaced_when_not_needed(self) -> None:
        """With enough ACTIVE servers, the timed-out build is only deleted."""
        servers = [server("slowpoke", BUILD), server("a"), server("b")]
        self.assertEqual(steps_for(2, servers, now=3600), pbag([DeleteServer("slowpoke")]))


class PlanTests(SynchronousTestCase):
    """plan() transforms the planned steps and reports what it held back."""

    def test_limits_and_merges(self) -> None:
        """
        Spec §2.10's example: capacity 20 and two ACTIVE servers not yet on CLB
        5 give one merged addition and ten creations; the other ten are
        reported as postponed.
        """
        servers = [server("a", address=IP1, lbs=[CLB5]), server("b", address=IP2, lbs=[CLB5])]
        result = plan(group(20, [CLB5]), servers, [], {"5": CLB()}, now=0, build_timeout=3600)
        self.assertEqual(result, Plan(
            [AddNodesToCLB("5", {(IP1, CLB5), (IP2, CLB5)})] + [CREATE] * 10,
            ["8 more server creations wait for the next iteration: at most 10 run in one "
             "iteration"], kept=["a", "b"]))

    def test_step_limits(self) -> None:
        """Configured step limits replace the default ones."""
        result = plan(group(30), [], [], {}, now=0, build_timeout=3600,
                      step_limits={CreateServer: 25})
        self.assertEqual(len(result.steps), 25)

    def test_nothing_to_do(self) -> None:
        """A converged group gets the empty plan."""
        self.assertEqual(plan(group(1), [server("a")], [], {}, now=0, build_timeout=3600),
                         Plan(kept=["a"]))


class ImportTests(SynchronousTestCase):
    """Planning stays pure, down to its imports."""

    def test_no_io_modules(self) -> None:
        """Importing planning loads neither the reactor, treq nor sqlite3."""
        code = ("import sys, otter2.convergence.planning; "
                "print(sorted(m for m in ('twisted.internet.reactor', 'treq', 'sqlite3', "
                "'_sqlite3') if m in sys.modules))")
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout
        self.assertEqual(output.strip(), "[]")


# Properties over arbitrary observed states. ``apply`` plays the cloud: it
# carries a plan out at once (new servers are ACTIVE straight away).

LBS = [CLB5, CLBDescription("5", 8080), CLBDescription("7", 80), RCv3Description("p1"),
       RCv3Description("p2")]
FOREIGN = ["10.9.0.1", "10.9.0.2"]
BUILD_TIMEOUT = 3600


@st.composite
def observed(draw: Callable, unique_addresses: bool = False,
             known_drain_start: bool = False) -> tuple[list, list]:
    """Group servers in any state, and LB nodes of theirs, of strangers, or stray."""
    servers = []
    for i in range(draw(st.integers(0, 12))):
        address = (f"10.0.0.{i}" if unique_addresses
                   else draw(st.sampled_from([f"10.0.0.{n}" for n in range(8)] + [""])))
        servers.append(ObservedServer(
            f"s{i}", draw(st.sampled_from(ServerState)), draw(st.integers(0, 5000)),
            servicenet_address=address, desired_lbs=draw(st.sets(st.sampled_from(LBS))),
            draining=draw(st.booleans())))
    addresses = [s.servicenet_address for s in servers if s.servicenet_address] + FOREIGN
    nodes: list = []
    for i in range(draw(st.integers(0, 15))):
        lb = draw(st.sampled_from(LBS))
        if isinstance(lb, RCv3Description):
            owner = draw(st.sampled_from([s.id for s in servers] + ["stranger"]))
            nodes.append(RCv3Node(f"n{i}", lb, owner))
            continue
        condition = draw(st.sampled_from(NodeCondition))
        known = known_drain_start and condition is NodeCondition.DRAINING
        nodes.append(CLBNode(
            f"n{i}", draw(st.sampled_from(addresses)),
            evolve(lb, weight=draw(st.integers(1, 2)), condition=condition,
                   type=draw(st.sampled_from(NodeType))),
            is_online=draw(st.booleans()),
            drained_at=draw(st.integers(0, 5000) if known else st.none() | st.integers(0, 5000)),
            connections=draw(st.none() | st.integers(0, 2))))
    return servers, nodes


def desired_groups(max_capacity: int = 25) -> st.SearchStrategy:
    return st.builds(group, st.integers(0, max_capacity), st.sets(st.sampled_from(LBS)),
                     st.sampled_from([0.0, 30.0, 300.0]))


CLBS = st.fixed_dictionaries({"5": st.builds(CLB, st.booleans()),
                              "7": st.builds(CLB, st.booleans())})


def apply(plan_: Plan, servers: list, nodes: list, desired: DesiredGroup, now: float,
          fresh: Iterator[int]) -> tuple[list, list]:
    """The servers and nodes once the cloud has done every step of ``plan_``."""
    by_id = {s.id: s for s in servers}
    for step in plan_.steps:
        if isinstance(step, CreateServer):
            n = next(fresh)
            by_id[f"new{n}"] = ObservedServer(f"new{n}", ServerState.ACTIVE, now,
                                              servicenet_address=f"10.1.{n // 256}.{n % 256}",
                                              desired_lbs=desired.desired_lbs)
        elif isinstance(step, DeleteServer):
            by_id.pop(step.server_id, None)
        elif isinstance(step, SetMetadataItemOnServer):
            by_id[step.server_id] = evolve(by_id[step.server_id], draining=True)
        elif isinstance(step, RecordLoadBalancers):
            by_id[step.server_id] = evolve(by_id[step.server_id], metadata=step.metadata,
                                           desired_lbs=desired_lbs_of(step.metadata))
        elif isinstance(step, AddNodesToCLB):
            nodes = nodes + [
                CLBNode(f"m{next(fresh)}", address, description,
                        drained_at=now if description.condition is DRAINING else None)
                for address, description in step.address_configs]
        elif isinstance(step, RemoveNodesFromCLB):
            nodes = [n for n in nodes if not (isinstance(n, CLBNode) and n.node_id in step.node_ids
                                              and n.description.lb_id == step.lb_id)]
        elif isinstance(step, ChangeCLBNode):
            nodes = [_changed(n, step, now) for n in nodes]
        elif isinstance(step, BulkAddToRCv3):
            nodes = nodes + [RCv3Node(f"m{next(fresh)}", RCv3Description(pool), server_id)
                             for pool, server_id in step.lb_node_pairs]
        elif isinstance(step, BulkRemoveFromRCv3):
            nodes = [n for n in nodes if not (isinstance(n, RCv3Node) and (
                n.description.lb_id, n.cloud_server_id) in step.lb_node_pairs)]
    return list(by_id.values()), nodes


def _changed(node: object, step: ChangeCLBNode, now: float) -> object:
    if not (isinstance(node, CLBNode) and node.node_id == step.node_id
            and node.description.lb_id == step.lb_id):
        return node
    started = step.condition is DRAINING and node.description.condition is not DRAINING
    return evolve(node, description=evolve(node.description, condition=step.condition,
                                           weight=step.weight, type=step.type),
                  drained_at=now if started else node.drained_at)


def counted(servers: list, now: float) -> list:
    return [s for s in servers if destiny(s, now, BUILD_TIMEOUT) in COUNTED]


def run(desired: DesiredGroup, servers: list, nodes: list, clbs: dict, rounds: int,
        now: float = 5000, tick: float = 1000) -> tuple[list, list, float]:
    """Plan and apply ``rounds`` times, ``tick`` seconds apart."""
    fresh = itertools.count()
    for _ in range(rounds):
        planned = plan(desired, servers, nodes, clbs, now, BUILD_TIMEOUT)
        servers, nodes = apply(planned, servers, nodes, desired, now, fresh)
        now += tick
    return servers, nodes, now


class PlanPropertyTests(SynchronousTestCase):
    """Planning is safe and converges, whatever it observes."""

    @given(desired=desired_groups(), state=observed(known_drain_start=True), clbs=CLBS)
    def test_reaches_capacity(self, desired: DesiredGroup, state: tuple[list, list], clbs: dict) -> None:
        """Repeated plans leave exactly ``capacity`` counted servers within 8 rounds
        and one more for each node a CLB holds (a CLB takes one change a round, so
        a server with many nodes on one CLB starts their drains one at a time)."""
        servers, nodes = state
        per_clb = Counter(n.description.lb_id for n in nodes if isinstance(n, CLBNode))
        servers, nodes, now = run(desired, servers, nodes, clbs,
                                  rounds=8 + max(per_clb.values(), default=0))
        self.assertEqual(len(counted(servers, now)), desired.capacity)

    @given(desired=desired_groups(), state=observed(), clbs=CLBS)
    def test_deletes_only_surplus_or_broken(self, desired: DesiredGroup, state: tuple[list, list],
                                            clbs: dict) -> None:
        """
        Only broken, timed-out and marked servers are deleted, except for a
        surplus of counted servers, of which no more are deleted or marked.
        """
        servers, nodes = state
        planned = plan(desired, servers, nodes, clbs, 5000, BUILD_TIMEOUT)
        by_id = {s.id: s for s in servers}
        counted_ids = {s.id for s in counted(servers, 5000)}
        touched = {step.server_id for step in planned.steps
                   if isinstance(step, (DeleteServer, SetMetadataItemOnServer))}
        for server_id in touched - counted_ids:
            self.assertIn(destiny(by_id[server_id], 5000, BUILD_TIMEOUT),
                          {Destiny.REPLACE, Destiny.DRAIN})
        self.assertLessEqual(len(touched & counted_ids),
                             max(0, len(counted_ids) - desired.capacity))

    @given(desired=desired_groups(), state=observed(), clbs=CLBS)
    def test_creates_only_what_is_missing(self, desired: DesiredGroup, state: tuple[list, list],
                                          clbs: dict) -> None:
        """A plan creates the missing servers, up to the limit, and never more."""
        servers, nodes = state
        planned = plan(desired, servers, nodes, clbs, 5000, BUILD_TIMEOUT)
        creations = [step for step in planned.steps if isinstance(step, CreateServer)]
        missing = max(0, desired.capacity - len(counted(servers, 5000)))
        self.assertEqual(len(creations), min(10, missing))

    @given(desired=desired_groups(), state=observed(), clbs=CLBS)
    def test_foreign_nodes_untouched(self, desired: DesiredGroup, state: tuple[list, list],
                                     clbs: dict) -> None:
        """No step names a node, address or server that belongs to no group server."""
        servers, nodes = state
        ids = {s.id for s in servers}
        addresses = {s.servicenet_address for s in servers} - {""}
        ours = {(n.description.lb_id, n.node_id) for n in nodes
                if isinstance(n, CLBNode) and n.address in addresses}
        for step in plan_steps(desired, servers, nodes, clbs, 5000, BUILD_TIMEOUT):
            if isinstance(step, RemoveNodesFromCLB):
                self.assertLessEqual({(step.lb_id, n) for n in step.node_ids}, ours)
            elif isinstance(step, ChangeCLBNode):
                self.assertIn((step.lb_id, step.node_id), ours)
            elif isinstance(step, AddNodesToCLB):
                self.assertLessEqual({address for address, _ in step.address_configs},
                                     addresses)
            elif isinstance(step, (BulkAddToRCv3, BulkRemoveFromRCv3)):
                self.assertLessEqual({server_id for _, server_id in step.lb_node_pairs}, ids)

    @given(desired=desired_groups(max_capacity=8),
           state=observed(unique_addresses=True, known_drain_start=True),
           monitors=st.tuples(st.booleans(), st.booleans()))
    def test_reaches_desired_load_balancers(self, desired: DesiredGroup, state: tuple[list, list],
                                            monitors: tuple) -> None:
        """
        Repeated plans put every kept ACTIVE server on each configured LB and
        off each LB it was created with that is no longer configured.
        """
        clbs = {"5": CLB(monitors[0]), "7": CLB(monitors[1])}
        servers, nodes, now = run(desired, *state, clbs, rounds=60)
        wanted = {_key(description) for description in desired.desired_lbs}
        for kept in servers:
            if destiny(kept, now, BUILD_TIMEOUT) is not Destiny.COUNT:
                continue
            on = {_key(n.description) for n in nodes
                  if (n.address == kept.servicenet_address if isinstance(n, CLBNode)
                      else n.cloud_server_id == kept.id)}
            recorded = {_key(description) for description in kept.desired_lbs}
            self.assertEqual((wanted - on, on & (recorded - wanted)), (set(), set()), kept.id)


class ReferenceTests(SynchronousTestCase):
    """The planner plans exactly what its straightforward reference
    (``tests.convergence.reference``) plans, whatever it observes."""

    @given(desired=desired_groups(), state=observed(), clbs=CLBS,
           build_after=st.none() | st.sampled_from([4000.0, 6000.0]),
           offline_timeout=st.none() | st.sampled_from([0.0, 60.0, 3000.0]),
           limits=st.sampled_from([{}, {CreateServer: 2}, {CreateServer: 1, DeleteServer: 1,
                                                          ChangeCLBNode: 2,
                                                          SetMetadataItemOnServer: 1}]),
           now=st.sampled_from([1000.0, 5000.0, 9000.0]))
    def test_same_plan(self, desired: DesiredGroup, state: tuple[list, list], clbs: dict,
                       build_after: float | None, offline_timeout: float | None,
                       limits: dict, now: float) -> None:
        """``plan`` returns what the reference does; ``plan_steps`` too, in the same
        order within each kind of step (the order that limits depend on)."""
        servers, nodes = state
        desired = evolve(desired, build_after=build_after)
        self.assertEqual(
            plan(desired, servers, nodes, clbs, now, BUILD_TIMEOUT, limits, offline_timeout),
            reference.plan(desired, servers, nodes, clbs, now, BUILD_TIMEOUT, limits,
                           offline_timeout))
        self.assertEqual(
            _by_kind(plan_steps(desired, servers, nodes, clbs, now, BUILD_TIMEOUT)),
            _by_kind(reference.plan_steps(desired, servers, nodes, clbs, now, BUILD_TIMEOUT)))

    @given(size=st.integers(0, 40), capacity=st.integers(0, 50),
           monitors=st.tuples(st.booleans(), st.booleans()))
    def test_same_plan_for_big_converged_groups(self, size: int, capacity: int,
                                                monitors: tuple) -> None:
        """The same holds for many ACTIVE servers on every load balancer, as the
        planning benchmark has them, scaled anywhere."""
        clb7 = CLBDescription("7", 80)
        lbs: list[LBDescription] = [CLB5, clb7, RCv3Description("p1")]
        servers = [server(f"s{i}", ACTIVE, i, f"10.0.{i // 256}.{i % 256}", lbs)
                   for i in range(size)]
        nodes: list = [clb_node(f"{lb.lb_id}{i}", s.servicenet_address, lb.lb_id)
                       for lb in (CLB5, clb7) for i, s in enumerate(servers)]
        nodes += [rcv3_node(f"p{i}", "p1", s.id) for i, s in enumerate(servers)]
        clbs = {"5": CLB(monitors[0]), "7": CLB(monitors[1])}
        desired = group(capacity, lbs, 30.0)
        self.assertEqual(plan(desired, servers, nodes, clbs, 5000, BUILD_TIMEOUT),
                         reference.plan(desired, servers, nodes, clbs, 5000, BUILD_TIMEOUT))


def _by_kind(steps: list) -> list:
    """The steps sorted by the name of their type, in the order given within each."""
    return sorted(steps, key=lambda step: type(step).__name__)


class LoadBalancerHistoryTests(SynchronousTestCase):
    """Load-balancer membership survives any number of launch-configuration changes."""

    @given(desired=desired_groups(max_capacity=4),
           changes=st.lists(st.sets(st.sampled_from(LBS)), min_size=1, max_size=4),
           timeout=st.sampled_from([0.0, 30.0]))
    def test_on_exactly_the_current_load_balancers(self, desired: DesiredGroup,
                                                   changes: list[set], timeout: float) -> None:
        """
        After each change converges, every kept ACTIVE server is on exactly
        the current load balancers and on none the group used before, and
        its metadata names exactly the current ones.
        """
        clbs = {"5": CLB(), "7": CLB()}
        servers: list = []
        nodes: list = []
        now = 5000.0
        for lbs in [desired.desired_lbs, *changes]:
            current = evolve(desired, desired_lbs=lbs, draining_timeout=timeout)
            # A CLB takes one node change per iteration: up to 8 drains in a row.
            servers, nodes, now = run(current, servers, nodes, clbs, rounds=30, now=now)
            wanted = {_key(description) for description in lbs}
            for kept in servers:
                on = {_key(n.description) for n in nodes
                      if (n.address == kept.servicenet_address if isinstance(n, CLBNode)
                          else n.cloud_server_id == kept.id)}
                self.assertEqual(on, wanted, kept.id)
                self.assertEqual({_key(d) for d in kept.desired_lbs}, wanted, kept.id)


def _key(description: LBDescription) -> tuple:
    return (type(description), description.lb_id, getattr(description, "port", None))
