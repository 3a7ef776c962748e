"""
Authenticating as a tenant against Identity v2 (spec §6): impersonation with
admin credentials for a multi-tenant deployment, a password login for a
single-tenant one, and a cache in front of either; and asking Identity whose
an API caller's token is.

Failures raise `AuthenticationError` with a sentence the group's owner can
read; the cache retries a failed fetch a few times first, so a brief Identity
outage is never seen.

test-case-name: tests.effects.test_auth
"""

from __future__ import annotations

import json
from typing import Any, TypeVar
from urllib.parse import quote

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.web.http_headers import Headers

from otter2.cloud.catalog import Catalog
from otter2.cloud.request import AuthenticationError
from otter2.effects.http import USER_AGENT, Authenticator, HTTPClient

IMPERSONATION_SECONDS = 10800

T = TypeVar("T")


def _json_headers(token: str | None = None) -> Headers:
    headers = Headers({"Content-Type": ["application/json"], "Accept": ["application/json"],
                       "User-Agent": [USER_AGENT]})
    if token:
        headers.setRawHeaders("X-Auth-Token", [token])
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


class AdminSession:
    """
    Calls to Identity's admin API with otter2's own credentials: the admin
    token is fetched when first needed and again after a 401.
    """

    def __init__(self, http: HTTPClient, url: str, username: str, password: str) -> None:
        self.http = http
        self._url = url.rstrip("/")
        self.username = username
        self.password = password
        self._token: str | None = None

    async def _login(self) -> str:
        what = f"log in the otter2 administrator {self.username}"
        body = {"auth": {"passwordCredentials": {"username": self.username,
                                                 "password": self.password}}}
        response = await self.http.request("POST", f"{self._url}/tokens",
                                           data=json.dumps(body).encode(),
                                           headers=_json_headers())
        self._token = _token_of(await _json(response, what, (200, 203)), what)
        return self._token

    async def send(self, method: str, url: str, body: Any = None) -> Any:
        """A treq response to a call with the admin token, logging in first
        or again after a 401."""
        for attempt in range(2):
            token = self._token or await self._login()
            response = await self.http.request(
                method, url, headers=_json_headers(token),
                data=None if body is None else json.dumps(body).encode())
            if response.code == 401 and attempt == 0:
                await response.content()
                self._token = None
                continue
            return response
        raise AssertionError("unreachable")

    async def call(self, method: str, url: str, what: str, body: Any = None,
                   ok: tuple[int, ...] = (200, 203)) -> Any:
        """The JSON answer of `send`; `AuthenticationError` unless its status is ``ok``."""
        return await _json(await self.send(method, url, body), what, ok)


class ImpersonatingAuthenticator:
    """
    Acts for any tenant by impersonating its user with admin credentials:
    find the tenant's user, get an impersonation token, read its endpoints.
    """

    def __init__(self, http: HTTPClient, url: str, admin_url: str, username: str,
                 password: str) -> None:
        self._admin = AdminSession(http, url, username, password)
        self._admin_url = admin_url.rstrip("/")

    def authenticate(self, tenant_id: str) -> Deferred[tuple[str, Catalog]]:
        """An impersonation token for the tenant's user, and the tenant's catalog."""
        return Deferred.fromCoroutine(self._authenticate(tenant_id))

    def invalidate(self, tenant_id: str) -> None:
        """Nothing is kept here (see `CachingAuthenticator`)."""

    async def _user_of(self, tenant_id: str) -> str:
        what = f"name the user of tenant {tenant_id}"
        legacy = self._admin_url.replace("v2.0", "v1.1")
        response = await self._admin.http.request(
            "GET", f"{legacy}/mosso/{tenant_id}",
            auth=(self._admin.username, self._admin.password),
            allow_redirects=False, headers=Headers({"Accept": ["application/json"],
                                                    "User-Agent": [USER_AGENT]}))
        body = await _json(response, what, (301,))
        try:
            return str(body["user"]["id"])
        except (KeyError, TypeError):
            raise AuthenticationError(f"Identity's answer to {what} named no user") from None

    async def _authenticate(self, tenant_id: str) -> tuple[str, Catalog]:
        user = await self._user_of(tenant_id)
        what = f"impersonate the user of tenant {tenant_id}"
        answer = await self._admin.call(
            "POST", f"{self._admin_url}/RAX-AUTH/impersonation-tokens", what,
            {"RAX-AUTH:impersonation": {"user": {"username": user},
                                        "expire-in-seconds": IMPERSONATION_SECONDS}})
        token = _token_of(answer, what)
        endpoints = await self._admin.call(
            "GET", f"{self._admin_url}/tokens/{token}/endpoints",
            f"list the endpoints of tenant {tenant_id}")
        return token, catalog_from_endpoints(endpoints.get("endpoints"))


class InvalidToken(Exception):
    """Identity does not know the token (or it expired)."""


#: What Identity says of a valid token: the tenant it belongs to and the names of
#: its user's roles.
TokenOwner = tuple[str, frozenset[str]]


class TokenValidator:
    """
    Checks API callers' tokens with Identity's admin API, remembering each
    answer for ``ttl`` seconds. What a caller may do is the API's decision.
    """

    def __init__(self, admin: AdminSession, admin_url: str, clock: IReactorTime,
                 ttl: float) -> None:
        self._admin = admin
        self._admin_url = admin_url.rstrip("/")
        self._clock = clock
        self._ttl = ttl
        self._known: dict[str, tuple[float, TokenOwner | None]] = {}

    def validate(self, token: str) -> Deferred[TokenOwner]:
        """The tenant and role names of the token's owner; `InvalidToken` if Identity
        refuses it."""
        return Deferred.fromCoroutine(self._validate(token))

    async def _validate(self, token: str) -> TokenOwner:
        now = self._clock.seconds()
        known = self._known.get(token)
        if known is None or now - known[0] > self._ttl:
            known = (now, await self._ask(token))
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[token] = known
        if known[1] is None:
            raise InvalidToken()
        return known[1]

    async def _ask(self, token: str) -> TokenOwner | None:
        response = await self._admin.send("GET", f"{self._admin_url}/tokens/{quote(token, safe='')}")
        if response.code in (401, 403, 404):
            await response.content()
            return None
        body = await _json(response, "validate an API token", (200, 203))
        try:
            access = body["access"]
            tenant_id = str(access["token"]["tenant"]["id"])
            roles = frozenset(str(r["name"]) for r in access.get("user", {}).get("roles", ()))
        except (KeyError, TypeError):
            return None
        return tenant_id, roles


class CachingAuthenticator:
    """
    Keeps each tenant's token and catalog for ``ttl`` seconds, shares one
    fetch between concurrent requests, and retries a failed fetch
    ``retries`` times ``retry_interval`` seconds apart before giving up.
    """

    def __init__(self, inner: Authenticator, clock: IReactorTime, ttl: float, retries: int,
                 retry_interval: float) -> None:
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
        outcome: tuple[str, Catalog] | AuthenticationError
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


async def _value(value: T) -> T:
    return value
