"""
Tests for otter2.api.routing: the API's map, remembering its matches, answers
as werkzeug's own map with the same rules.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, MapAdapter, RequestRedirect, Rule

from otter2.api import routing
from otter2.api.app import OtterAPI
from otter2.api.routing import RememberingMap

SEGMENTS = st.sampled_from(["v1.0", "t1", "groups", "g1", "policies", "p1", "execute",
                            "webhooks", "w1", "state", "config", "launch", "executions",
                            "journal", "1", "abc", "", "%41", "x y"])
PATHS = st.lists(SEGMENTS, max_size=8).map(lambda parts: "/" + "/".join(parts)) | st.text()
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"])


def outcome(adapter: MapAdapter, return_rule: bool = True) -> Any:
    """What matching gives: the rule's text (or endpoint) and arguments, or the error."""
    try:
        found, arguments = (adapter.match(return_rule=True) if return_rule
                            else adapter.match())
    except RequestRedirect as e:
        return ("redirect", e.new_url)
    except HTTPException as e:
        # werkzeug gathers the allowed methods in a set: their order is the set's
        # (string hashes vary between runs), and the API sorts them when it answers.
        allowed = getattr(e, "valid_methods", None)
        return (type(e), None if allowed is None else sorted(allowed))
    return (found.rule if isinstance(found, Rule) else found), dict(arguments)


class RememberingMapTests(SynchronousTestCase):
    """The same answers as werkzeug's map, asked once or many times."""

    def setUp(self) -> None:
        rules = [rule.empty() for rule in OtterAPI.app.url_map.iter_rules()]
        self.remembering = RememberingMap([rule.empty() for rule in rules])
        self.plain = Map(rules)

    @given(st.lists(st.tuples(PATHS, METHODS, st.booleans()), min_size=1, max_size=20))
    def test_as_werkzeug(self, asks: list[tuple[str, str, bool]]) -> None:
        """Each request in turn, repeated or not, matches as it does in werkzeug's map."""
        for path, method, return_rule in asks + asks:
            self.assertEqual(
                outcome(self.remembering.bind("h", path_info=path, default_method=method),
                        return_rule),
                outcome(self.plain.bind("h", path_info=path, default_method=method),
                        return_rule))

    def test_api_map(self) -> None:
        """The API's routes are on a remembering map."""
        self.assertIsInstance(OtterAPI.app.url_map, RememberingMap)

    def test_bounded(self) -> None:
        """Past its bound the map forgets, and still answers."""
        self.patch(routing, "REMEMBERED", 3)
        for n in range(10):
            path = f"/v1.0/t{n}/groups/g/state/"
            found = outcome(self.remembering.bind("h", path_info=path, default_method="GET"))
            self.assertEqual(found[1]["tenant_id"], f"t{n}")
            self.assertLessEqual(len(self.remembering.found), 3)

    def test_added_rule_forgets(self) -> None:
        """A rule added later is found for a path matched before it."""
        path = "/v1.0/t1/groups/g1/state/"
        before = outcome(self.remembering.bind("h", path_info=path, default_method="GET"), False)
        self.remembering.add(Rule(path, endpoint="first", methods=["GET"]))
        self.assertEqual(
            outcome(self.remembering.bind("h", path_info=path, default_method="GET"), False),
            ("first", {}))
        self.assertNotEqual(before[0], "first")
