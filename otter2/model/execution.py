"""
Execution receipts: the durable record of one attempt to execute a policy,
written before the attempt is answered (see Note [Receipts] in
``otter2.api.operations``).

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

from enum import Enum

from attrs import frozen


class Trigger(Enum):
    """What asked for the execution."""

    API = "api"            # the owner's authenticated execute
    WEBHOOK = "webhook"    # an anonymous capability URL
    SCHEDULE = "schedule"  # the scheduler firing a schedule policy's event


@frozen
class Refusal:
    """Why an execution changed nothing: the API error it was answered with."""

    status: int
    error_type: str
    message: str


@frozen
class Execution:
    """
    One attempt to execute a policy and what was decided: the desired
    capacity before and after (equal when refused) or the refusal.
    ``idempotency_key`` is the client's key, if it sent one: a repeat of the
    key within the window is answered with this record instead of executing
    again. ``request_id`` is the response id of the API request (the
    ``X-Response-Id`` header), ``webhook_id`` the capability's webhook, and
    ``scheduled_for`` the trigger time of a schedule event.
    """

    tenant_id: str
    group_id: str
    execution_id: str
    policy_id: str
    trigger: Trigger
    at: float
    desired_before: int
    desired_after: int
    refusal: Refusal | None = None
    idempotency_key: str | None = None
    request_id: str | None = None
    webhook_id: str | None = None
    scheduled_for: float | None = None

    @property
    def applied(self) -> bool:
        """Whether the execution changed the desired capacity."""
        return self.refusal is None
