"""
Tests for otter2.cloud.heat: the requests made for a group's Heat stacks, the
listed stacks read into values, and what Heat's answers mean for each step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pvector, thaw
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud import heat
from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.model.cloud import ObservedStack
from otter2.model.outcome import StepOutcome, Verdict

ORCHESTRATION = ServiceType.ORCHESTRATION
TEMPLATE = {"heat_template_version": "2015-04-30", "resources": {}}
SELF = [{"rel": "self", "href": "http://heat/v1/t1/stacks/autoscale_g1_ab/st1"}]


def stack_json(**changes: object) -> dict[str, object]:
    """A stack as Heat lists it; ``changes`` replace (or, when None, drop) fields."""
    stack: dict[str, object] = {
        "id": "st1", "stack_name": "autoscale_g1_ab", "stack_status": "CREATE_COMPLETE",
        "stack_status_reason": "Stack CREATE completed successfully",
        "creation_time": "2015-03-24T19:43:02Z", "links": SELF, "tags": ["autoscale_g1"],
    }
    stack.update(changes)
    return {key: value for key, value in stack.items() if value is not None}


def heat_error(status: int, message: str, kind: str = "StackValidationFailed") -> Response:
    """An error answer in Heat's shape: the message is inside ``error``."""
    return Response(status, {"explanation": "The server could not comply with the request "
                                            "since it is either malformed or otherwise "
                                            "incorrect.",
                             "code": status, "title": "Bad Request",
                             "error": {"message": message, "traceback": None, "type": kind}})


INVALID = "Property error: resources.server.properties.flavor: Flavor huge not found."


class StackConfigTests(SynchronousTestCase):
    """The body a group's stacks are made from, and their names."""

    def test_tagged_without_name(self) -> None:
        """The launch configuration's stack gets the group's tag and loses its name."""
        config = heat.stack_config({"stack_name": "mine", "template": TEMPLATE,
                                    "parameters": {"size": 2}}, "g1")
        self.assertEqual(thaw(config), {"template": TEMPLATE, "parameters": {"size": 2},
                                        "tags": "autoscale_g1"})

    def test_group_tag(self) -> None:
        """The group's tag is autoscale_ and the group's id."""
        self.assertEqual(heat.group_tag("g1"), "autoscale_g1")

    def test_name_stack(self) -> None:
        """A created stack is named after the group and a suffix; the shared body is
        unchanged."""
        config = heat.stack_config({"template": TEMPLATE}, "g1")
        named = heat.name_stack(config, "g1", "0a1b2c3d")
        self.assertEqual(thaw(named), {"template": TEMPLATE, "tags": "autoscale_g1",
                                       "stack_name": "autoscale_g1_0a1b2c3d"})
        self.assertNotIn("stack_name", config)


