"""
Tests for otter2.simulation.heat_stacks: how simulated Heat stacks change
over time (each operation IN_PROGRESS for the stack time, then COMPLETE or
FAILED, failed ones rolled back), updates, checks and deletes through their
routes, the out-of-band operations, and a property that any sequence of
requests keeps the listing consistent.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud.request import Response
from otter2.model.group import thaw_json
from otter2.simulation import (
    Behaviour,
    SimulatedCloud,
    StackAction,
    StackStatus,
    advance,
    damage_stack,
    delete_stack,
    fail_stack_deletes,
    set_stack_status,
    tenant_stacks,
)
from tests.simulation.heat_support import (
    FAILING,
    FAILURE,
    SLOW,
    TEMPLATE,
    HeatErrorAssertions,
    heat,
    list_all,
    listed,
    new_stack,
    shown,
    status,
)
from tests.simulation.support import START


class TimedTests(SynchronousTestCase):
    """Each operation is IN_PROGRESS for the behaviour's stack_time, then ends."""

    def test_create(self) -> None:
        """A create is CREATE_IN_PROGRESS until stack_time has passed, then COMPLETE."""
        cloud, stack_id = new_stack(SimulatedCloud(SLOW))
        self.assertEqual(status(cloud, "s", stack_id, START + 29), "CREATE_IN_PROGRESS")
        self.assertEqual(shown(cloud, "s", stack_id)["stack_status_reason"],
                         "Stack CREATE started")
        self.assertEqual(status(cloud, "s", stack_id, START + 30), "CREATE_COMPLETE")

    def test_at_once(self) -> None:
        """With a stack_time of 0 every operation has ended when it is answered."""
        cloud, stack_id = new_stack(SimulatedCloud())
        path = f"stacks/s/{stack_id}"
        for method, suffix, body, expected in (
                ("POST", "/actions", {"check": None}, "CHECK_COMPLETE"),
                ("PUT", "", {"template": TEMPLATE}, "UPDATE_COMPLETE"),
                ("DELETE", "", None, "DELETE_COMPLETE")):
            cloud, _ = heat(cloud, method, path + suffix, json=body)
            self.assertEqual(status(cloud, "s", stack_id), expected)
        self.assertEqual(cloud.next_change, float("inf"))

    def test_advance(self) -> None:
        """Time passing alone ends operations, and the cloud knows when the next ends."""
        cloud, first = new_stack(SimulatedCloud(SLOW), "a")
        cloud, second = new_stack(cloud, "b", START + 10)
        self.assertEqual(cloud.next_change, START + 30)
        cloud = advance(cloud, START + 30)
        self.assertEqual([s.stack_status for s in tenant_stacks(cloud, "t1")],
                         ["CREATE_COMPLETE", "CREATE_IN_PROGRESS"])
        self.assertEqual(cloud.next_change, START + 40)
        cloud = advance(cloud, START + 40)
        self.assertEqual(cloud.next_change, float("inf"))

    def test_failed_create(self) -> None:
        """A create whose template has a failing TestResource ends CREATE_FAILED, with
        Heat's reason, when rollback is disabled (Heat's default)."""
        cloud, stack_id = new_stack(SimulatedCloud(SLOW), template=FAILING)
        self.assertEqual(status(cloud, "s", stack_id, START + 29), "CREATE_IN_PROGRESS")
        stack = shown(cloud, "s", stack_id, START + 30)
        self.assertEqual((stack["stack_status"], stack["stack_status_reason"]),
                         ("CREATE_FAILED", f"Resource CREATE failed: {FAILURE}"))

    def test_rolled_back_create(self) -> None:
        """With rollback enabled a failed create goes ROLLBACK_IN_PROGRESS, then
        ROLLBACK_COMPLETE a stack_time later."""
        cloud, stack_id = new_stack(SimulatedCloud(SLOW), template=FAILING,
                                    disable_rollback="false")
        self.assertEqual([status(cloud, "s", stack_id, START + t) for t in (29, 30, 59, 60)],
                         ["CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_IN_PROGRESS",
                          "ROLLBACK_COMPLETE"])
        cloud, _ = new_stack(SimulatedCloud(), template=FAILING, disable_rollback=False)
        self.assertEqual(tenant_stacks(cloud, "t1")[0].stack_status, "ROLLBACK_COMPLETE")

    def test_fail_as_string(self) -> None:
        """A fail property of "true" fails like true; false does not."""
        for fail, expected in (("true", "CREATE_FAILED"), (False, "CREATE_COMPLETE")):
            template = {"heat_template_version": "2015-10-15", "resources": {
                "t": {"type": "OS::Heat::TestResource", "properties": {"fail": fail}}}}
            cloud, stack_id = new_stack(SimulatedCloud(), template=template)
            self.assertEqual(status(cloud, "s", stack_id), expected)


