"""
Failures through the HTTP API: the error body, bad bodies and query
arguments, requests that change nothing, tenant isolation, and a property
that no body makes the API fail with a 5xx.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from otter2.config import Limits
from tests.api.support import URL_ROOT, Answer, APITestCase, minimal_group

ERROR_KEYS = {"type", "code", "message", "details"}


def assert_error(case: Any, answer: Answer, status: int, error_type: str,
                 message: str | None = None) -> dict[str, Any]:
    """Check ``answer`` is Otter's error body for ``error_type``; return the error."""
    case.assertEqual((answer.code, answer.json["error"]["type"]), (status, error_type),
                     answer.raw)
    case.assertEqual(set(answer.json), {"error"})
    error: dict[str, Any] = answer.json["error"]
    case.assertEqual(set(error), ERROR_KEYS)
    case.assertEqual(error["code"], status)
    case.assertIsInstance(error["message"], str)
    case.assertTrue(error["message"].strip(), "an error message says what went wrong")
    case.assertEqual(error["details"], "")
    case.assertEqual(answer.header("Content-Type"), "application/json")
    if message is not None:
        case.assertEqual(error["message"], message)
    return error


SCHEDULE_POLICY = {"name": "nightly", "type": "schedule", "cooldown": 0,
                   "desiredCapacity": 2, "args": {"cron": "0 22 * * *"}}

LAUNCH = {"type": "launch_server",
          "args": {"server": {"flavorRef": "general1-2", "imageRef": "image-2"}}}


class Fixture:
    """A group of tenant t1 with one policy and one webhook, by their URLs."""

    def __init__(self, group: dict[str, Any], policy: dict[str, Any],
                 webhook: dict[str, Any]) -> None:
        self.group_id = group["id"]
        self.policy_id = policy["id"]
        self.webhook_id = webhook["id"]
        self.group = f"/groups/{self.group_id}"
        self.policy = f"{self.group}/policies/{self.policy_id}"
        self.webhook = f"{self.policy}/webhooks/{self.webhook_id}"
        self.capability = next(link["href"] for link in webhook["links"]
                               if link["rel"] == "capability")


async def make_fixture(case: APITestCase) -> Fixture:
    """Create a group with one policy (change +1) and one webhook for tenant t1."""
    group = await case.create_group(minimal_group(minEntities=1, maxEntities=10))
    policy = await case.create_policy(group["id"], change=1)
    answer = await case.call("POST", f"/groups/{group['id']}/policies/{policy['id']}/webhooks",
                             [{"name": "alarm", "metadata": {"k": "v"}}])
    case.assertEqual(answer.code, 201, answer.raw)
    return Fixture(group, policy, answer.json["webhooks"][0])


def body_endpoints(f: Fixture) -> list[tuple[str, str]]:
    """Every endpoint that reads a request body."""
    return [("POST", "/groups"), ("PUT", f"{f.group}/config"), ("PUT", f"{f.group}/launch"),
            ("POST", f"{f.group}/policies"), ("PUT", f.policy),
            ("POST", f"{f.policy}/webhooks"), ("PUT", f.webhook)]


