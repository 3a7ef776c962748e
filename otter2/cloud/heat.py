"""
Cloud Orchestration (Heat): the requests otter2 makes for the stacks of a
``launch_stack`` group, the stack JSON read into `ObservedStack` values, and
what each answer means for a step (spec §2.12, with the terminal errors that
§9 item 18 asks for).

A group's stacks carry the tag ``autoscale_<group id>`` and are named
``autoscale_<group id>_<random>``; the tag is how they are found again.

test-case-name: tests.cloud.test_heat
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyrsistent import PMap, freeze, thaw

from otter2.cloud.messages import ORCHESTRATION, describe, path, unrecognised_outcome
from otter2.cloud.nova import epoch
from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.model.cloud import ObservedStack
from otter2.model.outcome import StepOutcome, Verdict

#: Stacks asked for per page of the listing.
PAGE_SIZE = 100

_PREFIX = "autoscale_"


def group_tag(group_id: str) -> str:
    """The tag every stack of the group carries."""
    return f"{_PREFIX}{group_id}"


def stack_config(stack_args: Mapping[str, Any], group_id: str) -> PMap:
    """
    The body every stack of the group is created and updated from: the launch
    configuration's ``args.stack`` with the group's tag (Heat's comma-separated
    ``tags``). The name is given at creation (`name_stack`).
    """
    config = {key: value for key, value in thaw(stack_args).items() if key != "stack_name"}
    config["tags"] = group_tag(group_id)
    return freeze(config)


def name_stack(config: Mapping[str, Any], group_id: str, suffix: str) -> PMap:
    """The create-stack body with a name of its own: ``autoscale_<group>_<suffix>``."""
    return freeze({**thaw(config), "stack_name": f"{_PREFIX}{group_id}_{suffix}"})


# -- requests ------------------------------------------------------------------


def _request(tenant_id: str, method: str, relative: str, **kwargs: Any) -> ServiceRequest:
    return ServiceRequest(tenant_id, ServiceType.ORCHESTRATION, method, relative, **kwargs)


def list_stacks_request(tenant_id: str, tag: str, marker: str | None = None) -> ServiceRequest:
    """``GET stacks?tags=...``: a page of the stacks carrying ``tag``, after ``marker``."""
    params = [("tags", tag), ("limit", str(PAGE_SIZE))]
    if marker is not None:
        params.append(("marker", marker))
    return _request(tenant_id, "GET", "stacks", params=tuple(params))


def create_stack_request(tenant_id: str, config: Mapping[str, Any]) -> ServiceRequest:
    """``POST stacks`` with the (already named) create-stack body."""
    return _request(tenant_id, "POST", "stacks", json=config)


def check_stack_request(tenant_id: str, name: str, stack_id: str) -> ServiceRequest:
    """``POST stacks/{name}/{id}/actions`` with ``{"check": null}``."""
    return _request(tenant_id, "POST", path("stacks", name, stack_id, "actions"),
                    json={"check": None})


def update_stack_request(tenant_id: str, name: str, stack_id: str,
                         config: Mapping[str, Any]) -> ServiceRequest:
    """``PUT stacks/{name}/{id}`` with the group's stack body."""
    return _request(tenant_id, "PUT", path("stacks", name, stack_id), json=config)


def delete_stack_request(tenant_id: str, name: str, stack_id: str) -> ServiceRequest:
    """``DELETE stacks/{name}/{id}``."""
    return _request(tenant_id, "DELETE", path("stacks", name, stack_id))


def preview_stack_request(tenant_id: str, config: Mapping[str, Any]) -> ServiceRequest:
    """``POST stacks/preview``: Heat validates a stack without creating it."""
    return _request(tenant_id, "POST", "stacks/preview", json=config)


# -- parsing -------------------------------------------------------------------


def parse_stack_page(body: Any) -> list[Any]:
    """The stacks of one page of the listing (raw JSON objects)."""
    stacks = thaw(body)["stacks"]
    if not isinstance(stacks, list) or not all(isinstance(stack, dict) for stack in stacks):
        raise ValueError("stacks is not a list of objects")
    return stacks


def tags_of(stack: Mapping[str, Any]) -> list[str] | None:
    """A listed stack's tags (a list, or a comma-joined string), None when not shown."""
    tags = stack.get("tags")
    if tags is None:
        return None
    if isinstance(tags, str):
        return [tag.strip() for tag in tags.split(",") if tag.strip()]
    return [str(tag) for tag in tags]


