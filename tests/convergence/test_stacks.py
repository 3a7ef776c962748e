"""
Tests for otter2.convergence.stacks: the fate of each Heat status, the plans
of a ``launch_stack`` group (spec §2.12 as Note [The check cycle] changes
it), and properties over arbitrary stacks, up to repeated plans that bring
any group to its capacity and the end of its check cycle.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator

from attrs import evolve
from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pbag
from twisted.trial.unittest import SynchronousTestCase

from otter2.convergence.stacks import (
    BUSY_REASON,
    DELETING_REASON,
    StackFate,
    plan_stacks,
    serving,
    stack_fate,
)
from otter2.convergence.steps import (
    CheckStack,
    ConvergeLater,
    CreateStack,
    DeleteStack,
    Step,
    UpdateStack,
)
from otter2.convergence.transforming import Plan
from otter2.model.cloud import ObservedStack
from otter2.model.desired import DesiredStackGroup

CONFIG = {"template": {"heat_template_version": "2015-04-30", "resources": {}},
          "tags": "autoscale_g1"}
CREATE = CreateStack("g1", CONFIG)


def stack(stack_id: str, status: str = "CREATE_COMPLETE", created: float = 0,
          reason: str = "") -> ObservedStack:
    """A stack of group g1 as a gather saw it, from Heat's ``stack_status``."""
    action, _, state = status.partition("_")
    return ObservedStack(stack_id, f"autoscale_g1_{stack_id}", action, state, reason, created)


def group(capacity: int, build_after: float | None = None) -> DesiredStackGroup:
    return DesiredStackGroup("g1", capacity, CONFIG, build_after)


def check(s: ObservedStack) -> CheckStack:
    return CheckStack(s.id, s.name)


def repair(s: ObservedStack) -> UpdateStack:
    return UpdateStack(s.id, s.name, CONFIG)


def finish(s: ObservedStack) -> UpdateStack:
    return UpdateStack(s.id, s.name, CONFIG, finishing=True)


def delete(s: ObservedStack) -> DeleteStack:
    return DeleteStack(s.id, s.name)


class StackFateTests(SynchronousTestCase):
    """Each Heat status has one fate."""

    def test_table(self) -> None:
        """Every action and status Heat documents meets the fate the Note gives it."""
        expected = {
            "CREATE_COMPLETE": StackFate.COUNT, "UPDATE_COMPLETE": StackFate.COUNT,
            "RESUME_COMPLETE": StackFate.COUNT, "SNAPSHOT_COMPLETE": StackFate.COUNT,
            "ADOPT_COMPLETE": StackFate.COUNT,
            "CHECK_COMPLETE": StackFate.CHECKED,
            "CHECK_FAILED": StackFate.REPAIR,
            "SUSPEND_COMPLETE": StackFate.HOLD, "SUSPEND_FAILED": StackFate.HOLD,
            "RESUME_FAILED": StackFate.HOLD, "SNAPSHOT_FAILED": StackFate.HOLD,
            "CREATE_IN_PROGRESS": StackFate.BUSY, "UPDATE_IN_PROGRESS": StackFate.BUSY,
            "CHECK_IN_PROGRESS": StackFate.BUSY, "ROLLBACK_IN_PROGRESS": StackFate.BUSY,
            "SUSPEND_IN_PROGRESS": StackFate.BUSY, "RESUME_IN_PROGRESS": StackFate.BUSY,
            "CREATE_FAILED": StackFate.REPLACE, "UPDATE_FAILED": StackFate.REPLACE,
            "ROLLBACK_FAILED": StackFate.REPLACE, "ROLLBACK_COMPLETE": StackFate.REPLACE,
            "DELETE_IN_PROGRESS": StackFate.DELETING,
            "DELETE_FAILED": StackFate.DELETE_AGAIN,
            "DELETE_COMPLETE": StackFate.GONE,
        }
        self.assertEqual({status: stack_fate(stack("a", status)) for status in expected},
                         expected)

    def test_undocumented_status(self) -> None:
        """A status Heat does not document means a stack to replace (or to delete again,
        when it was being deleted)."""
        self.assertIs(stack_fate(stack("a", "CREATE_WEIRD")), StackFate.REPLACE)
        self.assertIs(stack_fate(stack("a", "WEIRD")), StackFate.REPLACE)
        self.assertIs(stack_fate(stack("a", "DELETE_WEIRD")), StackFate.DELETE_AGAIN)

    def test_serving(self) -> None:
        """Complete, checked and being-checked stacks serve; the others do not."""
        stacks = [stack("a"), stack("b", "CHECK_COMPLETE"), stack("c", "CHECK_IN_PROGRESS"),
                  stack("d", "UPDATE_COMPLETE"), stack("e", "CREATE_IN_PROGRESS"),
                  stack("f", "CHECK_FAILED"), stack("g", "SUSPEND_COMPLETE"),
                  stack("h", "DELETE_IN_PROGRESS"), stack("i", "CREATE_FAILED")]
        self.assertEqual(serving(stacks), {"a", "b", "c", "d"})


