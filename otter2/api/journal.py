"""
Routes of the activity journal (Note [Journal] in ``otter2.model.journal``):
a group's activities, newest first and filtered, and one server's history
with the chain of causes from each of its events back to the root.

test-case-name: tests.api.test_journal
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from attrs import frozen
from twisted.web.server import Request

from otter2.api.base import APIBase, Reply, app, endpoint
from otter2.api.render import instant, next_links
from otter2.api.request import bad_query_argument, parse_limit, query_arg
from otter2.control.errors import APIError
from otter2.model import EventKind, JournalEvent, thaw_json
from otter2.store import intents as store

_GROUP = "/v1.0/<tenant_id>/groups/<group_id>/"
_KINDS = sorted(kind.value for kind in EventKind)
_SECONDS = re.compile(r"\A[0-9]+(\.[0-9]+)?\Z")
#: The longest chain of causes a history walks (a guard: chains are two or three long).
MAX_DEPTH = 20


def parse_since(request: Request) -> float | None:
    """The ``since`` argument as seconds since the epoch: ISO 8601 (UTC unless it
    says its offset) or a number of seconds; 400 otherwise."""
    text = query_arg(request, "since")
    if text is None:
        return None
    if _SECONDS.match(text.strip()):
        return float(text)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise bad_query_argument("since", text, "is neither an ISO 8601 time (such as "
                            "2026-12-03T17:00:00Z) nor seconds since the epoch") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_kinds(request: Request) -> list[str]:
    """The ``type`` arguments (repeated, or separated by commas), each an activity
    type; 400 for one that is not."""
    args: dict[bytes, list[bytes]] = request.args or {}
    kinds = []
    for raw in args.get(b"type", []):
        for kind in raw.decode("utf-8", errors="replace").split(","):
            if kind.strip() not in _KINDS:
                raise bad_query_argument("type", kind, "is not an activity type; the types are "
                                    + ", ".join(_KINDS))
            kinds.append(kind.strip())
    return sorted(set(kinds))


def render_activity(event: JournalEvent) -> dict[str, Any]:
    """An event as the API shows it."""
    return {"id": event.event_id, "type": event.kind.value, "at": instant(event.at),
            "summary": event.summary, "cause": event.cause, "serverId": event.server_id,
            "details": thaw_json(event.details)}


@frozen
class Walk:
    """Where a walk back from an event got: the events it passed (plans and
    causes, nearest first) and the root it reached; or the cause it could not
    follow (``pruned`` from the journal, or closing a ``cycle``); or the id it
    ``needs`` loaded to go on."""

    chain: tuple[JournalEvent, ...]
    root: JournalEvent | None = None
    pruned: str | None = None
    cycle: str | None = None
    needs: str | None = None


def walk_back(event: JournalEvent, known: Mapping[str, JournalEvent],
              missing: set[str]) -> Walk:
    """
    The walk from ``event`` to its root through the events in ``known``
    (``missing``: ids asked for and not found). From each event it takes its
    plan (the ``plan`` detail, not followed further: a step's ``cause`` is
    its own root, Note [Journal]) and then follows its ``cause``. A root is
    its own root, with an empty chain.
    """
    chain: list[JournalEvent] = []
    seen, current = {event.event_id}, event
    while True:
        plan = current.details.get("plan")
        if isinstance(plan, str) and plan not in seen and plan != current.cause:
            if plan not in known and plan not in missing:
                return Walk(tuple(chain), needs=plan)
            if plan in known:
                seen.add(plan)
                chain.append(known[plan])
        cause = current.cause
        if cause is None:
            return Walk(tuple(chain), root=current if current.kind.is_root else None)
        if cause in seen:
            return Walk(tuple(chain), cycle=cause)
        if cause in missing:
            return Walk(tuple(chain), pruned=cause)
        if cause not in known:
            return Walk(tuple(chain), needs=cause)
        seen.add(cause)
        current = known[cause]
        chain.append(current)


def _render_walk(walk: Walk, retention: float) -> list[dict[str, Any]]:
    causes = [render_activity(e) for e in walk.chain]
    lost = walk.pruned or walk.needs
    if lost is not None:
        causes.append({"id": lost, "pruned": True, "summary": (
            f"event {lost} is no longer in the journal: events are kept "
            f"{retention / 86400:g} days")})
    if walk.cycle is not None:
        causes.append({"id": walk.cycle, "cycle": True, "summary": (
            f"event {walk.cycle} is already in this chain: the walk stops here")})
    return causes


def _root_of_server(events: Sequence[JournalEvent],
                    walks: Sequence[Walk]) -> JournalEvent | None:
    """
    Why the server exists: the root of its creation step when the page holds
    it, else the root of the oldest of the page's events that reaches one
    (a server otter2 did not create, or one created before the journal's
    retention); None if none does. Its other events (a drain, a deletion)
    may have other roots: each event's own walk names its root.
    """
    rooted = [(e, w.root) for e, w in zip(events, walks, strict=True) if w.root is not None]
    for event, root in rooted:
        if event.kind is EventKind.STEP and event.details.get("action") == "create":
            return root
    return rooted[-1][1] if rooted else None


class JournalRoutes(APIBase):
    """The activities of a group and the history of one of its servers."""

    @app.route(_GROUP + "activities/", methods=["GET"], strict_slashes=False)
    @endpoint
    async def list_activities(self, request: Request, tenant_id: str,
                              group_id: str) -> Reply:
        limit = parse_limit(request, self.limits.pagination)
        since, kinds = parse_since(request), parse_kinds(request)
        server_id = query_arg(request, "server")
        await self._group(tenant_id, group_id)
        events: list[JournalEvent] = await self._do(store.ListJournal(
            tenant_id, group_id, limit, query_arg(request, "marker"), since, kinds,
            server_id))
        url = self.links.group(tenant_id, group_id) + "activities/"
        return Reply(200, {
            "activities": [render_activity(e) for e in events],
            "activities_links": next_links(url, [e.event_id for e in events], limit, {
                "since": query_arg(request, "since"), "type": kinds, "server": server_id}),
        })

    @app.route(_GROUP + "servers/<server_id>/history/", methods=["GET"],
               strict_slashes=False)
    @endpoint
    async def server_history(self, request: Request, tenant_id: str, group_id: str,
                             server_id: str) -> Reply:
        limit = parse_limit(request, self.limits.pagination)
        marker = query_arg(request, "marker")
        await self._group(tenant_id, group_id)
        events: list[JournalEvent] = await self._do(store.ListJournal(
            tenant_id, group_id, limit, marker, server_id=server_id))
        if not events and marker is None:
            raise APIError(404, "NoSuchServerActivityError",
                           f"No activity is recorded for server {server_id} in group "
                           f"{group_id} (events are kept "
                           f"{self.config.journal.retention / 86400:g} days)")
        walks = await self._walks(tenant_id, group_id, events)
        roots = list({w.root.event_id: w.root for w in walks if w.root is not None}.values())
        root = _root_of_server(events, walks)
        url = (self.links.group(tenant_id, group_id)
               + f"servers/{quote(server_id, safe='')}/history/")
        retention = self.config.journal.retention
        return Reply(200, {
            "history": [{**render_activity(e), "causes": _render_walk(w, retention)}
                        for e, w in zip(events, walks, strict=True)],
            "rootCause": None if root is None else render_activity(root),
            "roots": [r.event_id for r in roots],
            "history_links": next_links(url, [e.event_id for e in events], limit),
        })

    async def _walks(self, tenant_id: str, group_id: str,
                     events: Sequence[JournalEvent]) -> list[Walk]:
        """Each event's walk back to its root, loading the events it passes a
        level at a time (all the walks' next links in one read)."""
        known = {e.event_id: e for e in events}
        missing: set[str] = set()
        for _ in range(MAX_DEPTH):
            walks = [walk_back(e, known, missing) for e in events]
            needed = sorted({w.needs for w in walks if w.needs is not None})
            if not needed:
                break
            found: dict[str, JournalEvent] = await self._do(
                store.LoadJournal(tenant_id, group_id, needed))
            known.update(found)
            missing.update(set(needed) - set(found))
        return walks
