"""
What every route of the public API shares: the Klein app, the reply value,
the error and logging wrapper, routing errors and the service endpoints.

# Note [A client that goes away]
When a client's connection closes before its answer (a timeout on its side,
a load generator stopping), Klein cancels the route's Deferred, and a route
cancelled at whatever it was awaiting would stop half-way: a group created
but not marked for convergence, a change made but not journalled. So a
request that was read whole is carried to its end whatever the client does:
the route of a request that may change something (any method but GET and
HEAD) runs apart from the Deferred Klein holds (`_carried_on`), only the
answer is dropped, and the request is logged once, at info, as answered to
no one. A failure the route meets afterwards is logged as any other.

test-case-name: tests.api.test_groups, tests.api.test_client_gone
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from functools import wraps
from typing import Any
from uuid import uuid4

from attrs import field, frozen
from effect import ComposedDispatcher, Effect
from klein import Klein
from klein.interfaces import IKleinRequest
from pyrsistent import PMap, pmap
from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.server import Request
from txeffect import perform
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import MapAdapter

from otter2.api import operations
from otter2.api.auth import check_caller
from otter2.api.encoded import EncodedGroups
from otter2.api.errors import error_page, log_answer, new_response_id, request_path
from otter2.api.health import HEALTH_TIMEOUT, HealthCheck, HealthPart, examine
from otter2.api.ratelimit import FixedWindowLimiter
from otter2.api.render import Links
from otter2.api.request import check_body_size, read_json
from otter2.api.routing import RememberingMap
from otter2.config import DEFAULT_PORT, Config, default_url_root
from otter2.control.errors import APIError
from otter2.effects.auth import TokenValidator
from otter2.metrics import Metrics
from otter2.model import Execution, JournalEvent, Policy, ScalingGroup, frozen_json
from otter2.store import intents as store

log = Logger(namespace="otter2.api")

INTERNAL_ERROR = APIError(500, "InternalError", "An Internal Error was encountered")


@frozen
class Reply:
    """What a route answers: a status, a body (JSON, raw bytes or none), headers."""

    status: int
    body: Any = None
    headers: PMap = field(factory=pmap, converter=frozen_json)


Route = Callable[..., Coroutine[Any, Any, Reply]]


def endpoint(route: Route) -> Callable[..., Awaitable[bytes]]:
    """
    Wrap a route so that it gets a response id, a JSON body, a log line, and
    the Otter error body for every failure, expected or not, and counts it in
    the metrics by route template (Note [Metrics seams]). A body over the
    size limit is refused (413) before the route runs, even by the routes that
    read no body: above all the anonymous execution, which would otherwise
    answer 202 to anything.
    """

    template = _RouteTemplate(route.__name__)

    @wraps(route)
    async def handler(self: APIBase, request: Request, **kwargs: str) -> bytes:
        started = self._clock.seconds()
        response_id = new_response_id()
        request.setHeader(b"X-Response-Id", response_id.encode())
        error: APIError | None = None
        try:
            if self.validator is not None and "tenant_id" in kwargs:
                await check_caller(self.validator, request, kwargs["tenant_id"])
            self._check_rate(request, kwargs)
            check_body_size(request, self.limits.max_body_bytes)
            if request.method in _READS:  # nothing to carry on: stopped, it changes nothing
                reply = await route(self, request, **kwargs)
            else:
                reply = await _carried_on(
                    Deferred.fromCoroutine(route(self, request, **kwargs)), request,
                    response_id)
        except CancelledError:
            # See Note [A client that goes away].
            log.info("{method} {path}: the client went away before its answer{outcome}",
                     method=request.method.decode(), path=request_path(request),
                     response_id=response_id,
                     outcome="" if request.method in _READS else "; it is carried to its end")
            return b""
        except APIError as e:
            error, reply = e, Reply(e.status, e.body())
        except Exception:
            log.failure("Unexpected failure answering {method} {path}",
                        method=request.method.decode(), response_id=response_id,
                        path=request_path(request))
            error, reply = INTERNAL_ERROR, Reply(500, INTERNAL_ERROR.body())
        request.setResponseCode(reply.status)
        # Every answer says it is JSON, 202 and 204 included (a reply may say otherwise).
        request.setHeader(b"Content-Type", b"application/json")
        for name, value in reply.headers.items():
            request.setHeader(name.encode(), value.encode())
        log_answer(request, reply.status, response_id, error)
        self.metrics.api_answered(template(request), request.method.decode("latin-1"),
                                  reply.status, self._clock.seconds() - started)
        if reply.body is None:
            return b""
        if isinstance(reply.body, bytes):
            return reply.body
        return json.dumps(reply.body).encode()

    return handler


#: Methods that change nothing: a read whose client goes away may stop half-way.
_READS = frozenset({b"GET", b"HEAD"})


def _carried_on(work: Deferred[Reply], request: Request, response_id: str) -> Deferred[Reply]:
    """
    ``work``'s reply, in a Deferred whose cancellation leaves ``work`` running
    (Note [A client that goes away]); what ``work`` meets once its client has
    gone is logged, unless it is an answer of the API's own (an `APIError`).
    """
    reply: Deferred[Reply] = Deferred()

    def settle(result: Reply | Failure) -> None:
        if not reply.called:
            if isinstance(result, Failure):
                reply.errback(result)
            else:
                reply.callback(result)
        elif isinstance(result, Failure) and not result.check(APIError):
            log.failure("Unexpected failure answering {method} {path} to a client gone away",
                        result, method=request.method.decode(), path=request_path(request),
                        response_id=response_id)

    work.addBoth(settle)
    return reply


class _RouteTemplate:
    """
    The template of the route an endpoint answers (``/v1.0/<tenant_id>/groups/``),
    never the raw path: the metrics' label must take few values. Klein names
    each route's endpoint after its function, so the template is the rule of
    that endpoint in the app's map, found once (when the first request comes,
    every route is registered), rather than by matching every request's path
    a second time.
    """

    def __init__(self, endpoint_name: str) -> None:
        self._endpoint_name = endpoint_name
        self._template: str | None = None

    def __call__(self, request: Request) -> str:
        if self._template is None:
            rules = [rule for rule in app.url_map.iter_rules()
                     if rule.endpoint == self._endpoint_name]
            if len(rules) != 1:  # registered under another name, or twice
                return _matched_template(request)
            self._template = str(rules[0].rule)
        return self._template


def _matched_template(request: Request) -> str:
    """The template of the route that matches ``request``'s path."""
    try:
        rule, _ = IKleinRequest(request).mapper.match(return_rule=True)
    except HTTPException:
        return "unmatched"
    return str(rule.rule)


