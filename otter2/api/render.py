"""
JSON documents of the API: links, groups, states, policies, webhooks.

Every link is built from the configured ``url_root``, never from the request.

test-case-name: tests.api.test_groups
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

from otter2.convergence.planning import iso_time
from otter2.model import Execution, GroupStatus, Policy, ScalingGroup, Webhook, thaw_json


@lru_cache(maxsize=65536)
def _quoted(segment: str) -> str:
    """A path segment percent-encoded (ids recur in every answer: quoted once)."""
    return quote(segment, safe="")


class Links:
    """Absolute URLs of the API's resources under one ``url_root``."""

    def __init__(self, url_root: str) -> None:
        self.root = url_root.rstrip("/") + "/v1.0"

    def _url(self, *segments: str) -> str:
        return "/".join([self.root, *(_quoted(s) for s in segments)]) + "/"

    def groups(self, tenant_id: str) -> str:
        return self._url(tenant_id, "groups")

    def group(self, tenant_id: str, group_id: str) -> str:
        return self._url(tenant_id, "groups", group_id)

    def policies(self, tenant_id: str, group_id: str) -> str:
        return self._url(tenant_id, "groups", group_id, "policies")

    def policy(self, tenant_id: str, group_id: str, policy_id: str) -> str:
        return self._url(tenant_id, "groups", group_id, "policies", policy_id)

    def webhooks(self, tenant_id: str, group_id: str, policy_id: str) -> str:
        return self._url(tenant_id, "groups", group_id, "policies", policy_id, "webhooks")

    def webhook(self, w: Webhook) -> str:
        return self._url(w.tenant_id, "groups", w.group_id, "policies", w.policy_id,
                         "webhooks", w.webhook_id)

    def capability(self, w: Webhook) -> str:
        return self._url("execute", w.capability_version, w.capability_hash)

    def executions(self, tenant_id: str, group_id: str) -> str:
        return self._url(tenant_id, "groups", group_id, "executions")

    def execution(self, e: Execution) -> str:
        return self._url(e.tenant_id, "groups", e.group_id, "executions", e.execution_id)


def self_link(href: str) -> list[dict[str, str]]:
    """A links list holding just the ``self`` link."""
    return [{"href": href, "rel": "self"}]


def next_links(collection_url: str, ids: Sequence[str], limit: int,
               filters: Mapping[str, Any] | None = None) -> list[dict[str, str]]:
    """
    The ``next`` link of a page: present iff the page holds ``limit`` items.
    Its query keeps the page's ``filters`` (those given: not None or empty;
    a list repeats its parameter), its parameters in alphabetical order
    (rest-api §2.8).
    """
    if len(ids) < limit or not ids:
        return []
    given = {**{k: v for k, v in (filters or {}).items() if v not in (None, [])},
             "limit": limit, "marker": ids[-1]}
    query = urlencode(sorted(given.items()), doseq=True)
    return [{"href": f"{collection_url}?{query}", "rel": "next"}]


def diverged_message(since: float) -> str:
    """What a group's owner reads when the divergence alarm fired for the group."""
    return (f"The group has not reached its desired capacity and has not changed since "
            f"{iso_time(since)}; otter2's operators have been alerted")


def render_state(group: ScalingGroup) -> dict[str, Any]:
    """The group state object: desired, active and pending capacity, status."""
    state = group.state
    active = [{"id": s.id, "links": thaw_json(s.links)} for s in group.servers if s.active]
    document: dict[str, Any] = {
        "name": group.name,
        "paused": state.paused,
        "status": state.status.value,
        "desiredCapacity": state.desired,
        "active": active,
        "activeCapacity": len(active),
        "pendingCapacity": max(0, state.desired - len(active)),
    }
    if state.status is GroupStatus.ERROR:
        document["errors"] = [{"message": reason} for reason in state.error_reasons]
    elif state.waiting or state.diverged_since is not None:
        # otter2's own: why the group is not converged yet (clients ignore it).
        document["waiting"] = [{"message": reason} for reason in state.waiting]
        if state.diverged_since is not None:
            document["waiting"].append({"message": diverged_message(state.diverged_since)})
    return document


def render_group_config(group: ScalingGroup) -> dict[str, Any]:
    """The group configuration with its defaults filled."""
    config: dict[str, Any] = thaw_json(group.config)
    config.setdefault("metadata", {})
    return config


def render_policy(links: Links, policy: Policy) -> dict[str, Any]:
    """A policy as stored, plus ``id`` and its self link."""
    document: dict[str, Any] = thaw_json(policy.data)
    document["id"] = policy.policy_id
    document["links"] = self_link(links.policy(policy.tenant_id, policy.group_id,
                                               policy.policy_id))
    return document


def render_webhook(links: Links, webhook: Webhook) -> dict[str, Any]:
    """A webhook with its self and capability links."""
    return {
        "id": webhook.webhook_id,
        "name": webhook.name,
        "metadata": thaw_json(webhook.metadata),
        "links": [{"href": links.webhook(webhook), "rel": "self"},
                  {"href": links.capability(webhook), "rel": "capability"}],
    }


def render_manifest(links: Links, group: ScalingGroup, policies: Sequence[Policy],
                    pagination: int,
                    webhooks: Iterable[Webhook] | None = None) -> dict[str, Any]:
    """The whole group: configs, state, every policy (and webhook if asked)."""
    tenant_id, group_id = group.tenant_id, group.group_id
    by_policy: dict[str, list[Webhook]] = {}
    for webhook in webhooks or ():
        by_policy.setdefault(webhook.policy_id, []).append(webhook)
    rendered = []
    for policy in policies:
        document = render_policy(links, policy)
        if webhooks is not None:
            hooks = by_policy.get(policy.policy_id, [])
            url = links.webhooks(tenant_id, group_id, policy.policy_id)
            document["webhooks"] = [render_webhook(links, w) for w in hooks]
            document["webhooks_links"] = [{"href": url, "rel": "webhooks"}] + next_links(
                url, [w.webhook_id for w in hooks], pagination)
        rendered.append(document)
    policies_url = links.policies(tenant_id, group_id)
    return {
        "id": group_id,
        "links": self_link(links.group(tenant_id, group_id)),
        "groupConfiguration": render_group_config(group),
        "launchConfiguration": thaw_json(group.launch),
        "scalingPolicies": rendered,
        "scalingPolicies_links": [{"href": policies_url, "rel": "policies"}] + next_links(
            policies_url, [p.policy_id for p in policies], pagination),
        "state": render_state(group),
    }


def instant(seconds: float) -> str:
    """An instant as ISO 8601 in UTC, to the millisecond."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def render_execution(links: Links, execution: Execution) -> dict[str, Any]:
    """A receipt as the owner reads it (Note [Receipts] in ``api.operations``)."""
    body: dict[str, Any] = {
        "id": execution.execution_id,
        "policyId": execution.policy_id,
        "trigger": execution.trigger.value,
        "at": instant(execution.at),
        "outcome": "applied" if execution.refusal is None else "refused",
        "desiredCapacity": {"before": execution.desired_before,
                            "after": execution.desired_after},
        "links": self_link(links.execution(execution)),
    }
    if execution.refusal is not None:
        body["refusal"] = {"code": execution.refusal.status,
                           "type": execution.refusal.error_type,
                           "message": execution.refusal.message}
    for name, value in (("idempotencyKey", execution.idempotency_key),
                        ("requestId", execution.request_id),
                        ("webhookId", execution.webhook_id)):
        if value is not None:
            body[name] = value
    if execution.scheduled_for is not None:
        body["scheduledFor"] = instant(execution.scheduled_for)
    return body
