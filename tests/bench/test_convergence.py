"""
Tests for otter2.bench.convergence: the groups it builds are converged, a run
clears every mark without touching the cloud, and every figure is there.
"""

from twisted.trial.unittest import SynchronousTestCase

from otter2.bench.convergence import build, figures, one_round
from otter2.model import GroupStatus
from otter2.simulation import capacity


class SteadyGroupsTests(SynchronousTestCase):
    """The benchmark measures groups with nothing to do."""

    def test_built_converged(self) -> None:
        """Every group has its servers ACTIVE and on its CLB, in either layout."""
        for one_tenant in (False, True):
            groups = build(groups=3, servers=2, one_tenant=one_tenant)
            self.assertEqual(len({t for t, _ in groups.groups}), 1 if one_tenant else 3)
            for tenant_id, group_id in groups.groups:
                found = capacity(groups.holder.cloud, tenant_id, group_id)
                self.assertEqual((found.active, found.building, found.lb_nodes), (2, 0, 2))

    def test_round_clears_every_mark(self) -> None:
        """A run converges every group with nothing to change in the cloud."""
        for one_tenant in (False, True):
            groups = build(groups=3, servers=2, one_tenant=one_tenant)
            before = groups.holder.cloud.nova
            for _ in range(2):
                cleared, seconds = one_round(groups, budget=0.0)
                self.assertEqual(cleared, 3)
                self.assertGreaterEqual(seconds, 0.0)
            self.assertEqual(groups.store.divergent, {})
            self.assertEqual(set(groups.holder.cloud.nova["t0" if one_tenant else "t1"]
                                 .servers), set(before["t0" if one_tenant else "t1"].servers))
            for key in groups.groups:
                group = groups.store.groups[key]
                self.assertEqual(group.state.status, GroupStatus.ACTIVE)
                self.assertEqual(sum(s.active for s in group.servers), 2)

    def test_figures(self) -> None:
        """Both layouts' rates and their ratio, with the runs behind them."""
        found = figures(runs=1, groups=2, servers=1, budget=0.0)
        self.assertEqual([f.name for f in found], [
            "steady state, 2 groups of 1 servers, one tenant",
            "steady state, 2 groups of 1 servers, one group per tenant",
            "steady state, one tenant / one group per tenant"])
        self.assertEqual([f.target for f in found], [">= 500 groups/s", "", ">= 0.5"])
        self.assertEqual(found[0].raw["groups done per run"], [2])
