"""
One convergence iteration of one group, as an Effect: read the group,
observe the cloud, plan, execute, and record what was seen and concluded
(spec §4, with the weaknesses of §9 fixed where they touch an iteration).

- A paused group is left alone until it is resumed, and a suspended tenant's
  group until the tenant is no longer suspended (a deleting one is not:
  deletion goes on).
- What the iteration observed and did is gathered in an `Iteration`, and
  ``conclusion.conclude`` alone decides how it ends (status, reasons,
  record, LIMITED_RETRY count, when to look again). The conclusion is
  written once, at the end, whatever its verdict (``convergence.writing``):
  there is no ACTIVE flash at the start of an iteration that is about to
  fail again.
- A failed gather is a RETRY with its reason (a group error if the account
  lacks Nova or CLB), not an exception retried silently for ever.
- The servers seen are recorded, active only when they serve and the plan
  keeps them, with the load balancers their metadata names; a server
  recorded before that Nova says is gone now is treated as DELETED, and those load balancers are still gathered, so the nodes it left
  behind are removed even when no configuration or server names them any
  more.
- A ``launch_stack`` group's iteration gathers its Heat stacks instead and
  plans them with ``stacks.plan_stacks``; its stacks are recorded the way
  servers are, so the state lists the active ones.

test-case-name: tests.convergence.test_iteration
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Sequence
from typing import Any

from attrs import evolve, frozen
from effect import Constant, Effect, parallel
from effect.do import do
from pyrsistent import PSet, pset

from otter2.cloud import heat, nova
from otter2.cloud.metadata import launch_load_balancers, prepare_server_config
from otter2.config import ConvergerConfig
from otter2.convergence.causes import Attribution
from otter2.convergence.conclusion import GONE, Conclusion, Iteration, left_alone
from otter2.convergence.executing import execute_steps, worst_outcome
from otter2.convergence.gathering import (
    GatherError,
    IdentityFailure,
    Observation,
    ServiceMissing,
    gather_group,
    gather_stacks,
)
from otter2.convergence.journaling import (
    Recalled,
    attribute,
    recall,
    stack_survey,
    stamped,
    survey,
)
from otter2.convergence.membership import Key, lb_key
from otter2.convergence.planning import DEFAULT_STEP_LIMITS, Plan, plan
from otter2.convergence.stacks import plan_stacks, serving
from otter2.convergence.step_events import iteration_events
from otter2.convergence.steps import CreateServer, Step
from otter2.convergence.summary import summarize
from otter2.convergence.tenant_view import TenantView
from otter2.convergence.writing import conclude_and_write
from otter2.intents import Now
from otter2.model import Fence, ScalingGroup
from otter2.model.cloud import (
    CLBNode,
    LBDescription,
    LBNode,
    ObservedServer,
    ObservedStack,
    RecordedServer,
    ServerState,
)
from otter2.model.desired import DesiredGroup, DesiredStackGroup
from otter2.model.outcome import StepOutcome, Verdict
from otter2.store.intents import LoadGroup


def desired_group(group: ScalingGroup) -> DesiredGroup:
    """The desired state of a ``launch_server`` group (capacity 0 while deleting)."""
    args = group.launch["args"]
    return DesiredGroup(
        capacity=0 if group.deleting else group.state.desired,
        server_config=prepare_server_config(args, group.group_id),
        desired_lbs=launch_load_balancers(args),
        draining_timeout=float(args.get("draining_timeout", 0.0)),
        build_after=group.state.build_after)


def autoscale_active(servers: Iterable[ObservedServer], lb_nodes: Iterable[LBNode],
                     desired_lbs: Iterable[LBDescription]) -> set[str]:
    """
    Ids of the servers that serve: ACTIVE in Nova and on every desired load
    balancer (a node with the same CLB and port, or in the same pool: an
    equivalent one, whose ``lb_key`` is the same).
    """
    wanted = {lb_key(lb) for lb in desired_lbs}
    at_address: dict[str, set[Key]] = {}
    of_server: dict[str, set[Key]] = {}
    for node in lb_nodes:
        on = (at_address.setdefault(node.address, set()) if isinstance(node, CLBNode)
              else of_server.setdefault(node.cloud_server_id, set()))
        on.add(lb_key(node.description))
    active = set()
    for server in servers:
        if server.state is not ServerState.ACTIVE:
            continue
        on = of_server.get(server.id, set())
        if server.servicenet_address:
            on = on | at_address.get(server.servicenet_address, set())
        if wanted <= on:
            active.add(server.id)
    return active


def vanished_servers(tenant_id: str, servers: Sequence[ObservedServer],
                     recorded: Iterable[RecordedServer]) -> Effect:
    """
    An Effect of DELETED copies of the servers the last iteration recorded
    that the group no longer lists and that Nova says are gone: the nodes they
    left behind must be removed. A server that still exists but left the
    group (its metadata was scrubbed) is not touched, nor are its nodes. A
    check that fails keeps the server out of this iteration.
    """
    missing = _unlisted(servers, recorded)
    if not missing:
        return Effect(Constant([]))
    checks = [Effect(nova.get_server_request(tenant_id, entry.id))
              .on(nova.is_gone, error=lambda _: False) for entry in missing]
    return parallel(checks).on(lambda gone: [
        ObservedServer(id=entry.id, state=ServerState.DELETED, created=0.0,
                       desired_lbs=entry.load_balancers, servicenet_address=entry.address)
        for entry, is_gone in zip(missing, gone, strict=True) if is_gone])


def _unlisted(servers: Sequence[ObservedServer],
              recorded: Iterable[RecordedServer]) -> list[RecordedServer]:
    """The recorded servers that are not among ``servers``."""
    seen = {server.id for server in servers}
    return [entry for entry in recorded if entry.id not in seen]


def recorded_lbs(recorded: Iterable[RecordedServer]) -> PSet:
    """The load balancers the recorded servers' metadata named."""
    return pset(lb for entry in recorded for lb in entry.load_balancers)


