"""
Tests for otter2.logs: the JSON log observer writes one flat object per event;
the text observer writes the lines twistd writes.
"""

from __future__ import annotations

import io
import json

from hypothesis import given
from hypothesis import strategies as st
from twisted.logger import (
    Logger,
    LogLevel,
    LogPublisher,
    formatEventAsClassicLogText,
    formatTime,
    timeFormatRFC3339,
)
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from otter2.logs import _Stamps, classic_line, flat_event, json_line, json_observer, text_observer


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


def _twisted_line(event: dict) -> str | None:
    """The line twistd's own text observer writes for ``event``."""
    return formatEventAsClassicLogText(
        event, formatTime=lambda when: formatTime(when, timeFormatRFC3339))


class _Odd:
    """A value whose formatting fails."""

    def __format__(self, spec: str) -> str:
        raise ValueError("no")

    def method(self) -> str:
        return "called"


_FORMATS = st.sampled_from([
    "{method} {path} {status} (response {response_id})", "plain text", "",
    "{status!r:>8} {path!s}", "line one\nline {status}", "{missing}", "{0}", "{}",
    "{odd}", "{odd.method()}", "{status:{width}}", "{path[0]}", "{ {status}",
    b"bytes {status}",
])
_TIMES = st.none() | st.floats(0, 4e9) | st.integers(0, 4_000_000_000).map(
    lambda second: second + 0.9999996) | st.integers(0, 4_000_000_000).map(float)


class TextObserverTests(SynchronousTestCase):
    """The daemon's text lines are twistd's, character for character
    (Note [Text log lines])."""

    @given(form=st.none() | _FORMATS, when=_TIMES,
           system=st.none() | st.sampled_from(["-", "sys"]),
           level=st.none() | st.sampled_from(list(LogLevel.iterconstants())),
           namespace=st.none() | st.sampled_from(["otter2.api", ""]),
           fields=st.fixed_dictionaries({}, optional={
               "method": st.text(max_size=5), "path": st.text(max_size=20),
               "status": st.integers(), "response_id": st.text(max_size=5),
               "width": st.integers(0, 5), "odd": st.just(_Odd())}),
           failed=st.booleans())
    def test_same_line_as_twistd(self, form: str | bytes | None, when: float | None,
                                 system: str | None, level: LogLevel | None,
                                 namespace: str | None, fields: dict, failed: bool) -> None:
        """Every event, plain or odd, is written as twistd writes it."""
        event: dict = dict(fields)
        for key, value in (("log_format", form), ("log_time", when), ("log_system", system),
                           ("log_level", level), ("log_namespace", namespace)):
            if value is not None:
                event[key] = value
        if failed:
            try:
                raise RuntimeError("boom")
            except RuntimeError:
                event["log_failure"] = Failure()
        stamps = _Stamps()
        self.assertEqual(classic_line(event, stamps), _twisted_line(event))
        self.assertEqual(classic_line(event, stamps), _twisted_line(event))  # stamp kept

    @given(st.lists(_TIMES, max_size=20))
    def test_stamps_of_times_in_any_order(self, times: list[float | None]) -> None:
        """A kept time stamp is used only within its own second."""
        stamps = _Stamps()
        for when in times:
            self.assertEqual(stamps(when), formatTime(when, timeFormatRFC3339))

    def test_observer_writes_the_lines(self) -> None:
        """`text_observer` writes an event's line to its stream."""
        stream = io.StringIO()
        log = Logger(namespace="otter2.api", observer=LogPublisher(text_observer(stream)))
        log.info("{method} {status}", method="POST", status=202)
        self.assertRegex(stream.getvalue(),
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} \[otter2.api#info\] "
                         r"POST 202\n$")