class ErrorBodyTests(APITestCase):
    """Every mapped failure answers with Otter's error body."""

    limits = Limits(max_groups=1, max_policies_per_group=1, max_webhooks_per_policy=1)

    async def test_every_error_has_the_otter_shape(self) -> None:
        """Errors of every kind carry exactly type, code (the status), message and details."""
        f = await make_fixture(self)
        missing = "/groups/00000000-0000-4000-8000-000000000000"
        cases: list[tuple[str, str, Any, int, str]] = [
            ("POST", "/groups", "not json", 400, "InvalidJsonError"),
            ("POST", "/groups", {"groupConfiguration": {}}, 400, "ValidationError"),
            ("PUT", f"{f.group}/config", {"name": "n", "cooldown": 0, "minEntities": 5,
                                          "maxEntities": 1, "metadata": {}},
             400, "InvalidMinEntities"),
            ("GET", "/groups?limit=abc", None, 400, "InvalidQueryArgument"),
            ("DELETE", f"{f.group}?force=maybe", None, 400, "InvalidQueryArgument"),
            ("GET", missing, None, 404, "NoSuchScalingGroupError"),
            ("GET", f"{f.group}/policies/nope", None, 404, "NoSuchPolicyError"),
            ("GET", f"{f.policy}/webhooks/nope", None, 404, "NoSuchWebhookError"),
            ("DELETE", f"{f.group}/servers/nope", None, 404, "ServerNotFoundError"),
            ("DELETE", f.group, None, 403, "GroupNotEmptyError"),
            ("POST", "/groups", minimal_group(), 422, "ScalingGroupOverLimitError"),
            ("POST", f"{f.group}/policies", [SCHEDULE_POLICY], 422, "PoliciesOverLimitError"),
            ("POST", f"{f.policy}/webhooks", [{"name": "w"}], 422, "WebhooksOverLimitError"),
            ("GET", f"{f.group}/servers", None, 501, "NotImplementedError"),
        ]
        for method, url, body, status, error_type in cases:
            raw = body.encode() if isinstance(body, str) else None
            answer = await self.call(method, url, body=body, raw=raw)
            assert_error(self, answer, status, error_type)
            self.assertTrue(answer.header("X-Response-Id"), (method, url))

    async def test_messages_follow_otter(self) -> None:
        """The fixed messages of the fault catalogue are Otter's wording."""
        f = await make_fixture(self)
        answer = await self.call("GET", "/groups/g404/state")
        assert_error(self, answer, 404, "NoSuchScalingGroupError",
                     "No such scaling group g404 for tenant t1")
        answer = await self.call("GET", f"{f.group}/policies/p404")
        assert_error(self, answer, 404, "NoSuchPolicyError",
                     f"No such scaling policy p404 for group {f.group_id} for tenant t1")
        answer = await self.call("GET", f"{f.policy}/webhooks/w404")
        assert_error(self, answer, 404, "NoSuchWebhookError",
                     f"No such webhook w404 for policy {f.policy_id} in group "
                     f"{f.group_id} for tenant t1")
        answer = await self.call("DELETE", f.group)
        assert_error(self, answer, 403, "GroupNotEmptyError",
                     f"Group {f.group_id} for tenant t1 still has entities.")
        answer = await self.call("POST", "/groups", minimal_group())
        assert_error(self, answer, 422, "ScalingGroupOverLimitError",
                     "Allowed limit of 1 scaling groups reached by tenant t1")
        answer = await self.call("POST", f"{f.group}/policies", [SCHEDULE_POLICY])
        assert_error(self, answer, 422, "PoliciesOverLimitError",
                     f"Currently there are 1 policies for tenant t1, scaling group "
                     f"{f.group_id}. Creating 1 new policies would exceed the policy "
                     f"limit of 1 per group.")
        answer = await self.call("POST", f"{f.policy}/webhooks", [{"name": "w"}])
        assert_error(self, answer, 422, "WebhooksOverLimitError",
                     f"Currently there are 1 webhooks for tenant t1, scaling group "
                     f"{f.group_id}, policy {f.policy_id}.  Creating 1 new webhooks "
                     f"would exceed the webhook limit of 1 per policy.")
        answer = await self.call("DELETE", f"{f.group}?force=MayBe")
        assert_error(self, answer, 400, "InvalidQueryArgument",
                     'Invalid "force" query argument: "maybe". Must be "true" or '
                     '"false". Defaults to "false" if not provided')
        answer = await self.call("GET", f"{f.group}/servers/s1")
        error = assert_error(self, answer, 501, "NotImplementedError")
        self.assertTrue(error["message"].startswith("Showing one server of a group is not "
                                                    "implemented; "), error["message"])