def record_servers(servers: Iterable[ObservedServer], serving: set[str],
                   kept: Iterable[str]) -> list[RecordedServer]:
    """
    What to remember of the servers seen, by id: a server is ``active`` when
    it serves and the plan keeps it, so the state never names a server that
    convergence is about to remove.
    """
    active = serving.intersection(kept)
    return [RecordedServer(id=s.id, links=s.links, address=s.servicenet_address,
                           active=s.id in active, load_balancers=s.desired_lbs)
            for s in sorted(servers, key=lambda s: s.id)]


def observe_and_act(group: ScalingGroup, now: float, settings: ConvergerConfig,
                    view: TenantView | None = None) -> Effect:
    """
    An Effect of the `Iteration` that gathers the group's part of the cloud
    (or takes it from ``view``, a tenant's cloud observed for several groups
    at once, each for the load balancers it ``cared_for``), plans and
    executes the steps (for its servers, or for the Heat stacks of a
    ``launch_stack`` group); nothing about the group is written. A steady
    group seen in a view is one Effect of a value: no request, no step.
    """
    state = group.state
    stacks = is_stack_group(group)
    facts = Iteration(now=now, outcome=StepOutcome(Verdict.SUCCESS), deleting=group.deleting,
                      limited_retries=state.limited_retries,
                      build_failures=state.build_failures, build_after=state.build_after,
                      error_reasons=state.error_reasons, unit="stack" if stacks else "server")

    def gather_failed(error: Exception) -> Iteration:
        if not isinstance(error, GatherError):
            raise error
        return _gather_failed(facts, error)

    acting = (_act_on_stacks(group, now, facts) if stacks else Effect(Constant(None)).on(
        lambda _: _act_on_servers(group, now, settings, facts, view)))
    return acting.on(error=gather_failed)


def _gather_failed(facts: Iteration, error: GatherError) -> Iteration:
    """The facts of an iteration whose gather failed: a RETRY with its reason, a
    FAILURE when the account lacks the service or Identity refused."""
    verdict = (Verdict.FAILURE if isinstance(error, (ServiceMissing, IdentityFailure))
               else Verdict.RETRY)
    return evolve(facts, outcome=StepOutcome(verdict, [error.reason],
                                             retry_after=error.retry_after),
                  retry_after=error.retry_after)


def is_stack_group(group: ScalingGroup) -> bool:
    """Whether the group launches Heat stacks rather than servers."""
    return bool(group.launch.get("type") == "launch_stack")


def cared_for(group: ScalingGroup) -> PSet:
    """The load balancers a ``launch_server`` group gathers besides those its servers'
    metadata names: those of its configuration and of its record."""
    return launch_load_balancers(group.launch["args"]).union(recorded_lbs(group.servers))


@frozen
class Planned:
    """A ``launch_server`` group's part of the cloud as gathered, its ``servers``
    (those observed and those recorded that vanished), and the plan made."""

    observation: Observation
    servers: list[ObservedServer]
    plan: Plan


