"""
A group store in memory: the same contract as the SQLite store, answering at
once. The simulation and its tests run on it (with a ``task.Clock``, where
no thread may be involved); it keeps the contract suite's promises.

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from attrs import evolve
from twisted.internet.defer import Deferred, fail, succeed

from otter2.model import (
    CapabilityTarget,
    DivergentMark,
    Execution,
    Fence,
    GroupState,
    JournalEvent,
    Policy,
    ScalingGroup,
    ScheduledEvent,
    Webhook,
)
from otter2.model.cloud import RecordedServer
from otter2.model.journal import from_execution
from otter2.store import journal
from otter2.store.executions import check_keys, newest_first
from otter2.store.interface import (
    FencedOut,
    NoSuchGroup,
    NoSuchPolicy,
    NoSuchWebhook,
    OverLimit,
    StaleEvent,
    StaleVersion,
)

T = TypeVar("T")
GroupKey = tuple[str, str]


def _answer(work: Callable[[], T]) -> Deferred[T]:
    try:
        return succeed(work())
    except Exception as error:
        return fail(error)


class MemoryGroupStore:
    """A `GroupStore` in dictionaries; see the module docstring."""

    def __init__(self) -> None:
        self.groups: dict[GroupKey, ScalingGroup] = {}
        self.policies: dict[GroupKey, dict[str, Policy]] = {}
        self.webhooks: dict[GroupKey, dict[tuple[str, str], Webhook]] = {}
        self.capabilities: dict[str, CapabilityTarget] = {}
        self.events: dict[GroupKey, dict[str, ScheduledEvent]] = {}
        self.divergent: dict[GroupKey, int] = {}
        self.executions: dict[GroupKey, dict[str, Execution]] = {}
        self.bucket_tokens: dict[int, int] = {}
        self.journal: dict[GroupKey, dict[str, JournalEvent]] = {}

    def close(self) -> None:
        """Nothing to release."""

    def _live(self, tenant_id: str, group_id: str) -> ScalingGroup:
        group = self.groups.get((tenant_id, group_id))
        if group is None or group.deleting:
            raise NoSuchGroup()
        return group

    def _add_events(self, events: Sequence[ScheduledEvent]) -> None:
        for event in events:
            self.events.setdefault((event.tenant_id, event.group_id), {})[
                event.policy_id] = event

    # -- groups ---------------------------------------------------------------

    def create_group(self, group: ScalingGroup, policies: Sequence[Policy],
                     events: Sequence[ScheduledEvent], max_groups: int) -> Deferred[None]:
        def work() -> None:
            count = sum(1 for (tenant, _), g in self.groups.items()
                        if tenant == group.tenant_id and not g.deleting)
            if count >= max_groups:
                raise OverLimit(count)
            key = (group.tenant_id, group.group_id)
            self.groups[key] = group
            self.policies[key] = {p.policy_id: p for p in policies}
            self._add_events(events)
        return _answer(work)

    def load_group(self, tenant_id: str, group_id: str,
                   include_deleting: bool = False) -> Deferred[ScalingGroup | None]:
        group = self.groups.get((tenant_id, group_id))
        if group is not None and group.deleting and not include_deleting:
            group = None
        return succeed(group)

    def list_groups(self, tenant_id: str, limit: int,
                    marker: str | None) -> Deferred[list[ScalingGroup]]:
        found = sorted((g for (tenant, group_id), g in self.groups.items()
                        if tenant == tenant_id and group_id > (marker or "")
                        and not g.deleting), key=lambda g: g.group_id)
        return succeed(found[:limit])

    def _write_state(self, state: GroupState) -> GroupState:
        """Save ``state`` if its version is current (`StaleVersion`, `NoSuchGroup`)."""
        key = (state.tenant_id, state.group_id)
        group = self.groups.get(key)
        if group is None:
            raise NoSuchGroup()
        if group.state.version != state.version:
            raise StaleVersion()
        saved = evolve(state, version=state.version + 1)
        self.groups[key] = evolve(group, state=saved)
        return saved

    def _check(self, fence: Fence | None) -> None:
        """`FencedOut` if a later owner has claimed the fence's bucket."""
        if fence is not None and self.bucket_tokens.get(fence.bucket, 0) > fence.token:
            raise FencedOut()

    def claim_bucket(self, bucket: int) -> Deferred[int]:
        token = self.bucket_tokens[bucket] = self.bucket_tokens.get(bucket, 0) + 1
        return succeed(token)

    def save_state(self, state: GroupState,
                   fence: Fence | None = None) -> Deferred[GroupState]:
        def work() -> GroupState:
            self._check(fence)
            return self._write_state(state)
        return _answer(work)

    def update_config(self, tenant_id: str, group_id: str,
                      config: Mapping[str, Any]) -> Deferred[None]:
        def work() -> None:
            group = self._live(tenant_id, group_id)
            state = evolve(group.state, version=group.state.version + 1)
            self.groups[(tenant_id, group_id)] = evolve(group, config=config, state=state)
        return _answer(work)

    def update_launch(self, tenant_id: str, group_id: str,
                      launch: Mapping[str, Any]) -> Deferred[None]:
        def work() -> None:
            group = self._live(tenant_id, group_id)
            self.groups[(tenant_id, group_id)] = evolve(group, launch=launch)
        return _answer(work)

    def mark_deleting(self, tenant_id: str, group_id: str) -> Deferred[None]:
        def work() -> None:
            group = self._live(tenant_id, group_id)
            self.groups[(tenant_id, group_id)] = evolve(group, deleting=True)
        return _answer(work)

    def delete_group(self, tenant_id: str, group_id: str,
                     fence: Fence | None = None) -> Deferred[None]:
        def work() -> None:
            self._check(fence)
            key = (tenant_id, group_id)
            self.groups.pop(key, None)
            self.policies.pop(key, None)
            for webhook in self.webhooks.pop(key, {}).values():
                self.capabilities.pop(webhook.capability_hash, None)
            self.events.pop(key, None)
            self.divergent.pop(key, None)
            self.executions.pop(key, None)
            self.journal.pop(key, None)
        return _answer(work)

    def save_servers(self, tenant_id: str, group_id: str,
                     servers: Sequence[RecordedServer],
                     fence: Fence | None = None) -> Deferred[None]:
        def work() -> None:
            self._check(fence)
            group = self.groups.get((tenant_id, group_id))
            if group is not None:
                self.groups[(tenant_id, group_id)] = evolve(group, servers=servers)
        return _answer(work)

    # -- policies -------------------------------------------------------------

    def create_policies(self, tenant_id: str, group_id: str, policies: Sequence[Policy],
                        events: Sequence[ScheduledEvent],
                        max_policies: int) -> Deferred[None]:
        def work() -> None:
            self._live(tenant_id, group_id)
            existing = self.policies.setdefault((tenant_id, group_id), {})
            if len(existing) + len(policies) > max_policies:
                raise OverLimit(len(existing))
            existing.update({p.policy_id: p for p in policies})
            self._add_events(events)
        return _answer(work)

    def list_policies(self, tenant_id: str, group_id: str, limit: int,
                      marker: str | None) -> Deferred[list[Policy]]:
        policies = self.policies.get((tenant_id, group_id), {})
        found = [policies[p] for p in sorted(policies) if p > (marker or "")]
        return succeed(found if limit < 0 else found[:limit])

    def load_policy(self, tenant_id: str, group_id: str,
                    policy_id: str) -> Deferred[Policy | None]:
        return succeed(self.policies.get((tenant_id, group_id), {}).get(policy_id))

    def update_policy(self, policy: Policy,
                      event: ScheduledEvent | None) -> Deferred[None]:
        def work() -> None:
            policies = self.policies.get((policy.tenant_id, policy.group_id), {})
            if policy.policy_id not in policies:
                raise NoSuchPolicy()
            policies[policy.policy_id] = policy
            self.events.get((policy.tenant_id, policy.group_id), {}).pop(policy.policy_id, None)
            self._add_events([event] if event else [])
        return _answer(work)

    def delete_policy(self, tenant_id: str, group_id: str, policy_id: str) -> Deferred[None]:
        def work() -> None:
            key = (tenant_id, group_id)
            if self.policies.get(key, {}).pop(policy_id, None) is None:
                raise NoSuchPolicy()
            self.events.get(key, {}).pop(policy_id, None)
            webhooks = self.webhooks.get(key, {})
            for webhook_key in [k for k in webhooks if k[0] == policy_id]:
                self.capabilities.pop(webhooks.pop(webhook_key).capability_hash, None)
        return _answer(work)

    # -- schedule events --------------------------------------------------------

    def due_events(self, buckets: Sequence[int], now: float,
                   limit: int) -> Deferred[list[ScheduledEvent]]:
        wanted = set(buckets)
        due = [e for events in self.events.values() for e in events.values()
               if e.bucket in wanted and e.trigger <= now]
        return succeed(sorted(due, key=lambda e: (e.trigger, e.policy_id))[:limit])

    def fire_event(self, event: ScheduledEvent, state: GroupState | None,
                   next_event: ScheduledEvent | None,
                   mark_divergent: bool,
                   execution: Execution | None = None,
                   fence: Fence | None = None) -> Deferred[None]:
        def work() -> None:
            self._check(fence)
            key = (event.tenant_id, event.group_id)
            if self.events.get(key, {}).get(event.policy_id) != event:
                raise StaleEvent()
            if state is not None:
                self._write_state(state)
            del self.events[key][event.policy_id]
            self._add_events([next_event] if next_event else [])
            if execution is not None:
                self.executions.setdefault(key, {})[execution.execution_id] = execution
                self._journal([from_execution(execution)])
            if mark_divergent:
                self.mark_divergent(event.tenant_id, event.group_id)
        return _answer(work)

    # -- execution receipts ---------------------------------------------------

    def record_executions(self, state: GroupState | None, executions: Sequence[Execution],
                          mark_divergent: bool, keys_since: float,
                          retain_since: float) -> Deferred[GroupState | None]:
        def work() -> GroupState | None:
            owner = executions[0] if executions else state
            if owner is None:
                return None
            key = (owner.tenant_id, owner.group_id)
            if key not in self.groups:
                raise NoSuchGroup()
            recorded = self.executions.get(key, {})
            check_keys(executions, [e.idempotency_key for e in recorded.values()
                                    if e.idempotency_key is not None and e.at >= keys_since])
            saved = None if state is None else self._write_state(state)
            kept = {i: e for i, e in recorded.items() if e.at >= retain_since}
            kept.update((e.execution_id, e) for e in executions)
            self.executions[key] = kept
            self._journal([from_execution(e) for e in executions])
            if mark_divergent:
                self.mark_divergent(*key)
            return saved
        return _answer(work)

    def find_executions(self, tenant_id: str, group_id: str, keys: Sequence[str],
                        since: float) -> Deferred[dict[str, Execution]]:
        wanted = set(keys)
        return succeed({e.idempotency_key: e
                        for e in self.executions.get((tenant_id, group_id), {}).values()
                        if e.idempotency_key in wanted and e.at >= since})

    def load_execution(self, tenant_id: str, group_id: str,
                       execution_id: str) -> Deferred[Execution | None]:
        return succeed(self.executions.get((tenant_id, group_id), {}).get(execution_id))

    def list_executions(self, tenant_id: str, group_id: str, limit: int,
                        marker: str | None) -> Deferred[list[Execution]]:
        ordered = newest_first(self.executions.get((tenant_id, group_id), {}).values())
        ids = [e.execution_id for e in ordered]
        start = ids.index(marker) + 1 if marker in ids else 0
        return succeed(ordered[start:start + limit])

    # -- the activity journal ----------------------------------------------------

    def _journal(self, events: Sequence[JournalEvent]) -> None:
        """Add ``events``; an id already there keeps its first event."""
        for event in events:
            self.journal.setdefault((event.tenant_id, event.group_id), {}).setdefault(
                event.event_id, event)

    def append_journal(self, events: Sequence[JournalEvent], retain_since: float,
                       fence: Fence | None = None) -> Deferred[None]:
        def work() -> None:
            self._check(fence)
            if not events:
                return
            key = (events[0].tenant_id, events[0].group_id)
            if key not in self.groups:
                return
            self.journal[key] = {i: e for i, e in self.journal.get(key, {}).items()
                                 if e.at >= retain_since}
            self._journal(events)
        return _answer(work)

    def list_journal(self, tenant_id: str, group_id: str, limit: int, marker: str | None,
                     since: float | None = None, kinds: Sequence[str] = (),
                     server_id: str | None = None) -> Deferred[list[JournalEvent]]:
        events = self.journal.get((tenant_id, group_id), {})
        after = None if marker is None else events.get(marker)
        return succeed(journal.page(events.values(), limit, after, since, kinds, server_id))

    def load_journal(self, tenant_id: str, group_id: str,
                     event_ids: Sequence[str]) -> Deferred[dict[str, JournalEvent]]:
        events = self.journal.get((tenant_id, group_id), {})
        return succeed({i: events[i] for i in event_ids if i in events})

    def earliest_trigger(self, buckets: Sequence[int]) -> Deferred[float | None]:
        wanted = set(buckets)
        triggers = [e.trigger for events in self.events.values() for e in events.values()
                    if e.bucket in wanted]
        return succeed(min(triggers) if triggers else None)

    # -- webhooks -------------------------------------------------------------

    def create_webhooks(self, tenant_id: str, group_id: str, policy_id: str,
                        webhooks: Sequence[Webhook], max_webhooks: int) -> Deferred[None]:
        def work() -> None:
            key = (tenant_id, group_id)
            if policy_id not in self.policies.get(key, {}):
                raise NoSuchPolicy()
            existing = self.webhooks.setdefault(key, {})
            count = sum(1 for p, _ in existing if p == policy_id)
            if count + len(webhooks) > max_webhooks:
                raise OverLimit(count)
            for webhook in webhooks:
                existing[(policy_id, webhook.webhook_id)] = webhook
                self.capabilities[webhook.capability_hash] = CapabilityTarget(
                    tenant_id, group_id, policy_id, webhook.webhook_id)
        return _answer(work)

    def list_webhooks(self, tenant_id: str, group_id: str, policy_id: str,
                      limit: int | None,
                      marker: str | None) -> Deferred[list[Webhook]]:
        webhooks = self.webhooks.get((tenant_id, group_id), {})
        found = [webhooks[k] for k in sorted(webhooks)
                 if k[0] == policy_id and k[1] > (marker or "")]
        return succeed(found if limit is None else found[:limit])

    def list_group_webhooks(self, tenant_id: str,
                            group_id: str) -> Deferred[list[Webhook]]:
        webhooks = self.webhooks.get((tenant_id, group_id), {})
        return succeed([webhooks[k] for k in sorted(webhooks)])

    def load_webhook(self, tenant_id: str, group_id: str, policy_id: str,
                     webhook_id: str) -> Deferred[Webhook | None]:
        return succeed(self.webhooks.get((tenant_id, group_id), {}).get(
            (policy_id, webhook_id)))

    def update_webhook(self, webhook: Webhook) -> Deferred[None]:
        def work() -> None:
            webhooks = self.webhooks.get((webhook.tenant_id, webhook.group_id), {})
            key = (webhook.policy_id, webhook.webhook_id)
            if key not in webhooks:
                raise NoSuchWebhook()
            webhooks[key] = evolve(webhooks[key], name=webhook.name,
                                   metadata=webhook.metadata)
        return _answer(work)

    def delete_webhook(self, tenant_id: str, group_id: str, policy_id: str,
                       webhook_id: str) -> Deferred[None]:
        def work() -> None:
            webhook = self.webhooks.get((tenant_id, group_id), {}).pop(
                (policy_id, webhook_id), None)
            if webhook is None:
                raise NoSuchWebhook()
            self.capabilities.pop(webhook.capability_hash, None)
        return _answer(work)

    def lookup_capability(self, capability_hash: str) -> Deferred[CapabilityTarget | None]:
        return succeed(self.capabilities.get(capability_hash))

    # -- divergent marks, metrics, health -------------------------------------

    def mark_divergent(self, tenant_id: str, group_id: str) -> Deferred[None]:
        key = (tenant_id, group_id)
        self.divergent[key] = self.divergent.get(key, 0) + 1
        return succeed(None)

    def clear_divergent(self, tenant_id: str, group_id: str,
                        mark: int | None = None,
                        fence: Fence | None = None) -> Deferred[None]:
        def work() -> None:
            self._check(fence)
            key = (tenant_id, group_id)
            if mark is None or self.divergent.get(key) == mark:
                self.divergent.pop(key, None)
        return _answer(work)

    def list_divergent(self) -> Deferred[list[DivergentMark]]:
        return succeed([DivergentMark(tenant, group, mark)
                        for (tenant, group), mark in sorted(self.divergent.items())])

    def list_all_groups(self) -> Deferred[list[tuple[str, str]]]:
        return succeed(sorted(self.groups))

    def count_rows(self) -> Deferred[dict[str, int]]:
        return succeed({"groups": len(self.groups),
                        "policies": sum(len(p) for p in self.policies.values()),
                        "webhooks": sum(len(w) for w in self.webhooks.values())})

    def check_health(self) -> Deferred[float]:
        return succeed(0.0)
