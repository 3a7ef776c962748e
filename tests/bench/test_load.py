"""
Tests for otter2.bench.load: the load generator reads keep-alive answers of
either framing and counts the 200s apart from the rest. It is an HTTP client,
so it is tested against a small standard-library server on loopback.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from otter2.bench.load import LoadResult, measure


class _Handler(BaseHTTPRequestHandler):
    """``/ok`` has a length, ``/chunked`` is chunked, anything else is a 404."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        if path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5\r\nhello\r\n1;name=value\r\n!\r\n0\r\n\r\n")
            return
        body = b'{"ok": true}'
        self.send_response(200 if path == "/ok" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Say nothing."""


class MeasureTests(SynchronousTestCase):
    """What ``measure`` counts."""

    def setUp(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        self.root = f"http://127.0.0.1:{server.server_address[1]}"

    def test_content_length(self) -> None:
        """Answers with a Content-Length are read whole, one after another."""
        result = measure(self.root + "/ok", connections=2, seconds=0.2)
        self.assertGreater(result.requests, 2)
        self.assertEqual(result.errors, 0)

    def test_chunked(self) -> None:
        """Chunked answers (with chunk extensions) are read to their last chunk."""
        result = measure(self.root + "/chunked?x=1", connections=2, seconds=0.2)
        self.assertGreater(result.requests, 2)
        self.assertEqual(result.errors, 0)

    def test_errors(self) -> None:
        """Any status but 200 counts as an error, not a request."""
        result = measure(self.root + "/missing", connections=1, seconds=0.2)
        self.assertEqual(result.requests, 0)
        self.assertGreater(result.errors, 2)

    def test_per_second(self) -> None:
        """The rate is the requests over the seconds, and zero for no time at all."""
        self.assertEqual(LoadResult(requests=50, errors=3, seconds=2.0).per_second, 25.0)
        self.assertEqual(LoadResult(requests=50, errors=0, seconds=0.0).per_second, 0.0)
