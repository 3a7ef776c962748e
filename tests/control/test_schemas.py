"""
Tests for ``otter2.control.schemas``: the bounds of numbers and the refusal of
control characters, through the validation of whole bodies.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from otter2.control.errors import APIError
from otter2.control.validation import (
    validate_group_config,
    validate_group_create,
    validate_policies,
    validate_policy,
    validate_webhook_update,
    validate_webhooks,
)

NOW = 1700000000.0
CONFIG: dict[str, Any] = {"name": "web", "cooldown": 60, "minEntities": 0}
SERVER: dict[str, Any] = {"flavorRef": "general1-2", "imageRef": "9f2c3a5e"}
POLICY: dict[str, Any] = {"name": "add one", "type": "webhook", "cooldown": 0}


def group(config: Any = None, args: Any = None, launch_type: str = "launch_server",
          policy: Any = None) -> dict[str, Any]:
    """A create-group body with ``config``, launch ``args`` and one ``policy`` on top of
    minimal ones."""
    body: dict[str, Any] = {
        "groupConfiguration": {**CONFIG, **(config or {})},
        "launchConfiguration": {"type": launch_type,
                                "args": {"server": SERVER, **(args or {})}}}
    if policy is not None:
        body["scalingPolicies"] = [{**POLICY, **policy}]
    return body


def stack(timeout: Any) -> dict[str, Any]:
    """A launch_stack group whose stack waits ``timeout`` minutes."""
    body = group()
    body["launchConfiguration"] = {"type": "launch_stack", "args": {
        "stack": {"template": "t", "timeout_mins": timeout}}}
    return body


# (path in the group body, a body with that field set to a value, lowest, highest)
BOUNDS: list[tuple[str, Callable[[Any], dict[str, Any]], Any, Any]] = [
    ("groupConfiguration.cooldown", lambda v: group({"cooldown": v}), 0, 86400),
    ("groupConfiguration.minEntities",
     lambda v: group({"minEntities": v, "maxEntities": 1000}), 0, 1000),
    ("groupConfiguration.maxEntities", lambda v: group({"maxEntities": v}), 0, 1000),
    ("scalingPolicies[0].cooldown", lambda v: group(policy={"cooldown": v, "change": 1}),
     0, 86400),
    ("scalingPolicies[0].change", lambda v: group(policy={"change": v}), -1000, 1000),
    ("scalingPolicies[0].changePercent", lambda v: group(policy={"changePercent": v}),
     -100000, 100000),
    ("scalingPolicies[0].desiredCapacity", lambda v: group(policy={"desiredCapacity": v}),
     0, 1000),
    ("launchConfiguration.args.loadBalancers[0].port",
     lambda v: group(args={"loadBalancers": [{"loadBalancerId": 1, "port": v}]}), 1, 65535),
    ("launchConfiguration.args.draining_timeout",
     lambda v: group(args={"draining_timeout": v}), 30, 3600),
    ("launchConfiguration.args.stack.timeout_mins", stack, 0, 10080),
]


class BoundsTests(SynchronousTestCase):
    """Every number has bounds no real group needs to exceed."""

    def refused(self, body: dict[str, Any]) -> str:
        """The message of the 400 ``ValidationError`` that refuses ``body``."""
        error: APIError = self.assertRaises(APIError, validate_group_create, body, NOW)
        self.assertEqual((error.status, error.error_type), (400, "ValidationError"))
        return error.message

    def test_bounds_accepted(self) -> None:
        """Each field takes its lowest and its highest value."""
        for _path, body, low, high in BOUNDS:
            for value in (low, high):
                validate_group_create(body(value), NOW)

    def test_beyond_refused_naming_field_and_bound(self) -> None:
        """A value past either bound is refused with the field's path and the bound."""
        for path, body, low, high in BOUNDS:
            self.assertEqual(self.refused(body(high + 1)),
                             f"{path}: {high + 1} is greater than the maximum of {high}")
            self.assertEqual(self.refused(body(low - 1)),
                             f"{path}: {low - 1} is less than the minimum of {low}")

    def test_huge_numbers_refused(self) -> None:
        """Numbers far beyond any group are refused, named by a readable message."""
        for path, body, _low, _high in BOUNDS:
            for value in (10 ** 23, 1e300):
                message = self.refused(body(value))
                self.assertTrue(message.startswith(f"{path}: "), message)
                self.assertLess(len(message), 200)

    def test_policy_bodies(self) -> None:
        """Policies alone (in a batch or an update) have the same bounds."""
        for field, value in [("change", 1001), ("changePercent", -100000.5),
                             ("desiredCapacity", 1001), ("cooldown", 86400.5)]:
            policy = {**POLICY, "change": 1, field: value} if field == "cooldown" else {
                **POLICY, field: value}
            error = self.assertRaises(APIError, validate_policies, [policy], NOW)
            self.assertTrue(error.message.startswith(f"[0].{field}: "), error.message)
            error = self.assertRaises(APIError, validate_policy, policy, NOW)
            self.assertTrue(error.message.startswith(f"{field}: "), error.message)


