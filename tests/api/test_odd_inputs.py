"""
Odd inputs through the HTTP API: each is refused with Otter's error body and
changes nothing.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import gatherResults
from twisted.web.server import Site

from otter2.config import Limits
from tests.api.support import URL_ROOT, APITestCase, minimal_group, serve_on_loopback
from tests.api.test_errors import assert_error, make_fixture

WEBHOOK_POLICY = {"name": "p", "type": "webhook", "cooldown": 0}


class ControlCharacterTests(APITestCase):
    """Names and metadata keys with control characters are refused, naming the field."""

    async def test_names_refused(self) -> None:
        """A NUL, another C0 control or DEL in a group, policy or webhook name is a 400."""
        f = await make_fixture(self)
        before = (await self.call("GET", f"{f.group}?webhooks=true")).json
        for char in ("\x00", "\x1b", "\x7f"):
            name = f"web{char}"
            code = f"U+{ord(char):04X}"
            calls: list[tuple[str, str, Any, str]] = [
                ("POST", "/groups", minimal_group(name=name), "groupConfiguration.name"),
                ("PUT", f"{f.group}/config", {"name": name, "cooldown": 0, "minEntities": 1,
                                              "maxEntities": 10, "metadata": {}}, "name"),
                ("POST", f"{f.group}/policies", [{**WEBHOOK_POLICY, "change": 1, "name": name}],
                 "[0].name"),
                ("PUT", f.policy, {**WEBHOOK_POLICY, "change": 1, "name": name}, "name"),
                ("POST", f"{f.policy}/webhooks", [{"name": name}], "[0].name"),
                ("PUT", f.webhook, {"name": name, "metadata": {}}, "name"),
            ]
            for method, url, body, path in calls:
                answer = await self.call(method, url, body)
                error = assert_error(self, answer, 400, "ValidationError")
                self.assertTrue(error["message"].startswith(f"{path}: "), error["message"])
                self.assertIn(f"must not contain control characters; found {code}",
                              error["message"])
        self.assertEqual((await self.call("GET", f"{f.group}?webhooks=true")).json, before)
        self.assertEqual(len((await self.call("GET", "/groups")).json["groups"]), 1)

    async def test_metadata_refused(self) -> None:
        """A control character in a metadata key, or a NUL in a value, is a 400."""
        f = await make_fixture(self)
        for metadata, path in [({"k\x00": "v"}, "groupConfiguration.metadata"),
                               ({"k": "v\x00"}, "groupConfiguration.metadata.k")]:
            answer = await self.call("POST", "/groups", minimal_group(metadata=metadata))
            error = assert_error(self, answer, 400, "ValidationError")
            self.assertTrue(error["message"].startswith(f"{path}: "), error["message"])
        answer = await self.call("PUT", f.webhook, {"name": "w", "metadata": {"a\tb": "c"}})
        error = assert_error(self, answer, 400, "ValidationError")
        self.assertTrue(error["message"].startswith('metadata: key "a\\tb" must not contain '
                                                    "control characters"), error["message"])

    async def test_text_metadata_accepted(self) -> None:
        """Metadata values may hold several lines and tabs."""
        group = await self.create_group(minimal_group(metadata={"note": "one\n\ttwo\r\n"}))
        answer = await self.call("GET", f"/groups/{group['id']}/config")
        self.assertEqual(answer.json["groupConfiguration"]["metadata"],
                         {"note": "one\n\ttwo\r\n"})


class BoundsTests(APITestCase):
    """Numbers beyond what a group could ever use are refused, naming field and bound."""

    async def test_policy_numbers(self) -> None:
        """A policy's change, changePercent, desiredCapacity or cooldown out of bounds is a
        400 naming the field and the bound, and creates nothing."""
        group = await self.create_group()
        url = f"/groups/{group['id']}/policies"
        for field, value, message in [
                ("change", 10 ** 23, "100000000000000000000000 is greater than the maximum "
                                     "of 1000"),
                ("change", -1001, "-1001 is less than the minimum of -1000"),
                ("changePercent", 1e6, "1000000.0 is greater than the maximum of 100000"),
                ("desiredCapacity", 1001, "1001 is greater than the maximum of 1000"),
                ("cooldown", 86401, "86401 is greater than the maximum of 86400")]:
            policy = {"change": 1, **WEBHOOK_POLICY, field: value}
            if field != "change" and field != "cooldown":
                del policy["change"]
            answer = await self.call("POST", url, [policy])
            assert_error(self, answer, 400, "ValidationError", f"[0].{field}: {message}")
        self.assertEqual((await self.call("GET", url)).json["policies"], [])

    async def test_group_numbers(self) -> None:
        """Group sizes, cooldowns and load balancer ports out of bounds are refused."""
        body = minimal_group(minEntities=1001)
        answer = await self.call("POST", "/groups", body)
        assert_error(self, answer, 400, "ValidationError",
                     "groupConfiguration.minEntities: 1001 is greater than the maximum of 1000")
        body = minimal_group()
        body["launchConfiguration"]["args"]["loadBalancers"] = [
            {"loadBalancerId": 1, "port": 65536}]
        answer = await self.call("POST", "/groups", body)
        assert_error(self, answer, 400, "ValidationError",
                     "launchConfiguration.args.loadBalancers[0].port: 65536 is greater than "
                     "the maximum of 65535")
        self.assertEqual((await self.call("GET", "/groups")).json["groups"], [])

    async def test_largest_values_accepted(self) -> None:
        """Every number at its bound is accepted."""
        group = await self.create_group(minimal_group(cooldown=86400, maxEntities=1000))
        for adjustment in ({"change": 1000}, {"change": -1000}, {"changePercent": 100000},
                           {"changePercent": -100000}, {"desiredCapacity": 1000}):
            await self.create_policy(group["id"], **adjustment, cooldown=86400)


class LimitTests(APITestCase):
    """``limit`` is a whole number; below 1 it is 1 and above the configured maximum
    it is that maximum, as Otter read it (spec §2.8, §12 item 11)."""

    async def test_not_a_number_refused(self) -> None:
        """Anything but a whole number is a 400 on every list."""
        f = await make_fixture(self)
        for url in ("/groups", f"{f.group}/policies", f"{f.policy}/webhooks",
                    f"{f.group}/servers"):
            for value, shown in [("%201e3", '" 1e3"'), ("%00", '"\\u0000"'),
                                 ("%D9%A1", '"\u0661"'), ("1_0", '"1_0"'), ("x", '"x"'),
                                 ("--1", '"--1"')]:
                answer = await self.call("GET", f"{url}?limit={value}")
                assert_error(self, answer, 400, "InvalidQueryArgument",
                             f'Invalid query argument for "limit": {shown} is not a whole '
                             "number (numbers below 1 are read as 1, larger numbers than "
                             "100 as 100)")

    async def test_below_one_reads_as_one(self) -> None:
        """0, -0, 000 and negative numbers ask for one item, and the next link says
        ``limit=1``, on every paged list."""
        f = await make_fixture(self)
        await self.create_group()
        await self.create_policy(f.group_id, change=1)
        await self.call("POST", f"{f.policy}/webhooks", [{"name": "second"}])
        for url, key in (("/groups", "groups"), (f"{f.group}/policies", "policies"),
                         (f"{f.policy}/webhooks", "webhooks")):
            for value in ("0", "-0", "000", "-1", "-99999999999999999999"):
                answer = await self.call("GET", f"{url}?limit={value}")
                self.assertEqual(answer.code, 200, (url, value, answer.raw))
                self.assertEqual(len(answer.json[key]), 1, (url, value))
                [link] = answer.json[f"{key}_links"]
                self.assertEqual(link["rel"], "next")
                self.assertIn("?limit=1&marker=", link["href"])

    async def test_whole_numbers_accepted(self) -> None:
        """Signed, zero-padded, spaced and huge whole numbers are read as such."""
        ids = sorted([(await self.create_group())["id"] for _ in range(3)])
        for value, size in [("%2B2", 2), ("002", 2), ("%202%20", 2), ("1", 1),
                            ("99999999999999999999999999", 3), ("101", 3)]:
            answer = await self.call("GET", f"/groups?limit={value}")
            self.assertEqual([g["id"] for g in answer.json["groups"]], ids[:size], value)


class BodySizeTests(APITestCase):
    """A body over the size limit is refused with 413 by every endpoint."""

    limits = Limits(max_body_bytes=4096)

    async def test_capability_body_over_the_limit(self) -> None:
        """A capability URL answers 413 to a body over the limit and executes nothing."""
        f = await make_fixture(self)
        capability = f.capability.replace(URL_ROOT, self.base)
        answer = await self.call("POST", capability, raw=b"x" * 5000)
        assert_error(self, answer, 413, "RequestTooLargeError",
                     "Request body is larger than the limit of 4096 bytes")
        await self.settle()
        self.assertEqual(await self.desired(f.group_id), 1)
        answer = await self.call("POST", capability, raw=b"x" * 4096)
        self.assertEqual(answer.code, 202, answer.raw)
        await self.settle()
        self.assertEqual(await self.desired(f.group_id), 2)

    async def test_bodiless_endpoints(self) -> None:
        """Endpoints that read no body refuse one over the limit, and change nothing."""
        f = await make_fixture(self)
        before = (await self.call("GET", f"{f.group}?webhooks=true")).json
        for method, url in [("POST", f"{f.policy}/execute"), ("POST", f"{f.group}/pause"),
                            ("POST", f"{f.group}/resume"), ("POST", f"{f.group}/converge"),
                            ("DELETE", f.webhook), ("DELETE", f.policy),
                            ("DELETE", f"{f.group}?force=true"), ("GET", "/groups"),
                            ("GET", "/limits")]:
            answer = await self.call(method, url, raw=b"x" * 5000)
            assert_error(self, answer, 413, "RequestTooLargeError")
        self.assertEqual((await self.call("GET", f"{f.group}?webhooks=true")).json, before)

    async def settle(self) -> None:
        """Wait for the anonymous executions still running after their 202."""
        await gatherResults(list(self.api.pending_executions))


class EmptySegmentTests(APITestCase):
    """A path with an empty segment is a 404 with Otter's error body, never a redirect."""

    async def test_empty_segments_are_404(self) -> None:
        """Doubled slashes anywhere in a path answer 404 NotFound in JSON, for any method,
        and change nothing."""
        f = await make_fixture(self)
        before = (await self.call("GET", f"{f.group}?webhooks=true")).json
        capability = f.capability.replace(URL_ROOT, self.base)
        execute_path = capability[len(self.base):]
        for method, path in [
                ("GET", f"/v1.0/t1/groups/{f.group_id}//servers/"),
                ("GET", "/v1.0/t1/groups//servers/"), ("GET", "//v1.0/t1/groups"),
                ("GET", "/v1.0/t1//groups"), ("GET", "/v1.0/t1/groups//"),
                ("GET", "/v1.0//limits"), ("GET", "//health"),
                ("POST", "//v1.0/t1/groups"),
                ("DELETE", f"//v1.0/t1/groups/{f.group_id}?force=true"),
                ("POST", f"/v1.0/t1/groups/{f.group_id}/policies/{f.policy_id}//execute"),
                ("POST", "/" + execute_path), ("POST", execute_path.replace("/1/", "/1//")),
                ("PUT", f"/v1.0/t1/groups/{f.group_id}//config")]:
            answer = await self.call(method, self.base + path, body=minimal_group())
            error = assert_error(self, answer, 404, "NotFound")
            self.assertIn("empty segment", error["message"])
            self.assertIsNone(answer.header("Location"), path)
            self.assertTrue(answer.header("X-Response-Id"), path)
        self.assertEqual((await self.call("GET", f"{f.group}?webhooks=true")).json, before)
        self.assertEqual(len((await self.call("GET", "/groups")).json["groups"]), 1)

    async def test_slashes_in_the_query_are_fine(self) -> None:
        """Doubled slashes after the ``?`` are not part of the path."""
        answer = await self.call("GET", "/groups?marker=a//b")
        self.assertEqual(answer.code, 200, answer.raw)

    async def test_routes_never_redirect(self) -> None:
        """Served by a plain site, the routes themselves answer an empty segment with a
        404 in JSON rather than werkzeug's redirect to another path."""
        base = serve_on_loopback(self, Site(self.api.resource()))
        for path in ("/v1.0/t1/groups//servers/", "/v1.0/t1//groups"):
            answer = await self.call("GET", base + path)
            assert_error(self, answer, 404, "NotFound")
            self.assertIsNone(answer.header("Location"), path)


class NotUTF8Tests(APITestCase):
    """A path whose percent-escapes are not UTF-8 gets Otter's 400 body."""

    async def test_not_utf8_is_400_json(self) -> None:
        """%fe%ff in any segment answers 400 InvalidURL in JSON, for any method."""
        for method, path in [("GET", "/v1.0/1/groups/%fe%ff/"), ("GET", "/v1.0/%fe/groups"),
                             ("PUT", "/v1.0/t1/groups/%c3%28/config"),
                             ("POST", "/v1.0/execute/1/%ff/")]:
            answer = await self.call(method, self.base + path, body=minimal_group())
            error = assert_error(self, answer, 400, "InvalidURL")
            self.assertIn("UTF-8", error["message"])
            self.assertEqual(answer.header("Content-Type"), "application/json")

    async def test_utf8_escapes_are_fine(self) -> None:
        """An id spelled with UTF-8 escapes is routed as usual (here: an unknown group)."""
        answer = await self.call("GET", self.base + "/v1.0/t1/groups/%C3%A9t%C3%A9/state")
        assert_error(self, answer, 404, "NoSuchScalingGroupError")