def observe_and_plan(group: ScalingGroup, now: float, settings: ConvergerConfig,
                     view: TenantView | None = None,
                     as_if: Callable[[Observation], Observation] | None = None) -> Effect:
    """
    An Effect of the `Planned` of a ``launch_server`` group: its part of the
    cloud gathered (or taken from ``view``) and planned, as its iteration
    does (the same functions), nothing executed. The plan preview calls it
    (Note [One planner] in ``convergence.preview``), with ``as_if`` for a dry
    run that changes what the cloud shows (a server marked or released). A
    failed gather raises `GatherError`.
    """
    def planned(observation: Observation, vanished: list[ObservedServer]) -> Planned:
        seen = observation if as_if is None else as_if(observation)
        return _planned(group, now, settings, seen, vanished)
    seen = _observe(group, view, planned)
    return seen if isinstance(seen, Effect) else Effect(Constant(seen))


def _act_on_servers(group: ScalingGroup, now: float, settings: ConvergerConfig,
                    facts: Iteration, view: TenantView | None) -> Iteration | Effect:
    """
    The `Iteration` of a ``launch_server`` group (or an Effect of it when it
    needs I/O); a failed gather raises `GatherError`. Seen in a view, a group
    with no step to take and no recorded server missing needs none.
    """
    desired = desired_group(group)

    def act(observation: Observation, vanished: list[ObservedServer]) -> Iteration | Effect:
        return _execute(group, desired, facts,
                        _planned(group, now, settings, observation, vanished),
                        settings.build_timeout)
    return _observe(group, view, act)


def _observe(group: ScalingGroup, view: TenantView | None,
             then: Callable[[Observation, list[ObservedServer]], Any]) -> Any:
    """
    ``then`` of what the group's gather saw (or ``view``'s observation of the
    group) and of the recorded servers Nova says are gone; an Effect of it
    when that needs I/O, the value itself when it does not (a group seen in a
    view with no recorded server missing from it).
    """
    def observed(observation: Observation) -> Any:
        if not _unlisted(observation.servers, group.servers):
            return then(observation, [])
        return vanished_servers(group.tenant_id, observation.servers, group.servers).on(
            lambda vanished: then(observation, vanished))
    if view is None:
        return gather_group(group.tenant_id, group.group_id, cared_for(group)).on(observed)
    return observed(view.observation(group.group_id))  # gathered with cared_for(group)


def _planned(group: ScalingGroup, now: float, settings: ConvergerConfig,
             observation: Observation, vanished: list[ObservedServer]) -> Planned:
    """The plan of a ``launch_server`` group that saw ``observation`` and found
    the recorded servers ``vanished``."""
    servers = [*observation.servers, *vanished]
    limits = {**DEFAULT_STEP_LIMITS, CreateServer: settings.create_server_limit}
    the_plan = plan(desired_group(group), servers, observation.lb_nodes, observation.clbs, now,
                    settings.build_timeout, limits, settings.offline_timeout)
    return Planned(observation, servers, the_plan)


def _execute(group: ScalingGroup, desired: DesiredGroup, facts: Iteration,
             planned: Planned, build_timeout: float) -> Iteration | Effect:
    """
    The `Iteration` of a ``launch_server`` group once ``planned`` is executed:
    an Effect of it, or with no step the value itself. An iteration with
    steps reads back what their root causes need and journals them (Note
    [Root causes] in ``convergence.causes``).
    """
    observation, servers, the_plan = planned.observation, planned.servers, planned.plan
    serving = autoscale_active(servers, observation.lb_nodes, desired.desired_lbs)
    record = record_servers(servers, serving, the_plan.kept)
    gone = [s.id for s in servers if s.state is ServerState.DELETED]

    def executed(results: list[tuple[Step, StepOutcome]]) -> Iteration:
        return _acted(facts, the_plan, results, record, gone=gone)

    if not the_plan.steps:
        return executed([])
    steps = list(the_plan.steps)
    found = survey(servers, observation.lb_nodes, steps, len(the_plan.kept), desired.capacity,
                   facts.now, build_timeout, group.servers)

    def act(recalled: Recalled) -> Effect:
        attribution = attribute(group.tenant_id, group.group_id, facts.now, found, recalled)
        return execute_steps(stamped(steps, attribution), group.tenant_id).on(
            lambda results: journaled(attribution, [
                (step, outcome) for step, (_, outcome) in zip(steps, results, strict=True)]))

    def journaled(attribution: Attribution,
                  results: list[tuple[Step, StepOutcome]]) -> Iteration:
        events = iteration_events(group.tenant_id, group.group_id, facts.now, results,
                                  attribution, servers, observation.lb_nodes)
        return evolve(executed(results), journal=events)
    return recall(group.tenant_id, group.group_id, found).on(act)


