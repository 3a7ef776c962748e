"""
The server-metadata contract: how a Nova server says which group it belongs
to, which load balancers it should be on, and that it is being drained.

otter2 keeps no list of its servers; it writes these keys once, when it
creates a server, and reads them back on every gather (spec §1.2).

test-case-name: tests.cloud.test_nova
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, TypeVar

from pyrsistent import PMap, PSet, freeze, pset, thaw

from otter2.model.cloud import CLBDescription, LBDescription, RCv3Description

GROUP_ID_KEY = "rax:autoscale:group:id"
LEGACY_GROUP_ID_KEY = "rax:auto_scaling_group_id"
SERVER_STATE_KEY = "rax:autoscale:server:state"
#: The id of the journal event a server was created for (Note [Root causes] in
#: ``otter2.convergence.causes``).
CAUSE_KEY = "rax:autoscale:server:cause"
DRAINING = "DRAINING"
CLB_KEY_PREFIX = "rax:autoscale:lb:CloudLoadBalancer:"
RCV3_KEY_PREFIX = "rax:autoscale:lb:RackConnectV3:"
#: Both membership keys, current and legacy (``group_id_of`` says which wins).
GROUP_ID_KEYS = (GROUP_ID_KEY, LEGACY_GROUP_ID_KEY)
#: Every key otter2 (or Otter before it) writes starts with one of these.
OWN_KEY_PREFIXES = ("rax:autoscale:", "rax:auto_scaling")

_AUTOSCALE_KEY = re.compile(r"^rax:autoscale((?::[A-Za-z0-9_-]+)+)$")
_LB_KEY_PREFIX = "rax:autoscale:lb:"  # only such keys can name load balancers
_NO_LBS: PSet = pset()
_ABSENT: Any = object()


def group_id_of(metadata: Mapping[str, str] | None) -> str | None:
    """
    The id of the group a server's metadata puts it in, or None.

    The current key wins; the legacy key counts only when the current one is
    absent.
    """
    if not metadata:
        return None
    current = metadata.get(GROUP_ID_KEY, _ABSENT)
    return metadata.get(LEGACY_GROUP_ID_KEY) if current is _ABSENT else current


def is_draining(metadata: Mapping[str, Any] | None) -> bool:
    """Whether the metadata holds otter2's draining marker (exactly ``DRAINING``)."""
    return metadata is not None and metadata.get(SERVER_STATE_KEY) == DRAINING


def cause_of(metadata: Mapping[str, Any] | None) -> str | None:
    """The id of the journal event the server was created for, if its metadata says."""
    value = None if metadata is None else metadata.get(CAUSE_KEY)
    return value if isinstance(value, str) and value else None


def with_cause(server_config: PMap, event_id: str) -> PMap:
    """A create-server body (``prepare_server_config``) whose server's metadata
    names the journal event it is created for."""
    return server_config.transform(["server", "metadata", CAUSE_KEY], event_id)


def without_own_keys(metadata: Mapping[str, Any]) -> dict[str, str]:
    """The metadata without any key of otter2's: what a server released from its
    group keeps."""
    return {key: value for key, value in metadata.items()
            if not key.startswith(OWN_KEY_PREFIXES)}


def _clb_descriptions(lb_id: str, value: Any) -> list[CLBDescription]:
    try:
        ports = json.loads(value)
    except (TypeError, ValueError):
        return []
    if not isinstance(ports, list):
        return []
    descriptions = []
    for entry in ports:
        port = entry.get("port") if isinstance(entry, dict) else None
        if not isinstance(port, int) or isinstance(port, bool):
            return []  # one bad element spoils the whole key, as in Otter
        descriptions.append(CLBDescription(lb_id=lb_id, port=port))
    return descriptions


def desired_lbs_of(metadata: Mapping[str, Any] | None) -> PSet:
    """
    The load balancers a server's metadata records for it.

    A CloudLoadBalancer key whose value is not a JSON list of ``{"port": n}``
    objects is skipped whole; every RackConnectV3 key names a pool.

    Every gather reads this for each server of a tenant, and the servers of
    a group almost always record the same load balancers: the set is made
    once for each distinct record and shared (it is immutable), and once for
    frozen metadata (see Note [Frozen values read once]).
    """
    if isinstance(metadata, PMap):
        return _once(_recorded_lbs, metadata)
    return _recorded_lbs(metadata)


def _recorded_lbs(metadata: Mapping[str, Any] | None) -> PSet:
    entries = tuple((key, value) for key, value in (metadata or {}).items()
                    if key.startswith(_LB_KEY_PREFIX))
    if not entries:
        return _NO_LBS
    if all(isinstance(value, str) for _, value in entries):
        return _shared_lbs(entries)
    return _lbs_of(entries)


@lru_cache(maxsize=1 << 14)
def _shared_lbs(entries: tuple[tuple[str, str], ...]) -> PSet:
    return _lbs_of(entries)


