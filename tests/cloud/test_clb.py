"""
Tests for otter2.cloud.clb: requests, listings, and the error
table of spec §3.4 with what each error means for each step.
"""

from attrs import evolve
from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import thaw
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud import clb
from otter2.cloud.clb import CLBError, CLBErrorKind
from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.model.cloud import CLB, CLBDescription, CLBNode, NodeCondition, NodeType
from otter2.model.outcome import StepOutcome, Verdict


def message(status: int, text: str) -> Response:
    return Response(status, {"message": text, "code": status})


RATE_LIMITED = Response(413, {"overLimit": {"message": "OverLimit Retry...", "code": 413}})
PENDING_DELETE = message(422, "Load Balancer '5' has a status of 'PENDING_DELETE' and is "
                              "considered immutable.")
DELETED_IMMUTABLE = message(422, "The load balancer is deleted and considered immutable.")
MARKED_DELETED = message(410, "The loadbalancer is marked as deleted.")
PENDING_UPDATE = message(422, "LoadBalancer '5' has a status of 'PENDING_UPDATE' and is "
                              "considered immutable.")
NOT_ACTIVE = message(422, "Load Balancer is not ACTIVE")
NOT_FOUND = message(404, "Load balancer not found.")
DUPLICATE = message(422, "Duplicate nodes detected. One or more nodes already configured on "
                         "load balancer.")
NODE_LIMIT = message(413, "Nodes must not exceed 25 per load balancer.")
NO_NODE = message(404, "Node with id #12 not found for loadbalancer #5")
NOT_IN_LB = Response(400, {"validationErrors": {"messages": [
    "Node ids 12,13 are not a part of your load balancer"]},
    "message": "Validation Failure", "code": 400})
FORBIDDEN = message(403, "You may not")


class ErrorTableTests(SynchronousTestCase):
    """Each row of the CLB error table, by status and message."""

    def test_rows(self) -> None:
        """Every row is recognised, case and LB spelling tolerated."""
        cases = [
            (RATE_LIMITED, CLBError(CLBErrorKind.RATE_LIMITED)),
            (PENDING_DELETE, CLBError(CLBErrorKind.DELETED)),
            (DELETED_IMMUTABLE, CLBError(CLBErrorKind.DELETED)),
            (MARKED_DELETED, CLBError(CLBErrorKind.DELETED)),
            (PENDING_UPDATE, CLBError(CLBErrorKind.IMMUTABLE)),
            (NOT_ACTIVE, CLBError(CLBErrorKind.NOT_ACTIVE)),
            (NOT_FOUND, CLBError(CLBErrorKind.NO_SUCH_LB)),
            (message(404, "LOAD BALANCER NOT FOUND"), CLBError(CLBErrorKind.NO_SUCH_LB)),
            (DUPLICATE, CLBError(CLBErrorKind.DUPLICATE_NODES)),
            (NODE_LIMIT, CLBError(CLBErrorKind.NODE_LIMIT, node_limit=25)),
            (NO_NODE, CLBError(CLBErrorKind.NO_SUCH_NODE)),
            (NOT_IN_LB, CLBError(CLBErrorKind.NODES_NOT_IN_LB, node_ids=("12", "13"))),
            (FORBIDDEN, CLBError(CLBErrorKind.OTHER)),
            (Response(500, "oops"), CLBError(CLBErrorKind.OTHER)),
        ]
        for response, expected in cases:
            self.assertEqual(clb.clb_error(response), expected, response)

    def test_duplicate_whatever_the_status(self) -> None:
        """Duplicate nodes are recognised at 413 too (mimic's answer)."""
        self.assertEqual(clb.clb_error(message(413, DUPLICATE.body["message"])).kind,
                         CLBErrorKind.DUPLICATE_NODES)

    def test_status_matters(self) -> None:
        """A message counts only with its row's status."""
        self.assertEqual(clb.clb_error(message(400, "Load balancer not found")).kind,
                         CLBErrorKind.OTHER)

    def test_gone(self) -> None:
        """A missing or deleted LB is gone; a busy one is not."""
        self.assertTrue(clb.lb_gone(NOT_FOUND))
        self.assertTrue(clb.lb_gone(MARKED_DELETED))
        self.assertFalse(clb.lb_gone(PENDING_UPDATE))

    @given(st.sampled_from([200, 202, 400, 404, 410, 413, 422, 500, 503]),
           st.sampled_from([PENDING_DELETE, DELETED_IMMUTABLE, MARKED_DELETED, PENDING_UPDATE,
                            NOT_FOUND, DUPLICATE, NO_NODE, RATE_LIMITED, FORBIDDEN]))
    def test_gone_is_what_the_table_says(self, status: int, answer: Response) -> None:
        """Whatever the status and message, an answer is gone exactly when the
        error table reads it as a missing or deleted load balancer."""
        response = evolve(answer, status=status)
        self.assertEqual(clb.lb_gone(response), clb.clb_error(response).kind in
                         (CLBErrorKind.NO_SUCH_LB, CLBErrorKind.DELETED))


