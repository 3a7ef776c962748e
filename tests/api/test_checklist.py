"""
Items of the REST spec's black-box checklist (spec §12, with §2.4 and §3.3.3)
that no other module pins, through the HTTP API.
"""

from __future__ import annotations

from typing import Any

from otter2.config import Limits
from tests.api.support import URL_ROOT, Answer, APITestCase, minimal_group
from tests.api.test_errors import assert_error

DESCENDING = ["6-0 * * * *", "* 6-0 * * *", "* * 20-3 * *", "* * * 12-1 *", "* * * * 6-0",
              "* * * * FRI-MON", "* * * DEC-JAN *"]


def cron_policy(cron: str) -> dict[str, Any]:
    """A schedule policy firing on ``cron``."""
    return {"name": "nightly", "type": "schedule", "cooldown": 0, "change": 1,
            "args": {"cron": cron}}


class DescendingCronTests(APITestCase):
    """A cron range whose start is above its end, in any field, is refused with 400
    ValidationError wherever a policy is written (spec §3.3.3), and nothing is
    stored."""

    async def test_group_creation(self) -> None:
        """A new group's schedule policy with a descending range creates no group."""
        for cron in DESCENDING:
            answer = await self.call("POST", "/groups", {
                **minimal_group(), "scalingPolicies": [cron_policy(cron)]})
            assert_error(self, answer, 400, "ValidationError")
        self.assertEqual((await self.call("GET", "/groups")).json["groups"], [])

    async def test_create_and_update(self) -> None:
        """POST …/policies and PUT …/policies/{id} refuse it; the stored policy stays."""
        group_id = (await self.create_group())["id"]
        url = f"/groups/{group_id}/policies"
        for cron in DESCENDING:
            answer = await self.call("POST", url, [cron_policy(cron)])
            assert_error(self, answer, 400, "ValidationError")
        self.assertEqual((await self.call("GET", url)).json["policies"], [])
        created = (await self.call("POST", url, [cron_policy("0 6 * * 0-6")])).json
        policy_url = f"{url}/{created['policies'][0]['id']}"
        for cron in DESCENDING:
            answer = await self.call("PUT", policy_url, cron_policy(cron))
            assert_error(self, answer, 400, "ValidationError")
        stored = (await self.call("GET", policy_url)).json["policy"]
        self.assertEqual(stored["args"], {"cron": "0 6 * * 0-6"})


