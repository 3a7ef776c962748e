"""
Tests for otter2.convergence.executing: the requests each step makes, in
order, with canned answers, and the outcomes it reads from them.
"""

from collections.abc import Callable
from typing import Any, cast

from effect.testing import parallel_sequence, perform_sequence
from twisted.internet.error import ConnectionRefusedError
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud import clb, heat, nova, rcv3
from otter2.cloud.request import NoSuchEndpoint, Response
from otter2.convergence.executing import execute_steps, step_effect, worst_outcome
from otter2.convergence.steps import (
    AddNodesToCLB,
    BulkAddToRCv3,
    BulkRemoveFromRCv3,
    ChangeCLBNode,
    CheckStack,
    ConvergeLater,
    CreateServer,
    CreateStack,
    DeleteServer,
    DeleteStack,
    FailConvergence,
    RemoveNodesFromCLB,
    SetMetadataItemOnServer,
    Step,
    UpdateStack,
)
from otter2.intents import RandomHex
from otter2.model.cloud import CLBDescription, NodeCondition, NodeType
from otter2.model.outcome import StepOutcome, Verdict


def answer(status: int, body: Any = None) -> Callable[[object], Response]:
    return lambda _: Response(status, body)


def raise_(error: Exception) -> Callable[[object], Any]:
    def fail(_: object) -> Any:
        raise error
    return fail


def perform(sequence: list, step: Step) -> StepOutcome:
    outcome: StepOutcome = perform_sequence(sequence, step_effect(step, "t1"))
    return outcome


CONFIG = {"server": {"name": "web", "flavorRef": "2"}}
NAMED = {"server": {"name": "web-as0a1b2c3d", "flavorRef": "2"}}


class CreateServerTests(SynchronousTestCase):
    """CreateServer: a new name, then POST servers."""

    def test_accepted(self) -> None:
        """The server is named from a random suffix and posted; 202 is RETRY, and
        names the server made."""
        outcome = perform([
            (RandomHex(4), lambda _: "0a1b2c3d"),
            (nova.create_server_request("t1", NAMED), answer(202, {"server": {"id": "s9"}})),
        ], CreateServer(CONFIG))
        self.assertEqual(outcome, StepOutcome(Verdict.RETRY, [
            "waiting for server s9 to become active"], done=True, server_id="s9"))

    def test_quota(self) -> None:
        """A quota 403 is FAILURE with Nova's message."""
        outcome = perform([
            (RandomHex(4), lambda _: "0a1b2c3d"),
            (nova.create_server_request("t1", NAMED), answer(403, {"forbidden": {
                "message": "Quota exceeded for instances: Requested 1, but already used 10 of "
                           "10 instances"}})),
        ], CreateServer(CONFIG))
        self.assertEqual(outcome.verdict, Verdict.FAILURE)
        self.assertTrue(outcome.reasons[0].startswith("Servers cannot be created: Quota"))

    def test_unreachable(self) -> None:
        """A transport failure is RETRY naming the service and the error."""
        outcome = perform([
            (RandomHex(4), lambda _: "0a1b2c3d"),
            (nova.create_server_request("t1", NAMED), raise_(ConnectionRefusedError())),
        ], CreateServer(CONFIG))
        self.assertEqual(outcome.verdict, Verdict.RETRY)
        self.assertTrue(outcome.reasons[0].startswith(
            "Could not reach Cloud Servers: ConnectionRefusedError: Connection was refused"))

    def test_no_endpoint(self) -> None:
        """A catalog without the service is FAILURE with the §3.5 message."""
        outcome = perform([
            (RandomHex(4), lambda _: "0a1b2c3d"),
            (nova.create_server_request("t1", NAMED),
             raise_(NoSuchEndpoint("cloudServersOpenStack", "ORD"))),
        ], CreateServer(CONFIG))
        self.assertEqual(outcome, StepOutcome(Verdict.FAILURE, [
            "Could not locate service cloudServersOpenStack in the service catalog. Please "
            "check if your account is still active."]))


