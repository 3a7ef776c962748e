"""
Tests for otter2.metrics: the observers move their families, and a scrape is
told from Otter's JSON clients by its Accept header.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.convergence.conclusion import Conclusion
from otter2.convergence.figures import GroupFigures
from otter2.metrics import Metrics, wants_prometheus
from otter2.model.outcome import Verdict


def samples(metrics: Metrics, accept: str = "text/plain") -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape of ``metrics``, by name and labels."""
    body, _ = metrics.exposition(accept)
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples}


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics).get((name, frozenset(labels.items())), 0.0)


class MetricsTests(SynchronousTestCase):
    """Each observer moves its families; two daemons never share a registry."""

    def test_iteration_counts_verdict_and_steps(self) -> None:
        """An iteration counts once by verdict, its duration once, each step by kind and
        verdict."""
        metrics = Metrics()
        metrics.iteration_concluded(Conclusion(Verdict.RETRY, steps=[
            ("CreateServer", "RETRY"), ("CreateServer", "RETRY"), ("DeleteServer", "SUCCESS")]),
            2.0)
        self.assertEqual(
            [value(metrics, "otter2_convergence_iterations_total", verdict="RETRY"),
             value(metrics, "otter2_convergence_iteration_duration_seconds_count"),
             value(metrics, "otter2_convergence_steps_total", kind="CreateServer",
                   outcome="RETRY"),
             value(metrics, "otter2_convergence_steps_total", kind="DeleteServer",
                   outcome="SUCCESS")],
            [1, 1, 2, 1])

    def test_cloud_requests_by_status_class(self) -> None:
        """Requests count by service, method and status class; no answer is "error"."""
        metrics = Metrics()
        request = ServiceRequest("t1", ServiceType.CLOUD_SERVERS, "GET", "servers/detail")
        metrics.cloud_answered(request, Response(200, None), 0.1)
        metrics.cloud_answered(request, Response(503, None), 0.1)
        metrics.cloud_answered(request, None, 0.1)
        service = ServiceType.CLOUD_SERVERS.value
        self.assertEqual([value(metrics, "otter2_cloud_requests_total", service=service,
                                method="GET", status=status)
                          for status in ("2xx", "5xx", "error")], [1, 1, 1])

    def test_groups_seen_replaces_the_figures(self) -> None:
        """Each scrape's figures replace the last: every status is reported, zero
        included; per-group series appear only when asked for."""
        metrics, per_group = Metrics(), Metrics(per_group=True)
        figures = [GroupFigures("t1", "g1", "ACTIVE", 3, 2, 1),
                   GroupFigures("t1", "g2", "ERROR", 1, 0, 0)]
        for each in (metrics, per_group):
            each.groups_seen(figures)
            each.groups_seen(figures[:1])
        self.assertEqual([value(metrics, "otter2_groups", status=s)
                          for s in ("ACTIVE", "ERROR", "paused", "deleting")], [1, 0, 0, 0])
        self.assertEqual([value(metrics, "otter2_servers", kind=k)
                          for k in ("desired", "actual", "pending")], [3, 2, 1])
        self.assertNotIn("otter2_group_servers",
                         {name for name, _ in samples(metrics)})
        self.assertEqual(
            {labels for name, labels in samples(per_group) if name == "otter2_group_servers"},
            {frozenset({("tenant", "t1"), ("group", "g1"), ("kind", k)})
             for k in ("desired", "actual", "pending")})

    def test_registries_are_apart(self) -> None:
        """What one daemon's metrics count, another's do not."""
        first, second = Metrics(), Metrics()
        first.api_answered("/health", "GET", 200, 0.0)
        self.assertEqual([value(m, "otter2_api_requests_total", route="/health", method="GET",
                                status="2xx") for m in (first, second)], [1, 0])

    def test_prometheus_is_told_by_accept(self) -> None:
        """Prometheus' Accept headers ask for the exposition; Otter's clients' do not."""
        self.assertEqual([wants_prometheus(accept) for accept in (
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.2",
            "text/plain", "", "*/*", "application/json")],
            [True, True, False, False, False])
