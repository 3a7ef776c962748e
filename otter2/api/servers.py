"""
Removing one server from a group through the API (spec rest-api §4.10), as
an Effect: look the server up in Nova, then mark it for draining (purge) or
strip the group's metadata from it (release), and lower the desired
capacity when no replacement is wanted. Convergence does the rest.

In a ``launch_stack`` group the ids the state lists are Heat stacks': the
stack is found among the group's (by its tag) and deleted at once, and the
desired capacity lowered likewise.

test-case-name: tests.api.test_servers
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from attrs import evolve
from effect import Effect
from effect.do import do

from otter2.api.operations import load_group, modify_state
from otter2.cloud import heat, nova
from otter2.cloud.metadata import DRAINING, SERVER_STATE_KEY, group_id_of, without_own_keys
from otter2.cloud.request import Response
from otter2.control.errors import APIError
from otter2.control.policy import tenant_suspended
from otter2.convergence.gathering import GatherError, gather_stacks
from otter2.convergence.iteration import is_stack_group
from otter2.convergence.stacks import StackFate, stack_fate
from otter2.model import GroupState, ScalingGroup
from otter2.model.cloud import ObservedStack
from otter2.store.intents import MarkDivergent


def server_not_found(tenant_id: str, group_id: str, server_id: str) -> APIError:
    """The 404 for a server that is not (or no longer) in the group."""
    return APIError(404, "ServerNotFoundError",
                    f"Active server {server_id} not found in tenant {tenant_id}'s "
                    f"group {group_id}")


def _cloud_unavailable(what: str, response: Response) -> APIError:
    return APIError(503, "CloudServersUnavailable",
                    f"Cloud Servers could not {what} (HTTP {response.status}); "
                    "try again later")


def _below_min(group: ScalingGroup, server_id: str) -> APIError:
    return APIError(
        403, "CannotDeleteServerBelowMinError",
        f"Cannot remove server {server_id} from tenant {group.tenant_id}'s group "
        f"{group.group_id}. It will reduce number of servers below required minimum "
        f"{group.min_entities}.")


def _one_fewer(server_id: str) -> Any:
    def change(group: ScalingGroup) -> GroupState:
        if group.state.desired <= group.min_entities:
            raise _below_min(group, server_id)
        return evolve(group.state, desired=group.state.desired - 1)
    return change


@do
def find_member(tenant_id: str, group_id: str, server_id: str,
                replace: bool) -> Generator[Effect, Any, tuple[ScalingGroup, Any]]:
    """
    An Effect of the group and the member that removing ``server_id`` acts on
    (its Nova server, or its Heat stack in a ``launch_stack`` group), with
    the removal's refusals: the group or the member not found, the tenant
    suspended, the group at its minimum when no replacement is wanted.
    """
    group: ScalingGroup = yield load_group(tenant_id, group_id)
    if group.state.suspended:
        raise tenant_suspended(tenant_id)
    member: Any
    if is_stack_group(group):
        member = yield _find_stack(group, server_id)
    else:
        response = yield Effect(nova.get_server_request(tenant_id, server_id))
        if response.status == 404:
            raise server_not_found(tenant_id, group_id, server_id)
        if response.status != 200:
            raise _cloud_unavailable(f"find server {server_id}", response)
        member = (response.body or {}).get("server") or {}
        if group_id_of(member.get("metadata")) != group_id:
            raise server_not_found(tenant_id, group_id, server_id)
    if not replace and group.state.desired <= group.min_entities:
        raise _below_min(group, server_id)
    return group, member


@do
def remove_server(tenant_id: str, group_id: str, server_id: str, replace: bool,
                  purge: bool) -> Any:
    """An Effect that removes the server from the group (see the module docstring):
    the saved state if it lowered the desired capacity (no replacement), else None."""
    group, member = yield find_member(tenant_id, group_id, server_id, replace)
    if is_stack_group(group):
        yield remove_stack(group, member)
    elif purge:
        marked = yield Effect(nova.set_metadata_item_request(
            tenant_id, server_id, SERVER_STATE_KEY, DRAINING))
        if marked.status != 200:
            raise _cloud_unavailable(f"mark server {server_id} for deletion", marked)
    else:
        kept = without_own_keys(member.get("metadata") or {})
        released = yield Effect(nova.replace_metadata_request(tenant_id, server_id, kept))
        if released.status != 200:
            raise _cloud_unavailable(f"release server {server_id}", released)
    lowered = None
    if not replace:
        lowered = yield modify_state(tenant_id, group_id, _one_fewer(server_id))
    yield Effect(MarkDivergent(tenant_id, group_id))
    return lowered


def _heat_unavailable(what: str, why: str) -> APIError:
    return APIError(503, "CloudOrchestrationUnavailable",
                    f"Cloud Orchestration could not {what} ({why}); try again later")


@do
def _find_stack(group: ScalingGroup, stack_id: str) -> Generator[Effect, Any, ObservedStack]:
    """An Effect of the group's live stack ``stack_id``; not found otherwise."""
    tenant_id, group_id = group.tenant_id, group.group_id
    try:
        stacks = yield gather_stacks(tenant_id, group_id)
    except GatherError as error:
        raise _heat_unavailable(f"list the stacks of group {group_id}", error.reason) from error
    stack = next((s for s in stacks if s.id == stack_id
                  and stack_fate(s) not in (StackFate.GONE, StackFate.DELETING)), None)
    if stack is None:
        raise server_not_found(tenant_id, group_id, stack_id)
    found: ObservedStack = stack
    return found


def remove_stack(group: ScalingGroup, stack: ObservedStack) -> Effect:
    """An Effect that deletes one of a ``launch_stack`` group's stacks; see the module
    docstring."""
    def deleted(response: Response) -> None:
        if response.status not in (204, 404):
            raise _heat_unavailable(f"delete stack {stack.id}", f"HTTP {response.status}")
    return Effect(heat.delete_stack_request(group.tenant_id, stack.name, stack.id)).on(deleted)
