"""
The planner as it was first written, before it was made fast: straightforward
code (a step object per change, every step through the limits and the
one-change-per-CLB rule), kept as the reference the property tests compare
``otter2.convergence.planning.plan`` with, plan for plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from attrs import evolve

from otter2.cloud.clb import MAX_NODES_PER_DELETE, no_such_lb_reason
from otter2.cloud.metadata import DRAINING as DRAINING_VALUE
from otter2.cloud.metadata import SERVER_STATE_KEY as DRAINING_KEY
from otter2.cloud.metadata import with_load_balancers
from otter2.convergence.destiny import DESTINY_BY_STATE, Destiny
from otter2.convergence.steps import (
    AddNodesToCLB,
    BulkAddToRCv3,
    BulkRemoveFromRCv3,
    ChangeCLBNode,
    ConvergeLater,
    CreateServer,
    CreateStack,
    DeleteServer,
    FailConvergence,
    RecordLoadBalancers,
    RemoveNodesFromCLB,
    SetMetadataItemOnServer,
    Step,
)
from otter2.convergence.transforming import DEFAULT_STEP_LIMITS, Plan
from otter2.model.cloud import (
    CLB,
    CLBDescription,
    CLBNode,
    LBDescription,
    LBNode,
    NodeCondition,
    ObservedServer,
    ServerState,
)
from otter2.model.desired import DesiredGroup

_DESTINY = dict(DESTINY_BY_STATE)  # read once per server: faster than the PMap

_DRAINABLE = frozenset({ServerState.ACTIVE, ServerState.BUILD})


def destiny(server: ObservedServer, now: float, build_timeout: float) -> Destiny:
    """
    The server's destiny: DRAIN when an ACTIVE or BUILD server carries the
    draining marker, REPLACE for a build that has lasted ``build_timeout``
    seconds or more, otherwise its state's row of ``DESTINY_BY_STATE``.
    """
    if server.draining and server.state in _DRAINABLE:
        return Destiny.DRAIN
    fate: Destiny = _DESTINY[server.state]
    if fate is Destiny.BUILDING and now - server.created >= build_timeout:
        return Destiny.REPLACE
    return fate


DRAINING_REASON = "draining servers"

# Who gets an LB node when two servers of the group share its address: any
# existing server before one that is gone (Nova reuses the addresses of
# deleted servers).
_CLAIM_ORDER = tuple(d for d in Destiny if d is not Destiny.CLEANUP) + (Destiny.CLEANUP,)

Key = tuple[str, str, int]

# The conditions of CLB nodes that take no new connections.
_QUIET = (NodeCondition.DRAINING, NodeCondition.DISABLED)


class StepCollector:
    """
    The steps of one plan as they are found. Node additions and removals are
    kept per load balancer in plain sets, and reasons to wait or fail without
    repeats, until ``result`` makes one step of each: a group of 10 000
    servers gets two steps, not 20 000, which would cost more to build than
    the rest of the plan. ``wake_at`` is the soonest instant at which a wait
    that the plan knows the end of (a drain, a build or ONLINE timeout) ends.
    """

    def __init__(self) -> None:
        self._steps: list[Step] = []
        self._clb_adds: dict[str, set[tuple[str, CLBDescription]]] = {}
        self._clb_removes: dict[str, set[str]] = {}
        self._clb_quiet: dict[str, set[str]] = {}
        self._rcv3_adds: set[tuple[str, str]] = set()
        self._rcv3_removes: set[tuple[str, str]] = set()
        self._reasons: dict[bool, set[str]] = {False: set(), True: set()}
        self._failures: set[str] = set()
        self.wake_at: float | None = None
        #: Work that can be done at the next iteration, in sentences.
        self.postponed: list[str] = []

    def append(self, step: Step) -> None:
        """Take ``step`` as it is."""
        self._steps.append(step)

    def add(self, lb_id: str, address: str, description: CLBDescription) -> None:
        """Add a node at ``address`` to a CLB."""
        self._clb_adds.setdefault(lb_id, set()).add((address, description))

    def add_to_pool(self, pool_id: str, server_id: str) -> None:
        """Add a server to an RCv3 pool."""
        self._rcv3_adds.add((pool_id, server_id))

    def remove(self, node: LBNode) -> None:
        """Take ``node`` off its load balancer at once."""
        if isinstance(node, CLBNode):
            lb_id = node.description.lb_id
            self._clb_removes.setdefault(lb_id, set()).add(node.node_id)
            if node.description.condition in _QUIET:
                self._clb_quiet.setdefault(lb_id, set()).add(node.node_id)
        else:
            self._rcv3_removes.add((node.description.lb_id, node.cloud_server_id))

    def later(self, reason: str, limited: bool = False,
              until: float | None = None) -> None:
        """Look again later, for ``reason``; at ``until`` if the wait ends then."""
        self._reasons[limited].add(reason)
        if until is not None:
            self.wake(until)

    def wake(self, at: float) -> None:
        """Note that a wait ends at ``at``: something changes then."""
        if self.wake_at is None or at < self.wake_at:
            self.wake_at = at

    def postpone(self, reason: str) -> None:
        """Leave work for the next iteration, which can do it at once, for ``reason``."""
        self.postponed.append(reason)

    def fail(self, reason: str) -> None:
        """Tell the group's owner that convergence cannot go on, for ``reason``."""
        self._failures.add(reason)

    def result(self) -> list[Step]:
        """The steps found, merged per load balancer."""
        steps = list(self._steps)
        steps.extend(RemoveNodesFromCLB(lb_id, ids, self._clb_quiet.get(lb_id, ()))
                     for lb_id, ids in sorted(self._clb_removes.items()))
        steps.extend(AddNodesToCLB(lb_id, pairs) for lb_id, pairs in sorted(self._clb_adds.items()))
        if self._rcv3_adds:
            steps.append(BulkAddToRCv3(self._rcv3_adds))
        if self._rcv3_removes:
            steps.append(BulkRemoveFromRCv3(self._rcv3_removes))
        steps.extend(ConvergeLater(sorted(reasons), limited=limited)
                     for limited, reasons in sorted(self._reasons.items()) if reasons)
        if self._failures:
            steps.append(FailConvergence(sorted(self._failures)))
        return steps


