"""
Store operations as Effect intents: plain values naming a store method and
its arguments, performed by the dispatcher (``otter2.effects``).

Each intent's fields are the keyword arguments of the `GroupStore` method
named by its ``method`` class attribute, so one performer serves them all.

test-case-name: tests.effects.test_dispatcher
"""

from __future__ import annotations

from typing import Any, ClassVar

from attrs import field, frozen
from pyrsistent import PMap, PVector

from otter2.model import (
    Execution,
    Fence,
    GroupState,
    Policy,
    ScalingGroup,
    ScheduledEvent,
    Webhook,
    frozen_json,
    frozen_list,
)


@frozen
class CreateGroup:
    method: ClassVar[str] = "create_group"
    group: ScalingGroup
    policies: PVector = field(converter=frozen_list)
    events: PVector = field(converter=frozen_list)
    max_groups: int


@frozen
class LoadGroup:
    method: ClassVar[str] = "load_group"
    tenant_id: str
    group_id: str
    include_deleting: bool = False


@frozen
class ListGroups:
    method: ClassVar[str] = "list_groups"
    tenant_id: str
    limit: int
    marker: str | None


@frozen
class SaveState:
    method: ClassVar[str] = "save_state"
    state: GroupState
    fence: Fence | None = None


@frozen
class UpdateConfig:
    method: ClassVar[str] = "update_config"
    tenant_id: str
    group_id: str
    config: PMap = field(converter=frozen_json)


@frozen
class UpdateLaunch:
    method: ClassVar[str] = "update_launch"
    tenant_id: str
    group_id: str
    launch: PMap = field(converter=frozen_json)


@frozen
class SaveServers:
    method: ClassVar[str] = "save_servers"
    tenant_id: str
    group_id: str
    servers: PVector = field(converter=frozen_list)  # of RecordedServer
    fence: Fence | None = None


@frozen
class DeleteGroup:
    method: ClassVar[str] = "delete_group"
    tenant_id: str
    group_id: str
    fence: Fence | None = None


@frozen
class MarkDeleting:
    method: ClassVar[str] = "mark_deleting"
    tenant_id: str
    group_id: str


@frozen
class CreatePolicies:
    method: ClassVar[str] = "create_policies"
    tenant_id: str
    group_id: str
    policies: PVector = field(converter=frozen_list)
    events: PVector = field(converter=frozen_list)
    max_policies: int


@frozen
class ListPolicies:
    method: ClassVar[str] = "list_policies"
    tenant_id: str
    group_id: str
    limit: int
    marker: str | None


@frozen
class LoadPolicy:
    method: ClassVar[str] = "load_policy"
    tenant_id: str
    group_id: str
    policy_id: str


@frozen
class UpdatePolicy:
    method: ClassVar[str] = "update_policy"
    policy: Policy
    event: ScheduledEvent | None


@frozen
class DeletePolicy:
    method: ClassVar[str] = "delete_policy"
    tenant_id: str
    group_id: str
    policy_id: str


@frozen
class CreateWebhooks:
    method: ClassVar[str] = "create_webhooks"
    tenant_id: str
    group_id: str
    policy_id: str
    webhooks: PVector = field(converter=frozen_list)
    max_webhooks: int


@frozen
class ListWebhooks:
    method: ClassVar[str] = "list_webhooks"
    tenant_id: str
    group_id: str
    policy_id: str
    limit: int | None
    marker: str | None


@frozen
class ListGroupWebhooks:
    method: ClassVar[str] = "list_group_webhooks"
    tenant_id: str
    group_id: str


@frozen
class LoadWebhook:
    method: ClassVar[str] = "load_webhook"
    tenant_id: str
    group_id: str
    policy_id: str
    webhook_id: str


@frozen
class UpdateWebhook:
    method: ClassVar[str] = "update_webhook"
    webhook: Webhook


@frozen
class DeleteWebhook:
    method: ClassVar[str] = "delete_webhook"
    tenant_id: str
    group_id: str
    policy_id: str
    webhook_id: str