class ScaleTests(SynchronousTestCase):
    """Stacks are created up to the capacity and the surplus deleted."""

    def test_empty_group_scales_up(self) -> None:
        """An empty group gets a creation per missing stack from the group's body."""
        self.assertEqual(plan_stacks(group(3), [], now=0), Plan([CREATE] * 3))

    def test_create_limit(self) -> None:
        """At most 10 stacks are created in one iteration; the rest are postponed, said."""
        self.assertEqual(plan_stacks(group(25), [], now=0), Plan(
            [CREATE] * 10, ["15 more stack creations wait for the next iteration: at most "
                            "10 run in one iteration"]))

    def test_step_limits(self) -> None:
        """Configured step limits replace the default ones."""
        planned = plan_stacks(group(30), [], now=0, step_limits={CreateStack: 25})
        self.assertEqual((len(planned.steps), len(planned.postponed)), (25, 1))

    def test_creates_only_missing(self) -> None:
        """Stacks that count are not created again."""
        a = stack("a")
        self.assertEqual(plan_stacks(group(2), [a], now=0), Plan([CREATE], kept=["a"]))

    def test_surplus_oldest_first(self) -> None:
        """A scale-down deletes the oldest stacks, ties broken by id."""
        a, b, c = stack("a", created=100), stack("b", created=300), stack("c", created=200)
        self.assertEqual(plan_stacks(group(2), [a, b, c], now=0),
                         Plan([delete(a)], kept=["b", "c"]))
        x, y = stack("x", created=5), stack("y", created=5)
        self.assertEqual(plan_stacks(group(1), [y, x], now=0), Plan([delete(y)], kept=["x"]))

    def test_surplus_least_valuable_first(self) -> None:
        """A scale-down deletes a failed check before a busy stack, before a complete
        one, before a checked one, whatever their age."""
        checked = stack("a", "CHECK_COMPLETE", created=1)
        complete = stack("b", created=2)
        busy = stack("c", "UPDATE_IN_PROGRESS", created=3)
        failed_check = stack("d", "CHECK_FAILED", created=4)
        stacks = [failed_check, busy, complete, checked]
        self.assertEqual(plan_stacks(group(3), stacks, now=0).steps,
                         pbag([delete(failed_check), ConvergeLater([BUSY_REASON])]))
        self.assertEqual(plan_stacks(group(2), stacks, now=0),
                         Plan([delete(failed_check), delete(busy)], kept=["a", "b"]))
        self.assertEqual(plan_stacks(group(1), stacks, now=0).steps,
                         pbag([delete(failed_check), delete(busy), delete(complete)]))

    def test_negative_capacity_is_zero(self) -> None:
        """A negative capacity keeps nothing."""
        a = stack("a")
        self.assertEqual(plan_stacks(group(-1), [a], now=0), Plan([delete(a)]))

    def test_deleting_group(self) -> None:
        """A group being deleted (capacity 0) deletes every stack, whatever its state, and
        waits for those Heat is deleting; deleted ones are ignored."""
        doomed = [stack("a"), stack("b", "CHECK_COMPLETE"), stack("c", "CREATE_IN_PROGRESS"),
                  stack("d", "SUSPEND_COMPLETE"), stack("e", "CHECK_FAILED"),
                  stack("f", "CREATE_FAILED"), stack("g", "DELETE_FAILED")]
        going = [stack("h", "DELETE_IN_PROGRESS"), stack("i", "DELETE_COMPLETE")]
        planned = plan_stacks(group(0), [*doomed, *going], now=0)
        self.assertEqual(planned.steps, pbag([delete(s) for s in doomed]
                                             + [ConvergeLater([DELETING_REASON])]))
        self.assertEqual(planned.kept, set())