class UpdateTests(HeatErrorAssertions):
    """PUT stacks/{name}/{id} replaces a stack's definition."""

    def test_updated(self) -> None:
        """An update answers 202, is UPDATE_IN_PROGRESS for stack_time, then
        UPDATE_COMPLETE with the new template, parameters and tags."""
        cloud, stack_id = new_stack(SimulatedCloud(SLOW), tags="g1")
        template = {**TEMPLATE, "description": "changed"}
        cloud, response = heat(cloud, "PUT", f"stacks/s/{stack_id}", START + 30,
                               json={"template": template, "parameters": {"p": "2"},
                                     "tags": "g1,new"})
        self.assertEqual((response.status, response.body), (202, None))
        self.assertEqual(status(cloud, "s", stack_id, START + 59), "UPDATE_IN_PROGRESS")
        stack = shown(cloud, "s", stack_id, START + 60)
        self.assertEqual((stack["stack_status"], stack["stack_status_reason"]),
                         ("UPDATE_COMPLETE", "Stack UPDATE completed successfully"))
        self.assertEqual((stack["description"], stack["parameters"]["p"], stack["tags"]),
                         ("changed", "2", ["g1", "new"]))
        self.assertEqual(stack["updated_time"], "2030-03-17T17:47:10Z")

    def test_tags_replaced(self) -> None:
        """The body's tags replace the stack's: an update without tags leaves none."""
        cloud, stack_id = new_stack(SimulatedCloud(), tags="g1")
        cloud, _ = heat(cloud, "PUT", f"stacks/s/{stack_id}", json={"template": TEMPLATE})
        self.assertEqual(listed(cloud, ("tags", "g1")), [])

    def test_timeout_and_rollback_kept(self) -> None:
        """An update without a timeout or rollback flag keeps the stack's; with them,
        takes them."""
        cloud, stack_id = new_stack(SimulatedCloud(), timeout_mins=7, disable_rollback=False)
        cloud, _ = heat(cloud, "PUT", f"stacks/s/{stack_id}", json={"template": TEMPLATE})
        stack = shown(cloud, "s", stack_id)
        self.assertEqual((stack["timeout_mins"], stack["disable_rollback"]), (7, False))
        cloud, _ = heat(cloud, "PUT", f"stacks/s/{stack_id}", json={
            "template": TEMPLATE, "timeout_mins": 3, "disable_rollback": True})
        stack = shown(cloud, "s", stack_id)
        self.assertEqual((stack["timeout_mins"], stack["disable_rollback"]), (3, True))

    def test_unknown_is_404(self) -> None:
        """Updating an unknown or deleted stack answers 404."""
        cloud, stack_id = new_stack(SimulatedCloud())
        self.assertHeatError(heat(cloud, "PUT", "stacks/s/nope", json={"template": TEMPLATE})[1],
                             404, "EntityNotFound")
        cloud, _ = heat(cloud, "DELETE", f"stacks/s/{stack_id}")
        self.assertHeatError(heat(cloud, "PUT", f"stacks/s/{stack_id}",
                                  json={"template": TEMPLATE})[1], 404, "EntityNotFound")

    def test_in_progress_is_409(self) -> None:
        """A stack IN_PROGRESS refuses an update 409 ActionInProgress."""
        cloud, stack_id = new_stack(SimulatedCloud(SLOW))
        after, response = heat(cloud, "PUT", f"stacks/s/{stack_id}", json={"template": TEMPLATE})
        self.assertEqual(self.assertHeatError(response, 409, "ActionInProgress"),
                         "Stack s already has an action (CREATE) in progress.")
        self.assertEqual(after, cloud)

    def test_bad_template_is_400(self) -> None:
        """An update with a template Heat cannot validate is refused and changes nothing."""
        cloud, stack_id = new_stack(SimulatedCloud())
        body: Any
        for body in ({"template": {"heat_template_version": "2015-10-15", "resources": {
                "r": {"type": "OS::Nope"}}}}, {}, {"parameters": {}}):
            after, response = heat(cloud, "PUT", f"stacks/s/{stack_id}", json=body)
            self.assertEqual(response.status, 400, body)
            self.assertEqual(after, cloud)

    def test_failed_update(self) -> None:
        """An update to a failing template ends UPDATE_FAILED with Heat's reason."""
        cloud, stack_id = new_stack(SimulatedCloud())
        cloud, _ = heat(cloud, "PUT", f"stacks/s/{stack_id}", json={"template": FAILING})
        stack = shown(cloud, "s", stack_id)
        self.assertEqual((stack["stack_status"], stack["stack_status_reason"]),
                         ("UPDATE_FAILED", f"Resource UPDATE failed: {FAILURE}"))

    def test_rolled_back_update(self) -> None:
        """With rollback enabled a failed update rolls back to the old definition."""
        cloud, stack_id = new_stack(SimulatedCloud(SLOW), tags="g1")
        cloud = advance(cloud, START + 30)
        cloud, _ = heat(cloud, "PUT", f"stacks/s/{stack_id}", START + 30, json={
            "template": FAILING, "tags": "other", "disable_rollback": False})
        self.assertEqual([status(cloud, "s", stack_id, START + t) for t in (59, 60, 90)],
                         ["UPDATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"])
        cloud = advance(cloud, START + 90)
        definition = tenant_stacks(cloud, "t1")[0].definition
        self.assertEqual((thaw_json(definition.template), thaw_json(definition.tags)),
                         (TEMPLATE, ["g1"]))

    def test_failed_stack_can_be_updated(self) -> None:
        """A failed create is mended by an update to a template that works."""
        cloud, stack_id = new_stack(SimulatedCloud(), template=FAILING)
        cloud, response = heat(cloud, "PUT", f"stacks/s/{stack_id}", json={"template": TEMPLATE})
        self.assertEqual(response.status, 202)
        self.assertEqual(status(cloud, "s", stack_id), "UPDATE_COMPLETE")


