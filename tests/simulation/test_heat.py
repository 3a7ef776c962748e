"""
Tests for otter2.simulation.heat and heat_validation: what the simulated
Heat's routes answer beyond the shared behaviour suite
(tests.simulation.contract), as pure transitions: creates and the
validation Heat does first, the listing and its filters and pages, showing
and previewing a stack, and faults in Heat's error body.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from otter2.model.group import thaw_json
from otter2.simulation import (
    Behaviour,
    SimulatedCloud,
    fail_service,
    limit_rate,
    tenant_stacks,
)
from tests.simulation.heat_support import (
    HEAT,
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


class CreateTests(HeatErrorAssertions):
    """POST stacks creates a stack, or refuses the body as Heat would."""

    def refused(self, body: Any, kind: str = "HTTPBadRequest") -> str:
        cloud, response = heat(SimulatedCloud(), "POST", "stacks", json=body)
        self.assertEqual(tenant_stacks(cloud, "t1"), [])
        return self.assertHeatError(response, 400, kind)

    def test_created(self) -> None:
        """A create answers 201 with the stack's id and self link (also its Location)."""
        cloud, response = heat(SimulatedCloud(), "POST", "stacks",
                               json={"stack_name": "web", "template": TEMPLATE})
        self.assertEqual(response.status, 201)
        stack = thaw_json(response.body)["stack"]
        url = f"http://cloud.simulated/cloudOrchestration/t1/stacks/web/{stack['id']}"
        self.assertEqual(stack["links"], [{"href": url, "rel": "self"}])
        self.assertEqual(response.headers["location"], url)
        self.assertEqual([s.id for s in tenant_stacks(cloud, "t1")], [stack["id"]])

    def test_ids_come_from_the_seed(self) -> None:
        """The same seed gives the same stack ids; another seed other ids."""
        self.assertEqual(new_stack(SimulatedCloud(seed=3))[1], new_stack(SimulatedCloud(seed=3))[1])
        self.assertNotEqual(new_stack(SimulatedCloud(seed=3))[1],
                            new_stack(SimulatedCloud(seed=4))[1])

    def test_definition_is_kept(self) -> None:
        """Tags (a comma-separated string or a list), parameters, files, timeout and
        rollback are kept; a template given as a JSON string is read."""
        cloud, stack_id = new_stack(SimulatedCloud(), tags="a,b", parameters={"p": "1"},
                                    files={"f": "x"}, timeout_mins=5, disable_rollback=False,
                                    template='{"heat_template_version": "2015-10-15", '
                                             '"resources": {}}')
        definition = tenant_stacks(cloud, "t1")[0].definition
        self.assertEqual(thaw_json(definition.tags), ["a", "b"])
        self.assertEqual(thaw_json(definition.template),
                         {"heat_template_version": "2015-10-15", "resources": {}})
        self.assertEqual((thaw_json(definition.parameters), thaw_json(definition.files)),
                         ({"p": "1"}, {"f": "x"}))
        self.assertEqual((definition.timeout_mins, definition.disable_rollback), (5, False))
        cloud, other = new_stack(cloud, "t", tags=["c", "d"])
        self.assertEqual(thaw_json(tenant_stacks(cloud, "t1")[1].definition.tags), ["c", "d"])

    def test_name_taken_is_409(self) -> None:
        """A name a live stack has is refused 409 StackExists; a deleted stack's is free."""
        cloud, stack_id = new_stack(SimulatedCloud(), "web")
        cloud, response = heat(cloud, "POST", "stacks",
                               json={"stack_name": "web", "template": TEMPLATE})
        self.assertEqual(self.assertHeatError(response, 409, "StackExists"),
                         "The Stack (web) already exists.")
        cloud, _ = heat(cloud, "DELETE", f"stacks/web/{stack_id}")
        cloud, again = new_stack(cloud, "web")
        self.assertNotEqual(again, stack_id)
        self.assertEqual(len(tenant_stacks(new_stack(cloud, "web", tenant_id="t2")[0], "t2")), 1)

    def test_stack_name(self) -> None:
        """A body without a stack name, or with one Heat does not allow, is refused 400."""
        self.assertEqual(self.refused({"template": TEMPLATE}), "No stack name specified")
        message = self.refused({"stack_name": "9lives", "template": TEMPLATE},
                               "StackValidationFailed")
        self.assertIn("Invalid stack name 9lives", message)
        self.refused(["not", "an", "object"])

    def test_exactly_one_template(self) -> None:
        """A body needs exactly one of template and template_url."""
        self.assertEqual(self.refused({"stack_name": "s"}), "No template specified")
        self.refused({"stack_name": "s", "template": TEMPLATE, "template_url": "http://x/t"})

    def test_template_url_alone(self) -> None:
        """A template_url alone is taken on trust and the stack is created."""
        cloud, response = heat(SimulatedCloud(), "POST", "stacks",
                               json={"stack_name": "s", "template_url": "http://x/t"})
        self.assertEqual(response.status, 201, response.body)
        self.assertEqual(tenant_stacks(cloud, "t1")[0].definition.template_url, "http://x/t")

    def test_template_not_an_object(self) -> None:
        """A template that is not an object (nor a JSON string of one) is refused 400."""
        for template in (["a"], "not json", "[1]", 7):
            message = self.refused({"stack_name": "s", "template": template})
            self.assertIn("Template not in valid format", message)

    def test_template_version(self) -> None:
        """A template without a known heat_template_version is refused 400."""
        message = self.refused({"stack_name": "s", "template": {"resources": {}}},
                               "InvalidTemplateVersion")
        self.assertEqual(message, "The template version is invalid: Template version was "
                                  "not provided")
        self.refused({"stack_name": "s", "template": {**TEMPLATE,
                                                        "heat_template_version": "1999"}},
                     "InvalidTemplateVersion")

    def test_resources_map(self) -> None:
        """A template without a resources map, or with a malformed resource, is refused."""
        resources: Any
        for resources in (None, ["a"], {"r": "OS::Heat::None"}, {"r": {}},
                          {"r": {"type": "OS::Heat::None", "colour": "red"}},
                          {"r": {"type": "OS::Heat::None", "properties": []}}):
            template = {"heat_template_version": "2015-10-15", "resources": resources}
            self.refused({"stack_name": "s", "template": template}, "StackValidationFailed")

    def test_unknown_resource_type(self) -> None:
        """A resource type the simulation does not know is refused as Heat refuses it."""
        template = {"heat_template_version": "2015-10-15",
                    "resources": {"r": {"type": "OS::Nope::Thing"}}}
        self.assertEqual(self.refused({"stack_name": "s", "template": template},
                                      "StackValidationFailed"),
                         "Unknown resource Type : OS::Nope::Thing")

    def test_known_resource_types(self) -> None:
        """RandomString, None, TestResource and Nova servers are known."""
        resources = {name: {"type": kind} for name, kind in (
            ("a", "OS::Heat::RandomString"), ("b", "OS::Heat::None"),
            ("c", "OS::Heat::TestResource"), ("d", "OS::Nova::Server"))}
        cloud, stack_id = new_stack(SimulatedCloud(), template={
            "heat_template_version": "2015-10-15", "resources": resources})
        self.assertEqual(status(cloud, "s", stack_id), "CREATE_COMPLETE")

    def test_bad_fields(self) -> None:
        """Parameters or files that are not objects, tags that are not strings, an
        environment neither an object nor a string, a timeout
        that is not a whole number and a rollback flag that is not one are refused."""
        for field, value in (("parameters", []), ("files", "x"), ("tags", [1]), ("tags", 5),
                             ("environment", [1]),
                             ("timeout_mins", "soon"), ("timeout_mins", -1),
                             ("disable_rollback", "maybe"), ("disable_rollback", 3)):
            self.refused({"stack_name": "s", "template": TEMPLATE, field: value})


