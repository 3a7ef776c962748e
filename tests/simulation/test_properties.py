"""
Properties of convergence against the simulated cloud: from arbitrary
starting clouds (the group's servers in any Nova status, with drifted, stray
or missing load-balancer nodes, beside servers and nodes that are not the
group's), repeated `converge_one_group` iterations every ten simulated
seconds reach the desired state, never overshoot it, delete only what is
surplus or broken, and leave everything that is not the group's alone.

The oracle here is written from the spec (§2.1 to §2.7), not from the
planner: which servers count, which may be deleted, where an ACTIVE server
should have nodes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

from attrs import evolve, frozen
from effect import ComposedDispatcher
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pyrsistent import pmap, pvector
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from txeffect import perform

from otter2.cloud.metadata import GROUP_ID_KEY, SERVER_STATE_KEY, server_metadata
from otter2.config import ConvergerConfig
from otter2.convergence.conclusion import Conclusion
from otter2.convergence.iteration import converge_one_group
from otter2.effects.dispatcher import store_dispatcher
from otter2.model import GroupState, ScalingGroup
from otter2.model.cloud import (
    CLBDescription,
    LBDescription,
    NodeCondition,
    NodeType,
    RCv3Description,
    ServerState,
)
from otter2.model.outcome import Verdict
from otter2.simulation import (
    Behaviour,
    CloudHolder,
    SimulatedCloud,
    add_load_balancer,
    add_pool,
    advance,
    set_server_status,
    standalone_dispatcher,
)
from otter2.simulation.state import (
    NovaTenant,
    PoolMember,
    SimulatedNode,
    SimulatedServer,
    due,
    tenant_load_balancers,
    tenant_pools,
    with_load_balancer,
    with_nova_tenant,
    with_pool,
)
from otter2.store.memory import MemoryGroupStore

TENANT, GROUP = "t1", "g1"
START = 1_000_000  # whole seconds: Nova reports ``created`` to the second
INTERVAL = 10
ITERATIONS = 20  # plus one per server a health-monitored CLB must enable: see ``bound``
BUILD_TIMEOUT = 60
BEHAVIOUR = Behaviour(build_time=30, node_limit=100)
MONITOR = {"type": "CONNECT", "delay": 10, "timeout": 5, "attemptsBeforeDeactivation": 2}

# A load balancer as the test names it: ("CLB", lb id, port) or ("RCv3", pool id).
LB = tuple
CLB5, CLB5_ALT, CLB6, CLB7 = ("CLB", 5, 80), ("CLB", 5, 8080), ("CLB", 6, 80), ("CLB", 7, 80)
POOL1, POOL2 = ("RCv3", "p1"), ("RCv3", "p2")
CONFIGURABLE = (CLB5, CLB6, POOL1)  # what the launch configuration may name (6 is monitored)
EVERY_LB = CONFIGURABLE + (CLB5_ALT, CLB7, POOL2)  # what servers may record or be on

# Spec §2.1, written out again as the oracle.
WAIT_STATES = (ServerState.REBOOT, ServerState.HARD_REBOOT, ServerState.RESIZE,
               ServerState.MIGRATING)
HOLD_STATES = (ServerState.PAUSED, ServerState.SHELVED, ServerState.SUSPENDED,
               ServerState.RESCUE, ServerState.VERIFY_RESIZE)
BROKEN_STATES = (ServerState.ERROR, ServerState.SHUTOFF)
STATUSES = ((ServerState.ACTIVE,) * 4 + (ServerState.BUILD,) * 2 + BROKEN_STATES + WAIT_STATES
            + HOLD_STATES + (ServerState.DELETED, ServerState.UNKNOWN))
COUNTED_STATES = frozenset((ServerState.ACTIVE, ServerState.BUILD) + WAIT_STATES + HOLD_STATES)


@frozen
class ServerSpec:
    """
    A server of the starting cloud: of the group (``owner`` "g1"), of another
    group ("g2") or of none (None). ``ends_at`` is when a BUILD server
    becomes ``outcome`` or a WAIT server ACTIVE again (None: never).
    """

    status: ServerState
    age: int
    owner: str | None
    recorded: tuple
    draining: bool
    nodes: tuple  # of (LB, condition, weight, type)
    ends_at: int | None
    outcome: ServerState


@frozen
class Start:
    """A starting cloud, and the group's wishes."""

    servers: tuple
    strays: tuple  # nodes (LB, condition, weight, type) at addresses of no server
    desired: int
    wanted: tuple
    draining_timeout: float


