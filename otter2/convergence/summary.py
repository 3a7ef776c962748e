"""
What an iteration did, in words: the changes the cloud accepted, counted by
kind ("created 2 servers", "added 3 nodes to Cloud Load Balancer 5"), for the
converger's log line and the group's owner.

test-case-name: tests.convergence.test_summary
"""

from __future__ import annotations

from collections.abc import Iterable

from otter2.convergence.steps import (
    AddNodesToCLB,
    BulkAddToRCv3,
    BulkRemoveFromRCv3,
    ChangeCLBNode,
    CheckStack,
    CreateServer,
    CreateStack,
    DeleteServer,
    DeleteStack,
    RecordLoadBalancers,
    RemoveNodesFromCLB,
    SetMetadataItemOnServer,
    Step,
    UpdateStack,
)
from otter2.model.cloud import NodeCondition
from otter2.model.outcome import StepOutcome


def _plural(count: int, noun: str) -> str:
    return f"1 {noun}" if count == 1 else f"{count} {noun}s"


def _phrase(step: Step) -> tuple[str, str, int] | None:
    """
    What a step that was done did: a phrase with a hole for the counted
    noun, the noun, and how many of it the step stands for (None for steps
    without I/O).
    """
    if isinstance(step, CreateServer):
        return "created {}", "server", 1
    if isinstance(step, DeleteServer):
        return "deleted {}", "server", 1
    if isinstance(step, SetMetadataItemOnServer):
        return "marked {} for draining", "server", 1
    if isinstance(step, RecordLoadBalancers):
        return "recorded the load balancers of {}", "server", 1
    if isinstance(step, AddNodesToCLB):
        return (f"added {{}} to Cloud Load Balancer {step.lb_id}", "node",
                len(step.address_configs))
    if isinstance(step, RemoveNodesFromCLB):
        return f"removed {{}} from Cloud Load Balancer {step.lb_id}", "node", len(step.node_ids)
    if isinstance(step, ChangeCLBNode):
        verb = "started draining" if step.condition is NodeCondition.DRAINING else "changed"
        return f"{verb} {{}} of Cloud Load Balancer {step.lb_id}", "node", 1
    if isinstance(step, CreateStack):
        return "created {}", "stack", 1
    if isinstance(step, CheckStack):
        return "checked {}", "stack", 1
    if isinstance(step, UpdateStack):
        return ("updated {}" if step.finishing else "repaired {}"), "stack", 1
    if isinstance(step, DeleteStack):
        return "deleted {}", "stack", 1
    if isinstance(step, BulkAddToRCv3):
        return "added {} to RackConnect v3 pools", "server", len(step.lb_node_pairs)
    if isinstance(step, BulkRemoveFromRCv3):
        return "removed {} from RackConnect v3 pools", "server", len(step.lb_node_pairs)
    return None


def summarize(results: Iterable[tuple[Step, StepOutcome]]) -> list[str]:
    """
    One phrase per kind of change the cloud accepted, in the order first
    done, with the count (``done`` outcomes only; waits and failures are
    said by the reasons).
    """
    counts: dict[tuple[str, str], int] = {}
    for step, outcome in results:
        described = _phrase(step)
        if described is None or not outcome.done:
            continue
        phrase, noun, count = described
        counts[(phrase, noun)] = counts.get((phrase, noun), 0) + count
    return [phrase.format(_plural(count, noun)) for (phrase, noun), count in counts.items()]