class DeleteServerTests(SynchronousTestCase):
    """DeleteServer: DELETE, then a GET to confirm a 204."""

    def test_confirmed_by_404(self) -> None:
        """A 204 is checked with a GET; its 404 confirms (RETRY to look again)."""
        outcome = perform([
            (nova.delete_server_request("t1", "s1"), answer(204)),
            (nova.get_server_request("t1", "s1"), answer(404)),
        ], DeleteServer("s1"))
        self.assertEqual(outcome, nova.deleted("s1"))

    def test_confirmed_by_task_state(self) -> None:
        """A GET showing a deleting task confirms the deletion."""
        outcome = perform([
            (nova.delete_server_request("t1", "s1"), answer(204)),
            (nova.get_server_request("t1", "s1"), answer(200, {"server": {
                "status": "ACTIVE", "OS-EXT-STS:task_state": "deleting"}})),
        ], DeleteServer("s1"))
        self.assertEqual(outcome, nova.deleted("s1"))

    def test_not_confirmed(self) -> None:
        """A GET showing the server untouched is RETRY."""
        outcome = perform([
            (nova.delete_server_request("t1", "s1"), answer(204)),
            (nova.get_server_request("t1", "s1"), answer(200, {"server": {"status": "ACTIVE"}})),
        ], DeleteServer("s1"))
        self.assertEqual(outcome.verdict, Verdict.RETRY)
        self.assertNotEqual(outcome, nova.deleted("s1"))

    def test_already_gone(self) -> None:
        """A 404 is done without a GET."""
        self.assertEqual(perform([(nova.delete_server_request("t1", "s1"), answer(404))],
                                 DeleteServer("s1")), nova.deleted("s1"))

    def test_errors(self) -> None:
        """Errors, 4xx included, are RETRY: a delete is never a group error."""
        for status in [403, 500]:
            outcome = perform([(nova.delete_server_request("t1", "s1"), answer(status))],
                              DeleteServer("s1"))
            self.assertEqual(outcome.verdict, Verdict.RETRY)


class SetMetadataItemTests(SynchronousTestCase):
    """SetMetadataItemOnServer: PUT the item."""

    def test_ok(self) -> None:
        """200 is SUCCESS."""
        step = SetMetadataItemOnServer("s1", "rax:autoscale:server:state", "DRAINING")
        request = nova.set_metadata_item_request("t1", "s1", "rax:autoscale:server:state",
                                                 "DRAINING")
        self.assertEqual(perform([(request, answer(200))], step), StepOutcome(Verdict.SUCCESS, done=True))

    def test_vanished(self) -> None:
        """A vanished server is RETRY."""
        step = SetMetadataItemOnServer("s1", "k", "v")
        request = nova.set_metadata_item_request("t1", "s1", "k", "v")
        outcome = perform([(request, answer(404, {"itemNotFound": {"message": "gone"}}))], step)
        self.assertEqual(outcome.verdict, Verdict.RETRY)


ADDS = [("10.0.0.1", CLBDescription("5", 80))]


class AddNodesTests(SynchronousTestCase):
    """AddNodesToCLB: POST the nodes."""

    def check(self, response: Response) -> StepOutcome:
        return perform([(clb.add_nodes_request("t1", "5", ADDS), lambda _: response)],
                        AddNodesToCLB("5", ADDS))

    def test_accepted(self) -> None:
        """202 is RETRY."""
        self.assertEqual(self.check(Response(202)).verdict, Verdict.RETRY)

    def test_error_classes(self) -> None:
        """Duplicates (even at 413) and busy LBs are RETRY; a missing LB is FAILURE."""
        duplicate = "Duplicate nodes detected. One or more nodes already configured"
        self.assertEqual(self.check(Response(413, {"message": duplicate})).verdict,
                         Verdict.RETRY)
        self.assertEqual(self.check(Response(422, {"message": "Load Balancer is not ACTIVE"}))
                         .verdict, Verdict.RETRY)
        self.assertEqual(self.check(Response(404, {"message": "Load balancer not found"})),
                         StepOutcome(Verdict.FAILURE, ["Cloud Load Balancer does not exist: 5"]))
        self.assertEqual(self.check(Response(413, {
            "message": "Nodes must not exceed 25 per load balancer"})).verdict, Verdict.FAILURE)