class ControlCharacterTests(SynchronousTestCase):
    """Names and metadata keys hold no control character; metadata values only line breaks
    and tabs."""

    def refused(self, call: Callable[[], object], message: str) -> None:
        """``call`` raises a 400 ``ValidationError`` with ``message``."""
        error = self.assertRaises(APIError, call)
        self.assertEqual((error.status, error.error_type, error.message),
                         (400, "ValidationError", message))

    def test_names(self) -> None:
        """Group, policy and webhook names with NUL, other C0 controls, DEL or C1 controls
        are refused, naming the field and the character."""
        for char in ["\x00", "\t", "\x1f", "\x7f", "\x85"]:
            name = f"a{char}b"
            code = f"U+{ord(char):04X}"
            shown = json.dumps(name)
            tail = f"{shown} must not contain control characters; found {code} at position 1"
            self.refused(lambda: validate_group_create(group({"name": name}), NOW),
                         f"groupConfiguration.name: {tail}")
            self.refused(lambda: validate_group_config(
                {**CONFIG, "name": name, "maxEntities": 1, "metadata": {}}), f"name: {tail}")
            self.refused(lambda: validate_group_create(
                group(policy={"name": name, "change": 1}), NOW),
                f"scalingPolicies[0].name: {tail}")
            self.refused(lambda: validate_policy({**POLICY, "name": name, "change": 1}, NOW),
                         f"name: {tail}")
            self.refused(lambda: validate_webhooks([{"name": name}]), f"[0].name: {tail}")
            self.refused(lambda: validate_webhook_update({"name": name, "metadata": {}}),
                         f"name: {tail}")

    def test_metadata(self) -> None:
        """Metadata keys hold no control character; values may hold tabs and line breaks
        only."""
        self.refused(lambda: validate_webhooks([{"name": "w", "metadata": {"k\n": "v"}}]),
                     '[0].metadata: key "k\\n" must not contain control characters; found '
                     "U+000A at position 1")
        self.refused(lambda: validate_group_create(group({"metadata": {"k": "v\x00"}}), NOW),
                     'groupConfiguration.metadata.k: "v\\u0000" must not contain control '
                     "characters other than tab, line feed and carriage return; found U+0000 "
                     "at position 1")
        text = "line one\r\n\tline two\n"
        self.assertEqual(validate_webhooks([{"name": "w", "metadata": {"note": text}}]),
                         [{"name": "w", "metadata": {"note": text}}])

    def test_printable_names_accepted(self) -> None:
        """Names of printable Unicode, spaces included, are accepted."""
        for name in ["web tier", "☃ snow", "\u00a0nbsp", "e\u0301", "日本"]:
            validate_webhooks([{"name": name}])
            validate_group_create(group({"name": name}), NOW)
