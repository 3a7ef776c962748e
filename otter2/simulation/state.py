"""
The simulated cloud as one immutable value: Nova servers, Cloud Load
Balancers, RackConnect v3 pools and Heat stacks per tenant, the `Behaviour`
that makes it slow or flaky, and the seed of its randomness.

This module holds data and the few pure helpers the per-service modules
(``nova``, ``clb``, ``rcv3``, ``heat``) share; ``cloud`` serves requests on it.

test-case-name: tests.simulation.test_cloud
"""

from __future__ import annotations

import math
import time
import uuid
from enum import Enum
from functools import lru_cache
from typing import Any

from attrs import evolve, field, frozen
from pyrsistent import PMap, PSet, PVector, pmap, pset, pvector

from otter2.cloud.request import Response, ServiceType
from otter2.model.cloud import NodeCondition, NodeType, ServerState
from otter2.model.group import frozen_json

_MASK = 2**64 - 1
JSON_HEADERS = pmap({"content-type": "application/json"})


@frozen
class Behaviour:
    """How slow and how flaky the simulated cloud is."""

    build_time: float = 60.0  # seconds a new server spends in BUILD
    error_rate: float = 0.0  # share of builds that end in ERROR
    fault_rate: float = 0.0  # share of requests answered 500 without effect
    latency: float = 0.0  # seconds before each answer arrives
    delete_time: float = 0.0  # seconds a deleted server shows task_state "deleting"
    clb_update_time: float = 1.0  # PENDING_UPDATE window after each CLB mutation
    health_check_time: float = 10.0  # seconds before a monitored node goes ONLINE
    node_limit: int = 25  # nodes per load balancer
    instance_quota: int = 100  # servers per tenant unless set otherwise
    metadata_limit: int = 40  # metadata items per server
    stack_time: float = 0.0  # seconds each Heat stack operation spends IN_PROGRESS


class CLBStatus(Enum):
    """The status of a Cloud Load Balancer."""

    ACTIVE = "ACTIVE"
    BUILD = "BUILD"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_DELETE = "PENDING_DELETE"
    DELETED = "DELETED"
    ERROR = "ERROR"
    SUSPENDED = "SUSPENDED"


@frozen(cache_hash=True)  # a key of the cache of rendered details (nova.render_server)
class SimulatedServer:
    """
    A Nova server. ``sequence`` is its place in the tenant's creation order
    (the listing's order); a BUILD server becomes ``outcome`` at ``ready_at``;
    one being deleted disappears at ``deleted_at``.
    """

    id: str
    name: str
    status: ServerState
    created: float
    updated: float
    sequence: int
    ready_at: float
    outcome: ServerState
    private_address: str
    public_address: str
    image_id: str
    flavor_id: str
    metadata: PMap = field(factory=pmap, converter=frozen_json)
    deleted_at: float | None = None


@frozen
class NovaTenant:
    """A tenant's servers; ``order`` keeps every id ever created, by sequence."""

    servers: PMap = pmap()
    order: PVector = pvector()
    quota: int | None = None  # instances; None means the behaviour's default
    # Images and flavors exist unless removed: id -> status ("DELETED" hides it).
    images: PMap = pmap()
    missing_flavors: PSet = pset()


@frozen
class SimulatedNode:
    """A Cloud Load Balancer node; ``events`` (time, summary) feed its Atom feed."""

    id: int
    address: str
    port: int
    condition: NodeCondition
    weight: int
    type: NodeType
    created: float
    online_at: float | None  # ONLINE from then on; None means OFFLINE
    events: PVector = pvector()

    def status(self, now: float) -> str:
        """ONLINE or OFFLINE, as the health monitor sees it at ``now``."""
        online = self.online_at is not None and self.online_at <= now
        return "ONLINE" if online else "OFFLINE"


@frozen
class SimulatedLoadBalancer:
    """
    A Cloud Load Balancer. A transient status (BUILD, PENDING_UPDATE,
    PENDING_DELETE) ends at ``status_until``, or never when it is None.
    ``update_time`` overrides the behaviour's PENDING_UPDATE window, and
    ``delete_time`` how long it stays PENDING_DELETE once deleted.
    ``current_connections`` is what its ``stats`` say it holds now; None
    means ``stats`` is not served (404), as in mimic.
    """

    id: int
    name: str
    port: int
    protocol: str
    created: float
    updated: float
    status: CLBStatus = CLBStatus.ACTIVE
    status_until: float | None = None
    nodes: PMap = pmap()
    health_monitor: PMap = field(factory=pmap, converter=frozen_json)
    update_time: float | None = None
    delete_time: float | None = None
    current_connections: int | None = None


