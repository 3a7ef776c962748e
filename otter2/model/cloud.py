"""
What convergence sees of the cloud: Nova servers, load-balancer descriptions
and nodes, and the server-metadata contract that ties them to a group.

test-case-name: tests.model.test_cloud
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum

from attrs import field, frozen
from pyrsistent import PMap, PSet, PVector, pmap, pset, pvector

from otter2.model.group import frozen_json, frozen_set


class ServerState(Enum):
    """Every Nova server status, plus what otter2 makes of one it does not know."""

    ACTIVE = "ACTIVE"
    BUILD = "BUILD"
    DELETED = "DELETED"
    ERROR = "ERROR"
    HARD_REBOOT = "HARD_REBOOT"
    REBOOT = "REBOOT"
    MIGRATING = "MIGRATING"
    PASSWORD = "PASSWORD"
    REBUILD = "REBUILD"
    RESCUE = "RESCUE"
    RESIZE = "RESIZE"
    REVERT_RESIZE = "REVERT_RESIZE"
    VERIFY_RESIZE = "VERIFY_RESIZE"
    SHUTOFF = "SHUTOFF"
    SUSPENDED = "SUSPENDED"
    PAUSED = "PAUSED"
    SHELVED = "SHELVED"
    SHELVED_OFFLOADED = "SHELVED_OFFLOADED"
    SOFT_DELETED = "SOFT_DELETED"
    UNKNOWN = "UNKNOWN"
    UNKNOWN_TO_OTTER = "UNKNOWN_TO_OTTER"


class NodeCondition(Enum):
    """The condition of a Cloud Load Balancer node."""

    ENABLED = "ENABLED"
    DISABLED = "DISABLED"
    DRAINING = "DRAINING"


class NodeType(Enum):
    """The type of a Cloud Load Balancer node."""

    PRIMARY = "PRIMARY"
    SECONDARY = "SECONDARY"


@frozen(cache_hash=True)  # planning hashes the same few descriptions per server
class CLBDescription:
    """A server's wish to be on a Cloud Load Balancer at a port."""

    lb_id: str
    port: int
    weight: int = 1
    condition: NodeCondition = NodeCondition.ENABLED
    type: NodeType = NodeType.PRIMARY

    def equivalent_to(self, other: LBDescription) -> bool:
        """Same load balancer and port; weight, condition and type don't matter."""
        return (isinstance(other, CLBDescription) and self.lb_id == other.lb_id
                and self.port == other.port)


def _lower(value: str) -> str:
    return value.lower()


@frozen(cache_hash=True)
class RCv3Description:
    """A server's wish to be in a RackConnect v3 pool (ids compare lower-cased)."""

    lb_id: str = field(converter=_lower)

    def equivalent_to(self, other: LBDescription) -> bool:
        """The same pool."""
        return isinstance(other, RCv3Description) and self.lb_id == other.lb_id


LBDescription = CLBDescription | RCv3Description


@frozen
class CLBNode:
    """A node of a Cloud Load Balancer, as listed."""

    node_id: str
    address: str
    description: CLBDescription
    is_online: bool = True
    drained_at: float | None = None  # when it entered DRAINING, if known
    connections: int | None = None


@frozen
class RCv3Node:
    """A member of a RackConnect v3 pool."""

    node_id: str
    description: RCv3Description
    cloud_server_id: str


LBNode = CLBNode | RCv3Node


@frozen
class CLB:
    """What convergence needs to know of one Cloud Load Balancer."""

    health_monitor: bool = False


@frozen
class ObservedServer:
    """A server as Nova described it during one gather."""

    id: str
    state: ServerState
    created: float  # seconds since the epoch
    servicenet_address: str = ""
    desired_lbs: PSet = field(factory=pset, converter=frozen_set)
    draining: bool = False  # metadata rax:autoscale:server:state is DRAINING
    links: PVector = field(factory=pvector, converter=frozen_json)
    image_id: str | None = None
    flavor_id: str | None = None
    metadata: PMap = field(factory=pmap, converter=frozen_json)


@frozen
class RecordedServer:
    """
    A server of the group as the last iteration saw it, kept with the group:
    the API lists the ``active`` ones (kept by convergence and serving), and
    convergence remembers the rest, with the load balancers their metadata
    named, so that it can remove the nodes of servers that vanish.
    """

    id: str
    links: PVector = field(factory=pvector, converter=frozen_json)
    address: str = ""  # ServiceNet address, "" when it has none
    active: bool = False
    load_balancers: PSet = field(factory=pset, converter=frozen_set)  # of LBDescription


@frozen
class ObservedStack:
    """
    A Heat stack of a ``launch_stack`` group, as a gather saw it: Heat's
    ``stack_status`` split into ``action`` (CREATE, UPDATE, CHECK, DELETE,
    ROLLBACK...) and ``status`` (IN_PROGRESS, COMPLETE, FAILED); ``reason``
    is Heat's ``stack_status_reason``; ``created`` is seconds since the epoch
    (0 when Heat did not say).
    """

    id: str
    name: str
    action: str
    status: str
    reason: str = ""
    created: float = 0.0
    links: PVector = field(factory=pvector, converter=frozen_json)


def _servers(servers: Iterable[ObservedServer]) -> PVector[ObservedServer]:
    return pvector(servers)


def _nodes(nodes: Iterable[LBNode]) -> PVector[LBNode]:
    return pvector(nodes)


def _clbs(clbs: Mapping[str, CLB]) -> PMap[str, CLB]:
    return pmap(clbs)


@frozen
class Observation:
    """
    What one gather saw of a group's part of the cloud: its servers, the
    nodes of the load balancers it cares about, and those CLBs (by id).
    """

    servers: PVector[ObservedServer] = field(factory=pvector, converter=_servers)
    lb_nodes: PVector[LBNode] = field(factory=pvector, converter=_nodes)
    clbs: PMap[str, CLB] = field(factory=pmap, converter=_clbs)