def carries(stack: Mapping[str, Any], tag: str) -> bool:
    """
    Whether a listed stack is the group's: Heat filtered the listing by the
    tag, and a stack whose tags are shown must show it too (a cloud that
    ignored the filter must not make otter2 adopt other stacks).
    """
    tags = tags_of(stack)
    return tags is None or tag in tags


def parse_stack(stack: Mapping[str, Any]) -> ObservedStack:
    """
    An `ObservedStack` from a listed stack; raises when it is unreadable (an
    id, name or status missing or not a string: a null status read as text
    would make a stack to replace of one nobody described).
    """
    for key in ("id", "stack_name", "stack_status"):
        if not isinstance(stack[key], str) or not stack[key]:
            raise ValueError(f"{key} is not a non-empty string")
    action, _, status = stack["stack_status"].partition("_")
    created = stack.get("creation_time")
    try:
        when = epoch(created) if isinstance(created, str) else 0.0
    except ValueError:
        when = 0.0
    return ObservedStack(id=stack["id"], name=stack["stack_name"], action=action,
                         status=status, reason=str(stack.get("stack_status_reason") or ""),
                         created=when, links=stack.get("links") or [])


# -- classification ------------------------------------------------------------


#: Heat refuses a tenant going too fast with either status.
_RATE_LIMITS = (413, 429)


def classify_create_stack(response: Response) -> StepOutcome:
    """
    What Heat's answer to a create means: 201 is RETRY (wait for the stack to
    be built); a refusal of the request itself (400: a template or parameters
    Heat cannot use; 403, 404, 409) is FAILURE with Heat's message, for the
    group's owner; rate limits, faults and a 401 are RETRY.
    """
    if response.status == 201:
        body = thaw(response.body)
        stack = body.get("stack") if isinstance(body, dict) else None
        which = (f"stack {stack['id']}" if isinstance(stack, dict) and stack.get("id")
                 else "a new stack")
        return StepOutcome(Verdict.RETRY, [f"waiting for {which} to be created"], done=True)
    if response.status == 400:
        return StepOutcome(Verdict.FAILURE, [describe(
            "Stack launch configuration is invalid", response)])
    return unrecognised_outcome(ORCHESTRATION, "create a stack", response,
                                rate_limits=_RATE_LIMITS)


def classify_check_stack(stack_id: str, response: Response) -> StepOutcome:
    """
    What Heat's answer to a check means: 200 or 201 is RETRY (wait for the
    check to end); anything else is RETRY too (the stack is busy or gone: the
    next gather shows which), never FAILURE.
    """
    if response.status in (200, 201):
        return StepOutcome(Verdict.RETRY, [f"waiting for stack {stack_id} to be checked"],
                           done=True)
    return unrecognised_outcome(ORCHESTRATION, f"check stack {stack_id}", response,
                                client_error=Verdict.RETRY, rate_limits=_RATE_LIMITS)


def classify_update_stack(stack_id: str, finishing: bool, response: Response) -> StepOutcome:
    """
    What Heat's answer to an update means: 202 is SUCCESS when the update
    ends a check cycle (``finishing``: the stack was checked and is only
    brought back to UPDATE_COMPLETE), RETRY otherwise (wait for the repair);
    a template Heat refuses (400) is FAILURE with its message; a stack that
    is busy or gone (404, 409) and everything else are RETRY.
    """
    if response.status == 202:
        if finishing:
            return StepOutcome(Verdict.SUCCESS, done=True)
        return StepOutcome(Verdict.RETRY, [f"waiting for stack {stack_id} to be updated"],
                           done=True)
    if response.status == 400:
        return StepOutcome(Verdict.FAILURE, [describe(
            "Stack launch configuration is invalid", response)])
    return unrecognised_outcome(ORCHESTRATION, f"update stack {stack_id}", response,
                                client_error=Verdict.RETRY, rate_limits=_RATE_LIMITS)


def classify_delete_stack(stack_id: str, response: Response) -> StepOutcome:
    """
    What Heat's answer to a delete means: 204 is RETRY (wait for the stack
    to be gone); 404 means it is gone already (SUCCESS); anything else is
    RETRY, never FAILURE.
    """
    if response.status == 204:
        return StepOutcome(Verdict.RETRY, [f"waiting for stack {stack_id} to be deleted"],
                           done=True)
    if response.status == 404:
        return StepOutcome(Verdict.SUCCESS)
    return unrecognised_outcome(ORCHESTRATION, f"delete stack {stack_id}", response,
                                client_error=Verdict.RETRY, rate_limits=_RATE_LIMITS)
