"""
The activity journal: an append-only record, per group, of typed events
linked by cause (see Note [Journal]).

# Note [Journal]
Every event names the event it follows from (``cause``), so that any event
walks back to exactly one root: what asked for it. The roots are

- an ``execution``: a policy executed (by its owner, a capability URL or the
  scheduler), applied or refused; the event has the receipt's id (the
  ``X-Execution-Id``) as its own and is written in the same transaction as
  the receipt, by every store backend (`from_execution`);
- a ``change``: the owner changed the group (created it, its configuration,
  its launch configuration, removed a server through the API);
- an ``observed`` event: convergence saw something that nobody in otter2 did
  (a server deleted out of band, a server in ERROR or built past its
  timeout, a load-balancer node removed by hand).

What convergence does follows from a root: a ``plan`` (the steps one
iteration took, with its first cause), one ``step`` per server or node
acted on with its outcome (``server_id`` names the server), and a
``status`` change of the group. A step's ``cause`` is its root (the
execution or change that moved the desired capacity the step serves, or the
observation that made the server need replacing); its plan is named in its
``details`` (``plan``), so the chain trigger -> decision -> plan -> step
reads both ways. Events that changed the desired capacity say so in their
details (``desired_before``, ``desired_after``): `capacity_change`.

Events are listed newest first (``at`` descending, then ``event_id``), kept
for a retention period, and removed with their group.

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from attrs import field, frozen
from pyrsistent import PMap, pmap

from otter2.model.execution import Execution
from otter2.model.group import frozen_json


class EventKind(Enum):
    """What an event records (see Note [Journal])."""

    EXECUTION = "execution"  # a policy execution and its decision (root)
    CHANGE = "change"        # the owner changed the group (root)
    OBSERVED = "observed"    # convergence saw what nobody in otter2 did (root)
    PLAN = "plan"            # the steps one iteration took
    STEP = "step"            # one step's outcome on one server or node
    STATUS = "status"        # the group's status changed

    @property
    def is_root(self) -> bool:
        """Whether events of this kind have no cause."""
        return self in (EventKind.EXECUTION, EventKind.CHANGE, EventKind.OBSERVED)


@frozen
class JournalEvent:
    """
    One event of a group's journal. ``summary`` is one line for a person;
    ``details`` hold the event's facts as JSON (kind-specific).
    """

    tenant_id: str
    group_id: str
    event_id: str
    kind: EventKind
    at: float
    summary: str
    cause: str | None = None
    server_id: str | None = None
    details: PMap = field(factory=pmap, converter=frozen_json)

    @property
    def capacity_change(self) -> tuple[int, int] | None:
        """The desired capacity before and after, if this event changed it."""
        before = self.details.get("desired_before")
        after = self.details.get("desired_after")
        if before is None or after is None or before == after:
            return None
        return int(before), int(after)


def from_execution(execution: Execution) -> JournalEvent:
    """The journal's event for an execution receipt: same id, same instant."""
    details: dict[str, Any] = {
        "policy_id": execution.policy_id, "trigger": execution.trigger.value,
        "desired_before": execution.desired_before,
        "desired_after": execution.desired_after}
    for name in ("idempotency_key", "request_id", "webhook_id", "scheduled_for"):
        value = getattr(execution, name)
        if value is not None:
            details[name] = value
    refusal = execution.refusal
    if refusal is None:
        summary = (f"policy {execution.policy_id} executed by {execution.trigger.value}: "
                   f"desired capacity {execution.desired_before} -> {execution.desired_after}")
    else:
        details["refusal"] = {"status": refusal.status, "type": refusal.error_type,
                              "message": refusal.message}
        summary = (f"policy {execution.policy_id} executed by {execution.trigger.value}: "
                   f"refused ({refusal.message})")
    return JournalEvent(
        tenant_id=execution.tenant_id, group_id=execution.group_id,
        event_id=execution.execution_id, kind=EventKind.EXECUTION, at=execution.at,
        summary=summary, details=details)
