"""
Routes of policies, webhooks, execution (authenticated and anonymous) and
limits.

test-case-name: tests.api.test_policies
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4
from xml.sax.saxutils import quoteattr

from attrs import evolve
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.server import Request

from otter2.api.base import APIBase, Reply, app, endpoint
from otter2.api.render import next_links, render_policy, render_webhook
from otter2.api.request import parse_limit, query_arg
from otter2.control import validation
from otter2.control.capability import CAPABILITY_VERSION, new_capability_hash
from otter2.control.errors import APIError, validation_error
from otter2.control.messages import json_text
from otter2.control.policy import no_such_group, no_such_policy, no_such_webhook
from otter2.control.schedule import policy_event
from otter2.model import Policy, Webhook
from otter2.store import intents as store
from otter2.store.interface import (
    NoSuchGroup,
    NoSuchPolicy,
    NoSuchWebhook,
    OverLimit,
    StoreUnavailable,
)

log = Logger(namespace="otter2.api")

_POLICY = "/v1.0/<tenant_id>/groups/<group_id>/policies/<policy_id>/"
_WEBHOOKS = _POLICY + "webhooks/"
_WEBHOOK = _WEBHOOKS + "<webhook_id>/"

class PolicyRoutes(APIBase):
    """The policy, webhook, execute and limits endpoints (§4.11 – §4.18)."""

    async def _policy(self, tenant_id: str, group_id: str, policy_id: str) -> Policy:
        await self._group(tenant_id, group_id)
        policy: Policy | None = await self._do(
            store.LoadPolicy(tenant_id, group_id, policy_id))
        if policy is None:
            raise no_such_policy(tenant_id, group_id, policy_id)
        return policy

    # -- policies ---------------------------------------------------------------

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/policies/", methods=["GET"],
               strict_slashes=False)
    @endpoint
    async def list_policies(self, request: Request, tenant_id: str, group_id: str) -> Reply:
        limit = parse_limit(request, self.limits.pagination)
        await self._group(tenant_id, group_id)
        policies = await self._do(store.ListPolicies(
            tenant_id, group_id, limit, query_arg(request, "marker")))
        return Reply(200, {
            "policies": [render_policy(self.links, p) for p in policies],
            "policies_links": next_links(self.links.policies(tenant_id, group_id),
                                         [p.policy_id for p in policies], limit),
        })

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/policies/", methods=["POST"],
               strict_slashes=False)
    @endpoint
    async def create_policies(self, request: Request, tenant_id: str,
                              group_id: str) -> Reply:
        now = self._clock.seconds()
        bodies = validation.validate_policies(self._json(request), now,
                                              max_items=self.limits.pagination)
        policies = [self._new_policy(tenant_id, group_id, data) for data in bodies]
        events = [e for e in (policy_event(p, now, self.config.scheduler.buckets) for p in policies) if e]
        maximum = self.limits.max_policies_per_group
        try:
            await self._do(store.CreatePolicies(tenant_id, group_id, policies, events,
                                                maximum))
        except NoSuchGroup:
            raise no_such_group(tenant_id, group_id) from None
        except OverLimit as e:
            raise APIError(
                422, "PoliciesOverLimitError",
                f"Currently there are {e.current} policies for tenant {tenant_id}, "
                f"scaling group {group_id}. Creating {len(policies)} new policies would "
                f"exceed the policy limit of {maximum} per group.") from None
        return Reply(201, {"policies": [render_policy(self.links, p) for p in policies]},
                     {"Location": self.links.policies(tenant_id, group_id)})

    @app.route(_POLICY, methods=["GET"], strict_slashes=False)
    @endpoint
    async def show_policy(self, request: Request, tenant_id: str, group_id: str,
                          policy_id: str) -> Reply:
        policy = await self._policy(tenant_id, group_id, policy_id)
        return Reply(200, {"policy": render_policy(self.links, policy)})

    @app.route(_POLICY, methods=["PUT"], strict_slashes=False)
    @endpoint
    async def update_policy(self, request: Request, tenant_id: str, group_id: str,
                            policy_id: str) -> Reply:
        now = self._clock.seconds()
        data = validation.validate_policy(self._json(request), now)
        policy = await self._policy(tenant_id, group_id, policy_id)
        if data["type"] != policy.policy_type:
            raise validation_error(
                f"type: Cannot change type of a scaling policy (it is "
                f"{json_text(policy.policy_type)}); create a new policy instead")
        updated = evolve(policy, data=data, version=str(uuid4()))
        try:
            await self._do(store.UpdatePolicy(
                updated, policy_event(updated, now, self.config.scheduler.buckets)))
        except NoSuchPolicy:
            raise no_such_policy(tenant_id, group_id, policy_id) from None
        return Reply(204)

    @app.route(_POLICY, methods=["DELETE"], strict_slashes=False)
    @endpoint
    async def delete_policy(self, request: Request, tenant_id: str, group_id: str,
                            policy_id: str) -> Reply:
        await self._group(tenant_id, group_id)
        try:
            await self._do(store.DeletePolicy(tenant_id, group_id, policy_id))
        except NoSuchPolicy:
            raise no_such_policy(tenant_id, group_id, policy_id) from None
        return Reply(204)

    @app.route(_POLICY + "execute/", methods=["POST"], strict_slashes=False)
    @endpoint
    async def execute_policy(self, request: Request, tenant_id: str, group_id: str,
                             policy_id: str) -> Reply:
        await self._execute(tenant_id, group_id, policy_id)
        return Reply(202, {})

    # -- webhooks ---------------------------------------------------------------

    @app.route(_WEBHOOKS, methods=["GET"], strict_slashes=False)
    @endpoint
    async def list_webhooks(self, request: Request, tenant_id: str, group_id: str,
                            policy_id: str) -> Reply:
        limit = parse_limit(request, self.limits.pagination)
        await self._policy(tenant_id, group_id, policy_id)
        webhooks = await self._do(store.ListWebhooks(
            tenant_id, group_id, policy_id, limit, query_arg(request, "marker")))
        return Reply(200, {
            "webhooks": [render_webhook(self.links, w) for w in webhooks],
            "webhooks_links": next_links(self.links.webhooks(tenant_id, group_id, policy_id),
                                         [w.webhook_id for w in webhooks], limit),
        })

    @app.route(_WEBHOOKS, methods=["POST"], strict_slashes=False)
    @endpoint
    async def create_webhooks(self, request: Request, tenant_id: str, group_id: str,
                              policy_id: str) -> Reply:
        bodies = validation.validate_webhooks(self._json(request),
                                              max_items=self.limits.pagination)
        await self._policy(tenant_id, group_id, policy_id)
        webhooks = [Webhook(tenant_id=tenant_id, group_id=group_id, policy_id=policy_id,
                            webhook_id=str(uuid4()), name=body["name"],
                            metadata=body["metadata"],
                            capability_hash=new_capability_hash(),
                            capability_version=CAPABILITY_VERSION) for body in bodies]
        maximum = self.limits.max_webhooks_per_policy
        try:
            await self._do(store.CreateWebhooks(tenant_id, group_id, policy_id, webhooks,
                                                maximum))
        except NoSuchPolicy:
            raise no_such_policy(tenant_id, group_id, policy_id) from None
        except OverLimit as e:
            raise APIError(
                422, "WebhooksOverLimitError",
                f"Currently there are {e.current} webhooks for tenant {tenant_id}, "
                f"scaling group {group_id}, policy {policy_id}.  Creating "
                f"{len(webhooks)} new webhooks would exceed the webhook limit of "
                f"{maximum} per policy.") from None
        return Reply(201, {"webhooks": [render_webhook(self.links, w) for w in webhooks]},
                     {"Location": self.links.webhooks(tenant_id, group_id, policy_id)})

    async def _webhook(self, tenant_id: str, group_id: str, policy_id: str,
                       webhook_id: str) -> Webhook:
        await self._group(tenant_id, group_id)
        webhook: Webhook | None = await self._do(
            store.LoadWebhook(tenant_id, group_id, policy_id, webhook_id))
        if webhook is None:
            raise no_such_webhook(tenant_id, group_id, policy_id, webhook_id)
        return webhook

    @app.route(_WEBHOOK, methods=["GET"], strict_slashes=False)
    @endpoint
    async def show_webhook(self, request: Request, tenant_id: str, group_id: str,
                           policy_id: str, webhook_id: str) -> Reply:
        webhook = await self._webhook(tenant_id, group_id, policy_id, webhook_id)
        return Reply(200, {"webhook": render_webhook(self.links, webhook)})

    @app.route(_WEBHOOK, methods=["PUT"], strict_slashes=False)
    @endpoint
    async def update_webhook(self, request: Request, tenant_id: str, group_id: str,
                             policy_id: str, webhook_id: str) -> Reply:
        body = validation.validate_webhook_update(self._json(request))
        webhook = await self._webhook(tenant_id, group_id, policy_id, webhook_id)
        try:
            await self._do(store.UpdateWebhook(evolve(
                webhook, name=body["name"], metadata=body["metadata"])))
        except NoSuchWebhook:
            raise no_such_webhook(tenant_id, group_id, policy_id, webhook_id) from None
        return Reply(204)

    @app.route(_WEBHOOK, methods=["DELETE"], strict_slashes=False)
    @endpoint
    async def delete_webhook(self, request: Request, tenant_id: str, group_id: str,
                             policy_id: str, webhook_id: str) -> Reply:
        await self._group(tenant_id, group_id)
        try:
            await self._do(store.DeleteWebhook(tenant_id, group_id, policy_id, webhook_id))
        except NoSuchWebhook:
            raise no_such_webhook(tenant_id, group_id, policy_id, webhook_id) from None
        return Reply(204)

    # -- anonymous execution ----------------------------------------------------

    @app.route("/v1.0/execute/<version>/<capability_hash>/", methods=["POST"],
               strict_slashes=False)
    @endpoint
    async def execute_webhook(self, request: Request, version: str,
                              capability_hash: str) -> Reply:
        # Answer at once and say nothing of the outcome: nothing may leak
        # about which capability URLs exist.
        self._execute_capability(capability_hash)
        return Reply(202)

    def _execute_capability(self, capability_hash: str) -> Deferred[Any]:
        async def work() -> None:
            try:
                target = await self._do(store.LookupCapability(capability_hash))
            except StoreUnavailable as e:
                log.warn("Anonymous execution not done: {reason}", reason=str(e))
                return
            if target is None:
                log.info("Anonymous execution of an unknown capability ignored")
                return
            try:
                await self._execute(target.tenant_id, target.group_id, target.policy_id)
            except APIError as e:
                log.info("Anonymous execution of policy {policy_id} refused: {message}",
                         policy_id=target.policy_id, group_id=target.group_id,
                         tenant_id=target.tenant_id, message=e.message)
            except StoreUnavailable as e:
                log.warn("Anonymous execution of policy {policy_id} not done: {reason}",
                         policy_id=target.policy_id, group_id=target.group_id,
                         tenant_id=target.tenant_id, reason=str(e))
            else:
                log.info("Anonymous execution of policy {policy_id} succeeded",
                         policy_id=target.policy_id, group_id=target.group_id,
                         tenant_id=target.tenant_id)

        d = Deferred.fromCoroutine(work())
        d.addErrback(lambda f: log.failure("Anonymous execution failed", f))
        self.pending_executions.add(d)
        d.addBoth(lambda r: self.pending_executions.discard(d))
        return d

    # -- limits -----------------------------------------------------------------

    def _rate_limits(self, tenant_id: str) -> list[dict[str, Any]]:
        """The ``rate`` part of the limits, as the proxy Otter ran behind showed it."""
        rate = []
        for limiter, key, uri, regex, unit in (
                (self.tenant_limiter, tenant_id, "/v1.0/tenantId/*", r"/v1\.0/([0-9]+)/.+",
                 "MINUTE"),
                (self.execute_limiter, "execute", "/v1.0/execute/*", r"/v1\.0/execute/(.*)",
                 "SECOND")):
            if limiter is None:
                continue
            remaining, next_window = limiter.remaining(key)
            available = datetime.fromtimestamp(next_window, UTC)
            rate.append({"uri": uri, "regex": regex, "limit": [{
                "verb": "ALL", "value": limiter.limit, "unit": unit, "remaining": remaining,
                "next-available": available.strftime("%Y-%m-%dT%H:%M:%S.000Z")}]})
        return rate

    @app.route("/v1.0/<tenant_id>/limits/", methods=["GET"], strict_slashes=False)
    @endpoint
    async def show_limits(self, request: Request, tenant_id: str) -> Reply:
        absolute = {"maxGroups": self.limits.max_groups,
                    "maxPoliciesPerGroup": self.limits.max_policies_per_group,
                    "maxWebhooksPerPolicy": self.limits.max_webhooks_per_policy}
        accept = (request.getHeader(b"accept") or b"").decode("latin-1")
        if "xml" not in accept:
            document: dict[str, Any] = {"absolute": absolute}
            rate = self._rate_limits(tenant_id)
            if rate:
                document["rate"] = rate
            return Reply(200, {"limits": document})
        items = "".join(f"<limit name={quoteattr(k)} value={quoteattr(str(v))}/>"
                        for k, v in absolute.items())
        xml = ("<?xml version='1.0' encoding='UTF-8'?>\n"
               '<limits xmlns="http://docs.openstack.org/common/api/v1.0">'
               f"<absolute>{items}</absolute></limits>")
        return Reply(200, xml.encode(), {"Content-Type": "application/xml"})