class BadRequestTests(APITestCase):
    """Bodies and query arguments that cannot be read."""

    limits = Limits(max_body_bytes=4096)

    async def test_malformed_json_is_invalid_json(self) -> None:
        """A body that is not JSON, or none at all, gets 400 InvalidJsonError saying why."""
        f = await make_fixture(self)
        for method, url in body_endpoints(f):
            for raw, why in ((b"{", "Expecting property name enclosed in double quotes at "
                                    "line 1, column 2"),
                             (b"", "it is empty, and this request needs a JSON document"),
                             (b"{'name': 'x'}", "Expecting property name enclosed in double "
                                                "quotes at line 1, column 2"),
                             (b"[1,]", "Expecting value at line 1, column 4"),
                             (b"\xff\xfe", "it is not UTF-8 text (byte 0 cannot be decoded)"),
                             (b"NaN", "NaN is not a JSON value (JSON has no NaN or Infinity)"),
                             (b'{"a": Infinity}', "Infinity is not a JSON value (JSON has no "
                                                  "NaN or Infinity)"),
                             (b"true false", "Extra data at line 1, column 6")):
                answer = await self.call(method, url, raw=raw)
                assert_error(self, answer, 400, "InvalidJsonError",
                             f"The request body is not valid JSON: {why}")

    async def test_body_over_the_limit_is_413(self) -> None:
        """A body longer than the configured maximum gets 413, whatever the endpoint."""
        f = await make_fixture(self)
        padding = "x" * 5000
        for method, url in body_endpoints(f):
            answer = await self.call(method, url, raw=json.dumps({"pad": padding}).encode())
            self.assertEqual(answer.code, 413, (method, url, answer.raw))
            self.assertEqual(set(answer.json["error"]), ERROR_KEYS)
            self.assertEqual(answer.json["error"]["code"], 413)

    async def test_body_under_the_limit_is_read(self) -> None:
        """A body just under the maximum is read and validated as usual."""
        body = minimal_group(metadata={"pad": "x" * 200})
        body["launchConfiguration"]["args"]["server"]["user_data"] = "y" * 3000
        self.assertLess(len(json.dumps(body)), 4096)
        answer = await self.call("POST", "/groups", body)
        self.assertEqual(answer.code, 201, answer.raw)

    async def test_non_integer_limit_is_refused(self) -> None:
        """``limit`` that is not a base-10 integer gets 400 InvalidQueryArgument on every list."""
        f = await make_fixture(self)
        for url in ("/groups", f"{f.group}/policies", f"{f.policy}/webhooks",
                    f"{f.group}/servers"):
            for value in ("abc", "1.5", "", "0x10"):
                answer = await self.call("GET", f"{url}?limit={value}")
                assert_error(self, answer, 400, "InvalidQueryArgument",
                             f'Invalid query argument for "limit": "{value}" is not a whole '
                             "number (numbers below 1 are read as 1, larger numbers than "
                             "100 as 100)")

    async def test_limit_with_spaces_is_accepted(self) -> None:
        """``limit`` with surrounding spaces is read as the integer."""
        await self.create_group()
        answer = await self.call("GET", "/groups?limit=%201%20")
        self.assertEqual(answer.code, 200, answer.raw)
        self.assertEqual(len(answer.json["groups"]), 1)
        self.assertIn("limit=1&", answer.json["groups_links"][0]["href"])

    async def test_bodiless_endpoints_ignore_a_body(self) -> None:
        """Execute, pause, resume and converge ignore whatever body is sent."""
        f = await make_fixture(self)
        for url, status in ((f"{f.policy}/execute", 202), (f"{f.group}/pause", 204),
                            (f"{f.group}/resume", 204), (f"{f.group}/converge", 204)):
            answer = await self.call("POST", url, raw=b"{not json")
            self.assertEqual(answer.code, status, (url, answer.raw))
        self.assertEqual(await self.desired(f.group_id), 2)