class BrokenStackTests(SynchronousTestCase):
    """Failed stacks are replaced and reported; DELETE_FAILED ones deleted again."""

    def test_failed_stacks_replaced(self) -> None:
        """A failed or rolled-back stack is deleted and another created; Heat's reason
        is kept in ``broken``."""
        a = stack("a")
        failed = [stack("b", "CREATE_FAILED", reason="Resource CREATE failed: quota"),
                  stack("c", "UPDATE_FAILED"), stack("d", "ROLLBACK_COMPLETE",
                                                     reason="Stack rolled back")]
        planned = plan_stacks(group(4), [a, *failed], now=0)
        self.assertEqual(planned, Plan([*(delete(s) for s in failed), CREATE, CREATE, CREATE],
                                       kept=["a"], broken=[
            "stack b went to CREATE_FAILED: Resource CREATE failed: quota",
            "stack c went to UPDATE_FAILED",
            "stack d went to ROLLBACK_COMPLETE: Stack rolled back"]))

    def test_delete_failed_deleted_again(self) -> None:
        """A stack whose deletion failed is deleted again and counted as broken; it does
        not count toward the capacity."""
        a = stack("a")
        stuck = stack("z", "DELETE_FAILED", reason="Resource DELETE failed: in use")
        self.assertEqual(plan_stacks(group(2), [a, stuck], now=0), Plan(
            [delete(stuck), CREATE], kept=["a"],
            broken=["stack z could not be deleted: Resource DELETE failed: in use"]))

    def test_failed_check_repaired(self) -> None:
        """A kept stack whose check failed is updated to the group's body, and the
        cycle waits."""
        a, b = stack("a", "CHECK_COMPLETE"), stack("b", "CHECK_FAILED")
        self.assertEqual(plan_stacks(group(2), [a, b], now=0),
                         Plan([repair(b)], kept=["a", "b"]))

    def test_build_after_holds_creations(self) -> None:
        """While the group backs off, creations wait with a reason and a time to look
        again; deletions go on."""
        failed = stack("f", "CREATE_FAILED")
        planned = plan_stacks(group(2, build_after=160), [failed], now=100)
        self.assertEqual(planned, Plan(
            [delete(failed), ConvergeLater([
                "2 stacks to create wait until 1970-01-01T00:02:40Z: the group's stacks "
                "keep failing"])],
            broken=["stack f went to CREATE_FAILED"], wake_at=160))
        self.assertEqual(plan_stacks(group(1, build_after=160), [], now=100).steps,
                         pbag([ConvergeLater(["1 stack to create waits until "
                                              "1970-01-01T00:02:40Z: the group's stacks keep "
                                              "failing"])]))

    def test_build_after_past(self) -> None:
        """Once the back-off is over, stacks are created again."""
        self.assertEqual(plan_stacks(group(2, build_after=160), [], now=160),
                         Plan([CREATE, CREATE]))


