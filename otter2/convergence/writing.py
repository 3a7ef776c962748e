"""
How an iteration's conclusion is written: its journal events first (see Note
[Journal] in ``otter2.model.journal``), then the group removed, or its record
of servers and its state, every write carrying the iteration's fence.

test-case-name: tests.convergence.test_iteration
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from attrs import evolve, fields
from effect import Effect

from otter2.config import ConvergerConfig
from otter2.convergence.conclusion import GONE, Conclusion, Iteration, conclude, left_alone
from otter2.convergence.step_events import status_event
from otter2.model import Fence, GroupState, ScalingGroup
from otter2.model.cloud import RecordedServer
from otter2.store.changes import update_state
from otter2.store.intents import AppendJournal, DeleteGroup, SaveServers
from otter2.store.interface import NoSuchGroup


def conclude_and_write(group: ScalingGroup, facts: Iteration,
                       settings: ConvergerConfig, fence: Fence | None = None) -> Effect:
    """
    An Effect of the `Conclusion` drawn from ``facts``, written with
    ``fence``: first the iteration's journal events (``facts.journal``, and
    the group's status change, if any: see Note [Journal] in
    ``otter2.model.journal``), then the conclusion. A steady iteration
    appends nothing.
    """
    conclusion = conclude(facts, settings.interval, settings.limited_retry_iterations)
    events = list(facts.journal)
    before = group.state.status
    if (conclusion.status is not None and not conclusion.remove_group
            and conclusion.status is not before):
        events.append(status_event(group.tenant_id, group.group_id, facts.now, before.value,
                                   conclusion.status.value, conclusion.error_reasons, events))
    written = write_conclusion(group.tenant_id, group.group_id, conclusion, group.servers, fence)
    if not events:
        return written
    return Effect(AppendJournal(events, facts.now - settings.journal_retention, fence)).on(
        lambda _: written)


def write_conclusion(tenant_id: str, group_id: str, conclusion: Conclusion,
                     recorded: Sequence[RecordedServer] | None = None,
                     fence: Fence | None = None) -> Effect:
    """
    An Effect that writes ``conclusion``: the group removed, or its record of
    servers (unless it is ``recorded``, the record the iteration started
    from: a steady group's round writes no servers) and then its status and
    LIMITED_RETRY count (compare-and-set, which writes nothing when they did
    not change). Results in the conclusion, or in one that leaves the group
    alone if it vanished meanwhile. Every write carries ``fence``:
    `FencedOut`, and nothing more written, once the group's bucket has a
    newer owner (Note [Fencing] in ``otter2.partition``).
    """
    if conclusion.remove_group:
        return Effect(DeleteGroup(tenant_id, group_id, fence)).on(lambda _: conclusion)

    def change(group: ScalingGroup) -> GroupState:
        return evolve(group.state, status=conclusion.status or group.state.status,
                      error_reasons=conclusion.error_reasons, waiting=conclusion.waiting,
                      limited_retries=conclusion.limited_retries,
                      build_failures=conclusion.build_failures,
                      build_after=conclusion.build_after)

    def vanished(error: Exception) -> Conclusion:
        if not isinstance(error, NoSuchGroup):
            raise error
        return left_alone(GONE)

    state = update_state(tenant_id, group_id, change, include_deleting=True, fence=fence).on(
        lambda _: conclusion, error=vanished)
    if conclusion.servers is None or _same_record(conclusion.servers, recorded):
        return state
    return Effect(SaveServers(tenant_id, group_id, conclusion.servers, fence)).on(
        lambda _: state)


#: A recorded server's fields, as a tuple (compared item by item, each by
#: identity first: a steady group's record shares its parts with the last one).
_RECORD_FIELDS = attrgetter(*(f.name for f in fields(RecordedServer)))


def _same_record(servers: Sequence[RecordedServer],
                 recorded: Sequence[RecordedServer] | None) -> bool:
    """Whether ``servers`` is the record ``recorded`` (None: no record to compare)."""
    return recorded is not None and len(servers) == len(recorded) and all(
        _RECORD_FIELDS(new) == _RECORD_FIELDS(old)
        for new, old in zip(servers, recorded, strict=True))