class NothingChangesTests(APITestCase):
    """A refused request leaves everything as it was."""

    limits = Limits(max_policies_per_group=4, max_webhooks_per_policy=2)

    async def test_invalid_config_changes_nothing(self) -> None:
        """An invalid PUT config leaves the configuration and the desired capacity unchanged."""
        f = await make_fixture(self)
        before = (await self.call("GET", f"{f.group}/config")).json
        for body in ({"name": "n", "cooldown": 0, "minEntities": 5, "maxEntities": 2,
                      "metadata": {}},
                     {"name": "n", "cooldown": 0, "minEntities": 5, "maxEntities": 9},
                     {"name": "n", "cooldown": -1, "minEntities": 5, "maxEntities": 9,
                      "metadata": {}}):
            answer = await self.call("PUT", f"{f.group}/config", body)
            self.assertEqual(answer.code, 400, answer.raw)
        self.assertEqual((await self.call("GET", f"{f.group}/config")).json, before)
        self.assertEqual(await self.desired(f.group_id), 1)

    async def test_invalid_launch_changes_nothing(self) -> None:
        """An invalid PUT launch leaves the launch configuration unchanged."""
        f = await make_fixture(self)
        before = (await self.call("GET", f"{f.group}/launch")).json
        answer = await self.call("PUT", f"{f.group}/launch", {"type": "launch_server",
                                                             "args": {"server": {}}})
        self.assertEqual(answer.code, 400, answer.raw)
        self.assertEqual((await self.call("GET", f"{f.group}/launch")).json, before)

    async def test_refused_group_creates_nothing(self) -> None:
        """A group refused for a bad policy is not created, nor are its valid policies."""
        body = minimal_group()
        body["scalingPolicies"] = [{"name": "ok", "type": "webhook", "cooldown": 0,
                                    "change": 1},
                                   {"name": "bad", "type": "webhook", "cooldown": 0,
                                    "change": 0}]
        answer = await self.call("POST", "/groups", body)
        assert_error(self, answer, 400, "ValidationError")
        self.assertEqual((await self.call("GET", "/groups")).json,
                         {"groups": [], "groups_links": []})

    async def test_refused_policy_batch_creates_none(self) -> None:
        """A policy batch with one invalid or one too many policy creates none of them."""
        f = await make_fixture(self)
        good = {"name": "ok", "type": "webhook", "cooldown": 0, "change": 1}
        answer = await self.call("POST", f"{f.group}/policies",
                                 [good, good, {**good, "change": 1.5}])
        assert_error(self, answer, 400, "ValidationError")
        answer = await self.call("POST", f"{f.group}/policies", [good, good, good, good])
        assert_error(self, answer, 422, "PoliciesOverLimitError")
        policies = (await self.call("GET", f"{f.group}/policies")).json["policies"]
        self.assertEqual([p["id"] for p in policies], [f.policy_id])

    async def test_invalid_policy_update_changes_nothing(self) -> None:
        """A refused PUT policy (bad body or other type) leaves the policy unchanged."""
        f = await make_fixture(self)
        before = (await self.call("GET", f.policy)).json
        for body in ({"name": "p", "type": "webhook", "cooldown": 0},
                     {**SCHEDULE_POLICY},
                     {"name": "p", "type": "webhook", "cooldown": 0, "change": 3,
                      "id": f.policy_id}):
            answer = await self.call("PUT", f.policy, body)
            self.assertEqual(answer.code, 400, answer.raw)
        self.assertEqual((await self.call("GET", f.policy)).json, before)

    async def test_refused_webhooks_change_nothing(self) -> None:
        """Refused webhook batches create none, and a refused PUT leaves the webhook unchanged."""
        f = await make_fixture(self)
        before = (await self.call("GET", f.webhook)).json
        answer = await self.call("POST", f"{f.policy}/webhooks",
                                 [{"name": "a"}, {"name": "b", "metadata": {"k": 1}}])
        assert_error(self, answer, 400, "ValidationError")
        answer = await self.call("POST", f"{f.policy}/webhooks", [{"name": "a"}, {"name": "b"}])
        assert_error(self, answer, 422, "WebhooksOverLimitError")
        answer = await self.call("PUT", f.webhook, {"name": "renamed"})
        assert_error(self, answer, 400, "ValidationError")
        listing = (await self.call("GET", f"{f.policy}/webhooks")).json["webhooks"]
        self.assertEqual([w["id"] for w in listing], [f.webhook_id])
        self.assertEqual((await self.call("GET", f.webhook)).json, before)

    async def test_refused_delete_keeps_the_group(self) -> None:
        """A delete refused for a non-empty group or a bad ``force`` keeps the group."""
        f = await make_fixture(self)
        before = (await self.call("GET", f"{f.group}?webhooks=true")).json
        self.assertEqual((await self.call("DELETE", f.group)).code, 403)
        self.assertEqual((await self.call("DELETE", f"{f.group}?force=yes")).code, 400)
        self.assertEqual((await self.call("GET", f"{f.group}?webhooks=true")).json, before)


