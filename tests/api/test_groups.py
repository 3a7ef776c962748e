"""
Scaling groups through the HTTP API: create, list, manifest, delete, state,
configurations, pause and resume, converge, servers, and the routing rules
every path follows (spec rest-api §2, §4.1 – §4.10, §12 items 1 – 16, 32, 33).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from attrs import evolve

from otter2.config import Limits
from otter2.model import GroupStatus
from tests.api.support import URL_ROOT, APITestCase, minimal_group
from tests.api.test_errors import assert_error, make_fixture

SERVICENET = {"uuid": "11111111-1111-1111-1111-111111111111"}
UUID4 = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")


def with_server(**server: Any) -> dict[str, Any]:
    """A create-group body whose server template is ``server``."""
    body = minimal_group()
    body["launchConfiguration"]["args"]["server"] = server
    return body


def with_args(**args: Any) -> dict[str, Any]:
    """A create-group body whose launch_server args also hold ``args``."""
    body = minimal_group()
    body["launchConfiguration"]["args"].update(args)
    return body


def config(**fields: Any) -> dict[str, Any]:
    """A whole group configuration, as PUT config wants it."""
    return {"name": "web", "cooldown": 0, "minEntities": 0, "maxEntities": 10,
            "metadata": {}, **fields}


def hrefs(document: Any) -> list[str]:
    """Every link href anywhere in a JSON document."""
    if isinstance(document, dict):
        found = [document["href"]] if set(document) == {"href", "rel"} else []
        return found + [h for value in document.values() for h in hrefs(value)]
    if isinstance(document, list):
        return [h for value in document for h in hrefs(value)]
    return []


class CreateGroupTests(APITestCase):
    """``POST /groups`` (§4.2, §12 items 1 – 8)."""

    async def test_minimal_group_is_created_with_defaults(self) -> None:
        """A minimal group answers 201 with a Location, its id and every default filled."""
        answer = await self.call("POST", "/groups", minimal_group())
        self.assertEqual(answer.code, 201, answer.raw)
        group = answer.json["group"]
        self.assertRegex(group["id"], UUID4)
        url = f"{URL_ROOT}/v1.0/t1/groups/{group['id']}/"
        self.assertEqual(answer.header("Location"), url)
        self.assertEqual(group["links"], [{"href": url, "rel": "self"}])
        self.assertEqual(group["groupConfiguration"], {
            "name": "web", "cooldown": 0, "minEntities": 0, "maxEntities": 1000,
            "metadata": {}})
        self.assertEqual(group["launchConfiguration"],
                         minimal_group()["launchConfiguration"])
        self.assertEqual(group["scalingPolicies"], [])
        self.assertEqual(group["scalingPolicies_links"],
                         [{"href": url + "policies/", "rel": "policies"}])
        self.assertEqual(answer.header("Content-Type"), "application/json")
        self.assertTrue(answer.header("X-Response-Id"))

    async def test_desired_capacity_starts_at_min(self) -> None:
        """A new group's desired and pending capacity are its minEntities."""
        group = await self.create_group(minimal_group(minEntities=3, maxEntities=5))
        state = (await self.call("GET", f"/groups/{group['id']}/state")).json["group"]
        self.assertEqual((state["desiredCapacity"], state["pendingCapacity"],
                          state["activeCapacity"], state["active"]), (3, 3, 0, []))

    async def test_policies_are_created_in_request_order(self) -> None:
        """Policies given at creation come back in request order, each with an id and a self link."""
        body = minimal_group(metadata={"team": "ops"})
        body["scalingPolicies"] = [
            {"name": f"p{i}", "type": "webhook", "cooldown": i, "change": i + 1}
            for i in range(5)]
        answer = await self.call("POST", "/groups", body)
        self.assertEqual(answer.code, 201, answer.raw)
        group = answer.json["group"]
        policies = group["scalingPolicies"]
        self.assertEqual([p["name"] for p in policies], ["p0", "p1", "p2", "p3", "p4"])
        for sent, policy in zip(body["scalingPolicies"], policies, strict=True):
            url = f"{URL_ROOT}/v1.0/t1/groups/{group['id']}/policies/{policy['id']}/"
            self.assertEqual(policy, {**sent, "id": policy["id"],
                                      "links": [{"href": url, "rel": "self"}]})
        self.assertEqual(group["groupConfiguration"]["metadata"], {"team": "ops"})
        listed = (await self.call("GET", f"/groups/{group['id']}/policies")).json
        self.assertEqual(sorted(p["id"] for p in listed["policies"]),
                         sorted(p["id"] for p in policies))

    async def test_invalid_configurations_are_refused(self) -> None:
        """Out-of-bounds or malformed group configurations are refused with 400 and create nothing."""
        bad: list[tuple[dict[str, Any], str]] = [
            ({"name": ""}, "ValidationError"), ({"name": "   "}, "ValidationError"),
            ({"name": "x" * 257}, "ValidationError"), ({"name": 5}, "ValidationError"),
            ({"cooldown": -1}, "ValidationError"), ({"cooldown": 1.5}, "ValidationError"),
            ({"cooldown": 86401}, "ValidationError"), ({"cooldown": True}, "ValidationError"),
            ({"minEntities": -1}, "ValidationError"),
            ({"minEntities": 1001}, "ValidationError"),
            ({"minEntities": 1.0}, "ValidationError"),
            ({"maxEntities": 1001}, "ValidationError"),
            ({"maxEntities": -1}, "ValidationError"),
            ({"maxEntities": None}, "InvalidMinEntities"),
            ({"minEntities": 5, "maxEntities": 4}, "InvalidMinEntities"),
            ({"extra": 1}, "ValidationError"),
            ({"metadata": {"a": {"b": "c"}}}, "ValidationError"),
            ({"metadata": {"a": 1}}, "ValidationError"),
            ({"metadata": {"a": None}}, "ValidationError"),
            ({"metadata": {"a": "x" * 257}}, "ValidationError"),
            ({"metadata": {"k" * 257: "v"}}, "ValidationError"),
            ({"metadata": {"a\nb": "v"}}, "ValidationError"),
        ]
        for fields, error_type in bad:
            answer = await self.call("POST", "/groups", minimal_group(**fields))
            assert_error(self, answer, 400, error_type)
        for key in ("name", "cooldown", "minEntities"):
            body = minimal_group()
            del body["groupConfiguration"][key]
            assert_error(self, await self.call("POST", "/groups", body), 400,
                         "ValidationError")
        for document in ({"groupConfiguration": minimal_group()["groupConfiguration"]},
                         {"launchConfiguration": minimal_group()["launchConfiguration"]},
                         {**minimal_group(), "scalingPolicies": None},
                         {**minimal_group(), "extra": {}}, [minimal_group()], "group"):
            assert_error(self, await self.call("POST", "/groups", document), 400,
                         "ValidationError")
        answer = await self.call("POST", "/groups", minimal_group(minEntities=5,
                                                                  maxEntities=4))
        assert_error(self, answer, 400, "InvalidMinEntities",
                     "minEntities must be less than or equal to maxEntities (they are 5 "
                     "and 4)")
        self.assertEqual((await self.call("GET", "/groups")).json["groups"], [])

    async def test_bounds_are_accepted(self) -> None:
        """The extreme valid values of the group configuration are accepted and echoed."""
        for fields in ({"maxEntities": 1000}, {"cooldown": 86400}, {"maxEntities": 0},
                       {"name": "x" * 256}, {"name": " ☃ "}, {"minEntities": 7,
                                                              "maxEntities": 7},
                       {"metadata": {"": "", "k" * 256: "v" * 256}}):
            group = await self.create_group(minimal_group(**fields))
            for key, value in fields.items():
                self.assertEqual(group["groupConfiguration"][key], value)

    async def test_image_and_flavor_rules(self) -> None:
        """flavorRef must be a string, and an image or a block device mapping is required."""
        server: dict[str, Any]
        for server in ({"flavorRef": 2, "imageRef": "i"}, {"flavorRef": "f"},
                       {"imageRef": "i"}, {"flavorRef": "", "imageRef": "i"},
                       {"flavorRef": "a b", "imageRef": "i"},
                       {"flavorRef": "f", "imageRef": "a b"},
                       {"flavorRef": "f", "imageRef": ""},
                       {"flavorRef": "f", "imageRef": None}):
            answer = await self.call("POST", "/groups", with_server(**server))
            assert_error(self, answer, 400, "ValidationError")
        for server in ({"flavorRef": "f", "imageRef": "", "block_device_mapping_v2": [{}]},
                       {"flavorRef": "f", "block_device_mapping": [{}]},
                       {"flavorRef": "f", "imageRef": None, "block_device_mapping_v2": [{}]},
                       {"flavorRef": "f", "imageRef": "i", "name": "web",
                        "OS-DCF:diskConfig": "AUTO", "user_data": "aGk="}):
            group = await self.create_group(with_server(**server))
            self.assertEqual(group["launchConfiguration"]["args"]["server"], server)

    async def test_servicenet_rule(self) -> None:
        """A CLB needs ServiceNet among given networks; no networks or RCv3 only is fine."""
        clb = [{"loadBalancerId": 4711, "port": 80}]
        rcv3 = [{"loadBalancerId": "pool-1", "type": "RackConnectV3"}]
        other = [{"uuid": "00000000-0000-0000-0000-000000000000"}]
        server = {"flavorRef": "f", "imageRef": "i"}
        refused = [(clb, other), (clb, []), (clb + rcv3, other),
                   (clb, [{**SERVICENET, "fixed_ip": "10.0.0.1"}])]
        for balancers, networks in refused:
            body = with_args(loadBalancers=balancers,
                             server={**server, "networks": networks})
            assert_error(self, await self.call("POST", "/groups", body), 400,
                         "ValidationError", "launchConfiguration.args.server.networks: "
                         "ServiceNet network must be present if one or more Cloud Load "
                         "Balancers are configured.")
        accepted = [with_args(loadBalancers=clb),
                    with_args(loadBalancers=clb, server={**server,
                                                         "networks": other + [SERVICENET]}),
                    with_args(loadBalancers=rcv3, server={**server, "networks": other})]
        for body in accepted:
            group = await self.create_group(body)
            self.assertEqual(group["launchConfiguration"], body["launchConfiguration"])

    async def test_load_balancer_rules(self) -> None:
        """At most five distinct, well-formed load balancer entries are accepted."""
        refused = [
            [{"loadBalancerId": i, "port": 80} for i in range(6)],
            [{"loadBalancerId": 1, "port": 80}, {"loadBalancerId": 1, "port": 80}],
            [{"loadBalancerId": 1}],
            [{"loadBalancerId": "pool", "type": "RackConnectV3", "port": 80}],
            [{"loadBalancerId": "pool", "type": "rackconnectv3"}],
            [{"loadBalancerId": 5, "type": "RackConnectV3"}],
            [{"loadBalancerId": "", "port": 80}],
            [{"loadBalancerId": 1, "port": "80"}],
            [{"loadBalancerId": 1, "port": 80, "extra": 1}],
        ]
        for balancers in refused:
            answer = await self.call("POST", "/groups", with_args(loadBalancers=balancers))
            assert_error(self, answer, 400, "ValidationError")
        accepted = [
            [{"loadBalancerId": i, "port": 80} for i in range(5)],
            [{"loadBalancerId": 1, "port": 80}, {"loadBalancerId": 1, "port": 8080}],
            [{"loadBalancerId": "abc", "port": 80, "type": "CloudLoadBalancer"},
             {"loadBalancerId": "pool", "type": "RackConnectV3"}],
            [],
        ]
        for balancers in accepted:
            group = await self.create_group(with_args(loadBalancers=balancers))
            self.assertEqual(group["launchConfiguration"]["args"]["loadBalancers"],
                             balancers)

    async def test_draining_timeout_bounds(self) -> None:
        """draining_timeout must lie within 30 – 3600 seconds."""
        for value in (29, 3601, 29.9, "60", None):
            answer = await self.call("POST", "/groups", with_args(draining_timeout=value))
            assert_error(self, answer, 400, "ValidationError")
        for value in (30, 3600, 45.5):
            group = await self.create_group(with_args(draining_timeout=value))
            self.assertEqual(group["launchConfiguration"]["args"]["draining_timeout"], value)

    async def test_server_metadata_rules(self) -> None:
        """Server metadata keys and values are restricted, and a null metadata is dropped."""
        metadata: object
        for metadata in ({"a/b": "v"}, {"k": "v" * 256}, {"": "v"}, {"k" * 256: "v"},
                         {"k": 1}, {"k": {"n": "v"}}, []):
            answer = await self.call("POST", "/groups", with_server(
                flavorRef="f", imageRef="i", metadata=metadata))
            assert_error(self, answer, 400, "ValidationError")
        metadata = {"Role-1_a:b. c": "v" * 255, "k" * 255: ""}
        group = await self.create_group(with_server(flavorRef="f", imageRef="i",
                                                    metadata=metadata))
        self.assertEqual(group["launchConfiguration"]["args"]["server"]["metadata"], metadata)
        group = await self.create_group(with_server(flavorRef="f", imageRef="i",
                                                    metadata=None))
        self.assertNotIn("metadata", group["launchConfiguration"]["args"]["server"])
        launch = (await self.call("GET", f"/groups/{group['id']}/launch")).json
        self.assertEqual(launch["launchConfiguration"]["args"]["server"],
                         {"flavorRef": "f", "imageRef": "i"})

    async def test_launch_stack_is_accepted(self) -> None:
        """A launch_stack configuration needs a stack with exactly one template."""
        stack = {"template": "heat_template_version: 2015-10-15", "parameters": {"a": 1}}
        body = minimal_group()
        body["launchConfiguration"] = {"type": "launch_stack", "args": {"stack": stack}}
        group = await self.create_group(body)
        self.assertEqual(group["launchConfiguration"], body["launchConfiguration"])
        args: dict[str, Any]
        for args in ({}, {"stack": {}}, {"stack": {**stack, "template_url": "http://x"}},
                     {"stack": stack, "server": {}}):
            body["launchConfiguration"] = {"type": "launch_stack", "args": args}
            assert_error(self, await self.call("POST", "/groups", body), 400,
                         "ValidationError")
        body["launchConfiguration"] = {"type": "launch_other", "args": {}}
        assert_error(self, await self.call("POST", "/groups", body), 400, "ValidationError")


