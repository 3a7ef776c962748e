"""
The group store's contract: what every backend (SQLite, Cassandra) provides.

Every access names its partition (tenant, group); every change of a group's
state is a compare-and-set on the state's version. Methods return Deferreds
so a backend may do its I/O off the reactor thread.

The writes convergence and the scheduler make for a bucket (saving a state
or a group's servers, deleting a group, clearing a mark, firing an event)
take an optional `Fence`: the backend refuses such a write with `FencedOut`,
with nothing written, when a later owner has claimed the bucket
(`claim_bucket`): SQLite and the memory store in the write's own
transaction; Cassandra, whose LWTs cannot span the claim and the group, as
Note [Cassandra fencing] in ``otter2.store.cassandra_fencing`` says. Without
a fence (the API, one node alone) the write is not fenced. See Note
[Fencing] in ``otter2.partition``.

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from twisted.internet.defer import Deferred

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


class StoreError(Exception):
    """A store operation was refused; nothing was written."""


class StoreUnavailable(StoreError):
    """The store cannot be used (its file cannot be opened, or it is closed); the
    message is one line saying why."""


class NoSuchGroup(StoreError):
    """The group is absent or being deleted."""


class NoSuchPolicy(StoreError):
    """The policy is absent."""


class NoSuchWebhook(StoreError):
    """The webhook is absent."""


class StaleVersion(StoreError):
    """A state write was based on a version that is no longer current."""


class StaleEvent(StoreError):
    """A schedule event is no longer pending: it fired already, or its policy changed."""


class DuplicateExecution(StoreError):
    """An execution's idempotency key is already recorded for the group (in its
    window); nothing was written."""
class FencedOut(StoreError):
    """A write was made for a bucket that another node has claimed since."""


class OverLimit(StoreError):
    """Creating the items would take the count past its limit."""

    def __init__(self, current: int) -> None:
        super().__init__(current)
        self.current = current


class GroupStore(Protocol):
    """Groups, policies, webhooks, schedule events and divergent marks."""

    def create_group(self, group: ScalingGroup, policies: Sequence[Policy],
                     events: Sequence[ScheduledEvent], max_groups: int) -> Deferred[None]:
        """Insert a group with its policies at once; `OverLimit` past ``max_groups``."""

    def load_group(self, tenant_id: str, group_id: str,
                   include_deleting: bool = False) -> Deferred[ScalingGroup | None]:
        """The group, or None if absent (or deleting, unless asked for)."""

    def list_groups(self, tenant_id: str, limit: int,
                    marker: str | None) -> Deferred[list[ScalingGroup]]:
        """Up to ``limit`` non-deleting groups with ids after ``marker``, ascending."""

    def save_state(self, state: GroupState,
                   fence: Fence | None = None) -> Deferred[GroupState]:
        """
        Write ``state`` if its version is current; the saved state, version
        bumped. `FencedOut` if ``fence`` is stale.
        """

    def update_config(self, tenant_id: str, group_id: str, config: Mapping[str, Any]) -> Deferred[None]:
        """
        Replace the group configuration and bump the state's version (a state
        computed under the old bounds must not be saved); `NoSuchGroup`.
        """

    def update_launch(self, tenant_id: str, group_id: str, launch: Mapping[str, Any]) -> Deferred[None]:
        """Replace the launch configuration; `NoSuchGroup` if absent."""

    def mark_deleting(self, tenant_id: str, group_id: str) -> Deferred[None]:
        """Hide the group from the API until convergence removes it."""

    def delete_group(self, tenant_id: str, group_id: str,
                     fence: Fence | None = None) -> Deferred[None]:
        """Remove the group with its policies, webhooks, events and mark; `FencedOut`."""

    def save_servers(self, tenant_id: str, group_id: str,
                     servers: Sequence[RecordedServer],
                     fence: Fence | None = None) -> Deferred[None]:
        """
        Record the group's servers as the last iteration saw them: the API
        shows the active ones, convergence remembers the rest so it can clean
        up after servers that vanish. Nothing happens if the group is gone;
        `FencedOut` if ``fence`` is stale.
        """

    def create_policies(self, tenant_id: str, group_id: str, policies: Sequence[Policy],
                        events: Sequence[ScheduledEvent],
                        max_policies: int) -> Deferred[None]:
        """Insert policies all or nothing; `NoSuchGroup`, `OverLimit`."""

    def list_policies(self, tenant_id: str, group_id: str, limit: int,
                      marker: str | None) -> Deferred[list[Policy]]:
        """Up to ``limit`` policies with ids after ``marker``, ascending."""

    def load_policy(self, tenant_id: str, group_id: str,
                    policy_id: str) -> Deferred[Policy | None]:
        """The policy or None."""

    def update_policy(self, policy: Policy,
                      event: ScheduledEvent | None) -> Deferred[None]:
        """
        Replace a policy's body and version, and its schedule event by
        ``event`` (none: a webhook policy); `NoSuchPolicy` if absent.
        """

    def delete_policy(self, tenant_id: str, group_id: str, policy_id: str) -> Deferred[None]:
        """Remove a policy, its webhooks, their capabilities and its event; `NoSuchPolicy`."""

    def create_webhooks(self, tenant_id: str, group_id: str, policy_id: str,
                        webhooks: Sequence[Webhook], max_webhooks: int) -> Deferred[None]:
        """Insert webhooks all or nothing; `NoSuchPolicy`, `OverLimit`."""

    def list_webhooks(self, tenant_id: str, group_id: str, policy_id: str,
                      limit: int | None,
                      marker: str | None) -> Deferred[list[Webhook]]:
        """A policy's webhooks after ``marker``, ascending (all if no limit)."""

    def list_group_webhooks(self, tenant_id: str,
                            group_id: str) -> Deferred[list[Webhook]]:
        """Every webhook of every policy of the group, by policy then id."""

    def load_webhook(self, tenant_id: str, group_id: str, policy_id: str,
                     webhook_id: str) -> Deferred[Webhook | None]:
        """The webhook or None."""

    def update_webhook(self, webhook: Webhook) -> Deferred[None]:
        """Replace a webhook's name and metadata; `NoSuchWebhook` if absent."""

    def delete_webhook(self, tenant_id: str, group_id: str, policy_id: str,
                       webhook_id: str) -> Deferred[None]:
        """Remove a webhook and its capability; `NoSuchWebhook` if absent."""

    def lookup_capability(self, capability_hash: str) -> Deferred[CapabilityTarget | None]:
        """The policy a capability hash executes, or None."""

    def mark_divergent(self, tenant_id: str, group_id: str) -> Deferred[None]:
        """Ask convergence to look at the group."""

    def clear_divergent(self, tenant_id: str, group_id: str,
                        mark: int | None = None,
                        fence: Fence | None = None) -> Deferred[None]:
        """
        Withdraw the request: always (pause does this), or only if it is still
        ``mark`` (convergence, so that a request made meanwhile is kept).
        `FencedOut` if ``fence`` is stale.
        """

    def due_events(self, buckets: Sequence[int], now: float,
                   limit: int) -> Deferred[list[ScheduledEvent]]:
        """Up to ``limit`` events of those buckets with ``trigger <= now``, earliest first."""

    def fire_event(self, event: ScheduledEvent, state: GroupState | None,
                   next_event: ScheduledEvent | None,
                   mark_divergent: bool,
                   execution: Execution | None = None,
                   fence: Fence | None = None) -> Deferred[None]:
        """
        Consume ``event`` and, in the same transaction, save ``state`` (if
        any; compare-and-set on its version, `StaleVersion`), insert
        ``next_event`` (if any), record ``execution`` (if any) and mark the
        group divergent (if asked), all or nothing. `StaleEvent`, with nothing
        written, if ``event`` is no longer pending; `FencedOut` if ``fence`` is
        stale. See Note [Exactly once] in ``otter2.scheduling``.
        """

    def record_executions(self, state: GroupState | None, executions: Sequence[Execution],
                          mark_divergent: bool, keys_since: float,
                          retain_since: float) -> Deferred[GroupState | None]:
        """
        In one transaction: save ``state`` if any (compare-and-set on its
        version, `StaleVersion`; `NoSuchGroup`), record ``executions``, and
        mark the group divergent if asked; the saved state (None if none).
        An idempotency key recorded at or after ``keys_since`` cannot be
        recorded again (`DuplicateExecution`, nothing written); older ones
        are released. The group's receipts from before ``retain_since`` are
        dropped. See Note [Receipts] in ``otter2.api.operations``.
        """

    def find_executions(self, tenant_id: str, group_id: str, keys: Sequence[str],
                        since: float) -> Deferred[dict[str, Execution]]:
        """The group's receipts recorded at or after ``since`` with one of ``keys``, by key."""

    def load_execution(self, tenant_id: str, group_id: str,
                       execution_id: str) -> Deferred[Execution | None]:
        """The receipt or None."""

    def list_executions(self, tenant_id: str, group_id: str, limit: int,
                        marker: str | None) -> Deferred[list[Execution]]:
        """Up to ``limit`` receipts newest first (then by id), after the one
        ``marker`` names (from the newest if None or unknown)."""

    def append_journal(self, events: Sequence[JournalEvent], retain_since: float,
                       fence: Fence | None = None) -> Deferred[None]:
        """
        Add ``events`` (all of one group) to its journal, and drop the group's
        events from before ``retain_since``. An event whose id is there
        already is kept as it was (appends are idempotent, so a retry is
        harmless); nothing is written for a group that is gone, and nothing
        at all, with `FencedOut`, if ``fence`` is stale. See Note [Journal]
        in ``otter2.model.journal``: the ``execution`` events are written by
        `record_executions` and `fire_event` themselves, with their receipts.
        """

    def list_journal(self, tenant_id: str, group_id: str, limit: int, marker: str | None,
                     since: float | None = None, kinds: Sequence[str] = (),
                     server_id: str | None = None) -> Deferred[list[JournalEvent]]:
        """Up to ``limit`` of the group's events newest first (then by id), at or
        after ``since``, of one of ``kinds`` (any if empty), about ``server_id``
        (any if None), after the event ``marker`` names (from the newest if None
        or unknown): ``otter2.store.journal.page``."""

    def load_journal(self, tenant_id: str, group_id: str,
                     event_ids: Sequence[str]) -> Deferred[dict[str, JournalEvent]]:
        """The group's events of those ids that it holds, by id."""

    def earliest_trigger(self, buckets: Sequence[int]) -> Deferred[float | None]:
        """The trigger of the earliest pending event of those buckets, None if none."""

    def claim_bucket(self, bucket: int) -> Deferred[int]:
        """
        Record that a new owner takes ``bucket``: its fencing token, greater
        than every token given for the bucket before, so that the writes
        fenced with those are refused from now on.
        """

    def list_divergent(self) -> Deferred[list[DivergentMark]]:
        """Every group marked divergent, with its mark."""

    def list_all_groups(self) -> Deferred[list[tuple[str, str]]]:
        """Every (tenant, group), deleting ones included: self-heal visits them all."""

    def count_rows(self) -> Deferred[dict[str, int]]:
        """Counts of groups, policies and webhooks, for metrics."""

    def check_health(self) -> Deferred[float]:
        """Seconds a round trip to the store took; fails if it cannot answer."""