class ListingTests(SynchronousTestCase):
    """GET stacks lists a tenant's stacks newest first, filtered by tags, in pages."""

    def three(self) -> tuple[SimulatedCloud, list[str]]:
        cloud, ids = SimulatedCloud(), []
        for i, tags in enumerate(("g1,web", "g1", "g2,web")):
            cloud, stack_id = new_stack(cloud, f"s{i}", START + i, tags=tags)
            ids.append(stack_id)
        return cloud, ids

    def test_entry(self) -> None:
        """An entry has the stack's id, name, status, times, self link and tags."""
        cloud, stack_id = new_stack(SimulatedCloud(), "web", tags="g1,web")
        [entry] = listed(cloud)
        url = f"http://cloud.simulated/cloudOrchestration/t1/stacks/web/{stack_id}"
        self.assertEqual({k: entry[k] for k in (
            "id", "stack_name", "stack_status", "stack_status_reason", "creation_time",
            "updated_time", "links", "tags", "description")}, {
            "id": stack_id, "stack_name": "web", "stack_status": "CREATE_COMPLETE",
            "stack_status_reason": "Stack CREATE completed successfully",
            "creation_time": "2030-03-17T17:46:40Z", "updated_time": None,
            "links": [{"href": url, "rel": "self"}], "tags": ["g1", "web"],
            "description": "one secret"})

    def test_no_tags_is_null(self) -> None:
        """A stack without tags lists them as null, as Heat does."""
        cloud, _ = new_stack(SimulatedCloud())
        self.assertIsNone(listed(cloud)[0]["tags"])

    def test_newest_first(self) -> None:
        """Stacks are listed newest first; sort_dir=asc lists them in creation order."""
        cloud, ids = self.three()
        self.assertEqual([s["id"] for s in listed(cloud)], ids[::-1])
        self.assertEqual([s["id"] for s in listed(cloud, ("sort_dir", "asc"))], ids)

    def test_every_tag(self) -> None:
        """Listing by tags lists the stacks that have every one of them."""
        cloud, ids = self.three()
        self.assertEqual([s["id"] for s in listed(cloud, ("tags", "g1"))], [ids[1], ids[0]])
        self.assertEqual([s["id"] for s in listed(cloud, ("tags", "web,g1"))], [ids[0]])
        self.assertEqual(listed(cloud, ("tags", "g3")), [])

    def test_show_deleted(self) -> None:
        """Deleted stacks are listed only with show_deleted."""
        cloud, ids = self.three()
        cloud, _ = heat(cloud, "DELETE", f"stacks/s1/{ids[1]}")
        self.assertEqual([s["id"] for s in listed(cloud)], [ids[2], ids[0]])
        everything = listed(cloud, ("show_deleted", "True"))
        self.assertEqual([s["stack_status"] for s in everything],
                         ["CREATE_COMPLETE", "DELETE_COMPLETE", "CREATE_COMPLETE"])
        self.assertIsNotNone(everything[1]["deletion_time"])

    def test_pages(self) -> None:
        """With a limit, full pages link to the next by the last id as marker, and the
        pages together list every stack once, in order."""
        cloud, ids = self.three()
        first = heat(cloud, "GET", "stacks", params=(("limit", "2"), ("tags", "web")))[1]
        self.assertEqual([s["id"] for s in first.body["stacks"]], [ids[2], ids[0]])
        self.assertEqual(list_all(cloud, 2, ("tags", "web")), [ids[2], ids[0]])
        for limit in (1, 2, 3, 4):
            self.assertEqual(list_all(cloud, limit), ids[::-1])
            self.assertEqual(list_all(cloud, limit, ("sort_dir", "asc")), ids)
        last = heat(cloud, "GET", "stacks", params=(("limit", "5"),))[1]
        self.assertNotIn("links", last.body)

    def test_marker(self) -> None:
        """The marker names the stack to list after, even one filtered out; an
        unknown marker is ignored, as Heat ignores it."""
        cloud, ids = self.three()
        self.assertEqual([s["id"] for s in listed(cloud, ("marker", ids[2]))],
                         [ids[1], ids[0]])
        self.assertEqual([s["id"] for s in listed(cloud, ("marker", ids[2]), ("tags", "web"))],
                         [ids[0]])
        self.assertEqual(len(listed(cloud, ("marker", "no-such-stack"))), 3)

    def test_bad_parameters(self) -> None:
        """A limit that is not a non-negative integer, an unknown show_deleted or sort
        direction are refused 400."""
        for params in ((("limit", "many"),), (("limit", "-1"),), (("show_deleted", "perhaps"),),
                       (("sort_dir", "up"),)):
            self.assertEqual(heat(SimulatedCloud(), "GET", "stacks", params=params)[1].status,
                             400, params)

    def test_tenants_apart(self) -> None:
        """A tenant lists only its own stacks."""
        cloud, _ = new_stack(SimulatedCloud(), tenant_id="t2")
        self.assertEqual(listed(cloud), [])


