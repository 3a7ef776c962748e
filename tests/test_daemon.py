"""
The real daemon, ``twistd -n otter2``, as a separate process: start-up,
configuration errors, and durability across stop, restart and SIGKILL.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
from typing import Any

from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers

from otter2.service.daemon import COLLECTOR_THRESHOLDS, tune_garbage_collector
from tests.e2e.support import TWISTD, Daemon, free_port

# Fresh connections each time: a daemon killed mid-test leaves nothing pooled.
treq = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False)))


def group_body(name: str, minimum: int = 0) -> dict[str, Any]:
    return {"groupConfiguration": {"name": name, "cooldown": 0, "minEntities": minimum},
            "launchConfiguration": {"type": "launch_server", "args": {
                "server": {"flavorRef": "f", "imageRef": "i"}}}}


def started(case: TestCase, directory: str, config: dict[str, Any],
            twistd_options: tuple[str, ...] = ()) -> Daemon:
    """An otter2 daemon over ``directory``, running, and stopped when the test ends."""
    daemon = Daemon(directory, config, twistd_options)
    daemon.start()
    case.addCleanup(daemon.stop)
    return daemon


class DaemonTests(TestCase):
    """``twistd -n otter2`` serves the API from its embedded store."""

    timeout = 120

    async def _create(self, daemon: Daemon, name: str) -> str:
        response = await treq.post(f"{daemon.url}/v1.0/t1/groups/",
                                   data=json.dumps(group_body(name, 1)).encode())
        self.assertEqual(response.code, 201)
        group_id: str = (await response.json())["group"]["id"]
        return group_id

    async def _names(self, daemon: Daemon) -> set[str]:
        response = await treq.get(f"{daemon.url}/v1.0/t1/groups/")
        groups = (await response.json())["groups"]
        return {g["state"]["name"] for g in groups}

    async def test_restart_keeps_everything(self) -> None:
        """Groups created before a clean stop are all there after a restart."""
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        daemon = started(self, directory, {})
        for i in range(5):
            await self._create(daemon, f"g{i}")
        daemon.stop()
        again = started(self, directory, {})
        self.assertEqual(await self._names(again), {f"g{i}" for i in range(5)})

    async def test_sigkill_keeps_what_was_acknowledged(self) -> None:
        """After SIGKILL, every group whose creation got a 201 is still there."""
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        daemon = started(self, directory, {})
        ids = await gatherResults([Deferred.fromCoroutine(self._create(daemon, f"k{i}"))
                                 for i in range(20)])
        daemon.stop(signal.SIGKILL)
        again = started(self, directory, {})
        response = await treq.get(f"{again.url}/v1.0/t1/groups/")
        listed = {g["id"] for g in (await response.json())["groups"]}
        self.assertEqual(listed, set(ids))

    async def test_sigkill_mid_execution_then_retry_changes_once(self) -> None:
        """
        Twenty alarm senders each execute +1 with their own Idempotency-Key; the
        daemon is killed (SIGKILL) as soon as one is answered, with the others
        anywhere between arrival, write and answer. Every sender retries its key
        on the restarted daemon: each key has changed the group exactly once.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        daemon = started(self, directory, {})
        group_id = await self._create(daemon, "alarms")
        response = await treq.post(
            f"{daemon.url}/v1.0/t1/groups/{group_id}/policies/",
            data=json.dumps([{"name": "up", "type": "webhook", "change": 1,
                              "cooldown": 0}]).encode())
        policy_id = (await response.json())["policies"][0]["id"]
        execute = f"/v1.0/t1/groups/{group_id}/policies/{policy_id}/execute"
        keys = [f"alarm-{i}" for i in range(20)]

        def send(url: str, key: str) -> Deferred[Any]:
            return treq.post(url + execute, headers=Headers({"Idempotency-Key": [key]}))
        first: Deferred[None] = Deferred()

        def answered(result: object) -> None:  # the others fail once killed: ignored
            if not first.called:
                first.callback(None)
        for key in keys:
            send(daemon.url, key).addBoth(answered)
        await first
        daemon.stop(signal.SIGKILL)
        again = started(self, directory, {})
        answers = [await send(again.url, key) for key in keys]
        self.assertEqual({answer.code for answer in answers}, {202})
        ids = {answer.headers.getRawHeaders("X-Execution-Id")[0] for answer in answers}
        self.assertEqual(len(ids), 20)
        response = await treq.get(f"{again.url}/v1.0/t1/groups/{group_id}/state/")
        self.assertEqual((await response.json())["group"]["desiredCapacity"], 1 + 20)

    async def test_admin_metrics(self) -> None:
        """The admin port reports row counts."""
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        admin_port = free_port()
        daemon = started(self, directory,
                         {"admin": f"tcp:{admin_port}:interface=127.0.0.1"})
        await self._create(daemon, "m")
        response = await treq.get(f"http://127.0.0.1:{admin_port}/metrics")
        metrics = {m["id"]: m["value"] for m in (await response.json())["metrics"]}
        self.assertEqual(metrics, {"otter.metrics.groups": 1, "otter.metrics.policies": 0,
                                   "otter.metrics.webhooks": 0})


