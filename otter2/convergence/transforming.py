"""
Transforming a plan's raw steps before they run (spec §2.10): limit the steps
of each type and keep one mutating step per Cloud Load Balancer (the steps
come merged per load balancer from ``membership.StepCollector``). Work that is dropped is not forgotten: each drop adds a
sentence to ``Plan.postponed``, so the iteration reports RETRY and the next
one does the rest (spec §9 item 2).

test-case-name: tests.convergence.test_transforming
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from attrs import field, frozen
from pyrsistent import PBag, PMap, PSet, PVector, pbag, pmap, pset, pvector

from otter2.convergence.steps import (
    AddNodesToCLB,
    ChangeCLBNode,
    CreateServer,
    CreateStack,
    RemoveNodesFromCLB,
    Step,
)
from otter2.model.group import frozen_list, frozen_set


def _frozen_bag(steps: Iterable[Step]) -> PBag:
    """The steps as a bag: as given when they already are one, else counted in one pass
    (``pbag`` adds them one persistent update at a time)."""
    if isinstance(steps, PBag):
        return steps
    # PBag(counts) is how pbag itself builds its result; the stubs omit the argument.
    return PBag(pmap(Counter(steps)))  # type: ignore[call-arg]


@frozen
class Plan:
    """
    What one iteration should do: ``steps`` run in parallel; ``postponed``
    says, in sentences, which work was held back for a later iteration (by
    the step limits or the one-change-per-CLB rule). A non-empty
    ``postponed`` means the group is not converged yet, even when every step
    succeeds. ``kept`` holds the ids of the servers the group keeps (its
    shape once the plan is done: surplus, draining and broken servers are
    not in it); ``broken`` a sentence for each broken server it replaces;
    ``wake_at`` is the instant the soonest wait whose end the plan knows
    ends (a drain, a build timeout, the end of a build back-off), or None.
    """

    steps: PBag = field(default=pbag([]), converter=_frozen_bag)
    postponed: PVector = field(factory=pvector, converter=frozen_list)
    kept: PSet = field(factory=pset, converter=frozen_set)
    broken: PVector = field(factory=pvector, converter=frozen_list)
    wake_at: float | None = None


#: At most this many steps of each type run in one iteration; unlisted types
#: are unlimited (Otter's default; ``converger.step_limits`` overrides it).
DEFAULT_STEP_LIMITS: PMap = pmap({CreateServer: 10, CreateStack: 10})

_NOUNS: Mapping[type, str] = {
    CreateServer: "server creation",
    CreateStack: "stack creation",
}


def transform(steps: Iterable[Step],
              step_limits: Mapping[type, int] = DEFAULT_STEP_LIMITS) -> Plan:
    """The plan that runs ``steps`` limited and one change per CLB."""
    limited, postponed = limit_steps(steps, step_limits)
    kept, dropped = one_clb_step(limited)
    return Plan(steps=kept, postponed=postponed + dropped)


def limit_steps(steps: Iterable[Step],
                step_limits: Mapping[type, int]) -> tuple[list[Step], list[str]]:
    """
    The first ``step_limits[type]`` steps of each type, in the order given
    (the planner's order is deterministic), and a sentence per type that lost
    some.
    """
    step_limits = dict(step_limits)  # read once per step: a dict is faster than a PMap
    counts: dict[type, int] = {}
    kept: list[Step] = []
    for step in steps:
        kind = type(step)
        seen = counts[kind] = counts.get(kind, 0) + 1
        limit = step_limits.get(kind)
        if limit is None or seen <= limit:
            kept.append(step)
    postponed = [_limited(kind, seen - step_limits[kind], step_limits[kind])
                 for kind, seen in sorted(counts.items(), key=lambda item: item[0].__name__)
                 if kind in step_limits and seen > step_limits[kind]]
    return kept, postponed


def _limited(kind: type, dropped: int, limit: int) -> str:
    noun = _NOUNS.get(kind, f"{kind.__name__} step")
    if dropped == 1:
        return (f"1 more {noun} waits for the next iteration: at most {limit} run in one "
                f"iteration")
    return (f"{dropped} more {noun}s wait for the next iteration: at most {limit} run in one "
            f"iteration")


def one_clb_step(steps: Sequence[Step]) -> tuple[list[Step], list[str]]:
    """
    The steps with at most one mutating step per Cloud Load Balancer, and a
    sentence for each kind of change that waits.

    A CLB refuses changes (422 PENDING_UPDATE) for a moment after each one, so
    only one change per CLB can succeed in an iteration. The winner is chosen
    deterministically: the removal (it takes traffic away from servers that
    are going or gone), else the addition (it brings capacity), else the
    change of the node with the smallest id (condition, weight or type resets
    can wait longest). Expects merged steps: at most one removal and one
    addition per CLB.
    """
    by_lb: dict[str, list[Step]] = {}
    kept: list[Step] = []
    for step in steps:
        if isinstance(step, (AddNodesToCLB, RemoveNodesFromCLB, ChangeCLBNode)):
            by_lb.setdefault(step.lb_id, []).append(step)
        else:
            kept.append(step)
    postponed: list[str] = []
    for lb_id, candidates in sorted(by_lb.items()):
        ordered = sorted(candidates, key=_clb_step_rank)
        kept.append(ordered[0])
        postponed.extend(_waiting(lb_id, ordered[1:]))
    return kept, postponed


def _clb_step_rank(step: Step) -> tuple[int, str]:
    if isinstance(step, RemoveNodesFromCLB):
        return (0, "")
    if isinstance(step, AddNodesToCLB):
        return (1, "")
    assert isinstance(step, ChangeCLBNode)
    return (2, step.node_id)


def _waiting(lb_id: str, dropped: Sequence[Step]) -> list[str]:
    """Sentences for the steps on one CLB that wait for a later iteration."""
    reasons = []
    after = "waits for the next iteration: a Cloud Load Balancer takes one change at a time"
    for step in dropped:
        if isinstance(step, RemoveNodesFromCLB):
            reasons.append(f"removing {_nodes(len(step.node_ids))} from Cloud Load "
                           f"Balancer {lb_id} {after}")
        elif isinstance(step, AddNodesToCLB):
            reasons.append(f"adding {_nodes(len(step.address_configs))} to Cloud Load "
                           f"Balancer {lb_id} {after}")
    changes = [step for step in dropped if isinstance(step, ChangeCLBNode)]
    if changes:
        reasons.append(f"changing {_nodes(len(changes))} of Cloud Load Balancer {lb_id} "
                       f"{after}")
    return reasons


def _nodes(count: int) -> str:
    return "1 node" if count == 1 else f"{count} nodes"