class ShowTests(HeatErrorAssertions):
    """GET stacks/{name}/{id} shows one stack."""

    def test_shown(self) -> None:
        """A stack is shown with its parameters, rollback flag and timeout."""
        cloud, stack_id = new_stack(SimulatedCloud(), "web", parameters={"size": "2"},
                                    timeout_mins=10)
        stack = shown(cloud, "web", stack_id)
        self.assertEqual((stack["id"], stack["stack_status"]), (stack_id, "CREATE_COMPLETE"))
        self.assertEqual(stack["parameters"], {"size": "2", "OS::stack_id": stack_id,
                                               "OS::stack_name": "web", "OS::project_id": "t1"})
        self.assertEqual((stack["disable_rollback"], stack["timeout_mins"]), (True, 10))

    def test_unknown_is_404(self) -> None:
        """An unknown id, or a name that is not the stack's, answers 404 EntityNotFound."""
        cloud, stack_id = new_stack(SimulatedCloud(), "web")
        for path in ("stacks/web/nope", f"stacks/other/{stack_id}"):
            message = self.assertHeatError(heat(cloud, "GET", path)[1], 404, "EntityNotFound")
            self.assertRegex(message, r"^The Stack \((web|other)\) could not be found.$")
        self.assertHeatError(heat(cloud, "GET", f"stacks/web/{stack_id}", tenant_id="t2")[1],
                             404, "EntityNotFound")

    def test_deleted_is_shown(self) -> None:
        """A deleted stack is still shown, DELETE_COMPLETE."""
        cloud, stack_id = new_stack(SimulatedCloud(), "web")
        cloud, _ = heat(cloud, "DELETE", f"stacks/web/{stack_id}")
        self.assertEqual(status(cloud, "web", stack_id), "DELETE_COMPLETE")

    def test_look_up(self) -> None:
        """GET stacks/{name} or stacks/{id} answers 302 to the stack's own URL; a
        deleted stack is found by its id only; an unknown one is 404."""
        cloud, stack_id = new_stack(SimulatedCloud(), "web")
        url = f"http://cloud.simulated/cloudOrchestration/t1/stacks/web/{stack_id}"
        for key in ("web", stack_id):
            response = heat(cloud, "GET", f"stacks/{key}")[1]
            self.assertEqual((response.status, response.headers["location"]), (302, url))
        cloud, _ = heat(cloud, "DELETE", f"stacks/web/{stack_id}")
        self.assertEqual(heat(cloud, "GET", f"stacks/{stack_id}")[1].status, 302)
        self.assertHeatError(heat(cloud, "GET", "stacks/web")[1], 404, "EntityNotFound")

    def test_unknown_route_is_404(self) -> None:
        """A path Heat does not serve answers 404 in Heat's body."""
        self.assertHeatError(heat(SimulatedCloud(), "GET", "software_configs")[1], 404,
                             "HTTPNotFound")


