"""
Stack groups (``launch_stack``) converging against the simulated Heat, through
the real dispatcher composition and store, on a Clock: scaling with the check
cycle, deletion, Heat's failures (a template Heat refuses, stacks that
fail to build, to check and to delete), and the journal of what was done.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from attrs import evolve
from effect import ComposedDispatcher
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from txeffect import perform

from otter2.config import ConvergerConfig
from otter2.convergence.conclusion import Conclusion
from otter2.convergence.iteration import converge_one_group
from otter2.effects.dispatcher import store_dispatcher
from otter2.model import EventKind, GroupState, GroupStatus, ScalingGroup
from otter2.model.execution import Execution, Trigger
from otter2.model.outcome import Verdict
from otter2.simulation import (
    Behaviour,
    CloudHolder,
    SimulatedCloud,
    advance,
    damage_stack,
    fail_stack_deletes,
    standalone_dispatcher,
    tenant_stacks,
)
from otter2.store.memory import MemoryGroupStore

SETTINGS = ConvergerConfig(interval=10)
WORD = {"word": {"type": "OS::Heat::RandomString", "properties": {"length": 8}}}


def template(resources: dict[str, Any]) -> dict[str, Any]:
    return {"heat_template_version": "2015-04-30", "resources": resources}


class StackScenario(SynchronousTestCase):
    """A launch_stack group g1 of tenant t1 on the simulated Heat (stacks take 30 s)."""

    behaviour = Behaviour(stack_time=30)

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.holder = CloudHolder(SimulatedCloud(self.behaviour))
        self.store = MemoryGroupStore()
        self.dispatcher = ComposedDispatcher([
            store_dispatcher(self.store), standalone_dispatcher(self.holder, self.clock)])

    def make_group(self, desired: int, resources: dict[str, Any] = WORD,
                   **stack: Any) -> None:
        group = ScalingGroup(
            tenant_id="t1", group_id="g1",
            config={"name": "stacks", "cooldown": 0, "minEntities": 0, "maxEntities": 10},
            launch={"type": "launch_stack",
                    "args": {"stack": {"template": template(resources), **stack}}},
            state=GroupState("t1", "g1", desired), created=0.0)
        self.store.create_group(group, [], [], 10)

    def set_desired(self, desired: int) -> None:
        group = self.store.groups[("t1", "g1")]
        self.store.save_state(evolve(group.state, desired=desired))

    def iterate(self) -> Conclusion:
        """One iteration, then ten simulated seconds."""
        conclusion: Conclusion = self.successResultOf(
            perform(self.dispatcher, converge_one_group("t1", "g1", SETTINGS)))
        self.clock.advance(10)
        return conclusion

    def until_done(self, most: int = 60) -> list[Conclusion]:
        """Iterations until one succeeds (or ``most`` of them)."""
        seen = []
        for _ in range(most):
            seen.append(self.iterate())
            if seen[-1].verdict is Verdict.SUCCESS:
                break
        return seen

    def settle(self) -> None:
        """Let the simulated cloud catch up with the clock (it changes lazily)."""
        self.holder.cloud = advance(self.holder.cloud, self.clock.seconds())

    def stacks(self, show_deleted: bool = False) -> list[Any]:
        self.settle()
        return tenant_stacks(self.holder.cloud, "t1", show_deleted)

    def statuses(self) -> list[str]:
        return sorted(stack.stack_status for stack in self.stacks())

    def state(self) -> GroupState:
        return self.store.groups[("t1", "g1")].state


class ScalingTests(StackScenario):
    """A stack group follows its desired capacity."""

    def test_scale_up_checks_then_updates(self) -> None:
        """Three stacks are created, checked and updated; the state lists them active."""
        self.make_group(3)
        seen = self.until_done()
        self.assertIs(seen[-1].verdict, Verdict.SUCCESS)
        self.assertEqual(sorted(seen[-1].active_ids), sorted(s.id for s in self.stacks()))
        self.assertIn("created 3 stacks", seen[0].done)
        self.assertTrue(any("checked 3 stacks" in c.done for c in seen))
        self.clock.advance(60)  # the updates the cycle ended with finish
        self.assertEqual(self.statuses(), ["UPDATE_COMPLETE"] * 3)
        self.assertTrue(all(s.name.startswith("autoscale_g1_") for s in self.stacks()))
        self.assertEqual(self.state().status, GroupStatus.ACTIVE)

    def test_scale_down_removes_oldest(self) -> None:
        """From three to one: the newest stack stays, the others are deleted."""
        self.make_group(1)
        self.until_done()
        first = self.stacks()[0].id
        self.clock.advance(100)
        self.set_desired(3)
        self.until_done()
        newest = {s.id for s in self.stacks() if s.id != first}
        self.set_desired(1)
        seen = self.until_done()
        self.assertIs(seen[-1].verdict, Verdict.SUCCESS)
        [kept] = [s.id for s in self.stacks()]
        self.assertIn(kept, newest)

    def test_deleting_group_deletes_its_stacks(self) -> None:
        """A group being deleted deletes its stacks, then is removed."""
        self.make_group(2)
        self.until_done()
        self.store.mark_deleting("t1", "g1")
        seen = self.until_done()
        self.assertTrue(seen[-1].remove_group)
        self.assertEqual(self.stacks(), [])
        self.assertNotIn(("t1", "g1"), self.store.groups)


class FailureTests(StackScenario):
    """Heat's failures end in a readable group error or are repaired."""

    def test_template_heat_refuses(self) -> None:
        """A resource type Heat does not know: ERROR with Heat's message, no stack."""
        self.make_group(2, {"thing": {"type": "OS::Nope::Thing"}})
        conclusion = self.iterate()
        self.assertIs(conclusion.verdict, Verdict.FAILURE)
        self.assertEqual(self.state().status, GroupStatus.ERROR)
        [reason] = self.state().error_reasons
        self.assertTrue(reason.startswith("Stack launch configuration is invalid: "), reason)
        self.assertIn("OS::Nope::Thing", reason)
        self.assertEqual(self.stacks(), [])
        self.assertIsNone(conclusion.look_again)

    def test_stacks_that_keep_failing(self) -> None:
        """Stacks whose creation fails are replaced; from the third round the group
        is in ERROR naming the failure, and creations back off."""
        self.make_group(1, {"bad": {"type": "OS::Heat::TestResource",
                                    "properties": {"fail": True}}},
                        disable_rollback=True)
        for _ in range(12):
            self.iterate()
        state = self.state()
        self.assertEqual(state.status, GroupStatus.ERROR)
        self.assertTrue(state.error_reasons[0].startswith("Stacks keep breaking: "),
                        state.error_reasons)
        latest = " ".join(state.error_reasons)
        self.assertIn("CREATE_FAILED", latest)
        self.assertIn("Test Resource failed", latest)
        build_after = state.build_after
        assert build_after is not None
        created = len(self.stacks(show_deleted=True))
        while self.clock.seconds() + 10 < build_after:  # within the back-off: no creation
            self.iterate()
        self.assertEqual(len(self.stacks(show_deleted=True)), created)

    def test_damaged_stack_is_repaired(self) -> None:
        """A stack whose resources were broken out of band fails its check, is updated,
        and the group converges again."""
        self.make_group(2)
        self.until_done()
        self.clock.advance(60)
        damaged = self.stacks()[0].id  # settled: the cycle's updates are over
        self.holder.cloud = damage_stack(self.holder.cloud, "t1", damaged)
        seen = self.until_done()
        self.assertIs(seen[-1].verdict, Verdict.SUCCESS)
        self.assertTrue(any("repaired 1 stack" in c.done for c in seen), [c.done for c in seen])
        self.assertEqual(len(self.stacks()), 2)
        self.assertIn(damaged, [s.id for s in self.stacks()])
        self.clock.advance(60)
        self.assertEqual(self.statuses(), ["UPDATE_COMPLETE"] * 2)

    def test_delete_failed_is_deleted_again(self) -> None:
        """A stack whose deletion fails is deleted again until Heat manages it."""
        self.make_group(2)
        self.until_done()
        self.clock.advance(60)
        oldest = min(self.stacks(), key=lambda s: s.sequence).id
        self.holder.cloud = fail_stack_deletes(self.holder.cloud, "t1", oldest)
        self.set_desired(1)
        seen = [self.iterate() for _ in range(12)]
        self.assertIn(oldest, [s.id for s in self.stacks()])
        self.assertGreaterEqual(sum("deleted 1 stack" in c.done for c in seen), 2)
        self.assertTrue(any("could not be deleted" in r for c in seen for r in c.reasons)
                        or self.state().status is GroupStatus.ERROR)
        self.holder.cloud = fail_stack_deletes(self.holder.cloud, "t1", oldest, None)
        seen = self.until_done()
        self.assertIs(seen[-1].verdict, Verdict.SUCCESS)
        self.assertNotIn(oldest, [s.id for s in self.stacks()])
        self.assertEqual(len(self.stacks()), 1)