def lb_key(description: LBDescription) -> Key:
    """A key equal for two descriptions exactly when they are ``equivalent_to``."""
    if isinstance(description, CLBDescription):
        return ("CLB", description.lb_id, description.port)
    return ("RCv3", description.lb_id, 0)


def nodes_by_server(by_fate: Mapping[Destiny, Sequence[ObservedServer]],
                    lb_nodes: Iterable[LBNode]) -> dict[str, list[LBNode]]:
    """
    The LB nodes by the id of the server they belong to: a CLB node by its
    address (a server's ServiceNet address), an RCv3 node by its cloud server
    id. Planning looks up only the group's servers, so a node that none of
    them claims is never touched. Indexed once: linear in servers plus nodes.
    """
    by_address: dict[str, str] = {}
    for fate in _CLAIM_ORDER:
        for server in by_fate[fate]:
            if server.servicenet_address:
                by_address.setdefault(server.servicenet_address, server.id)
    owned: dict[str, list[LBNode]] = {}
    for node in lb_nodes:
        owner = (by_address.get(node.address) if isinstance(node, CLBNode)
                 else node.cloud_server_id)
        if owner is not None:
            owned.setdefault(owner, []).append(node)
    return owned


def leave(node: LBNode, timeout: float, now: float, steps: StepCollector) -> bool:
    """
    Take ``node`` off its load balancer, draining it first for ``timeout``
    seconds when it is an active CLB node (spec §2.6), and tell whether it is
    removed in this iteration. RCv3 and DISABLED nodes go at once; an ENABLED
    node starts draining; a DRAINING node goes once drained (no connections
    left, or ``timeout`` elapsed since it began). When nobody can say when it
    began, only this node waits, for a limited number of iterations (Otter
    failed the whole plan instead).
    """
    if (not isinstance(node, CLBNode) or timeout <= 0
            or node.description.condition is NodeCondition.DISABLED
            or (node.description.condition is NodeCondition.DRAINING
                and (node.connections == 0 or (node.drained_at is not None
                                               and now - node.drained_at >= timeout)))):
        steps.remove(node)
        return True
    description = node.description
    if description.condition is NodeCondition.ENABLED:
        steps.append(ChangeCLBNode(description.lb_id, node.node_id, NodeCondition.DRAINING,
                                   description.weight, description.type))
        steps.wake(now + timeout)
    elif node.drained_at is None:
        steps.later(f"Waiting for Cloud Load Balancer {description.lb_id} to tell when node "
                    f"{node.node_id} began draining", limited=True)
    else:
        steps.later(DRAINING_REASON, until=node.drained_at + timeout)
    return False


