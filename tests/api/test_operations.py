"""
Tests for otter2.api.operations: the intents each store operation performs,
in order, with canned answers.
"""

from attrs import evolve
from effect import Delay
from effect.testing import perform_sequence
from twisted.trial.unittest import SynchronousTestCase

from otter2.api.operations import execute, modify_state
from otter2.control.errors import APIError
from otter2.intents import Now
from otter2.model import GroupState, Policy, ScalingGroup
from otter2.store.changes import MAX_ATTEMPTS
from otter2.store.intents import LoadGroup, LoadPolicy, MarkDivergent, SaveState
from otter2.store.interface import NoSuchGroup, StaleVersion


def group(desired: int = 1, version: int = 0, **config: object) -> ScalingGroup:
    return ScalingGroup(
        tenant_id="t1", group_id="g1",
        config={"name": "g", "cooldown": 0, "minEntities": 0, "maxEntities": 10, **config},
        launch={}, state=GroupState("t1", "g1", desired, version=version), created=0.0)


POLICY = Policy("t1", "g1", "p1", {"name": "p", "type": "webhook", "change": 1,
                                   "cooldown": 0}, "v")


def raise_(exception: Exception) -> object:
    raise exception


class ModifyStateTests(SynchronousTestCase):
    """Read-modify-write with compare-and-set."""

    def test_lost_race_is_retried_from_a_fresh_load(self) -> None:
        """A stale write loads the group again and applies the change to it."""
        def bump(g: ScalingGroup) -> GroupState:
            return evolve(g.state, desired=g.state.desired + 1)

        first, second = group(1, version=0), group(4, version=1)
        saved = evolve(second.state, desired=5, version=2)
        result = perform_sequence([
            (LoadGroup("t1", "g1"), lambda _: first),
            (SaveState(evolve(first.state, desired=2)), lambda _: raise_(StaleVersion())),
            (LoadGroup("t1", "g1"), lambda _: second),
            (SaveState(evolve(second.state, desired=5)), lambda _: saved),
        ], modify_state("t1", "g1", bump))
        self.assertEqual(result, saved)

    def test_missing_group_is_404(self) -> None:
        """A group that is gone is NoSuchScalingGroupError and nothing is saved."""
        with self.assertRaises(APIError) as caught:
            perform_sequence([(LoadGroup("t1", "g1"), lambda _: None)],
                             modify_state("t1", "g1", lambda g: g.state))
        self.assertEqual(caught.exception.error_type, "NoSuchScalingGroupError")

    def test_group_deleted_during_write(self) -> None:
        """A group deleted between the load and the save is a 404."""
        with self.assertRaises(APIError) as caught:
            perform_sequence([
                (LoadGroup("t1", "g1"), lambda _: group()),
                (SaveState(evolve(group().state, desired=3)), lambda _: raise_(NoSuchGroup())),
            ], modify_state("t1", "g1", lambda g: evolve(g.state, desired=3)))
        self.assertEqual(caught.exception.status, 404)

    def test_no_change_writes_nothing(self) -> None:
        """A change that leaves the state as it is saves nothing."""
        result = perform_sequence([(LoadGroup("t1", "g1"), lambda _: group())],
                                  modify_state("t1", "g1", lambda g: g.state))
        self.assertEqual(result, group().state)

    def test_backs_off_then_gives_up(self) -> None:
        """Repeated lost races pause between attempts and end in a 503, never a 500."""
        sequence: list = []
        for attempt in range(MAX_ATTEMPTS):
            sequence.append((LoadGroup("t1", "g1"), lambda _: group()))
            sequence.append((SaveState(evolve(group().state, desired=2)),
                             lambda _: raise_(StaleVersion())))
            if attempt >= 5:
                sequence.append((Delay(min(0.05, 0.001 * attempt)), lambda _: None))
        with self.assertRaises(APIError) as caught:
            perform_sequence(sequence, modify_state(
                "t1", "g1", lambda g: evolve(g.state, desired=2)))
        self.assertEqual(caught.exception.status, 503)


class ExecuteTests(SynchronousTestCase):
    """Executing policies of a group."""

    def test_success_marks_divergent(self) -> None:
        """A successful execution saves the new capacity and marks the group in
        the same write."""
        new = evolve(group().state, desired=2, group_touched=50.0,
                     policy_touched={"p1": 50.0})
        result = perform_sequence([
            (Now(), lambda _: 50.0),
            (LoadPolicy("t1", "g1", "p1"), lambda _: POLICY),
            (LoadGroup("t1", "g1"), lambda _: group()),
            (SaveState(new, mark_divergent=True), lambda _: evolve(new, version=1)),
        ], execute("t1", "g1", ["p1"]))
        self.assertEqual(result, [None])

    def test_refusal_still_marks_divergent(self) -> None:
        """A 'no change' refusal triggers convergence and is the answer."""
        [refusal] = perform_sequence([
            (Now(), lambda _: 50.0),
            (LoadPolicy("t1", "g1", "p1"), lambda _: POLICY),
            (LoadGroup("t1", "g1"), lambda _: group(10)),
            (MarkDivergent("t1", "g1"), lambda _: None),
        ], execute("t1", "g1", ["p1"]))
        assert refusal is not None
        self.assertEqual(refusal.error_type, "CannotExecutePolicyError")

    def test_missing_policy_does_not_mark(self) -> None:
        """A missing policy is a 404 and triggers nothing."""
        [refusal] = perform_sequence([
            (Now(), lambda _: 50.0),
            (LoadPolicy("t1", "g1", "p1"), lambda _: None),
            (LoadGroup("t1", "g1"), lambda _: group()),
        ], execute("t1", "g1", ["p1"]))
        assert refusal is not None
        self.assertEqual(refusal.error_type, "NoSuchPolicyError")

    def test_executions_together_are_one_write(self) -> None:
        """Three executions (one of a missing policy) load each policy once and
        save once: the two that apply in turn, the missing one refused."""
        new = evolve(group().state, desired=3, group_touched=50.0,
                     policy_touched={"p1": 50.0})
        result = perform_sequence([
            (Now(), lambda _: 50.0),
            (LoadPolicy("t1", "g1", "p1"), lambda _: POLICY),
            (LoadPolicy("t1", "g1", "p9"), lambda _: None),
            (LoadGroup("t1", "g1"), lambda _: group()),
            (SaveState(new, mark_divergent=True), lambda _: evolve(new, version=1)),
        ], execute("t1", "g1", ["p1", "p9", "p1"]))
        self.assertEqual([None if r is None else r.error_type for r in result],
                         [None, "NoSuchPolicyError", None])

    def test_missing_group_refuses_every_execution(self) -> None:
        """With the group gone, every execution of the batch gets the 404."""
        result = perform_sequence([
            (Now(), lambda _: 50.0),
            (LoadPolicy("t1", "g1", "p1"), lambda _: POLICY),
            (LoadGroup("t1", "g1"), lambda _: None),
        ], execute("t1", "g1", ["p1", "p1"]))
        self.assertEqual([r is not None and r.error_type for r in result],
                         ["NoSuchScalingGroupError"] * 2)