class AddNodesTests(SynchronousTestCase):
    """What an answer to adding nodes means."""

    def test_accepted(self) -> None:
        """202 is RETRY: look again."""
        self.assertEqual(clb.classify_add_nodes("5", Response(202)).verdict, Verdict.RETRY)

    def test_terminal(self) -> None:
        """A missing or deleted LB and the node limit are FAILURE with §3.5 messages."""
        self.assertEqual(clb.classify_add_nodes("5", NOT_FOUND), StepOutcome(
            Verdict.FAILURE, ["Cloud Load Balancer does not exist: 5"]))
        for deleted in [PENDING_DELETE, DELETED_IMMUTABLE, MARKED_DELETED]:
            self.assertEqual(clb.classify_add_nodes("5", deleted), StepOutcome(
                Verdict.FAILURE, ["Cloud Load Balancer is currently being deleted: 5"]))
        self.assertEqual(clb.classify_add_nodes("5", NODE_LIMIT), StepOutcome(
            Verdict.FAILURE, ["Cannot create more than 25 nodes in Cloud Load Balancer 5"]))

    def test_retryable(self) -> None:
        """Rate limits, a busy or inactive LB, duplicates, 5xx and 401 are RETRY."""
        for response in [RATE_LIMITED, PENDING_UPDATE, NOT_ACTIVE, DUPLICATE,
                         message(413, DUPLICATE.body["message"]), Response(503, "down"),
                         message(401, "stale")]:
            outcome = clb.classify_add_nodes("5", response)
            self.assertEqual(outcome.verdict, Verdict.RETRY, response)
            self.assertTrue(outcome.reasons and "Unknown" not in outcome.reasons[0])

    def test_busy_reason(self) -> None:
        """A busy LB's reason quotes CLB's message."""
        self.assertEqual(clb.classify_add_nodes("5", PENDING_UPDATE).reasons[0],
                         "Cloud Load Balancer 5 cannot change now: LoadBalancer '5' has a "
                         "status of 'PENDING_UPDATE' and is considered immutable. (HTTP 422)")

    def test_busy_only_for_a_moment(self) -> None:
        """
        A load balancer in its PENDING_UPDATE window (or not ACTIVE) refuses only
        for a moment, whatever the change; a rate limit or a failure is not that.
        """
        classify = [clb.classify_add_nodes, clb.classify_remove_nodes,
                    lambda lb_id, response: clb.classify_change_node(lb_id, "1", response)]
        for read in classify:
            self.assertEqual([read("5", response).busy for response in
                              [PENDING_UPDATE, NOT_ACTIVE, RATE_LIMITED, Response(503, "down"),
                               FORBIDDEN, Response(202)]],
                             [True, True, False, False, False, False])

    def test_plain_client_error(self) -> None:
        """Another 4xx is FAILURE with a readable sentence."""
        self.assertEqual(clb.classify_add_nodes("5", FORBIDDEN), StepOutcome(
            Verdict.FAILURE, ["Cloud Load Balancers refused to add nodes to load balancer 5: "
                              "You may not (HTTP 403)"]))