def drain_and_delete(server: ObservedServer, nodes: Sequence[LBNode], timeout: float,
                     now: float, steps: StepCollector) -> None:
    """
    Take ``server`` off every load balancer that has a node of it, and delete
    it once no node is left after this iteration; until then the server is
    marked for draining, so later iterations finish the job even if capacity
    changes meanwhile.
    """
    removed = [leave(node, timeout, now, steps) for node in nodes]
    if all(removed):
        steps.append(DeleteServer(server.id))
    elif not server.draining:
        steps.append(SetMetadataItemOnServer(server.id, DRAINING_KEY, DRAINING_VALUE))


def converge_membership(server: ObservedServer, nodes: Sequence[LBNode],
                        wanted: Mapping[Key, LBDescription],
                        joining: Mapping[Key, LBDescription | str], clbs: Mapping[str, CLB],
                        now: float, offline_timeout: float, draining_timeout: float,
                        steps: StepCollector) -> None:
    """
    Put a kept ACTIVE server on exactly the group's load balancers (spec
    §2.7, with the launch configuration's LBs as the wish): added where
    missing, reset where its node drifted, drained and removed from LBs that
    its own metadata records but the group no longer wants. Nodes on LBs
    that are neither wanted nor recorded were put there by someone else and
    are left alone.
    """
    present: dict[Key, list[LBNode]] = {}
    recorded = {lb_key(description): description for description in server.desired_lbs}
    still_on: dict[Key, LBDescription] = {}
    for node in nodes:
        key = lb_key(node.description)
        if key in wanted:
            present.setdefault(key, []).append(node)
        elif key in recorded:
            if leave(node, draining_timeout, now, steps):
                steps.postpone(f"server {server.id} leaves "
                               f"{_lb_name(recorded[key])}; its record is updated once the "
                               "node is seen gone")
            still_on[key] = recorded[key]
    # See Note [Load-balancer history].
    if recorded.keys() != wanted.keys() | still_on.keys():
        steps.append(RecordLoadBalancers(server.id, with_load_balancers(
            server.metadata, [*wanted.values(), *still_on.values()])))
    for key, description in wanted.items():
        matching = present.get(key)
        if not matching and key not in recorded:
            steps.postpone(f"adding server {server.id} to {_lb_name(description)} waits for "
                           "the next iteration: its metadata must name it first")
        elif not matching:
            _join(server, joining[key], steps)
        elif isinstance(description, CLBDescription):
            for node in matching:
                assert isinstance(node, CLBNode)
                if node.description != description:
                    _reset(node, description, clbs, now, offline_timeout, steps)


def _lb_name(description: LBDescription) -> str:
    if isinstance(description, CLBDescription):
        return f"Cloud Load Balancer {description.lb_id}"
    return f"RackConnect v3 pool {description.lb_id}"


def how_to_join(description: LBDescription, clbs: Mapping[str, CLB]) -> LBDescription | str:
    """
    How a server joins the load balancer of ``description``: as that
    description, DRAINING on a CLB with a health monitor (it is enabled once
    ONLINE, issue #1870), or not at all, for the reason given.
    """
    if not isinstance(description, CLBDescription):
        return description
    clb = clbs.get(description.lb_id)
    if clb is None:
        return no_such_lb_reason(description.lb_id)
    if clb.health_monitor:
        return evolve(description, condition=NodeCondition.DRAINING)
    return description


def _join(server: ObservedServer, joining: LBDescription | str, steps: StepCollector) -> None:
    """Add ``server`` to a load balancer as ``joining`` says (see ``how_to_join``)."""
    if isinstance(joining, str):
        steps.fail(joining)
    elif not isinstance(joining, CLBDescription):
        steps.add_to_pool(joining.lb_id, server.id)
    elif not server.servicenet_address:
        steps.fail(f"Server {server.id} has no ServiceNet address, so it cannot be added "
                   f"to Cloud Load Balancer {joining.lb_id}")
    else:
        steps.add(joining.lb_id, server.servicenet_address, joining)


