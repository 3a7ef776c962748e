"""
Tests for otter2.bench.planning: its scenario is the converged group it claims
to be, scaling down plans what it says, and every figure is there.
"""

from __future__ import annotations

import math

from twisted.trial.unittest import SynchronousTestCase

from otter2.bench.planning import CLBS, LBS, figures, planner, scenario
from otter2.convergence.planning import plan
from otter2.model.cloud import CLBNode, RCv3Node, ServerState
from otter2.model.desired import DesiredGroup


class ScenarioTests(SynchronousTestCase):
    """The group the planning benchmark measures."""

    def test_converged(self) -> None:
        """Every server is ACTIVE, on both CLBs and in the pool: there is nothing to do."""
        servers, nodes = scenario(300)
        self.assertEqual({s.state for s in servers}, {ServerState.ACTIVE})
        self.assertEqual(len({s.servicenet_address for s in servers}), 300)
        self.assertEqual((sum(isinstance(n, CLBNode) for n in nodes),
                          sum(isinstance(n, RCv3Node) for n in nodes)), (600, 300))
        desired = DesiredGroup(capacity=300, desired_lbs=LBS, draining_timeout=30)
        result = plan(desired, servers, nodes, CLBS, now=1e6, build_timeout=3600)
        self.assertEqual((len(result.steps), len(result.postponed)), (0, 0))

    def test_read_as_a_gather_reads(self) -> None:
        """The servers share the record set the metadata parser makes for them, and
        each node has a description of its own, as a gather gives them to the planner."""
        servers, nodes = scenario(3)
        self.assertEqual(len({id(s.desired_lbs) for s in servers}), 1)
        self.assertEqual(set(servers[0].desired_lbs), set(LBS))
        self.assertEqual(len({id(n.description) for n in nodes}), len(nodes))

    def test_scale_down_has_work(self) -> None:
        """Planning half the capacity has steps to take."""
        result = planner(40, 20)()
        self.assertTrue(result.steps or result.postponed)


class FiguresTests(SynchronousTestCase):
    """What the planning benchmark reports (never how fast)."""

    def test_every_figure(self) -> None:
        """Both scenarios at each size, the largest against sorting, the growth exponents."""
        found = figures(runs=1, sizes=(10, 20))
        self.assertEqual([f.name for f in found], [
            "steady, 10 servers", "scale down by half, 10 servers",
            "steady, 20 servers", "scale down by half, 20 servers",
            "steady, 20 servers / sorting 20 tuples",
            "scale down by half, 20 servers / sorting 20 tuples",
            "steady, growth exponent 10 -> 20", "scale down by half, growth exponent 10 -> 20"])
        self.assertEqual({f.section for f in found}, {"planning"})
        self.assertTrue(all(f.value is not None for f in found))
        self.assertTrue(all(f.value is not None and f.value >= 0 for f in found
                            if f.unit == "ms"))
        for figure in found[-2:]:  # n log n on paper (1.38 from 10 to 20), or sorting's here
            allowed = max(1 + math.log(math.log(20) / math.log(10), 2),
                          figure.raw["sorting exponent"])
            self.assertEqual(figure.target, f"<= n log n: {allowed:.2f}")
            self.assertEqual(figure.met, figure.value <= allowed)
