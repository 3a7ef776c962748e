"""
Tests for otter2.bench.planning: its scenario is the converged group it claims
to be, and it prints one row per size.
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout

from twisted.trial.unittest import SynchronousTestCase

from otter2.bench.planning import LBS, best_of, main, scenario
from otter2.convergence.planning import plan
from otter2.model.cloud import CLB, ServerState
from otter2.model.desired import DesiredGroup


class ScenarioTests(SynchronousTestCase):
    """The group the planning benchmark measures."""

    def test_converged(self) -> None:
        """Every server is ACTIVE and on both load balancers: there is nothing to do."""
        servers, nodes = scenario(300)
        self.assertEqual({s.state for s in servers}, {ServerState.ACTIVE})
        self.assertEqual(len({s.servicenet_address for s in servers}), 300)
        self.assertEqual(len(nodes), 2 * 300)
        desired = DesiredGroup(capacity=300, desired_lbs=LBS, draining_timeout=30)
        clbs = {"lb1": CLB(health_monitor=False), "lb2": CLB(health_monitor=True)}
        result = plan(desired, servers, nodes, clbs, now=1e6, build_timeout=3600)
        self.assertEqual((len(result.steps), len(result.postponed)), (0, 0))

    def test_best_of(self) -> None:
        """The work runs as many times as asked; the timing is in milliseconds."""
        runs: list[int] = []
        self.assertGreaterEqual(best_of(3, lambda: runs.append(1)), 0)
        self.assertEqual(len(runs), 3)

    def test_main(self) -> None:
        """A header, then one row per size starting with the size."""
        output = io.StringIO()
        with redirect_stdout(output):
            main([10, 20])
        header, *rows = output.getvalue().splitlines()
        self.assertIn("servers", header)
        self.assertEqual([row.split()[0] for row in rows], ["10", "20"])