class RequestTests(SynchronousTestCase):
    """The requests are relative to the Cloud Orchestration endpoint."""

    def test_list(self) -> None:
        """A listing asks for a page of the stacks carrying the tag, after a marker."""
        self.assertEqual(heat.list_stacks_request("t1", "autoscale_g1"), ServiceRequest(
            "t1", ORCHESTRATION, "GET", "stacks",
            (("tags", "autoscale_g1"), ("limit", "100"))))
        self.assertEqual(heat.list_stacks_request("t1", "autoscale_g1", "st9").params,
                         (("tags", "autoscale_g1"), ("limit", "100"), ("marker", "st9")))

    def test_create(self) -> None:
        """A creation POSTs the named body to stacks."""
        body = {"stack_name": "autoscale_g1_ab", "template": TEMPLATE}
        self.assertEqual(heat.create_stack_request("t1", body), ServiceRequest(
            "t1", ORCHESTRATION, "POST", "stacks", json=body))

    def test_check(self) -> None:
        """A check POSTs {"check": null} to the stack's actions."""
        self.assertEqual(heat.check_stack_request("t1", "autoscale_g1_ab", "st1"),
                         ServiceRequest("t1", ORCHESTRATION, "POST",
                                        "stacks/autoscale_g1_ab/st1/actions",
                                        json={"check": None}))

    def test_update(self) -> None:
        """An update PUTs the group's body to the stack."""
        body = {"template": TEMPLATE, "tags": "autoscale_g1"}
        self.assertEqual(heat.update_stack_request("t1", "autoscale_g1_ab", "st1", body),
                         ServiceRequest("t1", ORCHESTRATION, "PUT", "stacks/autoscale_g1_ab/st1",
                                        json=body))

    def test_delete(self) -> None:
        """A deletion DELETEs the stack, without a body."""
        self.assertEqual(heat.delete_stack_request("t1", "autoscale_g1_ab", "st1"),
                         ServiceRequest("t1", ORCHESTRATION, "DELETE",
                                        "stacks/autoscale_g1_ab/st1"))

    def test_preview(self) -> None:
        """A preview POSTs the body to stacks/preview."""
        self.assertEqual(heat.preview_stack_request("t1", {"template": TEMPLATE}),
                         ServiceRequest("t1", ORCHESTRATION, "POST", "stacks/preview",
                                        json={"template": TEMPLATE}))

    def test_names_and_ids_are_quoted(self) -> None:
        """A slash, space or question mark in a name or id cannot change the path."""
        self.assertEqual(heat.check_stack_request("t1", "a/b", "c d?").path,
                         "stacks/a%2Fb/c%20d%3F/actions")
        self.assertEqual(heat.update_stack_request("t1", "a/b", "c", {}).path,
                         "stacks/a%2Fb/c")
        self.assertEqual(heat.delete_stack_request("t1", "a", "../c").path, "stacks/a/..%2Fc")


class ParseStackTests(SynchronousTestCase):
    """A listed stack read into an ObservedStack."""

    def test_fields(self) -> None:
        """Every field comes from its source in the JSON; the status is split at the
        first underscore."""
        self.assertEqual(heat.parse_stack(stack_json()), ObservedStack(
            id="st1", name="autoscale_g1_ab", action="CREATE", status="COMPLETE",
            reason="Stack CREATE completed successfully", created=1427226182.0, links=SELF))

    def test_status_split(self) -> None:
        """IN_PROGRESS keeps its underscore; a status without one has no status part."""
        for status, split in [("DELETE_IN_PROGRESS", ("DELETE", "IN_PROGRESS")),
                              ("ROLLBACK_FAILED", ("ROLLBACK", "FAILED")),
                              ("CHECK_COMPLETE", ("CHECK", "COMPLETE")),
                              ("WEIRD", ("WEIRD", ""))]:
            parsed = heat.parse_stack(stack_json(stack_status=status))
            self.assertEqual((parsed.action, parsed.status), split)

    def test_creation_time(self) -> None:
        """A time without a zone is UTC; a missing or unreadable time is 0."""
        self.assertEqual(heat.parse_stack(stack_json(
            creation_time="2015-03-24T19:43:02")).created, 1427226182.0)
        for created in [None, "yesterday", 12]:
            self.assertEqual(heat.parse_stack(stack_json(creation_time=created)).created, 0.0)

    def test_optional_fields(self) -> None:
        """Without a reason or links, they are empty."""
        parsed = heat.parse_stack(stack_json(stack_status_reason=None, links=None))
        self.assertEqual((parsed.reason, parsed.links), ("", pvector()))

    def test_required_fields(self) -> None:
        """A stack without an id, a name or a status is unreadable."""
        for missing in ["id", "stack_name", "stack_status"]:
            with self.assertRaises(KeyError):
                heat.parse_stack(stack_json(**{missing: None}))

    def test_null_or_empty_fields(self) -> None:
        """A stack whose id, name or status is null, empty or not text is unreadable,
        not a stack with a status of "None" to replace."""
        for key in ["id", "stack_name", "stack_status"]:
            for value in [{"x": 1}, "", 5]:
                with self.assertRaises(ValueError):
                    heat.parse_stack({**stack_json(), key: value})
            with self.assertRaises(ValueError):
                heat.parse_stack({**stack_json(), key: None})

    def test_page(self) -> None:
        """A page holds the list of stacks; anything else is unreadable."""
        self.assertEqual(heat.parse_stack_page({"stacks": [stack_json()]}), [stack_json()])
        self.assertEqual(heat.parse_stack_page({"stacks": []}), [])
        for body in [{"stacks": {"id": "st1"}}, {"stacks": ["st1"]}]:
            with self.assertRaises(ValueError):
                heat.parse_stack_page(body)
        with self.assertRaises(KeyError):
            heat.parse_stack_page({})