class JSONLogTests(TestCase):
    """With the JSON observer, the log is JSON lines naming each request's id."""

    timeout = 60

    async def test_request_logged_with_response_id(self) -> None:
        """The response id a client got appears in the request's JSON log line."""
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        daemon = started(self, directory, {}, ("--logger", "otter2.logs.json_observer"))
        response = await treq.get(f"{daemon.url}/v1.0/t1/groups/nope/state")
        await response.content()
        response_id = response.headers.getRawHeaders("X-Response-Id")[0]
        daemon.stop()
        events = [json.loads(line) for line in daemon.output().splitlines() if line.strip()]
        mine = [e for e in events if e.get("response_id") == response_id]
        self.assertEqual(len(mine), 1)
        self.assertEqual((mine[0]["method"], mine[0]["status"]), ("GET", 404))


class ConfigErrorTests(TestCase):
    """A bad configuration stops start-up with one line naming the key."""

    def _start(self, config_text: str) -> subprocess.CompletedProcess[str]:
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        path = os.path.join(directory, "config.json")
        with open(path, "w") as f:
            f.write(config_text)
        return subprocess.run(
            [TWISTD, "-n", "--pidfile=", "otter2", "--port", "tcp:0", "--config", path],
            cwd=directory, capture_output=True, text=True, timeout=60)

    def test_bad_value(self) -> None:
        """A wrong value names its key and prints no traceback."""
        result = self._start('{"limits": {"pagination": "many"}}')
        self.assertNotEqual(result.returncode, 0)
        output = result.stdout + result.stderr
        self.assertIn("limits.pagination", output)
        self.assertNotIn("Traceback", output)

    def test_unknown_key(self) -> None:
        """An unknown key is named."""
        result = self._start('{"url_rot": "http://x"}')
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("url_rot", result.stdout + result.stderr)
        self.assertNotIn("Traceback", result.stdout + result.stderr)

    def test_not_json(self) -> None:
        """A file that is not JSON says so."""
        result = self._start("{nope")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("not valid JSON", result.stdout + result.stderr)
        self.assertNotIn("Traceback", result.stdout + result.stderr)


class CollectorTests(SynchronousTestCase):
    """The daemon's garbage collector settings."""

    def test_tuned(self) -> None:
        """Start-up objects are left out of collections and the youngest generation is
        collected far less often than Python's default."""
        before = gc.get_threshold()
        self.addCleanup(gc.set_threshold, *before)
        self.addCleanup(gc.unfreeze)
        tune_garbage_collector()
        self.assertEqual(gc.get_threshold(), COLLECTOR_THRESHOLDS)
        self.assertGreater(gc.get_freeze_count(), 0)
        self.assertGreater(COLLECTOR_THRESHOLDS[0], 700)
