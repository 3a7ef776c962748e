"""
One convergence iteration of one group, as an Effect: read the group,
observe the cloud, plan, execute, and record what was seen and concluded
(spec §4, with the weaknesses of §9 fixed where they touch an iteration).

- A paused group is left alone until it is resumed (a deleting one is not:
  deletion goes on).
- The status is written once, at the end: FAILURE sets ERROR with readable
  reasons; anything else sets ACTIVE. There is no ACTIVE flash at the start
  of an iteration that is about to fail again.
- Work the plan postponed (step limits, one change per CLB) turns a SUCCESS
  into a RETRY: the group is not converged until nothing is left.
- A failed gather is a RETRY with its reason (a group error if the account
  lacks Nova or CLB), not an exception retried silently for ever.
- The servers seen are recorded, with the load balancers their metadata
  names; a server recorded before that Nova says is gone now is treated as
  DELETED, and those load balancers are still gathered, so the nodes it left
  behind are removed even when no configuration or server names them any
  more.

test-case-name: tests.convergence.test_iteration
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Sequence

from attrs import evolve, field, frozen
from effect import Effect, parallel
from effect.do import do
from pyrsistent import PSet, PVector, pvector

from otter2.cloud import nova
from otter2.cloud.metadata import launch_load_balancers, prepare_server_config
from otter2.cloud.request import Response
from otter2.convergence.executing import execute_steps, worst_outcome
from otter2.convergence.gathering import (
    GatherError,
    IdentityFailure,
    ServiceMissing,
    gather_group,
)
from otter2.convergence.planning import DEFAULT_STEP_LIMITS, plan
from otter2.model.outcome import StepOutcome, Verdict
from otter2.intents import Now
from otter2.model import GroupStatus, ScalingGroup
from otter2.model.cloud import (
    CLBDescription,
    CLBNode,
    LBDescription,
    LBNode,
    ObservedServer,
    RCv3Node,
    ServerState,
)
from otter2.model.desired import DesiredGroup
from otter2.model.group import frozen_list
from otter2.store.changes import update_state
from otter2.store.interface import NoSuchGroup
from otter2.store.intents import DeleteGroup, LoadGroup, SaveActive


@frozen
class IterationResult:
    """
    What one iteration concluded.

    ``verdict`` is SUCCESS (converged), RETRY or LIMITED_RETRY (look again
    soon), FAILURE (the group is in ERROR for ``reasons``); ``deleted`` says
    the group was removed (a deleting group with nothing left); ``gone`` that
    it no longer exists at all; ``paused`` that nothing was done because the
    group is paused; ``deleting`` that the group is being deleted (and is not
    gone yet: its deletion must be tried again whatever the verdict).
    """

    verdict: Verdict
    reasons: PVector = field(factory=pvector, converter=frozen_list)
    active: int = 0
    deleted: bool = False
    gone: bool = False
    paused: bool = False
    deleting: bool = False


def desired_group(group: ScalingGroup) -> DesiredGroup:
    """The desired state of a ``launch_server`` group (capacity 0 while deleting)."""
    args = group.launch["args"]
    return DesiredGroup(
        capacity=0 if group.deleting else group.state.desired,
        server_config=prepare_server_config(args, group.group_id),
        desired_lbs=launch_load_balancers(args),
        draining_timeout=float(args.get("draining_timeout", 0.0)))


def autoscale_active(servers: Iterable[ObservedServer], lb_nodes: Iterable[LBNode],
                     desired_lbs: Iterable[LBDescription]) -> set[str]:
    """
    Ids of the servers that serve: ACTIVE in Nova and on every desired load
    balancer (a node with the same CLB and port, or in the same pool).
    """
    wanted = list(desired_lbs)
    by_address: dict[str, list[CLBNode]] = {}
    by_server: dict[str, list[RCv3Node]] = {}
    for node in lb_nodes:
        if isinstance(node, CLBNode):
            by_address.setdefault(node.address, []).append(node)
        else:
            by_server.setdefault(node.cloud_server_id, []).append(node)
    active = set()
    for server in servers:
        if server.state is not ServerState.ACTIVE:
            continue
        nodes: Sequence[LBNode] = (by_address.get(server.servicenet_address, [])
                                   if server.servicenet_address else [])
        nodes = [*nodes, *by_server.get(server.id, [])]
        if all(any(lb.equivalent_to(n.description) for n in nodes) for lb in wanted):
            active.add(server.id)
    return active


def _gone(response: Response) -> bool:
    """Whether Nova's answer to ``GET servers/{id}`` says the server is gone."""
    if response.status == 404:
        return True
    if response.status != 200 or not isinstance(response.body, Mapping):
        return False
    server = response.body.get("server") or {}
    task = str(server.get("OS-EXT-STS:task_state") or "").strip().lower()
    return server.get("status") == "DELETED" or task == "deleting"


