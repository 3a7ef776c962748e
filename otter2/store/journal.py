"""
The activity journal as the stores keep it (see Note [Journal] in
``otter2.model.journal``): an event to and from plain JSON (a SQLite row's
``record`` column, a Cassandra text column), and the order and filters every
backend applies when listing.

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from otter2.model import EventKind, JournalEvent, thaw_json


def to_json(event: JournalEvent) -> dict[str, Any]:
    """The parts of ``event`` not in its key or its indexed columns, as plain JSON."""
    return {"summary": event.summary, "cause": event.cause,
            "details": thaw_json(event.details)}


def from_json(tenant_id: str, group_id: str, event_id: str, kind: str, at: float,
              server_id: str | None, record: dict[str, Any]) -> JournalEvent:
    """The event that `to_json` wrote."""
    return JournalEvent(
        tenant_id=tenant_id, group_id=group_id, event_id=event_id, kind=EventKind(kind),
        at=at, summary=record["summary"], cause=record["cause"], server_id=server_id,
        details=record["details"])


def newest_first(events: Iterable[JournalEvent]) -> list[JournalEvent]:
    """Events in the order the API lists them: newest first, then by id."""
    return sorted(events, key=order_key)


def wanted(event: JournalEvent, since: float | None, kinds: Sequence[str],
           server_id: str | None) -> bool:
    """Whether ``event`` passes a listing's filters: at or after ``since``, of
    one of ``kinds`` (any if empty), about ``server_id`` (any if None)."""
    return ((since is None or event.at >= since)
            and (not kinds or event.kind.value in kinds)
            and (server_id is None or event.server_id == server_id))


def order_key(event: JournalEvent) -> tuple[float, str]:
    """The listing order (`newest_first`) as a sort key."""
    return (-event.at, event.event_id)


def page(events: Iterable[JournalEvent], limit: int, after: JournalEvent | None,
         since: float | None, kinds: Sequence[str],
         server_id: str | None) -> list[JournalEvent]:
    """Up to ``limit`` of ``events`` that pass the filters (`wanted`), newest first,
    from just after ``after`` (the marker's event, whatever its kind; from the
    newest if None)."""
    start = None if after is None else order_key(after)
    chosen = [e for e in events if wanted(e, since, kinds, server_id)
              and (start is None or order_key(e) > start)]
    return newest_first(chosen)[:limit]
