"""
The HTTP site of the API: requests that stop storing their body past the
size limit (so a huge upload costs neither memory nor disk), and no access
log of its own (the API logs each request with its response id).

test-case-name: tests.api.test_errors
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.web.server import Request, Site


class BoundedRequest(Request):
    """A request that keeps at most ``max_body_bytes`` of its body."""

    max_body_bytes: int  # set by `APISite` from the configured limit
    body_too_large = False

    def gotLength(self, length: Optional[int]) -> None:
        if length is not None and length > self.max_body_bytes:
            self.body_too_large = True
            length = 0
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.body_too_large:
            return
        assert self.content is not None
        if self.content.tell() + len(data) > self.max_body_bytes:
            self.body_too_large = True
            return
        super().handleContentChunk(data)


class APISite(Site):
    """A site whose requests are bounded to ``max_body_bytes``."""

    def __init__(self, resource: Any, max_body_bytes: int) -> None:
        super().__init__(resource)
        class APIRequest(BoundedRequest):
            pass

        APIRequest.max_body_bytes = max_body_bytes
        self.requestFactory = APIRequest

    def log(self, request: Any) -> None:
        """Leave request logging to the API, which knows the response id."""
