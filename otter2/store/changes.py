"""
Read-modify-write of a group's state with compare-and-set, as an Effect.

# Note [State writes]
Every change of a group's state, from the API or from convergence, loads the
group, computes the new state with a pure function, and saves it only if
nobody saved in between (the store compares versions). A lost race starts
again from a fresh load, at once a few times and then with a growing pause;
the store lets one writer through per round, so every writer gets through
unless the group changes faster than it can be written. The API writes the
executions of one group that arrive together in one write (Note [Executions
together] in ``otter2.api.base``), so that a storm of them on one group does
not spend its time losing races to itself; the compare-and-set still
settles races between processes and with the converger.

test-case-name: tests.api.test_operations
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from effect import Constant, Delay, Effect
from effect.do import do

from otter2.model import Fence, GroupState, ScalingGroup
from otter2.store.intents import LoadGroup, SaveState
from otter2.store.interface import NoSuchGroup, StaleVersion, StoreError

MAX_ATTEMPTS = 200
_EAGER_ATTEMPTS = 5


class TooManyConflicts(StoreError):
    """Every attempt to write the state lost its race."""


def after_lost_race(attempt: int) -> Effect:
    """
    An Effect to perform before trying again after the ``attempt``-th lost
    compare-and-set: nothing the first few times, then a pause growing to
    50 ms (see Note [State writes]).
    """
    if attempt < _EAGER_ATTEMPTS:
        return Effect(Constant(None))
    return Effect(Delay(min(0.05, 0.001 * attempt)))


@do
def update_state(tenant_id: str, group_id: str,
                 change: Callable[[ScalingGroup], GroupState],
                 include_deleting: bool = False,
                 fence: Fence | None = None) -> Generator[Effect, Any, GroupState]:
    """
    An Effect of the saved state after applying ``change`` to the group (the
    state as it was if ``change`` changes nothing). Fails with `NoSuchGroup`
    if the group is absent (or deleting, unless ``include_deleting``),
    `TooManyConflicts` after `MAX_ATTEMPTS` lost races; an exception raised
    by ``change`` ends it with nothing written. The save carries ``fence``
    (see Note [Fencing] in ``otter2.partition``). See Note [State writes].
    """
    for attempt in range(MAX_ATTEMPTS):
        group: ScalingGroup | None = yield Effect(
            LoadGroup(tenant_id, group_id, include_deleting))
        if group is None:
            raise NoSuchGroup()
        new_state = change(group)
        if new_state == group.state:
            return group.state
        try:
            saved: GroupState = yield Effect(SaveState(new_state, fence=fence))
        except StaleVersion:
            yield after_lost_race(attempt)
            continue
        return saved
    raise TooManyConflicts()
