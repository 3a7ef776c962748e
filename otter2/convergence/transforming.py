"""
Transforming a plan's raw steps before they run (spec §2.10): limit the steps
of each type and keep one mutating step per Cloud Load Balancer (the steps
come merged per load balancer from ``collector.StepCollector``). Work that is dropped is not forgotten: each drop adds a
sentence to ``Plan.postponed``, so the iteration reports RETRY and the next
one does the rest (spec §9 item 2).

# Note [Order of load-balancer changes]
A Cloud Load Balancer takes one change at a time: after each it is
PENDING_UPDATE for a moment (a "window") and refuses the next with a 422, and
its API changes one node per call (there is no bulk update; only removal
takes several nodes, up to ten). So a plan keeps one change per CLB, and the
next iteration, which comes as soon as the window is over (Note [Looking
again]), makes the next one. The order of those changes decides how long a
scale-down takes; the first of these wins:

1. a removal of nodes that still take new connections (ENABLED: nodes of
   broken or gone servers, of builds scaled down): clients are being sent to
   servers that cannot serve them;
2. an addition: it brings capacity;
3. the start of a drain (a change to DRAINING), smallest node id first: a
   drain ends a draining timeout after its change, so every window spent on
   something else before it delays the end of the scale-down by a window;
4. a removal of quiet nodes only (DRAINING or DISABLED, so no new
   connection reaches them; their drain is over): it delays nothing but the
   deletion of their servers' nodes, and waiting lets it take up to ten at
   once;
5. any other change (a condition, weight or type reset), smallest node id
   first.

A removal carries the quiet nodes along with urgent ones, up to ten, since
it costs the window anyway. A group scaling down by N nodes thus needs at
least N windows plus the draining timeout (the last drain starts after N-1
windows), which is what it takes here.

test-case-name: tests.convergence.test_transforming
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from attrs import field, frozen
from pyrsistent import PBag, PMap, PVector, pbag, pmap, pvector

from otter2.cloud.clb import MAX_NODES_PER_DELETE
from otter2.convergence.steps import (
    AddNodesToCLB,
    ChangeCLBNode,
    CreateServer,
    CreateStack,
    NodeChange,
    RemoveNodesFromCLB,
    Step,
)
from otter2.model.cloud import NodeCondition
from otter2.model.group import frozen_list


def _frozen_bag(steps: Iterable[Step]) -> PBag:
    """The steps as a bag: as given when they already are one, else counted in one pass
    (``pbag`` adds them one persistent update at a time)."""
    if isinstance(steps, PBag):
        return steps
    # PBag(counts) is how pbag itself builds its result; the stubs omit the argument.
    return PBag(pmap(Counter(steps)))  # type: ignore[call-arg]


def _frozen_ids(ids: Iterable[str]) -> frozenset[str]:
    return ids if isinstance(ids, frozenset) else frozenset(ids)


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

    ``kept`` is a frozenset, not a PSet: it holds every server of the group
    at each iteration (10 000 for a big group), and a PSet costs ten times
    as much to build and to read (the iteration intersects it with the
    serving servers).
    """

    steps: PBag = field(default=pbag([]), converter=_frozen_bag)
    postponed: PVector = field(factory=pvector, converter=frozen_list)
    kept: frozenset[str] = field(factory=frozenset, converter=_frozen_ids)
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
              step_limits: Mapping[type, int] = DEFAULT_STEP_LIMITS,
              node_changes: Sequence[NodeChange] = ()) -> Plan:
    """
    The plan that runs ``steps`` limited and one change per CLB.
    ``node_changes`` are more steps, ChangeCLBNode ones given by their fields
    (as ``collector.StepCollector`` keeps them), after ``steps``: only
    those that run are built, unless ChangeCLBNode steps are limited.
    """
    if node_changes and ChangeCLBNode in step_limits:
        steps = [*steps, *(ChangeCLBNode(*change) for change in node_changes)]
        node_changes = ()
    limited, postponed = limit_steps(steps, step_limits)
    kept, dropped = one_clb_step(limited, node_changes)
    return Plan(steps=kept, postponed=postponed + dropped)


def limit_steps(steps: Iterable[Step],
                step_limits: Mapping[type, int]) -> tuple[list[Step], list[str]]:
    """
    The first ``step_limits[type]`` steps of each type, in the order given
    (the planner's order is deterministic), and a sentence per type that lost
    some.
    """
    step_limits = dict(step_limits)
    steps = list(steps)
    counts = Counter(map(type, steps))  # counted in C: most plans lose nothing to limits
    over = {kind: limit for kind, limit in step_limits.items()
            if kind in counts and counts[kind] > limit}
    kept = steps
    if over:
        taken = dict.fromkeys(over, 0)
        kept = []
        for step in steps:
            kind = type(step)
            if kind in taken:
                taken[kind] += 1
                if taken[kind] > over[kind]:
                    continue
            kept.append(step)
    postponed = [_limited(kind, counts[kind] - limit, limit)
                 for kind, limit in sorted(over.items(), key=lambda item: item[0].__name__)]
    return kept, postponed


def _limited(kind: type, dropped: int, limit: int) -> str:
    noun = _NOUNS.get(kind, f"{kind.__name__} step")
    if dropped == 1:
        return (f"1 more {noun} waits for the next iteration: at most {limit} run in one "
                f"iteration")
    return (f"{dropped} more {noun}s wait for the next iteration: at most {limit} run in one "
            f"iteration")


