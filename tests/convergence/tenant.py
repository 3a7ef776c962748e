"""
A tenant's groups on the simulated cloud and the in-memory store, for the
tests of the per-tenant round (``test_tenant_view``, ``test_rounds``): the
cloud requests made are recorded, and faults of the cloud or of the store
are injected by a dispatcher composed in front, never by replacing our code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from effect import ComposedDispatcher, Effect, sync_performer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from txeffect import perform

from otter2.cloud.request import ServiceRequest
from otter2.config import ConvergerConfig
from otter2.convergence.iteration import converge_one_group
from otter2.effects.dispatcher import store_dispatcher
from otter2.intents import RandomHex
from otter2.model import GroupState, ScalingGroup
from otter2.simulation import (
    Behaviour,
    CloudHolder,
    SimulatedCloud,
    add_load_balancer,
    standalone_dispatcher,
)
from otter2.simulation.cloud import service_fault
from otter2.store.intents import LoadGroup
from otter2.store.interface import StoreUnavailable
from otter2.store.memory import MemoryGroupStore

SETTINGS = ConvergerConfig(interval=5, limited_retry_iterations=3)


def clb(lb_id: int, port: int = 80) -> dict[str, Any]:
    """A CLB entry of a launch configuration."""
    return {"loadBalancerId": lb_id, "port": port}


def pool(pool_id: str) -> dict[str, Any]:
    """A RackConnect v3 entry of a launch configuration."""
    return {"loadBalancerId": pool_id, "type": "RackConnectV3"}


def launch(lbs: Iterable[dict[str, Any]] = (), draining_timeout: float = 0.0,
           ) -> dict[str, Any]:
    """A ``launch_server`` configuration with those load balancers."""
    return {"type": "launch_server",
            "args": {"server": {"name": "web", "flavorRef": "f", "imageRef": "i"},
                     "loadBalancers": list(lbs), "draining_timeout": draining_timeout}}


class TenantCase(SynchronousTestCase):
    """Tenants of the simulated cloud (builds take 10 s), their groups in a memory store."""

    behaviour = Behaviour(build_time=10, clb_update_time=0)

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.holder = CloudHolder(SimulatedCloud(self.behaviour))
        self.store = MemoryGroupStore()
        self.requests: list[ServiceRequest] = []
        self.failing: list[Callable[[ServiceRequest], bool]] = []
        self.unreadable: set[str] = set()
        self.drawn = 0
        self.dispatcher = ComposedDispatcher([
            self._record, store_dispatcher(self.store),
            standalone_dispatcher(self.holder, self.clock)])

    def _record(self, intent: Any) -> Any:
        """Record cloud requests; answer those ``failing`` picks with a 500,
        fail the store reads of the groups in ``unreadable``, and draw random
        names in a fixed sequence."""
        if isinstance(intent, ServiceRequest):
            self.requests.append(intent)
            if any(picks(intent) for picks in self.failing):
                return sync_performer(lambda _, request: service_fault(request.service, 500))
        if isinstance(intent, LoadGroup) and intent.group_id in self.unreadable:
            return sync_performer(lambda _, read: _unavailable(read))
        if isinstance(intent, RandomHex):
            return sync_performer(self._next_hex)
        return None

    def _next_hex(self, dispatcher: Any, intent: RandomHex) -> str:
        """The next of a sequence of hex strings: two runs name their servers alike."""
        self.drawn += 1
        return f"{self.drawn:0{2 * intent.nbytes}x}"

    def add_clb(self, lb_id: int, tenant_id: str = "t1") -> None:
        """A new ACTIVE CLB of the tenant."""
        self.holder.cloud = add_load_balancer(self.holder.cloud, tenant_id, lb_id,
                                              self.clock.seconds())

    def make_group(self, group_id: str, desired: int, lbs: Iterable[dict[str, Any]] = (),
                   tenant_id: str = "t1", draining_timeout: float = 0.0) -> ScalingGroup:
        """A new group, marked divergent."""
        group = ScalingGroup(
            tenant_id=tenant_id, group_id=group_id,
            config={"name": group_id, "cooldown": 0, "minEntities": 0, "maxEntities": 50},
            launch=launch(lbs, draining_timeout), state=GroupState(tenant_id, group_id, desired), created=0.0)
        self.store.create_group(group, [], [], 100)
        self.store.mark_divergent(tenant_id, group_id)
        return group

    def group(self, group_id: str, tenant_id: str = "t1") -> ScalingGroup:
        """The group as the store holds it now."""
        return self.store.groups[(tenant_id, group_id)]

    def do(self, effect: Effect) -> Any:
        """The result of ``effect``, performed at once (the cloud answers at once)."""
        return self.successResultOf(perform(self.dispatcher, effect))

    def settle(self, group_ids: Iterable[str], tenant_id: str = "t1",
               rounds: int = 8) -> None:
        """Converge each group alone, ``rounds`` times 11 s apart: long enough
        for builds to end and nodes to be added."""
        for _ in range(rounds):
            for group_id in group_ids:
                self.do(converge_one_group(tenant_id, group_id, SETTINGS))
            self.clock.advance(11)

    def listings(self, tenant_id: str | None = None) -> list[ServiceRequest]:
        """The Nova listings requested (of one tenant, or all)."""
        return [r for r in self.requests if r.path == "servers/detail"
                and tenant_id in (None, r.tenant_id)]


def _unavailable(read: LoadGroup) -> None:
    raise StoreUnavailable(f"the store cannot read group {read.group_id}")
