"""
The journal's ``change`` events: what the owner changed through the API,
each a root of the journal (Note [Journal] in ``otter2.model.journal``) of
the group named by (tenant id, group id),
with a one-line summary and, when the desired capacity moved, its
``desired_before`` and ``desired_after``.

test-case-name: tests.api.test_journal
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otter2.model import EventKind, JournalEvent, ScalingGroup, thaw_json


def _change(group: tuple[str, str], event_id: str, at: float, summary: str,
            server_id: str | None = None, **details: Any) -> JournalEvent:
    return JournalEvent(tenant_id=group[0], group_id=group[1],
                        event_id=event_id, kind=EventKind.CHANGE, at=at, summary=summary,
                        server_id=server_id, details=details)


def group_created(group: ScalingGroup, event_id: str, at: float) -> JournalEvent:
    """The event of a group's creation: its desired capacity from 0 to minEntities."""
    desired = group.state.desired
    return _change((group.tenant_id, group.group_id), event_id, at,
                   f"group created: desired capacity 0 -> {desired} (minEntities {desired})",
                   change="group_created", desired_before=0, desired_after=desired)


def config_changed(group: ScalingGroup, config: Mapping[str, Any], desired_before: int,
                   desired_after: int, event_id: str, at: float) -> JournalEvent:
    """The event of a configuration update from ``group``'s to ``config``; the desired
    capacity it moved (the bounds clamp it), if it did."""
    owner = (group.tenant_id, group.group_id)
    old = thaw_json(group.config)
    new = thaw_json(config)
    changed = {key: {"before": old.get(key), "after": new.get(key)}
               for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)}
    if desired_before == desired_after:
        what = ", ".join(f"{key} {_text(v['before'])} -> {_text(v['after'])}"
                         for key, v in changed.items()) or "nothing changed"
        return _change(owner, event_id, at, f"group configuration updated: {what}",
                       change="config", changed=changed)
    bound = "minEntities" if desired_after > desired_before else "maxEntities"
    moved = "raised" if bound == "minEntities" else "lowered"
    return _change(owner, event_id, at,
                   f"desired capacity {desired_before} -> {desired_after}: {bound} {moved} "
                   f"to {new.get(bound)}", change="config", changed=changed,
                   desired_before=desired_before, desired_after=desired_after)


def _text(value: Any) -> str:
    return "unset" if value is None else str(value)


def launch_changed(group: tuple[str, str], event_id: str, at: float) -> JournalEvent:
    """The event of a launch configuration update: new servers are built from it."""
    return _change(group, event_id, at,
                   "launch configuration updated: new servers are built from it",
                   change="launch")


def server_removed(group: tuple[str, str], server_id: str, replace: bool, purge: bool,
                   desired_after: int | None, event_id: str, at: float) -> JournalEvent:
    """The event of the owner removing a server (``DELETE …/servers/{id}``); with
    ``desired_after`` when the desired capacity went down one (no replacement)."""
    how = "deleted" if purge else "released from the group"
    if desired_after is None:
        return _change(group, event_id, at, f"server {server_id} {how} by its owner, "
                                            "to be replaced", server_id=server_id,
                       change="server_removed", replace=replace, purge=purge)
    return _change(group, event_id, at,
                   f"desired capacity {desired_after + 1} -> {desired_after}: server "
                   f"{server_id} {how} by its owner without replacement",
                   server_id=server_id, change="server_removed", replace=replace,
                   purge=purge, desired_before=desired_after + 1, desired_after=desired_after)


def pause_changed(group: tuple[str, str], paused: bool, event_id: str,
                  at: float) -> JournalEvent:
    """The event of pausing or resuming the group."""
    if paused:
        return _change(group, event_id, at, "group paused: nothing converges or executes "
                                            "until it is resumed", change="paused")
    return _change(group, event_id, at, "group resumed", change="resumed")
