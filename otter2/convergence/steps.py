"""
The steps a plan is made of: plain frozen values, one per kind of change to
the cloud. ``executing.py`` turns each into I/O; planning only builds them.

The sets of the steps merged per load balancer are frozensets, not PSets: a
scale-down of a big group puts thousands of nodes or servers in one step,
and a PSet costs about ten times as much to build and to hash (a plan's
steps are a bag, so each is hashed). The steps do not cache their hash:
attrs' cached hash is set through object.__setattr__, and a bag of 5 000
steps took half as long again to build with it.

test-case-name: tests.convergence.test_planning
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from attrs import field, frozen
from pyrsistent import PMap, PVector, pvector

from otter2.model.cloud import CLBDescription, NodeCondition, NodeType
from otter2.model.group import frozen_json, frozen_list


def _frozen(members: Iterable[Any]) -> frozenset[Any]:
    return members if isinstance(members, frozenset) else frozenset(members)


@frozen
class CreateServer:
    """Build one server from the (already metadata-stamped) Nova body."""

    server_config: PMap = field(converter=frozen_json)


@frozen
class DeleteServer:
    """Delete a server; a 404 means done."""

    server_id: str


@frozen
class SetMetadataItemOnServer:
    """Set one metadata item (the draining marker) on a server."""

    server_id: str
    key: str
    value: str


@frozen
class RecordLoadBalancers:
    """
    Replace a server's metadata by ``metadata``: its load-balancer keys
    rewritten to name every load balancer it is or will be on (Note
    [Load-balancer history] in ``membership``).
    """

    server_id: str
    metadata: PMap = field(converter=frozen_json)


@frozen
class AddNodesToCLB:
    """Add (address, description) pairs as nodes of one CLB."""

    lb_id: str
    address_configs: frozenset[tuple[str, CLBDescription]] = field(converter=_frozen)


@frozen
class RemoveNodesFromCLB:
    """
    Remove nodes from one CLB; already-gone nodes or LBs mean done. ``quiet``
    holds the ids among ``node_ids`` of nodes that take no new connections
    (DRAINING or DISABLED): their removal is not urgent (see
    ``transforming.one_clb_step``).
    """

    lb_id: str
    node_ids: frozenset[str] = field(converter=_frozen)
    quiet: frozenset[str] = field(factory=frozenset, converter=_frozen)


@frozen
class ChangeCLBNode:
    """Set a CLB node's condition, weight and type."""

    lb_id: str
    node_id: str
    condition: NodeCondition
    weight: int
    type: NodeType


#: The fields of a ChangeCLBNode in order (lb_id, node_id, condition, weight,
#: type): how planning keeps node changes until the few that run are chosen
#: (``transforming.transform``), since a scale-down finds thousands.
NodeChange = tuple[str, str, NodeCondition, int, NodeType]


@frozen
class BulkAddToRCv3:
    """Add (pool id, server id) pairs to RackConnect v3 pools."""

    lb_node_pairs: frozenset[tuple[str, str]] = field(converter=_frozen)


@frozen
class BulkRemoveFromRCv3:
    """Remove (pool id, server id) pairs from RackConnect v3 pools."""

    lb_node_pairs: frozenset[tuple[str, str]] = field(converter=_frozen)


@frozen
class CreateStack:
    """Create one Heat stack of the group from its (tagged) stack body."""

    group_id: str
    stack_config: PMap = field(converter=frozen_json)


@frozen
class CheckStack:
    """Ask Heat to check that a stack's resources are still there."""

    stack_id: str
    name: str


@frozen
class UpdateStack:
    """
    Update a stack to the group's stack body: to repair it after a failed
    check, or (``finishing``) to end a check cycle, which is then done.
    """

    stack_id: str
    name: str
    stack_config: PMap = field(converter=frozen_json)
    finishing: bool = False


@frozen
class DeleteStack:
    """Delete a stack; a 404 means done."""

    stack_id: str
    name: str


@frozen
class ConvergeLater:
    """No I/O: look again later (RETRY, or LIMITED_RETRY when ``limited``)."""

    reasons: PVector = field(factory=pvector, converter=frozen_list)
    limited: bool = False


@frozen
class FailConvergence:
    """No I/O: the group needs its owner (FAILURE), for the reasons given."""

    reasons: PVector = field(factory=pvector, converter=frozen_list)


Step = (CreateServer | DeleteServer | SetMetadataItemOnServer | RecordLoadBalancers
        | AddNodesToCLB | RemoveNodesFromCLB | ChangeCLBNode | BulkAddToRCv3
        | BulkRemoveFromRCv3 | CreateStack | CheckStack | UpdateStack | DeleteStack
        | ConvergeLater | FailConvergence)

__all__ = ["AddNodesToCLB", "BulkAddToRCv3", "BulkRemoveFromRCv3", "CLBDescription",
           "ChangeCLBNode", "CheckStack", "ConvergeLater", "CreateServer", "CreateStack",
           "DeleteServer", "DeleteStack", "FailConvergence", "NodeChange", "UpdateStack", "RecordLoadBalancers", "RemoveNodesFromCLB",
           "SetMetadataItemOnServer", "Step"]
