"""
Tests for otter2.control.policy: the policy execution math.
"""

from typing import Any

from attrs import evolve
from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from otter2.control.errors import APIError
from otter2.control.policy import (
    clamp,
    clamp_state,
    cooldowns_met,
    execute_in_order,
    execute_policy,
    execution_time,
    percent_change,
    target_capacity,
)
from otter2.model import GroupState, Policy, ScalingGroup


def make_group(minimum: int = 0, maximum: int = 10, desired: int = 5, cooldown: int = 0,
               **state: Any) -> ScalingGroup:
    config = {"name": "g", "cooldown": cooldown, "minEntities": minimum,
              "maxEntities": maximum, "metadata": {}}
    return ScalingGroup(tenant_id="t1", group_id="g1", config=config, launch={},
                        state=GroupState("t1", "g1", desired=desired, **state),
                        created=0.0)


def make_policy(cooldown: float = 0, **change: object) -> Policy:
    return Policy("t1", "g1", "p1", {"name": "p", "type": "webhook", "cooldown": cooldown,
                                     **change})


class WorkedExamplesTests(SynchronousTestCase):
    """The worked examples of spec rest-api §5.7."""

    table = [
        (0, 10, 5, {"change": 5}, 10),
        (0, 10, 8, {"change": 5}, 10),
        (0, 10, 10, {"change": 1}, None),
        (5, 10, 10, {"change": -5}, 5),
        (5, 10, 8, {"change": -5}, 5),
        (5, 10, 5, {"change": -1}, None),
        (0, 10, 5, {"changePercent": 20}, 6),
        (0, 10, 8, {"changePercent": 75}, 10),
        (5, 10, 10, {"changePercent": -50}, 5),
        (5, 10, 8, {"changePercent": -80}, 5),
        (0, 10, 0, {"changePercent": 100}, None),
        (0, 10, 5, {"desiredCapacity": 25}, 10),
        (5, 10, 8, {"desiredCapacity": 0}, 5),
        (5, 10, 5, {"desiredCapacity": 5}, None),
        (0, 1000, 1000, {"change": 1}, None),
    ]

    def test_table(self) -> None:
        """Each row of the table gives its new desired capacity or 'No change'."""
        for minimum, maximum, desired, change, expected in self.table:
            group = make_group(minimum, maximum, desired)
            if expected is None:
                with self.assertRaises(APIError) as caught:
                    execute_policy(group, make_policy(**change), "p1", 100.0)
                self.assertEqual(caught.exception.error_type, "CannotExecutePolicyError")
                self.assertIn("No change in servers", caught.exception.message)
            else:
                state = execute_policy(group, make_policy(**change), "p1", 100.0)
                self.assertEqual(state.desired, expected, (minimum, maximum, desired, change))

    def test_policy_cooldown(self) -> None:
        """A policy executed 10 s ago with a 30 s cooldown is refused."""
        group = make_group(policy_touched={"p1": 90.0}, group_touched=90.0)
        with self.assertRaises(APIError) as caught:
            execute_policy(group, make_policy(cooldown=30, change=1), "p1", 100.0)
        self.assertEqual(caught.exception.message,
                         "Cannot execute scaling policy p1 for group g1 for tenant t1: "
                         "Cooldowns not met.")

    def test_group_cooldown(self) -> None:
        """Another policy executed 10 s ago blocks a group with a 30 s cooldown."""
        group = make_group(cooldown=30, policy_touched={"p2": 90.0}, group_touched=90.0)
        with self.assertRaises(APIError):
            execute_policy(group, make_policy(change=1), "p1", 100.0)

    def test_cooldown_boundary_passes(self) -> None:
        """An elapsed time exactly equal to the cooldown passes."""
        group = make_group(cooldown=30, policy_touched={"p1": 70.0}, group_touched=70.0)
        state = execute_policy(group, make_policy(cooldown=30, change=1), "p1", 100.0)
        self.assertEqual(state.desired, 6)

    def test_success_touches(self) -> None:
        """A successful execution records its time for the group and the policy."""
        state = execute_policy(make_group(), make_policy(change=1), "p1", 123.0)
        self.assertEqual((state.group_touched, state.policy_touched["p1"]), (123.0, 123.0))

    def test_paused(self) -> None:
        """A paused group refuses with GroupPausedError before the policy is looked at."""
        with self.assertRaises(APIError) as caught:
            execute_policy(make_group(paused=True), None, "p1", 0.0)
        self.assertEqual(caught.exception.error_type, "GroupPausedError")
        self.assertEqual(caught.exception.message,
                         "Cannot execute policy p1 for group g1 for tenant t1 because "
                         "group is paused")

    def test_suspended_before_paused(self) -> None:
        """A suspended tenant is refused first."""
        with self.assertRaises(APIError) as caught:
            execute_policy(make_group(paused=True, suspended=True), None, "p1", 0.0)
        self.assertEqual(caught.exception.error_type, "TenantSuspendedError")

    def test_missing_policy(self) -> None:
        """A missing policy is a 404 NoSuchPolicyError."""
        with self.assertRaises(APIError) as caught:
            execute_policy(make_group(), None, "p1", 0.0)
        self.assertEqual((caught.exception.status, caught.exception.error_type),
                         (404, "NoSuchPolicyError"))


