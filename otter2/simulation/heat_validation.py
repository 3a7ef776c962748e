"""
What the simulated Heat checks before it acts: the body of a stack create,
update or preview read into a `StackDefinition`, the template validated as
Heat validates it, and Heat's error body for whatever it refuses.

Heat validates much more than this (properties, parameters, intrinsic
functions); the simulation checks the shape of the request, the template's
version, its ``resources`` map and each resource's type, which is what a
launch configuration gets wrong in practice.

test-case-name: tests.simulation.test_heat
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pyrsistent import PMap, pmap, pvector

from otter2.cloud.request import Response
from otter2.simulation.state import StackDefinition, json_response

# The resource types the simulated Heat knows; any other is refused as Heat
# refuses a type its registry lacks.
KNOWN_TYPES = frozenset({
    "OS::Heat::None", "OS::Heat::RandomString", "OS::Heat::TestResource", "OS::Heat::Value",
    "OS::Heat::CloudConfig", "OS::Heat::SoftwareConfig", "OS::Nova::Server",
    "OS::Nova::KeyPair", "OS::Cinder::Volume", "OS::Cinder::VolumeAttachment",
})
TEMPLATE_VERSIONS = (
    "2013-05-23", "2014-10-16", "2015-04-30", "2015-10-15", "2016-04-08", "2016-10-14",
    "2017-02-24", "2017-09-01", "2018-03-02", "2018-08-31", "2021-04-16", "newton", "ocata",
    "pike", "queens", "rocky", "wallaby",
)
RESOURCE_KEYS = frozenset({"type", "properties", "metadata", "depends_on", "deletion_policy",
                           "update_policy", "description", "condition", "external_id"})
_STACK_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]{0,254}$")
_TRUE = ("true", "1", "yes", "y", "on", "t")
_FALSE = ("false", "0", "no", "n", "off", "f")
# webob's title and explanation for each status Heat answers with.
_STATUS_TEXT = {
    400: ("Bad Request", "The server could not comply with the request since it is either "
          "malformed or otherwise incorrect."),
    404: ("Not Found", "The resource could not be found."),
    409: ("Conflict", "There was a conflict when trying to complete your request."),
    413: ("Request Entity Too Large", "The body of your request was too large for this "
          "server."),
    429: ("Too Many Requests", "The client has sent too many requests in a given amount of "
          "time."),
    500: ("Internal Server Error", "The server has either erred or is incapable of "
          "performing the requested operation."),
    503: ("Service Unavailable", "The server is currently unavailable. Please try again at "
          "a later time."),
}


def heat_error(status: int, kind: str, message: str) -> Response:
    """Heat's error body: webob's title and explanation around the exception's
    type and message."""
    title, explanation = _STATUS_TEXT.get(status, ("Error", "An error occurred."))
    return json_response(status, {
        "explanation": explanation, "code": status, "title": title,
        "error": {"message": message, "type": kind, "traceback": None}})


def bad_request(message: str, kind: str = "HTTPBadRequest") -> Response:
    """A 400 as Heat answers a request it will not take."""
    return heat_error(400, kind, message)


def not_found(name: str) -> Response:
    """Heat's 404 for a stack it does not have (or that is deleted)."""
    return heat_error(404, "EntityNotFound", f"The Stack ({name}) could not be found.")


def parse_flag(name: str, value: str) -> bool | Response:
    """A boolean query parameter as Heat reads it, or its 400."""
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    return bad_request(f"Unrecognized value '{value}' for '{name}', acceptable values are: "
                       "'true', 'false'")


def stack_name_problem(body: Any) -> Response | None:
    """Heat's 400 for a create or preview body without a valid stack name, or None."""
    name = body.get("stack_name") if isinstance(body, Mapping) else None
    if not name:
        return bad_request("No stack name specified")
    if not isinstance(name, str) or not _STACK_NAME.match(name):
        return bad_request(f"Invalid stack name {name} must contain only alphanumeric or "
                           '"_-." characters, must start with alpha and must be 255 '
                           "characters or less.", "StackValidationFailed")
    return None


