"""
Tests for otter2.api.operations: the intents each store operation performs,
in order, with canned answers.
"""

from uuid import UUID

from attrs import evolve
from effect import Delay
from effect.testing import perform_sequence
from twisted.trial.unittest import SynchronousTestCase

from otter2.api.operations import Ask, execute, modify_state
from otter2.config import ExecutionsConfig
from otter2.control.errors import APIError
from otter2.intents import Now, RandomHex
from otter2.model import Execution, GroupState, Policy, Refusal, ScalingGroup, Trigger
from otter2.store.changes import MAX_ATTEMPTS
from otter2.store.intents import (
    FindExecutions,
    LoadGroup,
    LoadPolicy,
    RecordExecutions,
    SaveState,
)
from otter2.store.interface import DuplicateExecution, NoSuchGroup, StaleVersion


def group(desired: int = 1, version: int = 0, **config: object) -> ScalingGroup:
    return ScalingGroup(
        tenant_id="t1", group_id="g1",
        config={"name": "g", "cooldown": 0, "minEntities": 0, "maxEntities": 10, **config},
        launch={}, state=GroupState("t1", "g1", desired, version=version), created=0.0)


POLICY = Policy("t1", "g1", "p1", {"name": "p", "type": "webhook", "change": 1,
                                   "cooldown": 0}, "v")


