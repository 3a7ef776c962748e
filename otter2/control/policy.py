"""
Policy execution math: cooldowns, the new desired capacity, clamping.

Pure functions of stored values and ``now``; the caller loads and saves.

test-case-name: tests.control.test_policy
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_UP, Decimal
from typing import Any

from attrs import evolve

from otter2.control.errors import APIError
from otter2.model import GroupState, Policy, ScalingGroup


def clamp(value: int, low: int, high: int) -> int:
    """``value`` moved into ``[low, high]`` (the upper bound applies first)."""
    return max(min(value, high), low)


def percent_change(desired: int, percent: float | int) -> int:
    """
    ``percent`` % of ``desired``, rounded away from zero.

    The percentage is taken at the decimal value the client wrote (``repr``
    of a float is its shortest round-trip spelling), so 0.1 % of 1000 is 1.
    """
    exact = Decimal(repr(percent)) / 100 * desired
    return int(exact.quantize(Decimal(1), rounding=ROUND_UP))


def target_capacity(data: Mapping[str, Any], desired: int) -> int:
    """The desired capacity a policy body asks for, before clamping."""
    if "change" in data:
        return desired + int(data["change"])
    if "changePercent" in data:
        return desired + percent_change(desired, data["changePercent"])
    return int(data["desiredCapacity"])


def _cannot_execute(group: ScalingGroup, policy_id: str, why: str) -> APIError:
    return APIError(
        403, "CannotExecutePolicyError",
        f"Cannot execute scaling policy {policy_id} for group {group.group_id} "
        f"for tenant {group.tenant_id}: {why}")


def check_may_change(group: ScalingGroup, operation: str) -> None:
    """Refuse a state-changing ``operation`` on a suspended or paused group."""
    if group.state.suspended:
        raise tenant_suspended(group.tenant_id)
    if group.state.paused:
        raise APIError(
            403, "GroupPausedError",
            f"Cannot {operation} for group {group.group_id} for tenant "
            f"{group.tenant_id} because group is paused")


def tenant_suspended(tenant_id: str) -> APIError:
    """The error for any state change of a suspended tenant's group."""
    return APIError(403, "TenantSuspendedError", f"Tenant {tenant_id} is SUSPENDED.")


def cooldowns_met(group: ScalingGroup, policy: Policy, now: float) -> bool:
    """Whether both the policy's and the group's cooldowns have elapsed."""
    state = group.state
    touched = state.policy_touched.get(policy.policy_id)
    if touched is not None and now - touched < policy.cooldown:
        return False
    if state.group_touched is not None and now - state.group_touched < group.cooldown:
        return False
    return True


def cooldown_end(group: ScalingGroup, policy: Policy) -> float | None:
    """The instant both the policy's and the group's cooldowns end, None if
    neither ever started (`cooldowns_met` holds from then on)."""
    state = group.state
    ends = [touched + cooldown for touched, cooldown in (
        (state.policy_touched.get(policy.policy_id), policy.cooldown),
        (state.group_touched, group.cooldown)) if touched is not None]
    return max(ends) if ends else None


def execution_time(group: ScalingGroup, now: float) -> float:
    """
    ``now``, or the group's last execution time if that is later.

    ``now`` is read once, before any lost race; an execution that won the race
    in between may have been stamped later, and a retry comes after it. Without
    this a zero cooldown would refuse the retry for an elapsed time below 0.
    """
    touched = group.state.group_touched
    return now if touched is None else max(now, touched)


def execute_policy(group: ScalingGroup, policy: Policy | None, policy_id: str,
                   now: float) -> GroupState:
    """
    The group state after executing ``policy`` at ``now``.

    Raises the API error of the first check that fails, in Otter's order:
    suspended, paused, missing policy, cooldowns, no change.
    """
    check_may_change(group, f"execute policy {policy_id}")
    if policy is None:
        raise no_such_policy(group.tenant_id, group.group_id, policy_id)
    if not cooldowns_met(group, policy, now):
        raise _cannot_execute(group, policy_id, "Cooldowns not met.")
    state = group.state
    new = clamp(target_capacity(policy.data, state.desired),
                group.min_entities, group.max_entities)
    if new == state.desired:
        raise _cannot_execute(group, policy_id, "No change in servers")
    return evolve(state, desired=new, group_touched=now,
                  policy_touched=state.policy_touched.set(policy_id, now))


def execute_in_order(group: ScalingGroup, executions: Sequence[tuple[str, Policy | None]],
                     now: float) -> tuple[GroupState, list[GroupState | APIError]]:
    """
    The group state after executing each (policy id, policy) in turn at
    ``now``, each seeing the state the ones before it left (their cooldowns
    and desired capacity), and for each the state it left or its refusal. A
    refused execution changes nothing; the others apply as if they had been
    executed one after another.
    """
    state, outcomes = group.state, list[GroupState | APIError]()
    for policy_id, policy in executions:
        current = evolve(group, state=state)
        try:
            state = execute_policy(current, policy, policy_id, execution_time(current, now))
        except APIError as refusal:
            outcomes.append(refusal)
        else:
            outcomes.append(state)
    return state, outcomes


def clamp_state(group: ScalingGroup) -> GroupState:
    """The state with its desired capacity moved into the group's bounds."""
    state = group.state
    return evolve(state, desired=clamp(state.desired, group.min_entities,
                                       group.max_entities))


def no_such_group(tenant_id: str, group_id: str) -> APIError:
    """The 404 for a group that is absent or being deleted."""
    return APIError(404, "NoSuchScalingGroupError",
                    f"No such scaling group {group_id} for tenant {tenant_id}")


def no_such_policy(tenant_id: str, group_id: str, policy_id: str) -> APIError:
    """The 404 for an absent policy."""
    return APIError(404, "NoSuchPolicyError",
                    f"No such scaling policy {policy_id} for group {group_id} "
                    f"for tenant {tenant_id}")


def no_such_webhook(tenant_id: str, group_id: str, policy_id: str,
                    webhook_id: str) -> APIError:
    """The 404 for an absent webhook."""
    return APIError(404, "NoSuchWebhookError",
                    f"No such webhook {webhook_id} for policy {policy_id} in group "
                    f"{group_id} for tenant {tenant_id}")
