"""
Convergence through the real HTTP performer: ``make_dispatcher`` with treq's
``StubTreq`` serving the simulated cloud's HTTP resource, so every cloud call
goes through the catalog lookup, the headers, JSON encoding and the reading
of status codes and bodies, as it does against the real cloud.
"""

from __future__ import annotations

import json
from typing import Any

from attrs import evolve
from effect import parallel
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import Resource
from twisted.web.server import Request

from otter2.cloud.catalog import Catalog
from otter2.cloud.request import ServiceType
from otter2.config import ConvergerConfig
from otter2.convergence.iteration import converge_one_group
from otter2.effects.dispatcher import make_dispatcher
from otter2.effects.http import StaticAuthenticator
from otter2.model import GroupStatus
from otter2.model.outcome import Verdict
from otter2.simulation import (
    Behaviour,
    Timeline,
    capacity,
    limit_rate,
    run_for,
    set_quota,
    simulated_catalog,
    simulated_resource,
)
from tests.simulation.test_convergence import Scenario
from tests.stub_treq import StubTreq

REGION = "ORD"


class TokenGate(Resource):
    """
    The simulated cloud behind a token check: a request whose X-Auth-Token
    is not in ``accepted`` gets Identity's 401. Every request is noted, with
    the time it arrived by ``clock``.
    """

    isLeaf = True

    def __init__(self, cloud: Resource, accepted: set[str], clock: IReactorTime) -> None:
        super().__init__()
        self.cloud = cloud
        self.accepted = accepted
        self.clock = clock
        self.seen: list[dict[str, Any]] = []
        self.refused = 0

    def render(self, request: Request) -> Any:
        headers = {name.decode().lower(): values[-1].decode()
                   for name, values in request.requestHeaders.getAllRawHeaders()}
        content = b""
        if request.content is not None:
            content = request.content.read()
            request.content.seek(0)  # the cloud reads it again
        self.seen.append({"method": request.method.decode(), "uri": request.uri.decode(),
                          "headers": headers, "body": content, "at": self.clock.seconds()})
        if headers.get("x-auth-token") not in self.accepted:
            self.refused += 1
            request.setResponseCode(401)
            request.setHeader("content-type", "application/json")
            return json.dumps({"unauthorized": {"code": 401, "message": "Unauthorized"}}).encode()
        return self.cloud.render(request)


class ExpiringAuthenticator:
    """Hands out a token the cloud refuses, and a good one once told it was refused."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.invalidations = 0

    def authenticate(self, tenant_id: str) -> Deferred[tuple[str, Catalog]]:
        """``expired`` until the first invalidation, ``fresh`` after it."""
        return succeed(("fresh" if self.invalidations else "expired", self.catalog))

    def invalidate(self, tenant_id: str) -> None:
        """Forget the token."""
        self.invalidations += 1


class HTTPScenario(Scenario):
    """The Scenario's group and CLB 5, reached over HTTP with some latency."""

    behaviour = Behaviour(build_time=60, latency=0.2)

    def setUp(self) -> None:
        super().setUp()
        self.catalog = simulated_catalog(self.holder.cloud.base_url, REGION, "t1")
        self.gate = TokenGate(simulated_resource(self.holder, self.clock), {"token", "fresh"},
                              self.clock)
        self.http = StubTreq(self.gate)
        self.use(StaticAuthenticator("token", self.catalog))

    def use(self, authenticator: Any) -> None:
        """Reach the cloud with ``authenticator``'s tokens, through the real performer."""
        self.dispatcher = make_dispatcher(self.clock, self.store,
                                          http=self.http,
                                          authenticator=authenticator, region=REGION)

    def converge_for(self, minutes: float) -> Timeline:
        return run_for(self.clock, self.holder,
                       lambda: converge_one_group("t1", "g1", ConvergerConfig(build_timeout=600)),
                       self.dispatcher, minutes=minutes, interval=10,
                       measure=lambda cloud: capacity(cloud, "t1", "g1"),
                       flush=self.http.flush)