def one_clb_step(steps: Sequence[Step],
                 node_changes: Iterable[NodeChange] = ()) -> tuple[list[Step], list[str]]:
    """
    The steps with at most one mutating step per Cloud Load Balancer, and a
    sentence for each kind of change that waits: the winner is chosen as
    Note [Order of load-balancer changes] says, and a removal takes at most
    ``MAX_NODES_PER_DELETE`` nodes. Expects merged steps: at most one removal
    and one addition per CLB. ``node_changes`` are more ChangeCLBNode steps,
    by their fields, after ``steps``. A scale-down brings a node change per
    server and CLB, thousands of them: they are looked through without a
    sort, and only the one that runs on each CLB is built.
    """
    changes: dict[str, list[NodeChange]] = defaultdict(list)
    merged: dict[str, list[Step]] = defaultdict(list)
    kept: list[Step] = []
    for step in steps:
        if isinstance(step, ChangeCLBNode):
            changes[step.lb_id].append((step.lb_id, step.node_id, step.condition, step.weight,
                                        step.type))
        elif isinstance(step, (AddNodesToCLB, RemoveNodesFromCLB)):
            merged[step.lb_id].append(step)
        else:
            kept.append(step)
    for change in node_changes:
        changes[change[0]].append(change)
    postponed: list[str] = []
    for lb_id in sorted(changes.keys() | merged.keys()):
        lb_changes = changes.get(lb_id, [])
        contenders = merged.get(lb_id, [])
        if lb_changes:
            contenders = [*contenders, ChangeCLBNode(*_first_change(lb_changes))]
        first, *rest = sorted(contenders, key=_clb_step_rank)
        if isinstance(first, RemoveNodesFromCLB) and len(first.node_ids) > MAX_NODES_PER_DELETE:
            first, more = _first_removals(first)
            more_nodes, verb = (("1 more node", "waits") if len(more.node_ids) == 1
                                else (f"{len(more.node_ids)} more nodes", "wait"))
            postponed.append(f"{more_nodes} to remove from Cloud Load Balancer {lb_id} {verb} "
                             f"for the next iteration: a Cloud Load Balancer removes at most "
                             f"{MAX_NODES_PER_DELETE} nodes at a time")
        kept.append(first)
        postponed.extend(_waiting(lb_id, [step for step in rest if type(step) is not ChangeCLBNode],
                                  len(lb_changes) - (type(first) is ChangeCLBNode)))
    return kept, postponed


def _first_change(changes: Sequence[NodeChange]) -> NodeChange:
    """The change that ``_clb_step_rank`` puts first (the first given among equals):
    the start of a drain before any other change, then the smallest node number."""
    draining = NodeCondition.DRAINING  # once: each read from the Enum class costs a call
    drains = [change for change in changes if change[2] is draining]
    among = drains or changes
    ids = [change[1] for change in among]
    shortest = min(map(len, ids))
    return among[ids.index(min(node_id for node_id in ids if len(node_id) == shortest))]


def _clb_step_rank(step: Step) -> tuple[int, tuple[int, str]]:
    """Where a change of one CLB comes in Note [Order of load-balancer changes]."""
    if isinstance(step, RemoveNodesFromCLB):
        return (0 if step.node_ids - step.quiet else 3, (0, ""))
    if isinstance(step, AddNodesToCLB):
        return (1, (0, ""))
    assert isinstance(step, ChangeCLBNode)
    return (2 if step.condition is NodeCondition.DRAINING else 4, _by_number(step.node_id))


def _by_number(node_id: str) -> tuple[int, str]:
    """A key that sorts node ids (digits) by their number."""
    return (len(node_id), node_id)


def _first_removals(step: RemoveNodesFromCLB) -> tuple[RemoveNodesFromCLB, RemoveNodesFromCLB]:
    """The removal of the first ``MAX_NODES_PER_DELETE`` nodes (those that take new
    connections first, then by number) and the removal of the others."""
    # As sorted by (quiet, _by_number), without a key function called per node
    # (a scale-down removes thousands at once): each part by id, then (stable)
    # by length.
    urgent, quiet = sorted(step.node_ids - step.quiet), sorted(step.node_ids & step.quiet)
    urgent.sort(key=len)
    quiet.sort(key=len)
    ordered = urgent + quiet
    now, later = ordered[:MAX_NODES_PER_DELETE], ordered[MAX_NODES_PER_DELETE:]
    return (RemoveNodesFromCLB(step.lb_id, now, step.quiet.intersection(now)),
            RemoveNodesFromCLB(step.lb_id, later, step.quiet.intersection(later)))


def _waiting(lb_id: str, dropped: Sequence[Step], changes: int) -> list[str]:
    """Sentences for the steps on one CLB that wait for a later iteration: the
    merged ones ``dropped``, in order, and ``changes`` node changes."""
    reasons = []
    after = "waits for the next iteration: a Cloud Load Balancer takes one change at a time"
    for step in dropped:
        if isinstance(step, RemoveNodesFromCLB):
            reasons.append(f"removing {_nodes(len(step.node_ids))} from Cloud Load "
                           f"Balancer {lb_id} {after}")
        elif isinstance(step, AddNodesToCLB):
            reasons.append(f"adding {_nodes(len(step.address_configs))} to Cloud Load "
                           f"Balancer {lb_id} {after}")
    if changes:
        reasons.append(f"changing {_nodes(changes)} of Cloud Load Balancer {lb_id} "
                       f"{after}")
    return reasons


def _nodes(count: int) -> str:
    return "1 node" if count == 1 else f"{count} nodes"
