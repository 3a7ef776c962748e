"""
Running convergence against the simulated cloud for a while, on a
``twisted.internet.task.Clock``, and recording capacity over time.

``run_for`` takes the iteration as a parameter (any function returning an
Effect, ``converge_one_group`` once partially applied), performs it every
``interval`` simulated seconds, drives the clock itself until each iteration
finishes, and samples the cloud after each one. Hours of scaling take
milliseconds.

test-case-name: tests.simulation.test_run
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attrs import field, frozen
from effect import Effect
from pyrsistent import PVector, pvector
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from txeffect import perform

from otter2.cloud.metadata import GROUP_ID_KEYS
from otter2.model.cloud import ServerState
from otter2.model.group import frozen_list
from otter2.simulation.cloud import advance
from otter2.simulation.performers import CloudHolder
from otter2.simulation.state import SimulatedCloud


@frozen
class Capacity:
    """What a group (or a whole cloud) has at one moment."""

    active: int = 0  # servers ACTIVE in Nova
    building: int = 0  # servers in BUILD
    errored: int = 0  # servers in ERROR
    lb_nodes: int = 0  # CLB nodes and RCv3 pool members of those servers


@frozen
class Sample:
    """The capacity after one iteration, and how the iteration ended: its
    result, or the text of the exception it raised."""

    time: float
    capacity: Capacity
    result: Any = None
    error: str | None = None


@frozen
class Timeline:
    """The samples of a run, one per iteration, in time order."""

    samples: PVector = field(factory=pvector, converter=frozen_list)

    def final(self) -> Capacity:
        """The capacity at the end of the run."""
        last: Capacity = self.samples[-1].capacity
        return last

    def first_time(self, reached: Callable[[Capacity], bool]) -> float | None:
        """When the capacity first satisfied ``reached``, or None if it never did."""
        return next((s.time for s in self.samples if reached(s.capacity)), None)


def capacity(cloud: SimulatedCloud, tenant_id: str | None = None,
             group_id: str | None = None) -> Capacity:
    """The capacity of a tenant (or every tenant) in the cloud, counting only a
    group's servers (by their metadata) when ``group_id`` is given."""
    servers, addresses = [], set()
    for tenant, nova in cloud.nova.items():
        if tenant_id is not None and tenant != tenant_id:
            continue
        for server in nova.servers.values():
            if group_id is None or any(server.metadata.get(k) == group_id for k in GROUP_ID_KEYS):
                servers.append(server)
                addresses.add((tenant, server.private_address))
    ids = {s.id for s in servers}
    nodes = sum(1 for tenant, lbs in cloud.load_balancers.items()
                for lb in lbs.values() for node in lb.nodes.values()
                if (tenant, node.address) in addresses)
    members = sum(1 for pools in cloud.pools.values() for pool in pools.values()
                  for server_id in pool.members if server_id in ids)
    return Capacity(
        active=sum(1 for s in servers if s.status is ServerState.ACTIVE),
        building=sum(1 for s in servers if s.status is ServerState.BUILD),
        errored=sum(1 for s in servers if s.status is ServerState.ERROR),
        lb_nodes=nodes + members)


def _nothing() -> None:
    return None


def _settle(clock: Clock, outcome: list[Any], deadline: float,
            flush: Callable[[], object]) -> None:
    """Advance the clock, one scheduled call at a time, until the iteration
    has finished (``outcome`` holds its result)."""
    flush()
    while not outcome:
        calls = clock.getDelayedCalls()
        if not calls:
            raise RuntimeError("the iteration is waiting for something the clock "
                               "will never bring")
        step = max(0.0, min(call.getTime() for call in calls) - clock.seconds())
        if clock.seconds() + step > deadline:
            raise RuntimeError(f"the iteration is still running at {deadline}")
        clock.advance(step)
        flush()


def run_for(clock: Clock, holder: CloudHolder, iterate: Callable[[], Effect],
            dispatcher: Any, minutes: float, interval: float = 10.0,
            measure: Callable[[SimulatedCloud], Capacity] = capacity,
            flush: Callable[[], object] = _nothing) -> Timeline:
    """
    The capacity (by ``measure``) after each of the iterations ``iterate()``
    performed every ``interval`` simulated seconds for ``minutes`` minutes.

    An iteration that fails is recorded, and the next one runs anyway, as the
    converger would. An iteration that outlasts the whole run, or waits for
    something the clock cannot bring, raises RuntimeError. ``flush`` runs
    after each step of the clock: ``StubTreq.flush`` when iterations reach the
    cloud over HTTP with latency, so delayed responses are delivered.
    """
    if interval <= 0:
        raise ValueError("the interval between iterations must be positive")
    end = clock.seconds() + minutes * 60
    samples = []
    while clock.seconds() <= end:
        started = clock.seconds()
        outcome: list[Any] = []
        perform(dispatcher, iterate()).addBoth(outcome.append)
        _settle(clock, outcome, end + interval, flush)
        holder.cloud = advance(holder.cloud, clock.seconds())
        sample = Sample(clock.seconds(), measure(holder.cloud), outcome[0])
        if isinstance(outcome[0], Failure):
            sample = Sample(sample.time, sample.capacity, error=repr(outcome[0].value))
        samples.append(sample)
        clock.advance(max(started + interval - clock.seconds(), 0.0))
    return Timeline(samples)
