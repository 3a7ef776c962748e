"""
The activity journal's events of one iteration (Note [Journal] in
``otter2.model.journal``): what each step acted on (a server, a node, a
stack), a step event for each with its outcome and root, the plan they
follow from, and the group's change of status.

test-case-name: tests.convergence.test_journaling
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from attrs import frozen

from otter2.convergence.causes import Attribution, event_id
from otter2.convergence.explain import counted
from otter2.convergence.steps import (
    AddNodesToCLB,
    BulkAddToRCv3,
    BulkRemoveFromRCv3,
    ChangeCLBNode,
    CheckStack,
    CreateServer,
    CreateStack,
    DeleteServer,
    DeleteStack,
    RecordLoadBalancers,
    RemoveNodesFromCLB,
    SetMetadataItemOnServer,
    Step,
    UpdateStack,
)
from otter2.model import EventKind, JournalEvent
from otter2.model.cloud import CLBNode, LBNode, NodeCondition, ObservedServer, ServerState
from otter2.model.outcome import StepOutcome, Verdict

_GONE = (ServerState.DELETED, ServerState.SOFT_DELETED)

#: What a step event's ``details["action"]`` says of a server's deletion.
DELETE = "delete"

#: A step's outcome in one word (``details["outcome"]``).
OK, FAILED, RETRY = "ok", "failed", "retry"


def outcome_word(outcome: StepOutcome) -> str:
    """A step's outcome in one word: ok (the change was made), failed or retry."""
    if outcome.done or outcome.verdict is Verdict.SUCCESS:
        return OK
    return FAILED if outcome.verdict is Verdict.FAILURE else RETRY


@frozen
class Subject:
    """What one step event is about: an action on a server or a node."""

    action: str
    server_id: str | None
    words: str
    details: Mapping[str, Any]


def subjects(step: Step, outcome: StepOutcome, servers_at: Mapping[str, str],
              nodes: Mapping[tuple[str, str], CLBNode]) -> list[Subject]:
    """The servers and nodes ``step`` acted on, each as a `Subject`."""
    def node_server(lb_id: str, node_id: str) -> str | None:
        node = nodes.get((lb_id, node_id))
        return None if node is None else servers_at.get(node.address)

    match step:
        case CreateServer():
            made = outcome.server_id
            words = f"server {made} created" if made else "a server's creation"
            return [Subject("create", made, words, {})]
        case DeleteServer(server_id=server_id):
            return [Subject(DELETE, server_id, f"server {server_id} deleted", {})]
        case SetMetadataItemOnServer(server_id=server_id):
            return [Subject("mark draining", server_id,
                             f"server {server_id} marked for draining", {})]
        case RecordLoadBalancers(server_id=server_id):
            return [Subject("record load balancers", server_id,
                             f"server {server_id}'s load balancers recorded", {})]
        case AddNodesToCLB(lb_id=lb_id, address_configs=pairs):
            return [Subject("add node", servers_at.get(address),
                             f"server at {address} added to load balancer {lb_id}",
                             {"lb_id": lb_id, "address": address})
                    for address, _ in sorted(pairs, key=lambda pair: pair[0])]
        case RemoveNodesFromCLB(lb_id=lb_id, node_ids=node_ids):
            return [Subject("remove node", node_server(lb_id, node_id),
                             f"node {node_id} removed from load balancer {lb_id}",
                             {"lb_id": lb_id, "node_id": node_id})
                    for node_id in sorted(node_ids)]
        case ChangeCLBNode(lb_id=lb_id, node_id=node_id, condition=condition):
            action = "drain node" if condition is NodeCondition.DRAINING else "change node"
            return [Subject(action, node_server(lb_id, node_id),
                             f"node {node_id} of load balancer {lb_id} set to {condition.value}",
                             {"lb_id": lb_id, "node_id": node_id})]
        case BulkAddToRCv3(lb_node_pairs=pairs):
            return [Subject("add to pool", server_id,
                             f"server {server_id} added to RackConnect pool {pool}",
                             {"lb_id": pool}) for pool, server_id in sorted(pairs)]
        case CreateStack():
            made = outcome.server_id
            words = f"stack {made} created" if made else "a stack's creation"
            return [Subject("create", made, words, {})]
        case DeleteStack(stack_id=stack_id):
            return [Subject(DELETE, stack_id, f"stack {stack_id} deleted", {})]
        case CheckStack(stack_id=stack_id):
            return [Subject("check", stack_id, f"stack {stack_id} checked", {})]
        case UpdateStack(stack_id=stack_id, finishing=finishing):
            action = "update" if finishing else "repair"
            return [Subject(action, stack_id, f"stack {stack_id} updated", {})]
        case BulkRemoveFromRCv3(lb_node_pairs=pairs):
            return [Subject("remove from pool", server_id,
                             f"server {server_id} removed from RackConnect pool {pool}",
                             {"lb_id": pool}) for pool, server_id in sorted(pairs)]
    return []