def stack_definition(body: Any) -> StackDefinition | Response:
    """
    What a create, update or preview body asks of a stack, or Heat's 400.

    ``tags`` may be Heat's comma-separated string or a list; a template may
    be an object or a JSON string of one (Heat would also read YAML; the
    simulation does not). A ``template_url`` is taken on trust: the
    simulation fetches nothing, so such a stack has no resources to fail.
    """
    if not isinstance(body, Mapping):
        return bad_request("The request body must be a JSON object")
    has_template, has_url = "template" in body, "template_url" in body
    if not (has_template or has_url):
        return bad_request("No template specified")
    if has_template and has_url:
        return bad_request("Only one of template and template_url may be given")
    template: Any = pmap()
    if has_template:
        template = body["template"]
        if isinstance(template, str):
            try:
                template = json.loads(template)
            except ValueError as error:
                return bad_request(f"Template not in valid format: {error}")
        problem = template_problem(template)
        if problem is not None:
            return problem
    parameters = body.get("parameters", pmap())
    if not isinstance(parameters, Mapping):
        return bad_request("The parameters must be a JSON object")
    files = body.get("files", pmap())
    if not isinstance(files, Mapping):
        return bad_request("The files must be a JSON object")
    tags = body.get("tags") or ""
    if isinstance(tags, str):
        tags = [tag for tag in tags.split(",") if tag]
    elif not isinstance(tags, Sequence) or not all(isinstance(tag, str) for tag in tags):
        return bad_request("Tags must be a comma-separated string")
    environment = body.get("environment", pmap())
    if not isinstance(environment, (Mapping, str)):
        return bad_request("The environment must be a JSON object or a string")
    timeout = body.get("timeout_mins")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int)
                                or timeout < 0):
        return bad_request("Only non-negative integer is acceptable by 'timeout_mins'.")
    rollback = body.get("disable_rollback", True)
    if isinstance(rollback, str):
        rollback = parse_flag("disable_rollback", rollback)
        if isinstance(rollback, Response):
            return rollback
    if not isinstance(rollback, bool):
        return bad_request("Unrecognized value for 'disable_rollback', acceptable values are: "
                           "'true', 'false'")
    return StackDefinition(
        template=template, template_url=body.get("template_url"), parameters=parameters,
        environment=environment, files=files, tags=pvector(tags),
        timeout_mins=timeout, disable_rollback=rollback)


def template_problem(template: Any) -> Response | None:
    """Heat's 400 for a template it cannot validate, or None for one it can."""
    if not isinstance(template, Mapping):
        return bad_request("Template not in valid format: The template is not a JSON object "
                           "or YAML mapping.")
    version = template.get("heat_template_version")
    if version is None:
        return bad_request("The template version is invalid: Template version was not "
                           "provided", "InvalidTemplateVersion")
    if str(version) not in TEMPLATE_VERSIONS:
        return bad_request(f'The template version is invalid: "heat_template_version: '
                           f'{version}". "heat_template_version" should be one of: '
                           f"{', '.join(TEMPLATE_VERSIONS)}", "InvalidTemplateVersion")
    resources = template.get("resources")
    if not isinstance(resources, Mapping):
        return bad_request('The template section is invalid: "resources" must be a map of '
                           "resource definitions", "StackValidationFailed")
    for name, definition in resources.items():
        problem = _resource_problem(name, definition)
        if problem is not None:
            return bad_request(problem, "StackValidationFailed")
    return None


def _resource_problem(name: str, definition: Any) -> str | None:
    if not isinstance(definition, Mapping):
        return f'Resource {name}: "{definition}" is not a valid resource definition'
    for key in definition:
        if key not in RESOURCE_KEYS:
            return f'"{key}" is not a valid keyword inside a resource definition'
    kind = definition.get("type")
    if not isinstance(kind, str):
        return f'Resource {name}: "type" must be a string'
    if kind not in KNOWN_TYPES:
        return f"Unknown resource Type : {kind}"
    if not isinstance(definition.get("properties", pmap()), Mapping):
        return f"Resource {name}: properties must be a map"
    return None


def failing_resource(template: PMap) -> str | None:
    """The name of the first resource (by name) that fails whatever is done to it: an
    ``OS::Heat::TestResource`` whose ``fail`` property is true. None if there is none."""
    resources = template.get("resources", pmap())
    for name in sorted(resources):
        definition = resources[name]
        fail = definition.get("properties", pmap()).get("fail", False)
        if definition.get("type") == "OS::Heat::TestResource" and (
                fail is True or str(fail).lower() in _TRUE):
            return str(name)
    return None
