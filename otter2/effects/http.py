"""
The `ServiceRequest` performer: authenticate for the tenant, find the
service's endpoint in the region, send the request with treq, and answer a
`Response` whatever the status.

A 401 or a 403 means the token went stale (a 403 also when Identity revoked
it or its roles changed): the performer drops it, authenticates again and
retries once; a second 401 or 403 is answered like any other status (the
step reads it as RETRY, never as a group error). A request whose
``reauth_codes`` leave 403 out (a create, a metadata write: Nova's refusals)
is answered its 403 at once. The performer raises only
when the transport or authentication fails, or the catalog has no endpoint
for the service (`NoSuchEndpoint`). Given a `Courtesy`, the performer sends
each request at its pace (Retry-After, throttles, calls in flight per tenant).
Given a `RequestWatch`, the performer tells it of every request sent, its
answer (None when the transport failed) and the seconds it took (Note
[Metrics seams] in ``otter2.metrics``), and logs it at debug level.

test-case-name: tests.effects.test_http
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from attrs import frozen
from pyrsistent import pmap, thaw
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.client import HTTPConnectionPool, _HTTP11ClientFactory
from twisted.web.http_headers import Headers

from otter2.cloud.catalog import Catalog, public_endpoint_url
from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.effects.courtesy import Courtesy

USER_AGENT = "otter2"

log = Logger(namespace="otter2.cloud")


@frozen
class RequestWatch:
    """Who hears of each request sent to the cloud: ``observe(request, response or None,
    seconds)``, timed on ``clock``."""

    clock: IReactorTime
    observe: Callable[[ServiceRequest, Response | None, float], None]

    async def timed(self, request: ServiceRequest, send: Callable[[], Deferred[Response]],
                    ) -> Response:
        """``send()``'s answer, observed and logged at debug level."""
        started = self.clock.seconds()
        response: Response | None = None
        try:
            response = await send()
            return response
        finally:
            seconds = self.clock.seconds() - started
            self.observe(request, response, seconds)
            log.debug("{method} {service} {path} for tenant {tenant_id}: {status} in "
                      "{seconds:.3f} s", method=request.method, service=request.service.value,
                      path=request.path, tenant_id=request.tenant_id,
                      status="no answer" if response is None else response.status,
                      seconds=seconds)


class _QuietFactory(_HTTP11ClientFactory):
    noisy = False


class QuietConnectionPool(HTTPConnectionPool):
    """
    A connection pool whose connections do not log "Starting factory" and
    "Stopping factory" each time (a quarter of a busy daemon's log lines).
    """

    _factory = _QuietFactory


class HTTPClient(Protocol):
    """What otter2 needs of a treq client (``treq.client.HTTPClient``, ``StubTreq``)."""

    def request(self, method: str, url: str, *, headers: Headers | None = None,
                params: list[tuple[str, str]] | None = None, data: bytes | None = None,
                auth: tuple[str, str] | None = None, allow_redirects: bool = True,
                timeout: float | None = None) -> Deferred[Any]:
        """Send a request; the Deferred fires with a treq response."""


class TimeoutHTTPClient:
    """A treq client whose every request gives up after ``seconds``."""

    def __init__(self, http: HTTPClient, seconds: float) -> None:
        self._http = http
        self.seconds = seconds

    def request(self, method: str, url: str, **kwargs: Any) -> Deferred[Any]:
        """The request, with the timeout unless one is given."""
        kwargs.setdefault("timeout", self.seconds)
        return self._http.request(method, url, **kwargs)


class Authenticator(Protocol):
    """A source of tokens and service catalogs, per tenant."""

    def authenticate(self, tenant_id: str) -> Deferred[tuple[str, Catalog]]:
        """A token to act for the tenant, and the tenant's service catalog."""

    def invalidate(self, tenant_id: str) -> None:
        """Forget the tenant's token: the cloud refused it."""


class StaticAuthenticator:
    """The same token and catalog for every tenant (tests and the simulation)."""

    def __init__(self, token: str, catalog: Catalog) -> None:
        self.token = token
        self.catalog = catalog

    def authenticate(self, tenant_id: str) -> Deferred[tuple[str, Catalog]]:
        """The token and catalog given."""
        return succeed((self.token, self.catalog))

    def invalidate(self, tenant_id: str) -> None:
        """Nothing to forget."""


def _headers(token: str) -> Headers:
    return Headers({"Content-Type": ["application/json"], "Accept": ["application/json"],
                    "User-Agent": [USER_AGENT], "X-Auth-Token": [token]})


def _body(content: bytes, headers: Mapping[str, str]) -> Any:
    text = content.decode("utf-8", errors="replace")
    if not text.strip():
        return None
    content_type = headers.get("content-type", "")
    if "json" in content_type or not content_type:
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


async def _read(response: Any) -> Response:
    content = await response.content()
    headers = {name.decode("latin-1").lower(): values[-1].decode("latin-1")
               for name, values in response.headers.getAllRawHeaders()}
    return Response(response.code, _body(content, headers), pmap(headers))


async def _service_request(http_client: HTTPClient, authenticator: Authenticator,
                           region: str | None, service_name: str,
                           intent: ServiceRequest) -> Response:
    data = None if intent.json is None else json.dumps(thaw(intent.json)).encode("utf-8")

    async def send() -> Any:
        token, catalog = await authenticator.authenticate(intent.tenant_id)
        base = public_endpoint_url(catalog, service_name, region)
        url = f"{base.rstrip('/')}/{intent.path.lstrip('/')}"
        return await http_client.request(intent.method, url, headers=_headers(token),
                                         params=list(intent.params) or None, data=data)

    response = await send()
    if response.code in intent.reauth_codes:
        await response.content()  # let the connection go back to the pool
        authenticator.invalidate(intent.tenant_id)
        response = await send()
    return await _read(response)


def perform_service_request(http_client: HTTPClient, authenticator: Authenticator,
                            region: str | None,
                            service_names: Mapping[ServiceType, str] | None,
                            dispatcher: Any, intent: ServiceRequest,
                            courtesy: Courtesy | None = None,
                            watch: RequestWatch | None = None) -> Deferred[Response]:
    """
    Perform a `ServiceRequest` (see the module docstring). ``service_names``
    maps a service type to its name in the catalog; a type it omits goes by
    its default name (``cloudServersOpenStack``...). With ``courtesy``, the
    whole request, authentication included, goes at its pace. With ``watch``,
    each request sent is observed (its waits for courtesy are not counted).
    """
    name = (service_names or {}).get(intent.service, intent.service.value)

    def send() -> Deferred[Response]:
        sent = Deferred.fromCoroutine(
            _service_request(http_client, authenticator, region, name, intent))
        if watch is None:
            return sent
        return Deferred.fromCoroutine(watch.timed(intent, lambda: sent))

    if courtesy is None:
        return send()
    return Deferred.fromCoroutine(courtesy.call(intent, send))