class WaitTests(SynchronousTestCase):
    """Stacks Heat is working on are waited for."""

    def test_busy_kept_stacks(self) -> None:
        """A kept stack in progress makes the plan wait, and stops the check cycle."""
        a, b = stack("a"), stack("b", "CREATE_IN_PROGRESS")
        self.assertEqual(plan_stacks(group(2), [a, b], now=0),
                         Plan([ConvergeLater([BUSY_REASON])], kept=["a", "b"]))

    def test_deleting_stacks(self) -> None:
        """A stack being deleted does not count: another is created, and the plan waits."""
        gone = stack("g", "DELETE_IN_PROGRESS")
        self.assertEqual(plan_stacks(group(1), [gone], now=0),
                         Plan([CREATE, ConvergeLater([DELETING_REASON])]))

    def test_suspended_held(self) -> None:
        """A suspended stack counts and is neither checked nor updated."""
        held, a = stack("s", "SUSPEND_COMPLETE"), stack("a")
        self.assertEqual(plan_stacks(group(1), [held], now=0), Plan(kept=["s"]))
        self.assertEqual(plan_stacks(group(2), [held, a], now=0),
                         Plan([check(a)], kept=["s", "a"]))


class CheckCycleTests(SynchronousTestCase):
    """Note [The check cycle]: check every stack, then update every checked one."""

    def test_all_complete_are_checked(self) -> None:
        """A group of complete stacks starts a cycle: each is checked."""
        a, b = stack("a"), stack("b", "UPDATE_COMPLETE")
        self.assertEqual(plan_stacks(group(2), [a, b], now=0),
                         Plan([check(a), check(b)], kept=["a", "b"]))

    def test_all_checked_are_updated(self) -> None:
        """A group of checked stacks ends its cycle: each is updated, finishing, and
        nothing else is done."""
        a, b = stack("a", "CHECK_COMPLETE"), stack("b", "CHECK_COMPLETE")
        self.assertEqual(plan_stacks(group(2), [a, b], now=0),
                         Plan([finish(a), finish(b)], kept=["a", "b"]))

    def test_mixed_checks_the_unchecked(self) -> None:
        """When some are checked and some not, only the unchecked ones are checked."""
        a, b, c = stack("a", "CHECK_COMPLETE"), stack("b"), stack("c", "RESUME_COMPLETE")
        self.assertEqual(plan_stacks(group(3), [a, b, c], now=0),
                         Plan([check(b), check(c)], kept=["a", "b", "c"]))

    def test_no_cycle_while_anything_else_is_to_do(self) -> None:
        """Creations, deletions or waits keep the cycle from starting."""
        a = stack("a")
        for others, capacity in [([], 2), ([stack("b")], 1),
                                 ([stack("c", "CREATE_FAILED")], 1),
                                 ([stack("d", "DELETE_IN_PROGRESS")], 1)]:
            steps = plan_stacks(group(capacity), [a, *others], now=0).steps
            self.assertFalse([s for s in steps if isinstance(s, (CheckStack, UpdateStack))],
                             others)

    def test_empty_group_is_converged(self) -> None:
        """A group of capacity 0 without stacks gets the empty plan."""
        self.assertEqual(plan_stacks(group(0), [stack("x", "DELETE_COMPLETE")], now=0), Plan())


# Properties over arbitrary stacks. ``apply`` plays Heat as mimic does: a
# creation, a check or an update is complete at once, a deletion is gone at
# once, and what Heat was working on before the plan finishes meanwhile.

ACTIONS = ["CREATE", "UPDATE", "DELETE", "ROLLBACK", "SUSPEND", "RESUME", "CHECK",
           "SNAPSHOT", "ADOPT"]
STATES = ["IN_PROGRESS", "COMPLETE", "FAILED"]
COUNTED = {StackFate.COUNT, StackFate.CHECKED, StackFate.HOLD, StackFate.BUSY,
           StackFate.REPAIR}


