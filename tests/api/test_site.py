"""
Tests for otter2.api.site: request bodies are bounded while they arrive.
"""

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyChannel

from otter2.api.site import APISite, BoundedRequest


def stored(request: BoundedRequest) -> bytes:
    """What ``request`` kept of its body (in memory or in a temporary file)."""
    assert request.content is not None
    request.content.seek(0)
    body: bytes = request.content.read()
    return body


class BoundedRequestTests(SynchronousTestCase):
    """A request keeps no more of its body than the limit."""

    def request(self, limit: int) -> BoundedRequest:
        site = APISite(object(), limit)
        request = site.requestFactory(DummyChannel(), False)
        assert isinstance(request, BoundedRequest)
        return request

    def test_declared_length_over_limit(self) -> None:
        """A Content-Length above the limit stores nothing and marks the request."""
        request = self.request(10)
        request.gotLength(10_000_000)
        request.handleContentChunk(b"x" * 100)
        self.assertTrue(request.body_too_large)
        self.assertEqual(stored(request), b"")

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
        self.assertEqual(stored(request), b"1234567890")

    def test_body_within_limit(self) -> None:
        """A body within the limit is stored whole."""
        request = self.request(10)
        request.gotLength(4)
        request.handleContentChunk(b"abcd")
        self.assertFalse(request.body_too_large)
        self.assertEqual(stored(request), b"abcd")
