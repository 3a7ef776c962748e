"""
The API's multi-step store operations as Effects: read-modify-write of a
group's state with compare-and-set, and policy execution.

See Note [State writes] in ``otter2.store.changes``.

test-case-name: tests.api.test_operations
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

from attrs import frozen
from effect import Effect
from effect.do import do

from otter2.api.errors import uuid_text
from otter2.config import ExecutionsConfig
from otter2.control.errors import APIError
from otter2.control.policy import execute_in_order, no_such_group
from otter2.intents import Now, RandomHex
from otter2.model import Execution, GroupState, Policy, Refusal, ScalingGroup, Trigger
from otter2.store.changes import MAX_ATTEMPTS, TooManyConflicts, after_lost_race, update_state
from otter2.store.intents import (
    FindExecutions,
    LoadGroup,
    LoadPolicy,
    RecordExecutions,
)
from otter2.store.interface import DuplicateExecution, NoSuchGroup, StaleVersion


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
                 ) -> Generator[Effect, Any, GroupState]:
    """
    An Effect of the saved state after applying ``change`` to the group
    (see Note [State writes] in ``otter2.store.changes``), with the store's
    refusals as API errors. ``change`` may raise an `APIError`, which ends the
    operation with nothing written.
    """
    try:
        state: GroupState = yield update_state(tenant_id, group_id, change)
    except NoSuchGroup:
        raise no_such_group(tenant_id, group_id) from None
    except TooManyConflicts:
        raise changing_too_often() from None
    return state


def changing_too_often() -> APIError:
    """The 503 of a change that lost every compare-and-set race it ran."""
    return APIError(503, "ServiceUnavailable",
                    "The group is changing too often to apply this change; try again")


@frozen
class Ask:
    """One request to execute a policy: which, what asked for it, and the
    client's idempotency key if it sent one."""

    policy_id: str
    trigger: Trigger
    key: str | None = None
    request_id: str | None = None
    webhook_id: str | None = None


@do
def execute(tenant_id: str, group_id: str, asks: Sequence[Ask],
            settings: ExecutionsConfig) -> Generator[Effect, Any, list[Execution | APIError]]:
    """
    An Effect of executing policies of one group in turn (spec rest-api
    §4.14), decided and recorded in one write: for each ask, the receipt
    that answers it (see Note [Receipts]), or the API error when there is
    no group to record it in. Executions that arrive together take one
    commit instead of one each (Note [Executions together] in
    ``otter2.api.base``); the result is that of executing them one after
    another (``control.policy.execute_in_order``).

    # Note [Receipts]
    Every execution, applied or refused, is answered with a receipt that
    was durably recorded before the answer, in the same transaction as the
    state it decided: the owner can read it later (``X-Execution-Id``), and
    an ask that repeats an idempotency key recorded for the group within
    ``settings.idempotency_window`` is answered with that first receipt and
    changes nothing. Asks in one batch with the same new key share the
    first one's receipt. The store refuses a key recorded meanwhile by
    another writer (`DuplicateExecution`), and the asks are decided again
    from a fresh look: exactly one execution per key, across processes and
    restarts. Convergence is asked for when a policy applied, and also when
    one was refused for cooldowns or for changing nothing, so that lost
    servers come back.
    """
    now = yield Effect(Now())
    policies: dict[str, Policy | None] = {}
    for ask in asks:
        if ask.policy_id not in policies:
            policies[ask.policy_id] = yield Effect(LoadPolicy(tenant_id, group_id, ask.policy_id))
    keys = sorted({ask.key for ask in asks if ask.key is not None})
    keys_since = now - settings.idempotency_window
    for attempt in range(MAX_ATTEMPTS):
        found: dict[str, Execution] = {}
        if keys:
            found = yield Effect(FindExecutions(tenant_id, group_id, keys, keys_since))
        fresh = _fresh(asks, found)
        ids = []
        for _ in fresh:
            ids.append(uuid_text((yield Effect(RandomHex(16)))))
        group: ScalingGroup | None = yield Effect(LoadGroup(tenant_id, group_id))
        if group is None:
            return [no_such_group(tenant_id, group_id)] * len(asks)
        state, outcomes = execute_in_order(
            group, [(ask.policy_id, policies[ask.policy_id]) for ask in fresh], now)
        receipts = _receipts(group, fresh, ids, outcomes, now)
        mark = any(r.refusal is None or r.refusal.error_type == "CannotExecutePolicyError"
                   for r in receipts)
        try:
            if receipts:
                yield Effect(RecordExecutions(
                    None if state == group.state else state, receipts, mark, keys_since,
                    now - settings.retention))
        except (StaleVersion, DuplicateExecution):
            yield after_lost_race(attempt)
            continue
        except NoSuchGroup:
            return [no_such_group(tenant_id, group_id)] * len(asks)
        unkeyed = iter([r for r in receipts if r.idempotency_key is None])
        by_key = {**found, **{r.idempotency_key: r for r in receipts if r.idempotency_key}}
        return [next(unkeyed) if ask.key is None else by_key[ask.key] for ask in asks]
    return [changing_too_often()] * len(asks)


def _fresh(asks: Sequence[Ask], found: Mapping[str, Execution]) -> list[Ask]:
    """The asks to execute now: not repeating a recorded key, nor a key of an
    ask before them."""
    fresh, seen = [], set(found)
    for ask in asks:
        if ask.key is None or ask.key not in seen:
            fresh.append(ask)
            if ask.key is not None:
                seen.add(ask.key)
    return fresh


def _receipts(group: ScalingGroup, asks: Sequence[Ask], ids: Sequence[str],
              outcomes: Sequence[GroupState | APIError], now: float) -> list[Execution]:
    """The receipt of each ask executed with its outcome."""
    receipts, desired = [], group.state.desired
    for ask, execution_id, outcome in zip(asks, ids, outcomes, strict=True):
        before = desired
        refusal = None
        if isinstance(outcome, APIError):
            refusal = Refusal(outcome.status, outcome.error_type, outcome.message)
        else:
            desired = outcome.desired
        receipts.append(Execution(
            tenant_id=group.tenant_id, group_id=group.group_id, execution_id=execution_id,
            policy_id=ask.policy_id, trigger=ask.trigger, at=now, desired_before=before,
            desired_after=desired, refusal=refusal, idempotency_key=ask.key,
            request_id=ask.request_id, webhook_id=ask.webhook_id))
    return receipts


def refusal_error(execution: Execution) -> APIError | None:
    """The API error a receipt's refusal was answered with, None if it applied."""
    refusal = execution.refusal
    return None if refusal is None else APIError(refusal.status, refusal.error_type,
                                                 refusal.message)
