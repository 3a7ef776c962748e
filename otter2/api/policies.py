"""
Routes of policies, webhooks, execution (authenticated and anonymous) and
limits.

test-case-name: tests.api.test_policies
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4
from xml.sax.saxutils import quoteattr

from attrs import evolve
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.server import Request

from otter2.api.base import Reply, app, endpoint
from otter2.api.operations import Ask, refusal_error
from otter2.api.plans import PlanPreviews
from otter2.api.render import next_links, render_execution, render_policy, render_webhook
from otter2.api.request import parse_bool, parse_limit, query_arg
from otter2.control import validation
from otter2.control.capability import CAPABILITY_VERSION, new_capability_hash
from otter2.control.errors import APIError, validation_error
from otter2.control.messages import json_text
from otter2.control.policy import (
    execute_in_order,
    no_such_group,
    no_such_policy,
    no_such_webhook,
)
from otter2.control.schedule import policy_event
from otter2.model import Policy, Trigger, Webhook
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

class PolicyRoutes(PlanPreviews):
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
        if parse_bool(request, "dry_run", False):
            group = await self._group(tenant_id, group_id)
            policy = await self._do(store.LoadPolicy(tenant_id, group_id, policy_id))
            [outcome] = execute_in_order(group, [(policy_id, policy)],
                                         self._clock.seconds())[1]
            if isinstance(outcome, APIError):
                raise outcome
            return Reply(200, await self._dry_run(evolve(group, state=outcome)))
        ask = Ask(policy_id, Trigger.API, key=_idempotency_key(request),
                  request_id=_response_id(request))
        execution = await self._execute(tenant_id, group_id, ask)
        request.setHeader(b"X-Execution-Id", execution.execution_id.encode())
        refusal = refusal_error(execution)
        if refusal is not None:
            raise refusal
        return Reply(202, {})

    # -- execution receipts -------------------------------------------------------

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/executions/", methods=["GET"],
               strict_slashes=False)
    @endpoint
    async def list_executions(self, request: Request, tenant_id: str, group_id: str) -> Reply:
        limit = parse_limit(request, self.limits.pagination)
        await self._group(tenant_id, group_id)
        executions = await self._do(store.ListExecutions(
            tenant_id, group_id, limit, query_arg(request, "marker")))
        return Reply(200, {
            "executions": [render_execution(self.links, e) for e in executions],
            "executions_links": next_links(self.links.executions(tenant_id, group_id),
                                           [e.execution_id for e in executions], limit),
        })

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/executions/<execution_id>/",
               methods=["GET"], strict_slashes=False)
    @endpoint
    async def show_execution(self, request: Request, tenant_id: str, group_id: str,
                             execution_id: str) -> Reply:
        await self._group(tenant_id, group_id)
        execution = await self._do(store.LoadExecution(tenant_id, group_id, execution_id))
        if execution is None:
            raise APIError(404, "NoSuchExecutionError",
                           f"No such execution {execution_id} for group {group_id}")
        return Reply(200, {"execution": render_execution(self.links, execution)})

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
        # Say nothing of the outcome: nothing may leak about which capability
        # URLs exist, and the receipt is the owner's. The answer waits until
        # the execution is recorded (Note [Receipts]): a 202 is never lost.
        key = _idempotency_key(request) or _body_key(request, self.config.executions.key_field)
        done = self._execute_capability(capability_hash, key, _response_id(request))
        if not await done:
            raise APIError(503, "ServiceUnavailable",
                           "The execution could not be recorded; try again")
        return Reply(202)

    def _execute_capability(self, capability_hash: str, key: str | None,
                            request_id: str | None) -> Deferred[bool]:
        """Execute what the capability names; whether the outcome (if any) was
        recorded, False when the store could not be used."""
        async def work() -> bool:
            try:
                target = await self._do(store.LookupCapability(capability_hash))
            except StoreUnavailable as e:
                log.warn("Anonymous execution not done: {reason}", reason=str(e))
                return False
            if target is None:
                log.info("Anonymous execution of an unknown capability ignored")
                return True
            fields = {"policy_id": target.policy_id, "group_id": target.group_id,
                      "tenant_id": target.tenant_id}
            try:
                execution = await self._execute(target.tenant_id, target.group_id, Ask(
                    target.policy_id, Trigger.WEBHOOK, key=key, request_id=request_id,
                    webhook_id=target.webhook_id))
            except APIError as e:
                log.info("Anonymous execution of policy {policy_id} refused: {message}",
                         message=e.message, **fields)
                return True
            except StoreUnavailable as e:
                log.warn("Anonymous execution of policy {policy_id} not done: {reason}",
                         reason=str(e), **fields)
                return False
            refusal = execution.refusal
            if refusal is None:
                log.info("Anonymous execution of policy {policy_id} succeeded "
                         "(execution {execution_id})",
                         execution_id=execution.execution_id, **fields)
            else:
                log.info("Anonymous execution of policy {policy_id} refused: {message} "
                         "(execution {execution_id})", message=refusal.message,
                         execution_id=execution.execution_id, **fields)
            return True

        d = Deferred.fromCoroutine(work())

        def failed(failure: Failure) -> bool:
            log.failure("Anonymous execution failed", failure)
            return False
        d.addErrback(failed)
        self.pending_executions.add(d)

        def forget(recorded: bool) -> bool:
            self.pending_executions.discard(d)
            return recorded
        return d.addCallback(forget)

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


#: What an ``Idempotency-Key`` may be: 1 to 255 visible ASCII characters.
_KEY_CHARACTERS = frozenset(chr(c) for c in range(0x21, 0x7F))
MAX_KEY_LENGTH = 255


def _idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key``, None if it sent none; 400 if malformed."""
    raw = request.getHeader(b"idempotency-key")
    if raw is None:
        return None
    key = raw.decode("latin-1").strip()
    if not 0 < len(key) <= MAX_KEY_LENGTH or not set(key) <= _KEY_CHARACTERS:
        raise APIError(400, "ValidationError",
                       f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII "
                       "characters (letters, digits, punctuation; no spaces)")
    return key


def _body_key(request: Request, field: str | None) -> str | None:
    """
    The idempotency key an alarm sender's body carries in ``field`` (the
    configuration's ``executions.key_field``): a string or a number at the
    top of a JSON object; None if not configured or not there. Anything else
    in the body is ignored, as the anonymous execution always has.
    """
    if field is None or request.content is None:
        return None
    request.content.seek(0)
    try:
        body = json.loads(request.content.read())
    except ValueError:
        return None
    value = body.get(field) if isinstance(body, dict) else None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    key = str(value)[:MAX_KEY_LENGTH]
    return key or None


def _response_id(request: Request) -> str | None:
    """The id the answer to ``request`` carries (``X-Response-Id``)."""
    found = request.responseHeaders.getRawHeaders(b"X-Response-Id")
    return found[0].decode() if found else None
