"""
Optional rate limits and content-type check of the API (spec rest-api §1),
for running without a proxy in front.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from otter2.api.ratelimit import FixedWindowLimiter
from otter2.config import Limits
from tests.api.support import APITestCase, minimal_group
from tests.api.test_errors import assert_error


class FixedWindowLimiterTests(SynchronousTestCase):
    """A fixed window of requests per key."""

    def test_window(self) -> None:
        """Two per minute: the third waits for the next minute; keys are apart."""
        clock = Clock()
        clock.advance(120)
        limiter = FixedWindowLimiter(clock, 2, 60)
        self.assertEqual([limiter.allow("t1"), limiter.allow("t1")], [None, None])
        clock.advance(15)
        self.assertEqual(limiter.allow("t1"), 45)
        self.assertIsNone(limiter.allow("t2"))
        self.assertEqual(limiter.remaining("t1"), (0, 180))
        clock.advance(45)
        self.assertIsNone(limiter.allow("t1"))
        self.assertEqual(limiter.remaining("t1"), (1, 240))


class RateLimitedAPITests(APITestCase):
    """Past the limit the API answers 413 with Retry-After and does nothing."""

    limits = Limits(tenant_per_minute=3, execute_per_second=2)

    async def test_tenant_limit(self) -> None:
        """The fourth call of a tenant within a minute is refused; others go on."""
        for _ in range(3):
            self.assertEqual((await self.call("GET", "/groups")).code, 200)
        answer = await self.call("POST", "/groups", minimal_group())
        assert_error(self, answer, 413, "OverLimit")
        self.assertTrue(1 <= int(answer.header("Retry-After") or 0) <= 60)
        self.assertEqual(await self.store.list_groups("t1", 10, None), [])
        other = await self.call("GET", f"{self.base}/v1.0/t2/groups")
        self.assertEqual(other.code, 200)

    async def test_limits_show_rate(self) -> None:
        """GET limits lists both rates with what remains."""
        answer = await self.call("GET", "/limits")
        rate = answer.json["limits"]["rate"]
        self.assertEqual([(r["uri"], r["limit"][0]["value"], r["limit"][0]["unit"],
                           r["limit"][0]["remaining"]) for r in rate],
                         [("/v1.0/tenantId/*", 3, "MINUTE", 2),
                          ("/v1.0/execute/*", 2, "SECOND", 2)])

    async def test_execute_limit(self) -> None:
        """Anonymous executions past the limit per second get 413 until the next second."""
        clock = Clock()
        self.api.execute_limiter = FixedWindowLimiter(clock, 2, 1)
        url = f"{self.base}/v1.0/execute/1/{'a' * 64}"
        codes = [(await self.call("POST", url)).code for _ in range(3)]
        self.assertEqual(codes, [202, 202, 413])
        clock.advance(1)
        self.assertEqual((await self.call("POST", url)).code, 202)


class NoRateLimitTests(APITestCase):
    """By default nothing is limited and limits show no rate."""

    async def test_default(self) -> None:
        """Many calls pass; no rate in limits."""
        for _ in range(10):
            self.assertEqual((await self.call("GET", "/groups")).code, 200)
        self.assertNotIn("rate", (await self.call("GET", "/limits")).json["limits"])


class ContentTypeTests(APITestCase):
    """With require_json, a body must say it is JSON."""

    limits = Limits(require_json=True)

    async def test_content_type(self) -> None:
        """No or another content type: 415 and nothing created; JSON: created."""
        answer = await self.call("POST", "/groups", minimal_group())
        assert_error(self, answer, 415, "UnsupportedMediaType")
        answer = await self.call("POST", "/groups", minimal_group(),
                                 headers={"Content-Type": "text/plain"})
        assert_error(self, answer, 415, "UnsupportedMediaType")
        self.assertEqual(await self.store.list_groups("t1", 10, None), [])
        answer = await self.call("POST", "/groups", minimal_group(),
                                 headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(answer.code, 201)