def _node_specs() -> st.SearchStrategy:
    node = st.tuples(st.sampled_from(NodeCondition), st.sampled_from([1, 1, 3]),
                     st.sampled_from([NodeType.PRIMARY, NodeType.PRIMARY, NodeType.SECONDARY]))
    return st.lists(st.tuples(st.sampled_from(EVERY_LB), node), unique_by=lambda n: n[0],
                    max_size=3).map(lambda nodes: tuple((lb, *rest) for lb, rest in nodes))


@st.composite
def server_specs(draw: Callable, owner: st.SearchStrategy) -> ServerSpec:
    """A server in any status, recording some LBs and with nodes on some."""
    status = draw(st.sampled_from(STATUSES))
    age = draw(st.integers(0, 100))
    ends_at: int | None = None
    if status is ServerState.BUILD:
        ends_at = draw(st.sampled_from([None, START - age + int(BEHAVIOUR.build_time)]))
    elif status in WAIT_STATES:
        ends_at = START + draw(st.integers(0, 60))
    return ServerSpec(
        status=status, age=age, owner=draw(owner),
        recorded=tuple(sorted(draw(st.sets(st.sampled_from(EVERY_LB))), key=str)),
        draining=draw(st.integers(0, 4)) == 0, nodes=draw(_node_specs()), ends_at=ends_at,
        outcome=draw(st.sampled_from([ServerState.ACTIVE] * 3 + [ServerState.ERROR])))


def starts() -> st.SearchStrategy:
    """Arbitrary starting clouds, desired capacities 0 to 15 and launch configurations."""
    ours = st.lists(server_specs(st.just(GROUP)), max_size=6)
    theirs = st.lists(server_specs(st.sampled_from(["g2", None])).map(
        lambda spec: evolve(spec, status=ServerState.ACTIVE, ends_at=None)), max_size=3)
    strays = st.lists(st.tuples(st.sampled_from(EVERY_LB), st.sampled_from(NodeCondition),
                                st.just(1), st.just(NodeType.PRIMARY)), max_size=3)
    return st.builds(
        Start, servers=st.tuples(ours, theirs).map(lambda both: tuple(both[0] + both[1])),
        strays=strays.map(tuple), desired=st.integers(0, 15),
        wanted=st.sets(st.sampled_from(CONFIGURABLE)).map(lambda s: tuple(sorted(s, key=str))),
        draining_timeout=st.sampled_from([0.0, 15.0]))


#: Two kept servers: the first leaves CLB 5 port 8080 (no longer wanted) while
#: the second must join CLB 5 port 80. The removal goes first and succeeds; the
#: addition waits, so the iteration must not report SUCCESS.
ONE_CHANGE_PER_CLB = Start(
    servers=(ServerSpec(ServerState.ACTIVE, 50, GROUP, (CLB5, CLB5_ALT), False,
                        ((CLB5_ALT, NodeCondition.ENABLED, 1, NodeType.PRIMARY),
                         (CLB5, NodeCondition.ENABLED, 1, NodeType.PRIMARY)),
                        None, ServerState.ACTIVE),
             ServerSpec(ServerState.ACTIVE, 50, GROUP, (CLB5,), False, (), None,
                        ServerState.ACTIVE)),
    strays=(), desired=2, wanted=(CLB5,), draining_timeout=0.0)


# -- building the starting cloud ---------------------------------------------


def description(lb: LB) -> LBDescription:
    """The engine's description of a load balancer the test names."""
    if lb[0] == "CLB":
        return CLBDescription(str(lb[1]), lb[2])
    return RCv3Description(lb[1])


def server_id(index: int) -> str:
    return f"server-{index}"


def address(index: int) -> str:
    """Far from the addresses the simulated Nova hands out (10.0.x.y)."""
    return f"10.200.0.{index}"


def _created_event(node: SimulatedNode) -> tuple[float, str]:
    return (node.created, f"Node successfully created with address: '{node.address}', "
            f"port: '{node.port}', condition: '{node.condition.value}', "
            f"weight: '{node.weight}'")


