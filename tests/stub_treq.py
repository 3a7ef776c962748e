"""
treq's ``StubTreq`` with the types treq leaves out: it copies its client's
methods onto itself in ``__init__``, where mypy cannot see them.
"""

from __future__ import annotations

from collections.abc import Callable

from treq.response import _Response
from treq.testing import StubTreq as _UntypedStubTreq
from twisted.internet.defer import Deferred

_Send = Callable[..., Deferred[_Response]]


class StubTreq(_UntypedStubTreq):
    """``treq.testing.StubTreq``: a treq client answered by a resource in memory."""

    request: _Send
    get: _Send
    post: _Send
    put: _Send
    delete: _Send
    flush: Callable[[], None]
