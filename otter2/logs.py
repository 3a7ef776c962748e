"""
Log observers for twistd: ``twistd --logger otter2.logs.json_observer otter2``
writes one flat JSON object per event to standard output: ``time`` (ISO 8601,
UTC), ``level``, ``namespace``, ``message`` (the event formatted as a person
reads it), a ``traceback`` when the event carries a failure, and the event's
own fields (``tenant_id``, ``group_id``, ``response_id``...), each as JSON or,
when it is not JSON, as text.

test-case-name: tests.test_logs
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

from twisted.logger import FileLogObserver, formatEvent

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