class CheckTests(HeatErrorAssertions):
    """POST stacks/{name}/{id}/actions with {"check": null} checks a stack."""

    def check(self, cloud: SimulatedCloud, stack_id: str, now: float = START,
              body: Any = None) -> tuple[SimulatedCloud, Response]:
        return heat(cloud, "POST", f"stacks/s/{stack_id}/actions", now,
                    json={"check": None} if body is None else body)

    def test_checked(self) -> None:
        """A check answers 200, is CHECK_IN_PROGRESS for stack_time, then CHECK_COMPLETE."""
        cloud, stack_id = new_stack(SimulatedCloud(SLOW))
        cloud, response = self.check(cloud, stack_id, START + 30)
        self.assertEqual((response.status, response.body), (200, None))
        self.assertEqual(status(cloud, "s", stack_id, START + 59), "CHECK_IN_PROGRESS")
        self.assertEqual(status(cloud, "s", stack_id, START + 60), "CHECK_COMPLETE")

    def test_other_bodies_are_400(self) -> None:
        """Any body but exactly {"check": null} is refused 400 and changes nothing."""
        cloud, stack_id = new_stack(SimulatedCloud())
        body: Any
        for body in ({}, {"suspend": None}, {"check": None, "resume": None}, {"check": {}},
                     ["check"]):
            after, response = self.check(cloud, stack_id, body=body)
            self.assertHeatError(response, 400, "HTTPBadRequest")
            self.assertEqual(after, cloud)

    def test_unknown_is_404(self) -> None:
        """Checking an unknown stack answers 404."""
        self.assertHeatError(self.check(SimulatedCloud(), "nope")[1], 404, "EntityNotFound")

    def test_in_progress_is_409(self) -> None:
        """A stack IN_PROGRESS refuses a check 409."""
        cloud, stack_id = new_stack(SimulatedCloud(SLOW))
        self.assertHeatError(self.check(cloud, stack_id)[1], 409, "ActionInProgress")

    def test_damaged_until_updated(self) -> None:
        """A damaged stack's checks end CHECK_FAILED, until an update repairs it."""
        cloud, stack_id = new_stack(SimulatedCloud())
        cloud = damage_stack(cloud, "t1", stack_id)
        for _ in range(2):
            cloud, _ = self.check(cloud, stack_id)
            stack = shown(cloud, "s", stack_id)
            self.assertEqual(stack["stack_status"], "CHECK_FAILED")
            self.assertEqual(stack["stack_status_reason"], "Resource CHECK failed: Error: "
                             "resources.secret: the resource was damaged out of band")
        cloud, _ = heat(cloud, "PUT", f"stacks/s/{stack_id}", json={"template": TEMPLATE})
        cloud, _ = self.check(cloud, stack_id)
        self.assertEqual(status(cloud, "s", stack_id), "CHECK_COMPLETE")

    def test_damage_reason(self) -> None:
        """The damage's reason is the failed check's."""
        cloud, stack_id = new_stack(SimulatedCloud())
        cloud = damage_stack(cloud, "t1", stack_id, "Error: resources.secret: gone")
        cloud, _ = self.check(cloud, stack_id)
        self.assertEqual(shown(cloud, "s", stack_id)["stack_status_reason"],
                         "Resource CHECK failed: Error: resources.secret: gone")

    def test_failed_stack_fails_check(self) -> None:
        """A stack whose last action failed fails its check."""
        cloud, stack_id = new_stack(SimulatedCloud(), template=FAILING)
        cloud, _ = self.check(cloud, stack_id)
        self.assertEqual(status(cloud, "s", stack_id), "CHECK_FAILED")