class GroupLimitTests(APITestCase):
    """The maxGroups limit (§12 item 9)."""

    limits = Limits(max_groups=2)

    async def test_group_over_the_limit_is_refused(self) -> None:
        """The (maxGroups + 1)-th group of a tenant gets 422; other tenants are not counted."""
        await self.create_group()
        await self.create_group()
        answer = await self.call("POST", "/groups", minimal_group())
        assert_error(self, answer, 422, "ScalingGroupOverLimitError",
                     "Allowed limit of 2 scaling groups reached by tenant t1")
        self.assertEqual(len((await self.call("GET", "/groups")).json["groups"]), 2)
        await self.create_group(tenant="t2")

    async def test_deleted_groups_do_not_count(self) -> None:
        """Deleting a group makes room for another."""
        first = await self.create_group()
        await self.create_group()
        self.assertEqual((await self.call("DELETE", f"/groups/{first['id']}")).code, 204)
        await self.create_group()


class UnknownGroupTests(APITestCase):
    """A group id that does not exist (§12 item 10)."""

    async def test_every_group_path_is_404(self) -> None:
        """Every read and write of an unknown group answers 404 NoSuchScalingGroupError."""
        await self.create_group()
        group = "/groups/3f3f3f3f-0000-4000-8000-000000000000"
        policy = {"name": "p", "type": "webhook", "cooldown": 0, "change": 1}
        calls = [("GET", group, None), ("DELETE", group, None),
                 ("DELETE", group + "?force=true", None), ("GET", group + "/state", None),
                 ("GET", group + "/config", None), ("PUT", group + "/config", config()),
                 ("GET", group + "/launch", None),
                 ("PUT", group + "/launch", minimal_group()["launchConfiguration"]),
                 ("POST", group + "/pause", None), ("POST", group + "/resume", None),
                 ("POST", group + "/converge", None), ("GET", group + "/policies", None),
                 ("POST", group + "/policies", [policy]),
                 ("DELETE", group + "/servers/s1", None)]
        for method, url, body in calls:
            answer = await self.call(method, url, body)
            assert_error(self, answer, 404, "NoSuchScalingGroupError",
                         "No such scaling group 3f3f3f3f-0000-4000-8000-000000000000 "
                         "for tenant t1")

    async def test_invalid_launch_for_unknown_group_is_400(self) -> None:
        """An invalid launch configuration sent to a missing group is refused as invalid first."""
        answer = await self.call("PUT", "/groups/nope/launch", {"type": "launch_server"})
        assert_error(self, answer, 400, "ValidationError")


