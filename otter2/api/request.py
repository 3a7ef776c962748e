"""
Reading what a request carries: its body (bounded) and query arguments.

test-case-name: tests.api.test_errors, tests.api.test_odd_inputs
"""

from __future__ import annotations

import re
from typing import Any

from twisted.web.server import Request

from otter2.control.errors import APIError, invalid_json
from otter2.control.messages import json_text
from otter2.control.validation import parse_json

# Left in a parsed string only by an escape such as ``\uD800`` without its pair.
_SURROGATE = re.compile("[\ud800-\udfff]")

_WHOLE_NUMBER = re.compile(r"\A\s*(?P<sign>[+-]?)(?P<digits>[0-9]+)\s*\Z")


def _too_large(max_bytes: int) -> APIError:
    return APIError(413, "RequestTooLargeError",
                    f"Request body is larger than the limit of {max_bytes} bytes")


def check_body_size(request: Request, max_bytes: int) -> None:
    """Refuse (413) a request whose body is longer than ``max_bytes``, whether the
    endpoint reads bodies or not."""
    if getattr(request, "body_too_large", False):
        raise _too_large(max_bytes)


def read_json(request: Request, max_bytes: int) -> Any:
    """The request's JSON body; 413 past ``max_bytes``, 400 if not JSON."""
    check_body_size(request, max_bytes)
    content = request.content
    if content is None:
        return parse_json(b"")
    content.seek(0)
    raw = content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise _too_large(max_bytes)
    value = parse_json(raw)
    if _has_lone_surrogate(value):
        raise invalid_json("a string in it holds half of a UTF-16 surrogate pair "
                           "(an escape such as \\ud800 without its partner)")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    """
    Whether a string in ``value`` holds half of a surrogate pair: such a string
    is not Unicode text and cannot be stored, so the body is not JSON that we
    accept. Iterative, since the body may be nested deeply.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def query_arg(request: Request, name: str) -> str | None:
    """The first value of a query argument, or None."""
    args: dict[bytes, list[bytes]] = request.args or {}
    values = args.get(name.encode())
    if not values:
        return None
    return str(values[0].decode("utf-8", errors="replace"))


def bad_query_argument(name: str, value: str, why: str) -> APIError:
    """The 400 of a query argument ``name`` whose ``value`` cannot be used, and ``why``."""
    return APIError(400, "InvalidQueryArgument",
                    f'Invalid query argument for "{name}": {json_text(value)} {why}')


def parse_limit(request: Request, pagination: int) -> int:
    """
    The page size asked for, as Otter read it (spec §2.8): a whole number, where
    0 and negative numbers ask for one item and a number above ``pagination``
    for ``pagination`` items. Anything that is not a whole number is refused.
    """
    text = query_arg(request, "limit")
    if text is None:
        return pagination
    match = _WHOLE_NUMBER.match(text)
    if match is None:
        raise bad_query_argument(
            "limit", text, f"is not a whole number (numbers below 1 are read as 1, "
            f"larger numbers than {pagination} as {pagination})")
    digits = match["digits"].lstrip("0")
    if match["sign"] == "-" or not digits:
        return 1
    return pagination if len(digits) > len(str(pagination)) else min(int(digits), pagination)


def parse_bool(request: Request, name: str, default: bool) -> bool:
    """A ``true``/``false`` query argument (any case); 400 for anything else."""
    text = query_arg(request, name)
    if text is None:
        return default
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise APIError(
            400, "InvalidQueryArgument",
            f'Invalid "{name}" query argument: "{lowered}". Must be "true" or '
            f'"false". Defaults to "{str(default).lower()}" if not provided')
    return lowered == "true"
