"""
The plan preview over HTTP: ``GET …/groups/{groupId}/plan``, the dry runs of
the changes that move a group's desired state (``?dry_run=true``), and the
plan a ``POST …/converge`` with ``If-Match`` must still match. See Note [One
planner] in ``otter2.convergence.preview``.

test-case-name: tests.api.test_plans
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.web.server import Request

from otter2.api.base import APIBase
from otter2.api.render import render_state
from otter2.control.errors import APIError
from otter2.control.policy import cooldown_end, execute_in_order
from otter2.convergence.explain import Explained
from otter2.convergence.gathering import GatherError
from otter2.convergence.planning import iso_time
from otter2.convergence.preview import Preview, preview
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
from otter2.model import Policy, ScalingGroup


class PlanPreviews(APIBase):
    """What the routes that preview a plan share."""

    async def _preview(self, group: ScalingGroup, draining: str | None = None,
                       without: str | None = None) -> Preview:
        """The group's preview now (as if ``draining`` were marked for draining or
        ``without`` gone: see ``convergence.preview``); 503 without a cloud or
        when the cloud cannot be read."""
        if self.config.identity is None:
            raise APIError(503, "ServiceUnavailable",
                           "No cloud is configured for this otter2: a plan needs the "
                           "group's servers, which it cannot see")
        try:
            found: Preview = await self._do(preview(group, self._clock.seconds(),
                                                     self.config.converger, draining, without))
        except GatherError as error:
            raise APIError(503, "ServiceUnavailable",
                           f"The cloud could not be read to make a plan: {error.reason}"
                           ) from None
        return found

    async def _dry_run(self, group: ScalingGroup, draining: str | None = None,
                       without: str | None = None) -> dict[str, Any]:
        """The body of a dry run that would leave ``group`` as given (and the cloud
        as ``draining`` and ``without`` say): its desired state and the plan it
        would lead to now."""
        found = await self._preview(group, draining, without)
        return {"dryRun": True, "desiredCapacity": group.state.desired,
                "plan": render_preview(found)}

    async def _why(self, group: ScalingGroup, policies: Sequence[Policy]) -> dict[str, Any]:
        """
        Why the group's desired capacity is not its actual one now, and what
        each policy would do if triggered next: the state, the reasons (the
        pause, the errors, each step of the live plan or, without one, what the
        last convergence was waiting for), the plan, and the next triggers.
        """
        now = self._clock.seconds()
        state = group.state
        document = render_state(group)
        reasons: list[str] = []
        if state.paused:
            reasons.append("the group is paused: nothing converges or executes until it "
                           "is resumed")
        reasons.extend(state.error_reasons)
        body: dict[str, Any] = {
            key: document[key] for key in ("status", "paused", "desiredCapacity",
                                           "activeCapacity", "pendingCapacity")}
        try:
            found = await self._preview(group)
        except APIError as unavailable:
            reasons.extend(state.waiting)
            reasons.append(unavailable.message)
            body["converged"] = None
        else:
            reasons.extend(e.reason for e in found.explained)
            reasons.extend(found.plan.postponed)
            body["converged"] = found.converged
            body["plan"] = render_preview(found)
        body["reasons"] = reasons
        body["nextTriggers"] = [_next_trigger(group, policy, now) for policy in policies]
        return body

    async def _check_plan(self, request: Request, group: ScalingGroup) -> None:
        """412 if the request has ``If-Match`` and the group's plan is no longer it."""
        wanted = request.getHeader(b"if-match")
        if wanted is None:
            return
        plan_id = wanted.decode("latin-1").strip().strip('"')
        found = await self._preview(group)
        if found.plan_id != plan_id:
            raise APIError(412, "PlanChangedError",
                           f"The group's plan is now {found.plan_id}, not {plan_id}: the "
                           "cloud or the group changed since it was previewed")


def _next_trigger(group: ScalingGroup, policy: Policy, now: float) -> dict[str, Any]:
    """What executing ``policy`` now would do, and until when its cooldowns run."""
    [outcome] = execute_in_order(group, [(policy.policy_id, policy)], now)[1]
    body: dict[str, Any] = {"policyId": policy.policy_id, "name": policy.data.get("name"),
                            "type": policy.data.get("type")}
    if isinstance(outcome, APIError):
        body["outcome"] = "refused"
        body["refusal"] = {"code": outcome.status, "type": outcome.error_type,
                           "message": outcome.message}
    else:
        body["outcome"] = "applies"
        body["desiredCapacity"] = outcome.desired
    ends = cooldown_end(group, policy)
    if ends is not None and ends > now:
        body["cooldownUntil"] = iso_time(ends)
    return body


def render_preview(found: Preview) -> dict[str, Any]:
    """A preview as the API shows it."""
    return {
        "planId": found.plan_id,
        "at": iso_time(found.at),
        "desiredCapacity": found.capacity,
        "converged": found.converged,
        "steps": [render_step(e) for e in found.explained],
        "postponed": list(found.plan.postponed),
    }


def render_step(explained: Explained) -> dict[str, Any]:
    """One step with its reason."""
    body = {"type": _kind(explained.step), **_details(explained.step),
            "reason": explained.reason}
    return body


def _kind(step: Step) -> str:
    name = type(step).__name__
    return name[0].lower() + name[1:]


def _details(step: Step) -> dict[str, Any]:
    match step:
        case CreateServer() | CreateStack():
            return {}
        case DeleteServer(server_id=server_id) | SetMetadataItemOnServer(server_id=server_id) \
                | RecordLoadBalancers(server_id=server_id):
            return {"serverId": server_id}
        case AddNodesToCLB(lb_id=lb_id, address_configs=pairs):
            return {"loadBalancerId": lb_id,
                    "addresses": sorted(f"{address}:{description.port}"
                                        for address, description in pairs)}
        case RemoveNodesFromCLB(lb_id=lb_id, node_ids=node_ids):
            return {"loadBalancerId": lb_id, "nodeIds": sorted(node_ids)}
        case ChangeCLBNode(lb_id=lb_id, node_id=node_id, condition=condition, weight=weight,
                           type=node_type):
            return {"loadBalancerId": lb_id, "nodeId": node_id, "condition": condition.value,
                    "weight": weight, "nodeType": node_type.value}
        case BulkAddToRCv3(lb_node_pairs=pairs) | BulkRemoveFromRCv3(lb_node_pairs=pairs):
            return {"pairs": [{"poolId": pool, "serverId": server}
                              for pool, server in sorted(pairs)]}
        case CheckStack(stack_id=stack_id) | UpdateStack(stack_id=stack_id) \
                | DeleteStack(stack_id=stack_id):
            return {"stackId": stack_id}
        case ConvergeLater(reasons=reasons) | FailConvergence(reasons=reasons):
            return {"reasons": list(reasons)}
