"""
How many groups per second the converger gets through at steady state, with
every group in one tenant and with one group per tenant, against the
simulated cloud.

The groups are built straight into the simulated cloud (servers created by
the same Nova requests convergence sends, already ACTIVE, each on its
group's CLB), so that building them costs nothing whatever the converger's
speed. A run marks every group divergent and starts a real `Converger` (the
in-memory store, the simulated cloud's own performers, a fake clock that
keeps its calls in a heap, as the reactor does: ``bench.clock``); the
cloud answers after a simulated millisecond, so the clock is driven here one
due call at a time, and a run stops once every mark is cleared or its wall
time budget is spent. The figure is the marks cleared per second of wall
time. The first run records the servers and is not counted.

Whatever the converger does inside a round (an iteration per group today,
one gather per tenant later) is measured the same way. The one-tenant
figure's baseline is the many-tenant figure of the same run.

test-case-name: tests.bench.test_convergence
"""

from __future__ import annotations

import time
from typing import Any

from attrs import frozen
from effect import ComposedDispatcher

from otter2.bench.clock import HeapClock
from otter2.bench.report import Figure, median
from otter2.cloud import clb, nova
from otter2.cloud.metadata import launch_load_balancers, prepare_server_config
from otter2.config import ConvergerConfig
from otter2.effects.dispatcher import store_dispatcher
from otter2.model import GroupState, ScalingGroup
from otter2.model.cloud import CLBDescription
from otter2.service.converger import Converger
from otter2.simulation import (
    Behaviour,
    CloudHolder,
    SimulatedCloud,
    add_load_balancer,
    handle,
    standalone_dispatcher,
)
from otter2.simulation.cloud import advance
from otter2.store.memory import MemoryGroupStore

SECTION = "convergence"
START = 1_000_000.0
BUILD_TIME = 30.0
LATENCY = 0.001
SETTINGS = ConvergerConfig()
TARGET_RATE = 500.0
TARGET_RATIO = 0.5


@frozen
class SteadyGroups:
    """Converged groups in the simulated cloud and the store, and the time."""

    clock: HeapClock
    holder: CloudHolder
    store: MemoryGroupStore
    groups: tuple[tuple[str, str], ...]


def launch_args(lb_id: int) -> dict[str, Any]:
    """A group's launch configuration: one server on one CLB."""
    return {"server": {"name": "web", "flavorRef": "general1-1", "imageRef": "image",
                       "networks": [{"uuid": "11111111-1111-1111-1111-111111111111"}]},
            "loadBalancers": [{"loadBalancerId": lb_id, "port": 80}]}


def _request(holder: CloudHolder, request: Any, now: float) -> Any:
    holder.cloud, response = handle(holder.cloud, request, now)
    if response.status >= 300:
        raise RuntimeError(f"the simulated cloud refused {request.method} {request.path}: "
                           f"{response.status} {response.body}")
    return response.body


def build(groups: int, servers: int, one_tenant: bool) -> SteadyGroups:
    """``groups`` converged groups of ``servers`` ACTIVE servers, each on its own
    CLB, all in tenant ``t0`` or each in a tenant of its own."""
    clock = HeapClock()
    clock.advance(START)
    holder = CloudHolder(SimulatedCloud(Behaviour(
        build_time=BUILD_TIME, latency=LATENCY, node_limit=max(25, servers),
        instance_quota=groups * servers)))
    store = MemoryGroupStore()
    keys = []
    for index in range(groups):
        tenant_id, group_id, lb_id = ("t0" if one_tenant else f"t{index}"), f"g{index}", 1000 + index
        args = launch_args(lb_id)
        holder.cloud = add_load_balancer(holder.cloud, tenant_id, lb_id, START)
        config = prepare_server_config(args, group_id)
        for number in range(servers):
            _request(holder, nova.create_server_request(
                tenant_id, nova.name_server(config, f"{index}-{number}")), START)
        store.create_group(ScalingGroup(
            tenant_id=tenant_id, group_id=group_id,
            config={"name": group_id, "cooldown": 0, "minEntities": 0, "maxEntities": 1000},
            launch={"type": "launch_server", "args": args},
            state=GroupState(tenant_id, group_id, servers), created=START), [], [], groups)
        keys.append((tenant_id, group_id))
    built = START + BUILD_TIME + 1
    holder.cloud = advance(holder.cloud, built)
    [lb] = launch_load_balancers(launch_args(0))
    assert isinstance(lb, CLBDescription)
    for tenant_id, tenant in holder.cloud.nova.items():
        by_group: dict[str, list[str]] = {}
        for server in tenant.servers.values():
            by_group.setdefault(server.metadata["rax:autoscale:group:id"], []).append(
                server.private_address)
        for group_id, addresses in by_group.items():
            lb_name = str(1000 + int(group_id[1:]))
            _request(holder, clb.add_nodes_request(
                tenant_id, lb_name, [(a, CLBDescription(lb_name, lb.port)) for a in addresses]),
                built)
    clock.advance(built + 60 - clock.seconds())  # past every CLB's PENDING_UPDATE
    holder.cloud = advance(holder.cloud, clock.seconds())
    return SteadyGroups(clock, holder, store, tuple(keys))