def _reset(node: CLBNode, description: CLBDescription, clbs: Mapping[str, CLB], now: float,
           offline_timeout: float, steps: StepCollector) -> None:
    """
    Give a drifted CLB node its wanted condition, weight and type. On a
    CLB with a health monitor, a node that joined DRAINING is enabled only
    once ONLINE, and one OFFLINE for longer than ``offline_timeout`` needs the
    group's owner.
    """
    lb_id = node.description.lb_id
    clb = clbs.get(lb_id)
    if clb is None:
        steps.fail(no_such_lb_reason(lb_id))
    elif (clb.health_monitor and node.description.condition is NodeCondition.DRAINING
            and not node.is_online):
        waiting = f"Waiting for node {node.node_id} of Cloud Load Balancer {lb_id} to come ONLINE"
        if node.drained_at is None:
            steps.later(waiting, limited=True)
        elif now - node.drained_at > offline_timeout:
            steps.fail(f"Node {node.node_id} of Cloud Load Balancer {lb_id} has remained "
                       f"OFFLINE for more than {offline_timeout:g} seconds")
        else:
            steps.later(waiting, until=node.drained_at + offline_timeout)
    else:
        steps.append(ChangeCLBNode(lb_id, node.node_id, description.condition,
                                   description.weight, description.type))


_NOUNS: Mapping[type, str] = {
    CreateServer: "server creation",
    CreateStack: "stack creation",
}


def transform(steps: Iterable[Step],
              step_limits: Mapping[type, int] = DEFAULT_STEP_LIMITS) -> Plan:
    """The plan that runs ``steps`` limited and one change per CLB."""
    limited, postponed = limit_steps(steps, step_limits)
    kept, dropped = one_clb_step(limited)
    return Plan(steps=kept, postponed=postponed + dropped)


def limit_steps(steps: Iterable[Step],
                step_limits: Mapping[type, int]) -> tuple[list[Step], list[str]]:
    """
    The first ``step_limits[type]`` steps of each type, in the order given
    (the planner's order is deterministic), and a sentence per type that lost
    some.
    """
    step_limits = dict(step_limits)  # read once per step: a dict is faster than a PMap
    counts: dict[type, int] = {}
    kept: list[Step] = []
    for step in steps:
        kind = type(step)
        seen = counts[kind] = counts.get(kind, 0) + 1
        limit = step_limits.get(kind)
        if limit is None or seen <= limit:
            kept.append(step)
    postponed = [_limited(kind, seen - step_limits[kind], step_limits[kind])
                 for kind, seen in sorted(counts.items(), key=lambda item: item[0].__name__)
                 if kind in step_limits and seen > step_limits[kind]]
    return kept, postponed


def _limited(kind: type, dropped: int, limit: int) -> str:
    noun = _NOUNS.get(kind, f"{kind.__name__} step")
    if dropped == 1:
        return (f"1 more {noun} waits for the next iteration: at most {limit} run in one "
                f"iteration")
    return (f"{dropped} more {noun}s wait for the next iteration: at most {limit} run in one "
            f"iteration")


def one_clb_step(steps: Sequence[Step]) -> tuple[list[Step], list[str]]:
    """
    The steps with at most one mutating step per Cloud Load Balancer, and a
    sentence for each kind of change that waits: the winner is chosen as
    Note [Order of load-balancer changes] says, and a removal takes at most
    ``MAX_NODES_PER_DELETE`` nodes. Expects merged steps: at most one removal
    and one addition per CLB.
    """
    by_lb: dict[str, list[Step]] = {}
    kept: list[Step] = []
    for step in steps:
        if isinstance(step, (AddNodesToCLB, RemoveNodesFromCLB, ChangeCLBNode)):
            by_lb.setdefault(step.lb_id, []).append(step)
        else:
            kept.append(step)
    postponed: list[str] = []
    for lb_id, candidates in sorted(by_lb.items()):
        first, *rest = sorted(candidates, key=_clb_step_rank)
        if isinstance(first, RemoveNodesFromCLB) and len(first.node_ids) > MAX_NODES_PER_DELETE:
            first, more = _first_removals(first)
            more_nodes, verb = (("1 more node", "waits") if len(more.node_ids) == 1
                                else (f"{len(more.node_ids)} more nodes", "wait"))
            postponed.append(f"{more_nodes} to remove from Cloud Load Balancer {lb_id} {verb} "
                             f"for the next iteration: a Cloud Load Balancer removes at most "
                             f"{MAX_NODES_PER_DELETE} nodes at a time")
        kept.append(first)
        postponed.extend(_waiting(lb_id, rest))
    return kept, postponed