def build_cloud(start: Start) -> SimulatedCloud:
    """The simulated cloud ``start`` describes, at START."""
    cloud = SimulatedCloud(BEHAVIOUR)
    for lb_id in (5, 6, 7):
        cloud = add_load_balancer(cloud, TENANT, lb_id, START - 1000,
                                  health_monitor=MONITOR if lb_id == 6 else None)
    cloud = add_pool(add_pool(cloud, TENANT, "p1"), TENANT, "p2")
    node_ids = itertools.count(1)

    def place(cloud: SimulatedCloud, lb: LB, at: str, owner_id: str, created: int,
              condition: NodeCondition, weight: int, kind: NodeType) -> SimulatedCloud:
        if lb[0] == "RCv3":
            pool = tenant_pools(cloud, TENANT)[lb[1]]
            member = PoolMember(f"member-{next(node_ids)}", owner_id, created)
            return with_pool(cloud, TENANT, evolve(pool, members=pool.members.set(owner_id,
                                                                                 member)))
        balancer = tenant_load_balancers(cloud, TENANT)[lb[1]]
        node = SimulatedNode(id=next(node_ids), address=at, port=lb[2], condition=condition,
                             weight=weight, type=kind, created=created, online_at=created)
        node = evolve(node, events=pvector([_created_event(node)]))
        return with_load_balancer(cloud, TENANT, evolve(
            balancer, nodes=balancer.nodes.set(node.id, node)))

    servers, order = {}, []
    for index, spec in enumerate(start.servers):
        created = START - spec.age
        metadata: dict[str, str] = {}
        if spec.owner is not None:
            metadata = server_metadata(spec.owner, [description(lb) for lb in spec.recorded])
        if spec.draining:
            metadata[SERVER_STATE_KEY] = "DRAINING"
        building = spec.status is ServerState.BUILD
        server = SimulatedServer(
            id=server_id(index), name=f"web-{index}", status=spec.status, created=created,
            updated=created, sequence=index,
            ready_at=spec.ends_at if building and spec.ends_at is not None else math.inf,
            outcome=spec.outcome if building else spec.status,
            private_address=address(index), public_address=f"198.51.100.{index}",
            image_id="image", flavor_id="general1-1", metadata=metadata)
        servers[server.id] = server
        order.append(server.id)
        if building and spec.ends_at is not None:
            cloud = due(cloud, spec.ends_at)
        for lb, condition, weight, kind in spec.nodes:
            cloud = place(cloud, lb, address(index), server.id, created, condition, weight,
                          kind)
    for index, (lb, condition, weight, kind) in enumerate(start.strays):
        cloud = place(cloud, lb, f"10.201.0.{index}", f"stray-{index}", START - 500,
                      condition, weight, kind)
    cloud = with_nova_tenant(cloud, TENANT, NovaTenant(servers=pmap(servers),
                                                       order=pvector(order)))
    return evolve(cloud, next_node_id=next(node_ids))


def launch_args(start: Start) -> dict[str, Any]:
    """The launch configuration's args: a server with ServiceNet, and the wanted LBs."""
    lbs = [{"loadBalancerId": lb[1], "port": lb[2]} if lb[0] == "CLB"
           else {"loadBalancerId": lb[1], "type": "RackConnectV3"} for lb in start.wanted]
    return {"server": {"name": "web", "flavorRef": "general1-1", "imageRef": "image",
                       "networks": [{"uuid": "11111111-1111-1111-1111-111111111111"}]},
            "loadBalancers": lbs, "draining_timeout": start.draining_timeout}


# -- running ------------------------------------------------------------------


@frozen
class Iteration:
    """One iteration: the cloud just before and just after it, and its result."""

    now: float
    before: SimulatedCloud
    after: SimulatedCloud
    result: Conclusion


def bound(start: Start) -> int:
    """
    How many iterations ``start`` may take: 20, and one more per server on
    the health-monitored CLB 6, whose node joins DRAINING and is enabled
    once ONLINE by a call of its own (a CLB takes one change at a time and
    has no bulk update: 15 servers need 15 iterations for that alone).
    """
    return ITERATIONS + (start.desired if CLB6 in start.wanted else 0)


