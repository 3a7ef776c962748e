"""
Requests that third-party Auto Scale clients send, replayed as they send them,
and the members of the answers those clients read: existing clients must
work unchanged. Each test names the client and the call it stands for.
"""

from __future__ import annotations

from typing import Any

from tests.api.support import URL_ROOT, APITestCase, minimal_group

#: The headers jclouds' rackspace-autoscale sends with every request.
JCLOUDS_HEADERS = {"Accept": "application/json", "X-Auth-Token": "token"}


def self_href(links: list[dict[str, str]]) -> str:
    """The href of the ``self`` link among ``links``."""
    return next(link["href"] for link in links if link["rel"] == "self")


class JcloudsGroupStateTests(APITestCase):
    """jclouds' ``GroupApi.getState``: ``GET …/groups/{id}/state``, read from
    ``group`` into a GroupState that needs every one of its members."""

    async def state(self, group_id: str) -> dict[str, Any]:
        answer = await self.call("GET", f"/groups/{group_id}/state", headers=JCLOUDS_HEADERS)
        self.assertEqual(answer.code, 200, answer.raw)
        return answer.json["group"]  # type: ignore[no-any-return]

    async def test_state_names_its_group(self) -> None:
        """The state carries the group's id and its self link beside the capacities,
        ``paused`` and the ``active`` servers (Note [State names its group])."""
        group = await self.create_group(minimal_group(minEntities=1))
        state = await self.state(group["id"])
        self.assertEqual(state["id"], group["id"])
        self.assertEqual(self_href(state["links"]), self_href(group["links"]))
        self.assertTrue(self_href(state["links"]).endswith(f"/groups/{group['id']}/"))
        self.assertEqual((state["activeCapacity"], state["pendingCapacity"],
                          state["desiredCapacity"], state["paused"], state["active"]),
                         (0, 1, 1, False, []))

    async def test_paused_state_names_its_group(self) -> None:
        """A paused group's state names it too, and says it is paused."""
        group = await self.create_group()
        await self.call("POST", f"/groups/{group['id']}/pause", headers=JCLOUDS_HEADERS)
        state = await self.state(group["id"])
        self.assertEqual((state["id"], state["paused"]), (group["id"], True))

    async def test_listing_and_manifest_keep_their_shape(self) -> None:
        """The state inside a list entry and a manifest does not repeat the id and
        links the entry and the manifest carry beside it."""
        group = await self.create_group()
        entry = (await self.call("GET", "/groups")).json["groups"][0]
        manifest = (await self.call("GET", f"/groups/{group['id']}")).json["group"]
        self.assertEqual(set(entry), {"id", "links", "state"})
        self.assertFalse({"id", "links"} & (set(entry["state"]) | set(manifest["state"])))


#: The headers pyrax sends with every request.
PYRAX_HEADERS = {"Content-Type": "application/json", "Accept": "application/json",
                 "X-Auth-Token": "token", "User-Agent": "pyrax/1.10.0"}


class PyraxTests(APITestCase):
    """pyrax 1.10's autoscale module: the bodies it builds and the members it reads."""

    async def pyrax(self, method: str, url: str, body: Any = None, code: int = 200) -> Any:
        answer = await self.call(method, url, body, headers=PYRAX_HEADERS)
        self.assertEqual(answer.code, code, answer.raw)
        return answer.json if answer.raw else None

    async def test_create_then_read(self) -> None:
        """``autoscale.create`` sends every member it knows, empty ones included, and
        builds a ScalingGroup from ``group``: its id, configuration and the list of
        ``scalingPolicies`` it turns into policy objects; ``get`` does the same."""
        body = {
            "groupConfiguration": {"name": "pyrax group", "cooldown": 60, "minEntities": 0,
                                   "maxEntities": 5, "metadata": {}},
            "launchConfiguration": {"type": "launch_server", "args": {
                "server": {"flavorRef": "general1-1", "name": "web", "imageRef": "image-1",
                           "metadata": {}, "OS-DCF:diskConfig": "AUTO", "key_name": "key",
                           "networks": [{"uuid": "11111111-1111-1111-1111-111111111111"}]},
                "loadBalancers": [{"loadBalancerId": 1234, "port": 80}]}},
            "scalingPolicies": [],
        }
        created = (await self.pyrax("POST", "/groups", body, 201))["group"]
        got = (await self.pyrax("GET", f"/groups/{created['id']}"))["group"]
        for group in (created, got):
            self.assertEqual(group["groupConfiguration"], body["groupConfiguration"])
            self.assertEqual(group["launchConfiguration"], body["launchConfiguration"])
            self.assertEqual(group["scalingPolicies"], [])

    async def test_state(self) -> None:
        """``get_state`` reads the ids of ``active`` and the three capacities and
        ``paused`` from ``group``."""
        group = await self.create_group(minimal_group(minEntities=1))
        state = (await self.pyrax("GET", f"/groups/{group['id']}/state"))["group"]
        self.assertEqual(([s["id"] for s in state["active"]], state["activeCapacity"],
                          state["desiredCapacity"], state["pendingCapacity"],
                          state["paused"]), ([], 0, 1, 1, False))

    async def test_policies_and_webhooks(self) -> None:
        """``add_policy`` and ``add_webhook`` send a list of one and read the first of
        ``policies`` and ``webhooks``; ``update_webhook`` sends name and metadata
        both; the webhook's ``capability`` link executes anonymously."""
        group = await self.create_group()
        base = f"/groups/{group['id']}/policies"
        policy = (await self.pyrax("POST", base, [
            {"name": "up", "cooldown": 0, "type": "webhook", "changePercent": 50}],
            201))["policies"][0]
        self.assertEqual((policy["name"], policy["changePercent"]), ("up", 50))
        hooks = f"{base}/{policy['id']}/webhooks"
        webhook = (await self.pyrax("POST", hooks, [{"name": "hook", "metadata": {}}],
                                    201))["webhooks"][0]
        await self.pyrax("PUT", f"{hooks}/{webhook['id']}",
                         {"name": "renamed", "metadata": {"a": "1"}}, 204)
        again = (await self.pyrax("GET", f"{hooks}/{webhook['id']}"))["webhook"]
        self.assertEqual((again["name"], again["metadata"]), ("renamed", {"a": "1"}))
        capability = next(link["href"] for link in again["links"]
                          if link["rel"] == "capability")
        answer = await self.call("POST", capability.replace(URL_ROOT, self.base))
        self.assertEqual(answer.code, 202)