class ListGroupsTests(APITestCase):
    """``GET /groups`` and its pagination (§4.1, §2.8, §12 items 11, 12)."""

    limits = Limits(pagination=4)

    async def page(self, url: str) -> dict[str, Any]:
        """A page of groups, following an absolute link or a relative URL."""
        answer = await self.call("GET", url.replace(URL_ROOT, self.base))
        self.assertEqual(answer.code, 200, answer.raw)
        page: dict[str, Any] = answer.json
        return page

    async def test_no_groups(self) -> None:
        """A tenant without groups gets empty lists."""
        self.assertEqual(await self.page("/groups"), {"groups": [], "groups_links": []})

    async def test_entries_hold_id_links_and_state(self) -> None:
        """Each entry has exactly id, a self link and the state."""
        group = await self.create_group(minimal_group(minEntities=2, name="api"))
        listing = await self.page("/groups")
        self.assertEqual(listing["groups_links"], [])
        [entry] = listing["groups"]
        self.assertEqual(set(entry), {"id", "links", "state"})
        self.assertEqual(entry["id"], group["id"])
        self.assertEqual(entry["links"], group["links"])
        self.assertEqual(entry["state"], {
            "name": "api", "paused": False, "status": "ACTIVE", "desiredCapacity": 2,
            "active": [], "activeCapacity": 0, "pendingCapacity": 2})

    async def test_groups_are_in_ascending_id_order(self) -> None:
        """Groups are listed in ascending id order, not creation order."""
        ids = [(await self.create_group())["id"] for _ in range(4)]
        listing = await self.page("/groups")
        self.assertEqual([g["id"] for g in listing["groups"]], sorted(ids))

    async def test_pages_follow_next_links(self) -> None:
        """A full page links to the next one with limit and marker; the last page has no link."""
        ids = sorted([(await self.create_group())["id"] for _ in range(3)])
        first = await self.page("/groups?limit=2")
        self.assertEqual([g["id"] for g in first["groups"]], ids[:2])
        [link] = first["groups_links"]
        self.assertEqual(link, {"rel": "next", "href": f"{URL_ROOT}/v1.0/t1/groups/"
                                                       f"?limit=2&marker={ids[1]}"})
        second = await self.page(link["href"])
        self.assertEqual([g["id"] for g in second["groups"]], ids[2:])
        self.assertEqual(second["groups_links"], [])

    async def test_full_last_page_links_to_an_empty_page(self) -> None:
        """A last page that happens to be full still links to an empty page without a link."""
        ids = sorted([(await self.create_group())["id"] for _ in range(2)])
        first = await self.page("/groups?limit=2")
        self.assertEqual([g["id"] for g in first["groups"]], ids)
        [link] = first["groups_links"]
        self.assertEqual(await self.page(link["href"]), {"groups": [], "groups_links": []})

    async def test_limit_is_clamped(self) -> None:
        """limit above the pagination setting acts as that setting, absent as it."""
        ids = sorted([(await self.create_group())["id"] for _ in range(5)])
        for limit, size in (("1", 1), ("4", 4), ("5", 4), ("1000", 4), (None, 4)):
            url = "/groups" if limit is None else f"/groups?limit={limit}"
            listing = await self.page(url)
            self.assertEqual([g["id"] for g in listing["groups"]], ids[:size], url)
            query = parse_qs(urlsplit(listing["groups_links"][0]["href"]).query)
            self.assertEqual(query, {"limit": [str(size)], "marker": [ids[size - 1]]})

    async def test_marker_is_any_string(self) -> None:
        """Any marker gives the groups whose id sorts after it, without an error."""
        ids = sorted([(await self.create_group())["id"] for _ in range(3)])
        self.assertEqual(await self.page(f"/groups?marker={ids[0]}"),
                         await self.page(f"/groups?marker={ids[0]}&limit=4"))
        for marker in (ids[0], ids[1], "", "~", "not-an-id", ids[2][:3], "0"):
            listing = await self.page(f"/groups?marker={marker}")
            self.assertEqual([g["id"] for g in listing["groups"]],
                             [i for i in ids if i > marker], marker)

    async def test_deleted_groups_are_not_listed(self) -> None:
        """A deleted group disappears from the list at once."""
        keep, gone = await self.create_group(), await self.create_group()
        self.assertEqual((await self.call("DELETE", f"/groups/{gone['id']}")).code, 204)
        listing = await self.page("/groups")
        self.assertEqual([g["id"] for g in listing["groups"]], [keep["id"]])

    async def test_unknown_query_arguments_are_ignored(self) -> None:
        """Query arguments the endpoint does not know change nothing."""
        await self.create_group()
        self.assertEqual(await self.page("/groups?foo=bar&webhooks=maybe"),
                         await self.page("/groups"))


