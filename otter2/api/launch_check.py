"""
Checking a launch configuration against the tenant's cloud before storing it
(spec rest-api §3.2.5), as an Effect: the image and flavor must exist (the
image ACTIVE), personality files must be base64 and within Nova's limits.
Every problem found becomes one line of a 400 ``InvalidLaunchConfiguration``.
Unlike Otter, a cloud that cannot answer (5xx, timeout, Identity down) is a
503 to try again, not a claim that the image is invalid.

Unlike Otter too, load balancers are checked here rather than failing the
group later: each Cloud Load Balancer id must be a positive integer naming a
load balancer of the tenant that is not being deleted, and each RackConnect
v3 pool one of the tenant's pools. A catalog without the service is a
problem of the configuration (the tenant cannot use the service), not an
outage.

test-case-name: tests.api.test_launch_check
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from typing import Any

from effect import Effect, parallel
from effect.do import do

from otter2.cloud import clb, heat, nova, rcv3
from otter2.cloud.clb import LoadBalancerLookup
from otter2.cloud.messages import (
    CLOUD_LOAD_BALANCERS,
    CLOUD_SERVERS,
    ORCHESTRATION,
    RACKCONNECT,
    describe_exception,
    error_message,
)
from otter2.cloud.request import NoSuchEndpoint, Response, ServiceRequest
from otter2.control.errors import APIError
from otter2.intents import RandomHex

_BASE64 = re.compile(r"^[+/=a-zA-Z0-9]+$")


_UNAVAILABLE = {CLOUD_SERVERS: "CloudServersUnavailable",
                CLOUD_LOAD_BALANCERS: "CloudLoadBalancersUnavailable",
                RACKCONNECT: "RackConnectUnavailable",
                ORCHESTRATION: "CloudOrchestrationUnavailable"}


def _unavailable(what: str, response: Any, service: str = CLOUD_SERVERS) -> APIError:
    why = (f"HTTP {response.status}" if isinstance(response, Response)
           else describe_exception(response))
    return APIError(503, _UNAVAILABLE[service],
                    f"Could not check the launch configuration's {what} with {service} "
                    f"({why}); try again later")


def _not_available(service: str, tenant_id: str, missing: NoSuchEndpoint) -> str:
    where = f" in region {missing.region}" if missing.region else ""
    return (f"{service} is not available to tenant {tenant_id}: its service catalog has "
            f"no {missing.service_name} endpoint{where}")


def _check_answer(what: str, response: Any) -> bool:
    """
    Whether Nova found it (True) or not (False); a 503 error if it could not
    say, rate limits included (a 413 or 429, Nova's or otter2's own while the
    tenant waits out a Retry-After: see Note [Rate limits are the tenant's]).
    """
    if isinstance(response, Response) and response.status in (200, 203):
        return True
    if (isinstance(response, Response) and 400 <= response.status < 500
            and response.status not in (413, 429)):
        return False
    raise _unavailable(what, response)


def _image_problem(image_ref: str, response: Any) -> str | None:
    if not _check_answer("image", response):
        return f'Invalid imageRef "{image_ref}" in launchConfiguration'
    if not nova.image_is_active(response.body):
        return f'Inactive imageRef "{image_ref}" in launchConfiguration'
    return None


def _flavor_problem(flavor_ref: str, response: Any) -> str | None:
    if not _check_answer("flavor", response):
        return f'Invalid flavorRef "{flavor_ref}" in launchConfiguration'
    return None


def _decoded(contents: Any) -> bytes | None:
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


def _load_balancer_ids(load_balancers: Iterable[Any]) -> tuple[list[str], list[str], list[str]]:
    """
    The distinct CLB ids that can name a load balancer, those that cannot,
    and the distinct RackConnect v3 pool ids, each in the order given.
    """
    clbs: dict[str, bool] = {}
    pools: dict[str, str] = {}
    for entry in load_balancers:
        value = entry["loadBalancerId"]
        if entry.get("type") == "RackConnectV3":
            pools.setdefault(str(value).lower(), str(value))
        else:
            clbs.setdefault(str(value), clb.is_load_balancer_id(value))
    return ([lb_id for lb_id, good in clbs.items() if good],
            [lb_id for lb_id, good in clbs.items() if not good], list(pools.values()))


def _malformed_clb(lb_id: str) -> str:
    return (f'Invalid loadBalancerId "{lb_id}" in launchConfiguration: a Cloud Load '
            "Balancer id is a positive integer, without leading zeros")


def _clb_problem(tenant_id: str, lb_id: str, answer: Any) -> str | None:
    if isinstance(answer, NoSuchEndpoint):
        return _not_available(CLOUD_LOAD_BALANCERS, tenant_id, answer)
    lookup = (clb.read_load_balancer_lookup(answer) if isinstance(answer, Response)
              else LoadBalancerLookup.UNANSWERED)
    if lookup is LoadBalancerLookup.MISSING:
        return clb.no_such_lb_reason(lb_id)
    if lookup is LoadBalancerLookup.DELETING:
        return clb.lb_deleted_reason(lb_id)
    if lookup is LoadBalancerLookup.UNANSWERED:
        raise _unavailable(f"load balancer {lb_id}", answer, CLOUD_LOAD_BALANCERS)
    return None


def _pool_problems(tenant_id: str, pool_ids: list[str], answer: Any) -> list[str]:
    if isinstance(answer, NoSuchEndpoint):
        return [_not_available(RACKCONNECT, tenant_id, answer)]
    listed = rcv3.listed_pool_ids(answer) if isinstance(answer, Response) else None
    if listed is None:
        raise _unavailable("load balancer pools", answer, RACKCONNECT)
    return [rcv3.no_such_pool_reason(pool_id) for pool_id in pool_ids
            if pool_id.lower() not in listed]


def _answer_or_error(request: ServiceRequest) -> Effect:
    """The response, or the exception when the cloud could not be reached."""
    return Effect(request).on(error=lambda error: error)


def _lookups(tenant_id: str, server: Mapping[str, Any], clb_ids: list[str],
             pool_ids: list[str]) -> list[tuple[str, ServiceRequest]]:
    """The requests the check makes, each under the name its answer is read by."""
    lookups = []
    if server.get("imageRef"):
        lookups.append(("image", nova.get_image_request(tenant_id, server["imageRef"])))
    if server.get("flavorRef"):
        lookups.append(("flavor", nova.get_flavor_request(tenant_id, server["flavorRef"])))
    if server.get("personality"):
        lookups.append(("limits", nova.get_limits_request(tenant_id)))
    lookups.extend((f"clb {lb_id}", clb.get_load_balancer_request(tenant_id, lb_id))
                   for lb_id in clb_ids)
    if pool_ids:
        lookups.append(("pools", rcv3.list_pools_request(tenant_id)))
    return lookups


@do
def check_launch_config(tenant_id: str, launch: Mapping[str, Any]) -> Any:
    """
    An Effect that succeeds if the launch configuration fits the tenant's
    cloud and fails with a 400 ``InvalidLaunchConfiguration`` listing every
    problem otherwise (a 503 if a service could not say). A
    ``launch_server`` configuration's lookups are made at once; a
    ``launch_stack`` one is previewed by Heat.
    """
    if launch.get("type") == "launch_stack":
        yield check_stack(tenant_id, launch["args"]["stack"])
        return None
    if launch.get("type") != "launch_server":
        return None
    server = launch["args"]["server"]
    clb_ids, malformed, pool_ids = _load_balancer_ids(launch["args"].get("loadBalancers") or ())
    lookups = _lookups(tenant_id, server, clb_ids, pool_ids)
    answers = dict(zip([name for name, _ in lookups],
                       (yield parallel([_answer_or_error(request) for _, request in lookups])),
                       strict=True))
    problems = []
    if "image" in answers:
        problems.append(_image_problem(server["imageRef"], answers["image"]))
    if "flavor" in answers:
        problems.append(_flavor_problem(server["flavorRef"], answers["flavor"]))
    if "limits" in answers:
        problems.extend(_personality_problems(server["personality"], answers["limits"]))
    problems.extend(_malformed_clb(lb_id) for lb_id in malformed)
    problems.extend(_clb_problem(tenant_id, lb_id, answers[f"clb {lb_id}"]) for lb_id in clb_ids)
    if pool_ids:
        problems.extend(_pool_problems(tenant_id, pool_ids, answers["pools"]))
    lines = list(dict.fromkeys(p for p in problems if p))  # a missing service is said once
    if lines:
        raise APIError(400, "InvalidLaunchConfiguration",
                       "Following problems with launch configuration:\n" + "\n".join(lines))
    return None


@do
def check_stack(tenant_id: str, stack: Mapping[str, Any]) -> Any:
    """
    An Effect that succeeds if Heat can preview the stack, and fails with a
    400 ``InvalidLaunchConfiguration`` carrying Heat's message if it refuses
    it (400, 404, 409), or a 503 if Heat could not say.
    """
    suffix: str = yield Effect(RandomHex(8))
    config = heat.name_stack(stack, "preview", suffix)
    answer = yield _answer_or_error(heat.preview_stack_request(tenant_id, config))
    if isinstance(answer, NoSuchEndpoint):
        raise APIError(400, "InvalidLaunchConfiguration",
                       "Following problems with launch configuration:\n"
                       + _not_available(ORCHESTRATION, tenant_id, answer))
    if isinstance(answer, Response) and answer.status in (400, 404, 409):
        message = error_message(answer.body) or f"HTTP {answer.status}"
        raise APIError(400, "InvalidLaunchConfiguration",
                       "Following problems with launch configuration:\n" + message)
    if not isinstance(answer, Response) or answer.status != 200:
        raise _unavailable("stack", answer, ORCHESTRATION)
    return None
