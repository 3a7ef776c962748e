"""
Planning: the steps that take one ``launch_server`` group from what a gather
observed to its desired state (spec §2), as a pure function of values. No
clock, no logging, no Effects, and no exception for anything the cloud can
show: what cannot be done yet becomes a ConvergeLater, what needs the group's
owner a FailConvergence, each with a sentence the owner can read.

test-case-name: tests.convergence.test_planning
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from operator import attrgetter

from attrs import evolve

from otter2.convergence.collector import StepCollector
from otter2.convergence.destiny import Destiny, by_destiny
from otter2.convergence.membership import (
    DRAINING_KEY,
    DRAINING_REASON,
    DRAINING_VALUE,
    Wanted,
    converge_membership,
    drain_and_delete,
    nodes_by_server,
)
from otter2.convergence.steps import CreateServer, DeleteServer, Step
from otter2.convergence.transforming import DEFAULT_STEP_LIMITS, Plan, transform
from otter2.model.cloud import CLB, LBNode, ObservedServer, ServerState
from otter2.model.desired import DesiredGroup

__all__ = ["BUILDING_REASON", "DEFAULT_STEP_LIMITS", "DRAINING_KEY", "DRAINING_REASON",
           "DRAINING_VALUE", "KEEP_ORDER", "Plan", "plan", "plan_steps"]

BUILDING_REASON = "waiting for servers to build"

#: Servers that count, most valuable first: a scale-down removes the tail.
KEEP_ORDER = (Destiny.COUNT, Destiny.HOLD, Destiny.WAIT, Destiny.BUILDING)


def plan(desired: DesiredGroup, servers: Iterable[ObservedServer], lb_nodes: Iterable[LBNode],
         clbs: Mapping[str, CLB], now: float, build_timeout: float,
         step_limits: Mapping[type, int] = DEFAULT_STEP_LIMITS,
         offline_timeout: float | None = None) -> Plan:
    """
    What one iteration does for the group: the steps of ``plan_steps``,
    limited and reduced to one change per CLB, with the work that had to
    wait listed in ``Plan.postponed``, the servers the group keeps in
    ``Plan.kept`` and the end of the soonest known wait in ``Plan.wake_at``.

    ``servers`` are the group's servers (gone ones included, so their nodes
    can be removed); ``lb_nodes`` every node of the tenant's load balancers;
    ``clbs`` the CLBs whose health monitor could be read, by id; ``now`` the
    time of the gather; ``offline_timeout`` how long a node joining a
    monitored CLB may stay OFFLINE (``build_timeout`` when not given).
    """
    clbs = dict(clbs)  # looked up per server: a dict is several times faster than a PMap
    steps, kept, broken = _survey(desired, servers, lb_nodes, clbs, now, build_timeout,
                                  build_timeout if offline_timeout is None else offline_timeout)
    transformed = transform(steps.result(node_changes=False), step_limits, steps.node_changes)
    return evolve(transformed, postponed=transformed.postponed.extend(steps.postponed), kept=kept,
                  broken=broken, wake_at=steps.wake_at)


def plan_steps(desired: DesiredGroup, servers: Iterable[ObservedServer],
               lb_nodes: Iterable[LBNode], clbs: Mapping[str, CLB], now: float,
               build_timeout: float) -> list[Step]:
    """
    Every step that moves the group toward ``desired`` (spec §2.2), before
    limits: creations for the servers missing, drain-and-delete for the
    surplus and for servers marked for draining, deletion and node removal
    for broken servers, node removal for gone ones, and load-balancer
    membership for the ACTIVE servers that stay. Node additions and removals
    come merged per load balancer, the waits and failures as one step each,
    and the node changes last, in the order found.
    """
    return _survey(desired, servers, lb_nodes, clbs, now, build_timeout,
                   build_timeout)[0].result()


def _survey(desired: DesiredGroup, servers: Iterable[ObservedServer],
            lb_nodes: Iterable[LBNode], clbs: Mapping[str, CLB], now: float,
            build_timeout: float,
            offline_timeout: float) -> tuple[StepCollector, list[str], list[str]]:
    """
    The steps of ``plan_steps``, collected; the ids of the servers kept; and
    a sentence for each broken server replaced.
    """
    by_fate = by_destiny(_newest_first(servers), now, build_timeout)
    owned = nodes_by_server(by_fate, lb_nodes)

    # The servers kept, by destiny, and the surplus, both in keeping order.
    kept: dict[Destiny, list[ObservedServer]] = {}
    surplus: list[ObservedServer] = []
    missing = max(desired.capacity, 0)
    for fate in KEEP_ORDER:
        kept[fate], rest = by_fate[fate][:missing], by_fate[fate][missing:]
        surplus += rest
        missing -= len(kept[fate])
    steps = StepCollector()
    create = CreateServer(desired.server_config)
    if missing > 0 and desired.build_after is not None and now < desired.build_after:
        steps.later(f"{_servers(missing)} to build wait until {iso_time(desired.build_after)}: "
                    "the group's servers keep breaking", until=desired.build_after)
    else:
        for _ in range(missing):
            steps.append(create)

    drain_and_delete(surplus + by_fate[Destiny.DRAIN], owned, desired.draining_timeout, now,
                     steps)
    for server in by_fate[Destiny.REPLACE]:
        steps.append(DeleteServer(server.id))
        for node in owned.get(server.id, ()):
            steps.remove(node)
    for server in by_fate[Destiny.CLEANUP]:
        for node in owned.get(server.id, ()):
            steps.remove(node)

    wanted = Wanted(desired.desired_lbs, clbs)
    for server in wanted.astray(kept[Destiny.COUNT], owned):
        converge_membership(server, owned.get(server.id, ()), wanted, clbs, now,
                            offline_timeout, desired.draining_timeout, steps)
    for server in kept[Destiny.WAIT]:
        steps.later(f"Waiting for server {server.id} to transition to ACTIVE from "
                    f"{server.state.value}", limited=True)
    for server in kept[Destiny.BUILDING]:
        steps.later(BUILDING_REASON, until=server.created + build_timeout)
    broken = [_why_broken(server, build_timeout) for server in by_fate[Destiny.REPLACE]]
    return steps, [server.id for fate in KEEP_ORDER for server in kept[fate]], broken


def _servers(count: int) -> str:
    return "1 server" if count == 1 else f"{count} servers"


def _why_broken(server: ObservedServer, build_timeout: float) -> str:
    if server.state is ServerState.BUILD:
        return f"server {server.id} did not finish building within {build_timeout:g} s"
    return f"server {server.id} went to {server.state.value}"


def iso_time(seconds: float) -> str:
    """An instant as ISO 8601 in UTC, to the second."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _newest_first(servers: Iterable[ObservedServer]) -> list[ObservedServer]:
    """The servers newest first, then by id: sorted by id, then (stable) by creation
    time in reverse, with keys read in C rather than one key function call each."""
    ordered = sorted(servers, key=_ID)
    ordered.sort(key=_CREATED, reverse=True)
    return ordered


_ID, _CREATED = attrgetter("id"), attrgetter("created")