class RemoveNodesTests(SynchronousTestCase):
    """RemoveNodesFromCLB: DELETE at most ten nodes per call."""

    def test_removed(self) -> None:
        """202 is SUCCESS."""
        outcome = perform([(clb.remove_nodes_request("t1", "5", ["2", "10"]), answer(202))],
                          RemoveNodesFromCLB("5", ["10", "2"]))
        self.assertEqual(outcome, StepOutcome(Verdict.SUCCESS, done=True))

    def test_more_than_ten(self) -> None:
        """The first ten are removed and the step is RETRY for the rest."""
        ids = [str(i) for i in range(1, 13)]
        outcome = perform([(clb.remove_nodes_request("t1", "5", ids[:10]), answer(202))],
                          RemoveNodesFromCLB("5", ids))
        self.assertEqual(outcome, StepOutcome(Verdict.RETRY, [
            "removed 10 nodes from Cloud Load Balancer 5; 2 more to remove"], done=True))

    def test_not_in_lb(self) -> None:
        """Ids CLB says are not on the LB are dropped and the call made again."""
        outcome = perform([
            (clb.remove_nodes_request("t1", "5", ["1", "2", "3"]), answer(400, {
                "validationErrors": {"messages": [
                    "Node ids 1,3 are not a part of your load balancer"]}})),
            (clb.remove_nodes_request("t1", "5", ["2"]), answer(202)),
        ], RemoveNodesFromCLB("5", ["1", "2", "3"]))
        self.assertEqual(outcome, StepOutcome(Verdict.SUCCESS, done=True))

    def test_none_in_lb(self) -> None:
        """When no id is on the LB, there is nothing left to do."""
        outcome = perform([
            (clb.remove_nodes_request("t1", "5", ["1"]), answer(400, {
                "validationErrors": {"messages": [
                    "Node ids 1 are not a part of your load balancer"]}})),
        ], RemoveNodesFromCLB("5", ["1"]))
        self.assertEqual(outcome, StepOutcome(Verdict.SUCCESS, done=True))

    def test_error_classes(self) -> None:
        """A gone LB is SUCCESS, a busy one RETRY, a refusal FAILURE."""
        cases = [(answer(404, {"message": "Load balancer not found"}), Verdict.SUCCESS),
                 (answer(422, {"message": "Load Balancer '5' has a status of "
                                          "'PENDING_UPDATE' and is considered immutable"}),
                  Verdict.RETRY),
                 (answer(403, {"message": "no"}), Verdict.FAILURE)]
        for respond, verdict in cases:
            outcome = perform([(clb.remove_nodes_request("t1", "5", ["1"]), respond)],
                              RemoveNodesFromCLB("5", ["1"]))
            self.assertEqual(outcome.verdict, verdict)


class ChangeNodeTests(SynchronousTestCase):
    """ChangeCLBNode: PUT the node."""

    def test_classes(self) -> None:
        """202 is RETRY; a missing node is FAILURE."""
        step = ChangeCLBNode("5", "12", NodeCondition.DRAINING, 1, NodeType.PRIMARY)
        request = clb.change_node_request("t1", "5", "12", NodeCondition.DRAINING, 1,
                                          NodeType.PRIMARY)
        self.assertEqual(perform([(request, answer(202))], step).verdict, Verdict.RETRY)
        self.assertEqual(perform([(request, answer(404, {
            "message": "Node with id #12 not found for loadbalancer #5"}))], step),
            StepOutcome(Verdict.FAILURE, ["Node 12 of Cloud Load Balancer 5 does not exist"]))


