"""
Authenticating as a tenant against Identity v2 (spec §6): impersonation with
admin credentials for a multi-tenant deployment, a password login for a
single-tenant one, and a cache in front of either.

Failures raise `AuthenticationError` with a sentence the group's owner can
read; the cache retries a failed fetch a few times first, so a brief Identity
outage is never seen.

test-case-name: tests.effects.test_auth
"""

from __future__ import annotations

import json
from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from otter2.cloud.catalog import Catalog
from otter2.cloud.request import AuthenticationError
from otter2.effects.http import HTTPClient, USER_AGENT

IMPERSONATION_SECONDS = 10800


def _json_headers(token: Optional[str] = None) -> dict[str, list[str]]:
    headers = {"Content-Type": ["application/json"], "Accept": ["application/json"],
               "User-Agent": [USER_AGENT]}
    if token:
        headers["X-Auth-Token"] = [token]
    return headers


async def _json(response: Any, what: str, ok: tuple[int, ...]) -> Any:
    content = await response.content()
    if response.code not in ok:
        excerpt = content.decode("utf-8", "replace").strip()[:200]
        raise AuthenticationError(f"Identity refused to {what} (HTTP {response.code}"
                                  + (f": {excerpt})" if excerpt else ")"))
    try:
        return json.loads(content)
    except ValueError:
        raise AuthenticationError(f"Identity's answer to {what} was not JSON") from None


def _token_of(body: Any, what: str) -> str:
    try:
        return str(body["access"]["token"]["id"])
    except (KeyError, TypeError):
        raise AuthenticationError(f"Identity's answer to {what} held no token") from None


def catalog_from_endpoints(endpoints: Any) -> Catalog:
    """
    The ``serviceCatalog`` form of Identity's flat endpoint list: one service
    per (name, type), holding its endpoints in order.
    """
    services: dict[tuple[str, str], dict[str, Any]] = {}
    for endpoint in endpoints or ():
        key = (endpoint.get("name"), endpoint.get("type"))
        service = services.setdefault(key, {"name": key[0], "type": key[1],
                                             "endpoints": []})
        service["endpoints"].append(endpoint)
    return list(services.values())


class PasswordAuthenticator:
    """One user's password login, for a deployment that serves one tenant."""

    def __init__(self, http: HTTPClient, url: str, username: str, password: str) -> None:
        self._http = http
        self._url = url.rstrip("/")
        self._username = username
        self._password = password

    def authenticate(self, tenant_id: str) -> Deferred[tuple[str, Catalog]]:
        """Log in for ``tenant_id``: its token and service catalog."""
        return Deferred.fromCoroutine(self._authenticate(tenant_id))

    async def _authenticate(self, tenant_id: str) -> tuple[str, Catalog]:
        what = f"log in as {self._username} for tenant {tenant_id}"
        body = {"auth": {"passwordCredentials": {"username": self._username,
                                                 "password": self._password},
                         "tenantId": tenant_id}}
        response = await self._http.request("POST", f"{self._url}/tokens",
                                            data=json.dumps(body).encode(),
                                            headers=_json_headers())
        answer = await _json(response, what, (200, 203))
        return _token_of(answer, what), answer["access"].get("serviceCatalog") or []

    def invalidate(self, tenant_id: str) -> None:
        """Nothing is kept here (see `CachingAuthenticator`)."""


