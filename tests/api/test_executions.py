"""
Tests for execution receipts and idempotency keys over HTTP (Note [Receipts]
in otter2.api.operations): a real API on a real SQLite file.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from attrs import evolve
from twisted.internet import defer

from otter2.config import Config, ExecutionsConfig
from tests.api.support import URL_ROOT, Answer, APITestCase


class ReceiptTests(APITestCase):
    """Every execution answers with a receipt its owner can read."""

    async def setup_group(self, **policy: Any) -> tuple[str, str]:
        group = await self.create_group()
        created = await self.create_policy(group["id"], **(policy or {"change": 1}))
        return group["id"], created["id"]

    async def execute(self, group_id: str, policy_id: str,
                      key: str | None = None) -> Answer:
        return await self.call("POST", f"/groups/{group_id}/policies/{policy_id}/execute",
                               headers={} if key is None else {"Idempotency-Key": key})

    async def receipt(self, group_id: str, execution_id: str | None) -> dict[str, Any]:
        answer = await self.call("GET", f"/groups/{group_id}/executions/{execution_id}")
        self.assertEqual(answer.code, 200, answer.raw)
        found: dict[str, Any] = answer.json["execution"]
        return found

    async def test_applied_execution_has_a_receipt(self) -> None:
        """A 202 names its receipt, which says what changed and which request did it."""
        group_id, policy_id = await self.setup_group(change=2)
        answer = await self.execute(group_id, policy_id)
        self.assertEqual(answer.code, 202)
        receipt = await self.receipt(group_id, answer.header("X-Execution-Id"))
        self.assertEqual(
            {k: receipt[k] for k in ("id", "policyId", "trigger", "outcome", "desiredCapacity",
                                     "requestId")},
            {"id": answer.header("X-Execution-Id"), "policyId": policy_id, "trigger": "api",
             "outcome": "applied", "desiredCapacity": {"before": 0, "after": 2},
             "requestId": answer.header("X-Response-Id")})
        self.assertEqual(receipt["links"], [{
            "rel": "self", "href": f"{URL_ROOT}/v1.0/t1/groups/{group_id}/executions/"
                                   f"{receipt['id']}/"}])

    async def test_refused_execution_has_a_receipt(self) -> None:
        """A refusal (cooldown) is answered with its error and a receipt saying why."""
        group_id, policy_id = await self.setup_group(change=1, cooldown=600)
        self.assertEqual((await self.execute(group_id, policy_id)).code, 202)
        refused = await self.execute(group_id, policy_id)
        self.assertEqual(refused.code, 403)
        self.assertEqual(refused.json["error"]["type"], "CannotExecutePolicyError")
        receipt = await self.receipt(group_id, refused.header("X-Execution-Id"))
        self.assertEqual((receipt["outcome"], receipt["desiredCapacity"]),
                         ("refused", {"before": 1, "after": 1}))
        self.assertEqual(receipt["refusal"]["type"], "CannotExecutePolicyError")
        self.assertIn("Cooldowns not met", receipt["refusal"]["message"])

    async def test_one_key_executes_once(self) -> None:
        """50 concurrent executions with one key: +1, and 50 answers naming the
        same execution."""
        group_id, policy_id = await self.setup_group()
        answers = await defer.gatherResults([defer.ensureDeferred(
            self.execute(group_id, policy_id, key="alarm-1")) for _ in range(50)])
        self.assertEqual(Counter(a.code for a in answers), Counter({202: 50}))
        self.assertEqual(len({a.header("X-Execution-Id") for a in answers}), 1)
        self.assertEqual(await self.desired(group_id), 1)
        again = await self.execute(group_id, policy_id, key="alarm-1")
        self.assertEqual(again.header("X-Execution-Id"), answers[0].header("X-Execution-Id"))
        self.assertEqual(await self.desired(group_id), 1)

    async def test_distinct_keys_execute_each(self) -> None:
        """50 concurrent executions with 50 keys: +50, 50 receipts."""
        group_id, policy_id = await self.setup_group()
        answers = await defer.gatherResults([defer.ensureDeferred(
            self.execute(group_id, policy_id, key=f"k{i}")) for i in range(50)])
        self.assertEqual(Counter(a.code for a in answers), Counter({202: 50}))
        self.assertEqual(len({a.header("X-Execution-Id") for a in answers}), 50)
        self.assertEqual(await self.desired(group_id), 50)

    async def test_a_repeated_refusal_is_the_same_refusal(self) -> None:
        """A key first refused answers its repeats with that refusal, even once
        the policy could apply."""
        group_id, policy_id = await self.setup_group(change=1, cooldown=600)
        await self.execute(group_id, policy_id)
        first = await self.execute(group_id, policy_id, key="k")
        await self.call("PUT", f"/groups/{group_id}/policies/{policy_id}",
                        {"name": "p", "type": "webhook", "change": 1, "cooldown": 0})
        again = await self.execute(group_id, policy_id, key="k")
        self.assertEqual((first.code, again.code), (403, 403))
        self.assertEqual(again.header("X-Execution-Id"), first.header("X-Execution-Id"))
        self.assertEqual(again.json, first.json)
        self.assertEqual(await self.desired(group_id), 1)

    async def test_malformed_key_is_refused(self) -> None:
        """A key with spaces or over 255 characters is a 400 and changes nothing."""
        group_id, policy_id = await self.setup_group()
        for key in ("has space", "x" * 256):
            answer = await self.execute(group_id, policy_id, key=key)
            self.assertEqual(answer.code, 400)
            self.assertEqual(answer.json["error"]["type"], "ValidationError")
            self.assertIn("Idempotency-Key", answer.json["error"]["message"])
        self.assertEqual(await self.desired(group_id), 0)
        listed = await self.call("GET", f"/groups/{group_id}/executions")
        self.assertEqual(listed.json["executions"], [])

    async def test_receipts_list_newest_first_in_pages(self) -> None:
        """The group's receipts list newest first, a page at a time."""
        group_id, policy_id = await self.setup_group()
        ids = [(await self.execute(group_id, policy_id)).header("X-Execution-Id")
               for _ in range(3)]
        first = await self.call("GET", f"/groups/{group_id}/executions?limit=2")
        self.assertEqual([e["id"] for e in first.json["executions"]], ids[::-1][:2])
        [link] = first.json["executions_links"]
        second = await self.call("GET", link["href"].replace(URL_ROOT, self.base))
        self.assertEqual([e["id"] for e in second.json["executions"]], ids[:1])

    async def test_receipts_of_unknown_things(self) -> None:
        """An unknown receipt, or another group's, is a 404; so is an unknown group."""
        group_id, policy_id = await self.setup_group()
        other = (await self.create_group())["id"]
        execution_id = (await self.execute(group_id, policy_id)).header("X-Execution-Id")
        for url, error in ((f"/groups/{other}/executions/{execution_id}", "NoSuchExecutionError"),
                           (f"/groups/{group_id}/executions/nope", "NoSuchExecutionError"),
                           ("/groups/nope/executions", "NoSuchScalingGroupError")):
            answer = await self.call("GET", url)
            self.assertEqual((answer.code, answer.json["error"]["type"]), (404, error), url)


