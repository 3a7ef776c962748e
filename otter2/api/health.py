"""
``/health`` and its two views: every part of the daemon checked at once,
each within its own timeout, in the body rest-api §4.19 describes.

# Note [Liveness and readiness]
``GET /health`` always answers 200 (Otter's clients read the body): the
``healthy`` AND of every part, and each part's ``healthy`` and ``details``
(with a ``reason`` when it fails). Two views answer with a status a
supervisor can act on, 200 when healthy and 503 otherwise, with the same body
for the parts they look at:

- ``GET /health/live`` ("restart me"): only the parts a restart would mend,
  the loops that must keep turning (the converger's); a store that is down
  or a scheduler that is behind is not the process's fault;
- ``GET /health/ready`` ("don't send me traffic yet"): every part, the store
  first.

A part that does not answer within its timeout (15 s, Otter's) is unhealthy
with the reason saying so; the other parts are not held up by it.

test-case-name: tests.api.test_health
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from attrs import frozen
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.defer import TimeoutError as DeferredTimeout
from twisted.internet.interfaces import IReactorTime

#: Seconds each part of ``/health`` has to answer (Otter's).
HEALTH_TIMEOUT = 15.0

HealthCheck = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


@frozen
class HealthPart:
    """A part of ``/health``: its check, and whether it counts for liveness."""

    check: HealthCheck
    liveness: bool = False


async def _examine(check: HealthCheck, clock: IReactorTime, timeout: float) -> dict[str, Any]:
    """One part's verdict: healthy and details, or unhealthy with the reason it failed."""
    answer: Deferred[tuple[bool, dict[str, Any]]] = Deferred.fromCoroutine(_ask(check))
    answer.addTimeout(timeout, clock)
    try:
        healthy, details = await answer
    except DeferredTimeout:
        healthy, details = False, {"reason": f"no answer within {timeout:g} s"}
    except Exception as e:
        healthy, details = False, {"reason": str(e) or type(e).__name__}
    return {"healthy": healthy, "details": details}


async def _ask(check: HealthCheck) -> tuple[bool, dict[str, Any]]:
    return await check()


async def examine(parts: Mapping[str, HealthPart], clock: IReactorTime,
                  timeout: float = HEALTH_TIMEOUT, liveness: bool = False) -> dict[str, Any]:
    """
    The body of ``/health`` (``liveness``: of ``/health/live``): every part
    (or those that count for liveness) checked at once, each within
    ``timeout`` seconds. See Note [Liveness and readiness].
    """
    chosen = {name: part for name, part in parts.items() if part.liveness or not liveness}
    results = await DeferredList(
        [Deferred.fromCoroutine(_examine(part.check, clock, timeout))
         for part in chosen.values()], consumeErrors=True)
    document: dict[str, Any] = {name: result for name, (_, result)
                                in zip(chosen, results, strict=True)}
    document["healthy"] = all(part["healthy"] for part in document.values())
    return document