@do
def vanished_servers(tenant_id: str, servers: Sequence[ObservedServer],
                     recorded: Iterable[Mapping[str, Any]]) -> Any:
    """
    An Effect of DELETED copies of the servers the last iteration recorded
    that the group no longer lists and that Nova says are gone: the nodes they
    left behind must be removed. A server that still exists but left the
    group (its metadata was scrubbed) is not touched, nor are its nodes. A
    check that fails keeps the server out of this iteration.
    """
    seen = {server.id for server in servers}
    missing = [entry for entry in recorded if entry["id"] not in seen]
    if not missing:
        return []
    checks = [Effect(nova.get_server_request(tenant_id, str(entry["id"])))
              .on(_gone, error=lambda _: False) for entry in missing]
    gone = yield parallel(checks)
    return [ObservedServer(id=str(entry["id"]), state=ServerState.DELETED, created=0.0,
                           desired_lbs=recorded_lbs([entry]),
                           servicenet_address=str(entry.get("address", "")))
            for entry, is_gone in zip(missing, gone, strict=True) if is_gone]


def _record(servers: Iterable[ObservedServer], active: set[str],
            keep_deleted: bool) -> list[dict[str, Any]]:
    """
    The servers to remember; deleted ones only while their clean-up is not
    known to be done (until an iteration succeeds).
    """
    return [{"id": s.id, "links": s.links, "address": s.servicenet_address,
             "active": s.id in active, "lbs": _lb_entries(s.desired_lbs)}
            for s in sorted(servers, key=lambda s: s.id)
            if keep_deleted or s.state is not ServerState.DELETED]


def _lb_entries(descriptions: Iterable[LBDescription]) -> list[dict[str, Any]]:
    """Load balancers as a launch configuration names them (``recorded_lbs`` reads them)."""
    entries = [{"loadBalancerId": d.lb_id, "port": d.port} if isinstance(d, CLBDescription)
               else {"loadBalancerId": d.lb_id, "type": "RackConnectV3"} for d in descriptions]
    return sorted(entries, key=lambda e: (e["loadBalancerId"], e.get("port", 0)))


def recorded_lbs(recorded: Iterable[Mapping[str, Any]]) -> PSet:
    """The load balancers the recorded servers' metadata named (none for old records)."""
    return launch_load_balancers(
        {"loadBalancers": [lb for entry in recorded for lb in entry.get("lbs", ())]})


def _set_status(outcome: StepOutcome) -> Any:
    def change(group: ScalingGroup) -> Any:
        if outcome.verdict is Verdict.FAILURE:
            return evolve(group.state, status=GroupStatus.ERROR,
                          error_reasons=outcome.reasons)
        if group.state.status is GroupStatus.ERROR:
            return evolve(group.state, status=GroupStatus.ACTIVE)
        return group.state
    return change


@do
def converge_one_group(tenant_id: str, group_id: str, build_timeout: float = 3600.0,
                       step_limits: Mapping[type, int] = DEFAULT_STEP_LIMITS) -> Any:
    """
    An Effect resulting in the `IterationResult` of one iteration for the
    group; see the module docstring.
    """
    group: Optional[ScalingGroup] = yield Effect(LoadGroup(tenant_id, group_id, True))
    if group is None:
        return IterationResult(Verdict.SUCCESS, gone=True)
    if group.state.paused and not group.deleting:
        return IterationResult(Verdict.SUCCESS, paused=True)
    now = yield Effect(Now())
    desired = desired_group(group)
    try:
        observation = yield gather_group(tenant_id, group_id, desired.desired_lbs.union(
            recorded_lbs(group.active)))
    except GatherError as error:
        verdict = (Verdict.FAILURE if isinstance(error, (ServiceMissing, IdentityFailure))
                   else Verdict.RETRY)
        outcome = StepOutcome(verdict, [error.reason])
        yield _conclude(tenant_id, group_id, outcome)
        return IterationResult(outcome.verdict, outcome.reasons, deleting=group.deleting)

    vanished = yield vanished_servers(tenant_id, observation.servers, group.active)
    servers = [*observation.servers, *vanished]
    the_plan = plan(desired, servers, observation.lb_nodes, observation.clbs, now,
                    build_timeout, step_limits)
    results = yield execute_steps(the_plan.steps, tenant_id)
    outcome = worst_outcome(outcome for _, outcome in results)
    if the_plan.postponed and outcome.verdict in (Verdict.SUCCESS, Verdict.LIMITED_RETRY):
        outcome = StepOutcome(Verdict.RETRY, the_plan.postponed)

    active = autoscale_active(servers, observation.lb_nodes, desired.desired_lbs)
    if group.deleting and outcome.verdict is Verdict.SUCCESS:
        yield Effect(DeleteGroup(tenant_id, group_id))
        return IterationResult(Verdict.SUCCESS, deleted=True)
    yield Effect(SaveActive(tenant_id, group_id, _record(
        servers, active, keep_deleted=outcome.verdict is not Verdict.SUCCESS)))
    gone = yield _conclude(tenant_id, group_id, outcome)
    return IterationResult(outcome.verdict, outcome.reasons, active=len(active), gone=gone,
                           deleting=group.deleting and not gone)


@do
def _conclude(tenant_id: str, group_id: str, outcome: StepOutcome) -> Any:
    """Write the status the outcome calls for; True if the group vanished meanwhile."""
    try:
        yield update_state(tenant_id, group_id, _set_status(outcome), include_deleting=True)
    except NoSuchGroup:
        return True
    return False
