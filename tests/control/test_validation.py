"""
Tests for ``otter2.control.validation``: request bodies (rest-api.md §3, §4, §12).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from otter2.control.errors import APIError
from otter2.control.validation import (
    SERVICENET_MESSAGE,
    parse_json,
    validate_group_config,
    validate_group_create,
    validate_launch_config,
    validate_policies,
    validate_policy,
    validate_webhook_update,
    validate_webhooks,
)

NOW = 1700000000.0  # 2023-11-14T22:13:20Z
SERVICENET: dict[str, Any] = {"uuid": "11111111-1111-1111-1111-111111111111"}
CLB: dict[str, Any] = {"loadBalancerId": 4711, "port": 80}
RCV3: dict[str, Any] = {"loadBalancerId": "d6d3aa7c-0000-4f7e-9b1e-0123456789ab",
                        "type": "RackConnectV3"}
CONFIG: dict[str, Any] = {"name": "web", "cooldown": 60, "minEntities": 0}
SERVER: dict[str, Any] = {"flavorRef": "general1-2", "imageRef": "9f2c3a5e"}
POLICY: dict[str, Any] = {"name": "add one", "type": "webhook", "change": 1, "cooldown": 0}
SCHEDULE: dict[str, Any] = {"name": "night", "type": "schedule", "desiredCapacity": 1,
                            "cooldown": 0, "args": {"cron": "0 22 * * *"}}


def launch(args: Any = None, type: str = "launch_server") -> dict[str, Any]:
    """A launch configuration of ``type``, by default with a minimal server."""
    return {"type": type, "args": {"server": SERVER} if args is None else args}


_ABSENT: Any = object()  # a field left out


def group(config: Any = CONFIG, launch_config: Any = _ABSENT, **more: Any) -> dict[str, Any]:
    """A create-group body, by default with a minimal launch configuration."""
    return {"groupConfiguration": config,
            "launchConfiguration": launch() if launch_config is _ABSENT else launch_config,
            **more}


def with_server(**fields: Any) -> dict[str, Any]:
    """A create-group body whose server has ``fields`` on top of a minimal one."""
    server = {**SERVER, **fields}
    return group(launch_config=launch({"server": {k: v for k, v in server.items()
                                                  if v is not _ABSENT}}))


class ValidationTestCase(SynchronousTestCase):
    """Assertions about what validation refuses."""

    def assertRefused(self, call: Callable[[], object], error_type: str = "ValidationError",
                      message: str | None = None) -> APIError:
        """``call`` raises a 400 ``error_type`` error, with ``message`` if given."""
        error: APIError = self.assertRaises(APIError, call)
        self.assertEqual((error.status, error.error_type), (400, error_type))
        if message is not None:
            self.assertEqual(error.message, message)
        return error


class ParseJSONTests(ValidationTestCase):
    """``parse_json`` reads request bodies."""

    def test_json(self) -> None:
        """A JSON document gives its value."""
        self.assertEqual(parse_json(b'{"a": [1, 2.5, null, "\\u2603"]}'),
                         {"a": [1, 2.5, None, "\u2603"]})

    def test_not_json(self) -> None:
        """Empty, malformed, non-UTF-8 and non-standard bodies are InvalidJsonError."""
        for raw in [b"", b"  ", b"{", b"{'a': 1}", b"\xff\xfe{}", b"NaN", b"[Infinity]",
                    "{}".encode("utf-16"), b"[" * 100000, b"1" * 5000]:
            self.assertRefused(lambda: parse_json(raw), "InvalidJsonError")

    def test_not_json_says_why(self) -> None:
        """The InvalidJsonError message says what is wrong with the body, and where."""
        for raw, message in [
                (b" ", "it is empty, and this request needs a JSON document"),
                (b'{"a": 1,}', "Expecting property name enclosed in double quotes at "
                               "line 1, column 9"),
                (b"[1]\n[2]", "Extra data at line 2, column 1"),
                (b"\xff{}", "it is not UTF-8 text (byte 0 cannot be decoded)"),
                (b'{"a": NaN}', "NaN is not a JSON value (JSON has no NaN or Infinity)"),
                (b"[" * 100000, "it is nested too deeply"),
                (b"1" * 5000, "a number in it has too many digits")]:
            self.assertRefused(lambda: parse_json(raw), "InvalidJsonError",
                               f"The request body is not valid JSON: {message}")


class GroupConfigurationTests(ValidationTestCase):
    """``groupConfiguration`` on create and on ``PUT …/config`` (§3.1, §12 items 2, 3, 14)."""

    def create(self, **fields: Any) -> dict[str, Any]:
        """Validate a group whose configuration has ``fields`` on top of ``CONFIG``."""
        return validate_group_create(group({**CONFIG, **fields}), NOW)

    def test_bounds_accepted(self) -> None:
        """Cooldown 86400, 1000 entities and a 256-character name are accepted."""
        fields: Any
        for fields in [{"cooldown": 86400}, {"maxEntities": 1000}, {"minEntities": 1000},
                       {"name": "x" * 256}, {"name": " \u2603 "}, {"cooldown": 0}]:
            self.create(**fields)

    def test_refused(self) -> None:
        """Blank or long names and out-of-range or non-integer numbers are refused."""
        fields: Any
        for fields in [{"name": ""}, {"name": "   "}, {"name": "x" * 257}, {"name": 5},
                       {"cooldown": -1}, {"cooldown": 1.5}, {"cooldown": 86401},
                       {"cooldown": 1.0}, {"cooldown": True}, {"cooldown": "1"},
                       {"minEntities": -1}, {"minEntities": 1001}, {"minEntities": None},
                       {"maxEntities": 1001}, {"maxEntities": False}, {"extra": 1}]:
            self.assertRefused(lambda: self.create(**fields))

    def test_required(self) -> None:
        """Name, cooldown and minEntities are required."""
        for key in ["name", "cooldown", "minEntities"]:
            config = {k: v for k, v in CONFIG.items() if k != key}
            self.assertRefused(lambda: validate_group_create(group(config), NOW))

    def test_message_names_the_field(self) -> None:
        """A schema message says which field failed, and with what value."""
        error = self.assertRefused(lambda: self.create(cooldown=86401))
        self.assertTrue(error.message.startswith("groupConfiguration.cooldown: 86401 "))
        error = self.assertRefused(lambda: validate_group_create(
            group(scalingPolicies=[POLICY, {**POLICY, "change": 1.5}]), NOW))
        self.assertTrue(error.message.startswith("scalingPolicies[1].change: 1.5 "))

    def test_long_value_cut_short(self) -> None:
        """A message quotes only the start of a huge value, and says how long it is."""
        error = self.assertRefused(lambda: self.create(name="x" * 100000))
        self.assertEqual(error.message, 'groupConfiguration.name: "' + "x" * 56 +
                         '... has 100000 characters; at most 256 are allowed')

    def test_messages_speak_json(self) -> None:
        """Values in messages are spelled as JSON: true, null, numbers, double quotes."""
        cases: list[tuple[dict[str, Any], str]] = [
            ({"cooldown": True}, "groupConfiguration.cooldown: true is not an integer"),
            ({"minEntities": None}, "groupConfiguration.minEntities: null is not an "
                                    "integer"),
            ({"name": False}, "groupConfiguration.name: false is not a string"),
            ({"cooldown": "60"}, 'groupConfiguration.cooldown: "60" is not an integer'),
            ({"cooldown": [1]}, "groupConfiguration.cooldown: [1] is not an integer"),
            ({"metadata": {"k": None}}, 'groupConfiguration.metadata.k: null is not a '
                                        'string'),
            ({"metadata": {"a b": 1}}, 'groupConfiguration.metadata["a b"]: 1 is not a '
                                       'string'),
            ({"name": "  "}, 'groupConfiguration.name: "  " must contain a '
                             'non-whitespace character'),
            ({"extra": 1}, 'groupConfiguration: unexpected property "extra"; allowed: '
                           '"name", "cooldown", "minEntities", "maxEntities", '
                           '"metadata"')]
        for fields, message in cases:
            self.assertRefused(lambda: self.create(**fields), message=message)
        config = {k: v for k, v in CONFIG.items() if k != "cooldown"}
        self.assertRefused(lambda: validate_group_create(group(config), NOW),
                           message='groupConfiguration: missing required property '
                                   '"cooldown"')

    def test_min_above_max(self) -> None:
        """``minEntities`` above ``maxEntities`` is InvalidMinEntities."""
        self.assertRefused(lambda: self.create(minEntities=5, maxEntities=4),
                           "InvalidMinEntities",
                           "minEntities must be less than or equal to maxEntities (they are "
                           "5 and 4)")

    def test_null_max(self) -> None:
        """An explicit null ``maxEntities`` is InvalidMinEntities."""
        self.assertRefused(lambda: self.create(maxEntities=None), "InvalidMinEntities",
                           "minEntities must be less than or equal to maxEntities (they are "
                           "0 and null)")

    def test_min_entities_checked_before_launch(self) -> None:
        """The entity check comes before the ServiceNet rule."""
        body = group({**CONFIG, "minEntities": 2, "maxEntities": 1}, launch(
            {"server": {**SERVER, "networks": []}, "loadBalancers": [CLB]}))
        self.assertRefused(lambda: validate_group_create(body, NOW), "InvalidMinEntities")

    def test_metadata(self) -> None:
        """Metadata is a flat map of strings of up to 256 characters."""
        self.create(metadata={"": "", "k" * 256: "v" * 256, "a b": "\u2603"})
        for metadata in [{"a": {"b": "c"}}, {"a": 1}, {"a": None}, {"a": True},
                         {"k" * 257: "v"}, {"a": "v" * 257}, {"a\nb": "v"}, {"a\n": "v"},
                         [], "m", None]:
            self.assertRefused(lambda: self.create(metadata=metadata))

    def test_create_defaults(self) -> None:
        """Creation fills in ``maxEntities`` 1000 and empty ``metadata``."""
        self.assertEqual(self.create()["groupConfiguration"],
                         {**CONFIG, "maxEntities": 1000, "metadata": {}})

    def test_update(self) -> None:
        """A whole configuration is returned as sent."""
        config = {**CONFIG, "maxEntities": 10, "metadata": {"a": "b"}}
        self.assertEqual(validate_group_config(config), config)

    def test_update_requires_max_and_metadata(self) -> None:
        """An update without ``maxEntities`` or ``metadata`` is refused."""
        self.assertRefused(lambda: validate_group_config({**CONFIG, "metadata": {}}))
        self.assertRefused(lambda: validate_group_config({**CONFIG, "maxEntities": 3}))

    def test_update_min_above_max(self) -> None:
        """An update with ``minEntities`` above ``maxEntities`` is InvalidMinEntities."""
        for maximum in [1, None]:
            config = {**CONFIG, "minEntities": 2, "maxEntities": maximum, "metadata": {}}
            self.assertRefused(lambda: validate_group_config(config), "InvalidMinEntities")


class ServerTests(ValidationTestCase):
    """The ``server`` of a ``launch_server`` configuration (§3.2.2, §12 items 4 and 8)."""

    def test_open_object(self) -> None:
        """Other Nova attributes are accepted and kept."""
        body = with_server(name="web", user_data="eA==", key_name="k",
                           personality=[{"path": "/etc/motd", "contents": "aGk=", "x": 1}])
        server = validate_group_create(body, NOW)["launchConfiguration"]["args"]["server"]
        self.assertEqual(server, body["launchConfiguration"]["args"]["server"])

    def test_flavor(self) -> None:
        """``flavorRef`` is a required string without whitespace."""
        for flavor in [2, "", "general 1", "general1\n", None, _ABSENT]:
            self.assertRefused(lambda: validate_group_create(with_server(flavorRef=flavor), NOW))

    def test_boot_from_volume(self) -> None:
        """Without an image, a block device mapping is needed; with one, it is optional."""
        for mapping in ["block_device_mapping", "block_device_mapping_v2"]:
            for image in ["", None, _ABSENT]:
                validate_group_create(with_server(imageRef=image, **{mapping: [{}]}), NOW)
            validate_group_create(with_server(**{mapping: [{}]}), NOW)

    def test_no_image(self) -> None:
        """A missing or unusable image without one block device mapping is refused."""
        for image in [_ABSENT, None, "", " ", "a b", 5, ["i"]]:
            self.assertRefused(lambda: validate_group_create(with_server(imageRef=image), NOW))
        self.assertRefused(lambda: validate_group_create(with_server(
            imageRef="", block_device_mapping=[{}], block_device_mapping_v2=[{}]), NOW))
        self.assertRefused(lambda: validate_group_create(with_server(
            imageRef="", block_device_mapping={}), NOW))

    def test_personality(self) -> None:
        """Personality items need a path of 1 to 255 characters and string contents."""
        for item in [{"path": "", "contents": ""}, {"path": "p" * 256, "contents": ""},
                     {"contents": ""}, {"path": "/p"}, {"path": "/p", "contents": 1}, "x"]:
            self.assertRefused(lambda: validate_group_create(with_server(personality=[item]), NOW))

    def test_metadata(self) -> None:
        """Server metadata keys are restricted and values are strings of up to 255."""
        validate_group_create(with_server(metadata={"a-b_c:d.e f": "v" * 255, "k" * 255: ""}), NOW)
        for metadata in [{"a/b": "v"}, {"": "v"}, {"k" * 256: "v"}, {"a": "v" * 256},
                         {"a": 1}, {"a": None}, {"a\n": "v"}, "m", []]:
            self.assertRefused(lambda: validate_group_create(with_server(metadata=metadata), NOW))

    def test_null_metadata_removed(self) -> None:
        """A null server metadata is accepted and removed, leaving the request alone."""
        body = with_server(metadata=None)
        sent = copy.deepcopy(body)
        created = validate_group_create(body, NOW)["launchConfiguration"]
        self.assertEqual(created, launch())
        updated = validate_launch_config(body["launchConfiguration"])
        self.assertEqual(updated, launch())
        self.assertEqual(body, sent)


class LaunchConfigurationTests(ValidationTestCase):
    """Launch configurations and their load balancers (§3.2, §12 items 5 to 7)."""

    def check(self, launch_config: Any) -> dict[str, Any]:
        """Validate ``launch_config`` both ways, returning what the update gives."""
        created = validate_group_create(group(launch_config=launch_config), NOW)
        updated = validate_launch_config(launch_config)
        self.assertEqual(created["launchConfiguration"], updated)
        return updated

    def refuse(self, launch_config: Any, message: str | None = None) -> None:
        """``launch_config`` is refused both on create and on update; ``message`` (which
        starts with a field's path) is the update's, and the creation's under
        ``launchConfiguration``."""
        self.assertRefused(lambda: validate_group_create(group(launch_config=launch_config), NOW),
                           message=None if message is None else f"launchConfiguration.{message}")
        self.assertRefused(lambda: validate_launch_config(launch_config), message=message)

    def test_example(self) -> None:
        """The example of §3.2.7 is returned unchanged."""
        example = launch({
            "server": {**SERVER, "OS-DCF:diskConfig": "AUTO", "metadata": {"role": "web"},
                       "networks": [SERVICENET, {"uuid": "0" * 8}],
                       "personality": [{"path": "/etc/motd", "contents": "aGVsbG8K"}]},
            "loadBalancers": [CLB, RCV3], "draining_timeout": 60})
        self.assertEqual(self.check(example), example)

    def test_shape(self) -> None:
        """Unknown types, missing or extra keys, and a missing server are refused."""
        launch_config: Any
        for launch_config in [launch(type="launch_bogus"), {"type": "launch_server"},
                              {"args": {"server": SERVER}}, {**launch(), "extra": 1},
                              launch({}), launch({"server": SERVER, "extra": 1}),
                              launch({"server": None}), launch([]), [], None, "x"]:
            self.refuse(launch_config)

    def test_load_balancers(self) -> None:
        """CLB and RCv3 entries are accepted, including one id with two ports."""
        for balancers in [[], [CLB, {**CLB, "port": 443}], [{**CLB, "loadBalancerId": "lb"}],
                          [{**CLB, "type": "CloudLoadBalancer"}], [RCV3], [CLB] + [
                              {**RCV3, "loadBalancerId": str(i)} for i in range(4)]]:
            self.check(launch({"server": SERVER, "loadBalancers": balancers}))

    def test_load_balancers_refused(self) -> None:
        """Six entries, duplicates, a port-less CLB, an RCv3 port and odd types are refused."""
        balancers: Any
        for balancers in [[{**CLB, "port": port} for port in range(6)], [CLB, CLB],
                          [{"loadBalancerId": 4711}], [{**RCV3, "port": 80}],
                          [{**RCV3, "type": "rackconnectv3"}], [{**CLB, "type": ""}],
                          [{**RCV3, "loadBalancerId": 5}], [{**CLB, "loadBalancerId": "a b"}],
                          [{**CLB, "loadBalancerId": ""}], [{**CLB, "port": "80"}],
                          [{**CLB, "extra": 1}], [{**CLB, "loadBalancerId": 1.0}], None, {}]:
            self.refuse(launch({"server": SERVER, "loadBalancers": balancers}))

    def test_draining_timeout(self) -> None:
        """The draining timeout is a number from 30 to 3600."""
        for timeout in [30, 3600, 30.5]:
            self.check(launch({"server": SERVER, "draining_timeout": timeout}))
        bad_timeouts: list[Any] = [29, 29.9, 3601, True, "60", None]
        for timeout in bad_timeouts:
            self.refuse(launch({"server": SERVER, "draining_timeout": timeout}))

    def test_servicenet(self) -> None:
        """CLBs need ServiceNet when networks are listed (§3.2.4)."""
        for networks in [[], [{"uuid": "0" * 8}], [{**SERVICENET, "extra": 1}], None, "x"]:
            self.refuse(launch({"server": {**SERVER, "networks": networks},
                                "loadBalancers": [RCV3, CLB]}),
                        f"args.server.networks: {SERVICENET_MESSAGE}")

    def test_servicenet_not_needed(self) -> None:
        """ServiceNet is not needed without networks, without CLBs, or when present."""
        for server, balancers in [(SERVER, [CLB]), ({**SERVER, "networks": []}, [RCV3]),
                                  ({**SERVER, "networks": [{"uuid": "0"}]}, []),
                                  ({**SERVER, "networks": [SERVICENET]}, [CLB])]:
            self.check(launch({"server": server, "loadBalancers": balancers}))

    def test_stack(self) -> None:
        """A stack needs exactly one of ``template`` and ``template_url``."""
        for stack in [{"template": "heat_template_version: 2015-10-15"},
                      {"template": {}, "disable_rollback": True, "environment": {},
                       "files": {}, "parameters": {"a": 1}, "timeout_mins": 5.5},
                      {"template_url": "https://x/t.yaml", "environment": "e"}]:
            self.check(launch({"stack": stack}, "launch_stack"))

    def test_stack_refused(self) -> None:
        """A missing ``stack``, both or neither template, and unknown keys are refused."""
        for args in [{}, {"stack": {}}, {"stack": {"template": "t", "template_url": "u"}},
                     {"stack": {"template": "t", "extra": 1}}, {"stack": {"template": 1}},
                     {"stack": {"template": "t"}, "extra": 1}, {"server": SERVER}]:
            self.refuse(launch(args, "launch_stack"))


class GroupCreateTests(ValidationTestCase):
    """The whole ``POST /groups`` body (§4.2)."""

    def test_minimal(self) -> None:
        """A minimal body gets its defaults filled in."""
        self.assertEqual(validate_group_create(group(), NOW), {
            "groupConfiguration": {**CONFIG, "maxEntities": 1000, "metadata": {}},
            "launchConfiguration": launch(), "scalingPolicies": []})

    def test_policies(self) -> None:
        """Scaling policies are kept in order; 100 of them, or none, are accepted."""
        for policies in [[POLICY, SCHEDULE], [], [POLICY] * 100]:
            created = validate_group_create(group(scalingPolicies=policies), NOW)
            self.assertEqual(created["scalingPolicies"], policies)
        created = validate_group_create(group(scalingPolicies=[POLICY] * 3), NOW, max_items=3)
        self.assertEqual(len(created["scalingPolicies"]), 3)

    def test_policies_refused(self) -> None:
        """Too many, null, invalid, disabled or past policies are refused."""
        past = {**SCHEDULE, "args": {"at": "2020-01-01T00:00:00Z"}}
        policies: Any
        monitoring_args = {**SCHEDULE, "args": {"check": {}, "cron": "* * * * *"}}
        for policies, max_items in [([POLICY] * 101, 100), ([POLICY] * 4, 3), (None, 100),
                                    ({}, 100), ([{**POLICY, "change": 0}], 100), ([past], 100),
                                    ([monitoring_args], 100)]:
            self.assertRefused(lambda: validate_group_create(
                group(scalingPolicies=policies), NOW, max_items))

    def test_cloud_monitoring(self) -> None:
        """A cloud_monitoring policy cannot be smuggled in at creation."""
        monitoring = {**POLICY, "type": "cloud_monitoring",
                      "args": {"check": {}, "alarm_criteria": {"criteria": "x"}}}
        self.assertRefused(lambda: validate_group_create(group(scalingPolicies=[monitoring]), NOW),
                           message="scalingPolicies[0].type: cloud_monitoring policy disabled")

    def test_shape(self) -> None:
        """The body is a closed object with both configurations."""
        body: Any
        for body in [{}, [], None, "g", {"groupConfiguration": CONFIG},
                     {"launchConfiguration": launch()},
                     {**group(), "extra": 1}, group(config=None)]:
            self.assertRefused(lambda: validate_group_create(body, NOW))

    def test_request_untouched(self) -> None:
        """Validation changes nothing in the request."""
        body = group(scalingPolicies=[POLICY])
        sent = copy.deepcopy(body)
        validate_group_create(body, NOW)
        self.assertEqual(body, sent)


class PolicyTests(ValidationTestCase):
    """Policies for ``POST …/policies`` and ``PUT …/policies/{id}`` (§3.3, §12 item 18)."""

    def refuse(self, policy: Any, message: str | None = None) -> None:
        """``policy`` is refused second in a batch and as an update; ``message`` (which
        starts with a field's path) is the update's, and the batch's under ``[1]``."""
        self.assertRefused(lambda: validate_policies([POLICY, policy], NOW),
                           message=None if message is None else f"[1].{message}")
        self.assertRefused(lambda: validate_policy(policy, NOW), message=message)

    def test_examples(self) -> None:
        """The examples of §3.3.7 are returned as sent, in order."""
        examples = [
            POLICY,
            {"name": "shrink 10%", "type": "webhook", "changePercent": -10, "cooldown": 600.5},
            SCHEDULE, {"name": "launch day", "type": "schedule", "change": 20, "cooldown": 0,
                       "args": {"at": "2030-06-01T08:00:00Z"}},
            {**POLICY, "change": -3}, {**POLICY, "cooldown": 86400},
            {**POLICY, "change": 1000}, {**POLICY, "change": -1000},
            {"name": "p", "type": "webhook", "changePercent": 100000, "cooldown": 0},
            {"name": "p", "type": "webhook", "changePercent": -100000, "cooldown": 0},
            {**SCHEDULE, "desiredCapacity": 0}, {**SCHEDULE, "desiredCapacity": 1000},
        ]
        self.assertEqual(validate_policies(examples, NOW), examples)
        for policy in examples:
            self.assertEqual(validate_policy(policy, NOW), policy)

    def test_adjustments(self) -> None:
        """Exactly one of three adjustments, each non-zero or non-negative, is needed."""
        base = {k: v for k, v in POLICY.items() if k != "change"}
        adjustment: Any
        for adjustment in [{}, {"change": 1, "changePercent": 1},
                           {"change": 1, "desiredCapacity": 1}, {"change": 0},
                           {"changePercent": 0}, {"changePercent": 0.0}, {"change": 1.5},
                           {"change": 1.0}, {"change": True}, {"desiredCapacity": -1},
                           {"desiredCapacity": 1.5}, {"changePercent": "5"}]:
            self.refuse({**base, **adjustment})

    def test_fields(self) -> None:
        """Names, types, cooldowns (finite numbers) and unknown keys are checked."""
        fields: Any
        for fields in [{"name": ""}, {"name": " "}, {"name": "x" * 257}, {"type": "bogus"},
                       {"type": None}, {"cooldown": -1}, {"cooldown": 86401},
                       {"cooldown": False}, {"cooldown": float("inf")},
                       {"cooldown": float("nan")}, {"changePercent": float("nan")},
                       {"id": "x"}, {"links": []}]:
            self.refuse({**POLICY, **fields})
        for key in ["name", "type", "cooldown"]:
            self.refuse({k: v for k, v in POLICY.items() if k != key})

    def test_args(self) -> None:
        """Webhook policies take no args; schedule policies need exactly one of at, cron."""
        schedule = {k: v for k, v in SCHEDULE.items() if k != "args"}
        for policy in [{**POLICY, "args": {}}, {**POLICY, "args": {"cron": "* * * * *"}},
                       schedule, {**schedule, "args": None}, {**schedule, "args": {}},
                       {**schedule, "args": {"at": "2030-12-05T03:12:00Z", "cron": "0 * * * *"}},
                       {**schedule, "args": {"cron": "0 * * * *", "extra": 1}},
                       {**schedule, "args": {"cron": 5}}, {**schedule, "args": {"at": None}}]:
            self.refuse(policy)

    def test_schedule_with_monitoring_args(self) -> None:
        """A schedule policy with check or alarm_criteria has incorrect args."""
        for args in [{"check": {}}, {"alarm_criteria": {}}, {"check": 1, "cron": "0 * * * *"}]:
            self.refuse({**SCHEDULE, "args": args}, "args: Incorrect args for schedule policy")

    def test_cloud_monitoring(self) -> None:
        """A cloud_monitoring policy is refused as disabled."""
        for args in [{"check": {}, "alarm_criteria": {"criteria": "x"}}, {"at": "x"}]:
            self.refuse({**POLICY, "type": "cloud_monitoring", "args": args},
                        "type: cloud_monitoring policy disabled")

    def test_schedule(self) -> None:
        """Past, Z-less, 6-field and keyword schedules are refused with messages naming
        the field."""
        for args, message in [
                ({"at": "2020-01-01T00:00:00Z"}, 'args.at: Invalid "2020-01-01T00:00:00Z" '
                                                 'datetime: It must be in the future'),
                ({"at": "2030-12-05T03:12:00"}, "args.at: '2030-12-05T03:12:00' is not a "
                                                "'date-time': give a UTC time ending in Z, "
                                                'such as "2030-12-05T03:12:00Z"'),
                ({"cron": "0 0 * * * *"},
                 'args.cron: Invalid "0 0 * * * *" cron entry: Seconds not allowed'),
                ({"cron": "@daily"}, "args.cron: '@daily' is not a 'cron': give five "
                                     'fields (minute, hour, day of month, month, day of '
                                     'week) such as "0 22 * * *"'),
                ({}, 'args: a schedule policy needs exactly one of "at" and "cron" '
                     '(found: none)')]:
            self.refuse({**SCHEDULE, "args": args}, message)

    def test_schedule_in_a_group(self) -> None:
        """A schedule refused at group creation is named by its place in the group."""
        policies = [POLICY, {**SCHEDULE, "args": {"cron": "0 0 30 2 *"}}]
        self.assertRefused(lambda: validate_group_create(group(scalingPolicies=policies), NOW),
                           message='scalingPolicies[1].args.cron: Invalid "0 0 30 2 *" '
                                   'cron entry: It never fires')

    def test_batch(self) -> None:
        """A batch is an array of 1 to ``max_items`` policies."""
        self.assertEqual(len(validate_policies([POLICY] * 100, NOW)), 100)
        for body, max_items in [([], 100), ({}, 100), (POLICY, 100), (None, 100),
                                ([POLICY] * 101, 100), ([POLICY] * 3, 2)]:
            self.assertRefused(lambda: validate_policies(body, NOW, max_items))


class WebhookTests(ValidationTestCase):
    """Webhooks: ``POST …/webhooks`` and ``PUT …/webhooks/{id}`` (§3.4, §12 item 30)."""

    def test_create(self) -> None:
        """Webhooks are returned in order, metadata defaulting to empty."""
        self.assertEqual(
            validate_webhooks([{"name": "a"}, {"name": "b", "metadata": {"k": "v"}}]),
            [{"name": "a", "metadata": {}}, {"name": "b", "metadata": {"k": "v"}}])

    def test_create_refused(self) -> None:
        """Bad names, metadata, unknown keys and bad batches are refused."""
        for body, max_items in [([{"name": ""}], 100), ([{"name": " "}], 100),
                                ([{"name": "x" * 257}], 100), ([{}], 100),
                                ([{"name": "a", "metadata": None}], 100),
                                ([{"name": "a", "metadata": {"k": {"n": "v"}}}], 100),
                                ([{"name": "a", "id": "x"}], 100), ([], 100),
                                ({"name": "a"}, 100), ([{"name": "a"}] * 101, 100),
                                ([{"name": "a"}] * 2, 1)]:
            self.assertRefused(lambda: validate_webhooks(body, max_items))

    def test_update(self) -> None:
        """An update needs both name and metadata."""
        webhook = {"name": "a", "metadata": {"k": "v"}}
        self.assertEqual(validate_webhook_update(webhook), webhook)
        for body in [{"name": "a"}, {"metadata": {}}, {**webhook, "extra": 1}, [webhook]]:
            self.assertRefused(lambda: validate_webhook_update(body))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30)

# Values near valid bodies reach the checks that follow the schema.
near_bodies = st.builds(
    group,
    st.fixed_dictionaries({}, optional={**{k: st.just(v) for k, v in CONFIG.items()},
                                        "maxEntities": json_values, "metadata": json_values}),
    st.sampled_from([launch(), launch({"stack": {"template": "t"}}, "launch_stack")])
    | st.fixed_dictionaries({"type": st.just("launch_server"), "args": st.fixed_dictionaries(
        {"server": st.just(SERVER)}, optional={"loadBalancers": json_values})}),
    scalingPolicies=st.lists(st.fixed_dictionaries(
        {k: st.just(v) for k, v in SCHEDULE.items() if k != "args"},
        optional={"args": json_values}), max_size=2))


class ArbitraryInputTests(SynchronousTestCase):
    """No JSON value makes validation raise anything but a 400 ``APIError``."""

    def check(self, call: Callable[[], object]) -> None:
        """``call`` returns or raises a 400."""
        try:
            call()
        except APIError as error:
            self.assertEqual(error.status, 400)

    @given(json_values)
    def test_any_json(self, body: Any) -> None:
        """Every validator returns or raises a 400 for any JSON value."""
        validate: Any
        for validate in [validate_group_config, validate_launch_config, validate_webhooks,
                         validate_webhook_update]:
            self.check(lambda: validate(body))
        validate_now: Any
        for validate_now in [validate_group_create, validate_policies, validate_policy]:
            self.check(lambda: validate_now(body, NOW))
        self.check(lambda: validate_policies([body], NOW))
        self.check(lambda: validate_webhooks([body]))

    @given(near_bodies)
    def test_near_valid_groups(self, body: Any) -> None:
        """Group bodies that are nearly valid return or raise a 400."""
        self.check(lambda: validate_group_create(body, NOW))

    @given(st.binary())
    def test_any_bytes(self, raw: bytes) -> None:
        """Any bytes parse or raise InvalidJsonError."""
        try:
            parse_json(raw)
        except APIError as error:
            self.assertEqual((error.status, error.error_type), (400, "InvalidJsonError"))