class TenantIsolationTests(APITestCase):
    """A tenant never sees nor touches another tenant's groups."""

    async def test_other_tenant_gets_404_everywhere(self) -> None:
        """Tenant t2 gets 404 for every read and write of t1's group, policies and webhooks."""
        f = await make_fixture(self)
        before = (await self.call("GET", f"{f.group}?webhooks=true")).json
        other = self.base + "/v1.0/t2"
        policy = {"name": "p", "type": "webhook", "cooldown": 0, "change": 5}
        config = {"name": "stolen", "cooldown": 0, "minEntities": 3, "maxEntities": 3,
                  "metadata": {}}
        group_missing = [
            ("GET", f.group, None), ("GET", f"{f.group}?webhooks=true", None),
            ("GET", f"{f.group}/state", None), ("GET", f"{f.group}/config", None),
            ("PUT", f"{f.group}/config", config), ("GET", f"{f.group}/launch", None),
            ("PUT", f"{f.group}/launch", LAUNCH), ("POST", f"{f.group}/pause", None),
            ("POST", f"{f.group}/resume", None), ("POST", f"{f.group}/converge", None),
            ("DELETE", f"{f.group}/servers/s1", None),
            ("GET", f"{f.group}/policies", None), ("POST", f"{f.group}/policies", [policy]),
            ("GET", f.policy, None), ("PUT", f.policy, policy),
            ("POST", f"{f.policy}/execute", None),
            ("GET", f"{f.policy}/webhooks", None),
            ("POST", f"{f.policy}/webhooks", [{"name": "w"}]),
            ("GET", f.webhook, None), ("PUT", f.webhook, {"name": "w", "metadata": {}}),
            ("DELETE", f.webhook, None), ("DELETE", f.policy, None),
            ("DELETE", f"{f.group}?force=true", None), ("DELETE", f.group, None),
        ]
        for method, url, body in group_missing:
            answer = await self.call(method, other + url, body)
            assert_error(self, answer, 404, "NoSuchScalingGroupError",
                         f"No such scaling group {f.group_id} for tenant t2")
        listing = await self.call("GET", other + "/groups")
        self.assertEqual(listing.json, {"groups": [], "groups_links": []})
        self.assertEqual((await self.call("GET", f"{f.group}?webhooks=true")).json, before)
        self.assertEqual(await self.desired(f.group_id), 1)
        self.assertEqual([g["id"] for g in (await self.call("GET", "/groups")).json["groups"]],
                         [f.group_id])

    async def test_tenants_have_separate_lists_and_limits(self) -> None:
        """Each tenant lists only its own groups."""
        mine = await self.create_group()
        theirs = await self.create_group(tenant="t2")
        listing = await self.call("GET", "/groups")
        self.assertEqual([g["id"] for g in listing.json["groups"]], [mine["id"]])
        listing = await self.call("GET", self.base + "/v1.0/t2/groups")
        self.assertEqual([g["id"] for g in listing.json["groups"]], [theirs["id"]])
        self.assertTrue(theirs["links"][0]["href"].startswith(f"{URL_ROOT}/v1.0/t2/groups/"))