class TagTests(SynchronousTestCase):
    """Which listed stacks are the group's."""

    def test_list_form(self) -> None:
        """Tags shown as a list are read as they are."""
        self.assertEqual(heat.tags_of({"tags": ["a", "autoscale_g1"]}), ["a", "autoscale_g1"])

    def test_string_form(self) -> None:
        """Tags shown as a comma-joined string are split and stripped, empties dropped."""
        self.assertEqual(heat.tags_of({"tags": "a, autoscale_g1,,"}), ["a", "autoscale_g1"])

    def test_not_shown(self) -> None:
        """A stack whose tags are not shown has none to tell, and is taken as filtered."""
        self.assertIsNone(heat.tags_of({"id": "st1"}))
        self.assertIsNone(heat.tags_of({"tags": None}))
        self.assertTrue(heat.carries({"id": "st1"}, "autoscale_g1"))

    def test_carries(self) -> None:
        """A stack whose shown tags lack the group's tag is not the group's."""
        self.assertTrue(heat.carries({"tags": ["x", "autoscale_g1"]}, "autoscale_g1"))
        self.assertTrue(heat.carries({"tags": "x,autoscale_g1"}, "autoscale_g1"))
        self.assertFalse(heat.carries({"tags": ["autoscale_g2"]}, "autoscale_g1"))
        self.assertFalse(heat.carries({"tags": "autoscale_g10"}, "autoscale_g1"))
        self.assertFalse(heat.carries({"tags": []}, "autoscale_g1"))


def limited(status: int, wait: str | None = "30") -> Response:
    headers = {"retry-after": wait} if wait is not None else {}
    return Response(status, {"overLimit": {"message": "slow down"}}, headers)


class CreateStackTests(SynchronousTestCase):
    """What Heat's answer to a create means."""

    def test_created(self) -> None:
        """201 is RETRY (done): wait for the stack Heat names to be created."""
        self.assertEqual(heat.classify_create_stack(Response(201, {"stack": {
            "id": "st9", "links": SELF}})),
            StepOutcome(Verdict.RETRY, ["waiting for stack st9 to be created"], done=True))

    def test_created_without_id(self) -> None:
        """A 201 that names no stack still waits, for "a new stack"."""
        unnamed: list[Any] = [None, {}, {"stack": {}}, {"stack": "st9"}, "Created"]
        for body in unnamed:
            self.assertEqual(heat.classify_create_stack(Response(201, body)), StepOutcome(
                Verdict.RETRY, ["waiting for a new stack to be created"], done=True), body)

    def test_invalid_template(self) -> None:
        """A 400 is FAILURE: the launch configuration is invalid, in Heat's words."""
        self.assertEqual(heat.classify_create_stack(heat_error(400, INVALID)), StepOutcome(
            Verdict.FAILURE, [f"Stack launch configuration is invalid: {INVALID} (HTTP 400)"]))

    def test_refusals(self) -> None:
        """403, 404 and 409 are FAILURE, quoting Heat."""
        for status in [403, 404, 409]:
            outcome = heat.classify_create_stack(heat_error(status, "The Stack already exists",
                                                            "StackExists"))
            self.assertEqual(outcome, StepOutcome(Verdict.FAILURE, [
                "Cloud Orchestration refused to create a stack: The Stack already exists "
                f"(HTTP {status})"]))

    def test_rate_limited(self) -> None:
        """413 and 429 are RETRY, with the Retry-After asked, if any."""
        for status in [413, 429]:
            self.assertEqual(heat.classify_create_stack(limited(status)), StepOutcome(
                Verdict.RETRY, [
                    "Cloud Orchestration is limiting the rate of requests; will try again to "
                    f"create a stack: slow down (HTTP {status})"], retry_after=30.0))
            self.assertIsNone(heat.classify_create_stack(limited(status, None)).retry_after)

    def test_unauthorized(self) -> None:
        """A 401 (after re-authentication) is RETRY, never FAILURE."""
        outcome = heat.classify_create_stack(heat_error(401, "Authentication required"))
        self.assertEqual(outcome.verdict, Verdict.RETRY)
        self.assertIn("credentials", outcome.reasons[0])

    def test_faults(self) -> None:
        """A 5xx is RETRY with Heat's message."""
        self.assertEqual(heat.classify_create_stack(heat_error(500, "Boom", "InternalError")),
                         StepOutcome(Verdict.RETRY, [
                             "Cloud Orchestration failed to create a stack: Boom (HTTP 500)"]))
        self.assertEqual(heat.classify_create_stack(Response(503)), StepOutcome(
            Verdict.RETRY, ["Cloud Orchestration failed to create a stack (HTTP 503)"]))


