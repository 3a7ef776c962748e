"""
Whether Identity can be reached: the ``identity`` part of ``/health`` when a
cloud is configured. Any HTTP answer below 500 to a GET of the configured
Identity URL counts; no credentials are sent, so the check costs Identity
nothing and never locks an account out.

test-case-name: tests.api.test_health
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from twisted.web.http_headers import Headers

from otter2.effects.http import USER_AGENT, HTTPClient


def identity_check(http: HTTPClient, url: str) -> Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]:
    """The part of ``/health`` that says whether Identity at ``url`` answers."""
    async def check() -> tuple[bool, dict[str, Any]]:
        try:
            response = await http.request("GET", url,
                                          headers=Headers({"User-Agent": [USER_AGENT]}))
            await response.content()
        except Exception as e:
            return False, {"url": url, "reason": f"Identity cannot be reached: "
                                                 f"{str(e) or type(e).__name__}"}
        details = {"url": url, "status": response.code}
        if response.code >= 500:
            return False, {**details, "reason": f"Identity answers {response.code}"}
        return True, details
    return check