def _methods_with_slash(mapper: MapAdapter) -> list[str] | None:
    """
    The methods the path takes once a slash is appended, if it is a route
    then for other methods only.

    Werkzeug answers 404 when a route ending in a slash (``strict_slashes``
    off) is asked without the slash and with a method it does not take; the
    client deserves the 405 it gets with the slash.
    """
    path = mapper.path_info
    if path.endswith("/"):
        return None
    try:
        mapper.match(path + "/")
    except MethodNotAllowed as e:
        return list(e.valid_methods or [])
    except HTTPException:
        return None
    return None


def method_not_allowed(request: IRequest, methods: Iterable[str]) -> APIError:
    """The 405 for a path that takes only ``methods``."""
    return APIError(405, "InvalidMethod",
                    f"{request.method.decode('latin-1')} is not allowed on "
                    f"{request_path(request)}; it takes {', '.join(sorted(methods))}")


app = Klein()
# Klein takes no map of one's own; its routes are added to this one below.
app._url_map = RememberingMap()
# A path with an empty segment names no resource: werkzeug would otherwise redirect
# groups//servers to groups/servers (APISite answers such paths before routing).
app.url_map.merge_slashes = False


class APIBase:
    """What every route needs: configuration, links, the dispatcher, the clock."""

    app = app

    def __init__(self, config: Config, dispatcher: ComposedDispatcher,
                 clock: Any, validator: TokenValidator | None = None,
                 metrics: Metrics | None = None) -> None:
        self.config = config
        self.metrics = metrics if metrics is not None else Metrics()
        self.validator = validator
        self.limits = config.limits
        self.links = Links(config.url_root or default_url_root(DEFAULT_PORT))
        self.encoded = EncodedGroups(self.links)
        self._dispatcher = dispatcher
        self._clock = clock
        self.tenant_limiter = (None if self.limits.tenant_per_minute is None else
                               FixedWindowLimiter(clock, self.limits.tenant_per_minute, 60))
        self.execute_limiter = (None if self.limits.execute_per_second is None else
                                FixedWindowLimiter(clock, self.limits.execute_per_second, 1))
        # Anonymous executions still running after their 202 was sent.
        self.pending_executions: set[Deferred[Any]] = set()
        # Executions of one group waiting for the one in flight (see _execute).
        self._queued: dict[tuple[str, str],
                           list[tuple[operations.Ask, Deferred[Execution]]]] = {}
        self._executing: set[tuple[str, str]] = set()
        # The parts of the daemon that report in /health, the store first.
        self._health_parts: dict[str, HealthPart] = {"store": HealthPart(self._store_health)}
        self.health_timeout = HEALTH_TIMEOUT

    def resource(self) -> Any:
        """The Twisted resource serving this API."""
        return self.app.resource()

    def _do(self, intent_or_effect: Any) -> Deferred[Any]:
        effect = (intent_or_effect if isinstance(intent_or_effect, Effect)
                  else Effect(intent_or_effect))
        result: Deferred[Any] = perform(self._dispatcher, effect)
        return result

    def _execute(self, tenant_id: str, group_id: str,
                 ask: operations.Ask) -> Deferred[Execution]:
        """
        Execute a policy of the group: the receipt that answers it (Note
        [Receipts] in ``otter2.api.operations``; it may be a refusal); fails
        with an `APIError` when no receipt could be recorded.

        # Note [Executions together]
        The executions of one group in this process wait while one is being
        written, and those that arrived meanwhile are then applied together
        and saved in one write (``operations.execute``), each answered once
        that write is committed, with the outcome it would have had alone
        after the ones before it. The store's compare-and-set keeps racing
        writers correct anyway (Note [State writes]), but fifty executions of
        one group at once (an alarm storm) would otherwise lose races to each
        other round after round, and one at a time they would pay a durable
        commit each.
        """
        key = (tenant_id, group_id)
        answer: Deferred[Execution] = Deferred()
        self._queued.setdefault(key, []).append((ask, answer))
        if key not in self._executing:
            self._execute_queued(key)
        return answer

    def _execute_queued(self, key: tuple[str, str]) -> None:
        """Write the executions queued for the group, then those queued meanwhile."""
        batch = self._queued.pop(key, [])
        if not batch:
            self._executing.discard(key)
            return
        self._executing.add(key)

        def answer(outcomes: list[Execution | APIError]) -> None:
            for (_, waiting), outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, APIError):
                    waiting.errback(outcome)
                else:
                    waiting.callback(outcome)

        def fail(failure: Failure) -> None:
            for _, waiting in batch:
                waiting.errback(failure)

        written = self._do(operations.execute(*key, [ask for ask, _ in batch],
                                              self.config.executions))
        written.addCallbacks(answer, fail)
        written.addBoth(lambda _: self._execute_queued(key))

    def _json(self, request: Request) -> Any:
        if self.limits.require_json:
            content_type = (request.getHeader(b"content-type") or b"").decode("latin-1")
            if "application/json" not in content_type.lower():
                raise APIError(415, "UnsupportedMediaType",
                               "The request body must be application/json")
        return read_json(request, self.limits.max_body_bytes)

    def _check_rate(self, request: Request, kwargs: Mapping[str, str]) -> None:
        """Refuse a request past its rate limit: 413 with ``Retry-After``."""
        if "tenant_id" in kwargs and self.tenant_limiter is not None:
            limiter, key, what = self.tenant_limiter, kwargs["tenant_id"], "minute"
        elif "capability_hash" in kwargs and self.execute_limiter is not None:
            limiter, key, what = self.execute_limiter, "execute", "second"
        else:
            return
        wait = limiter.allow(key)
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            request.setHeader(b"Retry-After", str(seconds).encode())
            raise APIError(413, "OverLimit",
                           f"Too many requests: the limit is {limiter.limit} per {what}; "
                           f"try again in {seconds} seconds")

    def _new_policy(self, tenant_id: str, group_id: str,
                    data: Mapping[str, Any]) -> Policy:
        return Policy(tenant_id=tenant_id, group_id=group_id, policy_id=str(uuid4()),
                      data=data, version=str(uuid4()))

    async def _journal(self, event: JournalEvent) -> None:
        """
        Add an owner's change to the group's journal (Note [Journal]), after
        the change succeeded: a separate write, not the change's transaction,
        so a crash between the two leaves the change without its event; a
        failed request writes none. The change is made, so a failure to
        record it is logged and the request still answers its success.
        """
        try:
            await self._do(store.AppendJournal(
                [event], event.at - self.config.journal.retention))
        except Exception:
            log.failure("Could not add {event_id} to the journal of group {group_id}",
                        event_id=event.event_id, group_id=event.group_id)

    async def _group(self, tenant_id: str, group_id: str) -> ScalingGroup:
        group: ScalingGroup = await self._do(operations.load_group(tenant_id, group_id))
        return group

    # -- routing errors ---------------------------------------------------------

    @app.handle_errors(NotFound)
    def not_found(self, request: IRequest, failure: Failure) -> bytes:
        methods = _methods_with_slash(IKleinRequest(request).mapper)
        if methods is not None:
            return error_page(request, method_not_allowed(request, methods))
        return error_page(request, APIError(
            404, "NotFound", f"No resource at {request_path(request)}: check the path "
                             "and the ids in it"))

    @app.handle_errors(MethodNotAllowed)
    def not_allowed(self, request: IRequest, failure: Failure) -> bytes:
        error = failure.value
        assert isinstance(error, MethodNotAllowed)  # the only error this handles
        methods = error.valid_methods or []
        return error_page(request, method_not_allowed(request, methods))

    # -- service endpoints ------------------------------------------------------

    @app.route("/", methods=["GET"])
    def root(self, request: Request) -> bytes:
        root = self.config.root
        request.setResponseCode(root.code)
        for name, values in root.headers.items():
            request.responseHeaders.setRawHeaders(name, list(values))
        return root.body.encode()

    @app.route("/health", methods=["GET"], strict_slashes=False)
    async def health(self, request: Request) -> bytes:
        """Every part's health; always 200 (Note [Liveness and readiness])."""
        return self._health_page(request, await examine(self._health_parts, self._clock,
                                                        self.health_timeout), always_ok=True)

    @app.route("/health/live", methods=["GET"])
    async def health_live(self, request: Request) -> bytes:
        """The parts a restart would mend: 200 if healthy, else 503."""
        return self._health_page(request, await examine(self._health_parts, self._clock,
                                                        self.health_timeout, liveness=True))

    @app.route("/health/ready", methods=["GET"])
    async def health_ready(self, request: Request) -> bytes:
        """Every part: 200 if healthy, else 503."""
        return self._health_page(request, await examine(self._health_parts, self._clock,
                                                        self.health_timeout))

    def _health_page(self, request: Request, document: dict[str, Any],
                     always_ok: bool = False) -> bytes:
        request.setHeader(b"X-Response-Id", b"health_check")
        request.setHeader(b"Content-Type", b"application/json")
        if not always_ok and not document["healthy"]:
            request.setResponseCode(503)
        return json.dumps(document, indent=2, sort_keys=True).encode()

    async def _store_health(self) -> tuple[bool, dict[str, Any]]:
        seconds = await self._do(store.CheckHealth())
        return True, {"store_time": seconds}

    def add_health_check(self, name: str, check: HealthCheck, liveness: bool = False) -> None:
        """Report ``check`` (healthy or not, and details) under ``name`` in ``/health``;
        ``liveness``: in ``/health/live`` too."""
        self._health_parts[name] = HealthPart(check, liveness)
