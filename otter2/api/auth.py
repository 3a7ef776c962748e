"""
Who may call the API: the owner of a valid ``X-Auth-Token`` may use its own
tenant's routes, and an observer may only read (rest-api.md §1). Identity says
whose a token is (`otter2.effects.auth.TokenValidator`); the rules are here.

test-case-name: tests.api.test_auth
"""

from __future__ import annotations

from attrs import frozen
from twisted.web.server import Request

from otter2.cloud.request import AuthenticationError
from otter2.control.errors import APIError
from otter2.effects.auth import InvalidToken, TokenValidator

OBSERVER_ROLES = frozenset({"observer", "autoscale:observer"})

_READ_METHODS = (b"GET", b"HEAD")


@frozen
class Caller:
    """Who a valid API token belongs to: its tenant and its role names."""

    tenant_id: str
    roles: frozenset[str] = frozenset()

    @property
    def read_only(self) -> bool:
        """Observers may only read."""
        return bool(self.roles) and self.roles <= OBSERVER_ROLES


def check_permission(caller: Caller, tenant_id: str, method: bytes) -> None:
    """
    Refuse (403) a caller of another tenant, or an observer whose request would
    change something.
    """
    if caller.tenant_id != tenant_id:
        raise APIError(403, "Forbidden", f"The X-Auth-Token does not belong to tenant "
                                         f"{tenant_id}")
    if caller.read_only and method not in _READ_METHODS:
        raise APIError(403, "Forbidden", "An observer may only read")


async def check_caller(validator: TokenValidator, request: Request, tenant_id: str) -> None:
    """
    Refuse a request whose ``X-Auth-Token`` Identity does not know (401), that
    belongs to another tenant, or that only observes and wants to change (403).
    """
    token = request.getHeader(b"x-auth-token")
    if not token:
        raise APIError(401, "Unauthorized", "This request needs an X-Auth-Token header")
    try:
        owner, roles = await validator.validate(token.decode("latin-1"))
    except InvalidToken:
        raise APIError(401, "Unauthorized", "The X-Auth-Token is not valid") from None
    except AuthenticationError:
        raise APIError(503, "IdentityUnavailable",
                       "Identity could not check the X-Auth-Token; try again later") from None
    check_permission(Caller(owner, roles), tenant_id, request.method)
