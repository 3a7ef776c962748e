"""
Why each step of a plan is there, in a sentence its owner can read: the
plan preview's reasons (``GET …/groups/{groupId}/plan``). A pure function of
the plan and of what the planner was given; the planner itself is not asked
to explain (there is one planner, and it stays as fast as it is).

test-case-name: tests.convergence.test_preview
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from attrs import frozen

from otter2.convergence.destiny import Destiny, destiny
from otter2.convergence.planning import BUILDING_REASON, iso_time
from otter2.convergence.steps import (
    AddNodesToCLB,
    BulkAddToRCv3,
    BulkRemoveFromRCv3,
    ChangeCLBNode,
    CheckStack,
    ConvergeLater,
    CreateServer,
    CreateStack,
    DeleteServer,
    DeleteStack,
    FailConvergence,
    RecordLoadBalancers,
    RemoveNodesFromCLB,
    SetMetadataItemOnServer,
    Step,
    UpdateStack,
)
from otter2.model.cloud import CLBNode, LBNode, NodeCondition, ObservedServer, ServerState


@frozen
class Explained:
    """A step of a plan and why it is there."""

    step: Step
    reason: str


def explain(steps: Iterable[Step], capacity: int, kept: int,
            servers: Sequence[ObservedServer], lb_nodes: Iterable[LBNode], now: float,
            build_timeout: float, draining_timeout: float) -> list[Explained]:
    """
    Each of ``steps`` with its reason, in a stable order (by kind, then by
    what it acts on). ``capacity`` is the desired capacity, ``kept`` how
    many servers the plan keeps; the rest is what the planner was given.
    """
    by_id = {server.id: server for server in servers}
    by_address = {server.servicenet_address: server for server in servers
                  if server.servicenet_address}
    nodes = {(node.description.lb_id, node.node_id): node for node in lb_nodes
             if isinstance(node, CLBNode)}
    context = _Context(capacity, kept, by_id, by_address, nodes, now, build_timeout,
                       draining_timeout)
    explained = [Explained(step, context.reason(step)) for step in steps]
    return sorted(explained, key=lambda e: (type(e.step).__name__, e.reason))


@frozen
class _Context:
    capacity: int
    kept: int
    servers: Mapping[str, ObservedServer]
    by_address: Mapping[str, ObservedServer]
    nodes: Mapping[tuple[str, str], CLBNode]
    now: float
    build_timeout: float
    draining_timeout: float

    def reason(self, step: Step) -> str:
        match step:
            case CreateServer():
                return (f"desired capacity is {self.capacity} and the group keeps "
                        f"{counted(self.kept)}: a new server is built")
            case DeleteServer(server_id=server_id):
                return self._why_delete(server_id)
            case SetMetadataItemOnServer(server_id=server_id):
                return (f"server {server_id} is beyond the desired capacity of "
                        f"{self.capacity}: marked for draining, so that any iteration "
                        "finishes removing it")
            case RecordLoadBalancers(server_id=server_id):
                return (f"server {server_id}'s metadata does not name the load balancers "
                        "of the launch configuration: recorded, so that they are known if "
                        "the configuration changes")
            case AddNodesToCLB(lb_id=lb_id, address_configs=pairs):
                names = sorted(self._server_at(address) for address, _ in pairs)
                return f"{_list(names)} not yet on load balancer {lb_id}"
            case RemoveNodesFromCLB(lb_id=lb_id, node_ids=node_ids):
                return "; ".join(self._why_remove(lb_id, node_id)
                                 for node_id in sorted(node_ids, key=_node_order))
            case ChangeCLBNode(lb_id=lb_id, node_id=node_id, condition=condition):
                return self._why_change(lb_id, node_id, condition)
            case BulkAddToRCv3(lb_node_pairs=pairs):
                return "; ".join(f"server {server} not yet in RackConnect pool {pool}"
                                 for pool, server in sorted(pairs))
            case BulkRemoveFromRCv3(lb_node_pairs=pairs):
                return "; ".join(f"server {server} leaves RackConnect pool {pool}"
                                 for pool, server in sorted(pairs))
            case CreateStack():
                return (f"desired capacity is {self.capacity} and the group keeps "
                        f"{counted(self.kept, 'stack')}: a new stack is created")
            case CheckStack(stack_id=stack_id):
                return f"stack {stack_id} is checked, as every stack is when nothing else is to do"
            case UpdateStack(stack_id=stack_id):
                return f"stack {stack_id} is updated to the launch configuration's template"
            case DeleteStack(stack_id=stack_id):
                return f"stack {stack_id} is beyond the desired capacity or broken: deleted"
            case ConvergeLater(reasons=reasons):
                return "waiting: " + "; ".join(self._building() if reason == BUILDING_REASON
                                               else reason for reason in reasons)
            case FailConvergence(reasons=reasons):
                return "the group's owner must act: " + "; ".join(reasons)

    def _why_delete(self, server_id: str) -> str:
        server = self.servers.get(server_id)
        if server is None:
            return f"server {server_id} is deleted"
        fate = destiny(server, self.now, self.build_timeout)
        if fate is Destiny.DRAIN:
            return (f"server {server_id} was marked for deletion and has no load balancer "
                    "traffic left to drain")
        if fate is Destiny.REPLACE and server.state is ServerState.BUILD:
            return (f"server {server_id} has been building since {iso_time(server.created)}, "
                    f"longer than the build timeout of {self.build_timeout:g} s: replaced")
        if fate is Destiny.REPLACE:
            return f"server {server_id} is in {server.state.value}: replaced"
        if server.state is ServerState.BUILD:
            return (f"server {server_id} is still building and beyond the desired capacity "
                    f"of {self.capacity}: deleted without draining")
        return (f"server {server_id} (created {iso_time(server.created)}) is among the oldest "
                f"beyond the desired capacity of {self.capacity}")

    def _why_remove(self, lb_id: str, node_id: str) -> str:
        node = self.nodes.get((lb_id, node_id))
        server = None if node is None else self.by_address.get(node.address)
        if server is None:
            return (f"node {node_id} of load balancer {lb_id} belongs to no server of the "
                    "group any more")
        if node is not None and node.description.condition is NodeCondition.DRAINING:
            return (f"server {server.id} has drained from load balancer {lb_id} (node "
                    f"{node_id}): removed")
        if server.state in (ServerState.DELETED, ServerState.SOFT_DELETED):
            return f"server {server.id} is gone: its node {node_id} on load balancer {lb_id} goes"
        return f"server {server.id} leaves load balancer {lb_id} (node {node_id})"

    def _why_change(self, lb_id: str, node_id: str, condition: NodeCondition) -> str:
        node = self.nodes.get((lb_id, node_id))
        server = None if node is None else self.by_address.get(node.address)
        who = f"node {node_id}" if server is None else f"server {server.id} (node {node_id})"
        if condition is NodeCondition.DRAINING:
            return (f"{who} starts draining from load balancer {lb_id} for up to "
                    f"{self.draining_timeout:g} s before its server is deleted")
        return (f"{who} on load balancer {lb_id} differs from the launch configuration: "
                f"set to {condition.value}")

    def _building(self) -> str:
        """Which servers are building, and since when."""
        building = sorted((s for s in self.servers.values() if s.state is ServerState.BUILD),
                          key=lambda s: (s.created, s.id))
        if not building:
            return BUILDING_REASON
        return "servers building: " + ", ".join(
            f"{s.id} since {iso_time(s.created)}" for s in building)

    def _server_at(self, address: str) -> str:
        server = self.by_address.get(address)
        return f"server {server.id}" if server is not None else f"the server at {address}"


def counted(count: int, noun: str = "server") -> str:
    """``count`` of ``noun``, plural unless one: "1 server", "3 steps"."""
    return f"1 {noun}" if count == 1 else f"{count} {noun}s"


def _list(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _node_order(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (0, node_id)