# -- the property ---------------------------------------------------------------

VOCABULARY = ["name", "cooldown", "minEntities", "maxEntities", "metadata", "type", "args",
              "server", "flavorRef", "imageRef", "loadBalancers", "loadBalancerId", "port",
              "networks", "uuid", "draining_timeout", "block_device_mapping_v2",
              "personality", "path", "contents", "stack", "template", "change",
              "changePercent", "desiredCapacity", "at", "cron", "check", "alarm_criteria",
              "groupConfiguration", "launchConfiguration", "scalingPolicies", "id", "links"]

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.integers(-2, 1002), st.sampled_from([10 ** 30, -(10 ** 30), 2 ** 63]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20), st.text(alphabet=" \t\n", max_size=3),
    st.sampled_from(["webhook", "schedule", "cloud_monitoring", "launch_server",
                     "launch_stack", "RackConnectV3", "CloudLoadBalancer",
                     "2030-01-01T00:00:00Z", "2001-01-01T00:00:00Z", "0 0 30 2 *",
                     "* * * * * *", "x" * 257, "\ud800", "\x00", "☃"]))

json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=8)),
                        children, max_size=5)),
    max_leaves=15)


@st.composite
def mutated(draw: Any, valid: Any) -> Any:
    """``valid`` with one to three places replaced, removed or added to."""
    document = json.loads(json.dumps(valid))
    for _ in range(draw(st.integers(1, 3))):
        parent: Any = None
        key: Any = None
        node = document
        while isinstance(node, (dict, list)) and node and draw(st.integers(0, 3)):
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            parent, key = node, draw(st.sampled_from(keys))
            node = node[key]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "add" and isinstance(node, dict):
            node[draw(st.sampled_from(VOCABULARY))] = draw(json_values)
        elif action == "add" and isinstance(node, list):
            node.append(draw(json_values))
        elif action == "remove" and parent is not None:
            del parent[key]
        elif parent is not None:
            parent[key] = draw(json_values)
        else:
            document = draw(json_values)
    return document


VALID_POLICY = {"name": "p", "type": "webhook", "cooldown": 0, "change": 1}
VALID_SCHEDULE = {"name": "s", "type": "schedule", "cooldown": 0, "changePercent": 10,
                  "args": {"at": "2099-01-01T00:00:00Z"}}
VALID_CONFIG = {"name": "web", "cooldown": 0, "minEntities": 0, "maxEntities": 10,
                "metadata": {"a": "b"}}
VALID_LAUNCH = {"type": "launch_server", "args": {
    "server": {"flavorRef": "f", "imageRef": "i", "metadata": {"a": "b"},
               "networks": [{"uuid": "11111111-1111-1111-1111-111111111111"}],
               "personality": [{"path": "/p", "contents": "aGk="}]},
    "loadBalancers": [{"loadBalancerId": 1, "port": 80},
                      {"loadBalancerId": "pool", "type": "RackConnectV3"}],
    "draining_timeout": 30}}
VALID_GROUP = {"groupConfiguration": VALID_CONFIG, "launchConfiguration": VALID_LAUNCH,
               "scalingPolicies": [VALID_POLICY, VALID_SCHEDULE]}
VALID_BODIES = {
    "POST groups": VALID_GROUP,
    "PUT config": VALID_CONFIG,
    "PUT launch": VALID_LAUNCH,
    "POST policies": [VALID_POLICY, VALID_SCHEDULE],
    "PUT policy": VALID_POLICY,
    "POST webhooks": [{"name": "w", "metadata": {"a": "b"}}],
    "PUT webhook": {"name": "w", "metadata": {"a": "b"}},
}
EXAMPLES_PER_ENDPOINT = 150


