"""
RackConnect v3: the requests otter2 makes, pool members read into `RCv3Node`
values, and the reading of a bulk call's 409 answer (spec §3.4): pairs already
in the wanted state are dropped and the call made again for the rest, other
errors decide the step.

test-case-name: tests.cloud.test_rcv3
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum, auto
from typing import Any

from attrs import field, frozen
from pyrsistent import PSet, pset, thaw

from otter2.cloud.messages import RACKCONNECT, describe, path, unrecognised_outcome
from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.model.cloud import RCv3Description, RCv3Node
from otter2.model.outcome import StepOutcome, Verdict

Pair = tuple[str, str]  # (pool id, server id)

# -- requests ------------------------------------------------------------------


def _request(tenant_id: str, method: str, relative: str, **kwargs: Any) -> ServiceRequest:
    return ServiceRequest(tenant_id, ServiceType.RACKCONNECT_V3, method, relative, **kwargs)


def list_pools_request(tenant_id: str) -> ServiceRequest:
    """``GET load_balancer_pools``."""
    return _request(tenant_id, "GET", "load_balancer_pools")


def list_pool_nodes_request(tenant_id: str, pool_id: str) -> ServiceRequest:
    """``GET load_balancer_pools/{pool}/nodes``."""
    return _request(tenant_id, "GET", path("load_balancer_pools", pool_id, "nodes"))


def _bulk_body(pairs: Iterable[Pair]) -> list[dict[str, dict[str, str]]]:
    return [{"cloud_server": {"id": server}, "load_balancer_pool": {"id": pool}}
            for pool, server in sorted((pool.lower(), server) for pool, server in pairs)]


def bulk_add_request(tenant_id: str, pairs: Iterable[Pair]) -> ServiceRequest:
    """``POST load_balancer_pools/nodes``: each server into its pool."""
    return _request(tenant_id, "POST", "load_balancer_pools/nodes", json=_bulk_body(pairs))


def bulk_remove_request(tenant_id: str, pairs: Iterable[Pair]) -> ServiceRequest:
    """``DELETE load_balancer_pools/nodes``: each server out of its pool."""
    return _request(tenant_id, "DELETE", "load_balancer_pools/nodes", json=_bulk_body(pairs))


# -- parsing -------------------------------------------------------------------


def parse_pool_ids(body: Any) -> list[str]:
    """The ids of a ``GET load_balancer_pools`` answer."""
    return [str(pool["id"]) for pool in thaw(body)]


def listed_pool_ids(response: Response) -> frozenset[str] | None:
    """
    The pool ids, lower-cased (RackConnect compares them so), of a 200 answer
    to ``GET load_balancer_pools``; None for any other or an unreadable answer.
    """
    if response.status != 200:
        return None
    try:
        return frozenset(pool_id.lower() for pool_id in parse_pool_ids(response.body))
    except (KeyError, TypeError, AttributeError):
        return None


def parse_pool_nodes(pool_id: str, body: Any) -> list[RCv3Node]:
    """The members of a pool, from ``GET load_balancer_pools/{pool}/nodes``."""
    return [RCv3Node(node_id=str(node["id"]), description=RCv3Description(pool_id),
                     cloud_server_id=str(node["cloud_server"]["id"]))
            for node in thaw(body)]


def no_such_pool_reason(pool_id: str) -> str:
    """The sentence for a load balancer pool that does not exist."""
    return f"RackConnect v3 load balancer pool {pool_id} does not exist"


# -- bulk conflicts ------------------------------------------------------------


class _Kind(Enum):
    ALREADY_MEMBER = auto()
    NOT_MEMBER = auto()
    POOL_INACTIVE = auto()
    NO_SUCH_POOL = auto()
    UNPROCESSABLE = auto()
    NO_SUCH_SERVER = auto()


_PATTERNS = [
    (re.compile(r"Cloud Server (?P<server>\S+) is already a member of Load Balancer Pool "
                r"(?P<pool>\S+?)\.?"), _Kind.ALREADY_MEMBER),
    (re.compile(r"Cloud Server (?P<server>\S+) is not a member of Load Balancer Pool "
                r"(?P<pool>\S+?)\.?"), _Kind.NOT_MEMBER),
    (re.compile(r"Load Balancer Pool (?P<pool>\S+) is not in an ACTIVE state\.?"),
     _Kind.POOL_INACTIVE),
    (re.compile(r"Load Balancer Pool (?P<pool>\S+) does not exist\.?"), _Kind.NO_SUCH_POOL),
    (re.compile(r"Cloud Server (?P<server>\S+) is unprocessable\.?"), _Kind.UNPROCESSABLE),
    (re.compile(r"Cloud Server (?P<server>\S+) does not exist\.?"), _Kind.NO_SUCH_SERVER),
]


def _pair_set(pairs: Iterable[Pair]) -> PSet[Pair]:
    return pset(pairs)


@frozen
class Reissue:
    """Some pairs were already done: make the bulk call again for these."""

    pairs: PSet[Pair] = field(converter=_pair_set)


def _done(kind: _Kind, match: re.Match[str], pairs: PSet, adding: bool) -> PSet | None:
    """The pairs a message says are already as wanted, or None if it says no such thing."""
    groups = {name: value.lower() for name, value in match.groupdict().items()}
    if kind is (_Kind.ALREADY_MEMBER if adding else _Kind.NOT_MEMBER):
        return pset(p for p in pairs
                    if (p[0].lower(), p[1].lower()) == (groups["pool"], groups["server"]))
    if not adding and kind is _Kind.NO_SUCH_POOL:
        return pset(p for p in pairs if p[0].lower() == groups["pool"])
    if not adding and kind is _Kind.NO_SUCH_SERVER:
        return pset(p for p in pairs if p[1].lower() == groups["server"])
    return None


def _error(kind: _Kind, match: re.Match[str], adding: bool) -> str | None:
    """The readable reason for a message that is an error in this direction, or None."""
    if kind is _Kind.POOL_INACTIVE:
        return f"RackConnect v3 load balancer pool {match['pool']} is not active"
    if adding and kind is _Kind.NO_SUCH_POOL:
        return no_such_pool_reason(match["pool"])
    if adding and kind is _Kind.UNPROCESSABLE:
        return (f"RackConnect v3 cannot process cloud server {match['server']} yet, "
                "so it was not added to its load balancer pools")
    return None


_Reading = tuple[tuple[_Kind, str] | None, PSet]


def _read(message: str, pairs: PSet, adding: bool) -> _Reading | None:
    """
    One 409 message: its error (kind and reason) or None, and the pairs it
    says are already done. None when the message is unknown or means nothing
    for these pairs.
    """
    for pattern, kind in _PATTERNS:
        match = pattern.fullmatch(message.strip())
        if match is None:
            continue
        error = _error(kind, match, adding)
        if error is not None:
            return (kind, error), pset()
        done = _done(kind, match, pairs, adding)
        return (None, done) if done else None
    return None


def _classify_conflict(pairs: PSet, response: Response,
                       adding: bool) -> StepOutcome | Reissue:
    body = thaw(response.body)
    messages = body.get("errors") if isinstance(body, dict) else None
    readings = ([_read(str(m), pairs, adding) for m in messages]
                if isinstance(messages, list) and messages else [None])
    known = [reading for reading in readings if reading is not None]
    if len(known) < len(readings):
        action = "add servers to" if adding else "remove servers from"
        return StepOutcome(Verdict.RETRY, [describe(
            f"RackConnect v3 gave an answer otter2 does not understand when asked to "
            f"{action} load balancer pools", response)])
    errors = [error for error, _ in known if error is not None]
    if errors:
        retryable = adding and all(kind is _Kind.UNPROCESSABLE for kind, _ in errors)
        return StepOutcome(Verdict.RETRY if retryable else Verdict.FAILURE,
                           sorted({reason for _, reason in errors}))
    return Reissue(pairs - pset().union(*(done for _, done in known)))


def classify_bulk_add(pairs: Iterable[Pair], response: Response) -> StepOutcome | Reissue:
    """
    What an answer to a bulk add means: 201 is RETRY (look again); a 409
    naming only pairs already added asks for the call again without them; an
    inactive or missing pool is FAILURE, an unprocessable server RETRY; any
    other answer is RETRY.
    """
    if response.status == 201:
        return added()
    if response.status == 409:
        return _classify_conflict(pset(pairs), response, adding=True)
    return unrecognised_outcome(RACKCONNECT, "add servers to load balancer pools", response,
                                client_error=Verdict.RETRY)


def classify_bulk_remove(pairs: Iterable[Pair],
                         response: Response) -> StepOutcome | Reissue:
    """
    What an answer to a bulk remove means: 204 is RETRY (look again); a 409
    naming pairs already gone (not a member, no such pool or server) asks for
    the call again without them; an inactive pool and other 4xx are FAILURE.
    """
    if response.status == 204:
        return removed()
    if response.status == 409:
        return _classify_conflict(pset(pairs), response, adding=False)
    return unrecognised_outcome(RACKCONNECT, "remove servers from load balancer pools",
                                response)


def added() -> StepOutcome:
    """Servers are in their pools: RETRY, so that the next gather confirms it."""
    return StepOutcome(Verdict.RETRY, ["added servers to RackConnect v3 pools; looking again"],
                       done=True)


def removed() -> StepOutcome:
    """Servers are out of their pools: RETRY, so that the next gather confirms it."""
    return StepOutcome(Verdict.RETRY, [
        "removed servers from RackConnect v3 pools; looking again"], done=True)
