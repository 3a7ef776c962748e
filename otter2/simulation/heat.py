"""
The simulated Heat (Cloud Orchestration v1): stacks created, listed by tag,
looked up by name or id, shown, updated, checked, previewed and deleted with
Heat's status codes and error bodies; each operation IN_PROGRESS for the
behaviour's ``stack_time``, then COMPLETE, or FAILED (and rolled back) as
Heat would end it. How the operations run their course is in
``heat_stacks`` (Note [Stack phases]).

test-case-name: tests.simulation.test_heat
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from attrs import evolve
from pyrsistent import PMap, pmap, pvector

from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.simulation.heat_stacks import (
    CHECK,
    COMPLETE,
    CREATE,
    DELETE,
    FAILED,
    IN_PROGRESS,
    UPDATE,
    change_phases,
    store_stack,
)
from otter2.simulation.heat_validation import (
    bad_request,
    heat_error,
    not_found,
    parse_flag,
    stack_definition,
    stack_name_problem,
)
from otter2.simulation.state import (
    SimulatedCloud,
    SimulatedStack,
    StackPhase,
    endpoint,
    heat_tenant,
    json_response,
    new_uuid,
    timestamp,
)


def handle_heat(cloud: SimulatedCloud, request: ServiceRequest,
                now: float) -> tuple[SimulatedCloud, Response]:
    """The cloud after a Heat request, and Heat's answer."""
    tenant_id, body = request.tenant_id, request.json
    match request.method, request.path.strip("/").split("/"):
        case "GET", ["stacks"]:
            return cloud, _list(cloud, tenant_id, request)
        case "POST", ["stacks"]:
            return _create(cloud, tenant_id, body, now)
        case "POST", ["stacks", "preview"]:
            return cloud, _preview(cloud, tenant_id, body, now)
        case "GET", ["stacks", name_or_id]:
            return cloud, _look_up(cloud, tenant_id, name_or_id)
        case "GET", ["stacks", name, stack_id]:
            stack = _find(cloud, tenant_id, name, stack_id, show_deleted=True)
            if stack is None:
                return cloud, not_found(name)
            return cloud, json_response(200, {"stack": _detail(cloud, tenant_id, stack)})
        case "PUT", ["stacks", name, stack_id]:
            return _update(cloud, tenant_id, name, stack_id, body, now)
        case "POST", ["stacks", name, stack_id, "actions"]:
            return _action(cloud, tenant_id, name, stack_id, body, now)
        case "DELETE", ["stacks", name, stack_id]:
            return _delete(cloud, tenant_id, name, stack_id, now)
    return cloud, heat_error(404, "HTTPNotFound", "The resource could not be found.")


def _find(cloud: SimulatedCloud, tenant_id: str, name: str, stack_id: str,
          show_deleted: bool = False) -> SimulatedStack | None:
    """The stack that name and id identify (Heat wants both to match)."""
    stack: SimulatedStack | None = heat_tenant(cloud, tenant_id).stacks.get(stack_id)
    if stack is None or stack.name != name or (stack.gone and not show_deleted):
        return None
    return stack


def _look_up(cloud: SimulatedCloud, tenant_id: str, name_or_id: str) -> Response:
    """Heat's 302 from ``stacks/{name}`` (a live stack's) or ``stacks/{id}`` to the
    stack's own URL."""
    stacks = heat_tenant(cloud, tenant_id).stacks
    stack = stacks.get(name_or_id) or next(
        (s for s in stacks.values() if s.name == name_or_id and not s.gone), None)
    if stack is None:
        return not_found(name_or_id)
    href = _links(cloud, tenant_id, stack)[0]["href"]
    return Response(302, None, {"location": href})


def _links(cloud: SimulatedCloud, tenant_id: str, stack: SimulatedStack) -> list[dict]:
    url = endpoint(cloud.base_url, ServiceType.ORCHESTRATION, tenant_id)
    return [{"href": f"{url}/stacks/{stack.name}/{stack.id}", "rel": "self"}]


def _summary(cloud: SimulatedCloud, tenant_id: str, stack: SimulatedStack) -> dict[str, Any]:
    """A stack as Heat lists it."""
    return {
        "id": stack.id, "stack_name": stack.name,
        "description": stack.definition.template.get("description", "No description"),
        "stack_status": stack.stack_status, "stack_status_reason": stack.status_reason,
        "creation_time": timestamp(stack.created),
        "updated_time": None if stack.updated is None else timestamp(stack.updated),
        "deletion_time": None if stack.deleted is None else timestamp(stack.deleted),
        "links": _links(cloud, tenant_id, stack),
        "tags": list(stack.definition.tags) or None,  # Heat's null for no tags
        "stack_owner": None, "parent": None, "stack_user_project_id": tenant_id,
    }


