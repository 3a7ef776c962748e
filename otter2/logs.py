"""
Log observers for twistd: ``twistd --logger otter2.logs.json_observer otter2``
writes one JSON object per event to standard output.

test-case-name: tests.test_daemon
"""

import sys

from twisted.logger import FileLogObserver, jsonFileLogObserver


def json_observer() -> FileLogObserver:
    """An observer writing JSON lines (one event per line) to standard output."""
    return jsonFileLogObserver(sys.stdout, recordSeparator="")
