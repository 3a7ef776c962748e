"""
Tests for otter2.convergence.transforming: limits and one step per CLB.
"""

from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pbag
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud.clb import MAX_NODES_PER_DELETE
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
from tests.convergence import reference

CREATE = CreateServer({"server": {"name": "web"}})
DESC = CLBDescription("5", 80)


def change(lb_id: str, node_id: str) -> ChangeCLBNode:
    return ChangeCLBNode(lb_id, node_id, NodeCondition.ENABLED, 1, NodeType.PRIMARY)


def drain(lb_id: str, node_id: str) -> ChangeCLBNode:
    return ChangeCLBNode(lb_id, node_id, NodeCondition.DRAINING, 1, NodeType.PRIMARY)


@st.composite
def clb_steps(draw: st.DrawFn) -> list[Step]:
    """Merged steps of CLBs 5 and 6: at most one removal (some of its nodes quiet) and one
    addition per CLB, and node changes (drains or resets)."""
    steps: list[Step] = []
    for lb_id in ("5", "6"):
        removed = draw(st.sets(st.integers(1, 40).map(str), max_size=25))
        if removed:
            quiet = draw(st.sets(st.sampled_from(sorted(removed))))
            steps.append(RemoveNodesFromCLB(lb_id, removed, quiet))
        if draw(st.booleans()):
            steps.append(AddNodesToCLB(lb_id, {("10.0.0.1", CLBDescription(lb_id, 80))}))
        changed = draw(st.sets(st.integers(5, 150).map(str), max_size=5))
        steps.extend(draw(st.sampled_from([drain, change]))(lb_id, node_id)
                     for node_id in changed)
    return draw(st.permutations(steps))


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
        """Among changes only, the one of the smallest node id wins, whatever the order,
        by number."""
        kept, _ = one_clb_step([change("5", "9"), change("5", "30"), change("5", "7")])
        self.assertEqual(kept, [change("5", "7")])
        kept, _ = one_clb_step([drain("5", "10"), drain("5", "9")])
        self.assertEqual(kept, [drain("5", "9")])

    def test_urgent_removal_beats_drains(self) -> None:
        """A removal of a node that takes connections goes before drains."""
        kept, _ = one_clb_step([drain("5", "1"), RemoveNodesFromCLB("5", {"2"})])
        self.assertEqual(kept, [RemoveNodesFromCLB("5", {"2"})])

    def test_addition_beats_drains(self) -> None:
        """An addition goes before drains."""
        add = AddNodesToCLB("5", {("10.0.0.1", DESC)})
        kept, _ = one_clb_step([drain("5", "1"), add])
        self.assertEqual(kept, [add])

    def test_drain_beats_removal_of_quiet_nodes(self) -> None:
        """
        The start of a drain goes before the removal of nodes that take no new
        connection (each drain held back delays the end of the scale-down), and
        the removal says it waits.
        """
        kept, postponed = one_clb_step([RemoveNodesFromCLB("5", {"2", "3"}, {"2", "3"}),
                                        drain("5", "4"), drain("5", "1")])
        self.assertEqual((kept, postponed), ([drain("5", "1")], [
            "removing 2 nodes from Cloud Load Balancer 5 waits for the next iteration: a "
            "Cloud Load Balancer takes one change at a time",
            "changing 1 node of Cloud Load Balancer 5 waits for the next iteration: a Cloud "
            "Load Balancer takes one change at a time"]))

    def test_removal_of_quiet_nodes_beats_resets(self) -> None:
        """Without drains, quiet nodes are removed before other changes."""
        quiet = RemoveNodesFromCLB("5", {"2"}, {"2"})
        kept, _ = one_clb_step([change("5", "1"), quiet])
        self.assertEqual(kept, [quiet])

    def test_ten_nodes_at_a_time(self) -> None:
        """
        A removal takes ten nodes, those that take connections first, then by
        number, and says how many more wait.
        """
        ids = {str(i) for i in range(1, 16)}
        quiet = {str(i) for i in range(1, 9)}
        kept, postponed = one_clb_step([RemoveNodesFromCLB("5", ids, quiet)])
        self.assertEqual((kept, postponed), (
            [RemoveNodesFromCLB("5", {"9", "10", "11", "12", "13", "14", "15", "1", "2", "3"},
                                {"1", "2", "3"})],
            ["5 more nodes to remove from Cloud Load Balancer 5 wait for the next iteration: "
             "a Cloud Load Balancer removes at most 10 nodes at a time"]))

    @given(steps=clb_steps())
    def test_order_of_changes(self, steps: list[Step]) -> None:
        """
        Each CLB keeps one change, and it is the first of Note [Order of
        load-balancer changes]: nodes that take connections are never left on
        behind another change, a drain never waits behind quiet nodes or a
        reset, and a removal takes at most ten nodes, those that take
        connections first; whatever is held back is said.
        """
        kept, postponed = one_clb_step(steps)
        for lb_id in ("5", "6"):
            mine = [s for s in steps if s.lb_id == lb_id]  # type: ignore[union-attr]
            if not mine:
                continue
            [chosen] = [s for s in kept if s.lb_id == lb_id]  # type: ignore[union-attr]
            removals = [s for s in mine if isinstance(s, RemoveNodesFromCLB)]
            urgent = removals[0].node_ids - removals[0].quiet if removals else set()
            drains = sorted((s.node_id for s in mine if isinstance(s, ChangeCLBNode)
                             and s.condition is NodeCondition.DRAINING), key=int)
            adds = [s for s in mine if isinstance(s, AddNodesToCLB)]
            if urgent:
                assert isinstance(chosen, RemoveNodesFromCLB)
                self.assertLessEqual(len(chosen.node_ids), MAX_NODES_PER_DELETE)
                self.assertTrue(chosen.node_ids <= removals[0].node_ids)
                self.assertEqual(chosen.quiet, chosen.node_ids & removals[0].quiet)
                if chosen.quiet:
                    self.assertTrue(urgent <= chosen.node_ids)
            elif adds:
                self.assertEqual(chosen, adds[0])
            elif drains:
                self.assertEqual(chosen, drain(lb_id, drains[0]))
            elif removals:
                assert isinstance(chosen, RemoveNodesFromCLB)
                self.assertEqual(len(chosen.node_ids),
                                 min(len(removals[0].node_ids), MAX_NODES_PER_DELETE))
            held = len(mine) > 1 or (isinstance(chosen, RemoveNodesFromCLB)
                                     and chosen != removals[0])
            self.assertEqual(held, any(f"Cloud Load Balancer {lb_id} " in sentence
                                       for sentence in postponed))

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