class RemoveNodesTests(SynchronousTestCase):
    """What an answer to removing nodes means."""

    def test_done(self) -> None:
        """202, a missing or deleted LB and a missing node are SUCCESS."""
        for response in [Response(202), NOT_FOUND, PENDING_DELETE, MARKED_DELETED, NO_NODE]:
            self.assertEqual(clb.classify_remove_nodes("5", response),
                             StepOutcome(Verdict.SUCCESS, done=True), response)

    def test_retryable(self) -> None:
        """Rate limits, a busy or inactive LB, 5xx and 401 are RETRY."""
        for response in [RATE_LIMITED, PENDING_UPDATE, NOT_ACTIVE, Response(500),
                         message(401, "stale")]:
            self.assertEqual(clb.classify_remove_nodes("5", response).verdict, Verdict.RETRY)

    def test_plain_client_error(self) -> None:
        """Another 4xx (403, an unknown 422) is FAILURE."""
        for response in [FORBIDDEN, message(422, "Something new")]:
            outcome = clb.classify_remove_nodes("5", response)
            self.assertEqual(outcome.verdict, Verdict.FAILURE)
            self.assertIn("refused to remove nodes from load balancer 5", outcome.reasons[0])


class ChangeNodeTests(SynchronousTestCase):
    """What an answer to changing a node means."""

    def test_accepted(self) -> None:
        """202 is RETRY: look again."""
        self.assertEqual(clb.classify_change_node("5", "12", Response(202)).verdict,
                         Verdict.RETRY)

    def test_terminal(self) -> None:
        """A missing node, a missing or deleted LB and other 4xx are FAILURE."""
        self.assertEqual(clb.classify_change_node("5", "12", NO_NODE), StepOutcome(
            Verdict.FAILURE, ["Node 12 of Cloud Load Balancer 5 does not exist"]))
        self.assertEqual(clb.classify_change_node("5", "12", NOT_FOUND).reasons[0],
                         "Cloud Load Balancer does not exist: 5")
        self.assertEqual(clb.classify_change_node("5", "12", MARKED_DELETED).reasons[0],
                         "Cloud Load Balancer is currently being deleted: 5")
        self.assertEqual(clb.classify_change_node("5", "12", FORBIDDEN).verdict,
                         Verdict.FAILURE)

    def test_retryable(self) -> None:
        """Rate limits, a busy or inactive LB and 5xx are RETRY."""
        for response in [RATE_LIMITED, PENDING_UPDATE, NOT_ACTIVE, Response(502)]:
            self.assertEqual(clb.classify_change_node("5", "12", response).verdict,
                             Verdict.RETRY)