PAIRS = [("p1", "s1"), ("p2", "s2")]


class BulkRCv3Tests(SynchronousTestCase):
    """BulkAddToRCv3 and BulkRemoveFromRCv3: one call, again for what is left."""

    def test_add(self) -> None:
        """201 is RETRY."""
        self.assertEqual(perform([(rcv3.bulk_add_request("t1", PAIRS), answer(201))],
                                 BulkAddToRCv3(PAIRS)), rcv3.added())

    def test_add_again_without_done_pairs(self) -> None:
        """A 409 naming pairs already added makes the call again for the others."""
        outcome = perform([
            (rcv3.bulk_add_request("t1", PAIRS), answer(409, {"errors": [
                "Cloud Server s1 is already a member of Load Balancer Pool p1"]})),
            (rcv3.bulk_add_request("t1", [("p2", "s2")]), answer(201)),
        ], BulkAddToRCv3(PAIRS))
        self.assertEqual(outcome, rcv3.added())

    def test_add_all_done(self) -> None:
        """When every pair was already added, no call follows."""
        outcome = perform([
            (rcv3.bulk_add_request("t1", [("p1", "s1")]), answer(409, {"errors": [
                "Cloud Server s1 is already a member of Load Balancer Pool p1"]})),
        ], BulkAddToRCv3([("p1", "s1")]))
        self.assertEqual(outcome, rcv3.added())

    def test_add_inactive_pool(self) -> None:
        """An inactive pool is FAILURE."""
        outcome = perform([(rcv3.bulk_add_request("t1", PAIRS), answer(409, {"errors": [
            "Load Balancer Pool p1 is not in an ACTIVE state"]}))], BulkAddToRCv3(PAIRS))
        self.assertEqual(outcome.verdict, Verdict.FAILURE)

    def test_remove(self) -> None:
        """204 is RETRY; a 409 naming a missing pool drops its pairs first."""
        outcome = perform([
            (rcv3.bulk_remove_request("t1", PAIRS), answer(409, {"errors": [
                "Load Balancer Pool p2 does not exist"]})),
            (rcv3.bulk_remove_request("t1", [("p1", "s1")]), answer(204)),
        ], BulkRemoveFromRCv3(PAIRS))
        self.assertEqual(outcome, rcv3.removed())


STACK_CONFIG = {"template": {"heat_template_version": "2015-04-30"}, "tags": "autoscale_g1"}
NAMED_STACK = {**STACK_CONFIG, "stack_name": "autoscale_g1_0a1b2c3d4e5f6071"}
HEAT_400 = {"code": 400, "title": "Bad Request", "error": {
    "message": "The template version is invalid", "type": "InvalidTemplateVersion"}}


