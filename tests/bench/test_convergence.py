"""
Tests for otter2.bench.convergence: the benchmark's groups converge, and
steady state is measured on groups that have nothing to do.
"""

from twisted.trial.unittest import SynchronousTestCase

from otter2.bench.convergence import build, scale_up, steady
from otter2.simulation import capacity


class ConvergenceBenchTests(SynchronousTestCase):
    """The benchmark measures what it says."""

    def test_scale_up_then_steady(self) -> None:
        """Every group reaches its servers and nodes, then iterates with nothing to do."""
        for one_tenant in (False, True):
            bench = build(groups=3, servers=2, one_tenant=one_tenant)
            rounds, iterations, _ = scale_up(bench)
            self.assertEqual(iterations, 3 * rounds)
            for tenant_id, group_id in bench.groups:
                found = capacity(bench.holder.cloud, tenant_id, group_id)
                self.assertEqual((found.active, found.lb_nodes), (2, 2))
            self.assertGreater(steady(bench, seconds=0.0), 0)