def _clb_step_rank(step: Step) -> tuple[int, tuple[int, str]]:
    """Where a change of one CLB comes in Note [Order of load-balancer changes]."""
    if isinstance(step, RemoveNodesFromCLB):
        return (0 if step.node_ids - step.quiet else 3, (0, ""))
    if isinstance(step, AddNodesToCLB):
        return (1, (0, ""))
    assert isinstance(step, ChangeCLBNode)
    return (2 if step.condition is NodeCondition.DRAINING else 4, _by_number(step.node_id))


def _by_number(node_id: str) -> tuple[int, str]:
    """A key that sorts node ids (digits) by their number."""
    return (len(node_id), node_id)


def _first_removals(step: RemoveNodesFromCLB) -> tuple[RemoveNodesFromCLB, RemoveNodesFromCLB]:
    """The removal of the first ``MAX_NODES_PER_DELETE`` nodes (those that take new
    connections first, then by number) and the removal of the others."""
    ordered = sorted(step.node_ids, key=lambda node_id: (node_id in step.quiet,
                                                         _by_number(node_id)))
    now, later = ordered[:MAX_NODES_PER_DELETE], ordered[MAX_NODES_PER_DELETE:]
    return (RemoveNodesFromCLB(step.lb_id, now, step.quiet.intersection(now)),
            RemoveNodesFromCLB(step.lb_id, later, step.quiet.intersection(later)))


def _waiting(lb_id: str, dropped: Sequence[Step]) -> list[str]:
    """Sentences for the steps on one CLB that wait for a later iteration."""
    reasons = []
    after = "waits for the next iteration: a Cloud Load Balancer takes one change at a time"
    for step in dropped:
        if isinstance(step, RemoveNodesFromCLB):
            reasons.append(f"removing {_nodes(len(step.node_ids))} from Cloud Load "
                           f"Balancer {lb_id} {after}")
        elif isinstance(step, AddNodesToCLB):
            reasons.append(f"adding {_nodes(len(step.address_configs))} to Cloud Load "
                           f"Balancer {lb_id} {after}")
    changes = [step for step in dropped if isinstance(step, ChangeCLBNode)]
    if changes:
        reasons.append(f"changing {_nodes(len(changes))} of Cloud Load Balancer {lb_id} "
                       f"{after}")
    return reasons


def _nodes(count: int) -> str:
    return "1 node" if count == 1 else f"{count} nodes"


BUILDING_REASON = "waiting for servers to build"

# Servers that count, most valuable first: a scale-down removes the tail.
_KEEP_ORDER = (Destiny.COUNT, Destiny.HOLD, Destiny.WAIT, Destiny.BUILDING)


def plan(desired: DesiredGroup, servers: Iterable[ObservedServer], lb_nodes: Iterable[LBNode],
         clbs: Mapping[str, CLB], now: float, build_timeout: float,
         step_limits: Mapping[type, int] = DEFAULT_STEP_LIMITS,
         offline_timeout: float | None = None) -> Plan:
    """
    What one iteration does for the group: the steps of ``plan_steps``,
    limited and reduced to one change per CLB, with the work that had to
    wait listed in ``Plan.postponed``, the servers the group keeps in
    ``Plan.kept`` and the end of the soonest known wait in ``Plan.wake_at``.

    ``servers`` are the group's servers (gone ones included, so their nodes
    can be removed); ``lb_nodes`` every node of the tenant's load balancers;
    ``clbs`` the CLBs whose health monitor could be read, by id; ``now`` the
    time of the gather; ``offline_timeout`` how long a node joining a
    monitored CLB may stay OFFLINE (``build_timeout`` when not given).
    """
    clbs = dict(clbs)  # looked up per server: a dict is several times faster than a PMap
    steps, kept, broken = _survey(desired, servers, lb_nodes, clbs, now, build_timeout,
                                  build_timeout if offline_timeout is None else offline_timeout)
    transformed = transform(steps.result(), step_limits)
    return evolve(transformed, postponed=transformed.postponed.extend(steps.postponed), kept=kept,
                  broken=broken, wake_at=steps.wake_at)


