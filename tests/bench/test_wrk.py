"""
Tests for otter2.bench.wrk: the script it gives wrk, how it reads wrk's
summary, and (where wrk is installed) a real run against a small
standard-library server on loopback.
"""

from __future__ import annotations

import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from otter2.bench.wrk import MARK, WrkResult, find_wrk, lua_script, parse_output, run_wrk


class _Handler(BaseHTTPRequestHandler):
    """``/ok`` and ``/also`` answer 200, anything else 404."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200 if self.path in ("/ok", "/also") else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Say nothing."""


class ScriptTests(SynchronousTestCase):
    """The Lua script and the summary line."""

    def test_script(self) -> None:
        """The script names the method, every path, and writes the marked summary."""
        script = lua_script("POST", ["/a/", '/b/"quoted"'])
        self.assertIn('local method = "POST"', script)
        self.assertIn('"/a/", "/b/\\"quoted\\""', script)
        self.assertIn(MARK, script)
        self.assertIn("latency:percentile(99)", script)

    def test_parse(self) -> None:
        """The marked line gives the counts, the seconds and the latencies in ms."""
        output = ("Running 1s test @ http://x\n" + MARK +
                  '{"requests": 500, "duration_us": 2000000, "connect": 1, "read": 2, '
                  '"write": 0, "status": 7, "timeout": 3, "p50_us": 1500, "p99_us": 9000}\n')
        result = parse_output(output)
        self.assertEqual(result, WrkResult(requests=500, seconds=2.0, socket_errors=6,
                                           bad_status=7, p50_ms=1.5, p99_ms=9.0))
        self.assertEqual(result.per_second, 250.0)

    def test_no_summary(self) -> None:
        """Output without the summary (wrk failed) is an error quoting the output."""
        with self.assertRaises(RuntimeError) as caught:
            parse_output("unable to connect to 127.0.0.1:1 Connection refused\n")
        self.assertIn("Connection refused", str(caught.exception))

    def test_find_without_installing(self) -> None:
        """Without installing, wrk is whatever is on the path, or a reason."""
        found, reason = find_wrk(install=False)
        self.assertEqual(found, shutil.which("wrk"))
        self.assertEqual(reason, "" if found else "wrk is not installed")


class RunTests(SynchronousTestCase):
    """wrk itself, where it is installed."""

    def setUp(self) -> None:
        self.wrk = shutil.which("wrk")
        if self.wrk is None:
            raise SkipTest("wrk is not installed")
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        self.root = f"http://127.0.0.1:{server.server_address[1]}"

    def test_answers_counted(self) -> None:
        """Requests to paths that answer 200 are counted without errors."""
        assert self.wrk is not None
        result = run_wrk(self.wrk, self.root, "POST", ["/ok", "/also"], 1, threads=1,
                         connections=2)
        self.assertGreater(result.requests, 0)
        self.assertEqual((result.socket_errors, result.bad_status), (0, 0))

    def test_bad_status_counted(self) -> None:
        """Answers outside 2xx and 3xx are counted apart."""
        assert self.wrk is not None
        result = run_wrk(self.wrk, self.root, "GET", ["/missing"], 1, threads=1,
                         connections=2)
        self.assertGreater(result.bad_status, 0)
        self.assertEqual(result.bad_status, result.requests)
