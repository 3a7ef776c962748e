"""
The plan preview: what the converger would do for a group now, with a reason
for each step, and a ``planId`` naming the inputs it was computed from
(``GET …/groups/{groupId}/plan``, ``?dry_run=true`` on the changes, ``If-Match``
on ``POST …/converge``).

# Note [One planner]
The preview observes the cloud and plans exactly as an iteration does: it
calls `observe_and_plan`, the same function the iteration calls before it
executes, with the group as stored (or as a dry run would leave it). Only
the execution is left out. The reasons come afterwards from the plan and its
inputs (``convergence.explain``), so the planner is neither slowed nor
changed by them.

test-case-name: tests.convergence.test_preview
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Generator
from enum import Enum
from typing import Any

from attrs import evolve, fields, frozen, has
from effect import Effect
from effect.do import do
from pyrsistent import PMap, PSet, PVector

from otter2.config import ConvergerConfig
from otter2.convergence.explain import Explained, explain
from otter2.convergence.gathering import gather_stacks
from otter2.convergence.iteration import (
    Planned,
    desired_group,
    desired_stack_group,
    is_stack_group,
    observe_and_plan,
)
from otter2.convergence.planning import Plan
from otter2.convergence.stacks import plan_stacks
from otter2.model import ScalingGroup
from otter2.model.cloud import Observation


@frozen
class Preview:
    """What the converger would do for the group now, and why."""

    capacity: int
    plan: Plan
    explained: list[Explained]
    plan_id: str
    at: float

    @property
    def converged(self) -> bool:
        """Whether the plan has nothing left to do."""
        return not self.explained and not self.plan.postponed


@do
def preview(group: ScalingGroup, now: float, settings: ConvergerConfig,
            draining: str | None = None,
            without: str | None = None) -> Generator[Effect, Any, Preview]:
    """
    An Effect of the `Preview` of ``group`` at ``now``: the cloud gathered and
    the plan made as an iteration would (Note [One planner]); nothing is
    executed or written. A gather that fails raises its `GatherError`. For a
    dry run of removing one member, the cloud is seen as if the server
    ``draining`` were marked for draining, or the server or stack
    ``without`` were no longer the group's.
    """
    if is_stack_group(group):
        stacks = [stack for stack in (yield gather_stacks(group.tenant_id, group.group_id))
                  if stack.id != without]
        desired_stacks = desired_stack_group(group)
        the_plan = plan_stacks(desired_stacks, stacks, now)
        explained = explain(the_plan.steps, desired_stacks.capacity, len(the_plan.kept), [],
                            [], now, settings.build_timeout, 0.0)
        digest = plan_id([desired_stacks, sorted(stacks, key=lambda s: s.id), the_plan.steps])
        return Preview(desired_stacks.capacity, the_plan, explained, digest, now)
    planned: Planned = yield observe_and_plan(
        group, now, settings, as_if=None if draining is None and without is None
        else lambda seen: as_if_removed(seen, draining, without))
    desired = desired_group(group)
    the_plan = planned.plan
    explained = explain(the_plan.steps, desired.capacity, len(the_plan.kept), planned.servers,
                        planned.observation.lb_nodes, now, settings.build_timeout,
                        desired.draining_timeout)
    digest = plan_id([desired, sorted(planned.servers, key=lambda s: s.id),
                      sorted(planned.observation.lb_nodes, key=repr), the_plan.steps])
    return Preview(desired.capacity, the_plan, explained, digest, now)


def as_if_removed(observation: Observation, draining: str | None,
                  without: str | None) -> Observation:
    """``observation`` with the server ``draining`` marked for draining and the
    server ``without`` gone from the group (its nodes stay: no longer the
    group's, they are left alone)."""
    servers = [evolve(server, draining=True) if server.id == draining else server
               for server in observation.servers if server.id != without]
    return evolve(observation, servers=servers)


def plan_id(inputs: Any) -> str:
    """
    A digest of ``inputs`` (attrs values, pyrsistent and plain collections,
    enums, numbers and text) that is the same in every process: sets and
    bags are ordered by their members' canonical form, not by their hashes.
    """
    text = json.dumps(_canonical(inputs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _canonical(value: Any) -> Any:
    if has(type(value)):
        return {"@": type(value).__name__,
                **{f.name: _canonical(getattr(value, f.name)) for f in fields(type(value))}}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (dict, PMap)):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset, PSet)) or type(value).__name__ == "PBag":
        members = [_canonical(v) for v in value]
        return sorted(members, key=lambda m: json.dumps(m, sort_keys=True))
    if isinstance(value, (list, tuple, PVector)):
        return [_canonical(v) for v in value]
    if isinstance(value, type):
        return value.__name__
    return value
