"""
Tests for otter2.api.site: request bodies are bounded while they arrive.
"""

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyChannel

from otter2.api.site import APISite


class BoundedRequestTests(SynchronousTestCase):
    """A request keeps no more of its body than the limit."""

    def request(self, limit: int):  # type: ignore[no-untyped-def]
        site = APISite(object(), limit)
        return site.requestFactory(DummyChannel(), False)

    def test_declared_length_over_limit(self) -> None:
        """A Content-Length above the limit stores nothing and marks the request."""
        request = self.request(10)
        request.gotLength(10_000_000)
        request.handleContentChunk(b"x" * 100)
        self.assertTrue(request.body_too_large)
        self.assertEqual(request.content.getvalue(), b"")

    def test_chunked_body_over_limit(self) -> None:
        """A body of unknown length stops being stored once it passes the limit."""
        request = self.request(10)
        request.gotLength(None)
        request.handleContentChunk(b"12345")
        request.handleContentChunk(b"67890")
        self.assertFalse(request.body_too_large)
        request.handleContentChunk(b"!")
        request.handleContentChunk(b"x" * 1000)
        self.assertTrue(request.body_too_large)
        request.content.seek(0)
        self.assertEqual(request.content.read(), b"1234567890")

    def test_body_within_limit(self) -> None:
        """A body within the limit is stored whole."""
        request = self.request(10)
        request.gotLength(4)
        request.handleContentChunk(b"abcd")
        self.assertFalse(request.body_too_large)
        self.assertEqual(request.content.getvalue(), b"abcd")
