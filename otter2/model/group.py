"""
Values of the control plane: a scaling group, its state, policies and webhooks.

test-case-name: tests.store.test_stores
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from attrs import field, frozen
from pyrsistent import PMap, PSet, PVector, freeze, pmap, pset, pvector


def frozen_json(value: Any) -> Any:
    """
    A JSON structure made immutable (pyrsistent maps and vectors); parts that
    are already persistent are kept as they are, not walked again.
    """
    return freeze(value, strict=False)  # type: ignore[call-overload]


def frozen_list(value: Any) -> PVector:
    """Any iterable as a pyrsistent vector (one already is kept as it is)."""
    return value if isinstance(value, PVector) else pvector(value)


def frozen_set(value: Any) -> PSet:
    """Any iterable as a pyrsistent set (a typed converter for attrs fields); one
    already is kept as it is, not rebuilt."""
    return value if isinstance(value, PSet) else pset(value)


class GroupStatus(Enum):
    """What the API reports about a group's health."""

    ACTIVE = "ACTIVE"
    ERROR = "ERROR"
    DELETING = "DELETING"


@frozen
class GroupState:
    """
    The part of a group that changes while it runs, written only by
    compare-and-set on ``version``.

    ``group_touched`` and ``policy_touched`` hold the epoch seconds of the last
    successful policy executions (``None`` and absent mean never).
    ``limited_retries`` counts the iterations in a row that waited on servers
    in transient states (see Note [Looking again]); it lives with the group
    so that a restart, or a move to another node, does not forget it.
    ``build_failures`` counts the iterations since the group last converged
    that had to replace broken servers, and no server is built before
    ``build_after`` (see Note [Servers that keep failing]). ``waiting`` holds
    the reasons why the latest iteration did not converge a group that is
    not in ERROR (empty once it converged; ``error_reasons`` say why in ERROR).
    ``diverged_since`` is the instant from which the group has stayed diverged
    and unchanged, kept once the divergence alarm fired (Note [Divergence
    alarm] in ``otter2.convergence.divergence``), None otherwise.
    """

    tenant_id: str
    group_id: str
    desired: int
    version: int = 0
    paused: bool = False
    suspended: bool = False
    status: GroupStatus = GroupStatus.ACTIVE
    error_reasons: PVector = field(factory=pvector, converter=frozen_json)
    group_touched: float | None = None
    policy_touched: PMap = field(factory=pmap, converter=frozen_json)
    limited_retries: int = 0
    build_failures: int = 0
    build_after: float | None = None
    waiting: PVector = field(factory=pvector, converter=frozen_json)
    diverged_since: float | None = None


@frozen
class ScalingGroup:
    """
    Everything stored about one group except its policies.

    ``config`` and ``launch`` are the validated JSON documents, kept as sent
    (with defaults filled) so that reads echo them exactly; ``servers`` the
    `otter2.model.cloud.RecordedServer` values of the last iteration.
    """

    tenant_id: str
    group_id: str
    config: PMap = field(converter=frozen_json)
    launch: PMap = field(converter=frozen_json)
    state: GroupState
    created: float
    deleting: bool = False
    servers: PVector = field(factory=pvector, converter=frozen_list)

    @property
    def name(self) -> str:
        return str(self.config["name"])

    @property
    def min_entities(self) -> int:
        return int(self.config["minEntities"])

    @property
    def max_entities(self) -> int:
        value = self.config.get("maxEntities")
        return 1000 if value is None else int(value)

    @property
    def cooldown(self) -> float:
        return float(self.config["cooldown"])


@frozen
class Policy:
    """
    A scaling policy: its body exactly as the client sent it, and the version
    that changes on every update (the scheduler compares it).
    """

    tenant_id: str
    group_id: str
    policy_id: str
    data: PMap = field(converter=frozen_json)
    version: str = ""

    @property
    def policy_type(self) -> str:
        return str(self.data["type"])

    @property
    def cooldown(self) -> float:
        return float(self.data["cooldown"])


@frozen
class Webhook:
    """A webhook of a policy and the capability hash that executes it anonymously."""

    tenant_id: str
    group_id: str
    policy_id: str
    webhook_id: str
    name: str
    capability_hash: str
    metadata: PMap = field(factory=pmap, converter=frozen_json)
    capability_version: str = "1"


@frozen
class ScheduledEvent:
    """
    The next firing of a schedule policy (one per policy): when, for which
    version of the policy, and the scheduler bucket it is kept in (the
    group's: see ``control.schedule.group_bucket``).
    """

    tenant_id: str
    group_id: str
    policy_id: str
    trigger: float
    version: str
    cron: str | None = None
    bucket: int = 1


@frozen
class DivergentMark:
    """A request that convergence look at a group; ``mark`` grows with each."""

    tenant_id: str
    group_id: str
    mark: int


@frozen
class Fence:
    """
    The right to write on behalf of a bucket: ``token`` is what the store
    answered when this node claimed the bucket. The store refuses a write
    carrying it once a later owner has claimed the bucket. See Note [Fencing]
    in ``otter2.partition``.
    """

    bucket: int
    token: int


@frozen
class CapabilityTarget:
    """What an anonymous capability hash executes, and through which webhook."""

    tenant_id: str
    group_id: str
    policy_id: str
    webhook_id: str | None = None


def thaw_json(value: Any) -> Any:
    """A plain JSON structure (dicts and lists) from a frozen one."""
    if isinstance(value, Mapping):
        return {k: thaw_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, PVector)):
        return [thaw_json(v) for v in value]
    return value
