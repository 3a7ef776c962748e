"""
The admin port's ``/metrics`` scraped over a real socket while the API
answers requests: Prometheus' exposition for a scrape, Otter's JSON otherwise.
"""

from __future__ import annotations

from klein.interfaces import IKleinRequest
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Request
from twisted.web.test.test_web import DummyChannel

from otter2.api.app import AdminAPI, OtterAPI
from otter2.api.base import _RouteTemplate
from otter2.api.site import APISite
from tests.api.support import APITestCase, minimal_group, serve_on_loopback

#: What Prometheus sends when it scrapes.
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0;q=0.5,"
                     "text/plain;version=0.0.4;q=0.2,*/*;q=0.1")


class AdminMetricsTests(APITestCase):
    """The API's requests and the store's groups are seen by a scrape of the admin port."""

    def setUp(self) -> None:
        super().setUp()
        admin = AdminAPI(self.api._dispatcher, reactor, metrics=self.api.metrics)
        self.admin = serve_on_loopback(self, APISite(admin.resource(), 1024))

    async def scrape(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        answer = await self.call("GET", f"{self.admin}/metrics",
                                 headers={"Accept": PROMETHEUS_ACCEPT})
        self.assertEqual(answer.code, 200)
        self.assertIn("openmetrics", answer.header("Content-Type") or "")
        return {(sample.name, frozenset(sample.labels.items())): sample.value
                for family in text_string_to_metric_families(answer.raw.decode())
                for sample in family.samples}

    async def test_api_requests_by_route_template(self) -> None:
        """Requests count under their route's template, not their path, with their
        method and status class."""
        group = await self.create_group()
        await self.call("GET", f"/groups/{group['id']}")
        await self.call("GET", "/groups/nope")
        seen = await self.scrape()

        def requests(route: str, method: str, status: str) -> float:
            return seen.get(("otter2_api_requests_total", frozenset(
                {("route", route), ("method", method), ("status", status)})), 0.0)
        self.assertEqual(
            [requests("/v1.0/<tenant_id>/groups/", "POST", "2xx"),
             requests("/v1.0/<tenant_id>/groups/<group_id>/", "GET", "2xx"),
             requests("/v1.0/<tenant_id>/groups/<group_id>/", "GET", "4xx")],
            [1, 1, 1])
        self.assertFalse([labels for name, labels in seen
                          if name == "otter2_api_requests_total"
                          and dict(labels)["route"].endswith(group["id"])])

    async def test_api_requests_after_first(self) -> None:
        """A route's later requests count under the same labels as its first, one
        sample per route, method and status class."""
        group = await self.create_group()
        for _ in range(3):
            await self.call("GET", f"/groups/{group['id']}/state")
        await self.call("GET", "/groups/nope/state")
        seen = await self.scrape()
        self.assertEqual(
            {dict(labels)["status"]: value for (name, labels), value in seen.items()
             if name == "otter2_api_requests_total"
             and dict(labels)["route"] == "/v1.0/<tenant_id>/groups/<group_id>/state/"},
            {"2xx": 3, "4xx": 1})

    async def test_groups_read_at_scrape_time(self) -> None:
        """Groups by status and their desired servers are the store's at each scrape."""
        await self.create_group(minimal_group(minEntities=2))
        await self.create_group(minimal_group(minEntities=3))
        seen = await self.scrape()
        self.assertEqual(
            [seen[("otter2_groups", frozenset({("status", "ACTIVE")}))],
             seen[("otter2_servers", frozenset({("kind", "desired")}))],
             seen[("otter2_servers", frozenset({("kind", "actual")}))]],
            [2, 5, 0])

    async def test_otter_clients_still_get_json(self) -> None:
        """A request that does not ask for Prometheus' format gets Otter's row counts."""
        await self.create_group()
        answer = await self.call("GET", f"{self.admin}/metrics")
        self.assertEqual({m["id"]: m["value"] for m in answer.json["metrics"]},
                         {"otter.metrics.groups": 1, "otter.metrics.policies": 0,
                          "otter.metrics.webhooks": 0})


class RouteTemplateTests(SynchronousTestCase):
    """The route template a request is counted under."""

    def request(self, path: str) -> Request:
        request = Request(DummyChannel())
        IKleinRequest(request).mapper = OtterAPI.app.url_map.bind(
            "otter2.test", path_info=path, default_method="GET")
        return request

    def test_endpoint_rule(self) -> None:
        """An endpoint's template is its rule, whatever the path asked for."""
        self.assertEqual(_RouteTemplate("group_state")(self.request("/v1.0/t1/groups/")),
                         "/v1.0/<tenant_id>/groups/<group_id>/state/")

    def test_endpoint_without_rule_of_its_name(self) -> None:
        """An endpoint registered under another name than its function's is counted
        under the template its path matches."""
        self.assertEqual(_RouteTemplate("renamed")(self.request("/v1.0/t1/groups/")),
                         "/v1.0/<tenant_id>/groups/")
        self.assertEqual(_RouteTemplate("renamed")(self.request("/nowhere/at/all")),
                         "unmatched")