class DeleteTests(HeatErrorAssertions):
    """DELETE stacks/{name}/{id} deletes a stack."""

    def test_deleted(self) -> None:
        """A delete answers 204, is DELETE_IN_PROGRESS for stack_time, then DELETE_COMPLETE;
        deleting it again answers 404."""
        cloud, stack_id = new_stack(SimulatedCloud(SLOW))
        cloud, response = heat(cloud, "DELETE", f"stacks/s/{stack_id}", START + 30)
        self.assertEqual((response.status, response.body), (204, None))
        self.assertEqual(status(cloud, "s", stack_id, START + 59), "DELETE_IN_PROGRESS")
        stack = shown(cloud, "s", stack_id, START + 60)
        self.assertEqual((stack["stack_status"], stack["deletion_time"]),
                         ("DELETE_COMPLETE", "2030-03-17T17:47:40Z"))
        again = heat(cloud, "DELETE", f"stacks/s/{stack_id}", START + 60)[1]
        self.assertHeatError(again, 404, "EntityNotFound")

    def test_unknown_is_404(self) -> None:
        """Deleting an unknown stack answers 404."""
        self.assertHeatError(heat(SimulatedCloud(), "DELETE", "stacks/s/nope")[1], 404,
                             "EntityNotFound")

    def test_while_deleting(self) -> None:
        """Deleting a stack being deleted answers 204 and does not start over."""
        cloud, stack_id = new_stack(SimulatedCloud(SLOW))
        cloud, _ = heat(cloud, "DELETE", f"stacks/s/{stack_id}", START + 30)
        after, response = heat(cloud, "DELETE", f"stacks/s/{stack_id}", START + 40)
        self.assertEqual(response.status, 204)
        self.assertEqual(status(after, "s", stack_id, START + 60), "DELETE_COMPLETE")

    def test_while_creating(self) -> None:
        """A stack being created can be deleted."""
        cloud, stack_id = new_stack(SimulatedCloud(SLOW))
        cloud, response = heat(cloud, "DELETE", f"stacks/s/{stack_id}", START + 10)
        self.assertEqual(response.status, 204)
        self.assertEqual(status(cloud, "s", stack_id, START + 40), "DELETE_COMPLETE")

    def test_failing_deletes(self) -> None:
        """While deletes fail a delete ends DELETE_FAILED with the reason given, and can
        be retried; once cleared, deletes complete."""
        cloud, stack_id = new_stack(SimulatedCloud())
        cloud = fail_stack_deletes(cloud, "t1", stack_id, "Resource DELETE failed: stuck")
        for _ in range(2):
            cloud, response = heat(cloud, "DELETE", f"stacks/s/{stack_id}")
            self.assertEqual(response.status, 204)
            self.assertEqual(listed(cloud)[0]["stack_status_reason"],
                             "Resource DELETE failed: stuck")
            self.assertEqual(listed(cloud)[0]["stack_status"], "DELETE_FAILED")
        cloud = fail_stack_deletes(cloud, "t1", stack_id, None)
        cloud, _ = heat(cloud, "DELETE", f"stacks/s/{stack_id}")
        self.assertEqual(listed(cloud), [])


