"""
Firing one due schedule event: what it does, decided purely from the group,
the policy and the time, exactly as an execution through the API would
(cooldowns, min/max, "no change", paused or suspended groups), and written
with the event's consumption in one store operation. See Note [Exactly
once] in ``otter2.scheduling``.

test-case-name: tests.scheduling.test_firing
"""

from __future__ import annotations

from collections.abc import Generator
from enum import Enum
from typing import Any
from uuid import UUID

from attrs import frozen
from effect import Effect
from effect.do import do

from otter2.control.errors import APIError
from otter2.control.policy import execute_policy, execution_time
from otter2.control.schedule import following_event
from otter2.intents import Now, RandomHex
from otter2.model import (
    Execution,
    Fence,
    GroupState,
    Policy,
    Refusal,
    ScalingGroup,
    ScheduledEvent,
    Trigger,
)
from otter2.store.changes import TooManyConflicts, after_lost_race
from otter2.store.intents import FireEvent, LoadGroup, LoadPolicy
from otter2.store.interface import NoSuchGroup, StaleEvent, StaleVersion

MAX_ATTEMPTS = 50


class Outcome(Enum):
    """How the firing of an event ended."""

    EXECUTED = "executed"            # the policy changed the desired capacity
    REFUSED = "refused"              # cooldown or no change: convergence is still asked for
    NOT_EXECUTED = "not executed"    # paused group or suspended tenant: the event is consumed
    DISCARDED = "discarded"          # the group or the policy is gone, or the policy changed
    ALREADY_FIRED = "already fired"  # someone else consumed the event first


@frozen
class Firing:
    """
    What firing an event does: the ``outcome`` and a ``message`` for the
    log, the ``state`` to save (None: unchanged), the ``next_event`` to arm
    (None: none), whether to mark the group divergent, and the ``refusal``
    its receipt records when the policy was refused.
    """

    outcome: Outcome
    message: str
    state: GroupState | None = None
    next_event: ScheduledEvent | None = None
    mark_divergent: bool = False
    refusal: Refusal | None = None

    @property
    def leaves_receipt(self) -> bool:
        """Whether the policy was executed or refused (a receipt records it), not
        discarded with its group or policy."""
        return self.outcome in (Outcome.EXECUTED, Outcome.REFUSED, Outcome.NOT_EXECUTED)


@frozen
class Fired:
    """A fired event: what happened, and when (``now``, for its lateness)."""

    event: ScheduledEvent
    firing: Firing
    now: float

    @property
    def lateness(self) -> float:
        """Seconds between the trigger and the firing."""
        return max(0.0, self.now - self.event.trigger)


def decide(event: ScheduledEvent, group: ScalingGroup | None, policy: Policy | None,
           now: float) -> Firing:
    """What firing ``event`` at ``now`` does; see the module docstring."""
    if group is None:
        return Firing(Outcome.DISCARDED, "the group no longer exists or is being deleted")
    if policy is None or policy.version != event.version:
        return Firing(Outcome.DISCARDED, "the policy was deleted or changed")
    following = following_event(event, policy, now)
    try:
        state = execute_policy(group, policy, policy.policy_id, execution_time(group, now))
    except APIError as error:
        refusal = Refusal(error.status, error.error_type, error.message)
        if error.error_type == "CannotExecutePolicyError":
            return Firing(Outcome.REFUSED, error.message, next_event=following,
                          mark_divergent=True, refusal=refusal)
        return Firing(Outcome.NOT_EXECUTED, error.message, next_event=following,
                      refusal=refusal)
    return Firing(Outcome.EXECUTED,
                  f"desired capacity {group.state.desired} -> {state.desired}", state=state,
                  next_event=following, mark_divergent=True)


@do
def fire(event: ScheduledEvent, fence: Fence | None = None) -> Generator[Effect, Any, Fired]:
    """
    An Effect of the `Fired` event: read the group and the policy, decide,
    and write the decision with the event's consumption (fenced with
    ``fence``: `FencedOut` once the event's bucket has a newer owner; see
    Note [Fencing] in ``otter2.partition``); decided again from a fresh read
    whenever the group changed meanwhile.
    """
    execution_id = str(UUID(hex=(yield Effect(RandomHex(16)))))
    for attempt in range(MAX_ATTEMPTS):
        now: float = yield Effect(Now())
        group: ScalingGroup | None = yield Effect(LoadGroup(event.tenant_id, event.group_id))
        policy: Policy | None = None
        if group is not None:
            policy = yield Effect(LoadPolicy(event.tenant_id, event.group_id, event.policy_id))
        firing = decide(event, group, policy, now)
        receipt = None
        if group is not None and firing.leaves_receipt:
            receipt = Execution(
                tenant_id=event.tenant_id, group_id=event.group_id, execution_id=execution_id,
                policy_id=event.policy_id, trigger=Trigger.SCHEDULE, at=now,
                desired_before=group.state.desired,
                desired_after=(group.state if firing.state is None else firing.state).desired,
                refusal=firing.refusal, scheduled_for=event.trigger)
        try:
            yield Effect(FireEvent(event, firing.state, firing.next_event, firing.mark_divergent,
                                   receipt, fence))
        except StaleEvent:
            return Fired(event, Firing(Outcome.ALREADY_FIRED, "the event was consumed already"),
                         now)
        except (StaleVersion, NoSuchGroup):
            yield after_lost_race(attempt)
            continue
        return Fired(event, firing, now)
    raise TooManyConflicts()