class EveryAnswerIsJSONTests(APITestCase):
    """Every kind of answer the checklist walks through carries ``Content-Type:
    application/json`` and an ``X-Response-Id`` (spec §2.4): 201s, the capability
    URL's empty 202, bodiless 204s, and errors of every status."""

    limits = Limits(max_groups=1, max_policies_per_group=1, max_webhooks_per_policy=1)

    async def test_every_kind_of_answer(self) -> None:
        """Create, execute, update, pause, resume, converge, delete and refusals."""
        answers: list[tuple[str, int, Answer]] = []

        async def call(method: str, url: str, status: int, body: Any = None) -> Answer:
            answer = await self.call(method, url, body)
            answers.append((f"{method} {url}", status, answer))
            return answer

        created = await call("POST", "/groups", 201, minimal_group(maxEntities=5))
        group = f"/groups/{created.json['group']['id']}"
        policies = await call("POST", f"{group}/policies", 201,
                              [{"name": "p", "type": "webhook", "change": 1, "cooldown": 0}])
        policy = f"{group}/policies/{policies.json['policies'][0]['id']}"
        webhooks = await call("POST", f"{policy}/webhooks", 201, [{"name": "w"}])
        webhook = f"{policy}/webhooks/{webhooks.json['webhooks'][0]['id']}"
        capability = webhooks.json["webhooks"][0]["links"][1]["href"].replace(
            URL_ROOT, self.base)
        launch = minimal_group()["launchConfiguration"]
        for method, url, status, body in [
                ("POST", capability, 202, None),
                ("POST", f"{self.base}/v1.0/execute/1/deadbeef/", 202, None),
                ("POST", f"{policy}/execute", 202, None),
                ("PUT", f"{group}/launch", 204, launch),
                ("PUT", policy, 204, {"name": "q", "type": "webhook", "change": 2,
                                      "cooldown": 0}),
                ("PUT", webhook, 204, {"name": "v", "metadata": {}}),
                ("POST", f"{group}/pause", 204, None),
                ("POST", f"{group}/converge", 403, None),
                ("POST", f"{group}/resume", 204, None),
                ("POST", f"{group}/converge", 204, None),
                ("POST", "/groups", 400, {"groupConfiguration": {}}),
                ("POST", "/groups", 422, minimal_group()),
                ("GET", "/groups?limit=abc", 400, None),
                ("POST", f"{group}/policies", 422,
                 [{"name": "p", "type": "webhook", "change": 1, "cooldown": 0}]),
                ("POST", f"{policy}/webhooks", 422, [{"name": "w"}]),
                ("GET", f"{group}/servers", 501, None),
                ("DELETE", f"{group}/servers/nope?replace=maybe", 400, None),
                ("DELETE", group, 403, None),
                ("DELETE", webhook, 204, None),
                ("DELETE", policy, 204, None),
                ("DELETE", f"{group}?force=true", 204, None),
                ("GET", group, 404, None)]:
            await call(method, url, status, body)
        for what, status, answer in answers:
            self.assertEqual(answer.code, status, (what, answer.raw))
            self.assertEqual(answer.header("Content-Type"), "application/json", what)
            self.assertTrue(answer.header("X-Response-Id"), what)
            if status == 204 or (status == 202 and "/v1.0/execute/" in what):
                self.assertEqual(answer.raw, b"", what)
            elif status == 202:
                self.assertEqual(answer.json, {}, what)


class OtterWordingTests(APITestCase):
    """Where spec §2.5 gives Otter's fixed message for a refusal, the message says
    it, word for word (after the field it names, before what to do instead)."""

    def assert_says(self, answer: Answer, error_type: str, words: str) -> None:
        error = assert_error(self, answer, 400, error_type)
        self.assertIn(words, error["message"])

    async def test_fixed_messages(self) -> None:
        """min above max, a 6-field or unparsable cron, a Z-less or past ``at``, a
        policy's type changed, a bad ``limit``: each message holds Otter's words."""
        self.assert_says(await self.call("POST", "/groups", minimal_group(
            minEntities=5, maxEntities=4)), "InvalidMinEntities",
            "minEntities must be less than or equal to maxEntities")
        group_id = (await self.create_group())["id"]
        url = f"/groups/{group_id}/policies"
        for args, words in [
                ({"cron": "0 0 * * * *"}, 'Invalid "0 0 * * * *" cron entry: Seconds not allowed'),
                ({"cron": "@daily"}, "'@daily' is not a 'cron'"),
                ({"at": "2030-12-05T03:12:00"}, "'2030-12-05T03:12:00' is not a 'date-time'"),
                ({"at": "2001-01-01T00:00:00Z"},
                 'Invalid "2001-01-01T00:00:00Z" datetime: It must be in the future')]:
            policy = {"name": "p", "type": "schedule", "cooldown": 0, "change": 1, "args": args}
            self.assert_says(await self.call("POST", url, [policy]), "ValidationError", words)
        created = (await self.call("POST", url, [{"name": "p", "type": "webhook",
                                                  "cooldown": 0, "change": 1}])).json
        self.assert_says(await self.call("PUT", f"{url}/{created['policies'][0]['id']}", {
            "name": "p", "type": "schedule", "cooldown": 0, "change": 1,
            "args": {"cron": "0 0 * * *"}}), "ValidationError",
            "Cannot change type of a scaling policy")
        self.assert_says(await self.call("GET", "/groups?limit=abc"), "InvalidQueryArgument",
                         'Invalid query argument for "limit"')
