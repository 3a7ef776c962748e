"""
How long planning takes for one big group (``python -m otter2.bench.planning``):
N ACTIVE servers on two CLBs, converged (nothing to do), then scaled down by a
tenth, then needing every node added; prints the best time of several runs for
a few sizes, so growth beyond n log n shows.

test-case-name: tests.bench.test_planning
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from otter2.convergence.planning import plan
from otter2.model.cloud import CLB, CLBDescription, CLBNode, ObservedServer, ServerState
from otter2.model.desired import DesiredGroup

LBS = (CLBDescription("lb1", 80), CLBDescription("lb2", 443))


def _address(index: int) -> str:
    return f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"


def scenario(size: int) -> tuple[list[ObservedServer], list[CLBNode]]:
    """``size`` ACTIVE servers, each with an ENABLED node on both CLBs."""
    servers = [ObservedServer(f"s{i}", ServerState.ACTIVE, created=float(i),
                              servicenet_address=_address(i), desired_lbs=LBS)
               for i in range(size)]
    nodes = [CLBNode(f"{lb.lb_id}-{i}", _address(i), lb) for lb in LBS for i in range(size)]
    return servers, nodes


def best_of(runs: int, work: Callable[[], object]) -> float:
    """The shortest of ``runs`` timings of ``work``, in milliseconds."""
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    return min(timings) * 1000


def main(sizes: list[int]) -> None:
    """Print the planning time of each scenario at each size."""
    clbs = {"lb1": CLB(health_monitor=False), "lb2": CLB(health_monitor=True)}
    print(f"{'servers':>8} {'steady ms':>10} {'scale-down ms':>14} {'add-all ms':>11}")
    for size in sizes:
        servers, nodes = scenario(size)

        def run(capacity: int, lb_nodes: list[CLBNode]) -> Callable[[], object]:
            desired = DesiredGroup(capacity=capacity, desired_lbs=LBS, draining_timeout=30)
            return lambda: plan(desired, servers, lb_nodes, clbs, now=1e6, build_timeout=3600)

        steady = best_of(5, run(size, nodes))
        down = best_of(5, run(size - size // 10, nodes))
        add_all = best_of(5, run(size, []))
        print(f"{size:>8} {steady:>10.1f} {down:>14.1f} {add_all:>11.1f}")


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1000, 10000, 100000])