class PercentChangeTests(SynchronousTestCase):
    """changePercent rounds away from zero, at the decimal value written."""

    def test_examples(self) -> None:
        """The examples of spec §5.3."""
        for desired, percent, expected in [
                (5, 50, 3), (5, 5, 1), (5, 75, 4), (5, -50, -3), (5, -5, -1),
                (5, -75, -4), (10, 10, 1), (10, -100, -10), (10, -200, -20),
                (0, 50, 0), (1000, 0.1, 1), (1000, 0.3, 3), (5, 20.0, 1)]:
            self.assertEqual(percent_change(desired, percent), expected,
                             (desired, percent))

    @given(desired=st.integers(0, 10_000),
           percent=st.integers(-100_000, 100_000).filter(bool))
    def test_rounds_away_from_zero(self, desired: int, percent: int) -> None:
        """The change is the exact product rounded away from zero, same sign."""
        change = percent_change(desired, percent)
        exact_times_100 = desired * percent
        self.assertTrue(abs(change) * 100 >= abs(exact_times_100))
        self.assertTrue(abs(change) * 100 - abs(exact_times_100) < 100)
        self.assertTrue(change == 0 or (change > 0) == (percent > 0))


policies: st.SearchStrategy[dict[str, float]] = st.one_of(
    st.builds(dict, change=st.integers(-2000, 2000).filter(bool)),
    st.builds(dict, changePercent=st.one_of(
        st.integers(-500, 500), st.floats(-500, 500, allow_nan=False)).filter(bool)),
    st.builds(dict, desiredCapacity=st.integers(0, 5000)),
)