def addresses(servers: Iterable[ObservedServer]) -> dict[str, str]:
    """The id of the server at each ServiceNet address: one that exists before one
    that is gone (Nova reuses the addresses of deleted servers)."""
    ordered = sorted(servers, key=lambda s: s.state not in _GONE)
    return {s.servicenet_address: s.id for s in ordered if s.servicenet_address}


def nodes_by_id(lb_nodes: Iterable[LBNode]) -> dict[tuple[str, str], CLBNode]:
    """The CLB nodes by (load balancer id, node id)."""
    return {(node.description.lb_id, node.node_id): node for node in lb_nodes
            if isinstance(node, CLBNode)}


def acted_on(steps: Iterable[Step], servers: Iterable[ObservedServer],
             lb_nodes: Iterable[LBNode]) -> set[str]:
    """The ids of the existing servers that ``steps`` act on."""
    servers_at, nodes = addresses(servers), nodes_by_id(lb_nodes)
    unknown = StepOutcome(Verdict.RETRY)
    return {subject.server_id for step in steps
            for subject in subjects(step, unknown, servers_at, nodes)
            if subject.server_id is not None}


def iteration_events(tenant_id: str, group_id: str, now: float,
                     results: Sequence[tuple[Step, StepOutcome]], attribution: Attribution,
                     servers: Sequence[ObservedServer],
                     lb_nodes: Iterable[LBNode]) -> list[JournalEvent]:
    """
    The events of an iteration that executed ``results`` (the plan's own
    steps, not `stamped`): its new observations, its plan, and a step event
    per server or node acted on, caused by its root; none without a step on
    the cloud.
    """
    by_id = {server.id: server for server in servers}
    servers_at = addresses(servers)
    nodes = nodes_by_id(lb_nodes)
    iteration = event_id(tenant_id, group_id, "iteration", repr(now))
    plan_id = event_id(iteration, "plan")
    creates = iter(attribution.creates)
    steps: list[JournalEvent] = []
    kinds: dict[str, int] = {}
    for step, outcome in results:
        creating = isinstance(step, (CreateServer, CreateStack))
        create_root = next(creates, None) if creating else None
        acted = subjects(step, outcome, servers_at, nodes)
        if acted:
            kinds[type(step).__name__] = kinds.get(type(step).__name__, 0) + 1
        word = outcome_word(outcome)
        for subject in acted:
            root = (create_root if creating else
                    None if subject.server_id is None else
                    attribution.root_of(by_id.get(subject.server_id), subject.server_id))
            message = "; ".join(outcome.reasons)
            unknown = "" if root is not None else " (no known root cause)"
            steps.append(JournalEvent(
                tenant_id=tenant_id, group_id=group_id,
                event_id=event_id(plan_id, len(steps), subject.action, subject.server_id),
                kind=EventKind.STEP, at=now, cause=root, server_id=subject.server_id,
                summary=f"{subject.words}: {word}{unknown}" + (f" ({message})" if message else ""),
                details={"plan": plan_id, "action": subject.action, "step": type(step).__name__,
                         "outcome": word, "message": message, **subject.details}))
    if not steps:
        return list(attribution.observed)
    cause = next((event.cause for event in steps if event.cause is not None), None)
    plan = JournalEvent(
        tenant_id=tenant_id, group_id=group_id, event_id=plan_id, kind=EventKind.PLAN, at=now,
        cause=cause, summary=f"convergence took {counted(sum(kinds.values()), 'step')} ("
        + ", ".join(f"{kind}: {count}" for kind, count in sorted(kinds.items())) + ")",
        details={"iteration": iteration, "steps": kinds})
    return [*attribution.observed, plan, *steps]


def status_event(tenant_id: str, group_id: str, now: float, before: str, after: str,
                 reasons: Sequence[str], events: Sequence[JournalEvent]) -> JournalEvent:
    """The event of the group's status changing from ``before`` to ``after``, caused
    as the iteration's plan in ``events`` (none without a plan)."""
    plan = next((e for e in events if e.kind is EventKind.PLAN), None)
    iteration = event_id(tenant_id, group_id, "iteration", repr(now))
    why = "; ".join(reasons)
    return JournalEvent(
        tenant_id=tenant_id, group_id=group_id, event_id=event_id(iteration, "status"),
        kind=EventKind.STATUS, at=now, cause=None if plan is None else plan.cause,
        summary=f"status {before} -> {after}" + (f": {why}" if why else ""),
        details={"status_before": before, "status_after": after, "reasons": list(reasons),
                 **({"plan": plan.event_id} if plan is not None else {})})

