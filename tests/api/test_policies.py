"""
Policies, webhooks and executions through the HTTP API, plus the limits and
health endpoints (spec rest-api §3.3, §3.4, §4.11 – §4.19, §5, §6, §12
items 17 – 31, 34, 35).
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree import ElementTree

from twisted.internet import reactor
from twisted.internet.defer import DeferredList
from twisted.internet.task import deferLater

from otter2.config import Limits
from tests.api.support import URL_ROOT, APITestCase, minimal_group
from tests.api.test_errors import assert_error

CAPABILITY = re.compile(r"/v1\.0/execute/1/[0-9a-f]{64}/$")
FUTURE = "2099-12-05T03:12:00Z"


CHANGES = {"change", "changePercent", "desiredCapacity"}


def webhook_policy(**fields: Any) -> dict[str, Any]:
    """A webhook policy body: ``fields``, with name, cooldown 0 and change +1 unless given."""
    body = {"name": "p", "type": "webhook", "cooldown": 0, **fields}
    if not CHANGES & set(fields):
        body["change"] = 1
    return body


def schedule_policy(**args: Any) -> dict[str, Any]:
    """A valid schedule policy body with ``args``."""
    return {"name": "s", "type": "schedule", "cooldown": 0, "desiredCapacity": 1,
            "args": args or {"at": FUTURE}}


class PolicyTestCase(APITestCase):
    """Helpers to reach policies and webhooks by URL."""

    async def group_with_policy(self, **policy: Any) -> tuple[str, str]:
        """A group (min 0, max 10, cooldown 0) and one policy; their URLs."""
        group = await self.create_group(minimal_group(maxEntities=10))
        created = await self.create_policy(group["id"], **(policy or {"change": 1}))
        url = f"/groups/{group['id']}"
        return url, f"{url}/policies/{created['id']}"

    async def create_webhooks(self, policy_url: str, *names: str) -> list[dict[str, Any]]:
        """Create webhooks by name and return them."""
        answer = await self.call("POST", f"{policy_url}/webhooks",
                                 [{"name": name} for name in names])
        self.assertEqual(answer.code, 201, answer.raw)
        webhooks: list[dict[str, Any]] = answer.json["webhooks"]
        return webhooks

    def capability(self, webhook: dict[str, Any]) -> str:
        """The capability URL of a webhook, on the test server."""
        href = next(link["href"] for link in webhook["links"] if link["rel"] == "capability")
        return str(href).replace(URL_ROOT, self.base)

    async def execute_anonymously(self, url: str, raw: bytes | None = None) -> None:
        """POST to a capability URL, check the empty 202, and wait for the work behind it."""
        answer = await self.call("POST", url, raw=raw)
        self.assertEqual((answer.code, answer.raw), (202, b""))
        await DeferredList(list(self.api.pending_executions))

    async def execute(self, policy_url: str) -> Any:
        """Execute a policy through the authenticated endpoint."""
        return await self.call("POST", f"{policy_url}/execute")

    async def desired_of(self, group_url: str) -> int:
        """The desired capacity of the group at ``group_url``."""
        return await self.desired(group_url.rsplit("/", 1)[-1])


class PolicyCrudTests(PolicyTestCase):
    """Creating, reading, updating and deleting policies (§4.11 – §4.13, §12 items 17 – 21)."""

    async def test_batch_is_created_in_request_order(self) -> None:
        """A batch of policies answers 201 with Location and the policies in request order."""
        group = await self.create_group()
        bodies = [webhook_policy(name="b", change=2, cooldown=300),
                  webhook_policy(name="a", changePercent=-10, cooldown=600.5),
                  schedule_policy(cron="0 22 * * *"),
                  {"name": "launch day", "type": "schedule", "change": 20, "cooldown": 0,
                   "args": {"at": FUTURE}}]
        answer = await self.call("POST", f"/groups/{group['id']}/policies", bodies)
        self.assertEqual(answer.code, 201, answer.raw)
        collection = f"{URL_ROOT}/v1.0/t1/groups/{group['id']}/policies/"
        self.assertEqual(answer.header("Location"), collection)
        self.assertEqual(set(answer.json), {"policies"})
        created = answer.json["policies"]
        self.assertEqual(len(created), 4)
        for sent, policy in zip(bodies, created, strict=True):
            self.assertEqual(policy, {**sent, "id": policy["id"], "links": [
                {"href": f"{collection}{policy['id']}/", "rel": "self"}]})
        self.assertEqual(len({p["id"] for p in created}), 4)
        for policy in created:
            shown = await self.call("GET", f"/groups/{group['id']}/policies/{policy['id']}")
            self.assertEqual(shown.json, {"policy": policy})

    async def test_values_are_stored_as_sent(self) -> None:
        """Integers stay integers, floats stay floats and an ``at`` keeps its spelling."""
        group = await self.create_group()
        bodies = [webhook_policy(changePercent=10, cooldown=1.5),
                  schedule_policy(at="2099-12-05T03Z")]
        answer = await self.call("POST", f"/groups/{group['id']}/policies", bodies)
        listed = (await self.call("GET", f"/groups/{group['id']}/policies")).json["policies"]
        by_id = {p["id"]: p for p in listed}
        first, second = (by_id[p["id"]] for p in answer.json["policies"])
        self.assertIs(type(first["changePercent"]), int)
        self.assertEqual(first["cooldown"], 1.5)
        self.assertEqual(second["args"], {"at": "2099-12-05T03Z"})

    async def test_list_is_paginated_in_id_order(self) -> None:
        """Policies are listed in ascending id order, with next links on full pages."""
        group = await self.create_group()
        ids = sorted([(await self.create_policy(group["id"], change=1))["id"] for _ in range(3)])
        url = f"/groups/{group['id']}/policies"
        listing = (await self.call("GET", url)).json
        self.assertEqual([p["id"] for p in listing["policies"]], ids)
        self.assertEqual(listing["policies_links"], [])
        page = (await self.call("GET", f"{url}?limit=2")).json
        self.assertEqual([p["id"] for p in page["policies"]], ids[:2])
        collection = f"{URL_ROOT}/v1.0/t1/groups/{group['id']}/policies/"
        self.assertEqual(page["policies_links"], [
            {"href": f"{collection}?limit=2&marker={ids[1]}", "rel": "next"}])
        page = (await self.call("GET", page["policies_links"][0]["href"].replace(
            URL_ROOT, self.base))).json
        self.assertEqual(([p["id"] for p in page["policies"]], page["policies_links"]),
                         (ids[2:], []))

    async def test_empty_list(self) -> None:
        """A group without policies lists none."""
        group = await self.create_group()
        answer = await self.call("GET", f"/groups/{group['id']}/policies")
        self.assertEqual(answer.json, {"policies": [], "policies_links": []})

    async def test_invalid_policies_are_refused(self) -> None:
        """Malformed policies and batches are refused with 400 ValidationError and create nothing."""
        group = await self.create_group()
        url = f"/groups/{group['id']}/policies"
        bad_policies = [
            webhook_policy(change=1, changePercent=5), webhook_policy(change=None),
            webhook_policy(change=1, changePercent=5, desiredCapacity=1),
            {k: v for k, v in webhook_policy().items() if k != "change"},
            webhook_policy(change=0), webhook_policy(change=1.5), webhook_policy(change=True),
            webhook_policy(changePercent=0), webhook_policy(changePercent=0.0),
            webhook_policy(changePercent=True), webhook_policy(desiredCapacity=1.0),
            webhook_policy(desiredCapacity=-1),
            webhook_policy(args={"cron": "* * * * *"}),
            {k: v for k, v in schedule_policy().items() if k != "args"},
            schedule_policy(at=FUTURE, cron="0 * * * *"),
            schedule_policy(at="2001-01-01T00:00:00Z"),
            schedule_policy(at="2099-12-05T03:12:00"),
            schedule_policy(at="2099-12-05T03:12:00+05:00"),
            schedule_policy(at="2099/12/05T03:12:00Z"),
            schedule_policy(at="05-12-2099T03:12:09Z"),
            schedule_policy(at="2099-13-05T03:12:00Z"),
            schedule_policy(at="2099-12-05T03:12:60Z"),
            schedule_policy(at=""), schedule_policy(at="  "),
            schedule_policy(cron="0 0 * * * *"), schedule_policy(cron="@daily"),
            schedule_policy(cron="0 * * *"), schedule_policy(cron="70 * * * *"),
            schedule_policy(cron=""), schedule_policy(cron="0 0 30 2 *"),
            {**schedule_policy(), "args": {}}, {**schedule_policy(), "args": {"other": 1}},
            webhook_policy(cooldown=-1), webhook_policy(cooldown=86401),
            webhook_policy(cooldown="0"), webhook_policy(name=""), webhook_policy(name="  "),
            webhook_policy(name="x" * 257), webhook_policy(type="other"),
            webhook_policy(extra=1), webhook_policy(id="x"), webhook_policy(links=[]),
            {k: v for k, v in webhook_policy().items() if k != "type"},
            {k: v for k, v in webhook_policy().items() if k != "cooldown"},
            {k: v for k, v in webhook_policy().items() if k != "name"},
        ]
        for policy in bad_policies:
            answer = await self.call("POST", url, [webhook_policy(), policy])
            assert_error(self, answer, 400, "ValidationError")
        for body in ([], webhook_policy(), "policy", None, [[webhook_policy()]],
                     [webhook_policy()] * 101):
            answer = await self.call("POST", url, raw=json.dumps(body).encode())
            assert_error(self, answer, 400, "ValidationError")
        answer = await self.call("POST", url, [webhook_policy(
            type="cloud_monitoring", args={"check": {}, "alarm_criteria": {}})])
        assert_error(self, answer, 400, "ValidationError",
                     "[0].type: cloud_monitoring policy disabled")
        answer = await self.call("POST", url, [schedule_policy(
            cron="* * * * *", check={})])
        assert_error(self, answer, 400, "ValidationError")
        self.assertEqual((await self.call("GET", url)).json["policies"], [])

    async def test_valid_schedules_are_accepted(self) -> None:
        """Every ``at`` and ``cron`` spelling Otter accepted is accepted and echoed."""
        group = await self.create_group()
        ats = ["2099-12-05T03:12:00Z", "2099-12-05T03:12:00.5Z", "2099-12-05T03:12Z",
               "2099-12-05T03Z", "2099-12-05 03:12:00Z", "20991205T031200Z", "2099-12-05Z"]
        crons = ["0 22 * * *", "*/5 1-3 * * *", "0 0 1,15 * 1-5", "0 0 L * *",
                 "0 0 * JAN MON", "0 0 * * 7"]
        bodies = ([schedule_policy(at=at) for at in ats] +
                  [schedule_policy(cron=cron) for cron in crons])
        answer = await self.call("POST", f"/groups/{group['id']}/policies", bodies)
        self.assertEqual(answer.code, 201, answer.raw)
        self.assertEqual([p["args"] for p in answer.json["policies"]],
                         [b["args"] for b in bodies])

    async def test_update_replaces_the_policy(self) -> None:
        """A valid PUT answers 204, and GET shows exactly the new body plus id and links."""
        url, policy = await self.group_with_policy(change=1, cooldown=30)
        new = webhook_policy(name="renamed", desiredCapacity=4, cooldown=5)
        answer = await self.call("PUT", policy, new)
        self.assertEqual((answer.code, answer.raw), (204, b""))
        shown = (await self.call("GET", policy)).json["policy"]
        policy_id = policy.rsplit("/", 1)[-1]
        self.assertEqual(shown, {**new, "id": policy_id, "links": [
            {"href": f"{URL_ROOT}/v1.0/t1{policy}/", "rel": "self"}]})

    async def test_schedule_update(self) -> None:
        """A schedule policy may be updated to other args, which are validated again."""
        group = await self.create_group()
        created = await self.create_policy(group["id"], **{
            k: v for k, v in schedule_policy().items() if k not in ("name",)})
        url = f"/groups/{group['id']}/policies/{created['id']}"
        for args in ({"cron": "0 1 * * *"}, {"at": "2098-01-01T00:00:00Z"}):
            answer = await self.call("PUT", url, schedule_policy(**args))
            self.assertEqual(answer.code, 204, answer.raw)
            self.assertEqual((await self.call("GET", url)).json["policy"]["args"], args)
        answer = await self.call("PUT", url, schedule_policy(at="2001-01-01T00:00:00Z"))
        assert_error(self, answer, 400, "ValidationError")

    async def test_type_may_not_change(self) -> None:
        """A PUT with another type is refused with 400 and leaves the policy unchanged."""
        url, policy = await self.group_with_policy(change=1)
        before = (await self.call("GET", policy)).json
        answer = await self.call("PUT", policy, schedule_policy())
        assert_error(self, answer, 400, "ValidationError",
                     'type: Cannot change type of a scaling policy (it is "webhook"); '
                     "create a new policy instead")
        self.assertEqual((await self.call("GET", policy)).json, before)

    async def test_delete_removes_policy_and_webhooks(self) -> None:
        """A deleted policy and its webhooks are gone, and its capability URLs do nothing."""
        url, policy = await self.group_with_policy(change=1)
        [webhook] = await self.create_webhooks(policy, "alarm")
        answer = await self.call("DELETE", policy)
        self.assertEqual((answer.code, answer.raw), (204, b""))
        assert_error(self, await self.call("GET", policy), 404, "NoSuchPolicyError")
        assert_error(self, await self.call("GET", f"{policy}/webhooks"), 404,
                     "NoSuchPolicyError")
        assert_error(self, await self.call("GET", f"{policy}/webhooks/{webhook['id']}"), 404,
                     "NoSuchWebhookError")
        assert_error(self, await self.call("DELETE", policy), 404, "NoSuchPolicyError")
        assert_error(self, await self.call("POST", f"{policy}/execute"), 404,
                     "NoSuchPolicyError")
        await self.execute_anonymously(self.capability(webhook))
        self.assertEqual(await self.desired_of(url), 0)
        self.assertEqual((await self.call("GET", f"{url}/policies")).json["policies"], [])

    async def test_unknown_policy_is_404(self) -> None:
        """Every path of an unknown policy answers 404 NoSuchPolicyError."""
        url, _ = await self.group_with_policy()
        policy = f"{url}/policies/nope"
        group_id = url.rsplit("/", 1)[-1]
        message = f"No such scaling policy nope for group {group_id} for tenant t1"
        for method, path, body in (("GET", policy, None), ("PUT", policy, webhook_policy()),
                                   ("DELETE", policy, None), ("POST", f"{policy}/execute", None),
                                   ("GET", f"{policy}/webhooks", None),
                                   ("POST", f"{policy}/webhooks", [{"name": "w"}])):
            assert_error(self, await self.call(method, path, body), 404, "NoSuchPolicyError",
                         message)

    async def test_policies_of_unknown_group_are_404(self) -> None:
        """Policy paths under an unknown group answer 404 NoSuchScalingGroupError."""
        _, policy = await self.group_with_policy()
        policy = policy.replace(policy.split("/")[2], "nope")
        for method, path, body in (("GET", policy, None), ("PUT", policy, webhook_policy()),
                                   ("DELETE", policy, None),
                                   ("POST", f"{policy}/execute", None),
                                   ("GET", f"{policy}/webhooks", None),
                                   ("GET", f"{policy}/webhooks/w", None)):
            assert_error(self, await self.call(method, path, body), 404,
                         "NoSuchScalingGroupError")


class PolicyLimitTests(PolicyTestCase):
    """The maxPoliciesPerGroup limit (§4.11, §12 item 19)."""

    limits = Limits(max_policies_per_group=3)

    async def test_policies_over_the_limit_are_refused(self) -> None:
        """A batch that would pass the limit gets 422 and creates none; one that fits is created."""
        group = await self.create_group()
        url = f"/groups/{group['id']}/policies"
        self.assertEqual((await self.call("POST", url, [webhook_policy()] * 2)).code, 201)
        answer = await self.call("POST", url, [webhook_policy()] * 2)
        assert_error(self, answer, 422, "PoliciesOverLimitError",
                     f"Currently there are 2 policies for tenant t1, scaling group "
                     f"{group['id']}. Creating 2 new policies would exceed the policy "
                     f"limit of 3 per group.")
        self.assertEqual(len((await self.call("GET", url)).json["policies"]), 2)
        self.assertEqual((await self.call("POST", url, [webhook_policy()])).code, 201)
        assert_error(self, await self.call("POST", url, [webhook_policy()]), 422,
                     "PoliciesOverLimitError")
        other = await self.create_group()
        self.assertEqual((await self.call("POST", f"/groups/{other['id']}/policies",
                                          [webhook_policy()] * 3)).code, 201)

    async def test_deleting_makes_room(self) -> None:
        """Deleting a policy lets another be created."""
        group = await self.create_group()
        ids = [(await self.create_policy(group["id"], change=1))["id"] for _ in range(3)]
        await self.call("DELETE", f"/groups/{group['id']}/policies/{ids[0]}")
        await self.create_policy(group["id"], change=1)


class WebhookTests(PolicyTestCase):
    """Webhooks of a policy (§4.15, §4.16, §6, §12 items 28, 30)."""

    async def test_webhooks_are_created_with_capabilities(self) -> None:
        """Created webhooks come in request order with self and capability links."""
        url, policy = await self.group_with_policy()
        answer = await self.call("POST", f"{policy}/webhooks",
                                 [{"name": "b"}, {"name": "a", "metadata": {"note": "x"}}])
        self.assertEqual(answer.code, 201, answer.raw)
        collection = f"{URL_ROOT}/v1.0/t1{policy}/webhooks/"
        self.assertEqual(answer.header("Location"), collection)
        self.assertEqual(set(answer.json), {"webhooks"})
        first, second = answer.json["webhooks"]
        self.assertEqual((first["name"], first["metadata"]), ("b", {}))
        self.assertEqual((second["name"], second["metadata"]), ("a", {"note": "x"}))
        for webhook in (first, second):
            self.assertEqual(set(webhook), {"id", "name", "metadata", "links"})
            self_link, capability = webhook["links"]
            self.assertEqual(self_link, {"href": f"{collection}{webhook['id']}/",
                                         "rel": "self"})
            self.assertEqual(capability["rel"], "capability")
            self.assertTrue(capability["href"].startswith(f"{URL_ROOT}/v1.0/execute/1/"))
            self.assertRegex(capability["href"], CAPABILITY)
            shown = await self.call("GET", f"{policy}/webhooks/{webhook['id']}")
            self.assertEqual(shown.json, {"webhook": webhook})
        self.assertNotEqual(self.capability(first), self.capability(second))

    async def test_list_is_paginated_in_id_order(self) -> None:
        """Webhooks are listed in ascending id order, with next links on full pages."""
        _, policy = await self.group_with_policy()
        hooks = await self.create_webhooks(policy, "a", "b", "c")
        ordered = sorted(hooks, key=lambda w: w["id"])
        listing = (await self.call("GET", f"{policy}/webhooks")).json
        self.assertEqual(listing, {"webhooks": ordered, "webhooks_links": []})
        page = (await self.call("GET", f"{policy}/webhooks?limit=2")).json
        self.assertEqual(page["webhooks"], ordered[:2])
        self.assertEqual(page["webhooks_links"], [
            {"href": f"{URL_ROOT}/v1.0/t1{policy}/webhooks/?limit=2&marker={ordered[1]['id']}",
             "rel": "next"}])
        page = (await self.call("GET", page["webhooks_links"][0]["href"].replace(
            URL_ROOT, self.base))).json
        self.assertEqual(page, {"webhooks": ordered[2:], "webhooks_links": []})

    async def test_update_keeps_the_capability(self) -> None:
        """PUT replaces name and metadata, keeps the capability, and needs both fields."""
        _, policy = await self.group_with_policy()
        [webhook] = await self.create_webhooks(policy, "a")
        url = f"{policy}/webhooks/{webhook['id']}"
        answer = await self.call("PUT", url, {"name": "renamed", "metadata": {"k": "v"}})
        self.assertEqual((answer.code, answer.raw), (204, b""))
        shown = (await self.call("GET", url)).json["webhook"]
        self.assertEqual(shown, {**webhook, "name": "renamed", "metadata": {"k": "v"}})
        body: object
        for body in ({"name": "x"}, {"metadata": {}}, {"name": "x", "metadata": {},
                                                       "extra": 1},
                     {"name": "", "metadata": {}}, {"name": "x", "metadata": {"k": 1}},
                     [{"name": "x", "metadata": {}}]):
            assert_error(self, await self.call("PUT", url, body), 400, "ValidationError")
        self.assertEqual((await self.call("GET", url)).json["webhook"], shown)

    async def test_invalid_webhooks_are_refused(self) -> None:
        """Malformed webhook batches are refused with 400 and create nothing."""
        _, policy = await self.group_with_policy()
        url = f"{policy}/webhooks"
        body: object
        for body in ([], {"name": "w"}, [{}], [{"name": "  "}], [{"name": "x" * 257}],
                     [{"name": "w", "metadata": {"a": {"b": "c"}}}], [{"name": "w", "id": "x"}],
                     [{"name": "w"}] * 101, [{"name": "w", "metadata": None}]):
            assert_error(self, await self.call("POST", url, body), 400, "ValidationError")
        self.assertEqual((await self.call("GET", url)).json["webhooks"], [])

    async def test_webhooks_over_the_limit_are_refused(self) -> None:
        """A 26th webhook on a policy is refused with 422 WebhooksOverLimitError."""
        group_url, policy = await self.group_with_policy()
        await self.create_webhooks(policy, *[f"w{i}" for i in range(25)])
        answer = await self.call("POST", f"{policy}/webhooks", [{"name": "one more"}])
        policy_id = policy.rsplit("/", 1)[-1]
        group_id = group_url.rsplit("/", 1)[-1]
        assert_error(self, answer, 422, "WebhooksOverLimitError",
                     f"Currently there are 25 webhooks for tenant t1, scaling group "
                     f"{group_id}, policy {policy_id}.  Creating 1 new webhooks would "
                     f"exceed the webhook limit of 25 per policy.")
        self.assertEqual(len((await self.call("GET", f"{policy}/webhooks")).json["webhooks"]),
                         25)
        other = await self.create_policy(group_id, change=1)
        answer = await self.call("POST", f"{group_url}/policies/{other['id']}/webhooks",
                                 [{"name": "w"}] * 26)
        assert_error(self, answer, 422, "WebhooksOverLimitError")

    async def test_deleted_webhook_is_gone(self) -> None:
        """A deleted webhook answers 404, and so does deleting it again."""
        _, policy = await self.group_with_policy()
        keep, gone = await self.create_webhooks(policy, "keep", "gone")
        url = f"{policy}/webhooks/{gone['id']}"
        answer = await self.call("DELETE", url)
        self.assertEqual((answer.code, answer.raw), (204, b""))
        for method, body in (("GET", None), ("PUT", {"name": "n", "metadata": {}}),
                             ("DELETE", None)):
            assert_error(self, await self.call(method, url, body), 404, "NoSuchWebhookError")
        listing = (await self.call("GET", f"{policy}/webhooks")).json["webhooks"]
        self.assertEqual(listing, [keep])

    async def test_webhook_under_unknown_policy_is_no_such_webhook(self) -> None:
        """A webhook path under a policy that does not exist answers NoSuchWebhookError."""
        group_url, policy = await self.group_with_policy()
        [webhook] = await self.create_webhooks(policy, "w")
        url = f"{group_url}/policies/nope/webhooks/{webhook['id']}"
        for method, body in (("GET", None), ("PUT", {"name": "n", "metadata": {}}),
                             ("DELETE", None)):
            assert_error(self, await self.call(method, url, body), 404, "NoSuchWebhookError")

    async def test_schedule_policies_take_webhooks(self) -> None:
        """Webhooks may be created for schedule policies, and execute them."""
        group = await self.create_group(minimal_group(maxEntities=10))
        created = await self.create_policy(group["id"], **{
            k: v for k, v in schedule_policy().items() if k != "name"})
        [webhook] = await self.create_webhooks(
            f"/groups/{group['id']}/policies/{created['id']}", "w")
        await self.execute_anonymously(self.capability(webhook))
        self.assertEqual(await self.desired(group["id"]), 1)


class AnonymousExecutionTests(PolicyTestCase):
    """``POST /v1.0/execute/{version}/{hash}`` (§4.17, §6, §12 item 31)."""

    async def test_capability_executes_the_policy(self) -> None:
        """POST to a capability URL answers 202 with an empty body and executes the policy."""
        url, policy = await self.group_with_policy(change=2)
        [webhook] = await self.create_webhooks(policy, "alarm")
        await self.execute_anonymously(self.capability(webhook))
        self.assertEqual(await self.desired_of(url), 2)
        await self.execute_anonymously(self.capability(webhook).rstrip("/"))
        self.assertEqual(await self.desired_of(url), 4)
        await self.execute_anonymously(self.capability(webhook), raw=b"{not json")
        self.assertEqual(await self.desired_of(url), 6)

    async def test_unknown_capabilities_do_nothing(self) -> None:
        """Unknown or upper-cased hashes answer the same empty 202 and change nothing."""
        url, policy = await self.group_with_policy(change=2)
        [webhook] = await self.create_webhooks(policy, "alarm")
        capability = self.capability(webhook)
        known_hash = capability.rstrip("/").rsplit("/", 1)[-1]
        for target in (self.base + "/v1.0/execute/1/deadbeef/",
                       capability.replace(known_hash, known_hash.upper()),
                       capability.replace(known_hash, "0" * 64)):
            await self.execute_anonymously(target)
        self.assertEqual(await self.desired_of(url), 0)

    async def test_other_versions_answer_202(self) -> None:
        """A capability under another version answers the same empty 202."""
        _, policy = await self.group_with_policy(change=2)
        [webhook] = await self.create_webhooks(policy, "alarm")
        await self.execute_anonymously(self.capability(webhook).replace("/execute/1/",
                                                                        "/execute/2/"))

    async def test_deleted_webhook_does_nothing(self) -> None:
        """The URL of a deleted webhook answers 202 and changes nothing."""
        url, policy = await self.group_with_policy(change=2)
        [webhook] = await self.create_webhooks(policy, "alarm")
        await self.call("DELETE", f"{policy}/webhooks/{webhook['id']}")
        await self.execute_anonymously(self.capability(webhook))
        self.assertEqual(await self.desired_of(url), 0)

    async def test_deleted_group_does_nothing(self) -> None:
        """The URL of a webhook of a deleted group answers 202 and fails quietly."""
        url, policy = await self.group_with_policy(change=2)
        [webhook] = await self.create_webhooks(policy, "alarm")
        self.assertEqual((await self.call("DELETE", url)).code, 204)
        await self.execute_anonymously(self.capability(webhook))

    async def test_refusals_are_silent(self) -> None:
        """A paused group, a cooldown or no change all answer the empty 202 and change nothing."""
        url, policy = await self.group_with_policy(change=10, cooldown=600)
        [webhook] = await self.create_webhooks(policy, "alarm")
        capability = self.capability(webhook)
        await self.call("POST", f"{url}/pause")
        await self.execute_anonymously(capability)
        self.assertEqual(await self.desired_of(url), 0)
        await self.call("POST", f"{url}/resume")
        await self.execute_anonymously(capability)
        self.assertEqual(await self.desired_of(url), 10)
        await self.execute_anonymously(capability)
        self.assertEqual(await self.desired_of(url), 10)

    async def test_get_is_405(self) -> None:
        """A capability URL takes only POST."""
        _, policy = await self.group_with_policy()
        [webhook] = await self.create_webhooks(policy, "alarm")
        for method in ("GET", "PUT", "DELETE"):
            answer = await self.call(method, self.capability(webhook))
            self.assertEqual(answer.code, 405, method)


class ExecutionTests(PolicyTestCase):
    """The authenticated execute and the policy math (§4.14, §5, §12 items 22 – 27)."""

    async def test_execute_answers_202_with_empty_object(self) -> None:
        """A successful execution answers 202 with the body ``{}``."""
        url, policy = await self.group_with_policy(change=3)
        answer = await self.execute(policy)
        self.assertEqual((answer.code, answer.json), (202, {}))
        self.assertEqual(answer.header("Content-Type"), "application/json")
        self.assertEqual(await self.desired_of(url), 3)

    async def test_worked_examples(self) -> None:
        """Every row of the worked examples gives the documented desired capacity and status."""
        rows: list[tuple[int, int | None, int, dict[str, Any], int, bool]] = [
            (0, 10, 5, {"change": 5}, 10, True),
            (0, 10, 8, {"change": 5}, 10, True),
            (0, 10, 10, {"change": 1}, 10, False),
            (5, 10, 10, {"change": -5}, 5, True),
            (5, 10, 8, {"change": -5}, 5, True),
            (5, 10, 5, {"change": -1}, 5, False),
            (0, 10, 5, {"changePercent": 20}, 6, True),
            (0, 10, 8, {"changePercent": 75}, 10, True),
            (5, 10, 10, {"changePercent": -50}, 5, True),
            (5, 10, 8, {"changePercent": -80}, 5, True),
            (0, 10, 0, {"changePercent": 100}, 0, False),
            (0, 10, 5, {"desiredCapacity": 25}, 10, True),
            (5, 10, 8, {"desiredCapacity": 0}, 5, True),
            (5, 10, 5, {"desiredCapacity": 5}, 5, False),
            (0, None, 1000, {"change": 1}, 1000, False),
            # §5.3's percentage examples, with D = 5 and D = 10
            (0, 100, 5, {"changePercent": 50}, 8, True),
            (0, 100, 5, {"changePercent": 5}, 6, True),
            (0, 100, 5, {"changePercent": 75}, 9, True),
            (0, 100, 5, {"changePercent": -50}, 2, True),
            (0, 100, 5, {"changePercent": -5}, 4, True),
            (0, 100, 5, {"changePercent": -75}, 1, True),
            (0, 100, 10, {"changePercent": 10}, 11, True),
            (0, 100, 10, {"changePercent": -100}, 0, True),
            (0, 100, 10, {"changePercent": -200}, 0, True),
            (0, 100, 10, {"changePercent": 12.5}, 12, True),
        ]
        for minimum, maximum, desired, change, expected, accepted in rows:
            fields = {"minEntities": minimum}
            if maximum is not None:
                fields["maxEntities"] = maximum
            group = await self.create_group(minimal_group(**fields))
            url = f"/groups/{group['id']}"
            if desired != minimum:
                setup = await self.create_policy(group["id"], desiredCapacity=desired)
                await self.execute(f"{url}/policies/{setup['id']}")
            self.assertEqual(await self.desired(group["id"]), desired)
            policy = await self.create_policy(group["id"], **change)
            answer = await self.execute(f"{url}/policies/{policy['id']}")
            row = (minimum, maximum, desired, change)
            if accepted:
                self.assertEqual((answer.code, answer.json), (202, {}), row)
            else:
                assert_error(self, answer, 403, "CannotExecutePolicyError",
                             f"Cannot execute scaling policy {policy['id']} for group "
                             f"{group['id']} for tenant t1: No change in servers")
            self.assertEqual(await self.desired(group["id"]), expected, row)

    async def test_policy_cooldown(self) -> None:
        """A policy with cooldown 60 executes once, then is refused for cooldowns."""
        url, policy = await self.group_with_policy(change=1, cooldown=60)
        self.assertEqual((await self.execute(policy)).code, 202)
        policy_id = policy.rsplit("/", 1)[-1]
        assert_error(self, await self.execute(policy), 403, "CannotExecutePolicyError",
                     f"Cannot execute scaling policy {policy_id} for group "
                     f"{url.rsplit('/', 1)[-1]} for tenant t1: Cooldowns not met.")
        self.assertEqual(await self.desired_of(url), 1)

    async def test_group_cooldown(self) -> None:
        """After one policy executes, another is refused within the group cooldown."""
        group = await self.create_group(minimal_group(cooldown=60, maxEntities=10))
        first = await self.create_policy(group["id"], change=1)
        second = await self.create_policy(group["id"], change=2)
        url = f"/groups/{group['id']}/policies"
        self.assertEqual((await self.execute(f"{url}/{first['id']}")).code, 202)
        answer = await self.execute(f"{url}/{second['id']}")
        assert_error(self, answer, 403, "CannotExecutePolicyError")
        self.assertTrue(answer.json["error"]["message"].endswith(": Cooldowns not met."))
        self.assertEqual(await self.desired(group["id"]), 1)

    async def test_cooldown_elapses(self) -> None:
        """Once a (fractional) policy cooldown has elapsed the policy executes again."""
        url, policy = await self.group_with_policy(change=1, cooldown=1)
        self.assertEqual((await self.execute(policy)).code, 202)
        self.assertEqual((await self.execute(policy)).code, 403)
        await deferLater(reactor, 1.05, lambda: None)
        self.assertEqual((await self.execute(policy)).code, 202)
        self.assertEqual(await self.desired_of(url), 2)

    async def test_refused_execution_starts_no_cooldown(self) -> None:
        """A refused execution touches no cooldown clock; only successful ones do."""
        group = await self.create_group(minimal_group(cooldown=60, maxEntities=1))
        down = await self.create_policy(group["id"], change=-1, cooldown=60)
        up = await self.create_policy(group["id"], change=1, cooldown=60)
        url = f"/groups/{group['id']}/policies"
        assert_error(self, await self.execute(f"{url}/{down['id']}"), 403,
                     "CannotExecutePolicyError")
        self.assertEqual((await self.execute(f"{url}/{up['id']}")).code, 202)
        answer = await self.execute(f"{url}/{down['id']}")
        self.assertTrue(answer.json["error"]["message"].endswith("Cooldowns not met."))
        self.assertEqual(await self.desired(group["id"]), 1)

    async def test_update_keeps_the_cooldown_clock(self) -> None:
        """An updated policy keeps its last execution time, under its new cooldown."""
        url, policy = await self.group_with_policy(change=1, cooldown=60)
        self.assertEqual((await self.execute(policy)).code, 202)
        await self.call("PUT", policy, webhook_policy(change=2, cooldown=60))
        assert_error(self, await self.execute(policy), 403, "CannotExecutePolicyError")
        await self.call("PUT", policy, webhook_policy(change=2, cooldown=0))
        self.assertEqual((await self.execute(policy)).code, 202)
        self.assertEqual(await self.desired_of(url), 3)

    async def test_scale_up_at_max(self) -> None:
        """At maxEntities a scale-up is refused with 'No change in servers'."""
        group = await self.create_group(minimal_group(minEntities=3, maxEntities=3))
        policy = await self.create_policy(group["id"], change=1)
        answer = await self.execute(f"/groups/{group['id']}/policies/{policy['id']}")
        assert_error(self, answer, 403, "CannotExecutePolicyError")
        self.assertTrue(answer.json["error"]["message"].endswith(": No change in servers"))

    async def test_paused_group_refuses_execution(self) -> None:
        """A paused group refuses executions with GroupPausedError until resumed."""
        url, policy = await self.group_with_policy(change=1)
        await self.call("POST", f"{url}/pause")
        assert_error(self, await self.execute(policy), 403, "GroupPausedError")
        self.assertEqual(await self.desired_of(url), 0)
        self.assertEqual((await self.call("POST", f"{url}/resume")).code, 204)
        self.assertEqual((await self.execute(policy)).code, 202)
        self.assertEqual(await self.desired_of(url), 1)

    async def test_schedule_policy_executes_on_demand(self) -> None:
        """A schedule policy can be executed through the API too."""
        group = await self.create_group(minimal_group(maxEntities=10))
        created = await self.create_policy(group["id"], **{
            k: v for k, v in schedule_policy(cron="0 0 * * *").items() if k != "name"})
        answer = await self.execute(f"/groups/{group['id']}/policies/{created['id']}")
        self.assertEqual(answer.code, 202, answer.raw)
        self.assertEqual(await self.desired(group["id"]), 1)


class LimitsTests(PolicyTestCase):
    """``GET /limits`` (§4.18, §12 item 34)."""

    limits = Limits(max_groups=7, max_policies_per_group=8, max_webhooks_per_policy=9)

    async def test_limits_as_json(self) -> None:
        """The limits are the configured absolute limits, as JSON by default."""
        for headers in (None, {"Accept": "application/json"}, {"Accept": "*/*"}):
            answer = await self.call("GET", "/limits", headers=headers)
            self.assertEqual(answer.code, 200, answer.raw)
            self.assertEqual(answer.header("Content-Type"), "application/json")
            self.assertEqual(answer.json, {"limits": {"absolute": {
                "maxGroups": 7, "maxPoliciesPerGroup": 8, "maxWebhooksPerPolicy": 9}}})
            self.assertTrue(answer.header("X-Response-Id"))

    async def test_limits_as_xml(self) -> None:
        """An Accept header mentioning xml gets the limits as OpenStack XML."""
        for accept in ("application/xml", "text/xml", "application/json;q=0.5, "
                                                      "application/xml"):
            answer = await self.call("GET", "/limits", headers={"Accept": accept})
            self.assertEqual(answer.code, 200, answer.raw)
            self.assertEqual(answer.header("Content-Type"), "application/xml")
            self.assertTrue(answer.raw.startswith(
                b"<?xml version='1.0' encoding='UTF-8'?>"), answer.raw)
            root = ElementTree.fromstring(answer.raw)
            namespace = "{http://docs.openstack.org/common/api/v1.0}"
            self.assertEqual(root.tag, f"{namespace}limits")
            limits = {element.get("name"): element.get("value")
                      for element in root.iter(f"{namespace}limit")}
            self.assertEqual(limits, {"maxGroups": "7", "maxPoliciesPerGroup": "8",
                                      "maxWebhooksPerPolicy": "9"})
            self.assertEqual([child.tag for child in root], [f"{namespace}absolute"])

    async def test_limits_are_the_same_for_every_tenant(self) -> None:
        """Limits are per deployment, not per tenant."""
        mine = await self.call("GET", "/limits")
        theirs = await self.call("GET", self.base + "/v1.0/other/limits")
        self.assertEqual(mine.json, theirs.json)


class ServiceTests(APITestCase):
    """``/health`` and ``/`` (§4.19, §12 item 35)."""

    async def test_health(self) -> None:
        """/health answers 200 with a healthy key, and its own response id."""
        for url in ("/health", "/health/"):
            answer = await self.call("GET", self.base + url)
            self.assertEqual(answer.code, 200, answer.raw)
            self.assertIs(answer.json["healthy"], True)
            self.assertEqual(answer.header("X-Response-Id"), "health_check")
            self.assertEqual(answer.header("Content-Type"), "application/json")

    async def test_root(self) -> None:
        """GET / answers 200 with an empty body when nothing is configured."""
        answer = await self.call("GET", self.base + "/")
        self.assertEqual((answer.code, answer.raw), (200, b""))