@st.composite
def any_clb_steps(draw: st.DrawFn) -> list[Step]:
    """Any steps of CLBs 5, 6 and 7, merged or not: node changes of any
    condition (the same node changed twice, ids that are not numbers), now and
    then removals (of more nodes than one call removes) and additions (several
    of one CLB) and steps of other kinds."""
    lbs = st.sampled_from(["5", "6", "7"])
    node_ids = st.one_of(st.sampled_from(["1", "2", "9", "10", "07", "x", "a1"]),
                         st.integers(1, 40).map(str))
    changes = st.lists(st.builds(ChangeCLBNode, lbs, node_ids, st.sampled_from(NodeCondition),
                                 st.integers(1, 2), st.sampled_from(NodeType)), max_size=20)
    others = st.lists(st.one_of(
        st.builds(RemoveNodesFromCLB, lbs, st.sets(node_ids, min_size=1, max_size=25),
                  st.sets(node_ids, max_size=25)),
        st.builds(AddNodesToCLB, lbs, st.just({("10.0.0.1", CLBDescription("5", 80))})),
        st.just(DeleteServer("a")), st.just(CREATE)), max_size=4)
    steps: list[Step] = [*draw(changes), *draw(others)]
    return draw(st.permutations(steps))


class ReferenceTests(SynchronousTestCase):
    """The transformations do what their straightforward reference does."""

    @given(steps=any_clb_steps(), split=st.integers(0, 30))
    def test_one_clb_step(self, steps: list[Step], split: int) -> None:
        """one_clb_step keeps the same steps, in the same order, and says the same,
        with the last node changes given as steps or by their fields."""
        changes = [step for step in steps if isinstance(step, ChangeCLBNode)][split:]
        given = [step for step in steps if step not in changes]
        fields = [(c.lb_id, c.node_id, c.condition, c.weight, c.type) for c in changes]
        expected = reference.one_clb_step([*given, *changes])
        self.assertEqual(one_clb_step([*given, *changes]), expected)
        self.assertEqual(one_clb_step(given, fields), expected)

    @given(steps=any_clb_steps(),
           limits=st.sampled_from([DEFAULT_STEP_LIMITS, {ChangeCLBNode: 1},
                                   {ChangeCLBNode: 3, DeleteServer: 0},
                                   {CreateServer: 1, DeleteServer: -1, BulkAddToRCv3: 2}]))
    def test_transform(self, steps: list[Step], limits: dict) -> None:
        """transform plans what the reference does, node changes given as steps or by
        their fields (limited or not)."""
        changes = [step for step in steps if isinstance(step, ChangeCLBNode)]
        given = [step for step in steps if not isinstance(step, ChangeCLBNode)]
        fields = [(c.lb_id, c.node_id, c.condition, c.weight, c.type) for c in changes]
        expected = reference.transform([*given, *changes], limits)
        self.assertEqual(transform([*given, *changes], limits), expected)
        self.assertEqual(transform(given, limits, fields), expected)
