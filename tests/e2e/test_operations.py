"""
The daemon as operators run it, against mimic: its admin port scraped by
Prometheus while it converges a group.
"""

from __future__ import annotations

import signal
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from twisted.web.http_headers import Headers

from tests.e2e.support import MimicTestCase, free_port

#: What Prometheus sends when it scrapes.
PROMETHEUS_ACCEPT = "text/plain;version=0.0.4;q=0.2,*/*;q=0.1"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class ScrapedTests(MimicTestCase):
    """A scrape of the admin port sees convergence and its calls to the cloud."""

    def daemon_config(self) -> dict[str, Any]:
        self.admin_port = free_port()
        return {**super().daemon_config(),
                "admin": f"tcp:{self.admin_port}:interface=127.0.0.1"}

    async def scrape(self) -> Samples:
        response = await self.http.get(f"http://127.0.0.1:{self.admin_port}/metrics",
                                       headers=Headers({"Accept": [PROMETHEUS_ACCEPT]}))
        text = (await response.content()).decode()
        return {(sample.name, frozenset(sample.labels.items())): sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples}

    @staticmethod
    def total(seen: Samples, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples whose labels include ``labels``."""
        return sum(value for (sample, sample_labels), value in seen.items()
                   if sample == name and set(labels.items()) <= sample_labels)

    async def test_convergence_is_counted(self) -> None:
        """Converging a group to 2 servers counts iterations, two server creations,
        Nova's answers and the group's servers."""
        before = await self.scrape()
        group_id = await self.create_group(2)
        await self.converged(group_id, 2)

        async def settled() -> bool:
            seen = await self.scrape()
            return self.total(seen, "otter2_servers", kind="actual") == 2
        await self.eventually(settled, "scraped with 2 actual servers")
        seen = await self.scrape()
        self.assertEqual(self.total(before, "otter2_convergence_iterations_total"), 0)
        self.assertGreater(self.total(seen, "otter2_convergence_iterations_total",
                                      verdict="SUCCESS"), 0)
        self.assertEqual(self.total(seen, "otter2_convergence_steps_total",
                                    kind="CreateServer"), 2)
        self.assertGreater(self.total(seen, "otter2_cloud_requests_total",
                                      service="cloudServersOpenStack", status="2xx"), 0)
        self.assertGreater(self.total(seen, "otter2_cloud_request_duration_seconds_count"), 0)
        self.assertEqual([self.total(seen, "otter2_servers", kind=kind)
                          for kind in ("desired", "actual", "pending")], [2, 2, 0])
        self.assertEqual(self.total(seen, "otter2_api_requests_total", method="POST",
                                    route="/v1.0/<tenant_id>/groups/"), 1)


class GracefulStopTests(MimicTestCase):
    """SIGTERM in the middle of a scale-up loses nothing and duplicates nothing."""

    config = {"converger": {"interval": 0.5, "build_timeout": 30,
                            "step_limits": {"create_server": 3}}}

    async def test_sigterm_during_scale_up(self) -> None:
        """SIGTERM while scaling to 10: the daemon exits with status 0 after letting
        its iterations finish (none fails for want of its store); started again,
        the group reaches exactly 10 servers."""
        group_id = await self.create_group(0, build_seconds=2)
        await self.execute(group_id, desiredCapacity=10)

        async def some_created() -> bool:
            return len(await self.servers(group_id)) >= 3
        await self.eventually(some_created, "creating servers")
        process = self.daemon.process
        assert process is not None
        self.daemon.stop(signal.SIGTERM)
        self.assertEqual(process.returncode, 0)
        output = self.daemon.output()
        self.assertIn("Received SIGTERM", output)
        self.assertNotIn("StoreUnavailable", output)
        self.assertLess(len(await self.servers(group_id)), 10)
        self.daemon.start()
        await self.converged(group_id, 10, seconds=90)