@frozen
class PoolMember:
    """A cloud server in a RackConnect v3 pool."""

    id: str
    server_id: str
    created: float


@frozen
class SimulatedPool:
    """A RackConnect v3 load balancer pool; ``members`` are keyed by server id."""

    id: str
    name: str
    port: int
    virtual_ip: str
    status: str = "ACTIVE"
    members: PMap = pmap()


class StackAction(Enum):
    """What a Heat stack is doing or last did (the first half of ``stack_status``)."""

    CREATE = "CREATE"
    UPDATE = "UPDATE"
    CHECK = "CHECK"
    DELETE = "DELETE"
    ROLLBACK = "ROLLBACK"
    SUSPEND = "SUSPEND"
    RESUME = "RESUME"
    ADOPT = "ADOPT"
    SNAPSHOT = "SNAPSHOT"
    RESTORE = "RESTORE"


class StackStatus(Enum):
    """How a Heat stack's action went (the second half of ``stack_status``)."""

    IN_PROGRESS = "IN_PROGRESS"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


@frozen
class StackDefinition:
    """What a create or an update gave a Heat stack; an update replaces all of it."""

    template: PMap = field(factory=pmap, converter=frozen_json)
    template_url: str | None = None
    parameters: PMap = field(factory=pmap, converter=frozen_json)
    environment: Any = field(factory=pmap, converter=frozen_json)
    files: PMap = field(factory=pmap, converter=frozen_json)
    tags: PVector = field(factory=pvector, converter=frozen_json)
    timeout_mins: int | None = None
    disable_rollback: bool = True  # Heat's default


@frozen
class StackPhase:
    """
    A state a Heat stack reaches at ``at`` by itself: the next step of the
    operation under way. ``restore`` is the definition a rollback puts back;
    ``repair`` says the stack is whole again (its damage is gone).
    """

    at: float
    action: StackAction
    status: StackStatus
    reason: str
    restore: StackDefinition | None = None
    repair: bool = False


@frozen
class SimulatedStack:
    """
    A Heat stack. ``sequence`` is its place in the tenant's creation order;
    ``phases`` are the states its operation under way goes through, in order.
    A stack with ``damage`` (why its resources are broken) fails its checks
    until an update completes; while ``delete_failure`` is set its deletes end
    DELETE_FAILED with that reason.
    """

    id: str
    name: str
    sequence: int
    created: float
    definition: StackDefinition
    action: StackAction
    status: StackStatus
    status_reason: str
    updated: float | None = None
    deleted: float | None = None
    phases: PVector = pvector()
    damage: str | None = None
    delete_failure: str | None = None

    @property
    def stack_status(self) -> str:
        """ACTION_STATUS, as Heat lists it."""
        return f"{self.action.value}_{self.status.value}"

    @property
    def gone(self) -> bool:
        """Deleted for good (DELETE_COMPLETE): listed only with show_deleted."""
        return self.action is StackAction.DELETE and self.status is StackStatus.COMPLETE


@frozen
class HeatTenant:
    """A tenant's stacks by id; ``order`` keeps every id ever created, by sequence."""

    stacks: PMap = pmap()
    order: PVector = pvector()


@frozen
class Outage:
    """A service answering ``status`` to everything until ``until``."""

    until: float
    status: int = 500


@frozen
class SimulatedCloud:
    """
    Every tenant's Nova servers, load balancers, pools and stacks, plus how the cloud
    behaves. ``seed`` is the state of its randomness: the same cloud and the
    same requests give the same answers. ``next_change`` is the earliest time
    a timed transition is due (``advance`` does nothing before it). Links in
    answers start with ``base_url``: serve the cloud at that address.
    """

    behaviour: Behaviour = Behaviour()
    seed: int = 0
    base_url: str = "http://cloud.simulated"
    nova: PMap = pmap()  # tenant -> NovaTenant
    load_balancers: PMap = pmap()  # tenant -> {lb id: SimulatedLoadBalancer}
    pools: PMap = pmap()  # tenant -> {pool id: SimulatedPool}
    heat: PMap = pmap()  # tenant -> HeatTenant
    outages: PMap = pmap()  # ServiceType -> Outage
    rate_limits: PMap = pmap()  # (tenant, ServiceType) -> Outage of status 413 or 429
    addresses_issued: int = 0
    next_lb_id: int = 10000
    next_node_id: int = 1
    next_change: float = math.inf


