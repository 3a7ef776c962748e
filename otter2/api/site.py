"""
The HTTP site of the API: requests that stop storing their body past the
size limit (so a huge upload costs neither memory nor disk), a 404 for any
path with an empty segment, a 400 for one whose percent-escapes are not UTF-8, and no access log of its own (the API logs each
request with its response id).

test-case-name: tests.api.test_site, tests.api.test_odd_inputs
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from otter2.api.errors import error_page, request_path
from otter2.control.errors import APIError


class BoundedRequest(Request):
    """A request that keeps at most ``max_body_bytes`` of its body."""

    max_body_bytes: int  # set by `APISite` from the configured limit
    body_too_large = False

    def gotLength(self, length: int | None) -> None:
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


class EmptySegment(Resource):
    """
    What a path with an empty segment (``groups//servers``, ``//v1.0/…``) is
    given: a 404. Klein would read ``//v1.0`` as ``/v1.0`` and werkzeug would
    redirect ``groups//servers`` to ``groups/servers``, which is another
    resource; a client that left an id out deserves to be told.
    """

    isLeaf = True

    def render(self, request: IRequest) -> bytes:
        return error_page(request, APIError(
            404, "NotFound", f"No resource at {request_path(request)}: the path has an "
                             "empty segment (//); fill in the missing id or remove the "
                             "extra slash"))


class NotUTF8(Resource):
    """
    What a path whose percent-escapes are not UTF-8 (``groups/%fe%ff``) is
    given: Otter's 400 body, instead of the framework's plain-text one.
    """

    isLeaf = True

    def render(self, request: IRequest) -> bytes:
        return error_page(request, APIError(
            400, "InvalidURL", "The path's percent-escapes are not UTF-8: escape each "
                               "character of an id as the UTF-8 bytes of its encoding"))


def _utf8_path(path: bytes) -> bool:
    """Whether the percent-decoded ``path`` is UTF-8 (every path Klein can route)."""
    try:
        unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class APISite(Site):
    """A site whose requests are bounded to ``max_body_bytes``, and whose paths have no
    empty segment."""

    def __init__(self, resource: Any, max_body_bytes: int) -> None:
        super().__init__(resource)
        class APIRequest(BoundedRequest):
            pass

        APIRequest.max_body_bytes = max_body_bytes
        self.requestFactory = APIRequest

    def getResourceFor(self, request: Any) -> Any:
        odd = (EmptySegment() if b"//" in request.path
               else None if _utf8_path(request.path) else NotUTF8())
        if odd is not None:
            request.site = self
            request.sitepath = []
            return odd
        return super().getResourceFor(request)

    def log(self, request: Any) -> None:
        """Leave request logging to the API, which knows the response id."""