def _detail(cloud: SimulatedCloud, tenant_id: str, stack: SimulatedStack) -> dict[str, Any]:
    """A stack as Heat shows it alone."""
    definition = stack.definition
    return {
        **_summary(cloud, tenant_id, stack),
        "parameters": {**definition.parameters, "OS::stack_id": stack.id,
                       "OS::stack_name": stack.name, "OS::project_id": tenant_id},
        "outputs": [], "capabilities": [], "notification_topics": [],
        "disable_rollback": definition.disable_rollback,
        "timeout_mins": definition.timeout_mins,
        "template_description": definition.template.get("description", "No description"),
    }


def _list(cloud: SimulatedCloud, tenant_id: str, request: ServiceRequest) -> Response:
    """A page of stacks, newest first unless ``sort_dir=asc`` (Heat's order by
    creation time), with a next link when the page is as long as the limit."""
    query = dict(request.params)
    show_deleted = parse_flag("show_deleted", query.get("show_deleted", "false"))
    if isinstance(show_deleted, Response):
        return show_deleted
    limit = None
    if query.get("limit"):
        try:
            limit = int(query["limit"])
        except ValueError:
            return bad_request("Only integer is acceptable by 'limit'.")
        if limit < 0:
            return bad_request("Only non-negative integer is acceptable by 'limit'.")
    direction = query.get("sort_dir", "desc")
    if direction not in ("asc", "desc"):
        return bad_request("Unknown sort direction, must be one of: asc, desc")
    wanted = [tag for tag in query.get("tags", "").split(",") if tag]
    tenant = heat_tenant(cloud, tenant_id)
    stacks = [tenant.stacks[i] for i in tenant.order if i in tenant.stacks]
    if direction == "desc":
        stacks.reverse()
    marker = tenant.stacks.get(query.get("marker", ""))  # Heat ignores an unknown marker
    if marker is not None:
        stacks = [s for s in stacks if (s.sequence > marker.sequence) == (direction == "asc")
                  and s.sequence != marker.sequence]
    page = [s for s in stacks if (show_deleted or not s.gone)
            and all(tag in s.definition.tags for tag in wanted)][:limit]
    body: dict[str, Any] = {"stacks": [_summary(cloud, tenant_id, s) for s in page]}
    if limit and len(page) == limit:
        params = [(k, v) for k, v in request.params if k != "marker"] + [("marker", page[-1].id)]
        url = endpoint(cloud.base_url, ServiceType.ORCHESTRATION, tenant_id)
        body["links"] = [{"href": f"{url}/stacks?{urlencode(params)}", "rel": "next"}]
    return json_response(200, body)


def _name_taken(cloud: SimulatedCloud, tenant_id: str, name: str) -> bool:
    return any(s.name == name and not s.gone
               for s in heat_tenant(cloud, tenant_id).stacks.values())


def _create(cloud: SimulatedCloud, tenant_id: str, body: Any,
            now: float) -> tuple[SimulatedCloud, Response]:
    problem = stack_name_problem(body)
    if problem is not None:
        return cloud, problem
    definition = stack_definition(body)
    if isinstance(definition, Response):
        return cloud, definition
    name = body["stack_name"]
    if _name_taken(cloud, tenant_id, name):
        return cloud, heat_error(409, "StackExists", f"The Stack ({name}) already exists.")
    cloud, stack_id = new_uuid(cloud)
    stack = SimulatedStack(
        id=stack_id, name=name, sequence=len(heat_tenant(cloud, tenant_id).order),
        created=now, definition=definition, action=CREATE, status=IN_PROGRESS,
        status_reason="Stack CREATE started",
        phases=change_phases(CREATE, definition, None, cloud.behaviour.stack_time, now))
    cloud = store_stack(cloud, tenant_id, stack, now)
    links = _links(cloud, tenant_id, stack)
    return cloud, Response(201, {"stack": {"id": stack_id, "links": links}},
                           {"content-type": "application/json", "location": links[0]["href"]})