def generated_bodies(valid: Any) -> list[Any]:
    """Arbitrary JSON and mutations of ``valid``, drawn deterministically by hypothesis."""
    bodies: list[Any] = []

    @settings(max_examples=EXAMPLES_PER_ENDPOINT, derandomize=True, database=None,
              deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(json_values, mutated(valid), mutated(valid)))
    def collect(body: Any) -> None:
        bodies.append(body)

    collect()
    unique = {json.dumps(body, sort_keys=True): body for body in bodies}
    return list(unique.values())


NASTY_VALUES: list[Any] = [None, True, 0, -1, 1.5, 10 ** 30, 1e308, "", " ", "\n",
                           "x" * 257, "\ud800", "\x00", "☃", [], {}, [{}], {"k": {}}]


def substituted(valid: Any) -> list[Any]:
    """``valid`` with each of its values, in turn, replaced by each nasty value."""
    bodies = []

    def paths(node: Any, path: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        keys = (list(node) if isinstance(node, dict) else
                list(range(len(node))) if isinstance(node, list) else [])
        found = [path] if path else []
        for key in keys:
            found += paths(node[key], path + (key,))
        return found

    for path in paths(valid, ()):
        for value in NASTY_VALUES:
            body = json.loads(json.dumps(valid))
            parent = body
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = value
            bodies.append(body)
    return bodies


class NoServerErrorTests(APITestCase):
    """Whatever body a client sends, the API answers without a server error."""

    async def check_bodies(self, bodies: Any) -> None:
        """Send each (name, body) to its endpoint; fail listing the ones that got a 5xx
        or an error body that is not Otter's."""
        f = await make_fixture(self)
        endpoints = dict(zip(VALID_BODIES, body_endpoints(f), strict=True))
        failures = []
        for name, body in bodies:
            method, url = endpoints[name]
            answer = await self.call(method, url, body)
            problem = None
            if answer.code >= 500:
                problem = "server error"
            elif answer.code >= 400:
                try:
                    error = answer.json["error"]
                    if set(error) != ERROR_KEYS or error["code"] != answer.code:
                        problem = "not an Otter error body"
                except (ValueError, KeyError, TypeError):
                    problem = "not a JSON error body"
            if problem:
                failures.append((name, answer.code, problem, body, answer.raw[:200]))
        self.assertEqual(failures, [])
        self.assertEqual((await self.call("GET", f.webhook)).code, 200)

    async def test_no_generated_body_gives_a_server_error(self) -> None:
        """Generated bodies sent to every body endpoint get no 5xx and only Otter error bodies."""
        await self.check_bodies([(name, body) for name, valid in VALID_BODIES.items()
                                 for body in generated_bodies(valid)])

    async def test_no_nasty_value_gives_a_server_error(self) -> None:
        """Valid bodies with any one value made nasty get no 5xx and only Otter error bodies."""
        await self.check_bodies([(name, body) for name, valid in VALID_BODIES.items()
                                 for body in substituted(valid)])

    async def test_lone_surrogate_is_invalid_json(self) -> None:
        """A string escaping half a surrogate pair is refused as not JSON, even in a name."""
        f = await make_fixture(self)
        answer = await self.call("POST", f"{f.policy}/webhooks", [{"name": "\ud800"}])
        assert_error(self, answer, 400, "InvalidJsonError",
                     "The request body is not valid JSON: a string in it holds half of a "
                     "UTF-16 surrogate pair (an escape such as \\ud800 without its partner)")
        answer = await self.call("PUT", f.webhook, raw=b'{"name": "a\\udc00", "metadata": {}}')
        assert_error(self, answer, 400, "InvalidJsonError")
        answer = await self.call("POST", f"{f.policy}/webhooks",
                                 raw='[{"name": "\\ud83d\\ude00 ☃"}]'.encode())
        self.assertEqual(answer.code, 201, answer.raw)
        self.assertEqual(answer.json["webhooks"][0]["name"], "\U0001F600 ☃")
