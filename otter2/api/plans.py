"""
The plan preview over HTTP: ``GET …/groups/{groupId}/plan``, the dry runs of
the changes that move a group's desired state (``?dry_run=true``), and the
plan a ``POST …/converge`` with ``If-Match`` must still match. See Note [One
planner] in ``otter2.convergence.preview``.

test-case-name: tests.api.test_plans
"""

from __future__ import annotations

from typing import Any

from twisted.web.server import Request

from otter2.api.base import APIBase
from otter2.control.errors import APIError
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
from otter2.model import ScalingGroup


class PlanPreviews(APIBase):
    """What the routes that preview a plan share."""

    async def _preview(self, group: ScalingGroup) -> Preview:
        """The group's preview now; 503 without a cloud or when the cloud cannot
        be read."""
        if self.config.identity is None:
            raise APIError(503, "ServiceUnavailable",
                           "No cloud is configured for this otter2: a plan needs the "
                           "group's servers, which it cannot see")
        try:
            found: Preview = await self._do(preview(group, self._clock.seconds(),
                                                     self.config.converger))
        except GatherError as error:
            raise APIError(503, "ServiceUnavailable",
                           f"The cloud could not be read to make a plan: {error.reason}"
                           ) from None
        return found

    async def _dry_run(self, group: ScalingGroup) -> dict[str, Any]:
        """The body of a dry run that would leave ``group`` as given: its desired
        state and the plan it would lead to now."""
        found = await self._preview(group)
        return {"dryRun": True, "desiredCapacity": group.state.desired,
                "plan": render_preview(found)}

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
