"""
How simulated Heat stacks change over time and behind Heat's back: the
phases an operation goes through (see Note [Stack phases]), the clock
applying them, and the out-of-band operations tests use on stacks.

test-case-name: tests.simulation.test_heat_stacks
"""

from __future__ import annotations

import math

from attrs import evolve
from pyrsistent import PVector, pmap, pvector

from otter2.simulation.heat_validation import failing_resource
from otter2.simulation.state import (
    HeatTenant,
    SimulatedCloud,
    SimulatedStack,
    StackAction,
    StackDefinition,
    StackPhase,
    StackStatus,
    due,
    heat_tenant,
    with_stack,
)

CREATE, UPDATE, CHECK, DELETE, ROLLBACK = (StackAction.CREATE, StackAction.UPDATE,
                                           StackAction.CHECK, StackAction.DELETE,
                                           StackAction.ROLLBACK)
IN_PROGRESS, COMPLETE, FAILED = StackStatus.IN_PROGRESS, StackStatus.COMPLETE, StackStatus.FAILED

# Note [Stack phases]
# ~~~~~~~~~~~~~~~~~~~
# An operation decides at its start how it will end, and records the states
# the stack will reach as `StackPhase`s, each ``stack_time`` after the one
# before: a create or update becomes COMPLETE, or FAILED when its template
# holds a failing OS::Heat::TestResource (with rollback enabled, ROLLBACK
# IN_PROGRESS then COMPLETE instead, an update's rollback restoring the old
# definition); a check becomes CHECK_FAILED when the stack is damaged or
# failed; a delete becomes DELETE_FAILED while deletes are made to fail.
# `_settle` applies the phases that are due, so with a stack_time of 0 the
# stack is in its final state by the time the request is answered (as mimic
# does), and `advance_heat` applies them as the clock passes them.


def change_phases(action: StackAction, definition: StackDefinition,
                   previous: StackDefinition | None, stack_time: float,
                   now: float) -> PVector:
    """How a create or an update ends. See Note [Stack phases]."""
    failing = failing_resource(definition.template)
    if failing is None:
        return pvector([StackPhase(now + stack_time, action, COMPLETE,
                                   f"Stack {action.value} completed successfully",
                                   repair=action is UPDATE)])
    if definition.disable_rollback:
        return pvector([StackPhase(
            now + stack_time, action, FAILED, f"Resource {action.value} failed: ValueError: "
            f"resources.{failing}: Test Resource failed {failing}")])
    return pvector([
        StackPhase(now + stack_time, ROLLBACK, IN_PROGRESS, "Stack ROLLBACK started"),
        StackPhase(now + 2 * stack_time, ROLLBACK, COMPLETE,
                   "Stack ROLLBACK completed successfully", restore=previous)])


def settle(stack: SimulatedStack, now: float) -> SimulatedStack:
    """The stack at ``now``: every phase due by then has happened."""
    while stack.phases and stack.phases[0].at <= now:
        phase: StackPhase = stack.phases[0]
        gone = phase.action is DELETE and phase.status is COMPLETE
        stack = evolve(stack, action=phase.action, status=phase.status,
                       status_reason=phase.reason, phases=stack.phases.delete(0),
                       definition=phase.restore or stack.definition,
                       damage=None if phase.repair else stack.damage,
                       deleted=phase.at if gone else stack.deleted)
    return stack


def store_stack(cloud: SimulatedCloud, tenant_id: str, stack: SimulatedStack,
           now: float) -> SimulatedCloud:
    """The cloud with the stack as it is at ``now``, due to change at its next phase."""
    stack = settle(stack, now)
    cloud = with_stack(cloud, tenant_id, stack)
    return due(cloud, stack.phases[0].at) if stack.phases else cloud


def advance_heat(tenant: HeatTenant, now: float) -> tuple[HeatTenant, float]:
    """A tenant's stacks at ``now``, and when the next of their phases is due."""
    stacks = tenant.stacks.evolver()
    next_change = math.inf
    for stack in tenant.stacks.values():
        if stack.phases:
            stacks[stack.id] = settled = settle(stack, now)
            if settled.phases:
                next_change = min(next_change, settled.phases[0].at)
    return evolve(tenant, stacks=stacks.persistent()), next_change


# Out-of-band operations: what an operator or a failing resource does to Heat.

def tenant_stacks(cloud: SimulatedCloud, tenant_id: str,
                  show_deleted: bool = False) -> list[SimulatedStack]:
    """A tenant's stacks in creation order (DELETE_COMPLETE ones only if asked)."""
    tenant = heat_tenant(cloud, tenant_id)
    return [tenant.stacks[i] for i in tenant.order
            if i in tenant.stacks and (show_deleted or not tenant.stacks[i].gone)]


def _stack(cloud: SimulatedCloud, tenant_id: str, stack_id: str) -> SimulatedStack:
    stack: SimulatedStack = heat_tenant(cloud, tenant_id).stacks[stack_id]
    return stack


def damage_stack(cloud: SimulatedCloud, tenant_id: str, stack_id: str,
                 reason: str | None = None) -> SimulatedCloud:
    """The cloud with a stack's resources broken behind Heat's back: its checks end
    CHECK_FAILED (``Resource CHECK failed: <reason>``) until an update completes."""
    stack = _stack(cloud, tenant_id, stack_id)
    resources = sorted(stack.definition.template.get("resources", pmap())) or ["resource"]
    damage = reason or f"Error: resources.{resources[0]}: the resource was damaged out of band"
    return with_stack(cloud, tenant_id, evolve(stack, damage=damage))


def set_stack_status(cloud: SimulatedCloud, tenant_id: str, stack_id: str,
                     action: StackAction, status: StackStatus, reason: str,
                     now: float) -> SimulatedCloud:
    """The cloud with a stack forced into ACTION_STATUS with a reason; the operation
    under way is forgotten, so an IN_PROGRESS status stays until changed."""
    stack = _stack(cloud, tenant_id, stack_id)
    gone = action is DELETE and status is COMPLETE
    return with_stack(cloud, tenant_id, evolve(
        stack, action=action, status=status, status_reason=reason, phases=pvector(),
        deleted=now if gone else None))


def fail_stack_deletes(cloud: SimulatedCloud, tenant_id: str, stack_id: str,
                       reason: str | None = "Resource DELETE failed: Error: resources.server: "
                       "the resource could not be deleted") -> SimulatedCloud:
    """The cloud with a stack's deletes ending DELETE_FAILED with ``reason``
    (deletes already under way are not affected); a reason of None clears it."""
    stack = _stack(cloud, tenant_id, stack_id)
    return with_stack(cloud, tenant_id, evolve(stack, delete_failure=reason))


def delete_stack(cloud: SimulatedCloud, tenant_id: str, stack_id: str,
                 now: float) -> SimulatedCloud:
    """The cloud with a stack deleted at once by someone else (DELETE_COMPLETE)."""
    return set_stack_status(cloud, tenant_id, stack_id, DELETE, COMPLETE,
                            "Stack DELETE completed successfully", now)
