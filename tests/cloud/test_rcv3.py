"""
Tests for otter2.cloud.rcv3: requests, pool members, and the reading of bulk
answers, 409 conflicts included (spec §3.4).
"""


from pyrsistent import thaw
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud import rcv3
from otter2.cloud.rcv3 import Reissue
from otter2.cloud.request import Response
from otter2.model.cloud import RCv3Description, RCv3Node
from otter2.model.outcome import StepOutcome, Verdict

PAIRS = [("Pool-A", "s1"), ("pool-a", "s2"), ("pool-b", "s1")]


def conflict(*errors: str) -> Response:
    return Response(409, {"errors": list(errors)})


def outcome_of(result: StepOutcome | Reissue) -> StepOutcome:
    """``result``, which must be a `StepOutcome` (not a `Reissue`) for the test to go on."""
    if not isinstance(result, StepOutcome):
        raise AssertionError(f"a StepOutcome was expected, not {result!r}")
    return result


class RequestTests(SynchronousTestCase):
    """The bulk requests and listings."""

    def test_bulk_body(self) -> None:
        """Bulk calls send sorted pairs with lower-cased pool ids."""
        request = rcv3.bulk_add_request("t1", [("P2", "s1"), ("p1", "s2")])
        self.assertEqual((request.method, request.path), ("POST", "load_balancer_pools/nodes"))
        self.assertEqual(thaw(request.json), [
            {"cloud_server": {"id": "s2"}, "load_balancer_pool": {"id": "p1"}},
            {"cloud_server": {"id": "s1"}, "load_balancer_pool": {"id": "p2"}}])
        self.assertEqual(rcv3.bulk_remove_request("t1", [("p1", "s2")]).method, "DELETE")

    def test_listings(self) -> None:
        """Pools and their members are read into ids and RCv3Node values."""
        self.assertEqual(rcv3.list_pool_nodes_request("t1", "p1").path,
                         "load_balancer_pools/p1/nodes")
        self.assertEqual(rcv3.parse_pool_ids([{"id": "p1", "name": "web"}]), ["p1"])
        self.assertEqual(
            rcv3.parse_pool_nodes("P1", [{"id": "n1", "cloud_server": {"id": "s1"},
                                          "load_balancer_pool": {"id": "P1"}}]),
            [RCv3Node("n1", RCv3Description("p1"), "s1")])


    def test_listed_pool_ids(self) -> None:
        """A listing answered 200 gives its pool ids lower-cased."""
        answer = Response(200, [{"id": "P1", "status": "ACTIVE"}, {"id": "p2"}])
        self.assertEqual(rcv3.listed_pool_ids(answer), frozenset({"p1", "p2"}))
        self.assertEqual(rcv3.listed_pool_ids(Response(200, [])), frozenset())

    def test_unlisted(self) -> None:
        """Any other answer, or one that cannot be read, lists nothing."""
        for answer in [Response(500, {"errors": ["Internal server error"]}),
                       Response(404, [{"id": "p1"}]), Response(200, {"pools": []}),
                       Response(200, None), Response(200, [{"name": "web"}]),
                       Response(200, "text")]:
            self.assertIsNone(rcv3.listed_pool_ids(answer), answer)


