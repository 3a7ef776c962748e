"""
Tests for ``otter2.control.messages``: failures described in JSON terms, with the
path of the field at fault.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from otter2.control.errors import APIError
from otter2.control.messages import json_text, where
from otter2.control.validation import validate_group_create, validate_policy

NOW = 1700000000.0
VALID_GROUP: dict[str, Any] = {
    "groupConfiguration": {"name": "web", "cooldown": 0, "minEntities": 0,
                           "maxEntities": 10, "metadata": {"a": "b"}},
    "launchConfiguration": {"type": "launch_server", "args": {
        "server": {"flavorRef": "f", "imageRef": "i"},
        "loadBalancers": [{"loadBalancerId": 1, "port": 80}], "draining_timeout": 30}},
    "scalingPolicies": [
        {"name": "p", "type": "webhook", "cooldown": 0, "change": 1},
        {"name": "s", "type": "schedule", "cooldown": 0, "desiredCapacity": 1,
         "args": {"cron": "0 22 * * *"}}],
}

# Python's spelling of values, which a client writing JSON does not know.
PYTHON_SPELLING = re.compile(r"\b(True|False|None)\b|'")


class JSONTextTests(SynchronousTestCase):
    """``json_text`` spells a value as JSON."""

    def test_values(self) -> None:
        """Booleans, null, strings and containers are JSON."""
        self.assertEqual([json_text(v) for v in [True, None, "web", [1.5, {"a": False}]]],
                         ["true", "null", '"web"', '[1.5, {"a": false}]'])

    def test_controls_escaped(self) -> None:
        """Every control character is escaped, DEL and C1 included; other text is kept."""
        self.assertEqual(json_text("a\x00\x7f\x85\n☃"), '"a\\u0000\\u007f\\u0085\\n☃"')

    def test_long_value_cut(self) -> None:
        """A long value is cut to 60 characters, ending in an ellipsis."""
        text = json_text("x" * 1000)
        self.assertEqual(len(text), 60)
        self.assertTrue(text.endswith("..."))


class WhereTests(SynchronousTestCase):
    """``where`` writes the path of a field."""

    def test_paths(self) -> None:
        """Names join with dots, indexes in brackets, and odd keys as JSON strings."""
        self.assertEqual(where(["scalingPolicies", 0, "args", "cron"]),
                         "scalingPolicies[0].args.cron")
        self.assertEqual(where([0, "name"]), "[0].name")
        self.assertEqual(where(["metadata", "a.b", "c"]), 'metadata["a.b"].c')
        self.assertEqual(where(["metadata", "x\ny"]), 'metadata["x\\ny"]')
        self.assertEqual(where([]), "")


def refusal(body: Any) -> str | None:
    """The message refusing ``body`` as a new group, or None if it is valid."""
    try:
        validate_group_create(body, NOW)
    except APIError as error:
        return error.message
    return None


@st.composite
def with_one_value(draw: Any) -> Any:
    """``VALID_GROUP`` with one of its values replaced by a string-free JSON value."""
    body = json.loads(json.dumps(VALID_GROUP))
    node = body
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        if not isinstance(node[key], (dict, list)) or draw(st.booleans()):
            break
        node = node[key]
    node[key] = draw(st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False),
        lambda children: st.lists(children, max_size=3), max_leaves=5))
    return body


class DescribeTests(SynchronousTestCase):
    """Schema failures are described in JSON terms, at their path."""

    def test_keywords(self) -> None:
        """Each kind of failure says what is wrong and what is accepted."""
        policy = {"name": "p", "type": "webhook", "cooldown": 0, "change": 1}
        for body, message in [
                ({**policy, "type": "hook"},
                 'type: "hook" is not one of "webhook", "schedule", "cloud_monitoring"'),
                ({**policy, "cooldown": None}, "cooldown: null is not a number"),
                ({**policy, "change": 0},
                 "change: 0 is not allowed: the value must be non-zero"),
                ({**policy, "changePercent": 5}, 'exactly one of "change", "changePercent", '
                 '"desiredCapacity" is required (found: "change", "changePercent")'),
                ({**policy, "args": {}}, "webhook policies take no args"),
                ({"name": "p", "type": "webhook", "change": 1},
                 'missing required property "cooldown"')]:
            error = self.assertRaises(APIError, validate_policy, body, NOW)
            self.assertEqual(error.message, message)

    def test_group_keywords(self) -> None:
        """Failures deep in a group name their whole path."""
        launch = VALID_GROUP["launchConfiguration"]
        lbs = [{"loadBalancerId": 1, "port": 80}] * 6
        cases: list[tuple[dict[str, Any], str]] = [
            ({"loadBalancers": lbs}, "launchConfiguration.args.loadBalancers: has 6 "
                                     "items; at most 5 are allowed"),
            ({"loadBalancers": lbs[:2]}, "launchConfiguration.args.loadBalancers: holds "
                                         "the same item more than once; every item must "
                                         "be different"),
            ({"loadBalancers": [{"loadBalancerId": "p", "type": "RackConnectv3"}]},
             'launchConfiguration.args.loadBalancers[0].type: "RackConnectv3" is not '
             'one of "CloudLoadBalancer", "RackConnectV3"'),
            ({"server": {"flavorRef": "f", "imageRef": True}},
             "launchConfiguration.args.server: imageRef true must be a string without "
             "whitespace")]
        for args, message in cases:
            body = {**VALID_GROUP, "launchConfiguration": {
                **launch, "args": {**launch["args"], **args}}}
            self.assertEqual(refusal(body), message)

    @given(with_one_value())
    def test_no_python_spelling(self, body: Any) -> None:
        """No message about a value spells it as Python would (True, None, quotes)."""
        message = refusal(body)
        if message is not None:
            self.assertIsNone(PYTHON_SPELLING.search(message), message)
