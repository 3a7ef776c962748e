"""
Log observers for twistd: ``twistd --logger otter2.logs.json_observer otter2``
writes one flat JSON object per event to standard output: ``time`` (ISO 8601,
UTC), ``level``, ``namespace``, ``message`` (the event formatted as a person
reads it), a ``traceback`` when the event carries a failure, and the event's
own fields (``tenant_id``, ``group_id``, ``response_id``...), each as JSON or,
when it is not JSON, as text.

# Note [Text log lines]
Without ``--logger``, twistd writes each event as a line of text (its
``textFileLogObserver``): ``2026-12-03T15:08:37+0000 [otter2.api#info] POST
/v1.0/t1/groups 201 (response …)``. The API logs one such line per request
that changes something, and formatting it the way twistd does cost about 60
microseconds, mostly the local time zone looked up again for every line and
the message formatted through twisted's general formatter. `text_observer`
writes the same lines, character for character (`classic_line`): the time
stamp is computed once per second, and a message whose format names plain
fields is formatted by ``str.format_map``, which gives what twisted's
formatter gives for such a format; any other event (a failure, a flattened or
call-syntax format, a format that fails) is formatted by twisted itself. The
daemon uses it where twistd would write its own text lines to standard output
(``otter2.tap``); a log file named with ``--logfile``, syslog and ``--logger``
are left to twistd.

test-case-name: tests.test_logs
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

from twisted.logger import (
    FileLogObserver,
    formatEvent,
    formatEventAsClassicLogText,
    formatTime,
    timeFormatRFC3339,
)

# Keys an event carries for the logging system itself, not for the reader.
_OWN = ("log_", "format")


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def flat_event(event: Mapping[str, Any], check: bool = True) -> dict[str, Any]:
    """One event as a flat JSON-ready object; see the module docstring. With
    ``check`` false, the event's own fields are taken as they are, JSON or not."""
    level = event.get("log_level")
    flat: dict[str, Any] = {
        "time": datetime.fromtimestamp(event.get("log_time", 0.0), UTC)
        .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": getattr(level, "name", "info"),
        "namespace": event.get("log_namespace", ""),
        "message": formatEvent(dict(event)),
    }
    failure = event.get("log_failure")
    if failure is not None:
        flat["traceback"] = failure.getTraceback()
    for key, value in event.items():
        if not key.startswith(_OWN) and key not in flat:
            flat[key] = _jsonable(value) if check else value
    return flat


def json_line(event: Mapping[str, Any]) -> str:
    """`flat_event` as one line of JSON."""
    flat = flat_event(event, check=False)
    try:
        # Every field is JSON (nearly every event): one encoding instead of two.
        return json.dumps(flat) + "\n"
    except (TypeError, ValueError):
        return json.dumps(flat_event(event)) + "\n"


def json_observer(stream: IO[str] | None = None) -> FileLogObserver:
    """An observer writing one flat JSON object per line to ``stream`` (standard output)."""
    return FileLogObserver(stream or sys.stdout, json_line)


class _Stamps:
    """
    twistd's time stamp of a line (``formatTime`` with RFC 3339), the last
    one kept for the rest of its second. A time within a microsecond of the
    next second is neither kept nor answered from what is kept: ``datetime``
    rounds it up to that second.
    """

    def __init__(self) -> None:
        self._second: float | None = None
        self._stamp = ""

    def __call__(self, when: float | None) -> str:
        try:
            second = math.floor(when)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return formatTime(when, timeFormatRFC3339)
        if when - second >= 0.999999:  # type: ignore[operator]
            return formatTime(when, timeFormatRFC3339)
        if second != self._second:
            self._second, self._stamp = second, formatTime(when, timeFormatRFC3339)
        return self._stamp


def _system(event: Mapping[str, Any]) -> str:
    """The part of a line between brackets, as twisted writes it."""
    system = event.get("log_system")
    if system is not None:
        try:
            return str(system)
        except Exception:
            return "UNFORMATTABLE"
    level = event.get("log_level")
    return "{namespace}#{level}".format(namespace=event.get("log_namespace", "-"),
                                        level="-" if level is None else level.name)


def classic_line(event: Mapping[str, Any], stamps: _Stamps | None = None) -> str | None:
    """
    The line twistd's text observer writes for ``event`` (its
    ``formatEventAsClassicLogText`` with RFC 3339 time stamps), None when it
    writes nothing; faster for an event with a plain format (Note [Text log
    lines]).
    """
    stamp = stamps if stamps is not None else _Stamps()
    text = None
    form = event.get("log_format")
    if (isinstance(form, str) and "()" not in form and "log_failure" not in event
            and "log_flattened" not in event):
        try:
            text = form.format_map(event)
        except Exception:
            text = None
    if text is None:
        return formatEventAsClassicLogText(dict(event), formatTime=stamp)
    if not text:
        return None
    return f"{stamp(event.get('log_time'))} [{_system(event)}] " + \
        text.replace("\n", "\n\t") + "\n"


def text_observer(stream: IO[str] | None = None) -> FileLogObserver:
    """An observer writing twistd's text lines to ``stream`` (standard output),
    at less cost than twistd's own (Note [Text log lines])."""
    stamps = _Stamps()
    return FileLogObserver(stream or sys.stdout, lambda event: classic_line(event, stamps))