@st.composite
def observed_stacks(draw: Callable, max_size: int = 14) -> list[ObservedStack]:
    """Stacks with unique ids in any state Heat documents (and a few it does not),
    created at any time, ties included."""
    statuses = st.sampled_from([f"{a}_{s}" for a in ACTIONS for s in STATES]
                               + ["CREATE_WEIRD", "ODD"])
    count = draw(st.integers(0, max_size))
    ids = draw(st.lists(st.text("abcdef0123456789", min_size=1, max_size=4),
                        min_size=count, max_size=count, unique=True))
    return [stack(stack_id, draw(statuses), draw(st.integers(0, 50)),
                  draw(st.sampled_from(["", "Heat said why"])))
            for stack_id in ids]


def desired_groups(max_capacity: int = 25, backing_off: bool = True) -> st.SearchStrategy:
    build_after = st.none() | st.sampled_from([0.0, 1000.0])
    return st.builds(group, st.integers(0, max_capacity),
                     build_after if backing_off else st.none() | st.just(0.0))


def apply(planned: Plan, stacks: list[ObservedStack],
          fresh: Iterator[int]) -> list[ObservedStack]:
    """The stacks Heat lists once it has done every step of ``planned``."""
    by_id: dict[str, ObservedStack] = {}
    for s in stacks:
        if s.status == "IN_PROGRESS":
            if s.action == "DELETE":
                continue
            s = evolve(s, status="COMPLETE")
        if (s.action, s.status) != ("DELETE", "COMPLETE"):
            by_id[s.id] = s
    for step in planned.steps:
        if isinstance(step, CreateStack):
            new = stack(f"new{next(fresh)}")
            by_id[new.id] = new
        elif isinstance(step, DeleteStack):
            by_id.pop(step.stack_id, None)
        elif isinstance(step, CheckStack):
            by_id[step.stack_id] = evolve(by_id[step.stack_id], action="CHECK",
                                          status="COMPLETE")
        elif isinstance(step, UpdateStack):
            by_id[step.stack_id] = evolve(by_id[step.stack_id], action="UPDATE",
                                          status="COMPLETE")
    return list(by_id.values())


def cycle_over(planned: Plan) -> bool:
    """Whether ``planned`` only ends a check cycle (or does nothing at all)."""
    return not planned.postponed and all(
        isinstance(step, UpdateStack) and step.finishing for step in planned.steps)


StackStep = CheckStack | UpdateStack | DeleteStack


def ids_of(steps: Iterable[Step], kind: type[StackStep]) -> list[str]:
    """The ids of the stacks that the steps of type ``kind`` act on."""
    return [step.stack_id for step in steps
            if isinstance(step, (CheckStack, UpdateStack, DeleteStack)) and isinstance(step, kind)]


