"""
The baseline: bare Klein routes served by the same Twisted as otter2
(``python -m otter2.bench.bare PORT``): a GET answering a fixed JSON document
like a group's state, and a POST answering 202 with no body, like a policy
execution.

test-case-name: tests.bench.test_bare
"""

import sys
from typing import Any

from klein import Klein
from twisted.internet import endpoints, reactor
from twisted.web.server import Site

app = Klein()
BODY = (b'{"group": {"id": "0a3e5b7c-6f1d-4c2a-9e8b-2d4f6a8c0e1b", "links": [{"href": '
        b'"http://127.0.0.1:9000/v1.0/100200/groups/0a3e5b7c-6f1d-4c2a-9e8b-2d4f6a8c0e1b/", '
        b'"rel": "self"}], "name": "web", "paused": false, "status": "ACTIVE", '
        b'"desiredCapacity": 1, "active": [], "activeCapacity": 0, "pendingCapacity": 1}}')


@app.route("/v1.0/<tenant_id>/groups/<group_id>/state/", strict_slashes=False)
def state(request: object, tenant_id: str, group_id: str) -> bytes:
    return BODY


@app.route("/v1.0/execute/<version>/<capability_hash>/", methods=["POST"],
           strict_slashes=False)
def execute(request: Any, version: str, capability_hash: str) -> bytes:
    request.setResponseCode(202)
    return b""


class _QuietSite(Site):
    def log(self, request: object) -> None:
        pass


if __name__ == "__main__":
    endpoints.serverFromString(reactor, f"tcp:{sys.argv[1]}:interface=127.0.0.1").listen(
        _QuietSite(app.resource()))
    reactor.run()