class CapabilityReceiptTests(APITestCase):
    """Anonymous executions leave receipts for the owner only."""

    def make_config(self, config: Config) -> Config:
        return evolve(config, executions=ExecutionsConfig(key_field="fingerprint"))

    async def capability(self) -> tuple[str, str]:
        group = await self.create_group()
        policy = await self.create_policy(group["id"], change=1)
        answer = await self.call(
            "POST", f"/groups/{group['id']}/policies/{policy['id']}/webhooks", [{"name": "w"}])
        url = next(link["href"] for link in answer.json["webhooks"][0]["links"]
                   if link["rel"] == "capability").replace(URL_ROOT, self.base)
        return group["id"], url

    async def test_anonymous_receipt_is_the_owners(self) -> None:
        """The anonymous answer is a bare 202; the owner's list shows the webhook's
        execution."""
        group_id, url = await self.capability()
        answer = await self.call("POST", url)
        self.assertEqual((answer.code, answer.raw), (202, b""))
        self.assertIsNone(answer.header("X-Execution-Id"))
        [receipt] = (await self.call("GET", f"/groups/{group_id}/executions")).json[
            "executions"]
        self.assertEqual((receipt["trigger"], receipt["outcome"]), ("webhook", "applied"))
        self.assertIn("webhookId", receipt)

    async def test_alarm_repeats_execute_once(self) -> None:
        """The same alarm delivered twice, by header or by the configured body
        field, executes once; another alarm executes again."""
        group_id, url = await self.capability()
        for _ in range(2):
            await self.call("POST", url, headers={"Idempotency-Key": "a1"})
            await self.call("POST", url, {"fingerprint": "f1", "status": "firing"})
        self.assertEqual(await self.desired(group_id), 2)
        await self.call("POST", url, {"fingerprint": "f2"})
        self.assertEqual(await self.desired(group_id), 3)