class GophercloudTests(APITestCase):
    """gophercloud's rackspace/autoscale/v1: its bodies, the status codes it accepts
    (anything else is an error to it) and the JSON it decodes."""

    async def test_execute_answers_json(self) -> None:
        """``policies.Execute`` posts no body, accepts only 202 and decodes the answer
        as JSON, so an empty body would be an error to it."""
        group = await self.create_group()
        policy = await self.create_policy(group["id"], change=1)
        answer = await self.call(
            "POST", f"/groups/{group['id']}/policies/{policy['id']}/execute",
            headers={"Accept": "application/json"})
        self.assertEqual((answer.code, answer.json), (202, {}))

    async def test_policy_shapes(self) -> None:
        """``policies.Create`` sends ``changePercent`` as a float and an ``at`` in
        RFC 3339 (201); ``Update`` accepts only 204 and ``Delete`` only 204."""
        group = await self.create_group()
        base = f"/groups/{group['id']}/policies"
        created = await self.call("POST", base, [
            {"name": "at", "type": "schedule", "cooldown": 0, "changePercent": -5.5,
             "args": {"at": "2040-06-05T03:12:00Z"}}])
        self.assertEqual(created.code, 201, created.raw)
        policy = created.json["policies"][0]
        self.assertEqual((policy["changePercent"], policy["args"]),
                         (-5.5, {"at": "2040-06-05T03:12:00Z"}))
        url = f"{base}/{policy['id']}"
        updated = await self.call("PUT", url, {
            "name": "cron", "type": "schedule", "cooldown": 0, "desiredCapacity": 2,
            "args": {"cron": "0 8 * * 1-5"}})
        self.assertEqual(updated.code, 204, updated.raw)
        self.assertEqual((await self.call("DELETE", url)).code, 204)

    async def test_webhook_shapes(self) -> None:
        """``webhooks.Create`` may leave out ``metadata`` (201, ``{}`` shown);
        ``Update`` sends name and metadata and accepts only 204."""
        group = await self.create_group()
        policy = await self.create_policy(group["id"], change=1)
        hooks = f"/groups/{group['id']}/policies/{policy['id']}/webhooks"
        created = await self.call("POST", hooks, [
            {"name": "first hook"}, {"name": "second hook", "metadata": {"notes": "n"}}])
        self.assertEqual(created.code, 201, created.raw)
        first, second = created.json["webhooks"]
        self.assertEqual((first["metadata"], second["metadata"]), ({}, {"notes": "n"}))
        updated = await self.call("PUT", f"{hooks}/{first['id']}",
                                  {"name": "updated hook", "metadata": {"k": "v"}})
        self.assertEqual(updated.code, 204, updated.raw)

    async def test_group_pages(self) -> None:
        """``groups.List`` follows the ``next`` link of ``groups_links`` until a page is
        empty, and sees every group once."""
        ids = {(await self.create_group())["id"] for _ in range(3)}
        seen: list[str] = []
        url = "/groups?limit=2"
        while True:
            page = (await self.call("GET", url)).json
            if not page["groups"]:
                break
            seen += [group["id"] for group in page["groups"]]
            nexts = [link["href"] for link in page["groups_links"] if link["rel"] == "next"]
            if not nexts:
                break
            url = nexts[0].replace(URL_ROOT, self.base)
        self.assertEqual(sorted(seen), sorted(ids))


class FogTests(APITestCase):
    """fog's Rackspace AutoScale requests: paths without a trailing slash, the JSON
    headers on every request, and the one status code each accepts."""

    headers = {"Content-Type": "application/json", "Accept": "application/json",
               "X-Auth-Token": "token"}

    async def test_status_codes(self) -> None:
        """update_group_config and update_launch_config (204), pause and resume (204),
        execute_policy (202), delete_policy and delete_group (204), each with the JSON
        headers even when there is no body."""
        group = await self.create_group()
        group_url = f"/groups/{group['id']}"
        policy = await self.create_policy(group["id"], change=1)
        calls = [
            ("PUT", f"{group_url}/config", {"name": "web", "cooldown": 0,
                                            "maxEntities": 3, "minEntities": 0,
                                            "metadata": {}}, 204),
            ("PUT", f"{group_url}/launch", {"type": "launch_server", "args": {
                "server": {"flavorRef": "2", "imageRef": "image-2"}}}, 204),
            ("POST", f"{group_url}/pause", None, 204),
            ("POST", f"{group_url}/resume", None, 204),
            ("POST", f"{group_url}/policies/{policy['id']}/execute", None, 202),
            ("DELETE", f"{group_url}/policies/{policy['id']}", None, 204),
            ("PUT", f"{group_url}/config", {"name": "web", "cooldown": 0,
                                            "maxEntities": 0, "minEntities": 0,
                                            "metadata": {}}, 204),
            ("DELETE", group_url, None, 204),
        ]
        for method, url, body, code in calls:
            answer = await self.call(method, url, body, headers=self.headers)
            self.assertEqual(answer.code, code, (method, url, answer.raw))
