"""
Rows of the Cassandra store: the statements that write a group's row and its
events, and the values read back from rows (dicts, as the driver's
``dict_factory`` gives them). The tables are in ``schema/cassandra``.

test-case-name: tests.store.test_cassandra
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from otter2.model import (
    Execution,
    GroupState,
    GroupStatus,
    JournalEvent,
    Policy,
    ScalingGroup,
    ScheduledEvent,
    Webhook,
)
from otter2.store import journal
from otter2.store.cassandra_session import Row, Statement
from otter2.store.documents import dump_servers, dumps, load_servers
from otter2.store.executions import from_json, to_json

GROUP_COLUMNS = ("tenant_id", "group_id", "config", "launch", "desired", "version", "paused",
                 "suspended", "status", "error_reasons", "group_touched", "policy_touched",
                 "deleting", "created", "active", "limited_retries", "build_failures",
                 "build_after", "waiting", "diverged_since", "pending_events")

#: The columns a state write sets, besides the version.
_STATE_COLUMNS = ("desired", "paused", "suspended", "status", "error_reasons", "group_touched",
                  "policy_touched", "limited_retries", "build_failures", "build_after",
                  "waiting", "diverged_since")

POLICY_COLUMNS = "tenant_id, group_id, policy_id, data, version"
WEBHOOK_COLUMNS = ("tenant_id, group_id, policy_id, webhook_id, name, metadata, "
                   "capability_version, capability_hash")
EVENT_COLUMNS = "bucket, trigger, policy_id, version, tenant_id, group_id, cron"

#: The pending events of a group, as its row's ``pending_events`` holds them:
#: policy id -> the event's JSON description (see Note [Cassandra events]).
Pending = dict[str, dict[str, Any]]


def _double(value: float | None) -> float | None:
    """A number for a ``double`` column, sent as a float literal."""
    return None if value is None else float(value)


def _state_values(state: GroupState) -> tuple[Any, ...]:
    return (state.desired, state.paused, state.suspended, state.status.value,
            dumps(state.error_reasons), _double(state.group_touched),
            dumps(state.policy_touched), state.limited_retries, state.build_failures,
            _double(state.build_after), dumps(state.waiting), _double(state.diverged_since))


def insert_group(group: ScalingGroup, pending: Pending) -> Statement:
    """The lightweight transaction that creates the group's row (``IF NOT EXISTS``)."""
    values = {"tenant_id": group.tenant_id, "group_id": group.group_id,
              "config": dumps(group.config), "launch": dumps(group.launch),
              "version": group.state.version,
              **dict(zip(_STATE_COLUMNS, _state_values(group.state), strict=True)),
              "deleting": False, "created": _double(group.created),
              "active": dump_servers(group.servers), "pending_events": dump_pending(pending),
              "receipts": dump_receipts([])}
    return Statement(
        f"INSERT INTO scaling_group ({', '.join(values)}) "
        f"VALUES ({', '.join(['%s'] * len(values))}) IF NOT EXISTS",
        tuple(values.values()), lwt=True)


def change_group(tenant_id: str, group_id: str, state: GroupState | None,
                 sets: Mapping[str, Any], compared: Mapping[str, Any]) -> Statement:
    """
    The lightweight transaction that writes ``sets`` to the group's row, and
    ``state`` (bumping its version), if the ``compared`` columns, and the
    state's version, are still as read.
    """
    values = dict(sets)
    conditions = dict(compared)
    if state is not None:
        values.update(zip(_STATE_COLUMNS, _state_values(state), strict=True))
        values["version"] = state.version + 1
        conditions["version"] = state.version
    assignments = ", ".join(f"{column} = %s" for column in values)
    tests = " AND ".join(f"{column} = %s" for column in conditions)
    return Statement(f"UPDATE scaling_group SET {assignments} WHERE tenant_id = %s "
                     f"AND group_id = %s IF {tests}",
                     (*values.values(), tenant_id, group_id, *conditions.values()), lwt=True)


def write_state(state: GroupState) -> Statement:
    """The lightweight transaction that saves ``state`` if its version is current."""
    return change_group(state.tenant_id, state.group_id, state, {}, {})


def replace_pending(tenant_id: str, group_id: str, read: Pending,
                    written: Pending) -> Statement:
    """The lightweight transaction that replaces a group's pending events if they are
    still as read."""
    return change_group(tenant_id, group_id, None, {"pending_events": dump_pending(written)},
                        {"pending_events": dump_pending(read)})


def group_from_row(row: Row) -> ScalingGroup:
    """The group a full row of ``scaling_group`` holds."""
    state = GroupState(
        tenant_id=row["tenant_id"], group_id=row["group_id"], desired=row["desired"],
        version=row["version"], paused=bool(row["paused"]), suspended=bool(row["suspended"]),
        status=GroupStatus(row["status"]), error_reasons=json.loads(row["error_reasons"]),
        group_touched=row["group_touched"], policy_touched=json.loads(row["policy_touched"]),
        limited_retries=row["limited_retries"], build_failures=row["build_failures"],
        build_after=row["build_after"], waiting=json.loads(row["waiting"]),
        diverged_since=row["diverged_since"])
    return ScalingGroup(tenant_id=row["tenant_id"], group_id=row["group_id"],
                        config=json.loads(row["config"]), launch=json.loads(row["launch"]),
                        state=state, created=row["created"], deleting=bool(row["deleting"]),
                        servers=load_servers(row["active"] or "[]"))


