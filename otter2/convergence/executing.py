"""
Steps made into I/O: each step's HTTP calls (spec §3.3) as an Effect of
`ServiceRequest` intents, and the answers read into a `StepOutcome` by the
per-service tables of ``otter2.cloud``.

Every step's Effect results in a `StepOutcome` and never fails: an exception
(the transport failed, a bug) becomes RETRY with a readable reason, and a
catalog without the service becomes FAILURE with the message of spec §3.5.

test-case-name: tests.convergence.test_executing
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial, singledispatch
from typing import Any

from attrs import evolve
from effect import Constant, Effect, parallel

from otter2.cloud import clb, heat, nova, rcv3
from otter2.cloud.messages import (
    CLOUD_LOAD_BALANCERS,
    CLOUD_SERVERS,
    ORCHESTRATION,
    RACKCONNECT,
    describe_exception,
)
from otter2.cloud.request import NoSuchEndpoint, Response, ServiceRequest
from otter2.convergence.steps import (
    AddNodesToCLB,
    BulkAddToRCv3,
    BulkRemoveFromRCv3,
    ChangeCLBNode,
    CheckStack,
    ConvergeLater,
    CreateServer,
    CreateStack,
    DeleteServer,
    DeleteStack,
    FailConvergence,
    RecordLoadBalancers,
    RemoveNodesFromCLB,
    SetMetadataItemOnServer,
    Step,
    UpdateStack,
)
from otter2.intents import RandomHex
from otter2.model.outcome import StepOutcome, Verdict

SERVER_NAME_BYTES = 4
STACK_NAME_BYTES = 8

_SERVICE_OF: dict[type, str] = {
    CreateServer: CLOUD_SERVERS, DeleteServer: CLOUD_SERVERS,
    SetMetadataItemOnServer: CLOUD_SERVERS, RecordLoadBalancers: CLOUD_SERVERS,
    AddNodesToCLB: CLOUD_LOAD_BALANCERS,
    RemoveNodesFromCLB: CLOUD_LOAD_BALANCERS, ChangeCLBNode: CLOUD_LOAD_BALANCERS,
    BulkAddToRCv3: RACKCONNECT, BulkRemoveFromRCv3: RACKCONNECT,
    CreateStack: ORCHESTRATION, CheckStack: ORCHESTRATION, UpdateStack: ORCHESTRATION,
    DeleteStack: ORCHESTRATION,
}


def _unexpected(step: Step, error: BaseException) -> StepOutcome:
    if isinstance(error, NoSuchEndpoint):
        return StepOutcome(Verdict.FAILURE, [str(error)])
    service = _SERVICE_OF.get(type(step), "the cloud")
    return StepOutcome(Verdict.RETRY, [f"Could not reach {service}: {describe_exception(error)}"])


def step_effect(step: Step, tenant_id: str) -> Effect:
    """
    The Effect (resulting in a `StepOutcome`) that performs ``step`` in the
    tenant's cloud. It never fails; see the module docstring.
    """
    try:
        effect = _step_io(step, tenant_id)
    except Exception as error:
        return Effect(Constant(_unexpected(step, error)))
    return effect.on(error=partial(_unexpected, step))


def execute_steps(steps: Iterable[Step], tenant_id: str) -> Effect:
    """
    The Effect (resulting in a list of (step, outcome) pairs, in the order
    given) that performs every step at once.
    """
    steps = list(steps)
    if not steps:
        return Effect(Constant([]))
    return parallel([step_effect(step, tenant_id) for step in steps]).on(
        lambda outcomes: list(zip(steps, outcomes, strict=True)))


def worst_outcome(outcomes: Iterable[StepOutcome]) -> StepOutcome:
    """
    The most severe verdict (FAILURE, RETRY, LIMITED_RETRY, SUCCESS) with the
    reasons of every outcome that has it, sorted and without repeats; SUCCESS
    when there are none.
    """
    outcomes = list(outcomes)
    if not outcomes:
        return StepOutcome(Verdict.SUCCESS)
    verdict = max((o.verdict for o in outcomes), key=lambda v: v.value)
    reasons = {r for o in outcomes if o.verdict is verdict for r in o.reasons}
    return StepOutcome(verdict, sorted(reasons))


# -- one registration per step type --------------------------------------------


@singledispatch
def _step_io(step: object, tenant_id: str) -> Effect:
    raise TypeError(f"otter2 does not know how to perform {step!r}")


def _call(request: ServiceRequest, read: Callable[[Response], Any]) -> Effect:
    return Effect(request).on(read)


@_step_io.register
def _create(step: CreateServer, tenant_id: str) -> Effect:
    def create(suffix: str) -> Effect:
        config = nova.name_server(step.server_config, suffix)
        return _call(nova.create_server_request(tenant_id, config),
                     partial(_created, nova.classify_create_server, "server"))
    return Effect(RandomHex(SERVER_NAME_BYTES)).on(create)


def _created(classify: Callable[[Response], StepOutcome], kind: str,
             response: Response) -> StepOutcome:
    """What the answer to a create means (``classify``), with the id of the
    ``kind`` ("server", "stack") it made."""
    outcome = classify(response)
    made = response.body.get(kind) if isinstance(response.body, Mapping) else None
    made_id = made.get("id") if isinstance(made, Mapping) else None
    if outcome.done and made_id:
        return evolve(outcome, server_id=str(made_id))
    return outcome


@_step_io.register
def _delete(step: DeleteServer, tenant_id: str) -> Effect:
    def deleted(response: Response) -> StepOutcome | Effect:
        if response.status == 204:
            return _call(nova.get_server_request(tenant_id, step.server_id),
                         partial(nova.classify_deletion_check, step.server_id))
        return nova.classify_delete_server(step.server_id, response)
    return _call(nova.delete_server_request(tenant_id, step.server_id), deleted)


@_step_io.register
def _set_metadata(step: SetMetadataItemOnServer, tenant_id: str) -> Effect:
    request = nova.set_metadata_item_request(tenant_id, step.server_id, step.key, step.value)
    return _call(request, partial(nova.classify_set_metadata_item, step.server_id, step.key))


@_step_io.register
def _record_lbs(step: RecordLoadBalancers, tenant_id: str) -> Effect:
    request = nova.replace_metadata_request(tenant_id, step.server_id, step.metadata)
    return _call(request, partial(nova.classify_replace_metadata, step.server_id))


@_step_io.register
def _add_nodes(step: AddNodesToCLB, tenant_id: str) -> Effect:
    request = clb.add_nodes_request(tenant_id, step.lb_id, step.address_configs)
    return _call(request, partial(clb.classify_add_nodes, step.lb_id))


@_step_io.register
def _remove_nodes(step: RemoveNodesFromCLB, tenant_id: str) -> Effect:
    """
    Remove at most ten nodes per call; with more, the rest wait for the next
    iteration (RETRY). Ids that CLB says are not on the LB are dropped and the
    call made again for the others.
    """
    ids = sorted(step.node_ids, key=lambda node_id: (len(node_id), node_id))
    batch, rest = ids[:clb.MAX_NODES_PER_DELETE], ids[clb.MAX_NODES_PER_DELETE:]

    def remove(node_ids: list[str]) -> Effect:
        request = clb.remove_nodes_request(tenant_id, step.lb_id, node_ids)
        return _call(request, partial(removed, node_ids))

    def removed(node_ids: list[str], response: Response) -> StepOutcome | Effect:
        error = clb.clb_error(response) if response.status == 400 else None
        if error is not None and error.kind is clb.CLBErrorKind.NODES_NOT_IN_LB:
            others = [i for i in node_ids if i not in error.node_ids]
            if len(others) < len(node_ids):
                return remove(others) if others else finished()
        outcome = clb.classify_remove_nodes(step.lb_id, response)
        return finished() if outcome.verdict is Verdict.SUCCESS else outcome

    def finished() -> StepOutcome:
        if not rest:
            return StepOutcome(Verdict.SUCCESS, done=True)
        return StepOutcome(Verdict.RETRY, [
            f"removed {len(batch)} nodes from Cloud Load Balancer {step.lb_id}; "
            f"{len(rest)} more to remove"], done=True)

    return remove(batch)


@_step_io.register
def _change_node(step: ChangeCLBNode, tenant_id: str) -> Effect:
    request = clb.change_node_request(tenant_id, step.lb_id, step.node_id, step.condition,
                                      step.weight, step.type)
    return _call(request, partial(clb.classify_change_node, step.lb_id, step.node_id))


def _bulk(tenant_id: str, pairs: Any, build: Callable[[str, Any], ServiceRequest],
          classify: Callable[[Any, Response], Any], done: Callable[[], StepOutcome]) -> Effect:
    """A bulk RCv3 call, made again without the pairs a 409 says are already done."""
    if not pairs:
        return Effect(Constant(done()))

    def follow(result: StepOutcome | rcv3.Reissue) -> StepOutcome | Effect:
        if isinstance(result, rcv3.Reissue):
            return _bulk(tenant_id, result.pairs, build, classify, done)
        return result

    return _call(build(tenant_id, pairs), lambda response: follow(classify(pairs, response)))


@_step_io.register
def _bulk_add(step: BulkAddToRCv3, tenant_id: str) -> Effect:
    return _bulk(tenant_id, step.lb_node_pairs, rcv3.bulk_add_request, rcv3.classify_bulk_add,
                 rcv3.added)


@_step_io.register
def _bulk_remove(step: BulkRemoveFromRCv3, tenant_id: str) -> Effect:
    return _bulk(tenant_id, step.lb_node_pairs, rcv3.bulk_remove_request,
                 rcv3.classify_bulk_remove, rcv3.removed)


@_step_io.register
def _create_stack(step: CreateStack, tenant_id: str) -> Effect:
    def create(suffix: str) -> Effect:
        config = heat.name_stack(step.stack_config, step.group_id, suffix)
        return _call(heat.create_stack_request(tenant_id, config),
                     partial(_created, heat.classify_create_stack, "stack"))
    return Effect(RandomHex(STACK_NAME_BYTES)).on(create)


@_step_io.register
def _check_stack(step: CheckStack, tenant_id: str) -> Effect:
    return _call(heat.check_stack_request(tenant_id, step.name, step.stack_id),
                 partial(heat.classify_check_stack, step.stack_id))


@_step_io.register
def _update_stack(step: UpdateStack, tenant_id: str) -> Effect:
    return _call(heat.update_stack_request(tenant_id, step.name, step.stack_id,
                                           step.stack_config),
                 partial(heat.classify_update_stack, step.stack_id, step.finishing))


@_step_io.register
def _delete_stack(step: DeleteStack, tenant_id: str) -> Effect:
    return _call(heat.delete_stack_request(tenant_id, step.name, step.stack_id),
                 partial(heat.classify_delete_stack, step.stack_id))


@_step_io.register
def _converge_later(step: ConvergeLater, tenant_id: str) -> Effect:
    verdict = Verdict.LIMITED_RETRY if step.limited else Verdict.RETRY
    return Effect(Constant(StepOutcome(verdict, step.reasons or ["waiting to look again"])))


@_step_io.register
def _fail(step: FailConvergence, tenant_id: str) -> Effect:
    return Effect(Constant(StepOutcome(
        Verdict.FAILURE, step.reasons or ["the group cannot converge as configured"])))