def one_round(groups: SteadyGroups, budget: float) -> tuple[int, float]:
    """
    Mark every group divergent and run a converger until every mark is
    cleared, or ``budget`` seconds of wall time are spent and at least twice
    the converger's concurrency were cleared (so a slow round still counts
    whole iterations, not only those in flight), or three budgets are spent
    (a budget of 0 means no limit): (marks cleared, wall seconds).

    Each run has a clock of its own, and what the converger still had in
    flight when the run stopped is left on that clock, never to run.
    """
    clock = HeapClock()
    clock.advance(groups.clock.seconds())
    dispatcher = ComposedDispatcher([store_dispatcher(groups.store),
                                     standalone_dispatcher(groups.holder, clock)])
    for tenant_id, group_id in groups.groups:
        groups.store.mark_divergent(tenant_id, group_id)
    enough = min(len(groups.groups), 2 * SETTINGS.concurrency)
    converger = Converger(clock, dispatcher, SETTINGS)
    started = time.perf_counter()
    converger.startService()
    while groups.store.divergent:
        elapsed = time.perf_counter() - started
        cleared = len(groups.groups) - len(groups.store.divergent)
        if budget and (elapsed >= 3 * budget or (elapsed >= budget and cleared >= enough)):
            break
        _next_call(clock)
    elapsed = time.perf_counter() - started
    cleared = len(groups.groups) - len(groups.store.divergent)
    converger.stopService()
    groups.store.divergent.clear()
    groups.clock.advance(clock.seconds() - groups.clock.seconds())
    return cleared, elapsed


def _next_call(clock: HeapClock) -> None:
    when = clock.next_time()
    if when is None:
        raise RuntimeError("the converger waits for something the clock will never bring")
    clock.advance(max(0.0, when - clock.seconds()))


def figures(runs: int = 3, groups: int = 1000, servers: int = 10,
            budget: float = 10.0) -> list[Figure]:
    """The steady-state rate with one tenant and with a tenant per group, and
    their ratio; runs of the two layouts alternate, so both see the same noise."""
    layouts = {"one tenant": build(groups, servers, True),
               "one group per tenant": build(groups, servers, False)}
    for layout in layouts.values():
        one_round(layout, budget)  # records every group's servers
    rates: dict[str, list[float]] = {name: [] for name in layouts}
    cleared: dict[str, list[int]] = {name: [] for name in layouts}
    walls: dict[str, list[float]] = {name: [] for name in layouts}
    for _ in range(runs):
        for name, layout in layouts.items():
            count, seconds = one_round(layout, budget)
            cleared[name].append(count)
            walls[name].append(seconds)
            rates[name].append(count / seconds if seconds else 0.0)
    ratios = [one / many if many else 0.0
              for one, many in zip(rates["one tenant"], rates["one group per tenant"],
                                   strict=True)]
    shape = f"{groups} groups of {servers} servers"
    one_rate, many_rate = median(rates["one tenant"]), median(rates["one group per tenant"])
    return [
        Figure(SECTION, f"steady state, {shape}, one tenant", one_rate, "groups/s",
               f">= {TARGET_RATE:.0f} groups/s", one_rate >= TARGET_RATE,
               {"runs": rates["one tenant"], "groups done per run": cleared["one tenant"],
                "wall s per run": walls["one tenant"]}),
        Figure(SECTION, f"steady state, {shape}, one group per tenant", many_rate,
               "groups/s", "", None,
               {"runs": rates["one group per tenant"],
                "groups done per run": cleared["one group per tenant"],
                "wall s per run": walls["one group per tenant"]}),
        Figure(SECTION, "steady state, one tenant / one group per tenant", median(ratios), "x",
               f">= {TARGET_RATIO:.1f}", median(ratios) >= TARGET_RATIO,
               {"runs": ratios, "one tenant groups/s": one_rate,
                "one group per tenant groups/s": many_rate}),
    ]
