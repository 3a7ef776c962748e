"""
Tests for otter2.bench.bare: the baseline routes answer like otter2's group
state and policy execution, so the API benchmark compares like with like.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from otter2.api.encoded import EncodedGroups
from otter2.api.render import Links
from otter2.bench.bare import BODY, app
from tests.store.test_stores import group
from tests.stub_treq import StubTreq


class BareRouteTests(SynchronousTestCase):
    """The routes the API benchmark measures otter2 against."""

    def test_state(self) -> None:
        """GET of a group's state, with or without the slash, is the fixed document."""
        http = StubTreq(app.resource())
        for url in ["http://bench/v1.0/t1/groups/g1/state",
                    "http://bench/v1.0/t1/groups/g1/state/"]:
            response = self.successResultOf(http.get(url))
            self.assertEqual(response.code, 200)
            self.assertEqual(self.successResultOf(response.content()), BODY)

    def test_document(self) -> None:
        """The document has the members, in order, of otter2's answer to GET state for
        an active group."""
        ours = EncodedGroups(Links("http://127.0.0.1:9000")).identified_state(group())
        bare = json.loads(BODY)["group"]
        self.assertEqual(list(bare), list(json.loads(ours)))

    def test_execute(self) -> None:
        """POST of a capability URL is a 202 with no body, like otter2's."""
        http = StubTreq(app.resource())
        response = self.successResultOf(http.post("http://bench/v1.0/execute/1/abc/"))
        self.assertEqual(response.code, 202)
        self.assertEqual(self.successResultOf(response.content()), b"")