def converge(start: Start) -> list[Iteration]:
    """
    The iterations run on ``start``, ten simulated seconds apart, until one
    succeeds or ``bound(start)`` have run. Between iterations the cloud goes
    on: builds finish, and servers in a WAIT status become ACTIVE at their
    ``ends_at`` (a reboot ends by itself).
    """
    clock = Clock()
    clock.advance(START)
    holder = CloudHolder(build_cloud(start))
    store = MemoryGroupStore()
    store.create_group(ScalingGroup(
        tenant_id=TENANT, group_id=GROUP,
        config={"name": "web", "cooldown": 0, "minEntities": 0, "maxEntities": 100},
        launch={"type": "launch_server", "args": launch_args(start)},
        state=GroupState(TENANT, GROUP, start.desired), created=0.0), [], [], 10)
    dispatcher = ComposedDispatcher([store_dispatcher(store),
                                     standalone_dispatcher(holder, clock)])
    wakes = [(spec.ends_at, server_id(index)) for index, spec in enumerate(start.servers)
             if spec.status in WAIT_STATES and spec.ends_at is not None]
    trace = []
    for _ in range(bound(start)):
        now = clock.seconds()
        cloud = advance(holder.cloud, now)
        for ends_at, woken in wakes:
            server = cloud.nova[TENANT].servers.get(woken)
            if ends_at <= now and server is not None and server.status in WAIT_STATES:
                cloud = set_server_status(cloud, TENANT, woken, ServerState.ACTIVE, now)
        holder.cloud = cloud
        outcome: list[Any] = []
        perform(dispatcher, converge_one_group(TENANT, GROUP, ConvergerConfig(build_timeout=BUILD_TIMEOUT))
                ).addBoth(outcome.append)
        if not outcome or not isinstance(outcome[0], Conclusion):
            raise AssertionError(f"the iteration at {now} ended with {outcome}")
        trace.append(Iteration(now, cloud, holder.cloud, outcome[0]))
        if outcome[0].verdict is Verdict.SUCCESS:
            break
        clock.advance(INTERVAL)
    return trace


# -- the oracle ------------------------------------------------------------------


def group_servers(cloud: SimulatedCloud) -> dict[str, SimulatedServer]:
    """The group's servers, by their metadata."""
    return {s.id: s for s in cloud.nova[TENANT].servers.values()
            if s.metadata.get(GROUP_ID_KEY) == GROUP}


def marked(server: SimulatedServer) -> bool:
    """Marked for draining, in a status where the marker counts (spec §2.1)."""
    return (server.metadata.get(SERVER_STATE_KEY) == "DRAINING"
            and server.status in (ServerState.ACTIVE, ServerState.BUILD))


def timed_out(server: SimulatedServer, now: float) -> bool:
    return server.status is ServerState.BUILD and now - server.created >= BUILD_TIMEOUT


def counts(server: SimulatedServer, now: float) -> bool:
    """Whether a server counts toward the group's capacity (spec §2.2)."""
    return (server.status in COUNTED_STATES and not marked(server)
            and not timed_out(server, now))


def counted(cloud: SimulatedCloud, now: float) -> set[str]:
    return {s.id for s in group_servers(cloud).values() if counts(s, now)}


def lb_keys(cloud: SimulatedCloud, server: SimulatedServer) -> list[tuple]:
    """Every node of a server: (LB, condition, weight, type); RCv3 ones carry Nones."""
    keys: list[tuple] = [(("CLB", lb.id, node.port), node.condition, node.weight, node.type)
            for lb in tenant_load_balancers(cloud, TENANT).values()
            for node in lb.nodes.values() if node.address == server.private_address]
    keys += [(("RCv3", pool.id), None, None, None)
             for pool in tenant_pools(cloud, TENANT).values() if server.id in pool.members]
    return keys


def foreign(cloud: SimulatedCloud, start: Start) -> dict[tuple, Any]:
    """
    What otter2 must never touch: servers that are not the group's (and the
    group's UNKNOWN ones, spec §2.4), and every node at an address or of a
    server that is not one of the group's, with every attribute.
    """
    ours = {server_id(i) for i, spec in enumerate(start.servers)
            if spec.owner == GROUP and spec.status is not ServerState.UNKNOWN}
    ours |= set(group_servers(cloud)) - {server_id(i) for i in range(len(start.servers))}
    servers = cloud.nova[TENANT].servers
    addresses = {servers[i].private_address for i in ours if i in servers}
    addresses |= {address(i) for i, spec in enumerate(start.servers) if server_id(i) in ours}
    found: dict[tuple, Any] = {("server", i): s for i, s in servers.items() if i not in ours}
    for lb in tenant_load_balancers(cloud, TENANT).values():
        for node in lb.nodes.values():
            if node.address not in addresses:
                found[("node", lb.id, node.id)] = node
    for pool in tenant_pools(cloud, TENANT).values():
        for member in pool.members.values():
            if member.server_id not in ours:
                found[("member", pool.id, member.server_id)] = member
    return found


