"""
What convergence does with a server, decided from its Nova state: the status
table that planning starts from (spec §2.1, with otter2's fixes of §9 item 14).

test-case-name: tests.convergence.test_destiny
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum, auto

from pyrsistent import PMap, pmap

from otter2.model.cloud import ObservedServer, ServerState


class Destiny(Enum):
    """The fate of one observed server in one plan."""

    COUNT = auto()     # serving: counts; its load-balancer membership is converged
    BUILDING = auto()  # counts until it has built for build_timeout, then REPLACE
    WAIT = auto()      # comes back by itself (REBOOT, RESIZE...): counts, limited retry
    HOLD = auto()      # held by its operator (RESCUE, SHELVED...): counts, left alone
    DRAIN = auto()     # marked for deletion: drain it from its CLBs, then delete it
    REPLACE = auto()   # broken: remove its nodes, delete it, build another
    CLEANUP = auto()   # already gone: remove the nodes it left behind
    IGNORE = auto()    # unknowable: never touched (still billed), not counted


DESTINY_BY_STATE: PMap = pmap({
    ServerState.ACTIVE: Destiny.COUNT,
    ServerState.BUILD: Destiny.BUILDING,
    ServerState.REBOOT: Destiny.WAIT,
    ServerState.HARD_REBOOT: Destiny.WAIT,
    ServerState.MIGRATING: Destiny.WAIT,
    ServerState.PASSWORD: Destiny.WAIT,
    ServerState.REBUILD: Destiny.WAIT,
    ServerState.RESIZE: Destiny.WAIT,
    ServerState.REVERT_RESIZE: Destiny.WAIT,
    ServerState.RESCUE: Destiny.HOLD,
    ServerState.VERIFY_RESIZE: Destiny.HOLD,
    ServerState.SUSPENDED: Destiny.HOLD,
    ServerState.PAUSED: Destiny.HOLD,
    ServerState.SHELVED: Destiny.HOLD,
    ServerState.SHELVED_OFFLOADED: Destiny.HOLD,
    ServerState.ERROR: Destiny.REPLACE,
    ServerState.SHUTOFF: Destiny.REPLACE,
    ServerState.DELETED: Destiny.CLEANUP,
    ServerState.SOFT_DELETED: Destiny.CLEANUP,
    ServerState.UNKNOWN: Destiny.IGNORE,
    ServerState.UNKNOWN_TO_OTTER: Destiny.IGNORE,
})

#: The destinies of servers that count toward the group's capacity.
COUNTED = frozenset({Destiny.COUNT, Destiny.BUILDING, Destiny.WAIT, Destiny.HOLD})

_DESTINY = dict(DESTINY_BY_STATE)  # read once per server: faster than the PMap

_DRAINABLE = frozenset({ServerState.ACTIVE, ServerState.BUILD})


def destiny(server: ObservedServer, now: float, build_timeout: float) -> Destiny:
    """
    The server's destiny: DRAIN when an ACTIVE or BUILD server carries the
    draining marker, REPLACE for a build that has lasted ``build_timeout``
    seconds or more, otherwise its state's row of ``DESTINY_BY_STATE``.
    """
    if server.draining and server.state in _DRAINABLE:
        return Destiny.DRAIN
    fate: Destiny = _DESTINY[server.state]
    if fate is Destiny.BUILDING and now - server.created >= build_timeout:
        return Destiny.REPLACE
    return fate


def by_destiny(servers: Iterable[ObservedServer], now: float,
               build_timeout: float) -> dict[Destiny, list[ObservedServer]]:
    """
    The servers by ``destiny``, each list in the order given. Planning reads
    every server of a group, and most are ACTIVE: an unmarked ACTIVE server
    counts without a look at the table (an Enum member hashes in Python, a
    dictionary lookup keyed by one is slow); the table alone decides for any
    other server neither marked for draining nor building; only those go
    through ``destiny``.
    """
    found: dict[Destiny, list[ObservedServer]] = {fate: [] for fate in Destiny}
    table, building, active = _DESTINY, Destiny.BUILDING, ServerState.ACTIVE
    counting = found[Destiny.COUNT]
    for server in servers:
        state = server.state
        if state is active and not server.draining:
            counting.append(server)
            continue
        fate = table[state]
        if server.draining or fate is building:
            fate = destiny(server, now, build_timeout)
        found[fate].append(server)
    return found