def _splitmix(state: int) -> tuple[int, int]:
    state = (state + 0x9E3779B97F4A7C15) & _MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return state, z ^ (z >> 31)


def roll(cloud: SimulatedCloud) -> tuple[SimulatedCloud, float]:
    """A number in [0, 1) drawn from the cloud's seed, and the cloud moved on."""
    seed, bits = _splitmix(cloud.seed)
    return evolve(cloud, seed=seed), (bits >> 11) / 2.0**53


def new_uuid(cloud: SimulatedCloud) -> tuple[SimulatedCloud, str]:
    """A version-4 UUID drawn from the cloud's seed."""
    seed, high = _splitmix(cloud.seed)
    seed, low = _splitmix(seed)
    value = uuid.UUID(int=(high << 64) | low)
    return evolve(cloud, seed=seed), str(uuid.UUID(bytes=value.bytes, version=4))


def due(cloud: SimulatedCloud, when: float) -> SimulatedCloud:
    """The cloud, remembering that something changes at ``when``."""
    if when < cloud.next_change:
        return evolve(cloud, next_change=when)
    return cloud


@lru_cache(maxsize=4096)  # a listing shows many servers created or updated together
def timestamp(seconds: float) -> str:
    """ISO 8601 in UTC to the second, as Nova writes ``created``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def endpoint(base_url: str, service: ServiceType, tenant_id: str) -> str:
    """The URL of a tenant's service under a simulated cloud's base URL."""
    return f"{base_url.rstrip('/')}/{service.value}/{tenant_id}"


def json_response(status: int, body: Any) -> Response:
    """A JSON answer."""
    return Response(status, body, JSON_HEADERS)


def nova_tenant(cloud: SimulatedCloud, tenant_id: str) -> NovaTenant:
    """A tenant's Nova state (empty for a tenant never seen)."""
    result: NovaTenant = cloud.nova.get(tenant_id, NovaTenant())
    return result


def with_nova_tenant(cloud: SimulatedCloud, tenant_id: str,
                     tenant: NovaTenant) -> SimulatedCloud:
    """The cloud with a tenant's Nova state replaced."""
    return evolve(cloud, nova=cloud.nova.set(tenant_id, tenant))


def with_server(cloud: SimulatedCloud, tenant_id: str,
                server: SimulatedServer) -> SimulatedCloud:
    """The cloud with one (existing) server replaced."""
    tenant = nova_tenant(cloud, tenant_id)
    return with_nova_tenant(cloud, tenant_id,
                            evolve(tenant, servers=tenant.servers.set(server.id, server)))


def tenant_load_balancers(cloud: SimulatedCloud, tenant_id: str) -> PMap:
    """A tenant's load balancers by id."""
    result: PMap = cloud.load_balancers.get(tenant_id, pmap())
    return result


def with_load_balancer(cloud: SimulatedCloud, tenant_id: str,
                       lb: SimulatedLoadBalancer) -> SimulatedCloud:
    """The cloud with one load balancer added or replaced."""
    lbs = tenant_load_balancers(cloud, tenant_id).set(lb.id, lb)
    return evolve(cloud, load_balancers=cloud.load_balancers.set(tenant_id, lbs))


def tenant_pools(cloud: SimulatedCloud, tenant_id: str) -> PMap:
    """A tenant's RackConnect v3 pools by id."""
    result: PMap = cloud.pools.get(tenant_id, pmap())
    return result


def with_pool(cloud: SimulatedCloud, tenant_id: str, pool: SimulatedPool) -> SimulatedCloud:
    """The cloud with one pool added or replaced."""
    pools = tenant_pools(cloud, tenant_id).set(pool.id, pool)
    return evolve(cloud, pools=cloud.pools.set(tenant_id, pools))


def heat_tenant(cloud: SimulatedCloud, tenant_id: str) -> HeatTenant:
    """A tenant's Heat state (empty for a tenant never seen)."""
    result: HeatTenant = cloud.heat.get(tenant_id, HeatTenant())
    return result


def with_stack(cloud: SimulatedCloud, tenant_id: str, stack: SimulatedStack) -> SimulatedCloud:
    """The cloud with one stack added (at the end of the creation order) or replaced."""
    tenant = heat_tenant(cloud, tenant_id)
    order = tenant.order if stack.id in tenant.stacks else tenant.order.append(stack.id)
    tenant = evolve(tenant, stacks=tenant.stacks.set(stack.id, stack), order=order)
    return evolve(cloud, heat=cloud.heat.set(tenant_id, tenant))