class ExecutionPropertyTests(SynchronousTestCase):
    """Properties of every execution."""

    @given(bounds=st.tuples(st.integers(0, 1000), st.integers(0, 1000)).map(sorted),
           desired=st.integers(0, 1000), change=policies,
           cooldown=st.integers(0, 100), elapsed=st.integers(0, 200))
    def test_result_within_bounds_and_cooldowns(self, bounds: list[int], desired: int,
                                                change: dict, cooldown: int,
                                                elapsed: int) -> None:
        """A success lands in [min, max], changes D, and happens only past cooldowns."""
        minimum, maximum = bounds
        desired = clamp(desired, minimum, maximum)
        group = make_group(minimum, maximum, desired, cooldown=cooldown,
                           group_touched=1000.0 - elapsed)
        policy = make_policy(**change)
        try:
            state = execute_policy(group, policy, "p1", 1000.0)
        except APIError as e:
            self.assertEqual(e.status, 403)
            if elapsed >= cooldown:
                self.assertIn("No change", e.message)
                expected = clamp(target_capacity(change, desired), minimum, maximum)
                self.assertEqual(expected, desired)
        else:
            self.assertTrue(minimum <= state.desired <= maximum)
            self.assertNotEqual(state.desired, desired)
            self.assertGreaterEqual(elapsed, cooldown)
            self.assertTrue(cooldowns_met(group, policy, 1000.0))

    @given(bounds=st.tuples(st.integers(0, 1000), st.integers(0, 1000)).map(sorted),
           desired=st.integers(0, 5000))
    def test_clamp_state(self, bounds: list[int], desired: int) -> None:
        """Clamping leaves D alone inside the bounds and moves it to the nearest one."""
        minimum, maximum = bounds
        state = clamp_state(make_group(minimum, maximum, desired))
        self.assertEqual(state.desired, min(max(desired, minimum), maximum))
        self.assertEqual(evolve(state, desired=desired), make_group(
            minimum, maximum, desired).state)


class ExecuteInOrderTests(SynchronousTestCase):
    """Executions applied together are the executions applied one by one."""

    @given(st.lists(st.tuples(st.integers(-3, 3), st.sampled_from([0, 10]),
                              st.booleans()), max_size=8),
           st.integers(0, 10), st.floats(0, 5), st.data())
    def test_together_is_one_part_after_the_other(self, changes: list[tuple[int, int, bool]],
                                                  desired: int, later: float,
                                                  data: st.DataObject) -> None:
        """Executing a list at once is executing any first part of it, saving the
        state, and then the rest; a list of one is `execute_policy`."""
        group = make_group(maximum=10, desired=desired, group_touched=100.0)
        now = 100.0 + later
        executions = [(f"p{i}", Policy("t1", "g1", f"p{i}", {
            "name": "p", "type": "webhook", "cooldown": cooldown, "change": change})
                       if present else None)
                      for i, (change, cooldown, present) in enumerate(changes)]
        split = data.draw(st.integers(0, len(executions)))
        state, outcomes = execute_in_order(group, executions, now)
        first_state, first = execute_in_order(group, executions[:split], now)
        rest_state, rest = execute_in_order(evolve(group, state=first_state),
                                            executions[split:], now)
        self.assertEqual(state, rest_state)
        self.assertEqual([_refusal(o) for o in outcomes], [_refusal(o) for o in first + rest])
        for policy_id, policy in executions[:1]:
            try:
                alone = execute_policy(group, policy, policy_id, execution_time(group, now))
            except APIError as refusal:
                self.assertEqual(_refusal(outcomes[0]), _refusal(refusal))
                self.assertEqual(execute_in_order(group, executions[:1], now)[0], group.state)
            else:
                self.assertEqual(outcomes[0], alone)
                self.assertEqual(execute_in_order(group, executions[:1], now)[0], alone)

    def test_a_second_execution_meets_the_first_ones_cooldown(self) -> None:
        """Two executions of one policy with a cooldown: the first applies, the
        second is refused for the cooldown, as it would be a moment later."""
        policy = make_policy(cooldown=30, change=2)
        state, outcomes = execute_in_order(make_group(desired=1), [("p1", policy)] * 2, 50.0)
        self.assertEqual(state.desired, 3)
        self.assertEqual(outcomes[0], state)
        refusal = outcomes[1]
        assert isinstance(refusal, APIError)
        self.assertEqual((refusal.status, refusal.error_type), (403, "CannotExecutePolicyError"))
        self.assertIn("Cooldowns not met", refusal.message)


def _refusal(outcome: GroupState | APIError) -> tuple[int, str, str] | GroupState:
    if isinstance(outcome, APIError):
        return (outcome.status, outcome.error_type, outcome.message)
    return outcome