class ManifestTests(APITestCase):
    """``GET /groups/{id}`` with and without webhooks (§4.3)."""

    async def test_manifest_holds_everything(self) -> None:
        """The manifest holds configs, state and every policy in ascending id order."""
        body = minimal_group(minEntities=1, metadata={"a": "b"})
        body["scalingPolicies"] = [
            {"name": f"p{i}", "type": "webhook", "cooldown": 0, "change": 1}
            for i in range(4)]
        created = await self.create_group(body)
        answer = await self.call("GET", f"/groups/{created['id']}")
        self.assertEqual(answer.code, 200, answer.raw)
        group = answer.json["group"]
        self.assertEqual(set(group), {"id", "links", "groupConfiguration",
                                      "launchConfiguration", "state", "scalingPolicies",
                                      "scalingPolicies_links"})
        for key in ("id", "links", "groupConfiguration", "launchConfiguration",
                    "scalingPolicies_links"):
            self.assertEqual(group[key], created[key], key)
        self.assertEqual(group["scalingPolicies"],
                         sorted(created["scalingPolicies"], key=lambda p: p["id"]))
        self.assertEqual(group["state"]["desiredCapacity"], 1)
        for policy in group["scalingPolicies"]:
            self.assertNotIn("webhooks", policy)
            self.assertNotIn("webhooks_links", policy)

    async def test_manifest_with_webhooks(self) -> None:
        """With ?webhooks=true every policy carries its webhooks in ascending id order."""
        group = await self.create_group()
        one = await self.create_policy(group["id"], change=1)
        two = await self.create_policy(group["id"], change=-1)
        hooks = (await self.call("POST", f"/groups/{group['id']}/policies/{one['id']}/webhooks",
                                 [{"name": "a"}, {"name": "b", "metadata": {"k": "v"}},
                                  {"name": "c"}])).json["webhooks"]
        for query in ("webhooks=true", "webhooks=TRUE", "webhooks=True"):
            manifest = (await self.call("GET", f"/groups/{group['id']}?{query}")).json["group"]
            policies = {p["id"]: p for p in manifest["scalingPolicies"]}
            self.assertEqual(set(policies), {one["id"], two["id"]})
            self.assertEqual(policies[one["id"]]["webhooks"],
                             sorted(hooks, key=lambda w: w["id"]))
            self.assertEqual(policies[two["id"]]["webhooks"], [])
            for policy_id, policy in policies.items():
                url = (f"{URL_ROOT}/v1.0/t1/groups/{group['id']}/policies/{policy_id}/"
                       "webhooks/")
                self.assertEqual(policy["webhooks_links"], [{"href": url, "rel": "webhooks"}])
        for query in ("webhooks=false", "webhooks=yes", "webhooks=1", "webhooks="):
            manifest = (await self.call("GET", f"/groups/{group['id']}?{query}")).json["group"]
            self.assertEqual(manifest["scalingPolicies"][0].get("webhooks"), None, query)

    async def test_manifest_ignores_pagination(self) -> None:
        """limit and marker do not cut the policies of a manifest."""
        group = await self.create_group()
        for _ in range(3):
            await self.create_policy(group["id"], change=1)
        manifest = (await self.call("GET", f"/groups/{group['id']}?limit=1&marker=zzz")).json
        self.assertEqual(len(manifest["group"]["scalingPolicies"]), 3)
        self.assertEqual(len(manifest["group"]["scalingPolicies_links"]), 1)


class ManifestPaginationTests(APITestCase):
    """Embedded collections still get ``next`` links at the pagination size (§2.8)."""

    limits = Limits(pagination=2)

    async def test_full_embedded_collections_get_next_links(self) -> None:
        """A group with exactly ``pagination`` policies gets a next link after the policies link."""
        group = await self.create_group()
        await self.create_policy(group["id"], change=1)
        policy = await self.create_policy(group["id"], change=2)
        await self.call("POST", f"/groups/{group['id']}/policies/{policy['id']}/webhooks",
                        [{"name": "a"}, {"name": "b"}])
        manifest = (await self.call("GET", f"/groups/{group['id']}?webhooks=true")).json["group"]
        url = f"{URL_ROOT}/v1.0/t1/groups/{group['id']}/policies/"
        last = manifest["scalingPolicies"][-1]["id"]
        self.assertEqual(manifest["scalingPolicies_links"], [
            {"href": url, "rel": "policies"},
            {"href": f"{url}?limit=2&marker={last}", "rel": "next"}])
        hooked = next(p for p in manifest["scalingPolicies"] if p["id"] == policy["id"])
        self.assertEqual([link["rel"] for link in hooked["webhooks_links"]],
                         ["webhooks", "next"])


