"""
Execution receipts as the stores keep them: a record to and from plain JSON
(the SQLite row's ``record`` column, a Cassandra text column), and the rules
every backend applies when recording them (see `record_rules`).

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from otter2.model import Execution, Refusal, Trigger
from otter2.store.interface import DuplicateExecution


def to_json(execution: Execution) -> dict[str, Any]:
    """The parts of ``execution`` not in its key, as plain JSON."""
    refusal = execution.refusal
    return {
        "policy_id": execution.policy_id, "trigger": execution.trigger.value,
        "desired_before": execution.desired_before, "desired_after": execution.desired_after,
        "refusal": None if refusal is None else [refusal.status, refusal.error_type,
                                                 refusal.message],
        "idempotency_key": execution.idempotency_key, "request_id": execution.request_id,
        "webhook_id": execution.webhook_id, "scheduled_for": execution.scheduled_for}


def from_json(tenant_id: str, group_id: str, execution_id: str, at: float,
              record: dict[str, Any]) -> Execution:
    """The execution that `to_json` wrote."""
    refusal = record["refusal"]
    return Execution(
        tenant_id=tenant_id, group_id=group_id, execution_id=execution_id,
        policy_id=record["policy_id"], trigger=Trigger(record["trigger"]), at=at,
        desired_before=record["desired_before"], desired_after=record["desired_after"],
        refusal=None if refusal is None else Refusal(*refusal),
        idempotency_key=record["idempotency_key"], request_id=record["request_id"],
        webhook_id=record["webhook_id"], scheduled_for=record["scheduled_for"])


def check_keys(executions: Sequence[Execution], taken: Iterable[str]) -> None:
    """`DuplicateExecution` if two of ``executions`` share a key or one has a key
    in ``taken`` (the keys of the group's records still in their window)."""
    keys = [e.idempotency_key for e in executions if e.idempotency_key is not None]
    if len(set(keys)) != len(keys) or set(keys) & set(taken):
        raise DuplicateExecution()


def newest_first(executions: Iterable[Execution]) -> list[Execution]:
    """Receipts in the order the API lists them: newest first, then by id."""
    return sorted(executions, key=lambda e: (-e.at, e.execution_id))
