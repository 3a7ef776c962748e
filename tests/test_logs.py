"""
Tests for otter2.logs: the JSON log observer writes one flat object per event.
"""

from __future__ import annotations

import io
import json

from hypothesis import given
from hypothesis import strategies as st
from twisted.logger import Logger, LogLevel, LogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from otter2.logs import flat_event, json_line, json_observer


class JSONObserverTests(SynchronousTestCase):
    """Every event is one line of flat JSON a log shipper can index."""

    def setUp(self) -> None:
        self.stream = io.StringIO()
        publisher = LogPublisher(json_observer(self.stream))
        self.log = Logger(namespace="otter2.test", observer=publisher)

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def test_flat_fields(self) -> None:
        """Time, level, namespace, the formatted message and the event's own fields."""
        self.log.info("Group {group_id}: {summary}", group_id="g1", summary="created 2 servers",
                      count=2)
        [event] = self.lines()
        self.assertEqual({k: v for k, v in event.items() if k != "time"}, {
            "level": "info", "namespace": "otter2.test",
            "message": "Group g1: created 2 servers", "group_id": "g1",
            "summary": "created 2 servers", "count": 2})
        self.assertRegex(event["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def test_values_that_are_not_json(self) -> None:
        """A field JSON cannot hold is written as text, and the line stays valid JSON."""
        self.log.warn("odd {thing}", thing=LogLevel.warn)
        [event] = self.lines()
        self.assertEqual((event["level"], event["thing"]), ("warn", str(LogLevel.warn)))

    def test_failure_has_its_traceback(self) -> None:
        """An error logged with a failure carries the traceback as one field."""
        try:
            raise ZeroDivisionError("no servers to divide")
        except ZeroDivisionError:
            self.log.failure("iteration failed", Failure())
        [event] = self.lines()
        self.assertEqual((event["level"], event["message"]), ("critical", "iteration failed"))
        self.assertIn("ZeroDivisionError", event["traceback"])
        self.assertNotIn("log_failure", event)

    @given(st.dictionaries(
        st.text(alphabet="abcdefgh", min_size=1),
        st.recursive(st.none() | st.booleans() | st.integers() | st.text()
                     | st.sampled_from([LogLevel.info, object, b"bytes"]),
                     lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
                     max_leaves=5)))
    def test_line_as_each_field_checked(self, fields: dict) -> None:
        """The line is that of the event with each field checked on its own: a
        field JSON cannot hold is text, and the others are as they are."""
        event = {"log_format": "x", "log_time": 0.0, "log_namespace": "n", **fields}
        self.assertEqual(json_line(event), json.dumps(flat_event(event)) + "\n")