class DeleteGroupTests(APITestCase):
    """``DELETE /groups/{id}`` and its force rules (§4.4, §12 item 33)."""

    async def test_empty_group_is_deleted(self) -> None:
        """A group with desired capacity 0 is deleted without force, and is then gone everywhere."""
        f = await make_fixture(self)
        await self.call("PUT", f"{f.group}/config", config(minEntities=0, maxEntities=0))
        answer = await self.call("DELETE", f.group)
        self.assertEqual((answer.code, answer.raw), (204, b""))
        for url in (f.group, f"{f.group}/state", f"{f.group}/config", f"{f.group}/launch",
                    f"{f.group}/policies", f.policy, f"{f.policy}/webhooks", f.webhook):
            assert_error(self, await self.call("GET", url), 404, "NoSuchScalingGroupError")
        for method, url in (("POST", f"{f.policy}/execute"), ("POST", f"{f.group}/pause"),
                            ("DELETE", f.group), ("DELETE", f"{f.group}?force=true")):
            assert_error(self, await self.call(method, url), 404, "NoSuchScalingGroupError")
        self.assertEqual((await self.call("GET", "/groups")).json["groups"], [])

    async def test_group_with_desired_capacity_needs_force(self) -> None:
        """Without force a group whose desired capacity is not 0 is kept with 403; force deletes it."""
        group = await self.create_group(minimal_group(minEntities=1))
        url = f"/groups/{group['id']}"
        for query in ("", "?force=false", "?force=FALSE"):
            assert_error(self, await self.call("DELETE", url + query), 403,
                         "GroupNotEmptyError")
        self.assertEqual((await self.call("GET", url)).code, 200)
        answer = await self.call("DELETE", url + "?force=True")
        self.assertEqual(answer.code, 204, answer.raw)
        assert_error(self, await self.call("GET", url), 404, "NoSuchScalingGroupError")

    async def test_bad_force_is_400(self) -> None:
        """A force value other than true or false is refused before anything else."""
        group = await self.create_group()
        for value in ("yes", "1", ""):
            answer = await self.call("DELETE", f"/groups/{group['id']}?force={value}")
            assert_error(self, answer, 400, "InvalidQueryArgument")
        answer = await self.call("DELETE", "/groups/nope?force=yes")
        assert_error(self, answer, 400, "InvalidQueryArgument")
        self.assertEqual((await self.call("GET", f"/groups/{group['id']}")).code, 200)

    async def test_scaled_down_group_is_deleted(self) -> None:
        """A group executed down to desired 0 is deleted without force."""
        group = await self.create_group(minimal_group(minEntities=0))
        up = await self.create_policy(group["id"], change=2)
        down = await self.create_policy(group["id"], desiredCapacity=0)
        base = f"/groups/{group['id']}/policies"
        await self.call("POST", f"{base}/{up['id']}/execute")
        assert_error(self, await self.call("DELETE", f"/groups/{group['id']}"), 403,
                     "GroupNotEmptyError")
        await self.call("POST", f"{base}/{down['id']}/execute")
        self.assertEqual((await self.call("DELETE", f"/groups/{group['id']}")).code, 204)


class StateTests(APITestCase):
    """``GET …/state`` (§4.5, §3.5)."""

    async def test_state_of_a_new_group(self) -> None:
        """The state names the group (its id, self link and name) and shows desired,
        active and pending capacity (Note [State names its group])."""
        group = await self.create_group(minimal_group(minEntities=2, name="tier"))
        answer = await self.call("GET", f"/groups/{group['id']}/state")
        self.assertEqual(answer.code, 200, answer.raw)
        self.assertEqual(answer.json, {"group": {
            "id": group["id"], "links": group["links"],
            "name": "tier", "paused": False, "status": "ACTIVE", "desiredCapacity": 2,
            "active": [], "activeCapacity": 0, "pendingCapacity": 2}})

    async def test_waiting_while_not_converged(self) -> None:
        """While ACTIVE and not converged the state says why under ``waiting`` (in the
        group's manifest and list entry too); in ERROR it shows ``errors`` instead;
        converged, neither."""
        group = await self.create_group()
        url = f"/groups/{group['id']}/state"

        async def shown(**changes: Any) -> tuple[dict[str, Any], dict[str, Any]]:
            loaded = await self.store.load_group("t1", group["id"])
            assert loaded is not None
            await self.store.save_state(evolve(loaded.state, **changes))
            listed = (await self.call("GET", "/groups")).json["groups"][0]["state"]
            manifest = (await self.call("GET", f"/groups/{group['id']}")).json["group"]
            self.assertEqual(listed, manifest["state"])
            return (await self.call("GET", url)).json["group"], manifest["state"]

        reason = "Could not reach Cloud Servers: down (HTTP 503)"
        state, in_manifest = await shown(waiting=[reason])
        self.assertEqual((state["status"], state["waiting"], in_manifest["waiting"]),
                         ("ACTIVE", [{"message": reason}], [{"message": reason}]))
        self.assertNotIn("errors", state)
        state, _ = await shown(status=GroupStatus.ERROR, error_reasons=["no quota"])
        self.assertEqual(state["errors"], [{"message": "no quota"}])
        self.assertNotIn("waiting", state)
        state, _ = await shown(status=GroupStatus.ACTIVE, error_reasons=[], waiting=[])
        self.assertFalse({"errors", "waiting"} & set(state))

    async def test_state_follows_the_configured_name(self) -> None:
        """A renamed group's state shows the new name."""
        group = await self.create_group()
        await self.call("PUT", f"/groups/{group['id']}/config", config(name="renamed"))
        state = (await self.call("GET", f"/groups/{group['id']}/state")).json["group"]
        self.assertEqual(state["name"], "renamed")


