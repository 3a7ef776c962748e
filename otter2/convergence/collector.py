"""
The steps of one plan as planning finds them: ``StepCollector`` merges them
per load balancer as they come (the one place where steps are merged), keeps
node changes unbuilt until the few that run are chosen, and notes the
instant the soonest known wait ends.

test-case-name: tests.convergence.test_membership
"""

from __future__ import annotations

from collections.abc import Iterable

from otter2.convergence.steps import (
    AddNodesToCLB,
    BulkAddToRCv3,
    BulkRemoveFromRCv3,
    ChangeCLBNode,
    ConvergeLater,
    FailConvergence,
    NodeChange,
    RemoveNodesFromCLB,
    Step,
)
from otter2.model.cloud import CLBDescription, CLBNode, LBNode, NodeCondition, NodeType

__all__ = ["StepCollector"]

# The conditions of CLB nodes that take no new connections.
_QUIET = (NodeCondition.DRAINING, NodeCondition.DISABLED)

# Read once per drain: an Enum member read from its class costs a descriptor
# call each time, several times a plain name.
_DRAINING = NodeCondition.DRAINING


class StepCollector:
    """
    The steps of one plan as they are found. Node additions and removals are
    kept per load balancer in plain sets, and reasons to wait or fail without
    repeats, until ``result`` makes one step of each: a group of 10 000
    servers gets two steps, not 20 000, which would cost more to build than
    the rest of the plan. Node changes are kept as tuples (``node_changes``),
    in the order found: a CLB takes one at a time, so a plan builds the step
    of only the one that runs. ``wake_at`` is the soonest instant at which a
    wait that the plan knows the end of (a drain, a build or ONLINE timeout)
    ends.
    """

    def __init__(self) -> None:
        self._steps: list[Step] = []
        #: The node changes found (ChangeCLBNode steps not built), in order.
        self.node_changes: list[NodeChange] = []
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

    def extend(self, steps: Iterable[Step]) -> None:
        """Take ``steps`` as they are, in order."""
        self._steps.extend(steps)

    def change(self, lb_id: str, node_id: str, condition: NodeCondition, weight: int,
               type: NodeType) -> None:
        """Set a CLB node's condition, weight and type."""
        self.node_changes.append((lb_id, node_id, condition, weight, type))

    def drain(self, lb_id: str, node_id: str, weight: int, type: NodeType,
              until: float) -> None:
        """Start draining a CLB node, a drain that ends at ``until``."""
        self.node_changes.append((lb_id, node_id, _DRAINING, weight, type))
        if self.wake_at is None or until < self.wake_at:
            self.wake_at = until

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

    def remove_from_pools(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Take servers out of RCv3 pools at once, as (pool id, server id) pairs."""
        self._rcv3_removes.update(pairs)

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

    def result(self, node_changes: bool = True) -> list[Step]:
        """The steps found, merged per load balancer, and (unless told not to)
        the node changes after them as ChangeCLBNode steps."""
        steps = list(self._steps)
        if node_changes:
            steps.extend(ChangeCLBNode(*change) for change in self.node_changes)
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