class RequestTests(SynchronousTestCase):
    """The requests, relative to the CLB endpoint."""

    def test_add(self) -> None:
        """Adding sends one node per (address, description), sorted."""
        request = clb.add_nodes_request("t1", "5", [
            ("10.0.0.2", CLBDescription("5", 80)),
            ("10.0.0.1", CLBDescription("5", 8080, weight=2, condition=NodeCondition.DRAINING,
                                        type=NodeType.SECONDARY))])
        self.assertEqual(request.path, "loadbalancers/5/nodes")
        self.assertEqual(thaw(request.json), {"nodes": [
            {"address": "10.0.0.1", "port": 8080, "condition": "DRAINING", "weight": 2,
             "type": "SECONDARY"},
            {"address": "10.0.0.2", "port": 80, "condition": "ENABLED", "weight": 1,
             "type": "PRIMARY"}]})

    def test_remove(self) -> None:
        """Removing names each node id in the query."""
        self.assertEqual(clb.remove_nodes_request("t1", "5", ["1", "2"]), ServiceRequest(
            "t1", ServiceType.CLOUD_LOAD_BALANCERS, "DELETE", "loadbalancers/5/nodes",
            (("id", "1"), ("id", "2"))))

    def test_change(self) -> None:
        """Changing a node sends its condition, weight and type."""
        request = clb.change_node_request("t1", "5", "12", NodeCondition.DRAINING, 3,
                                          NodeType.PRIMARY)
        self.assertEqual((request.method, request.path), ("PUT", "loadbalancers/5/nodes/12"))
        self.assertEqual(thaw(request.json), {"node": {"condition": "DRAINING", "weight": 3,
                                                       "type": "PRIMARY"}})

    def test_get_load_balancer(self) -> None:
        """Looking a load balancer up is a GET of its own resource."""
        self.assertEqual(clb.get_load_balancer_request("t1", "5"), ServiceRequest(
            "t1", ServiceType.CLOUD_LOAD_BALANCERS, "GET", "loadbalancers/5"))

    def test_feed(self) -> None:
        """A node's feed is its .atom resource."""
        self.assertEqual(clb.node_feed_request("t1", "5", "12").path,
                         "loadbalancers/5/nodes/12.atom")


class ParsingTests(SynchronousTestCase):
    """Listings read into values."""

    def test_load_balancers(self) -> None:
        """LB ids are strings."""
        self.assertEqual(clb.parse_load_balancer_ids({"loadBalancers": [{"id": 5}, {"id": 6}]}),
                         ["5", "6"])

    def test_live_load_balancers(self) -> None:
        """Load balancers being deleted, in CLB's or mimic's spelling, are left out."""
        body = {"loadBalancers": [{"id": 5, "status": "ACTIVE"}, {"id": 6},
                                  {"id": 7, "status": "PENDING_DELETE"},
                                  {"id": 8, "status": "PENDING-DELETE"},
                                  {"id": 9, "status": "DELETED"},
                                  {"id": 10, "status": "PENDING_UPDATE"}]}
        self.assertEqual(clb.parse_live_load_balancer_ids(body), ["5", "6", "10"])

    def test_current_connections(self) -> None:
        """``currentConn`` of a 200 stats answer; None for anything else."""
        self.assertEqual(
            [clb.read_current_connections(Response(status, body)) for status, body in [
                (200, {"currentConn": 0}), (200, {"currentConn": 7}), (404, {"currentConn": 0}),
                (200, {}), (200, {"currentConn": -1}), (200, {"currentConn": True}),
                (200, {"currentConn": "0"}), (200, "stats")]],
            [0, 7, None, None, None, None, None, None])

    def test_nodes(self) -> None:
        """Nodes carry their description under the LB, their id as a string and ONLINE-ness."""
        body = {"nodes": [
            {"id": 12, "address": "10.0.0.1", "port": 80, "condition": "DRAINING",
             "type": "SECONDARY", "weight": 3, "status": "ONLINE"},
            {"id": 13, "address": "10.0.0.2", "port": 80, "condition": "ENABLED",
             "status": "OFFLINE"}]}
        self.assertEqual(clb.parse_nodes("5", body), [
            CLBNode("12", "10.0.0.1", CLBDescription("5", 80, 3, NodeCondition.DRAINING,
                                                     NodeType.SECONDARY)),
            CLBNode("13", "10.0.0.2", CLBDescription("5", 80), is_online=False)])

    def test_health_monitor(self) -> None:
        """A non-empty healthMonitor means the LB has one."""
        self.assertEqual(clb.parse_health_monitor({"healthMonitor": {"type": "CONNECT"}}),
                         CLB(health_monitor=True))
        self.assertEqual(clb.parse_health_monitor({"healthMonitor": {}}), CLB())


def shown(status: str) -> Response:
    """A ``GET loadbalancers/{lb}`` answer showing a load balancer in ``status``."""
    return Response(200, {"loadBalancer": {"id": 5, "name": "web", "status": status}})


