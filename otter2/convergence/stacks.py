"""
Planning for ``launch_stack`` groups: the steps that take a group's Heat
stacks to its desired capacity (spec §2.12), as a pure function of values,
like ``planning`` for servers.

# Note [The check cycle]
Heat tells otter2 a stack's state, not whether its resources are still
there: a server of a stack deleted by hand leaves the stack CREATE_COMPLETE.
So once a group has the right number of complete stacks, convergence asks
Heat to check each of them (CHECK_COMPLETE or CHECK_FAILED), repairs the
failed ones by updating them to the group's stack body, and ends the cycle
by updating the checked ones (which also brings a changed launch
configuration to every stack) and calling the group converged without
waiting for those updates. Every trigger of the group (an API change,
self-heal) starts a new cycle; an update that then fails shows as
UPDATE_FAILED at the next one.

Unlike the design this follows, nothing loops for ever unseen:
- a stack that failed (CREATE, UPDATE or ROLLBACK FAILED, or rolled back)
  is deleted and replaced, with Heat's reason kept as a sentence of
  ``Plan.broken``, so that stacks that keep failing put the group in ERROR
  with that reason and back off (Note [Servers that keep failing] in
  ``conclusion``);
- a stack in DELETE_FAILED is deleted again (Heat's own remedy) and counts as
  broken too, rather than stopping the group at once;
- Heat refusing a template (400) is a group error with Heat's message (see
  ``otter2.cloud.heat``).

test-case-name: tests.convergence.test_stacks
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum, auto

from attrs import evolve

from otter2.convergence.collector import StepCollector
from otter2.convergence.planning import iso_time
from otter2.convergence.steps import CheckStack, CreateStack, DeleteStack, Step, UpdateStack
from otter2.convergence.transforming import DEFAULT_STEP_LIMITS, Plan, transform
from otter2.model.cloud import ObservedStack
from otter2.model.desired import DesiredStackGroup

#: Why a plan waits for stacks that Heat is still working on.
BUSY_REASON = "waiting for stacks to finish"

#: Why a plan waits for stacks that Heat is deleting.
DELETING_REASON = "waiting for stacks to be deleted"


class StackFate(Enum):
    """What convergence does with one stack."""

    COUNT = auto()      # complete: counts; a check cycle starts with it
    CHECKED = auto()    # CHECK_COMPLETE: counts; the cycle ends by updating it
    REPAIR = auto()     # CHECK_FAILED: counts; updated to repair it
    BUSY = auto()       # Heat is working on it: counts; wait
    HOLD = auto()       # suspended by its owner, or its owner's action failed: counts, left alone
    REPLACE = auto()    # failed: delete it, create another
    DELETING = auto()   # Heat is deleting it: wait
    DELETE_AGAIN = auto()  # its deletion failed: delete it again
    GONE = auto()       # deleted: ignored


#: Stacks that count toward the capacity, most valuable first: a scale-down
#: deletes from the tail.
KEEP_ORDER = (StackFate.CHECKED, StackFate.COUNT, StackFate.HOLD, StackFate.BUSY,
               StackFate.REPAIR)

#: Actions only a stack's owner starts (otter2 never does).
_OWNER_ACTIONS = frozenset({"SUSPEND", "RESUME", "SNAPSHOT"})

#: Fates of the stacks that serve (the group's state lists them as active).
SERVING = frozenset({StackFate.COUNT, StackFate.CHECKED})


def stack_fate(stack: ObservedStack) -> StackFate:
    """The fate of a stack, from its action and status."""
    action, status = stack.action, stack.status
    if action == "DELETE":
        return {"COMPLETE": StackFate.GONE, "IN_PROGRESS": StackFate.DELETING}.get(
            status, StackFate.DELETE_AGAIN)
    if status == "IN_PROGRESS":
        return StackFate.BUSY
    if status == "FAILED":
        if action == "CHECK":
            return StackFate.REPAIR
        # An action of the stack's owner that failed leaves the stack theirs to mend.
        return StackFate.HOLD if action in _OWNER_ACTIONS else StackFate.REPLACE
    if status == "COMPLETE":
        if action == "CHECK":
            return StackFate.CHECKED
        if action == "ROLLBACK":  # a create or update that failed, undone
            return StackFate.REPLACE
        if action == "SUSPEND":
            return StackFate.HOLD
        return StackFate.COUNT
    return StackFate.REPLACE  # a status Heat does not document


def plan_stacks(desired: DesiredStackGroup, stacks: Iterable[ObservedStack], now: float,
                step_limits: Mapping[type, int] = DEFAULT_STEP_LIMITS) -> Plan:
    """
    What one iteration does for a ``launch_stack`` group (see Note [The
    check cycle]): creations for the stacks missing, deletions for the
    surplus, the failed and those whose deletion failed, updates that repair
    stacks whose check failed, and, when nothing else is to be done, the
    next move of the check cycle. ``Plan.kept`` holds the ids of the stacks
    the group keeps, ``Plan.broken`` a sentence per failed stack.
    """
    by_fate: dict[StackFate, list[ObservedStack]] = {fate: [] for fate in StackFate}
    for stack in sorted(stacks, key=_newest_first):
        by_fate[stack_fate(stack)].append(stack)
    counted = [stack for fate in KEEP_ORDER for stack in by_fate[fate]]
    capacity = max(desired.capacity, 0)
    kept, surplus = counted[:capacity], counted[capacity:]
    kept_ids = {stack.id for stack in kept}
    steps = StepCollector()

    missing = capacity - len(kept)
    if missing > 0 and desired.build_after is not None and now < desired.build_after:
        wait = "waits" if missing == 1 else "wait"
        steps.later(f"{_stacks(missing)} to create {wait} until "
                    f"{iso_time(desired.build_after)}: the group's stacks keep failing",
                    until=desired.build_after)
    else:
        for _ in range(missing):
            steps.append(CreateStack(desired.group_id, desired.stack_config))
    for stack in [*surplus, *by_fate[StackFate.REPLACE], *by_fate[StackFate.DELETE_AGAIN]]:
        steps.append(DeleteStack(stack.id, stack.name))
    for stack in by_fate[StackFate.REPAIR]:
        if stack.id in kept_ids:
            steps.append(UpdateStack(stack.id, stack.name, desired.stack_config))
    if any(stack.id in kept_ids for stack in by_fate[StackFate.BUSY]):
        steps.later(BUSY_REASON)
    if by_fate[StackFate.DELETING]:
        steps.later(DELETING_REASON)

    found = steps.result()
    if not found and len(kept) == capacity:
        found = _cycle(desired, kept)
    transformed = transform(found, step_limits)
    broken = [_why_broken(stack) for stack in
              [*by_fate[StackFate.REPLACE], *by_fate[StackFate.DELETE_AGAIN]]]
    return evolve(transformed, kept=kept_ids, broken=broken, wake_at=steps.wake_at)


def _cycle(desired: DesiredStackGroup, kept: list[ObservedStack]) -> list[Step]:
    """The next move of the check cycle of a group with nothing else to do."""
    unchecked = [stack for stack in kept if stack_fate(stack) is StackFate.COUNT]
    if unchecked:
        return [CheckStack(stack.id, stack.name) for stack in unchecked]
    return [UpdateStack(stack.id, stack.name, desired.stack_config, finishing=True)
            for stack in kept if stack_fate(stack) is StackFate.CHECKED]


def serving(stacks: Iterable[ObservedStack]) -> set[str]:
    """Ids of the stacks that serve: complete, or being checked."""
    return {stack.id for stack in stacks
            if stack_fate(stack) in SERVING
            or (stack.action, stack.status) == ("CHECK", "IN_PROGRESS")}


def _why_broken(stack: ObservedStack) -> str:
    said = f": {stack.reason}" if stack.reason else ""
    if stack_fate(stack) is StackFate.DELETE_AGAIN:
        return f"stack {stack.id} could not be deleted{said}"
    return f"stack {stack.id} went to {stack.action}_{stack.status}{said}"


def _stacks(count: int) -> str:
    return "1 stack" if count == 1 else f"{count} stacks"


def _newest_first(stack: ObservedStack) -> tuple[float, str]:
    return (-stack.created, stack.id)