def _survey(desired: DesiredGroup, servers: Iterable[ObservedServer],
            lb_nodes: Iterable[LBNode], clbs: Mapping[str, CLB], now: float,
            build_timeout: float,
            offline_timeout: float) -> tuple[StepCollector, list[str], list[str]]:
    """
    The steps of ``plan_steps``, collected; the ids of the servers kept; and
    a sentence for each broken server replaced.
    """
    by_fate: dict[Destiny, list[ObservedServer]] = {fate: [] for fate in Destiny}
    for server in sorted(servers, key=_newest_first):
        by_fate[destiny(server, now, build_timeout)].append(server)
    owned = nodes_by_server(by_fate, lb_nodes)

    keep_order = [(server, fate) for fate in _KEEP_ORDER for server in by_fate[fate]]
    capacity = max(desired.capacity, 0)
    kept, surplus = keep_order[:capacity], keep_order[capacity:]
    steps = StepCollector()
    create = CreateServer(desired.server_config)
    missing = capacity - len(kept)
    if missing > 0 and desired.build_after is not None and now < desired.build_after:
        steps.later(f"{_servers(missing)} to build wait until {iso_time(desired.build_after)}: "
                    "the group's servers keep breaking", until=desired.build_after)
    else:
        for _ in range(missing):
            steps.append(create)

    for server in [server for server, _ in surplus] + by_fate[Destiny.DRAIN]:
        timeout = 0.0 if server.state is ServerState.BUILD else desired.draining_timeout
        drain_and_delete(server, owned.get(server.id, ()), timeout, now, steps)
    for server in by_fate[Destiny.REPLACE]:
        steps.append(DeleteServer(server.id))
        for node in owned.get(server.id, ()):
            steps.remove(node)
    for server in by_fate[Destiny.CLEANUP]:
        for node in owned.get(server.id, ()):
            steps.remove(node)

    wanted = {lb_key(description): description
              for description in sorted(desired.desired_lbs, key=lb_key)}
    joining = {key: how_to_join(description, clbs) for key, description in wanted.items()}
    for server, fate in kept:
        if fate is Destiny.COUNT:
            converge_membership(server, owned.get(server.id, ()), wanted, joining, clbs,
                                now, offline_timeout, desired.draining_timeout, steps)
        elif fate is Destiny.WAIT:
            steps.later(f"Waiting for server {server.id} to transition to ACTIVE from "
                        f"{server.state.value}", limited=True)
        elif fate is Destiny.BUILDING:
            steps.later(BUILDING_REASON, until=server.created + build_timeout)
    broken = [_why_broken(server, build_timeout) for server in by_fate[Destiny.REPLACE]]
    return steps, [server.id for server, _ in kept], broken


def _servers(count: int) -> str:
    return "1 server" if count == 1 else f"{count} servers"


def _why_broken(server: ObservedServer, build_timeout: float) -> str:
    if server.state is ServerState.BUILD:
        return f"server {server.id} did not finish building within {build_timeout:g} s"
    return f"server {server.id} went to {server.state.value}"


def iso_time(seconds: float) -> str:
    """An instant as ISO 8601 in UTC, to the second."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _newest_first(server: ObservedServer) -> tuple[float, str]:
    return (-server.created, server.id)


def plan_steps(desired: DesiredGroup, servers: Iterable[ObservedServer],
               lb_nodes: Iterable[LBNode], clbs: Mapping[str, CLB], now: float,
               build_timeout: float) -> list[Step]:
    """Every step before limits."""
    return _survey(desired, servers, lb_nodes, clbs, now, build_timeout,
                   build_timeout)[0].result()