class ImpersonatingAuthenticator:
    """
    Acts for any tenant by impersonating its user with admin credentials:
    find the tenant's user, get an impersonation token, read its endpoints.
    The admin token is fetched when first needed and again after a 401.
    """

    def __init__(self, http: HTTPClient, url: str, admin_url: str, username: str,
                 password: str) -> None:
        self._http = http
        self._url = url.rstrip("/")
        self._admin_url = admin_url.rstrip("/")
        self._username = username
        self._password = password
        self._admin_token: Optional[str] = None

    def authenticate(self, tenant_id: str) -> Deferred[tuple[str, Catalog]]:
        """An impersonation token for the tenant's user, and the tenant's catalog."""
        return Deferred.fromCoroutine(self._authenticate(tenant_id))

    def invalidate(self, tenant_id: str) -> None:
        """Nothing is kept here (see `CachingAuthenticator`)."""

    async def _admin_login(self) -> str:
        what = f"log in the otter2 administrator {self._username}"
        body = {"auth": {"passwordCredentials": {"username": self._username,
                                                 "password": self._password}}}
        response = await self._http.request("POST", f"{self._url}/tokens",
                                            data=json.dumps(body).encode(),
                                            headers=_json_headers())
        self._admin_token = _token_of(await _json(response, what, (200, 203)), what)
        return self._admin_token

    async def _as_admin(self, method: str, url: str, what: str, body: Any = None) -> Any:
        """A call with the admin token, logging in first or again after a 401."""
        for attempt in range(2):
            token = self._admin_token or await self._admin_login()
            response = await self._http.request(
                method, url, headers=_json_headers(token),
                data=None if body is None else json.dumps(body).encode())
            if response.code == 401 and attempt == 0:
                await response.content()
                self._admin_token = None
                continue
            return await _json(response, what, (200, 203))
        raise AssertionError("unreachable")

    async def _user_of(self, tenant_id: str) -> str:
        what = f"name the user of tenant {tenant_id}"
        legacy = self._admin_url.replace("v2.0", "v1.1")
        response = await self._http.request(
            "GET", f"{legacy}/mosso/{tenant_id}", auth=(self._username, self._password),
            allow_redirects=False, headers={"Accept": ["application/json"],
                                            "User-Agent": [USER_AGENT]})
        body = await _json(response, what, (301,))
        try:
            return str(body["user"]["id"])
        except (KeyError, TypeError):
            raise AuthenticationError(f"Identity's answer to {what} named no user") from None

    async def _authenticate(self, tenant_id: str) -> tuple[str, Catalog]:
        user = await self._user_of(tenant_id)
        what = f"impersonate the user of tenant {tenant_id}"
        answer = await self._as_admin(
            "POST", f"{self._admin_url}/RAX-AUTH/impersonation-tokens", what,
            {"RAX-AUTH:impersonation": {"user": {"username": user},
                                        "expire-in-seconds": IMPERSONATION_SECONDS}})
        token = _token_of(answer, what)
        endpoints = await self._as_admin(
            "GET", f"{self._admin_url}/tokens/{token}/endpoints",
            f"list the endpoints of tenant {tenant_id}")
        return token, catalog_from_endpoints(endpoints.get("endpoints"))


class CachingAuthenticator:
    """
    Keeps each tenant's token and catalog for ``ttl`` seconds, shares one
    fetch between concurrent requests, and retries a failed fetch
    ``retries`` times ``retry_interval`` seconds apart before giving up.
    """

    def __init__(self, inner: Any, clock: Any, ttl: float = 300.0, retries: int = 3,
                 retry_interval: float = 2.0) -> None:
        self._inner = inner
        self._clock = clock
        self._ttl = ttl
        self._retries = retries
        self._retry_interval = retry_interval
        self._cache: dict[str, tuple[float, tuple[str, Catalog]]] = {}
        self._fetching: dict[str, list[Deferred[tuple[str, Catalog]]]] = {}

    def authenticate(self, tenant_id: str) -> Deferred[tuple[str, Catalog]]:
        """The cached token and catalog, or a fresh fetch shared by all who ask."""
        cached = self._cache.get(tenant_id)
        if cached is not None and self._clock.seconds() - cached[0] <= self._ttl:
            return Deferred.fromCoroutine(_value(cached[1]))
        waiter: Deferred[tuple[str, Catalog]] = Deferred()
        waiting = self._fetching.setdefault(tenant_id, [])
        waiting.append(waiter)
        if len(waiting) == 1:
            Deferred.fromCoroutine(self._fetch(tenant_id))
        return waiter

    def invalidate(self, tenant_id: str) -> None:
        """Forget the tenant's token: the cloud refused it."""
        self._cache.pop(tenant_id, None)

    async def _fetch(self, tenant_id: str) -> None:
        outcome: Any
        for attempt in range(self._retries + 1):
            try:
                outcome = await self._inner.authenticate(tenant_id)
            except Exception as error:
                outcome = error if isinstance(error, AuthenticationError) else \
                    AuthenticationError(f"Could not reach Identity: {error}")
                if attempt < self._retries:
                    await deferLater(self._clock, self._retry_interval, lambda: None)
                continue
            self._cache[tenant_id] = (self._clock.seconds(), outcome)
            break
        for waiter in self._fetching.pop(tenant_id, []):
            if isinstance(outcome, Exception):
                waiter.errback(outcome)
            else:
                waiter.callback(outcome)


async def _value(value: Any) -> Any:
    return value