class CreateStackTests(SynchronousTestCase):
    """CreateStack: a new name from eight random bytes, then POST stacks."""

    def test_created(self) -> None:
        """The body is named from a random suffix and posted; 201 is RETRY, and names
        the stack made."""
        outcome = perform([
            (RandomHex(8), lambda _: "0a1b2c3d4e5f6071"),
            (heat.create_stack_request("t1", NAMED_STACK),
             answer(201, {"stack": {"id": "st9", "links": []}})),
        ], CreateStack("g1", STACK_CONFIG))
        self.assertEqual(outcome, StepOutcome(Verdict.RETRY, [
            "waiting for stack st9 to be created"], done=True, server_id="st9"))

    def test_invalid_template(self) -> None:
        """Heat refusing the template is FAILURE with Heat's message."""
        outcome = perform([
            (RandomHex(8), lambda _: "0a1b2c3d4e5f6071"),
            (heat.create_stack_request("t1", NAMED_STACK), answer(400, HEAT_400)),
        ], CreateStack("g1", STACK_CONFIG))
        self.assertEqual(outcome, StepOutcome(Verdict.FAILURE, [
            "Stack launch configuration is invalid: The template version is invalid "
            "(HTTP 400)"]))

    def test_unreachable(self) -> None:
        """A transport failure is RETRY naming Cloud Orchestration."""
        outcome = perform([
            (RandomHex(8), lambda _: "0a1b2c3d4e5f6071"),
            (heat.create_stack_request("t1", NAMED_STACK), raise_(ConnectionRefusedError())),
        ], CreateStack("g1", STACK_CONFIG))
        self.assertEqual(outcome.verdict, Verdict.RETRY)
        self.assertTrue(outcome.reasons[0].startswith(
            "Could not reach Cloud Orchestration: ConnectionRefusedError"))

    def test_no_endpoint(self) -> None:
        """A catalog without Heat is FAILURE with the §3.5 message."""
        outcome = perform([
            (RandomHex(8), lambda _: "0a1b2c3d4e5f6071"),
            (heat.create_stack_request("t1", NAMED_STACK),
             raise_(NoSuchEndpoint("cloudOrchestration", "ORD"))),
        ], CreateStack("g1", STACK_CONFIG))
        self.assertEqual(outcome, StepOutcome(Verdict.FAILURE, [
            "Could not locate service cloudOrchestration in the service catalog. Please "
            "check if your account is still active."]))


class CheckStackTests(SynchronousTestCase):
    """CheckStack: POST the check action."""

    def test_checked(self) -> None:
        """A 200 is RETRY: wait for the check to end."""
        outcome = perform([
            (heat.check_stack_request("t1", "autoscale_g1_ab", "st1"), answer(200)),
        ], CheckStack("st1", "autoscale_g1_ab"))
        self.assertEqual(outcome, StepOutcome(Verdict.RETRY, [
            "waiting for stack st1 to be checked"], done=True))

    def test_busy(self) -> None:
        """A 409 is RETRY, not done."""
        outcome = perform([
            (heat.check_stack_request("t1", "autoscale_g1_ab", "st1"), answer(409)),
        ], CheckStack("st1", "autoscale_g1_ab"))
        self.assertEqual((outcome.verdict, outcome.done), (Verdict.RETRY, False))


class UpdateStackTests(SynchronousTestCase):
    """UpdateStack: PUT the group's body."""

    def request(self) -> Any:
        return heat.update_stack_request("t1", "autoscale_g1_ab", "st1", STACK_CONFIG)

    def test_finishing(self) -> None:
        """A 202 to the update that ends a check cycle is SUCCESS."""
        outcome = perform([(self.request(), answer(202))],
                          UpdateStack("st1", "autoscale_g1_ab", STACK_CONFIG, finishing=True))
        self.assertEqual(outcome, StepOutcome(Verdict.SUCCESS, done=True))

    def test_repair(self) -> None:
        """A 202 to a repair is RETRY: wait for the update."""
        outcome = perform([(self.request(), answer(202))],
                          UpdateStack("st1", "autoscale_g1_ab", STACK_CONFIG))
        self.assertEqual(outcome, StepOutcome(Verdict.RETRY, [
            "waiting for stack st1 to be updated"], done=True))

    def test_invalid_template(self) -> None:
        """Heat refusing the template is FAILURE with Heat's message."""
        outcome = perform([(self.request(), answer(400, HEAT_400))],
                          UpdateStack("st1", "autoscale_g1_ab", STACK_CONFIG, finishing=True))
        self.assertEqual(outcome.verdict, Verdict.FAILURE)
        self.assertIn("The template version is invalid", outcome.reasons[0])


