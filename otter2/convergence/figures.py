"""
The figures an operator watches, drawn from the store alone: each group's
status as a label (ACTIVE, ERROR, paused, deleting), its desired servers, and
the actual and pending ones its last iteration recorded.

# Note [Figures from the record]
Otter's metrics service listed every tenant's servers to count them (spec
§5.9); otter2 reads the record of servers each iteration keeps with its group
(``ScalingGroup.servers``) instead, so a scrape costs no call to the cloud.
``actual`` is the servers recorded as active (kept and serving), ``pending``
the others recorded (building, or not yet serving on their load balancers).
The record is as fresh as the group's last iteration: a group nobody looked at
for an hour shows what it had an hour ago, which is also what the divergence
alarm wants to notice.

test-case-name: tests.convergence.test_figures
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from attrs import frozen
from effect import Effect
from effect.do import do

from otter2.convergence.gathering import all_at_once
from otter2.model import GroupStatus, ScalingGroup
from otter2.store.intents import ListAllGroups, LoadGroup

#: The labels of a group's status in the metrics, every one always reported.
STATUS_LABELS = ("ACTIVE", "ERROR", "paused", "deleting")


@frozen
class GroupFigures:
    """One group's status label, its desired, actual and pending servers, and the
    instant its divergence alarm counts from, if it fired (``GroupState.diverged_since``)."""

    tenant_id: str
    group_id: str
    status: str
    desired: int
    actual: int
    pending: int
    diverged_since: float | None = None

    @property
    def divergent(self) -> bool:
        """Whether the group has not the servers it should (Otter's rule: actual and
        pending together differ from desired)."""
        return self.actual + self.pending != self.desired


def status_label(group: ScalingGroup) -> str:
    """The group's status as the metrics name it: deleting and paused first."""
    if group.deleting or group.state.status is GroupStatus.DELETING:
        return "deleting"
    if group.state.paused:
        return "paused"
    return str(group.state.status.value)


def figures_of(group: ScalingGroup) -> GroupFigures:
    """The group's figures; see Note [Figures from the record]."""
    actual = sum(1 for server in group.servers if server.active)
    return GroupFigures(tenant_id=group.tenant_id, group_id=group.group_id,
                        status=status_label(group), desired=group.state.desired,
                        actual=actual, pending=len(group.servers) - actual,
                        diverged_since=group.state.diverged_since)


@do
def all_figures() -> Generator[Effect, Any, list[GroupFigures]]:
    """An Effect of the figures of every group in the store, deleting ones included."""
    keys: list[tuple[str, str]] = yield Effect(ListAllGroups())
    groups: list[ScalingGroup | None] = yield all_at_once(
        [Effect(LoadGroup(tenant_id, group_id, True)) for tenant_id, group_id in keys])
    return [figures_of(group) for group in groups if group is not None]