def _preview(cloud: SimulatedCloud, tenant_id: str, body: Any, now: float) -> Response:
    """What a create would make, as Heat previews it: nothing is created."""
    problem = stack_name_problem(body)
    if problem is not None:
        return problem
    definition = stack_definition(body)
    if isinstance(definition, Response):
        return definition
    name = body["stack_name"]
    if _name_taken(cloud, tenant_id, name):
        return heat_error(409, "StackExists", f"The Stack ({name}) already exists.")
    url = endpoint(cloud.base_url, ServiceType.ORCHESTRATION, tenant_id)
    identity = {"stack_name": name, "stack_id": "None", "tenant": tenant_id, "path": ""}
    resources = [
        {"resource_name": resource, "resource_type": spec["type"], "resource_action": "INIT",
         "resource_status": "COMPLETE", "resource_status_reason": "",
         "physical_resource_id": "", "required_by": [], "metadata": {}, "description": "",
         "stack_name": name, "stack_identity": identity,
         "resource_identity": {**identity, "path": f"/resources/{resource}"},
         "creation_time": timestamp(now), "updated_time": timestamp(now)}
        for resource, spec in sorted(definition.template.get("resources", pmap()).items())]
    description = definition.template.get("description", "No description")
    return json_response(200, {"stack": {
        "id": "None", "stack_name": name, "description": description,
        "template_description": description, "disable_rollback": definition.disable_rollback,
        "timeout_mins": definition.timeout_mins, "capabilities": [], "notification_topics": [],
        "parameters": {**definition.parameters, "OS::stack_id": "None",
                       "OS::stack_name": name, "OS::project_id": tenant_id},
        "resources": resources, "creation_time": timestamp(now), "updated_time": None,
        "links": [{"href": f"{url}/stacks/{name}/None", "rel": "self"}]}})


def _busy(stack: SimulatedStack) -> Response | None:
    if stack.status is not IN_PROGRESS:
        return None
    return heat_error(409, "ActionInProgress", f"Stack {stack.name} already has an action "
                      f"({stack.action.value}) in progress.")


def _update(cloud: SimulatedCloud, tenant_id: str, name: str, stack_id: str, body: Any,
            now: float) -> tuple[SimulatedCloud, Response]:
    """
    A PUT: the body replaces the whole definition, tags too (none given, none
    kept), except that the timeout and rollback flag stay as they were unless
    given, as Heat keeps them.
    """
    stack = _find(cloud, tenant_id, name, stack_id)
    if stack is None:
        return cloud, not_found(name)
    refusal = _busy(stack)
    if refusal is not None:
        return cloud, refusal
    definition = stack_definition(body)
    if isinstance(definition, Response):
        return cloud, definition
    definition = evolve(definition, **{field: getattr(stack.definition, field)
                                       for field in ("timeout_mins", "disable_rollback")
                                       if field not in body})
    phases = change_phases(UPDATE, definition, stack.definition, cloud.behaviour.stack_time,
                            now)
    stack = evolve(stack, definition=definition, action=UPDATE, status=IN_PROGRESS,
                   status_reason="Stack UPDATE started", updated=now, phases=phases)
    return store_stack(cloud, tenant_id, stack, now), Response(202)


def _action(cloud: SimulatedCloud, tenant_id: str, name: str, stack_id: str, body: Any,
            now: float) -> tuple[SimulatedCloud, Response]:
    """A stack action: only ``{"check": null}`` is simulated; Heat answers it 200."""
    if not isinstance(body, PMap) or not body:
        return cloud, bad_request("No action specified")
    if len(body) > 1:
        return cloud, bad_request("Multiple actions specified")
    if body != pmap({"check": None}):
        return cloud, bad_request(f"Invalid action {next(iter(body))}")
    stack = _find(cloud, tenant_id, name, stack_id)
    if stack is None:
        return cloud, not_found(name)
    refusal = _busy(stack)
    if refusal is not None:
        return cloud, refusal
    at = now + cloud.behaviour.stack_time
    failure = stack.damage or (f"Error: {stack.status_reason}" if stack.status is FAILED
                               else None)
    end = (StackPhase(at, CHECK, COMPLETE, "Stack CHECK completed successfully")
           if failure is None else
           StackPhase(at, CHECK, FAILED, f"Resource CHECK failed: {failure}"))
    stack = evolve(stack, action=CHECK, status=IN_PROGRESS, status_reason="Stack CHECK started",
                   phases=pvector([end]))
    return store_stack(cloud, tenant_id, stack, now), Response(200)


def _delete(cloud: SimulatedCloud, tenant_id: str, name: str, stack_id: str,
            now: float) -> tuple[SimulatedCloud, Response]:
    """A delete: 204, and the stack goes DELETE_IN_PROGRESS (once; deleting it again
    meanwhile changes nothing) then DELETE_COMPLETE, or DELETE_FAILED."""
    stack = _find(cloud, tenant_id, name, stack_id)
    if stack is None:
        return cloud, not_found(name)
    if stack.action is DELETE and stack.status is IN_PROGRESS:
        return cloud, Response(204)
    at = now + cloud.behaviour.stack_time
    end = (StackPhase(at, DELETE, COMPLETE, "Stack DELETE completed successfully")
           if stack.delete_failure is None else
           StackPhase(at, DELETE, FAILED, stack.delete_failure))
    stack = evolve(stack, action=DELETE, status=IN_PROGRESS,
                   status_reason="Stack DELETE started", phases=pvector([end]))
    return store_stack(cloud, tenant_id, stack, now), Response(204)
