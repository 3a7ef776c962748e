"""
The one log line of every answer, and Otter's error body for the answers
that no route gives (unknown paths, wrong methods, empty path segments).

Each answer that changed something or was refused is logged once, with its
response id: a refused request (4xx) with its error type and message, so
that an operator reading the log sees why a client was refused without
asking the client. A read that succeeded (GET or HEAD answered below 400)
is not logged: reads are most of the traffic and change nothing, and
writing a line for each cost a quarter of the API's throughput.

test-case-name: tests.api.test_error_log
"""

from __future__ import annotations

import json
import os
from urllib.parse import unquote

from twisted.logger import Logger
from twisted.web.iweb import IRequest

from otter2.control.errors import APIError
from otter2.control.messages import escape_controls

log = Logger(namespace="otter2.api")

_READS = (b"GET", b"HEAD")


def uuid_text(hex32: str) -> str:
    """The 32 lowercase hex digits of a UUID in its usual text form (as
    ``str(UUID(hex=hex32))``, without building the object: every write
    answers with one or two)."""
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


def new_response_id() -> str:
    """A fresh random (version 4) UUID as text, as ``str(uuid4())`` is, at a
    third of its cost: every answer has one."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    return uuid_text(raw.hex())


def request_path(request: IRequest) -> str:
    """
    The path asked for, as text (percent escapes kept) for messages and logs,
    except that a capability URL is shown as ``/v1.0/execute/…``: its hash is a
    secret, and a log must not hold it, even from a malformed path.
    """
    path = str(request.path.decode("utf-8", "replace"))
    if "%" not in path and "/execute" not in path:  # as below, without splitting
        return path
    if [segment for segment in unquote(path).split("/") if segment][:2] == ["v1.0",
                                                                           "execute"]:
        return "/v1.0/execute/…"
    return path


def _one_line(text: str) -> str:
    """``escape_controls(text)``, skipped for text with no control character
    (each is unprintable): nearly every method and path."""
    return text if text.isprintable() else escape_controls(text)


def log_answer(request: IRequest, status: int, response_id: str,
               error: APIError | None = None) -> None:
    """
    Log one line for an answered request: method, path and status, and for an
    error its type and message (on one line, control characters escaped);
    nothing for a read that succeeded (see the module docstring).
    """
    if error is None and status < 400 and request.method in _READS:
        return
    method = _one_line(request.method.decode("latin-1"))
    path = _one_line(request_path(request))
    if error is None:
        log.info("{method} {path} {status} (response {response_id})", method=method,
                 path=path, status=status, response_id=response_id)
        return
    emit = log.error if status >= 500 else log.info
    emit("{method} {path} {status} {error_type}: {reason} (response {response_id})",
         method=method, path=path, status=status, response_id=response_id,
         error_type=error.error_type, reason=escape_controls(error.message))


def error_page(request: IRequest, error: APIError) -> bytes:
    """Answer ``request`` with ``error``'s status and body, under a fresh response id,
    and log it."""
    response_id = new_response_id()
    request.setResponseCode(error.status)
    request.setHeader(b"X-Response-Id", response_id.encode())
    request.setHeader(b"Content-Type", b"application/json")
    log_answer(request, error.status, response_id, error)
    return json.dumps(error.body()).encode()