class PlanStacksPropertyTests(SynchronousTestCase):
    """Stack planning is safe and converges, whatever Heat shows."""

    @given(desired=desired_groups(), stacks=observed_stacks())
    def test_creates_only_what_is_missing(self, desired: DesiredStackGroup,
                                          stacks: list[ObservedStack]) -> None:
        """A plan creates the missing stacks, up to the limit, none while backing off,
        and never more than the capacity less the stacks that count."""
        planned = plan_stacks(desired, stacks, now=500)
        creations = [step for step in planned.steps if isinstance(step, CreateStack)]
        counted = [s for s in stacks if stack_fate(s) in COUNTED]
        missing = max(0, desired.capacity - len(counted))
        backing_off = desired.build_after is not None and 500 < desired.build_after
        self.assertEqual(len(creations), 0 if backing_off else min(10, missing))
        self.assertEqual(len(planned.postponed), int(not backing_off and missing > 10))

    @given(desired=desired_groups(), stacks=observed_stacks())
    def test_kept_and_deleted(self, desired: DesiredStackGroup,
                              stacks: list[ObservedStack]) -> None:
        """At most ``capacity`` stacks are kept, all counted; every failed stack,
        every one whose deletion failed and every surplus stack is deleted, and no
        kept one; each failed stack has its sentence in ``broken``."""
        planned = plan_stacks(desired, stacks, now=500)
        counted = {s.id for s in stacks if stack_fate(s) in COUNTED}
        failed = {s.id for s in stacks
                  if stack_fate(s) in {StackFate.REPLACE, StackFate.DELETE_AGAIN}}
        deleted = ids_of(planned.steps, DeleteStack)
        self.assertEqual(len(deleted), len(set(deleted)))
        self.assertLessEqual(len(planned.kept), max(0, desired.capacity))
        self.assertLessEqual(set(planned.kept), counted)
        self.assertEqual(set(deleted), failed | (counted - set(planned.kept)))
        self.assertEqual(len(planned.kept), min(len(counted), max(0, desired.capacity)))
        self.assertEqual(len(planned.broken), len(failed))

    @given(desired=desired_groups(), stacks=observed_stacks())
    def test_no_stack_updated_and_deleted(self, desired: DesiredStackGroup,
                                          stacks: list[ObservedStack]) -> None:
        """No stack is both updated (or checked) and deleted, and each is touched once."""
        planned = plan_stacks(desired, stacks, now=500)
        touched = (ids_of(planned.steps, DeleteStack) + ids_of(planned.steps, UpdateStack)
                   + ids_of(planned.steps, CheckStack))
        self.assertEqual(len(touched), len(set(touched)))

    @given(desired=desired_groups(), stacks=observed_stacks())
    def test_cycle_only_when_nothing_else(self, desired: DesiredStackGroup,
                                          stacks: list[ObservedStack]) -> None:
        """A check or a finishing update appears only in a plan of nothing else: every
        stack is kept and complete, none is missing, none waits."""
        planned = plan_stacks(desired, stacks, now=500)
        cycle = [step for step in planned.steps
                 if isinstance(step, CheckStack)
                 or (isinstance(step, UpdateStack) and step.finishing)]
        if not cycle:
            return
        self.assertEqual(len(cycle), len(planned.steps))
        self.assertFalse(planned.postponed)
        self.assertEqual(len({type(step) for step in cycle}), 1)
        listed = [s for s in stacks if stack_fate(s) is not StackFate.GONE]
        self.assertEqual(len(listed), desired.capacity)
        self.assertEqual({stack_fate(s) for s in listed}
                         - {StackFate.COUNT, StackFate.CHECKED, StackFate.HOLD}, set())

    @given(desired=desired_groups(), stacks=observed_stacks(), seed=st.randoms())
    def test_order_does_not_matter(self, desired: DesiredStackGroup,
                                   stacks: list[ObservedStack], seed: object) -> None:
        """The plan is the same whatever order Heat lists the stacks in."""
        shuffled = list(stacks)
        seed.shuffle(shuffled)  # type: ignore[attr-defined]
        self.assertEqual(plan_stacks(desired, shuffled, now=500),
                         plan_stacks(desired, stacks, now=500))

    @given(desired=desired_groups(backing_off=False), stacks=observed_stacks())
    def test_reaches_capacity_and_ends_cycle(self, desired: DesiredStackGroup,
                                             stacks: list[ObservedStack]) -> None:
        """
        Plans carried out as mimic's Heat would bring any group, within 8
        iterations, to exactly ``capacity`` stacks and a plan that only ends the
        check cycle; once those updates are done, every stack is UPDATE_COMPLETE
        (or suspended, left alone).
        """
        fresh = itertools.count()
        for _ in range(8):
            planned = plan_stacks(desired, stacks, now=500)
            if cycle_over(planned):
                break
            stacks = apply(planned, stacks, fresh)
        else:
            self.fail(f"no end of the cycle in 8 iterations: {planned}")
        listed = [s for s in stacks if stack_fate(s) is not StackFate.GONE]
        self.assertEqual(len(listed), desired.capacity)
        self.assertEqual(set(planned.kept), {s.id for s in listed})
        stacks = apply(planned, stacks, fresh)
        self.assertEqual({(s.action, s.status) for s in stacks
                          if stack_fate(s) is not StackFate.HOLD}
                         - {("UPDATE", "COMPLETE")}, set())