def _lbs_of(entries: Iterable[tuple[str, Any]]) -> PSet:
    """The load balancers of metadata ``entries`` (see ``desired_lbs_of``)."""
    descriptions: list[LBDescription] = []
    for key, value in entries:
        match = _AUTOSCALE_KEY.match(key)
        if match is None:
            continue
        parts = match.group(1)[1:].split(":")
        if len(parts) != 3 or parts[0] != "lb":
            continue
        _, kind, lb_id = parts
        if kind == "CloudLoadBalancer":
            descriptions.extend(_clb_descriptions(lb_id, value))
        elif kind == "RackConnectV3":
            descriptions.append(RCv3Description(lb_id))
    return pset(descriptions)


def server_metadata(group_id: str, desired_lbs: Iterable[LBDescription]) -> dict[str, str]:
    """
    The metadata otter2 writes on every server it creates for a group:
    both membership keys and one key per load balancer.
    """
    return {GROUP_ID_KEY: group_id, LEGACY_GROUP_ID_KEY: group_id,
            **lb_metadata(desired_lbs)}


def with_load_balancers(metadata: Mapping[str, Any],
                        lbs: Iterable[LBDescription]) -> dict[str, str]:
    """``metadata`` whose load-balancer keys say ``lbs``, and nothing else changed."""
    kept = {key: str(value) for key, value in metadata.items()
            if not key.startswith((CLB_KEY_PREFIX, RCV3_KEY_PREFIX))}
    return {**kept, **lb_metadata(lbs)}


def lb_metadata(lbs: Iterable[LBDescription]) -> dict[str, str]:
    """One metadata key per load balancer of ``lbs``: a CLB's with its ports."""
    metadata: dict[str, str] = {}
    ports: dict[str, set[int]] = {}
    for lb in lbs:
        if isinstance(lb, CLBDescription):
            ports.setdefault(lb.lb_id, set()).add(lb.port)
        else:
            metadata[RCV3_KEY_PREFIX + lb.lb_id] = ""
    for lb_id, lb_ports in ports.items():
        metadata[CLB_KEY_PREFIX + lb_id] = json.dumps([{"port": p} for p in sorted(lb_ports)])
    return metadata


def launch_load_balancers(launch_server_args: Mapping[str, Any]) -> PSet:
    """
    The load balancers of a ``launch_server`` configuration's args, as
    descriptions: a CLB entry (``type`` absent or ``CloudLoadBalancer``) with
    its port, an RCv3 entry with its pool. See Note [Frozen values read once].
    """
    return _once(_launch_load_balancers, launch_server_args)


def _launch_load_balancers(launch_server_args: Mapping[str, Any]) -> PSet:
    descriptions: list[LBDescription] = []
    for entry in launch_server_args.get("loadBalancers", ()):
        lb_id = str(entry["loadBalancerId"])
        if entry.get("type", "CloudLoadBalancer") == "RackConnectV3":
            descriptions.append(RCv3Description(lb_id))
        else:
            descriptions.append(CLBDescription(lb_id=lb_id, port=int(entry["port"])))
    return pset(descriptions)


def prepare_server_config(launch_server_args: Mapping[str, Any], group_id: str) -> PMap:
    """
    The Nova create-server body for a group (``DesiredGroup.server_config``):
    ``{"server": ...}`` with the group's metadata merged into the launch
    configuration's; a generated key wins over a user key of the same name.
    The name suffix is added when the server is created (``nova.name_server``).
    See Note [Frozen values read once].
    """
    return _once(_prepare_server_config, launch_server_args, group_id)


def _prepare_server_config(launch_server_args: Mapping[str, Any], group_id: str) -> PMap:
    server = dict(thaw(launch_server_args["server"]))
    lbs = launch_load_balancers(launch_server_args)
    server["metadata"] = {**server.get("metadata", {}), **server_metadata(group_id, lbs)}
    return freeze({"server": server})


# Note [Frozen values read once]
# Every round reads each group's launch configuration into its load balancers
# and its create-server body, and each server's metadata into the load
# balancers it records, though these rarely change: the group read from the
# store is the same frozen value round after round, and so is the metadata of
# a server of the simulated cloud. These are pure functions, so each result
# is kept for the very frozen object it was made from (by identity, not
# equality: 1, 1.0 and true are equal, yet Nova is sent what the owner wrote)
# while that stays in a bounded cache. A value that is not frozen (a dict
# parsed from JSON, or in tests) is read afresh.

R = TypeVar("R")


class _Identical:
    """A value as a cache key: equal only to itself (and held, so its id stays its own)."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Identical) and other.value is self.value


@lru_cache(maxsize=1 << 15)
def _cached(function: Callable[..., R], args: _Identical, *more: Any) -> R:
    return function(args.value, *more)


def _once(function: Callable[..., R], value: Mapping[str, Any], *more: Any) -> R:
    """``function(value, *more)``, made once for a frozen ``value``; see Note
    [Frozen values read once]."""
    if not isinstance(value, PMap):
        return function(value, *more)
    result: R = _cached(function, _Identical(value), *more)
    return result
