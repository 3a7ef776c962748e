"""
The API's multi-step store operations as Effects: read-modify-write of a
group's state with compare-and-set, and policy execution.

See Note [State writes] in ``otter2.store.changes``.

test-case-name: tests.api.test_operations
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

from effect import Effect
from effect.do import do

from otter2.control.errors import APIError
from otter2.control.policy import execute_in_order, no_such_group
from otter2.intents import Now
from otter2.model import GroupState, Policy, ScalingGroup
from otter2.store.changes import TooManyConflicts, update_state
from otter2.store.intents import LoadGroup, LoadPolicy, MarkDivergent
from otter2.store.interface import NoSuchGroup


def load_group(tenant_id: str, group_id: str) -> Effect:
    """
    An Effect of the group; fails with the 404 if it is absent or deleting.
    A callback, not a @do generator: every read of the API takes this path.
    """
    def found(group: ScalingGroup | None) -> ScalingGroup:
        if group is None:
            raise no_such_group(tenant_id, group_id)
        return group
    return Effect(LoadGroup(tenant_id, group_id)).on(found)


@do
def modify_state(tenant_id: str, group_id: str,
                 change: Callable[[ScalingGroup], GroupState],
                 mark_divergent: bool = False) -> Generator[Effect, Any, GroupState]:
    """
    An Effect of the saved state after applying ``change`` to the group
    (see Note [State writes] in ``otter2.store.changes``), with the store's
    refusals as API errors. ``change`` may raise an `APIError`, which ends the
    operation with nothing written.
    """
    try:
        state: GroupState = yield update_state(tenant_id, group_id, change,
                                               mark_divergent=mark_divergent)
    except NoSuchGroup:
        raise no_such_group(tenant_id, group_id) from None
    except TooManyConflicts:
        raise APIError(503, "ServiceUnavailable",
                       "The group is changing too often to apply this change; "
                       "try again") from None
    return state


@do
def execute(tenant_id: str, group_id: str,
            policy_ids: Sequence[str]) -> Generator[Effect, Any, list[APIError | None]]:
    """
    An Effect of executing policies of one group in turn (spec rest-api
    §4.14), all saved in one write: for each, None when it applied or the
    error refusing it. Executions that arrive together take one commit
    instead of one each (``OtterAPI._execute``); the result is that of
    executing them one after another (``control.policy.execute_in_order``).
    A missing group refuses them all.

    Convergence is triggered on success, and also when a policy was refused
    for cooldowns or for changing nothing, so that lost servers come back.
    """
    now = yield Effect(Now())
    policies: dict[str, Policy | None] = {}
    for policy_id in policy_ids:
        if policy_id not in policies:
            policies[policy_id] = yield Effect(LoadPolicy(tenant_id, group_id, policy_id))
    outcomes: list[APIError | None] = []

    def change(group: ScalingGroup) -> GroupState:
        state, outcomes[:] = execute_in_order(
            group, [(policy_id, policies[policy_id]) for policy_id in policy_ids], now)
        return state
    try:
        yield modify_state(tenant_id, group_id, change, mark_divergent=True)
    except APIError as e:
        return [e] * len(policy_ids)
    if None not in outcomes and any(
            e is not None and e.error_type == "CannotExecutePolicyError" for e in outcomes):
        yield Effect(MarkDivergent(tenant_id, group_id))  # nothing saved to carry the mark
    return outcomes