class StackJournalTests(StackScenario):
    """A stack group's iterations journal each stack created or deleted with its root."""

    def execute(self, desired: int, execution_id: str) -> str:
        """An execution setting the desired capacity, recorded as the API records it."""
        state = self.state()
        self.successResultOf(self.store.record_executions(
            evolve(state, desired=desired), [Execution(
                tenant_id="t1", group_id="g1", execution_id=execution_id, policy_id="p1",
                trigger=Trigger.API, at=self.clock.seconds(), desired_before=state.desired,
                desired_after=desired)], True, 0.0, 0.0))
        return execution_id

    def causes(self, action: str) -> Counter[str | None]:
        """How many steps of ``action`` on a stack each cause caused."""
        return Counter(e.cause for e in self.store.journal[("t1", "g1")].values()
                       if e.kind is EventKind.STEP and e.details["action"] == action
                       and e.server_id is not None)

    def test_scaled_by_executions(self) -> None:
        """Stacks created by a scale-up belong to it, those deleted by a scale-down to
        that one."""
        self.make_group(0)
        up = self.execute(3, "up")
        self.until_done()
        self.clock.advance(100)
        down = self.execute(1, "down")
        self.until_done()
        self.assertEqual((self.causes("create"), self.causes("delete")),
                         ({up: 3}, {down: 2}))

    def test_failed_stack_is_observed(self) -> None:
        """A stack that failed is observed, and its deletion and replacement are
        caused by that observation."""
        self.make_group(0, {"bad": {"type": "OS::Heat::TestResource",
                                    "properties": {"fail": True}}}, disable_rollback=True)
        up = self.execute(1, "up")
        for _ in range(6):
            self.iterate()
        observed = {e.event_id for e in self.store.journal[("t1", "g1")].values()
                    if e.kind is EventKind.OBSERVED}
        self.assertTrue(observed)
        self.assertEqual(set(self.causes("delete")), observed)
        creates = self.causes("create")
        self.assertEqual(creates[up], 1)
        self.assertLessEqual(set(creates) - {up}, observed)