class CheckStackTests(SynchronousTestCase):
    """What Heat's answer to a check means."""

    def test_accepted(self) -> None:
        """200 and 201 are RETRY (done): wait for the check to end."""
        for status in [200, 201]:
            self.assertEqual(heat.classify_check_stack("st1", Response(status)), StepOutcome(
                Verdict.RETRY, ["waiting for stack st1 to be checked"], done=True))

    def test_refusals_are_retry(self) -> None:
        """A busy, gone or refused stack is RETRY quoting Heat, never FAILURE."""
        for status in [400, 403, 404, 409]:
            self.assertEqual(heat.classify_check_stack("st1", heat_error(status, "busy")),
                             StepOutcome(Verdict.RETRY, [
                                 "Cloud Orchestration refused to check stack st1: busy "
                                 f"(HTTP {status})"]))

    def test_rate_limited(self) -> None:
        """413 and 429 are RETRY, with the Retry-After asked."""
        for status in [413, 429]:
            outcome = heat.classify_check_stack("st1", limited(status, "12"))
            self.assertEqual((outcome.verdict, outcome.retry_after), (Verdict.RETRY, 12.0))
            self.assertIn("check stack st1", outcome.reasons[0])

    def test_unauthorized_and_faults(self) -> None:
        """401 and 5xx are RETRY."""
        for status in [401, 500, 502]:
            outcome = heat.classify_check_stack("st1", Response(status))
            self.assertEqual(outcome.verdict, Verdict.RETRY)
            self.assertFalse(outcome.done)


class UpdateStackTests(SynchronousTestCase):
    """What Heat's answer to an update means."""

    def test_finishing(self) -> None:
        """202 ends a check cycle: SUCCESS (done) when the update is finishing."""
        self.assertEqual(heat.classify_update_stack("st1", True, Response(202)),
                         StepOutcome(Verdict.SUCCESS, done=True))

    def test_repair(self) -> None:
        """202 to a repair is RETRY (done): wait for the update."""
        self.assertEqual(heat.classify_update_stack("st1", False, Response(202)), StepOutcome(
            Verdict.RETRY, ["waiting for stack st1 to be updated"], done=True))

    def test_invalid_template(self) -> None:
        """A 400 is FAILURE with Heat's message, finishing or not."""
        for finishing in [True, False]:
            self.assertEqual(heat.classify_update_stack("st1", finishing,
                                                        heat_error(400, INVALID)),
                             StepOutcome(Verdict.FAILURE, [
                                 f"Stack launch configuration is invalid: {INVALID} "
                                 "(HTTP 400)"]))

    def test_busy_or_gone(self) -> None:
        """404 and 409 are RETRY: the next gather shows the stack as it is."""
        for status in [404, 409]:
            outcome = heat.classify_update_stack("st1", True, heat_error(status, "in progress"))
            self.assertEqual(outcome, StepOutcome(Verdict.RETRY, [
                f"Cloud Orchestration refused to update stack st1: in progress (HTTP {status})"]))

    def test_rate_limited(self) -> None:
        """413 and 429 are RETRY, with the Retry-After asked."""
        for status in [413, 429]:
            outcome = heat.classify_update_stack("st1", False, limited(status))
            self.assertEqual((outcome.verdict, outcome.retry_after), (Verdict.RETRY, 30.0))

    def test_unauthorized_and_faults(self) -> None:
        """401 and 5xx are RETRY."""
        for status in [401, 500]:
            self.assertEqual(heat.classify_update_stack("st1", True, Response(status)).verdict,
                             Verdict.RETRY)