class ConvergencePropertyTests(SynchronousTestCase):
    """Convergence against the simulated cloud is safe and converges, from any start."""

    @settings(max_examples=40)
    @given(start=starts())
    @example(start=ONE_CHANGE_PER_CLB)
    def test_reaches_desired_state(self, start: Start) -> None:
        """An iteration succeeds within ``bound``, and the group is then as desired."""
        # Exactly ``desired`` counted servers, none building, waiting or broken;
        # every ACTIVE one on each wanted LB once, as wanted, and off every LB
        # it recorded that is no longer wanted; no server the group lost keeps
        # a node on a wanted LB or on one it recorded.
        trace = converge(start)
        last = trace[-1]
        self.assertEqual(last.result.verdict, Verdict.SUCCESS,
                         [(i.now - START, i.result) for i in trace[-3:]])
        cloud, now = last.after, last.now
        servers = group_servers(cloud)
        self.assertEqual(len(counted(cloud, now)), start.desired)
        recorded = {server_id(i): set(spec.recorded) for i, spec in enumerate(start.servers)}
        wanted = set(start.wanted)
        for server in servers.values():
            self.assertIn(server.status, (ServerState.ACTIVE, ServerState.UNKNOWN,
                                          ServerState.DELETED) + HOLD_STATES, server)
            if server.status is not ServerState.ACTIVE:
                continue
            self.assertTrue(counts(server, now), server)
            keys = lb_keys(cloud, server)
            relevant = wanted | recorded.get(server.id, wanted)
            on = sorted((k for k in keys if k[0] in relevant), key=str)
            expected = [(lb, NodeCondition.ENABLED, 1, NodeType.PRIMARY) if lb[0] == "CLB"
                        else (lb, None, None, None) for lb in wanted]
            self.assertEqual(on, sorted(expected, key=str), server.id)
        seen = {i: s for it in trace for i, s in group_servers(it.before).items()}
        present = {i for i, s in servers.items() if s.status is not ServerState.DELETED}
        for lost in set(seen) - present:
            left = {lb for lb, *_ in lb_keys(cloud, seen[lost])}
            self.assertEqual(left & (wanted | recorded.get(lost, wanted)), set(), lost)

    @settings(max_examples=40)
    @given(start=starts())
    def test_counted_servers_stay_between_bounds(self, start: Start) -> None:
        """No iteration leaves more counted servers than needed, nor fewer than desired."""
        # More than the more of ``desired`` and the count before it; fewer than
        # the less of the two.
        for it in converge(start):
            before, after = len(counted(it.before, it.now)), len(counted(it.after, it.now))
            self.assertLessEqual(after, max(start.desired, before), it.now - START)
            self.assertGreaterEqual(after, min(start.desired, before), it.now - START)

    @settings(max_examples=40)
    @given(start=starts())
    def test_deletes_only_surplus_or_broken(self, start: Start) -> None:
        """A server is deleted only if broken, timed out, marked, or surplus."""
        # Surplus: counted while the group has more counted servers than desired.
        for it in converge(start):
            before, after = group_servers(it.before), group_servers(it.after)
            surplus = len(counted(it.before, it.now)) > start.desired
            for server in (before[i] for i in set(before) - set(after)):
                broken = (server.status in BROKEN_STATES or timed_out(server, it.now)
                          or marked(server))
                self.assertTrue(broken or (surplus and counts(server, it.now)),
                                (it.now - START, server))

    @settings(max_examples=40)
    @given(start=starts())
    def test_leaves_what_is_not_the_groups_alone(self, start: Start) -> None:
        """Servers and nodes that are not the group's are never changed."""
        # Nor are the group's UNKNOWN servers and their nodes (spec §2.4).
        trace = converge(start)
        untouched = foreign(trace[0].before, start)
        for it in trace:
            now_foreign = foreign(it.after, start)
            self.assertEqual({k: now_foreign.get(k) for k in untouched}, untouched,
                             it.now - START)