class ConfigTests(APITestCase):
    """``GET`` and ``PUT …/config`` (§4.6, §5.6, §12 items 14, 15)."""

    async def test_config_is_shown_with_defaults(self) -> None:
        """GET config shows all five fields, defaults filled."""
        group = await self.create_group(minimal_group(cooldown=30, minEntities=1))
        answer = await self.call("GET", f"/groups/{group['id']}/config")
        self.assertEqual(answer.json, {"groupConfiguration": {
            "name": "web", "cooldown": 30, "minEntities": 1, "maxEntities": 1000,
            "metadata": {}}})

    async def test_config_is_replaced(self) -> None:
        """A valid PUT config answers 204 and replaces the whole configuration."""
        group = await self.create_group(minimal_group(metadata={"old": "x"}))
        new = config(name="new", cooldown=5, minEntities=1, maxEntities=3,
                     metadata={"new": "y"})
        answer = await self.call("PUT", f"/groups/{group['id']}/config", new)
        self.assertEqual((answer.code, answer.raw), (204, b""))
        self.assertEqual((await self.call("GET", f"/groups/{group['id']}/config")).json,
                         {"groupConfiguration": new})
        manifest = (await self.call("GET", f"/groups/{group['id']}")).json["group"]
        self.assertEqual(manifest["groupConfiguration"], new)

    async def test_incomplete_or_invalid_config_is_refused(self) -> None:
        """PUT config without maxEntities or metadata, or with min > max, is refused with 400."""
        group = await self.create_group()
        url = f"/groups/{group['id']}/config"
        for key in ("maxEntities", "metadata", "name", "cooldown", "minEntities"):
            body = config()
            del body[key]
            assert_error(self, await self.call("PUT", url, body), 400, "ValidationError")
        assert_error(self, await self.call("PUT", url, config(minEntities=4, maxEntities=3)),
                     400, "InvalidMinEntities")
        assert_error(self, await self.call("PUT", url, config(maxEntities=None)),
                     400, "InvalidMinEntities")
        assert_error(self, await self.call("PUT", url, config(extra=1)), 400,
                     "ValidationError")

    async def test_raising_min_scales_up(self) -> None:
        """Raising minEntities above the desired capacity raises it to the new minimum."""
        group = await self.create_group(minimal_group(minEntities=2))
        answer = await self.call("PUT", f"/groups/{group['id']}/config",
                                 config(minEntities=4))
        self.assertEqual(answer.code, 204, answer.raw)
        self.assertEqual(await self.desired(group["id"]), 4)

    async def test_lowering_max_scales_down(self) -> None:
        """Lowering maxEntities below the desired capacity lowers it to the new maximum."""
        group = await self.create_group(minimal_group(minEntities=8))
        await self.call("PUT", f"/groups/{group['id']}/config", config(minEntities=0))
        self.assertEqual(await self.desired(group["id"]), 8)
        answer = await self.call("PUT", f"/groups/{group['id']}/config",
                                 config(minEntities=0, maxEntities=5))
        self.assertEqual(answer.code, 204, answer.raw)
        self.assertEqual(await self.desired(group["id"]), 5)

    async def test_config_within_bounds_keeps_desired(self) -> None:
        """A configuration whose bounds hold the desired capacity leaves it alone."""
        group = await self.create_group(minimal_group(minEntities=3))
        await self.call("PUT", f"/groups/{group['id']}/config",
                        config(minEntities=1, maxEntities=9))
        self.assertEqual(await self.desired(group["id"]), 3)

    async def test_config_ignores_cooldowns(self) -> None:
        """A config clamp is applied even right after an execution within the group cooldown."""
        group = await self.create_group(minimal_group(cooldown=600, minEntities=1))
        policy = await self.create_policy(group["id"], change=5)
        await self.call("POST", f"/groups/{group['id']}/policies/{policy['id']}/execute")
        self.assertEqual(await self.desired(group["id"]), 6)
        answer = await self.call("PUT", f"/groups/{group['id']}/config",
                                 config(cooldown=600, minEntities=1, maxEntities=2))
        self.assertEqual(answer.code, 204, answer.raw)
        self.assertEqual(await self.desired(group["id"]), 2)


class LaunchTests(APITestCase):
    """``GET`` and ``PUT …/launch`` (§4.7, §12 item 16)."""

    async def test_launch_is_replaced_and_desired_unchanged(self) -> None:
        """A valid PUT launch answers 204, replaces the launch config and keeps the desired capacity."""
        group = await self.create_group(minimal_group(minEntities=1))
        policy = await self.create_policy(group["id"], change=2)
        await self.call("POST", f"/groups/{group['id']}/policies/{policy['id']}/execute")
        launch = {"type": "launch_server", "args": {
            "server": {"flavorRef": "general1-4", "imageRef": "image-9",
                       "networks": [SERVICENET]},
            "loadBalancers": [{"loadBalancerId": 9, "port": 443}]}}
        answer = await self.call("PUT", f"/groups/{group['id']}/launch", launch)
        self.assertEqual((answer.code, answer.raw), (204, b""))
        self.assertEqual((await self.call("GET", f"/groups/{group['id']}/launch")).json,
                         {"launchConfiguration": launch})
        self.assertEqual(await self.desired(group["id"]), 3)

    async def test_launch_type_may_change(self) -> None:
        """The launch configuration may change from launch_server to launch_stack."""
        group = await self.create_group()
        launch = {"type": "launch_stack", "args": {"stack": {"template_url": "http://t"}}}
        answer = await self.call("PUT", f"/groups/{group['id']}/launch", launch)
        self.assertEqual(answer.code, 204, answer.raw)
        self.assertEqual((await self.call("GET", f"/groups/{group['id']}/launch")).json,
                         {"launchConfiguration": launch})

    async def test_launch_rules_apply_to_updates(self) -> None:
        """PUT launch applies the schema and the ServiceNet rule, and drops a null metadata."""
        group = await self.create_group()
        url = f"/groups/{group['id']}/launch"
        launch: object
        for launch in ({"type": "launch_server", "args": {"server": {"flavorRef": "f"}}},
                       {"type": "launch_server", "args": {
                           "server": {"flavorRef": "f", "imageRef": "i", "networks": []},
                           "loadBalancers": [{"loadBalancerId": 1, "port": 80}]}},
                       {"args": {}}, []):
            assert_error(self, await self.call("PUT", url, launch), 400, "ValidationError")
        launch = {"type": "launch_server", "args": {
            "server": {"flavorRef": "f", "imageRef": "i", "metadata": None}}}
        self.assertEqual((await self.call("PUT", url, launch)).code, 204)
        shown = (await self.call("GET", url)).json["launchConfiguration"]
        self.assertEqual(shown["args"]["server"], {"flavorRef": "f", "imageRef": "i"})


