"""
Fill an embedded store file with many groups quickly, for the memory
benchmark (``python -m otter2.bench.fill PATH GROUPS``): the groups, policies
and webhooks the API would make for `otter2.bench.daemon.group_body`
(validated by the same checks, with fresh ids and capability hashes), written
through `SQLiteGroupStore` itself rather than one request at a time, since
tens of thousands of requests would take minutes. 1 000 groups to a tenant.

Run it with no daemon on the file: the daemon owns its file while it runs.

test-case-name: tests.bench.test_daemon
"""

from __future__ import annotations

import sys
import time
from typing import Any
from uuid import uuid4

from twisted.internet import task
from twisted.internet.defer import Deferred, gatherResults

from otter2.bench.daemon import group_body
from otter2.control.capability import CAPABILITY_VERSION, new_capability_hash
from otter2.control.validation import validate_group_create, validate_webhooks
from otter2.model import GroupState, Policy, ScalingGroup, Webhook
from otter2.store.sqlite import SQLiteGroupStore

PER_TENANT = 1_000


def tenants(groups: int) -> list[tuple[str, int]]:
    """Tenants and how many groups each gets, ``PER_TENANT`` at most (the default limit)."""
    return [(f"{200000 + index}", min(PER_TENANT, groups - index * PER_TENANT))
            for index in range((groups + PER_TENANT - 1) // PER_TENANT)]


def new_group(tenant_id: str, name: str, now: float) -> tuple[ScalingGroup, list[Policy],
                                                              list[Webhook]]:
    """A group as ``POST /groups`` makes it from `group_body`, and a webhook on each policy."""
    body = validate_group_create(group_body(name), now)
    group_id = str(uuid4())
    config = body["groupConfiguration"]
    policies = [Policy(tenant_id=tenant_id, group_id=group_id, policy_id=str(uuid4()),
                       data=data, version=str(uuid4())) for data in body["scalingPolicies"]]
    [hook] = validate_webhooks([{"name": "hook"}])
    webhooks = [Webhook(tenant_id=tenant_id, group_id=group_id, policy_id=p.policy_id,
                        webhook_id=str(uuid4()), name=hook["name"], metadata=hook["metadata"],
                        capability_hash=new_capability_hash(),
                        capability_version=CAPABILITY_VERSION) for p in policies]
    group = ScalingGroup(tenant_id=tenant_id, group_id=group_id, config=config,
                         launch=body["launchConfiguration"],
                         state=GroupState(tenant_id=tenant_id, group_id=group_id,
                                          desired=config["minEntities"]), created=now)
    return group, policies, webhooks


async def fill(reactor: Any, path: str, groups: int) -> None:
    """Write ``groups`` groups into the store file at ``path``."""
    store = SQLiteGroupStore(reactor, path)
    try:
        now = time.time()
        for tenant_id, count in tenants(groups):
            writes = []
            for index in range(count):
                group, policies, webhooks = new_group(tenant_id, f"g{index}", now)
                writes.append(store.create_group(group, policies, [], PER_TENANT))
                for webhook in webhooks:
                    writes.append(store.create_webhooks(
                        tenant_id, group.group_id, webhook.policy_id, [webhook], 25))
            await gatherResults(writes)
    finally:
        store.close()


def main(reactor: Any, path: str, groups: str) -> Deferred[None]:
    """Fill the file (``task.react`` runs this)."""
    return Deferred.fromCoroutine(fill(reactor, path, int(groups)))


if __name__ == "__main__":
    task.react(main, sys.argv[1:3])