class LoadBalancerIdTests(SynchronousTestCase):
    """Which loadBalancerId values can name a CLB."""

    @given(st.integers(min_value=1))
    def test_positive_integers(self, number: int) -> None:
        """A positive integer names a CLB, as a number or as its digits."""
        self.assertTrue(clb.is_load_balancer_id(number))
        self.assertTrue(clb.is_load_balancer_id(str(number)))

    @given(st.integers(max_value=0))
    def test_zero_and_negative(self, number: int) -> None:
        """Zero and negative numbers name no CLB, whichever way they are written."""
        self.assertFalse(clb.is_load_balancer_id(number))
        self.assertFalse(clb.is_load_balancer_id(str(number)))

    def test_other_values(self) -> None:
        """Words, leading zeros, signs, decimals, booleans and empty text name no CLB."""
        for value in ["abc", "12a", "007", "+5", "5.0", "", " 5", "٣", True, 5.0, None]:
            self.assertFalse(clb.is_load_balancer_id(value), value)


class LoadBalancerLookupTests(SynchronousTestCase):
    """What an answer to looking a load balancer up says of it."""

    def test_found(self) -> None:
        """A load balancer shown ACTIVE, busy or in error exists."""
        for status in ["ACTIVE", "BUILD", "PENDING_UPDATE", "PENDING-UPDATE", "ERROR"]:
            self.assertEqual(clb.read_load_balancer_lookup(shown(status)),
                             clb.LoadBalancerLookup.FOUND, status)

    def test_deleting(self) -> None:
        """One shown PENDING_DELETE (PENDING-DELETE in mimic) or DELETED, or answered 410 or
        422 deleted, is being deleted."""
        for response in [shown("PENDING_DELETE"), shown("PENDING-DELETE"), shown("DELETED"),
                         MARKED_DELETED, PENDING_DELETE, DELETED_IMMUTABLE]:
            self.assertEqual(clb.read_load_balancer_lookup(response),
                             clb.LoadBalancerLookup.DELETING, response)

    def test_missing(self) -> None:
        """A 404 means there is no such load balancer."""
        for response in [NOT_FOUND, Response(404, "<html>not here</html>")]:
            self.assertEqual(clb.read_load_balancer_lookup(response),
                             clb.LoadBalancerLookup.MISSING, response)

    def test_unanswered(self) -> None:
        """Rate limits, other refusals, failures and unreadable answers say nothing."""
        for response in [RATE_LIMITED, FORBIDDEN, Response(500, "oops"), Response(503),
                         Response(200, {"loadBalancer": {}}), Response(200, "text"),
                         Response(200, {"loadBalancer": "5"})]:
            self.assertEqual(clb.read_load_balancer_lookup(response),
                             clb.LoadBalancerLookup.UNANSWERED, response)

    def test_reasons(self) -> None:
        """The sentences name the load balancer the way convergence reports it."""
        self.assertEqual(clb.no_such_lb_reason("5"), "Cloud Load Balancer does not exist: 5")
        self.assertEqual(clb.lb_deleted_reason("5"),
                         "Cloud Load Balancer is currently being deleted: 5")
        self.assertEqual(clb.classify_add_nodes("5", NOT_FOUND).reasons,
                         [clb.no_such_lb_reason("5")])


class RetryAfterTests(SynchronousTestCase):
    """A rate limit's Retry-After reaches the outcome, so the converger waits for it."""

    def test_retry_after_is_read(self) -> None:
        """A 413 over-limit answer with Retry-After: 30 asks for 30 seconds."""
        limited = evolve(RATE_LIMITED, headers={"retry-after": "30"})
        self.assertEqual(clb.classify_add_nodes("5", limited).retry_after, 30.0)

    def test_without_or_unreadable(self) -> None:
        """No header, or an HTTP date, asks for nothing in particular."""
        dated = evolve(RATE_LIMITED, headers={"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"})
        for response in (RATE_LIMITED, dated):
            self.assertIsNone(clb.classify_add_nodes("5", response).retry_after)
