"""
Schedule policies in the running daemon (a real process over a real SQLite
file, no cloud): they fire on time, once each, across a SIGKILL.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
import urllib.request
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from otter2.convergence.planning import iso_time
from tests.e2e.support import Daemon

INTERVAL = 1.0
SLACK = 1.5  # a request or two, and the store's thread


class ScheduleDaemonTests(SynchronousTestCase):
    """Scheduled policies fire within one scheduler interval of their time, once."""

    def setUp(self) -> None:
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        self.daemon = Daemon(directory, {"scheduler": {"interval": INTERVAL}})
        self.daemon.start()
        self.addCleanup(self.daemon.stop)
        self.api = f"{self.daemon.url}/v1.0/123456"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.api + path, method=method, headers={"Content-Type": "application/json"},
            data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read()
        return json.loads(text) if text.strip() else None

    def scheduled_group(self, args: dict[str, str]) -> str:
        group = self.call("POST", "/groups", {
            "groupConfiguration": {"name": "web", "cooldown": 0, "minEntities": 0,
                                   "maxEntities": 100},
            "launchConfiguration": {"type": "launch_server", "args": {"server": {
                "flavorRef": "f", "imageRef": "i"}}},
            "scalingPolicies": [{"name": "s", "type": "schedule", "change": 1, "cooldown": 0,
                                 "args": args}]})
        return str(group["group"]["id"])

    def desired(self, group_id: str) -> int:
        return int(self.call("GET", f"/groups/{group_id}/state")["group"]["desiredCapacity"])

    def watch(self, group_id: str, until: float) -> list[tuple[float, int]]:
        """The desired capacity's changes, with their times, until ``until``."""
        changes = [(time.time(), self.desired(group_id))]
        while time.time() < until:
            time.sleep(0.2)
            desired = self.desired(group_id)
            if desired != changes[-1][1]:
                changes.append((time.time(), desired))
        return changes

    def test_at_fires_on_time_once(self) -> None:
        """An at policy three seconds ahead fires within one interval of its time, once."""
        at = math.ceil(time.time()) + 3
        group_id = self.scheduled_group({"at": iso_time(at)})
        changes = self.watch(group_id, at + 6)
        self.assertEqual([d for _, d in changes], [0, 1], changes)
        self.assertTrue(at <= changes[1][0] <= at + INTERVAL + SLACK, (at, changes))

    def test_cron_fires_each_minute_once(self) -> None:
        """A minutely cron fires at two consecutive minute boundaries, once each."""
        group_id = self.scheduled_group({"cron": "* * * * *"})
        first = math.ceil(time.time() / 60) * 60
        changes = self.watch(group_id, first + 60 + 5)
        self.assertEqual([d for _, d in changes], [0, 1, 2], changes)
        for boundary, (when, _) in zip((first, first + 60), changes[1:], strict=True):
            self.assertTrue(boundary <= when <= boundary + INTERVAL + SLACK, (boundary, changes))

    def test_sigkill_before_the_trigger(self) -> None:
        """Killed before its time and started after it, the policy fires once, at start."""
        at = math.ceil(time.time()) + 3
        group_id = self.scheduled_group({"at": iso_time(at)})
        self.daemon.stop(signal.SIGKILL)
        time.sleep(max(0.0, at + 1 - time.time()))
        self.daemon.start()
        changes = self.watch(group_id, time.time() + 4)
        self.assertEqual(changes[-1][1], 1, changes)
        self.assertLessEqual(len(changes), 2, changes)