@frozen
class LookupCapability:
    method: ClassVar[str] = "lookup_capability"
    capability_hash: str


@frozen
class MarkDivergent:
    method: ClassVar[str] = "mark_divergent"
    tenant_id: str
    group_id: str


@frozen
class ClearDivergent:
    method: ClassVar[str] = "clear_divergent"
    tenant_id: str
    group_id: str
    mark: int | None = None
    fence: Fence | None = None


@frozen
class ListDivergent:
    method: ClassVar[str] = "list_divergent"


@frozen
class ListAllGroups:
    method: ClassVar[str] = "list_all_groups"


@frozen
class CountRows:
    method: ClassVar[str] = "count_rows"


@frozen
class CheckHealth:
    method: ClassVar[str] = "check_health"


@frozen
class DueEvents:
    method: ClassVar[str] = "due_events"
    buckets: PVector = field(converter=frozen_list)
    now: float
    limit: int


@frozen
class FireEvent:
    method: ClassVar[str] = "fire_event"
    event: ScheduledEvent
    state: GroupState | None
    next_event: ScheduledEvent | None
    mark_divergent: bool
    execution: Execution | None = None
    fence: Fence | None = None


@frozen
class RecordExecutions:
    method: ClassVar[str] = "record_executions"
    state: GroupState | None
    executions: PVector = field(converter=frozen_list)
    mark_divergent: bool
    keys_since: float
    retain_since: float


@frozen
class FindExecutions:
    method: ClassVar[str] = "find_executions"
    tenant_id: str
    group_id: str
    keys: PVector = field(converter=frozen_list)
    since: float


@frozen
class LoadExecution:
    method: ClassVar[str] = "load_execution"
    tenant_id: str
    group_id: str
    execution_id: str


@frozen
class ListExecutions:
    method: ClassVar[str] = "list_executions"
    tenant_id: str
    group_id: str
    limit: int
    marker: str | None


@frozen
class AppendJournal:
    method: ClassVar[str] = "append_journal"
    events: PVector = field(converter=frozen_list)
    retain_since: float
    fence: Fence | None = None


@frozen
class ListJournal:
    method: ClassVar[str] = "list_journal"
    tenant_id: str
    group_id: str
    limit: int
    marker: str | None
    since: float | None = None
    kinds: PVector = field(factory=lambda: frozen_list(()), converter=frozen_list)
    server_id: str | None = None


@frozen
class LoadJournal:
    method: ClassVar[str] = "load_journal"
    tenant_id: str
    group_id: str
    event_ids: PVector = field(converter=frozen_list)


@frozen
class ClaimBucket:
    method: ClassVar[str] = "claim_bucket"
    bucket: int


@frozen
class EarliestTrigger:
    method: ClassVar[str] = "earliest_trigger"
    buckets: PVector = field(converter=frozen_list)


def marks_divergent(intent: Any) -> bool:
    """Whether performing ``intent`` marks a group divergent (alone, or with
    the event or the executions it writes)."""
    return (isinstance(intent, MarkDivergent)
            or (isinstance(intent, (FireEvent, RecordExecutions)) and intent.mark_divergent))


STORE_INTENTS = (
    CreateGroup, LoadGroup, ListGroups, SaveState, UpdateConfig, UpdateLaunch,
    SaveServers, DeleteGroup, MarkDeleting, CreatePolicies, ListPolicies, LoadPolicy, UpdatePolicy, DeletePolicy,
    CreateWebhooks, ListWebhooks, ListGroupWebhooks, LoadWebhook, UpdateWebhook,
    DeleteWebhook, LookupCapability, MarkDivergent, ClearDivergent, ListDivergent, ListAllGroups,
    CountRows, CheckHealth, DueEvents, FireEvent, EarliestTrigger, RecordExecutions,
    FindExecutions, LoadExecution, ListExecutions, AppendJournal, ListJournal, LoadJournal,
    ClaimBucket,
)