class PreviewTests(HeatErrorAssertions):
    """POST stacks/preview shows what a create would make, and creates nothing."""

    def test_preview(self) -> None:
        """A preview answers 200 with the stack and its resources."""
        cloud, response = heat(SimulatedCloud(), "POST", "stacks/preview",
                               json={"stack_name": "as_1", "template": TEMPLATE})
        self.assertEqual(response.status, 200)
        stack = thaw_json(response.body)["stack"]
        self.assertEqual((stack["stack_name"], stack["description"]), ("as_1", "one secret"))
        self.assertEqual([(r["resource_name"], r["resource_type"]) for r in stack["resources"]],
                         [("secret", "OS::Heat::RandomString")])
        self.assertEqual(tenant_stacks(cloud, "t1"), [])

    def test_refused_as_create(self) -> None:
        """A preview is refused as a create would be: 400 or 409."""
        self.assertHeatError(heat(SimulatedCloud(), "POST", "stacks/preview",
                                  json={"template": TEMPLATE})[1], 400, "HTTPBadRequest")
        bad = {"heat_template_version": "2015-10-15", "resources": {"r": {"type": "X"}}}
        self.assertHeatError(heat(SimulatedCloud(), "POST", "stacks/preview",
                                  json={"stack_name": "s", "template": bad})[1], 400,
                             "StackValidationFailed")
        cloud, _ = new_stack(SimulatedCloud())
        self.assertHeatError(heat(cloud, "POST", "stacks/preview",
                                  json={"stack_name": "s", "template": TEMPLATE})[1], 409,
                             "StackExists")


class FaultTests(HeatErrorAssertions):
    """Outages, rate limits and the fault rate reach Heat, answered in its body."""

    def test_outage(self) -> None:
        """While Heat is out, it answers 500 (or 503) in its body and changes nothing."""
        cloud = fail_service(SimulatedCloud(), HEAT, START + 60)
        after, response = heat(cloud, "POST", "stacks",
                               json={"stack_name": "s", "template": TEMPLATE})
        self.assertHeatError(response, 500, "HTTPInternalServerError")
        self.assertEqual(tenant_stacks(after, "t1"), [])
        self.assertEqual(heat(cloud, "GET", "stacks", START + 60)[1].status, 200)
        unavailable = fail_service(SimulatedCloud(), HEAT, START + 60, status=503)
        self.assertHeatError(heat(unavailable, "GET", "stacks")[1], 503,
                             "HTTPServiceUnavailable")

    def test_rate_limit(self) -> None:
        """A tenant over its rate limit gets 429 in Heat's body, with Retry-After."""
        cloud = limit_rate(SimulatedCloud(), "t1", HEAT, START + 30)
        response = heat(cloud, "GET", "stacks", START + 10)[1]
        self.assertHeatError(response, 429, "HTTPTooManyRequests")
        self.assertEqual(response.headers["retry-after"], "20")
        self.assertEqual(heat(cloud, "GET", "stacks", tenant_id="t2")[1].status, 200)

    def test_fault_rate(self) -> None:
        """Some requests fail at the behaviour's fault rate, in Heat's body."""
        cloud = SimulatedCloud(Behaviour(fault_rate=0.5))
        answers = []
        for _ in range(20):
            cloud, response = heat(cloud, "GET", "stacks")
            answers.append(response.status)
        self.assertEqual(set(answers), {200, 500})
