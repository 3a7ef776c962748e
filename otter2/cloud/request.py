"""
The one HTTP intent of the cloud clients, and the response value every
status code produces.

A `ServiceRequest` names a service of the tenant's catalog and a path
relative to its endpoint; the performer (``otter2.effects.http``) adds the
token, resolves the endpoint in the configured region, sends it with treq,
and answers a `Response` whatever the status. It raises only when the
transport fails (or the endpoint is missing from the catalog).

test-case-name: tests.effects.test_http
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from attrs import field, frozen
from pyrsistent import PMap, pmap

from otter2.model.group import frozen_json


class ServiceType(Enum):
    """The services of a tenant's catalog otter2 talks to."""

    CLOUD_SERVERS = "cloudServersOpenStack"
    CLOUD_LOAD_BALANCERS = "cloudLoadBalancers"
    RACKCONNECT_V3 = "rackconnect"
    ORCHESTRATION = "cloudOrchestration"


@frozen
class ServiceRequest:
    """
    An HTTP request to one of a tenant's services.

    ``path`` is relative to the service's endpoint (``servers/detail``);
    ``params`` is the query as (name, value) pairs; ``json`` the body to send.
    ``reauth_codes`` are the statuses that mean the token went stale: the
    performer drops it and sends the request once more with a fresh one.
    A create or a metadata write gives only 401 (spec §3.1): Nova's 403 there
    is a refusal (quota, too many metadata items) to report, not a token to
    renew, and a create is not sent twice for it.
    """

    tenant_id: str
    service: ServiceType
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    json: Any = field(default=None, converter=frozen_json)
    reauth_codes: tuple[int, ...] = (401, 403)


ONLY_401 = (401,)


@frozen
class Response:
    """
    An HTTP response: its status, headers and body (parsed JSON, or text).

    The body is kept as parsed, not made persistent: a listing of a tenant's
    servers holds thousands of objects, and freezing them cost more than the
    rest of an iteration. Nobody writes to it; readers copy what they keep.
    It is not hashed (a Response is compared, never used as a key).
    """

    status: int
    body: Any = field(default=None, eq=True, hash=False)
    headers: PMap = field(factory=pmap, converter=frozen_json)


class NoSuchEndpoint(Exception):
    """The tenant's service catalog has no endpoint for a service in the region."""

    def __init__(self, service_name: str, region: str | None) -> None:
        super().__init__(service_name, region)
        self.service_name = service_name
        self.region = region

    def __str__(self) -> str:
        return (f"Could not locate service {self.service_name} in the service catalog. "
                "Please check if your account is still active.")


class AuthenticationError(Exception):
    """Identity would not let otter2 act for a tenant; the message says why."""