class PauseResumeTests(APITestCase):
    """Pause, resume and converge (§4.8, §4.9, §12 item 27)."""

    async def test_pause_blocks_converge_and_execute_until_resume(self) -> None:
        """A paused group refuses converge and executions with 403 until it is resumed."""
        f = await make_fixture(self)
        for _ in range(2):
            answer = await self.call("POST", f"{f.group}/pause")
            self.assertEqual((answer.code, answer.raw), (204, b""))
        state = (await self.call("GET", f"{f.group}/state")).json["group"]
        self.assertTrue(state["paused"])
        assert_error(self, await self.call("POST", f"{f.group}/converge"), 403,
                     "GroupPausedError",
                     f"Cannot converge for group {f.group_id} for tenant t1 because group "
                     "is paused")
        assert_error(self, await self.call("POST", f"{f.policy}/execute"), 403,
                     "GroupPausedError",
                     f"Cannot execute policy {f.policy_id} for group {f.group_id} for "
                     "tenant t1 because group is paused")
        self.assertEqual(await self.desired(f.group_id), 1)
        for _ in range(2):
            answer = await self.call("POST", f"{f.group}/resume")
            self.assertEqual((answer.code, answer.raw), (204, b""))
        state = (await self.call("GET", f"{f.group}/state")).json["group"]
        self.assertFalse(state["paused"])
        self.assertEqual((await self.call("POST", f"{f.group}/converge")).code, 204)
        self.assertEqual((await self.call("POST", f"{f.policy}/execute")).code, 202)
        self.assertEqual(await self.desired(f.group_id), 2)

    async def test_pause_keeps_the_mark_and_resume_grows_it(self) -> None:
        """Pausing leaves the group's divergent mark as it is, and resuming makes it
        greater than any mark before: a converger waiting on the old mark takes the
        resumed group at once (Note [Divergent marks])."""
        group = await self.create_group(minimal_group(minEntities=1))
        [before] = await self.store.list_divergent()
        await self.call("POST", f"/groups/{group['id']}/pause")
        self.assertEqual(await self.store.list_divergent(), [before])
        await self.call("POST", f"/groups/{group['id']}/resume")
        [after] = await self.store.list_divergent()
        self.assertGreater(after.mark, before.mark)

    async def test_paused_group_still_takes_config_changes(self) -> None:
        """A config change on a paused group is saved and clamps the desired capacity."""
        group = await self.create_group(minimal_group(minEntities=1))
        await self.call("POST", f"/groups/{group['id']}/pause")
        answer = await self.call("PUT", f"/groups/{group['id']}/config",
                                 config(minEntities=3))
        self.assertEqual(answer.code, 204, answer.raw)
        state = (await self.call("GET", f"/groups/{group['id']}/state")).json["group"]
        self.assertEqual((state["paused"], state["desiredCapacity"]), (True, 3))

    async def test_converge_answers_204_with_no_body(self) -> None:
        """Converge on an active group answers 204 and changes no capacity."""
        group = await self.create_group(minimal_group(minEntities=2))
        answer = await self.call("POST", f"/groups/{group['id']}/converge")
        self.assertEqual((answer.code, answer.raw), (204, b""))
        self.assertEqual(await self.desired(group["id"]), 2)


class ServersTests(APITestCase):
    """The servers sub-resource (§4.10, §12 item 32)."""

    async def test_unknown_server_is_404(self) -> None:
        """Deleting a server that is not in the group answers 404 ServerNotFoundError."""
        group = await self.create_group(minimal_group(minEntities=1))
        for query in ("", "?replace=false", "?purge=false&replace=TRUE"):
            answer = await self.call("DELETE", f"/groups/{group['id']}/servers/s-1{query}")
            assert_error(self, answer, 404, "ServerNotFoundError",
                         f"Active server s-1 not found in tenant t1's group {group['id']}")
        self.assertEqual(await self.desired(group["id"]), 1)

    async def test_bad_boolean_arguments_are_400(self) -> None:
        """replace or purge other than true or false is refused with 400 InvalidQueryArgument."""
        group = await self.create_group()
        answer = await self.call("DELETE", f"/groups/{group['id']}/servers/s-1?replace=maybe")
        assert_error(self, answer, 400, "InvalidQueryArgument",
                     'Invalid "replace" query argument: "maybe". Must be "true" or '
                     '"false". Defaults to "true" if not provided')
        answer = await self.call("DELETE", f"/groups/{group['id']}/servers/s-1?purge=No")
        assert_error(self, answer, 400, "InvalidQueryArgument",
                     'Invalid "purge" query argument: "no". Must be "true" or '
                     '"false". Defaults to "true" if not provided')

    async def test_listing_servers_is_not_implemented(self) -> None:
        """GET servers and GET servers/{id} answer 501 NotImplementedError, pointing at the
        group state."""
        group = await self.create_group()
        state = f"GET /v1.0/t1/groups/{group['id']}/state lists the group's active servers, " \
                "each with its links to Cloud Servers"
        for url, what in ((f"/groups/{group['id']}/servers", "Listing the servers of a group"),
                          (f"/groups/{group['id']}/servers/s-1", "Showing one server of a group")):
            assert_error(self, await self.call("GET", url), 501, "NotImplementedError",
                         f"{what} is not implemented; {state}")


