"""
Load-balancer membership, for planning: which LB nodes belong to which of the
group's servers, how a server leaves its load balancers (drained first, spec
§2.6), and how a kept server is put on exactly the group's load balancers
(spec §2.7), all into a ``collector.StepCollector``.

# Note [Load-balancer history]
A server's metadata names the load balancers otter2 put it on (one key per
load balancer, written when the server is created). That record is how a
node is found again after the launch configuration changed: otter2 removes
only nodes of load balancers the record names. So the record must always
name every load balancer the server is or may be on, whatever the number of
changes: before a server joins a load balancer it does not name, its
metadata is rewritten to name it (the join waits for the next iteration, so
a crash in between leaves nothing unrecorded); a load balancer it names and
the group no longer wants keeps its key until no node of the server is seen
there, and only then is the key dropped. Nova's metadata is replaced whole
(``PUT servers/{id}/metadata``, as Nova serves it everywhere), from what the
gather saw.

test-case-name: tests.convergence.test_membership
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from attrs import evolve

from otter2.cloud.clb import no_such_lb_reason
from otter2.cloud.metadata import DRAINING as DRAINING_VALUE
from otter2.cloud.metadata import SERVER_STATE_KEY as DRAINING_KEY
from otter2.cloud.metadata import with_load_balancers
from otter2.convergence.collector import StepCollector
from otter2.convergence.destiny import Destiny
from otter2.convergence.steps import (
    DeleteServer,
    RecordLoadBalancers,
    SetMetadataItemOnServer,
    Step,
)
from otter2.model.cloud import (
    CLB,
    CLBDescription,
    CLBNode,
    LBDescription,
    LBNode,
    NodeCondition,
    ObservedServer,
    RCv3Node,
    ServerState,
)

DRAINING_REASON = "draining servers"

# Who gets an LB node when two servers of the group share its address: any
# existing server before one that is gone (Nova reuses the addresses of
# deleted servers).
_CLAIM_ORDER = tuple(d for d in Destiny if d is not Destiny.CLEANUP) + (Destiny.CLEANUP,)

Key = tuple[str, str, int]

# Read once per node of a scale-down: an Enum member read from its class costs
# a descriptor call each time, several times a plain name.
_ENABLED, _DISABLED, _DRAINING = (NodeCondition.ENABLED, NodeCondition.DISABLED,
                                  NodeCondition.DRAINING)


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
    owner_of = by_address.get
    owned: defaultdict[str, list[LBNode]] = defaultdict(list)
    for node in lb_nodes:
        owner = (owner_of(node.address) if type(node) is CLBNode
                 else node.cloud_server_id)  # type: ignore[union-attr]
        if owner is not None:
            owned[owner].append(node)
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
    if type(node) is not CLBNode or timeout <= 0:
        steps.remove(node)
        return True
    description = node.description
    condition = description.condition
    if condition is _ENABLED:
        steps.drain(description.lb_id, node.node_id, description.weight, description.type,
                    until=now + timeout)
        return False
    # DISABLED or DRAINING
    if (condition is _DISABLED or node.connections == 0
            or (node.drained_at is not None and now - node.drained_at >= timeout)):
        steps.remove(node)
        return True
    if node.drained_at is None:
        steps.later(f"Waiting for Cloud Load Balancer {description.lb_id} to tell when node "
                    f"{node.node_id} began draining", limited=True)
    else:
        steps.later(DRAINING_REASON, until=node.drained_at + timeout)
    return False


def drain_and_delete(servers: Iterable[ObservedServer], owned: Mapping[str, Sequence[LBNode]],
                     draining_timeout: float, now: float, steps: StepCollector) -> None:
    """
    Take each of ``servers`` off every load balancer that has a node of it
    (its nodes in ``owned``, by server id), and delete it once no node is
    left after this iteration; until then the server is marked for draining,
    so later iterations finish the job even if capacity changes meanwhile. A
    server still building takes no traffic and leaves at once; the others'
    nodes drain for ``draining_timeout`` seconds (``leave``).

    One pass for them all, in the order given: a scale-down brings
    thousands of servers, nearly all with only ENABLED CLB nodes, whose
    drains all start now and end together, and RCv3 nodes, which go at once,
    so those are noted here without a call per node; every other node goes
    through ``leave``.
    """
    until = now + draining_timeout
    build, draining = ServerState.BUILD, _DRAINING
    drains = steps.node_changes.append
    nodes_of = owned.get
    found: list[Step] = []
    leaving: list[tuple[str, str]] = []  # (pool id, server id): RCv3 nodes go at once
    drained = False
    for server in servers:
        removed = True
        if server.state is build or draining_timeout <= 0:
            for node in nodes_of(server.id, ()):
                steps.remove(node)
        else:
            for node in nodes_of(server.id, ()):
                description = node.description
                if type(description) is CLBDescription and description.condition is _ENABLED:
                    drains((description.lb_id, node.node_id, draining, description.weight,
                            description.type))
                    drained = True
                    removed = False
                elif type(node) is RCv3Node:
                    leaving.append((description.lb_id, node.cloud_server_id))
                elif not leave(node, draining_timeout, now, steps):
                    removed = False
        if removed:
            found.append(DeleteServer(server.id))
        elif not server.draining:
            found.append(SetMetadataItemOnServer(server.id, DRAINING_KEY, DRAINING_VALUE))
    steps.extend(found)
    steps.remove_from_pools(leaving)
    if drained:
        steps.wake(until)


class Wanted:
    """
    The group's load balancers as ``converge_membership`` reads them for
    every kept server, worked out once per plan: by key (in key order), how
    a server joins each (``how_to_join``), the condition, weight and type a
    node of each CLB must have, and what each server's record of its load
    balancers (``ObservedServer.desired_lbs``) names by key. The servers of a
    group share one record set (``metadata.desired_lbs_of`` makes one per
    distinct record), so each set is read once, not once per server.

    Most servers of a converged group are already where they should be;
    ``astray`` finds the others from their records and nodes alone, with a
    bit per wanted load balancer, without building anything.
    """

    def __init__(self, desired_lbs: Iterable[LBDescription], clbs: Mapping[str, CLB]) -> None:
        self.by_key = {lb_key(description): description
                       for description in sorted(desired_lbs, key=lb_key)}
        self.rows = [(key, description, how_to_join(description, clbs),
                      (description.condition, description.weight, description.type)
                      if isinstance(description, CLBDescription) else None)
                     for key, description in self.by_key.items()]
        self._records: dict[int, tuple[object, dict[Key, LBDescription], bool]] = {}
        # A bit per wanted load balancer: CLBs by (id, port), with the node
        # state wanted there; pools by id.
        self._clbs: dict[tuple[str, int], tuple[int, tuple[object, ...]]] = {}
        self._pools: dict[str, int] = {}
        for bit, (_, description, _, node_state) in enumerate(self.rows):
            if isinstance(description, CLBDescription):
                assert node_state is not None
                self._clbs[description.lb_id, description.port] = (1 << bit, node_state)
            else:
                self._pools[description.lb_id] = 1 << bit
        self._every = (1 << len(self.rows)) - 1

    def recorded(self, lbs: Iterable[LBDescription]) -> tuple[dict[Key, LBDescription], bool]:
        """The load balancers of a record by key, and whether their keys are
        exactly the wanted ones."""
        # Keyed by identity, and the set kept with its answer so that no
        # other set can take its id while this plan runs.
        found = self._records.get(id(lbs))
        if found is None:
            recorded = {lb_key(description): description for description in lbs}
            found = self._records[id(lbs)] = (lbs, recorded, recorded.keys() == self.by_key.keys())
        return found[1], found[2]

    def astray(self, servers: Iterable[ObservedServer],
               owned: Mapping[str, Sequence[LBNode]]) -> list[ObservedServer]:
        """
        Those of ``servers`` not in place, in order: a server is in place when
        it records exactly the wanted load balancers (by key) and its nodes
        (in ``owned``, by server id) include one on each, those on a wanted
        CLB all with the condition, weight and type wanted there; then
        ``converge_membership`` has nothing to do for it. One pass for them
        all (a group's every kept server is read at each iteration).
        """
        clbs, pools, every = self._clbs, self._pools, self._every
        records, recorded, nodes_of = self._records, self.recorded, owned.get
        astray = []
        for server in servers:
            record = records.get(id(server.desired_lbs))
            if not (record[2] if record is not None else recorded(server.desired_lbs)[1]):
                astray.append(server)
                continue
            seen = 0
            for node in nodes_of(server.id, ()):
                description = node.description
                if type(description) is CLBDescription:
                    found = clbs.get((description.lb_id, description.port))
                    if found is not None:
                        if (description.condition, description.weight,
                                description.type) != found[1]:
                            seen = -1  # a drifted node: astray whatever else is seen
                            break
                        seen |= found[0]
                else:
                    seen |= pools.get(description.lb_id, 0)
            if seen != every:
                astray.append(server)
        return astray


def converge_membership(server: ObservedServer, nodes: Sequence[LBNode], wanted: Wanted,
                        clbs: Mapping[str, CLB], now: float, offline_timeout: float,
                        draining_timeout: float, steps: StepCollector) -> None:
    """
    Put a kept ACTIVE server on exactly the group's load balancers (spec
    §2.7, with the launch configuration's LBs as the wish): added where
    missing, reset where its node drifted, drained and removed from LBs that
    its own metadata records but the group no longer wants. Nodes on LBs
    that are neither wanted nor recorded were put there by someone else and
    are left alone. (Planning skips the servers not ``Wanted.astray``, for
    which this finds nothing to do.)
    """
    recorded, as_wanted = wanted.recorded(server.desired_lbs)
    by_key = wanted.by_key
    present: dict[Key, list[LBNode]] = {}
    still_on: dict[Key, LBDescription] = {}
    for node in nodes:
        description = node.description
        key: Key = (("CLB", description.lb_id, description.port)  # lb_key, read per node
                    if type(description) is CLBDescription else ("RCv3", description.lb_id, 0))
        if key in by_key:
            found = present.get(key)
            if found is None:
                present[key] = [node]
            else:
                found.append(node)
        elif key in recorded:
            if leave(node, draining_timeout, now, steps):
                steps.postpone(f"server {server.id} leaves "
                               f"{_lb_name(recorded[key])}; its record is updated once the "
                               "node is seen gone")
            still_on[key] = recorded[key]
    # See Note [Load-balancer history].
    if not as_wanted if not still_on else recorded.keys() != by_key.keys() | still_on.keys():
        steps.append(RecordLoadBalancers(server.id, with_load_balancers(
            server.metadata, [*by_key.values(), *still_on.values()])))
    for key, description, joining, node_state in wanted.rows:
        matching = present.get(key)
        if not matching:
            if key not in recorded:
                steps.postpone(f"adding server {server.id} to {_lb_name(description)} waits "
                               "for the next iteration: its metadata must name it first")
            else:
                _join(server, joining, steps)
        elif node_state is not None:
            for node in matching:
                assert isinstance(node, CLBNode)
                current = node.description
                if (current.condition, current.weight, current.type) != node_state:
                    assert isinstance(description, CLBDescription)
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
        steps.change(lb_id, node.node_id, description.condition, description.weight,
                     description.type)
