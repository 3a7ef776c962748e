"""
The log line of each answer through the HTTP API: a refused request is
logged once with its status, error type, message and response id.
"""

from __future__ import annotations

from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import gatherResults
from twisted.logger import LogEvent, LogLevel, capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from otter2.api.errors import new_response_id, uuid_text
from tests.api.support import URL_ROOT, APITestCase, minimal_group
from tests.api.test_errors import make_fixture


class ErrorLogTests(APITestCase):
    """Every answer is logged on one line; a refusal says why."""

    def setUp(self) -> None:
        super().setUp()
        self.events = self.enterContext(capturedLogs())

    def answers(self, response_id: str) -> list[LogEvent]:
        """The events of the API that log the answer with ``response_id``."""
        return [e for e in self.events if e.get("log_namespace") == "otter2.api"
                and e.get("response_id") == response_id]

    async def test_refusal_logged_with_reason(self) -> None:
        """A 400 is logged once, at info, with its status, type, message and response id."""
        answer = await self.call("POST", "/groups", minimal_group(cooldown=True))
        response_id = answer.header("X-Response-Id")
        assert response_id is not None
        [event] = self.answers(response_id)
        self.assertEqual(event["log_level"], LogLevel.info)
        self.assertEqual(formatEvent(event),
                         f"POST /v1.0/t1/groups 400 ValidationError: groupConfiguration."
                         f"cooldown: true is not an integer (response {response_id})")
        self.assertEqual((event["status"], event["error_type"]), (400, "ValidationError"))

    async def test_every_refusal_logged(self) -> None:
        """400s, 404s and 405s, routing errors included, are logged with the id they
        answer with."""
        for method, url, status, error_type in [
                ("GET", "/groups/nope", 404, "NoSuchScalingGroupError"),
                ("GET", "/nope", 404, "NotFound"),
                ("PUT", "/groups", 405, "InvalidMethod"),
                ("GET", "/groups?limit=x", 400, "InvalidQueryArgument")]:
            answer = await self.call(method, url)
            self.assertEqual(answer.code, status, (url, answer.raw))
            response_id = answer.header("X-Response-Id")
            assert response_id is not None, url
            [event] = self.answers(response_id)
            self.assertEqual((event["status"], event["error_type"], event["reason"]),
                             (status, error_type, answer.json["error"]["message"]))

    async def test_one_line(self) -> None:
        """Control characters of a message (here from the path) are escaped in the log."""
        answer = await self.call("GET", "/groups/a%0Ab%00/state")
        self.assertEqual(answer.json["error"]["message"],
                         "No such scaling group a\nb\x00 for tenant t1")
        [event] = self.answers(answer.header("X-Response-Id") or "")
        self.assertIn("No such scaling group a\\u000ab\\u0000 for tenant t1",
                      formatEvent(event))
        self.assertNotIn("\n", formatEvent(event))

    async def test_success_logged_without_reason(self) -> None:
        """A change that succeeded is logged with its status and no error."""
        answer = await self.call("POST", "/groups", minimal_group())
        self.assertEqual(answer.code, 201)
        [event] = self.answers(answer.header("X-Response-Id") or "")
        self.assertEqual(formatEvent(event),
                         f"POST /v1.0/t1/groups 201 (response {answer.header('X-Response-Id')})")
        self.assertNotIn("error_type", event)

    async def test_successful_read_not_logged(self) -> None:
        """A read that succeeded is not logged; one refused still is."""
        answer = await self.call("GET", "/groups")
        self.assertEqual((answer.code, self.answers(answer.header("X-Response-Id") or "")),
                         (200, []))
        refused = await self.call("GET", "/groups/nope")
        self.assertEqual(len(self.answers(refused.header("X-Response-Id") or "")), 1)

    async def test_capability_hash_never_logged(self) -> None:
        """No answer to a capability URL, even a malformed or refused one, logs its hash
        or tells it back."""
        f = await make_fixture(self)
        capability = f.capability.replace(URL_ROOT, self.base)
        secret = capability.rstrip("/").rsplit("/", 1)[1]
        path = capability[len(self.base):]
        for method, url in [("POST", capability), ("GET", capability),
                            ("POST", capability + "more"), ("POST", self.base + "/" + path),
                            ("POST", self.base + path.replace("/1/", "/1//")),
                            ("POST", self.base + path.replace("execute", "%65xecute"))]:
            answer = await self.call(method, url)
            self.assertNotIn(secret.encode(), answer.raw, url)
        await gatherResults(list(self.api.pending_executions))
        logged = [formatEvent(e) + repr(e) for e in self.events]
        self.assertTrue(logged)
        self.assertEqual([line for line in logged if secret in line], [])


class IdTextTests(SynchronousTestCase):
    """The answer's ids are written as `uuid` writes them."""

    @given(st.binary(min_size=16, max_size=16))
    def test_uuid_text(self, raw: bytes) -> None:
        """Any 32 hex digits read as `uuid` reads them."""
        self.assertEqual(uuid_text(raw.hex()), str(UUID(bytes=raw)))

    def test_new_response_id(self) -> None:
        """A response id is a version 4 UUID in its usual text, fresh each time."""
        ids = [new_response_id() for _ in range(100)]
        self.assertEqual(len(set(ids)), 100)
        for text in ids:
            self.assertEqual((str(UUID(text)), UUID(text).version), (text, 4))