DAY, WEEKS = 86_400.0, 42 * 86_400.0
SETTINGS = ExecutionsConfig(idempotency_window=DAY, retention=WEEKS)


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
    """Executing policies of a group: decided, recorded with their receipts in
    one write (Note [Receipts])."""

    def receipt(self, number: int, before: int, after: int, refusal: Refusal | None = None,
                key: str | None = None) -> Execution:
        return Execution(tenant_id="t1", group_id="g1", execution_id=str(UUID(int=number)),
                         policy_id="p1" if refusal is None or refusal.status != 404 else "p9",
                         trigger=Trigger.API, at=50.0, desired_before=before,
                         desired_after=after, refusal=refusal, idempotency_key=key)

    def test_success_is_recorded_with_its_state_and_mark(self) -> None:
        """A successful execution saves the new capacity, its receipt and the
        mark in one write, and answers with the receipt."""
        new = evolve(group().state, desired=2, group_touched=50.0,
                     policy_touched={"p1": 50.0})
        receipt = self.receipt(1, 1, 2)
        result = perform_sequence([
            (Now(), lambda _: 50.0),
            (LoadPolicy("t1", "g1", "p1"), lambda _: POLICY),
            (RandomHex(16), lambda _: UUID(int=1).hex),
            (LoadGroup("t1", "g1"), lambda _: group()),
            (RecordExecutions(new, [receipt], True, 50.0 - DAY, 50.0 - WEEKS),
             lambda _: evolve(new, version=1)),
        ], execute("t1", "g1", [Ask("p1", Trigger.API)], SETTINGS))
        self.assertEqual(result, [receipt])

    def test_refusal_is_recorded_and_still_marks(self) -> None:
        """A 'no change' refusal saves no state, records its receipt and asks
        for convergence."""
        refusal = Refusal(403, "CannotExecutePolicyError", "Cannot execute scaling policy p1 "
                          "for group g1 for tenant t1: No change in servers")
        [answer] = perform_sequence([
            (Now(), lambda _: 50.0),
            (LoadPolicy("t1", "g1", "p1"), lambda _: POLICY),
            (RandomHex(16), lambda _: UUID(int=1).hex),
            (LoadGroup("t1", "g1"), lambda _: group(10)),
            (RecordExecutions(None, [self.receipt(1, 10, 10, refusal)], True, 50.0 - DAY,
                              50.0 - WEEKS), lambda _: None),
        ], execute("t1", "g1", [Ask("p1", Trigger.API)], SETTINGS))
        assert isinstance(answer, Execution) and answer.refusal is not None
        self.assertEqual(answer.refusal.error_type, "CannotExecutePolicyError")

    def test_missing_policy_is_recorded_without_a_mark(self) -> None:
        """A missing policy is a 404 receipt and triggers nothing."""
        [answer] = perform_sequence([
            (Now(), lambda _: 50.0),
            (LoadPolicy("t1", "g1", "p9"), lambda _: None),
            (RandomHex(16), lambda _: UUID(int=1).hex),
            (LoadGroup("t1", "g1"), lambda _: group()),
            (RecordExecutions(None, [self.receipt(1, 1, 1, Refusal(
                404, "NoSuchPolicyError",
                "No such scaling policy p9 for group g1 for tenant t1"))],
                False, 50.0 - DAY, 50.0 - WEEKS), lambda _: None),
        ], execute("t1", "g1", [Ask("p9", Trigger.API)], SETTINGS))
        assert isinstance(answer, Execution) and answer.refusal is not None
        self.assertEqual(answer.refusal.error_type, "NoSuchPolicyError")

    def test_a_recorded_key_answers_with_its_receipt(self) -> None:
        """An ask whose key is recorded within the window gets that receipt and
        changes nothing; a second ask with a new key in the batch shares the
        first one's receipt; the rest execute."""
        old = self.receipt(7, 0, 1, key="old")
        new = evolve(group().state, desired=3, group_touched=50.0,
                     policy_touched={"p1": 50.0})
        first, plain = self.receipt(1, 1, 2, key="new"), self.receipt(2, 2, 3)
        result = perform_sequence([
            (Now(), lambda _: 50.0),
            (LoadPolicy("t1", "g1", "p1"), lambda _: POLICY),
            (FindExecutions("t1", "g1", ["new", "old"], 50.0 - DAY), lambda _: {"old": old}),
            (RandomHex(16), lambda _: UUID(int=1).hex),
            (RandomHex(16), lambda _: UUID(int=2).hex),
            (LoadGroup("t1", "g1"), lambda _: group()),
            (RecordExecutions(new, [first, plain], True, 50.0 - DAY, 50.0 - WEEKS),
             lambda _: evolve(new, version=1)),
        ], execute("t1", "g1", [Ask("p1", Trigger.API, key="old"),
                                Ask("p1", Trigger.API, key="new"),
                                Ask("p1", Trigger.API, key="new"),
                                Ask("p1", Trigger.API)], SETTINGS))
        self.assertEqual(result, [old, first, first, plain])

    def test_a_key_recorded_meanwhile_is_looked_up_again(self) -> None:
        """When another writer records the key first, the ask is answered with
        that writer's receipt, and nothing more is written."""
        theirs = self.receipt(9, 1, 2, key="k")
        mine = self.receipt(1, 1, 2, key="k")
        new = evolve(group().state, desired=2, group_touched=50.0,
                     policy_touched={"p1": 50.0})
        result = perform_sequence([
            (Now(), lambda _: 50.0),
            (LoadPolicy("t1", "g1", "p1"), lambda _: POLICY),
            (FindExecutions("t1", "g1", ["k"], 50.0 - DAY), lambda _: {}),
            (RandomHex(16), lambda _: UUID(int=1).hex),
            (LoadGroup("t1", "g1"), lambda _: group()),
            (RecordExecutions(new, [mine], True, 50.0 - DAY, 50.0 - WEEKS),
             lambda _: raise_(DuplicateExecution())),
            (FindExecutions("t1", "g1", ["k"], 50.0 - DAY), lambda _: {"k": theirs}),
            (LoadGroup("t1", "g1"), lambda _: group()),
        ], execute("t1", "g1", [Ask("p1", Trigger.API, key="k")], SETTINGS))
        self.assertEqual(result, [theirs])

    def test_missing_group_refuses_every_execution(self) -> None:
        """With the group gone, every ask of the batch gets the 404 and nothing
        is recorded."""
        result = perform_sequence([
            (Now(), lambda _: 50.0),
            (LoadPolicy("t1", "g1", "p1"), lambda _: POLICY),
            (RandomHex(16), lambda _: UUID(int=1).hex),
            (RandomHex(16), lambda _: UUID(int=2).hex),
            (LoadGroup("t1", "g1"), lambda _: None),
        ], execute("t1", "g1", [Ask("p1", Trigger.API)] * 2, SETTINGS))
        self.assertEqual([isinstance(r, APIError) and r.error_type for r in result],
                         ["NoSuchScalingGroupError"] * 2)