class HTTPWiringTests(HTTPScenario):
    """Convergence over HTTP."""

    def test_scale_to_three(self) -> None:
        """A group scales to 3 servers on CLB 5, every call carrying the token and JSON."""
        self.make_group(3)
        self.assert_converged(self.converge_for(minutes=5), 3)
        self.assertEqual(self.gate.refused, 0)
        methods = {(seen["method"], seen["uri"].split("?")[0].split("/")[-1])
                   for seen in self.gate.seen}
        self.assertLessEqual({("POST", "servers"), ("GET", "detail"), ("POST", "nodes"),
                              ("GET", "healthmonitor")}, methods)
        for seen in self.gate.seen:
            headers = seen["headers"]
            self.assertEqual((headers["x-auth-token"], headers["content-type"],
                              headers["accept"], headers["user-agent"]),
                             ("token", "application/json", "application/json", "otter2"))
            self.assertEqual(headers["host"], "cloud.simulated")
            if seen["method"] in ("POST", "PUT"):
                json.loads(seen["body"])

    def test_expired_token_is_renewed(self) -> None:
        """A refused token is renewed once and the group converges without an error."""
        authenticator = ExpiringAuthenticator(self.catalog)
        self.use(authenticator)
        self.make_group(3)
        timeline = self.converge_for(minutes=5)
        self.assert_converged(timeline, 3)
        self.assertEqual((self.gate.refused, authenticator.invalidations), (1, 1))
        self.assertNotIn(Verdict.FAILURE, [sample.result.verdict for sample in timeline.samples])
        self.assertEqual(self.store.groups[("t1", "g1")].state.status, GroupStatus.ACTIVE)

    def test_quota_refusal_is_read(self) -> None:
        """Nova's 403 over quota reaches the group as ERROR with Nova's own message."""
        self.holder.cloud = set_quota(self.holder.cloud, "t1", 2)
        self.make_group(3)
        timeline = self.converge_for(minutes=2)
        self.assertEqual(timeline.final().active, 2)
        state = self.store.groups[("t1", "g1")].state
        self.assertEqual(state.status, GroupStatus.ERROR)
        self.assertIn("Quota exceeded for instances: Requested 1, but already used 2 of 2 "
                      "instances", " ".join(state.error_reasons))


class RateLimitStormTests(HTTPScenario):
    """Two groups of one tenant through a storm of Nova's 429s."""

    def test_storm_slows_without_failing(self) -> None:
        """
        While Nova refuses the tenant's calls for two minutes with 429 and
        Retry-After, both groups RETRY saying so, their later calls are refused
        unsent instead of hammering Nova (the calls that reach it during the storm
        are those made before the first 429 came back), no group goes to ERROR,
        and both converge once the storm is over.
        """
        self.make_group(2)
        first = self.store.groups[("t1", "g1")]
        self.store.create_group(evolve(first, group_id="g2",
                                       state=evolve(first.state, group_id="g2")), [], [], 10)
        start = self.clock.seconds()
        storm_end = start + 120
        self.holder.cloud = limit_rate(self.holder.cloud, "t1", ServiceType.CLOUD_SERVERS,
                                       storm_end)
        settings = ConvergerConfig(build_timeout=600, limited_retry_iterations=2)
        timeline = run_for(
            self.clock, self.holder,
            lambda: parallel([converge_one_group("t1", group, settings)
                              for group in ("g1", "g2")]),
            self.dispatcher, minutes=6, interval=10,
            measure=lambda cloud: capacity(cloud, "t1"), flush=self.http.flush)
        nova_calls = [seen for seen in self.gate.seen if "/cloudServersOpenStack/" in seen["uri"]]
        refused = [seen for seen in nova_calls if seen["at"] < storm_end]
        self.assertEqual([seen["at"] for seen in refused], [start, start])
        # The wait runs from when the 429 came back, a latency after it was sent.
        self.assertEqual([round(seen["at"] - storm_end, 1) for seen in nova_calls[2:4]],
                         [0.2, 0.2])
        reasons = [reason for sample in timeline.samples if sample.result is not None
                   for conclusion in sample.result for reason in conclusion.reasons]
        self.assertTrue(any("limiting the rate of requests" in r for r in reasons), reasons)
        verdicts = {c.verdict for sample in timeline.samples for c in sample.result}
        self.assertNotIn(Verdict.FAILURE, verdicts)
        self.assertGreater(timeline.first_time(lambda c: c.active == 4) or 0, storm_end)
        final = timeline.final()
        self.assertEqual((final.active, final.building, final.errored, final.lb_nodes),
                         (4, 0, 0, 4))
        self.assertEqual([c.verdict for c in timeline.samples[-1].result],
                         [Verdict.SUCCESS, Verdict.SUCCESS])
        for group in ("g1", "g2"):
            self.assertEqual(self.store.groups[("t1", group)].state.status, GroupStatus.ACTIVE)