class OutOfBandTests(SynchronousTestCase):
    """Tests act on stacks behind Heat's back."""

    def test_set_status(self) -> None:
        """A forced status and reason are shown and stay, IN_PROGRESS included."""
        cloud, stack_id = new_stack(SimulatedCloud(SLOW))
        cloud = set_stack_status(cloud, "t1", stack_id, StackAction.UPDATE,
                                 StackStatus.IN_PROGRESS, "stuck", START + 1)
        stack = shown(cloud, "s", stack_id, START + 1000)
        self.assertEqual((stack["stack_status"], stack["stack_status_reason"]),
                         ("UPDATE_IN_PROGRESS", "stuck"))
        cloud = set_stack_status(cloud, "t1", stack_id, StackAction.DELETE,
                                 StackStatus.FAILED, "Resource DELETE failed: boom", START + 2)
        self.assertEqual(status(cloud, "s", stack_id), "DELETE_FAILED")

    def test_delete_stack(self) -> None:
        """A stack deleted out of band is DELETE_COMPLETE at once and no longer listed."""
        cloud, stack_id = new_stack(SimulatedCloud(SLOW))
        cloud = delete_stack(cloud, "t1", stack_id, START + 5)
        self.assertEqual(listed(cloud, now=START + 100), [])
        self.assertEqual(status(cloud, "s", stack_id, START + 100), "DELETE_COMPLETE")
        self.assertEqual(tenant_stacks(cloud, "t1"), [])
        self.assertEqual([s.id for s in tenant_stacks(cloud, "t1", show_deleted=True)],
                         [stack_id])

    def test_tenant_stacks(self) -> None:
        """tenant_stacks lists a tenant's stacks in creation order."""
        cloud, first = new_stack(SimulatedCloud(), "a")
        cloud, second = new_stack(cloud, "b")
        self.assertEqual([s.id for s in tenant_stacks(cloud, "t1")], [first, second])
        self.assertEqual(tenant_stacks(cloud, "t2"), [])


NAMES = ("a", "b", "c")
TAGS = ("g1", "g2")
KINDS = ("create", "create", "update", "check", "delete", "damage", "fail deletes", "wait")
operations = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 6),
                                st.sets(st.sampled_from(TAGS)), st.booleans(), st.booleans()),
                      max_size=25)