class DeleteStackTests(SynchronousTestCase):
    """What Heat's answer to a delete means."""

    def test_accepted(self) -> None:
        """204 is RETRY (done): wait for the stack to be gone."""
        self.assertEqual(heat.classify_delete_stack("st1", Response(204)), StepOutcome(
            Verdict.RETRY, ["waiting for stack st1 to be deleted"], done=True))

    def test_gone(self) -> None:
        """404 is SUCCESS: the stack is gone already."""
        self.assertEqual(heat.classify_delete_stack("st1", heat_error(404, "not found")),
                         StepOutcome(Verdict.SUCCESS))

    def test_errors_are_retry(self) -> None:
        """Any other answer, 4xx included, is RETRY naming the stack: a delete is never a
        group error."""
        for status in [400, 401, 403, 409, 500, 503]:
            outcome = heat.classify_delete_stack("st1", heat_error(status, "no"))
            self.assertEqual(outcome.verdict, Verdict.RETRY)
            self.assertIn("stack st1", outcome.reasons[0])

    def test_rate_limited(self) -> None:
        """413 and 429 are RETRY, with the Retry-After asked."""
        for status in [413, 429]:
            outcome = heat.classify_delete_stack("st1", limited(status, "5"))
            self.assertEqual((outcome.verdict, outcome.retry_after), (Verdict.RETRY, 5.0))


CLASSIFIERS: list[tuple[str, Callable[[Response], StepOutcome]]] = [
    ("create", heat.classify_create_stack),
    ("check", lambda response: heat.classify_check_stack("st1", response)),
    ("update", lambda response: heat.classify_update_stack("st1", False, response)),
    ("finish", lambda response: heat.classify_update_stack("st1", True, response)),
    ("delete", lambda response: heat.classify_delete_stack("st1", response)),
]

bodies: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.text(max_size=30),
    st.builds(lambda m: {"error": {"message": m}}, st.text(max_size=30)),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3))


class ClassificationPropertyTests(SynchronousTestCase):
    """Every answer Heat can give is read into an outcome someone can act on."""

    @given(status=st.integers(100, 599), body=bodies,
           wait=st.none() | st.sampled_from(["0", "30", "junk", "-1"]))
    def test_reasons_unless_success(self, status: int, body: Any, wait: str | None) -> None:
        """Any status gives an outcome, with reasons unless it is SUCCESS; only a
        rate limit asks to wait, and only Heat refusing a template is FAILURE for
        a check, an update or a delete."""
        headers = {"retry-after": wait} if wait is not None else {}
        response = Response(status, body, headers)
        for name, classify in CLASSIFIERS:
            outcome = classify(response)
            if outcome.verdict is not Verdict.SUCCESS:
                self.assertTrue(outcome.reasons, name)
                self.assertTrue(all(reason for reason in outcome.reasons), name)
            if status not in (413, 429):
                self.assertIsNone(outcome.retry_after, name)
            if name in ("check", "delete") or (name in ("update", "finish") and status != 400):
                self.assertIsNot(outcome.verdict, Verdict.FAILURE, name)
