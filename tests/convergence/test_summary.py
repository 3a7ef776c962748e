"""
Tests for otter2.convergence.summary: what an iteration did, in words.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from otter2.convergence.steps import (
    AddNodesToCLB,
    BulkAddToRCv3,
    ChangeCLBNode,
    CheckStack,
    CreateServer,
    CreateStack,
    DeleteServer,
    DeleteStack,
    RemoveNodesFromCLB,
    Step,
    UpdateStack,
)
from otter2.convergence.summary import summarize
from otter2.model.cloud import CLBDescription, NodeCondition, NodeType
from otter2.model.outcome import StepOutcome, Verdict

DONE = StepOutcome(Verdict.RETRY, ["looking again"], done=True)
FAILED = StepOutcome(Verdict.RETRY, ["Cloud Servers failed (HTTP 500)"])
CREATE = CreateServer({"server": {"name": "web"}})


class SummarizeTests(SynchronousTestCase):
    """Each kind of change the cloud accepted is counted once, in words."""

    def test_counts_by_kind(self) -> None:
        """Two creations, a deletion and node changes read as a person would say them."""
        desc = CLBDescription("5", 80)
        results: list[tuple[Step, StepOutcome]] = [
            (CREATE, DONE), (CREATE, DONE), (DeleteServer("s1"), DONE),
            (AddNodesToCLB("5", {("10.0.0.1", desc), ("10.0.0.2", desc)}), DONE),
            (RemoveNodesFromCLB("5", {"1"}), StepOutcome(Verdict.SUCCESS, done=True)),
            (ChangeCLBNode("5", "2", NodeCondition.DRAINING, 1, NodeType.PRIMARY), DONE),
            (BulkAddToRCv3({("p", "s1")}), DONE),
        ]
        self.assertEqual(summarize(results), [
            "created 2 servers", "deleted 1 server", "added 2 nodes to Cloud Load Balancer 5",
            "removed 1 node from Cloud Load Balancer 5",
            "started draining 1 node of Cloud Load Balancer 5",
            "added 1 server to RackConnect v3 pools"])

    def test_stack_phrases(self) -> None:
        """Stack steps read as stacks created, checked, repaired, updated and deleted."""
        config = {"template": {}, "tags": "autoscale_g1"}
        finished = StepOutcome(Verdict.SUCCESS, done=True)
        results: list[tuple[Step, StepOutcome]] = [
            (CreateStack("g1", config), DONE), (CreateStack("g1", config), DONE),
            (CheckStack("st1", "a"), DONE), (CheckStack("st2", "b"), DONE),
            (CheckStack("st3", "c"), DONE), (UpdateStack("st4", "d", config), DONE),
            (UpdateStack("st5", "e", config, finishing=True), finished),
            (UpdateStack("st6", "f", config, finishing=True), finished),
            (DeleteStack("st7", "g"), DONE),
        ]
        self.assertEqual(summarize(results), [
            "created 2 stacks", "checked 3 stacks", "repaired 1 stack", "updated 2 stacks",
            "deleted 1 stack"])

    def test_stack_steps_not_done(self) -> None:
        """A stack step Heat refused, or a stack found gone already, is not said."""
        self.assertEqual(summarize([
            (CreateStack("g1", {}), StepOutcome(Verdict.FAILURE, ["invalid"])),
            (DeleteStack("st1", "a"), StepOutcome(Verdict.SUCCESS)),
            (CheckStack("st2", "b"), FAILED)]), [])

    def test_failed_steps_are_not_counted(self) -> None:
        """A step the cloud refused is not said to be done."""
        self.assertEqual(summarize([(CREATE, FAILED), (CREATE, DONE)]), ["created 1 server"])

    def test_nothing_done(self) -> None:
        """No step done, no phrase."""
        self.assertEqual(summarize([]), [])