class ListingPropertyTests(SynchronousTestCase):
    """Whatever requests a tenant sends, in whatever order and timing, the listing stays
    consistent with the stacks Heat holds."""

    def apply(self, cloud: SimulatedCloud, now: float, operation: tuple) -> SimulatedCloud:
        """The cloud after one operation; its answer must be one Heat could give."""
        kind, n, tags, failing, rollback = operation
        stacks = tenant_stacks(cloud, "t1", show_deleted=True)
        body: dict[str, Any] = {"template": FAILING if failing else TEMPLATE, "tags": ",".join(sorted(tags)),
                "disable_rollback": not rollback}
        if kind == "create":
            cloud, response = heat(cloud, "POST", "stacks", now,
                                   json={"stack_name": NAMES[n % len(NAMES)], **body})
            self.assertIn(response.status, (201, 409))
            return cloud
        if not stacks:
            return cloud
        target = stacks[n % len(stacks)]
        path = f"stacks/{target.name}/{target.id}"
        if kind == "update":
            cloud, response = heat(cloud, "PUT", path, now, json=body)
            self.assertIn(response.status, (202, 404, 409))
        elif kind == "check":
            cloud, response = heat(cloud, "POST", f"{path}/actions", now, json={"check": None})
            self.assertIn(response.status, (200, 404, 409))
        elif kind == "delete":
            cloud, response = heat(cloud, "DELETE", path, now)
            self.assertIn(response.status, (204, 404))
        elif kind == "damage":
            cloud = damage_stack(cloud, "t1", target.id)
        elif kind == "fail deletes":
            cloud = fail_stack_deletes(cloud, "t1", target.id, "stuck" if failing else None)
        return cloud

    def assertConsistent(self, cloud: SimulatedCloud, now: float) -> None:
        cloud = advance(cloud, now)
        live = tenant_stacks(cloud, "t1")[::-1]
        entries = listed(cloud, now=now)
        self.assertEqual([e["id"] for e in entries], [s.id for s in live])
        self.assertEqual([e["stack_status"] for e in entries], [s.stack_status for s in live])
        for stack in live:
            self.assertEqual(status(cloud, stack.name, stack.id, now), stack.stack_status)
        self.assertEqual(list_all(cloud, 2, now=now), [s.id for s in live])
        for tag in TAGS:
            self.assertEqual([e["id"] for e in listed(cloud, ("tags", tag), now=now)],
                             [s.id for s in live if tag in s.definition.tags])
        self.assertEqual(len({s.name for s in live}), len(live))
        pending = [s.phases[0].at for s in tenant_stacks(cloud, "t1", True) if s.phases]
        self.assertLessEqual(cloud.next_change, min(pending, default=float("inf")))
        self.assertTrue(all(at > now for at in pending))

    @given(operations=operations)
    def test_listing_stays_consistent(self, operations: list[tuple]) -> None:
        """After every request the listing (whole, paged, by tag) shows exactly the live
        stacks, newest first, in the status each shows alone; live names are unique; and
        the cloud never misses when the next operation ends."""
        cloud, now = SimulatedCloud(Behaviour(stack_time=10)), START
        for operation in operations:
            if operation[0] == "wait":
                now += operation[1] * 4
            else:
                cloud = self.apply(cloud, now, operation)
            self.assertConsistent(cloud, now)

    @given(operations=operations)
    def test_operations_end(self, operations: list[tuple]) -> None:
        """Once the requests stop, every operation ends within two stack times (a
        rollback takes two), and nothing is IN_PROGRESS."""
        cloud, now = SimulatedCloud(Behaviour(stack_time=10)), START
        for operation in operations:
            cloud = self.apply(cloud, now, operation)
            now += 3
        cloud = advance(cloud, now + 20)
        self.assertEqual([s for s in tenant_stacks(cloud, "t1", True)
                          if s.status is StackStatus.IN_PROGRESS], [])