class DeleteStackTests(SynchronousTestCase):
    """DeleteStack: DELETE the stack, once."""

    def test_deleted(self) -> None:
        """A 204 is RETRY: wait for the stack to be gone."""
        outcome = perform([
            (heat.delete_stack_request("t1", "autoscale_g1_ab", "st1"), answer(204)),
        ], DeleteStack("st1", "autoscale_g1_ab"))
        self.assertEqual(outcome, StepOutcome(Verdict.RETRY, [
            "waiting for stack st1 to be deleted"], done=True))

    def test_gone(self) -> None:
        """A 404 is SUCCESS: nothing is left to delete."""
        outcome = perform([
            (heat.delete_stack_request("t1", "autoscale_g1_ab", "st1"), answer(404)),
        ], DeleteStack("st1", "autoscale_g1_ab"))
        self.assertEqual(outcome, StepOutcome(Verdict.SUCCESS))

    def test_errors(self) -> None:
        """Errors, 4xx included, are RETRY: a delete is never a group error."""
        for status in [400, 403, 409, 500]:
            outcome = perform([
                (heat.delete_stack_request("t1", "autoscale_g1_ab", "st1"), answer(status)),
            ], DeleteStack("st1", "autoscale_g1_ab"))
            self.assertEqual(outcome.verdict, Verdict.RETRY)


class NoIOStepTests(SynchronousTestCase):
    """ConvergeLater and FailConvergence perform nothing."""

    def test_converge_later(self) -> None:
        """ConvergeLater is RETRY, or LIMITED_RETRY when limited, with its reasons."""
        self.assertEqual(perform([], ConvergeLater(["waiting for a node"])),
                         StepOutcome(Verdict.RETRY, ["waiting for a node"]))
        self.assertEqual(perform([], ConvergeLater(["x"], limited=True)).verdict,
                         Verdict.LIMITED_RETRY)

    def test_fail(self) -> None:
        """FailConvergence is FAILURE with its reasons."""
        self.assertEqual(perform([], FailConvergence(["Draining information is missing"])),
                         StepOutcome(Verdict.FAILURE, ["Draining information is missing"]))

    def test_unknown_step(self) -> None:
        """A step otter2 cannot perform is RETRY with a readable reason, not an exception."""
        outcome = perform([], cast(Step, "not a step"))
        self.assertEqual(outcome.verdict, Verdict.RETRY)
        self.assertIn("does not know how to perform", outcome.reasons[0])


class ExecuteStepsTests(SynchronousTestCase):
    """All steps at once, and the worst of their outcomes."""

    def test_parallel(self) -> None:
        """Every step runs in parallel; each is paired with its outcome."""
        steps: list[Step] = [DeleteServer("s1"), ConvergeLater(["later"])]
        results = perform_sequence([parallel_sequence([
            [(nova.delete_server_request("t1", "s1"), answer(404))],
            [],
        ])], execute_steps(steps, "t1"))
        self.assertEqual(results, [(steps[0], nova.deleted("s1")),
                                   (steps[1], StepOutcome(Verdict.RETRY, ["later"]))])

    def test_nothing(self) -> None:
        """No steps perform nothing."""
        self.assertEqual(perform_sequence([], execute_steps([], "t1")), [])

    def test_worst(self) -> None:
        """The most severe verdict wins, with its reasons sorted and without repeats."""
        self.assertEqual(worst_outcome([
            StepOutcome(Verdict.RETRY, ["r"]), StepOutcome(Verdict.FAILURE, ["b", "a"]),
            StepOutcome(Verdict.SUCCESS), StepOutcome(Verdict.FAILURE, ["a"])]),
            StepOutcome(Verdict.FAILURE, ["a", "b"]))
        self.assertEqual(worst_outcome([StepOutcome(Verdict.LIMITED_RETRY, ["x"]),
                                        StepOutcome(Verdict.SUCCESS)]).verdict,
                         Verdict.LIMITED_RETRY)
        self.assertEqual(worst_outcome([]), StepOutcome(Verdict.SUCCESS))
