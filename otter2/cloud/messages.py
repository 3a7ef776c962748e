"""
What the cloud said, in sentences: the message inside an error body, and the
readable reason a step reports for an answer no specific rule recognised.

test-case-name: tests.cloud.test_nova
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from effect import FirstError
from pyrsistent import thaw

from otter2.cloud.request import Response
from otter2.model.outcome import StepOutcome, Verdict

CLOUD_SERVERS = "Cloud Servers"
CLOUD_LOAD_BALANCERS = "Cloud Load Balancers"
RACKCONNECT = "RackConnect v3"
ORCHESTRATION = "Cloud Orchestration"

_LONGEST = 400


def path(*segments: object) -> str:
    """A relative URL path from segments, each quoted (``/`` included) but for ``:``."""
    return "/".join(quote(str(segment), safe=":") for segment in segments)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _LONGEST else text[:_LONGEST - 1] + "…"


def error_message(body: Any) -> str:
    """
    The human part of an error body, whatever the service's shape:
    ``{"message"}`` (CLB), ``{"itemNotFound": {"message"}}`` (Nova),
    ``{"errors": [...]}`` (RCv3), ``{"error": {"message"}, "explanation"...}``
    (Heat), validation messages, or plain text.
    """
    body = thaw(body)
    if body is None:
        return ""
    if isinstance(body, str):
        return _short(body)
    if isinstance(body, dict):
        messages = body.get("validationErrors", {}).get("messages") \
            if isinstance(body.get("validationErrors"), dict) else None
        if isinstance(messages, list) and messages:
            return _short("; ".join(str(m) for m in messages))
        if isinstance(body.get("message"), str):
            return _short(body["message"])
        heat = body.get("error")
        if isinstance(heat, dict) and isinstance(heat.get("message"), str):
            return _short(heat["message"])
        if isinstance(body.get("errors"), list):
            return _short("; ".join(str(e) for e in body["errors"]))
        if len(body) == 1:
            (inner,) = body.values()
            if isinstance(inner, dict) and isinstance(inner.get("message"), str):
                return _short(inner["message"])
    return _short(json.dumps(body, sort_keys=True))


def fault_message(body: Any, fault: str) -> str:
    """The ``message`` of a Nova-style ``{fault: {"message": ...}}`` body, or ''."""
    body = thaw(body)
    if isinstance(body, dict) and isinstance(body.get(fault), dict):
        message = body[fault].get("message")
        if isinstance(message, str):
            return message
    return ""


def describe(start: str, response: Response) -> str:
    """``start``, the response's message and its status: one readable sentence."""
    message = error_message(response.body)
    message = f": {message}" if message else ""
    return f"{start}{message} (HTTP {response.status})"


def unrecognised_outcome(service: str, action: str, response: Response,
                         client_error: Verdict = Verdict.FAILURE,
                         rate_limits: tuple[int, ...] = (429,)) -> StepOutcome:
    """
    What an answer that no specific rule recognised means for a step.

    A status of ``rate_limits`` (429, and 413 for a service that limits with
    it) is RETRY after the wait it asks for. A 401 survived the performer's
    re-authentication: look again later, never a group error. Another 4xx
    gets ``client_error`` (the request will not succeed as it is); a 5xx or
    anything unexpected gets RETRY.
    """
    status = response.status
    if status in rate_limits:
        return StepOutcome(Verdict.RETRY, [describe(
            f"{service} is limiting the rate of requests; will try again to {action}", response)],
            retry_after=retry_after(response))
    if status == 401:
        return StepOutcome(Verdict.RETRY, [describe(
            f"{service} refused otter2's credentials, even fresh ones, when asked to {action}",
            response)])
    if 400 <= status < 500:
        return StepOutcome(client_error, [describe(f"{service} refused to {action}", response)])
    if status >= 500:
        return StepOutcome(Verdict.RETRY, [describe(f"{service} failed to {action}", response)])
    return StepOutcome(Verdict.RETRY, [describe(
        f"{service} answered unexpectedly when asked to {action}", response)])


def retry_after(response: Response) -> float | None:
    """
    The seconds a ``Retry-After`` header asks to wait (its delta-seconds
    form), or None without one; an unreadable value or an HTTP date counts
    as none (the converger interval applies).
    """
    value = str(response.headers.get("retry-after", "")).strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds < 86400 else None


def describe_exception(error: BaseException) -> str:
    """An exception as a short phrase, looking inside Twisted's wrapped failures."""
    if isinstance(error, FirstError):
        return describe_exception(error.exception)
    inner = [getattr(reason, "value", reason) for reason in getattr(error, "reasons", None) or ()]
    if inner:
        return "; ".join(describe_exception(e) for e in inner if isinstance(e, BaseException))
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