def desired_stack_group(group: ScalingGroup) -> DesiredStackGroup:
    """The desired state of a ``launch_stack`` group (capacity 0 while deleting)."""
    return DesiredStackGroup(
        group_id=group.group_id,
        capacity=0 if group.deleting else group.state.desired,
        stack_config=heat.stack_config(group.launch["args"]["stack"], group.group_id),
        build_after=group.state.build_after)


@do
def _act_on_stacks(group: ScalingGroup, now: float,
                   facts: Iteration) -> Generator[Effect, Any, Iteration]:
    """
    The iteration of a ``launch_stack`` group; a failed gather raises
    `GatherError`. The stacks are recorded like servers: by id, with their
    links, active when they serve and the plan keeps them; the steps are
    journaled like a server group's, each stack created or deleted with its
    root (Note [Root causes] in ``convergence.causes``).
    """
    stacks: list[ObservedStack] = yield gather_stacks(group.tenant_id, group.group_id)
    desired = desired_stack_group(group)
    the_plan = plan_stacks(desired, stacks, now)
    active = serving(stacks).intersection(the_plan.kept)
    record = [RecordedServer(id=stack.id, links=stack.links, active=stack.id in active)
              for stack in sorted(stacks, key=lambda stack: stack.id)]
    if not the_plan.steps:
        return _acted(facts, the_plan, [], record, gone=[])
    steps = list(the_plan.steps)
    found = stack_survey(stacks, steps, len(the_plan.kept), desired.capacity)
    recalled: Recalled = yield recall(group.tenant_id, group.group_id, found)
    attribution = attribute(group.tenant_id, group.group_id, now, found, recalled)
    results: list[tuple[Step, StepOutcome]] = yield execute_steps(steps, group.tenant_id)
    events = iteration_events(group.tenant_id, group.group_id, now, results, attribution, [], [])
    return evolve(_acted(facts, the_plan, results, record, gone=[]), journal=events)


def _acted(facts: Iteration, the_plan: Plan, results: list[tuple[Step, StepOutcome]],
           record: list[RecordedServer], gone: list[str]) -> Iteration:
    """The facts of an iteration that gathered, planned and executed ``results``."""
    outcomes = [outcome for _, outcome in results]
    waits = [o.retry_after for o in outcomes if o.retry_after is not None]
    # A change refused for a moment is work the next iteration can do: see
    # Note [Looking again].
    refused = [reason for o in outcomes if o.busy for reason in o.reasons]
    return evolve(
        facts, outcome=worst_outcome(outcomes), servers=record, gone=gone,
        postponed=the_plan.postponed.extend(refused), wake_at=the_plan.wake_at,
        broken=the_plan.broken,
        done=summarize(results), retry_after=max(waits) if waits else None,
        steps=[(type(step).__name__, outcome.verdict.name) for step, outcome in results],
        executed=tuple(step for step, _ in results))


@do
def converge_one_group(tenant_id: str, group_id: str,
                       settings: ConvergerConfig = ConvergerConfig(),
                       fence: Fence | None = None) -> Generator[Effect, Any, Conclusion]:
    """
    An Effect of the `Conclusion` of one iteration for the group, written
    to the store with ``fence``; see the module docstring.
    """
    group: ScalingGroup | None = yield Effect(LoadGroup(tenant_id, group_id, True))
    why_not = not_acting_on(group)
    if why_not is not None:
        return left_alone(why_not)
    assert group is not None
    now: float = yield Effect(Now())
    facts: Iteration = yield observe_and_act(group, now, settings)
    written: Conclusion = yield conclude_and_write(group, facts, settings, fence)
    return written


def not_acting_on(group: ScalingGroup | None) -> str | None:
    """Why an iteration leaves the group alone (gone, paused, its tenant suspended), or
    None when it acts on it."""
    if group is None:
        return GONE
    if group.state.paused and not group.deleting:
        return "the group is paused"
    if group.state.suspended and not group.deleting:
        return "the tenant is suspended"
    return None
