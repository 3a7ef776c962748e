"""
A round: one iteration of each of several groups of one tenant, sharing one
observation of the tenant's cloud (``tenant_view``): one listing of its
servers and one read of each load balancer, however many of its groups are
due (spec §9 item 19). Planning, execution and the conclusion stay each
group's own, exactly as ``iteration.converge_one_group`` would do them; a
group whose iteration fails (a bug) fails alone.

test-case-name: tests.convergence.test_rounds
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any

from effect import Effect
from effect.do import do

from otter2.config import ConvergerConfig
from otter2.convergence.conclusion import Conclusion, left_alone
from otter2.convergence.gathering import all_at_once
from otter2.convergence.iteration import (
    cared_for,
    is_stack_group,
    not_acting_on,
    observe_and_act,
)
from otter2.convergence.tenant_view import TenantView, gather_tenant
from otter2.convergence.writing import conclude_and_write
from otter2.intents import Now
from otter2.model import Fence, ScalingGroup
from otter2.store.intents import LoadGroup

#: What a round results in for each group: its conclusion, or the exception
#: its iteration raised.
RoundResult = Conclusion | Exception


def _captured(effect: Effect) -> Effect:
    """The effect, its exception (if any) as its result."""
    return effect.on(error=lambda error: error)


@do
def converge_tenant(tenant_id: str, group_ids: Sequence[str],
                    settings: ConvergerConfig = ConvergerConfig(),
                    fences: Mapping[str, Fence | None] | None = None,
                    ) -> Generator[Effect, Any, dict[str, RoundResult]]:
    """
    An Effect of each group's `Conclusion` (or exception), by group id, after
    one round over ``group_ids``: the groups read, the tenant's cloud
    observed once for those that launch servers, then every group's
    iteration at once, each concluded and written with its fence in
    ``fences`` (none: unfenced).
    """
    loaded: list[ScalingGroup | None | Exception] = yield all_at_once(
        [_captured(Effect(LoadGroup(tenant_id, group_id, True))) for group_id in group_ids])
    results: dict[str, RoundResult] = {}
    acting: list[ScalingGroup] = []
    for group_id, group in zip(group_ids, loaded, strict=True):
        if isinstance(group, Exception):
            results[group_id] = group
            continue
        why_not = not_acting_on(group)
        if why_not is not None:
            results[group_id] = left_alone(why_not)
        else:
            assert group is not None
            acting.append(group)
    if not acting:
        return results
    now: float = yield Effect(Now())
    server_groups = {group.group_id: cared_for(group) for group in acting
                     if not is_stack_group(group)}
    view: TenantView | None = (yield gather_tenant(tenant_id, server_groups)) \
        if server_groups else None
    concluded: list[RoundResult] = yield all_at_once([
        _captured(_one(group, now, settings, view, (fences or {}).get(group.group_id)))
        for group in acting])
    results.update(zip((group.group_id for group in acting), concluded, strict=True))
    return results


def _one(group: ScalingGroup, now: float, settings: ConvergerConfig,
         view: TenantView | None, fence: Fence | None) -> Effect:
    """An Effect of the group's `Conclusion`, written with ``fence``."""
    return observe_and_act(group, now, settings, view).on(
        lambda facts: conclude_and_write(group, facts, settings, fence))
