"""
How fast convergence runs against the simulated cloud
(``python -m otter2.bench.convergence [GROUPS [SERVERS]]``): GROUPS groups
(200 unless told) of SERVERS servers (5) each on a CLB of its own, with the
in-memory store and the simulated cloud's own performers on a ``Clock``, so
what is measured is otter2's iteration (gather, plan, execute, record) plus
the simulation, with no network.

It prints the wall time of the scale-up from 0 (rounds of one iteration per
group, ten simulated seconds apart, until every group succeeds), then
steady-state iterations (nothing to do) per second, once with one group per
tenant and once with as many groups all in one tenant (the groups of a
tenant due together share one listing of its servers: a round). The issue's target is
hundreds of steady-state groups per second on one core.

test-case-name: tests.bench.test_convergence
"""

from __future__ import annotations

import sys
import time
from typing import Any

from attrs import frozen
from effect import ComposedDispatcher
from twisted.internet.task import Clock
from txeffect import perform

from otter2.config import ConvergerConfig
from otter2.convergence.conclusion import Conclusion
from otter2.convergence.rounds import converge_tenant
from otter2.effects.dispatcher import store_dispatcher
from otter2.model import GroupState, ScalingGroup
from otter2.model.outcome import Verdict
from otter2.simulation import (
    Behaviour,
    CloudHolder,
    SimulatedCloud,
    add_load_balancer,
    standalone_dispatcher,
)
from otter2.store.memory import MemoryGroupStore

START = 1_000_000.0
INTERVAL = 10.0
BUILD_TIMEOUT = 600.0
SETTINGS = ConvergerConfig(interval=INTERVAL, build_timeout=BUILD_TIMEOUT)


@frozen
class Bench:
    """Groups on the simulated cloud, and what performs their iterations."""

    clock: Clock
    holder: CloudHolder
    store: MemoryGroupStore
    dispatcher: Any
    groups: tuple  # of (tenant id, group id)


def build(groups: int, servers: int, one_tenant: bool) -> Bench:
    """``groups`` groups wanting ``servers`` servers each, with no server yet."""
    clock = Clock()
    clock.advance(START)
    cloud = SimulatedCloud(Behaviour(build_time=30.0, node_limit=max(25, servers),
                                     instance_quota=groups * servers))
    store = MemoryGroupStore()
    keys = []
    for index in range(groups):
        tenant_id, group_id = ("t0" if one_tenant else f"t{index}"), f"g{index}"
        lb_id = 1000 + index
        cloud = add_load_balancer(cloud, tenant_id, lb_id, START)
        args = {"server": {"name": "web", "flavorRef": "general1-1", "imageRef": "image",
                           "networks": [{"uuid": "11111111-1111-1111-1111-111111111111"}]},
                "loadBalancers": [{"loadBalancerId": lb_id, "port": 80}]}
        store.create_group(ScalingGroup(
            tenant_id=tenant_id, group_id=group_id,
            config={"name": group_id, "cooldown": 0, "minEntities": 0, "maxEntities": 1000},
            launch={"type": "launch_server", "args": args},
            state=GroupState(tenant_id, group_id, servers), created=START), [], [], groups)
        keys.append((tenant_id, group_id))
    holder = CloudHolder(cloud)
    dispatcher = ComposedDispatcher([store_dispatcher(store),
                                     standalone_dispatcher(holder, clock)])
    return Bench(clock, holder, store, dispatcher, tuple(keys))


def one_round(bench: Bench) -> list[Conclusion]:
    """One iteration of every group, in one round per tenant, as the converger runs
    them (each finishes at once: the cloud has no latency)."""
    by_tenant: dict[str, list[str]] = {}
    for tenant_id, group_id in bench.groups:
        by_tenant.setdefault(tenant_id, []).append(group_id)
    rounds: list[Any] = []
    for tenant_id, group_ids in by_tenant.items():
        perform(bench.dispatcher, converge_tenant(tenant_id, group_ids, SETTINGS)
                ).addBoth(rounds.append)
    results = [result for outcome in rounds if isinstance(outcome, dict)
               for result in outcome.values()]
    bad = [r for r in results if not isinstance(r, Conclusion)] + \
        [r for r in rounds if not isinstance(r, dict)]
    if bad or len(results) != len(bench.groups):
        raise RuntimeError(f"iterations did not finish cleanly: {bad[:1]}")
    return results


def scale_up(bench: Bench, max_rounds: int = 100) -> tuple[int, int, float]:
    """Rounds until every group succeeds: (rounds, iterations, wall seconds)."""
    started = time.perf_counter()
    for rounds in range(1, max_rounds + 1):
        results = one_round(bench)
        bench.clock.advance(INTERVAL)
        if all(result.verdict is Verdict.SUCCESS for result in results):
            return rounds, rounds * len(bench.groups), time.perf_counter() - started
    raise RuntimeError(f"not converged after {max_rounds} rounds")


def steady(bench: Bench, seconds: float = 2.0) -> float:
    """Steady-state iterations per second, over rounds for about ``seconds`` (one at least)."""
    iterations, elapsed = 0, 0.0
    while not iterations or elapsed < seconds:
        started = time.perf_counter()
        results = one_round(bench)
        elapsed += time.perf_counter() - started
        iterations += len(results)
        if any(result.verdict is not Verdict.SUCCESS for result in results):
            raise RuntimeError("a converged group found something to do")
        bench.clock.advance(INTERVAL)
    return iterations / elapsed


def main(groups: int, servers: int) -> None:
    """Print the scale-up and steady-state figures for both layouts."""
    shared = groups
    print(f"groups of {servers} servers, one CLB each")
    print(f"{'layout':<24} {'groups':>6} {'scale-up rounds':>15} {'scale-up s':>11} "
          f"{'steady groups/s':>16}")
    for label, count, one_tenant in (("one group per tenant", groups, False),
                                     ("all in one tenant", shared, True)):
        bench = build(count, servers, one_tenant)
        rounds, _, wall = scale_up(bench)
        rate = steady(bench)
        print(f"{label:<24} {count:>6} {rounds:>15} {wall:>11.2f} {rate:>16.0f}")


if __name__ == "__main__":
    arguments = [int(arg) for arg in sys.argv[1:3]]
    main(*(arguments + [200, 5][len(arguments):]))
