"""
The README's "Running against mimic" section, run as written: its first
command in the background, the others in one shell, as a user pasting them
into a second terminal would.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.support import MIMIC_VENV, ROOT, Daemon, clean_environment, free_port


def section(title: str) -> str:
    """The README's text under ``## title``, up to the next section."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.S)


class MimicWalkThroughTests(SynchronousTestCase):
    """The mimic walk-through works when pasted, and leaves nothing behind."""

    def test_walk_through_as_written(self) -> None:
        """
        ``scripts/run-with-mimic`` starts both, the pasted commands create a
        group, see it converge, repair a server deleted in mimic, delete the
        group; Ctrl-C then stops everything and removes ``.mimic/``.
        """
        first, *rest = shell_blocks(section("Running against mimic"))
        self.assertEqual(first.strip(), "scripts/run-with-mimic")
        port = free_port()
        env = {**clean_environment(), "OTTER2_PORT": str(port), "MIMIC_VENV": MIMIC_VENV,
               "VENV": os.path.dirname(os.path.dirname(sys.executable))}
        log_path = os.path.abspath(self.mktemp())
        with open(log_path, "wb") as log:
            runner = subprocess.Popen(["bash", "-c", first], cwd=ROOT, env=env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.wait_until_up(port, runner, log_path)
            pasted = subprocess.run(["bash", "-c", "set -euo pipefail\n" + "\n".join(rest)],
                                    cwd=ROOT, env=env, capture_output=True, text=True,
                                    timeout=150)
            output = pasted.stdout + pasted.stderr
            self.assertEqual(pasted.returncode, 0, output)
            self.assertRegex(output, r"HTTP/1\.1 201")
            self.assertRegex(output, r"(?i)location: http://127\.0\.0\.1:\d+/v1\.0/123456/groups/")
            self.assertEqual(output.count("HTTP 204"), 3, output)
            # the dry run: three creations, nothing changed; the plan then converged
            self.assertEqual(output.count('"type": "createServer"'), 3, output)
            self.assertIn('"dryRun": true', output)
            self.assertIn('"converged": true, "steps": []', output)
            # one key executed twice: two 202s, one execution, 2 -> 5
            self.assertEqual(len(re.findall(r"HTTP/1\.1 202", output)), 2, output)
            ids = re.findall(r"(?im)^x-execution-id: (\S+)", output)
            self.assertEqual((len(ids), len(set(ids))), (2, 1), output)
            self.assertEqual(output.count('"idempotencyKey": "alarm-1"'), 1, output)
            self.assertRegex(output, r'"before": 2,\s+"after": 5')
            # the journal: the execution is an activity, with its receipt's id
            self.assertRegex(output, rf'"id": "{ids[0]}",\s+"type": "execution"')
            # why, asked while the three build: desired 5, and the policy would make it 8
            self.assertRegex(output, r'"why": \{\s+"status": "ACTIVE",\s+"paused": false,'
                                     r'\s+"desiredCapacity": 5')
            self.assertRegex(output, r'"name": "add three",\s+"type": "webhook",\s+'
                                     r'"outcome": "applies",\s+"desiredCapacity": 8')
            # the newest server's history leads back to that execution
            self.assertRegex(output, rf'"rootCause": \{{\s+"id": "{ids[0]}"')
            self.assertEqual(output.count('"stack_status": "UPDATE_COMPLETE"'), 3, output)
        finally:
            os.killpg(runner.pid, signal.SIGINT)
            runner.wait(timeout=30)
        self.assertFalse(os.path.exists(os.path.join(ROOT, ".mimic")))
        with self.assertRaises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)

    def wait_until_up(self, port: int, runner: subprocess.Popen[bytes], log_path: str) -> None:
        deadline = time.monotonic() + 120  # it may have to set up its environments
        while time.monotonic() < deadline:
            if runner.poll() is not None:
                break
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
                if os.path.exists(os.path.join(ROOT, ".mimic", "env")):
                    return
            except OSError:
                pass
            time.sleep(0.25)
        with open(log_path, errors="replace") as f:
            raise AssertionError("run-with-mimic did not start:\n" + f.read()[-3000:])


class WalkThroughTests(SynchronousTestCase):
    """The README's walk through the API, and its list of every call, run as written."""

    def test_walk_through_and_every_call(self) -> None:
        """
        Pasted into a shell against a daemon without a cloud (its port in
        place of 9000), every command succeeds and the answers are the ones
        the text promises.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        daemon = Daemon(directory, {})
        daemon.start()
        self.addCleanup(daemon.stop)
        text = section("A walk through the API").replace("127.0.0.1:9000",
                                                          f"127.0.0.1:{daemon.port}")
        script = "set -euo pipefail\n" + "\n".join(shell_blocks(text))
        pasted = subprocess.run(["bash", "-c", script], cwd=directory, env=clean_environment(),
                                capture_output=True, text=True, timeout=60)
        output = pasted.stdout + pasted.stderr
        self.assertEqual(pasted.returncode, 0, output)
        statuses = re.findall(r"HTTP/1\.1 (\d{3})", output)
        # create, add a policy, execute, execute in cooldown, capability, schedule
        # policies, an idempotent execution twice, remove a server (no cloud)
        self.assertEqual(statuses, ["201", "201", "202", "403", "202", "201", "403", "403",
                                    "404"], output)
        execution_ids = re.findall(r"(?im)^x-execution-id: (\S+)", output)
        self.assertEqual(len(execution_ids), 4, output)  # not the capability URL's
        self.assertEqual(execution_ids[2], execution_ids[3], output)
        self.assertIn(f'"id": "{execution_ids[3]}"', output)
        self.assertIn('"idempotencyKey": "alarm-42"', output)
        # the journal lists the executions and the group's creation
        self.assertIn('"type": "execution"', output)
        self.assertIn('"change": "group_created"', output)
        # Every answer is JSON, the bodiless 202 of a capability URL included.
        self.assertEqual(len(re.findall(r"(?im)^content-type: application/json", output)),
                         len(statuses), output)
        self.assertRegex(output, r"(?im)^location: http://127\.0\.0\.1:\d+/v1\.0/123456/groups/")
        self.assertIn('"desiredCapacity": 3', output)
        self.assertIn("Cooldowns not met", output)
        self.assertNotIn('"code": 500', output)
