"""
Checking a launch configuration against the tenant's cloud before storing it
(spec rest-api §3.2.5), as an Effect: the image and flavor must exist (the
image ACTIVE), personality files must be base64 and within Nova's limits.
Every problem found becomes one line of a 400 ``InvalidLaunchConfiguration``.
Unlike Otter, a cloud that cannot answer (5xx, timeout, Identity down) is a
503 to try again, not a claim that the image is invalid.

test-case-name: tests.api.test_launch_check
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Mapping, Optional

from effect import Effect, parallel
from effect.do import do

from otter2.cloud import nova
from otter2.cloud.messages import describe_exception
from otter2.cloud.request import Response, ServiceRequest
from otter2.control.errors import APIError

_BASE64 = re.compile(r"^[+/=a-zA-Z0-9]+$")


def _unavailable(what: str, response: Any) -> APIError:
    why = (f"HTTP {response.status}" if isinstance(response, Response)
           else describe_exception(response))
    return APIError(503, "CloudServersUnavailable",
                    f"Could not check the launch configuration's {what} with Cloud Servers "
                    f"({why}); try again later")


def _check_answer(what: str, response: Any) -> bool:
    """Whether Nova found it (True) or not (False); a 503 error if it could not say."""
    if isinstance(response, Response) and response.status in (200, 203):
        return True
    if isinstance(response, Response) and 400 <= response.status < 500:
        return False
    raise _unavailable(what, response)


def _image_problem(image_ref: str, response: Any) -> Optional[str]:
    if not _check_answer("image", response):
        return f'Invalid imageRef "{image_ref}" in launchConfiguration'
    if not nova.image_is_active(response.body):
        return f'Inactive imageRef "{image_ref}" in launchConfiguration'
    return None


def _flavor_problem(flavor_ref: str, response: Any) -> Optional[str]:
    if not _check_answer("flavor", response):
        return f'Invalid flavorRef "{flavor_ref}" in launchConfiguration'
    return None


def _decoded(contents: Any) -> Optional[bytes]:
    if not isinstance(contents, str) or not _BASE64.match(contents):
        return None
    try:
        return base64.b64decode(contents, validate=True)
    except (binascii.Error, ValueError):
        return None


def _personality_problems(files: Any, limits: Any) -> list[str]:
    problems = []
    decoded = []
    for item in files:
        content = _decoded(item.get("contents"))
        if content is None:
            problems.append(f'Invalid base64 encoding for contents of path "{item.get("path")}"')
        else:
            decoded.append((item.get("path"), content))
    absolute: Mapping[str, Any] = {}
    if not isinstance(limits, Exception) and limits.status == 200:
        absolute = nova.absolute_limits(limits.body)
    most = absolute.get("maxPersonality")
    if isinstance(most, int) and len(files) > most:
        problems.append(f'Number of files "{len(files)}" in personality exceeds maximum '
                        f'limit "{most}"')
    size = absolute.get("maxPersonalitySize")
    if isinstance(size, int):
        problems.extend(f'File "{name}" content\'s size exceeds maximum size "{size}"'
                        for name, content in decoded if len(content) > size)
    return problems


def _answer_or_error(request: ServiceRequest) -> Effect:
    """The response, or the exception when the cloud could not be reached."""
    return Effect(request).on(error=lambda error: error)


@do
def check_launch_config(tenant_id: str, launch: Mapping[str, Any]) -> Any:
    """
    An Effect that succeeds if the launch configuration fits the tenant's
    cloud and fails with a 400 ``InvalidLaunchConfiguration`` listing every
    problem otherwise. Only ``launch_server`` is checked.
    """
    if launch.get("type") != "launch_server":
        return None
    server = launch["args"]["server"]
    image_ref, flavor_ref = server.get("imageRef"), server.get("flavorRef")
    files = list(server.get("personality") or ())
    checks: list[tuple[str, Effect]] = []
    if image_ref:
        checks.append(("image", _answer_or_error(nova.get_image_request(tenant_id, image_ref))))
    if flavor_ref:
        checks.append(("flavor", _answer_or_error(nova.get_flavor_request(tenant_id, flavor_ref))))
    if files:
        checks.append(("limits", _answer_or_error(nova.get_limits_request(tenant_id))))
    answers = dict(zip([name for name, _ in checks],
                       (yield parallel([effect for _, effect in checks])), strict=True))
    problems = []
    if "image" in answers:
        problems.append(_image_problem(image_ref, answers["image"]))
    if "flavor" in answers:
        problems.append(_flavor_problem(flavor_ref, answers["flavor"]))
    if files:
        problems.extend(_personality_problems(files, answers["limits"]))
    lines = [p for p in problems if p]
    if lines:
        raise APIError(400, "InvalidLaunchConfiguration",
                       "Following problems with launch configuration:\n" + "\n".join(lines))
    return None