class RoutingTests(APITestCase):
    """Paths, methods, headers and links common to every endpoint (§2.1, §2.4, §2.6, §2.7)."""

    async def test_trailing_slash_is_optional_everywhere(self) -> None:
        """Every endpoint answers the same with or without a trailing slash, without redirect."""
        f = await make_fixture(self)
        spare_groups = [(await self.create_group())["id"] for _ in range(2)]
        spare_policies = [(await self.create_policy(f.group_id, change=1))["id"]
                          for _ in range(2)]
        hooks = (await self.call("POST", f"{f.policy}/webhooks",
                                 [{"name": "a"}, {"name": "b"}])).json["webhooks"]
        capability = f.capability.replace(URL_ROOT, self.base).rstrip("/")
        policy = {"name": "p", "type": "webhook", "cooldown": 0, "change": 1}
        hook = {"name": "w", "metadata": {}}
        calls: list[tuple[str, str, Any, int]] = [
            ("GET", "/groups", None, 200), ("POST", "/groups", minimal_group(), 201),
            ("GET", f.group, None, 200), ("GET", f"{f.group}/state", None, 200),
            ("GET", f"{f.group}/config", None, 200),
            ("PUT", f"{f.group}/config", config(minEntities=1), 204),
            ("GET", f"{f.group}/launch", None, 200),
            ("PUT", f"{f.group}/launch", minimal_group()["launchConfiguration"], 204),
            ("POST", f"{f.group}/pause", None, 204), ("POST", f"{f.group}/resume", None, 204),
            ("POST", f"{f.group}/converge", None, 204),
            ("GET", f"{f.group}/servers", None, 501),
            ("GET", f"{f.group}/servers/s1", None, 501),
            ("DELETE", f"{f.group}/servers/s1", None, 404),
            ("GET", f"{f.group}/policies", None, 200),
            ("POST", f"{f.group}/policies", [policy], 201), ("GET", f.policy, None, 200),
            ("PUT", f.policy, policy, 204), ("POST", f"{f.policy}/execute", None, 202),
            ("GET", f"{f.policy}/webhooks", None, 200),
            ("POST", f"{f.policy}/webhooks", [hook], 201), ("GET", f.webhook, None, 200),
            ("PUT", f.webhook, hook, 204), ("POST", capability, None, 202),
            ("GET", "/limits", None, 200), ("GET", self.base + "/health", None, 200),
        ]
        for method, url, body, status in calls:
            for variant in (url, url + "/"):
                answer = await self.call(method, variant, body)
                self.assertEqual(answer.code, status, (method, variant, answer.raw))
                self.assertTrue(answer.header("X-Response-Id"), (method, variant))
                if status == 404:
                    self.assertEqual(answer.json["error"]["type"], "ServerNotFoundError")
        deletes = ([f"{f.policy}/webhooks/{w['id']}" for w in hooks] +
                   [f"{f.group}/policies/{p}" for p in spare_policies] +
                   [f"/groups/{g}" for g in spare_groups])
        for first, second in zip(deletes[::2], deletes[1::2], strict=True):
            self.assertEqual((await self.call("DELETE", first)).code, 204, first)
            self.assertEqual((await self.call("DELETE", second + "/")).code, 204, second)

    async def test_unknown_paths_are_404(self) -> None:
        """A path no route knows answers 404."""
        f = await make_fixture(self)
        for url in ("/v1.0", "/v1.0/", "/v1.0/t1", "/v1.0/t1/nope", "/nope", "/v2.0/t1/groups",
                    "/v1.0/t1/groups/g/nope", f"/v1.0/t1{f.group}/nope",
                    f"/v1.0/t1{f.policy}/nope", f"/v1.0/t1{f.webhook}/nope",
                    f"/v1.0/t1{f.group}/servers/s1/nope", "/v1.0/execute/1",
                    "/v1.0/execute/1/abc/more"):
            answer = await self.call("GET", self.base + url)
            self.assertEqual(answer.code, 404, url)

    async def test_wrong_methods_are_405(self) -> None:
        """A known path with a method it does not take answers 405, with or without the slash."""
        f = await make_fixture(self)
        calls = [("PUT", "/groups"), ("DELETE", "/groups"), ("POST", f.group),
                 ("PUT", f.group), ("POST", f"{f.group}/state"),
                 ("DELETE", f"{f.group}/config"), ("POST", f"{f.group}/launch"),
                 ("GET", f"{f.group}/pause"), ("PUT", f"{f.group}/resume"),
                 ("GET", f"{f.group}/converge"), ("POST", f"{f.group}/servers"),
                 ("PUT", f"{f.group}/servers/s1"), ("PUT", f"{f.group}/policies"),
                 ("POST", f.policy), ("GET", f"{f.policy}/execute"),
                 ("DELETE", f"{f.policy}/webhooks"), ("POST", f.webhook),
                 ("POST", "/limits"), ("PATCH", f.group)]
        for method, url in calls:
            for variant in (url, url + "/"):
                answer = await self.call(method, variant)
                self.assertEqual(answer.code, 405, (method, variant))
        for method, url in (("GET", f.capability), ("PUT", f.capability),
                            ("POST", URL_ROOT + "/health")):
            for variant in (url, url.rstrip("/")):
                answer = await self.call(method, variant.replace(URL_ROOT, self.base))
                self.assertEqual(answer.code, 405, (method, variant))

    async def test_response_ids_are_fresh_uuids(self) -> None:
        """Every handled request, failed or not, carries its own X-Response-Id."""
        group = await self.create_group()
        ids: list[str] = []
        for method, url in (("GET", "/groups"), ("GET", "/groups"),
                            ("GET", f"/groups/{group['id']}"), ("GET", "/groups/nope"),
                            ("GET", "/groups?limit=x"), ("POST", "/groups")):
            answer = await self.call(method, url)
            response_id = answer.header("X-Response-Id")
            assert response_id is not None, url
            ids.append(response_id)
        for response_id in ids:
            self.assertRegex(response_id, UUID4)
        self.assertEqual(len(set(ids)), len(ids))
        health = await self.call("GET", self.base + "/health")
        self.assertEqual(health.header("X-Response-Id"), "health_check")

    async def test_location_headers(self) -> None:
        """Creating groups, policies and webhooks answers with the collection or group URL."""
        group = await self.create_group()
        root = f"{URL_ROOT}/v1.0/t1/groups/{group['id']}/"
        answer = await self.call("POST", f"/groups/{group['id']}/policies",
                                 [{"name": "p", "type": "webhook", "cooldown": 0,
                                   "change": 1}])
        self.assertEqual(answer.header("Location"), root + "policies/")
        policy_id = answer.json["policies"][0]["id"]
        answer = await self.call("POST", f"/groups/{group['id']}/policies/{policy_id}/webhooks",
                                 [{"name": "w"}])
        self.assertEqual(answer.header("Location"), f"{root}policies/{policy_id}/webhooks/")

    async def test_links_are_built_from_url_root(self) -> None:
        """Every link of every document starts with the configured url_root, whatever the Host."""
        f = await make_fixture(self)
        await self.create_policy(f.group_id, change=2)
        await self.call("POST", f"{f.policy}/webhooks", [{"name": "second"}])
        body = minimal_group()
        body["scalingPolicies"] = [{"name": "p", "type": "webhook", "cooldown": 0,
                                    "change": 1}]
        host = {"Host": "evil.example:8080", "X-Forwarded-Host": "evil.example"}
        documents = [(await self.call("POST", "/groups", body, headers=host)).json]
        for url in ("/groups?limit=1", f"{f.group}?webhooks=true", f"{f.group}/policies?limit=1",
                    f.policy, f"{f.policy}/webhooks?limit=1", f.webhook):
            answer = await self.call("GET", url, headers=host)
            self.assertEqual(answer.code, 200, (url, answer.raw))
            documents.append(answer.json)
        found = [href for document in documents for href in hrefs(document)]
        self.assertGreater(len(found), 15)
        for href in found:
            self.assertTrue(href.startswith(URL_ROOT + "/v1.0/"), href)
            self.assertTrue(urlsplit(href).path.endswith("/"), href)
        self.assertIn("next", {link["rel"] for d in documents for link in
                               d.get("groups_links", []) + d.get("policies_links", []) +
                               d.get("webhooks_links", [])})

    async def test_tenant_is_percent_encoded_in_links(self) -> None:
        """A non-ASCII tenant id is percent-encoded (UTF-8) in the links."""
        answer = await self.call("POST", self.base + "/v1.0/%E2%98%83/groups", minimal_group())
        self.assertEqual(answer.code, 201, answer.raw)
        group_id = answer.json["group"]["id"]
        url = f"{URL_ROOT}/v1.0/%E2%98%83/groups/{group_id}/"
        self.assertEqual(answer.header("Location"), url)
        self.assertEqual(answer.json["group"]["links"], [{"href": url, "rel": "self"}])
        listing = await self.call("GET", self.base + "/v1.0/%E2%98%83/groups")
        self.assertEqual([g["id"] for g in listing.json["groups"]], [group_id])

    async def test_json_responses_say_so(self) -> None:
        """Responses with a JSON body, errors included, have Content-Type application/json."""
        group = await self.create_group()
        for url in ("/groups", f"/groups/{group['id']}", "/groups/nope", "/limits"):
            answer = await self.call("GET", url)
            self.assertEqual(answer.header("Content-Type"), "application/json", url)