# -- events -------------------------------------------------------------------


def describe(event: ScheduledEvent) -> dict[str, Any]:
    """An event as its group's ``pending_events`` holds it."""
    return {"bucket": event.bucket, "trigger": event.trigger, "version": event.version,
            "cron": event.cron}


def pending_event(tenant_id: str, group_id: str, policy_id: str,
                  description: Mapping[str, Any]) -> ScheduledEvent:
    """The event a group's ``pending_events`` describes for ``policy_id``."""
    return ScheduledEvent(tenant_id, group_id, policy_id, description["trigger"],
                          description["version"], description["cron"],
                          description["bucket"])


def dump_pending(pending: Pending) -> str:
    """The ``pending_events`` text: the same for the same events (compared by LWTs)."""
    return json.dumps(pending, sort_keys=True, separators=(",", ":"))


def load_pending(text: str | None) -> Pending:
    loaded: Pending = json.loads(text) if text else {}
    return loaded


def with_events(pending: Pending, events: list[ScheduledEvent]) -> Pending:
    """``pending`` with each of ``events`` as its policy's pending event."""
    return {**pending, **{e.policy_id: describe(e) for e in events}}


def insert_event(event: ScheduledEvent) -> Statement:
    return Statement(f"INSERT INTO scaling_schedule_v2 ({EVENT_COLUMNS}) "
                     "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                     (event.bucket, float(event.trigger), event.policy_id, event.version,
                      event.tenant_id, event.group_id, event.cron))


def delete_event(event: ScheduledEvent) -> Statement:
    return Statement("DELETE FROM scaling_schedule_v2 WHERE bucket = %s AND trigger = %s "
                     "AND policy_id = %s AND version = %s",
                     (event.bucket, float(event.trigger), event.policy_id, event.version))


def event_from_row(row: Row) -> ScheduledEvent:
    return ScheduledEvent(tenant_id=row["tenant_id"], group_id=row["group_id"],
                          policy_id=row["policy_id"], trigger=row["trigger"],
                          version=row["version"], cron=row["cron"], bucket=row["bucket"])


# -- policies and webhooks ----------------------------------------------------


def insert_policy(policy: Policy) -> Statement:
    return Statement(f"INSERT INTO scaling_policies ({POLICY_COLUMNS}) "
                     "VALUES (%s, %s, %s, %s, %s)",
                     (policy.tenant_id, policy.group_id, policy.policy_id, dumps(policy.data),
                      policy.version))


def policy_from_row(row: Row) -> Policy:
    return Policy(tenant_id=row["tenant_id"], group_id=row["group_id"],
                  policy_id=row["policy_id"], data=json.loads(row["data"]),
                  version=row["version"])


def webhook_from_row(row: Row) -> Webhook:
    return Webhook(tenant_id=row["tenant_id"], group_id=row["group_id"],
                   policy_id=row["policy_id"], webhook_id=row["webhook_id"], name=row["name"],
                   metadata=json.loads(row["metadata"]),
                   capability_version=row["capability_version"],
                   capability_hash=row["capability_hash"])


# -- execution receipts ---------------------------------------------------------

RECEIPT_COLUMNS = "tenant_id, group_id, execution_id, at, record, idempotency_key"


def dump_receipts(executions: Sequence[Execution]) -> str:
    """The group row's ``receipts`` text (compared by LWTs: the same for the same)."""
    return json.dumps([{"execution_id": e.execution_id, "at": float(e.at),
                        "record": to_json(e)} for e in executions],
                      sort_keys=True, separators=(",", ":"))


def load_receipts(tenant_id: str, group_id: str, text: str | None) -> list[Execution]:
    """The receipts a group row's ``receipts`` holds."""
    return [from_json(tenant_id, group_id, r["execution_id"], r["at"], r["record"])
            for r in json.loads(text or "[]")]


def insert_receipt(execution: Execution) -> Statement:
    return Statement(f"INSERT INTO executions ({RECEIPT_COLUMNS}) "
                     "VALUES (%s, %s, %s, %s, %s, %s)",
                     (execution.tenant_id, execution.group_id, execution.execution_id,
                      float(execution.at), json.dumps(to_json(execution), sort_keys=True),
                      execution.idempotency_key))


def receipt_from_row(row: Row) -> Execution:
    return from_json(row["tenant_id"], row["group_id"], row["execution_id"], row["at"],
                     json.loads(row["record"]))


JOURNAL_COLUMNS = "tenant_id, group_id, at, event_id, kind, server_id, record"


def insert_journal(events: Sequence[JournalEvent]) -> list[Statement]:
    """The writes of journal events, to both tables (Note [Cassandra journal])."""
    statements = []
    for e in events:
        statements.append(Statement(
            f"INSERT INTO journal ({JOURNAL_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (e.tenant_id, e.group_id, float(e.at), e.event_id, e.kind.value, e.server_id,
             json.dumps(journal.to_json(e), sort_keys=True))))
        statements.append(Statement(
            "INSERT INTO journal_ids (tenant_id, group_id, event_id, at) "
            "VALUES (%s, %s, %s, %s)", (e.tenant_id, e.group_id, e.event_id, float(e.at))))
    return statements
