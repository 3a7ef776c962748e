"""
Builders of observed servers, LB nodes and desired groups for the planning tests.
"""

from collections.abc import Iterable, Mapping

from attrs import evolve
from pyrsistent import PBag, pbag

from otter2.convergence.planning import plan_steps
from otter2.convergence.steps import CreateServer
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

CONFIG = {"server": {"name": "web", "metadata": {"rax:autoscale:group:id": "g1"}}}
CREATE = CreateServer(CONFIG)


def server(server_id: str, state: ServerState = ServerState.ACTIVE, created: float = 0,
           address: str = "", lbs: Iterable[LBDescription] = (),
           draining: bool = False) -> ObservedServer:
    """An observed server; ``lbs`` are the LBs its metadata records."""
    return ObservedServer(server_id, state, created, servicenet_address=address,
                          desired_lbs=lbs, draining=draining)


def clb_node(node_id: str, address: str, lb_id: str = "5", port: int = 80,
             condition: NodeCondition = NodeCondition.ENABLED, weight: int = 1,
             type: NodeType = NodeType.PRIMARY, online: bool = True,
             drained_at: float | None = None,
             connections: int | None = None) -> CLBNode:
    """A CLB node as listed."""
    return CLBNode(node_id, address, CLBDescription(lb_id, port, weight, condition, type),
                   is_online=online, drained_at=drained_at, connections=connections)


def rcv3_node(node_id: str, pool: str, server_id: str) -> RCv3Node:
    """An RCv3 pool member."""
    return RCv3Node(node_id, RCv3Description(pool), server_id)


def group(capacity: int, lbs: Iterable[LBDescription] = (),
          draining_timeout: float = 0.0) -> DesiredGroup:
    """A desired group whose launch configuration names ``lbs``."""
    return DesiredGroup(capacity, CONFIG, desired_lbs=lbs, draining_timeout=draining_timeout)


def steps_for(capacity: int, servers: Iterable[ObservedServer] = (),
              nodes: Iterable[LBNode] = (), clbs: Mapping[str, CLB] | None = None,
              lbs: Iterable[LBDescription] = (), draining_timeout: float = 0.0,
              now: float = 0, build_timeout: float = 3600) -> PBag:
    """
    The raw steps planned for a group (every CLB known, no monitor, unless
    told). A server given without load balancers in its metadata is taken to
    have been created by otter2 for ``lbs``, so its metadata names them.
    """
    lbs = list(lbs)
    servers = [s if s.desired_lbs else evolve(s, desired_lbs=lbs) for s in servers]
    if clbs is None:
        clbs = {lb.lb_id: CLB() for lb in lbs if isinstance(lb, CLBDescription)}
    return pbag(plan_steps(group(capacity, lbs, draining_timeout), servers, nodes, clbs,
                           now, build_timeout))
