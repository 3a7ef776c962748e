"""
Tests for otter2.convergence.transforming: limits and one step per CLB.
"""

from pyrsistent import pbag
from twisted.trial.unittest import SynchronousTestCase

from otter2.convergence.steps import (
    AddNodesToCLB,
    BulkAddToRCv3,
    ChangeCLBNode,
    ConvergeLater,
    CreateServer,
    DeleteServer,
    RemoveNodesFromCLB,
    Step,
)
from otter2.convergence.transforming import (
    DEFAULT_STEP_LIMITS,
    Plan,
    limit_steps,
    one_clb_step,
    transform,
)
from otter2.model.cloud import CLBDescription, NodeCondition, NodeType

CREATE = CreateServer({"server": {"name": "web"}})
DESC = CLBDescription("5", 80)


def change(lb_id: str, node_id: str) -> ChangeCLBNode:
    return ChangeCLBNode(lb_id, node_id, NodeCondition.ENABLED, 1, NodeType.PRIMARY)


class PlanTests(SynchronousTestCase):
    """Plan is a plain value."""

    def test_empty(self) -> None:
        """A default plan has no steps and postpones nothing."""
        self.assertEqual((Plan().steps, list(Plan().postponed)), (pbag([]), []))

    def test_equality(self) -> None:
        """Plans with the same steps, in any order, and reasons are equal."""
        self.assertEqual(Plan([CREATE, DeleteServer("a")], ["x"]),
                         Plan([DeleteServer("a"), CREATE], ["x"]))


class LimitStepsTests(SynchronousTestCase):
    """limit_steps keeps at most the limit of each step type and says what waits."""

    def test_default_limits_creations_to_ten(self) -> None:
        """Twenty creations become ten, and the other ten are reported as waiting."""
        kept, postponed = limit_steps([CREATE] * 20 + [DeleteServer("a")], DEFAULT_STEP_LIMITS)
        self.assertEqual((kept, postponed),
                         ([CREATE] * 10 + [DeleteServer("a")],
                          ["10 more server creations wait for the next iteration: at most 10 "
                           "run in one iteration"]))

    def test_within_limits(self) -> None:
        """Steps within their limits all stay and nothing is reported."""
        self.assertEqual(limit_steps([CREATE] * 10, DEFAULT_STEP_LIMITS), ([CREATE] * 10, []))

    def test_other_types_and_order(self) -> None:
        """A limit on any type keeps the first steps given and names the type."""
        kept, postponed = limit_steps([DeleteServer("a"), DeleteServer("b"), DeleteServer("c")],
                                      {DeleteServer: 2})
        self.assertEqual((kept, postponed),
                         ([DeleteServer("a"), DeleteServer("b")],
                          ["1 more DeleteServer step waits for the next iteration: at most 2 "
                           "run in one iteration"]))

    def test_unlimited_types(self) -> None:
        """Types without a limit are never dropped."""
        steps = [DeleteServer(str(i)) for i in range(100)]
        self.assertEqual(limit_steps(steps, DEFAULT_STEP_LIMITS), (steps, []))


class OneCLBStepTests(SynchronousTestCase):
    """one_clb_step keeps one mutating step per CLB and says what waits."""

    def test_removal_wins(self) -> None:
        """A removal beats an addition and changes on the same CLB."""
        kept, postponed = one_clb_step([
            change("5", "1"), AddNodesToCLB("5", {("10.0.0.1", DESC)}),
            RemoveNodesFromCLB("5", {"2"})])
        self.assertEqual((kept, postponed), ([RemoveNodesFromCLB("5", {"2"})], [
            "adding 1 node to Cloud Load Balancer 5 waits for the next iteration: a Cloud "
            "Load Balancer takes one change at a time",
            "changing 1 node of Cloud Load Balancer 5 waits for the next iteration: a Cloud "
            "Load Balancer takes one change at a time"]))

    def test_addition_beats_changes(self) -> None:
        """Without a removal, the addition wins over changes."""
        add = AddNodesToCLB("5", {("10.0.0.1", DESC), ("10.0.0.2", DESC)})
        kept, postponed = one_clb_step([change("5", "1"), change("5", "2"), add])
        self.assertEqual((kept, postponed), ([add], [
            "changing 2 nodes of Cloud Load Balancer 5 waits for the next iteration: a Cloud "
            "Load Balancer takes one change at a time"]))

    def test_smallest_node_change_wins(self) -> None:
        """Among changes only, the one of the smallest node id wins, whatever the order."""
        kept, _ = one_clb_step([change("5", "9"), change("5", "3"), change("5", "7")])
        self.assertEqual(kept, [change("5", "3")])

    def test_load_balancers_are_independent(self) -> None:
        """Each CLB keeps its own step; other steps pass through."""
        steps: list[Step] = [CREATE, BulkAddToRCv3({("p", "a")}), change("5", "1"),
                             RemoveNodesFromCLB("6", {"2"}), ConvergeLater(["x"])]
        kept, postponed = one_clb_step(steps)
        self.assertEqual((pbag(kept), postponed), (pbag(steps), []))


class TransformTests(SynchronousTestCase):
    """transform limits, merges and reduces to one step per CLB, in that order."""

    def test_nothing_to_do(self) -> None:
        """No steps give the empty plan."""
        self.assertEqual(transform([]), Plan())

    def test_everything_dropped_is_postponed(self) -> None:
        """Limits and the one-step-per-CLB rule both report what they held back."""
        plan = transform([CREATE] * 12 + [
            AddNodesToCLB("5", {("10.0.0.1", DESC), ("10.0.0.2", DESC)}), change("5", "1")])
        self.assertEqual(plan, Plan(
            [CREATE] * 10 + [AddNodesToCLB("5", {("10.0.0.1", DESC), ("10.0.0.2", DESC)})],
            ["2 more server creations wait for the next iteration: at most 10 run in one "
             "iteration",
             "changing 1 node of Cloud Load Balancer 5 waits for the next iteration: a Cloud "
             "Load Balancer takes one change at a time"]))

    def test_custom_limits(self) -> None:
        """Configured limits replace the default ones."""
        self.assertEqual(transform([CREATE] * 30, {CreateServer: 25}).steps, pbag([CREATE] * 25))