class BulkAddTests(SynchronousTestCase):
    """What an answer to a bulk add means."""

    def test_created(self) -> None:
        """201 is RETRY: look again."""
        self.assertEqual(rcv3.classify_bulk_add(PAIRS, Response(201)), rcv3.added())

    def test_already_member(self) -> None:
        """Pairs already added are dropped (pool compared lower-cased) and the call made again."""
        self.assertEqual(rcv3.classify_bulk_add(PAIRS, conflict(
            "Cloud Server s1 is already a member of Load Balancer Pool pool-a")),
            Reissue([("pool-a", "s2"), ("pool-b", "s1")]))

    def test_all_already_members(self) -> None:
        """When every pair was already added, nothing is left to do."""
        self.assertEqual(rcv3.classify_bulk_add([("p", "s1")], conflict(
            "Cloud Server s1 is already a member of Load Balancer Pool p")), Reissue([]))

    def test_pool_inactive_or_missing(self) -> None:
        """An inactive or missing pool is FAILURE with readable reasons."""
        self.assertEqual(rcv3.classify_bulk_add(PAIRS, conflict(
            "Load Balancer Pool pool-b is not in an ACTIVE state",
            "Load Balancer Pool pool-a does not exist",
            "Cloud Server s1 is already a member of Load Balancer Pool pool-a")),
            StepOutcome(Verdict.FAILURE, [
                "RackConnect v3 load balancer pool pool-a does not exist",
                "RackConnect v3 load balancer pool pool-b is not active"]))

    def test_unprocessable_only(self) -> None:
        """Only unprocessable servers is RETRY."""
        outcome = rcv3.classify_bulk_add(PAIRS, conflict("Cloud Server s2 is unprocessable"))
        self.assertEqual(outcome, StepOutcome(Verdict.RETRY, [
            "RackConnect v3 cannot process cloud server s2 yet, so it was not added to its "
            "load balancer pools"]))

    def test_unprocessable_with_others(self) -> None:
        """Unprocessable servers with another error is FAILURE."""
        outcome = outcome_of(rcv3.classify_bulk_add(PAIRS, conflict(
            "Cloud Server s2 is unprocessable",
            "Load Balancer Pool pool-b is not in an ACTIVE state")))
        self.assertEqual(outcome.verdict, Verdict.FAILURE)
        self.assertEqual(len(outcome.reasons), 2)

    def test_unknown_message(self) -> None:
        """An unknown message, or one that means nothing when adding, is RETRY."""
        for response in [conflict("The moon is full"),
                         conflict("Cloud Server s1 is not a member of Load Balancer Pool p"),
                         conflict("Cloud Server s9 is already a member of Load Balancer Pool p"),
                         Response(409, "text")]:
            outcome = outcome_of(rcv3.classify_bulk_add(PAIRS, response))
            self.assertEqual(outcome.verdict, Verdict.RETRY)
            self.assertIn("does not understand", outcome.reasons[0])

    def test_other_errors(self) -> None:
        """Other answers, 4xx included, are RETRY with a readable reason."""
        self.assertEqual(rcv3.classify_bulk_add(PAIRS, Response(403, {"errors": ["x"]})),
                         StepOutcome(Verdict.RETRY, [
                             "RackConnect v3 refused to add servers to load balancer pools: x "
                             "(HTTP 403)"]))
        for status in [400, 401, 500]:
            outcome = outcome_of(rcv3.classify_bulk_add(PAIRS, Response(status)))
            self.assertEqual(outcome.verdict, Verdict.RETRY)


class BulkRemoveTests(SynchronousTestCase):
    """What an answer to a bulk remove means."""

    def test_no_content(self) -> None:
        """204 is RETRY: look again."""
        self.assertEqual(rcv3.classify_bulk_remove(PAIRS, Response(204)), rcv3.removed())

    def test_already_gone(self) -> None:
        """Not a member, a missing pool or a missing server: those pairs are done."""
        self.assertEqual(rcv3.classify_bulk_remove(PAIRS, conflict(
            "Cloud Server s2 is not a member of Load Balancer Pool POOL-A")),
            Reissue([("Pool-A", "s1"), ("pool-b", "s1")]))
        self.assertEqual(rcv3.classify_bulk_remove(PAIRS, conflict(
            "Load Balancer Pool pool-a does not exist")), Reissue([("pool-b", "s1")]))
        self.assertEqual(rcv3.classify_bulk_remove(PAIRS, conflict(
            "Cloud Server s1 does not exist")), Reissue([("pool-a", "s2")]))

    def test_pool_inactive(self) -> None:
        """An inactive pool is FAILURE."""
        self.assertEqual(rcv3.classify_bulk_remove(PAIRS, conflict(
            "Load Balancer Pool pool-b is not in an ACTIVE state")),
            StepOutcome(Verdict.FAILURE, [
                "RackConnect v3 load balancer pool pool-b is not active"]))

    def test_unknown_message(self) -> None:
        """An unknown message, or one that means nothing when removing, is RETRY."""
        for message in ["Cloud Server s1 is unprocessable",
                        "Cloud Server s1 is already a member of Load Balancer Pool pool-a"]:
            outcome = outcome_of(rcv3.classify_bulk_remove(PAIRS, conflict(message)))
            self.assertEqual(outcome.verdict, Verdict.RETRY)

    def test_client_errors(self) -> None:
        """Another 4xx is FAILURE; 401 and 5xx are RETRY."""
        self.assertEqual(rcv3.classify_bulk_remove(PAIRS, Response(403, "no")), StepOutcome(
            Verdict.FAILURE, ["RackConnect v3 refused to remove servers from load balancer "
                              "pools: no (HTTP 403)"]))
        for status in [401, 500]:
            self.assertEqual(outcome_of(rcv3.classify_bulk_remove(PAIRS, Response(status))).verdict,
                             Verdict.RETRY)
