"""
One suite of Nova, Cloud Load Balancer, RackConnect v3 and Heat behaviours,
run against any cloud:
the simulated one (through the fast performer, and over HTTP) in unit tests,
and mimic in ``tests/e2e/``, so the simulation cannot drift from what the
real services (and their best-known mock) do.

A cloud under test says how requests reach it and how to act on it out of
band (`CloudUnderTest`); an operation a cloud cannot do raises ``SkipTest``.

Heat's behaviours are the ones mimic has: its stacks change state at once
(the simulation's ``stack_time`` is 0 here), it answers a check 201 where
Heat answers 200, it lists tags as a comma-joined string where Heat lists
them as a list, and it cannot show one stack; what only the simulation does
(timed states, validation, failures) is tested in ``test_heat``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from twisted.trial.unittest import TestCase

from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.model.group import thaw_json

NOVA = ServiceType.CLOUD_SERVERS
CLB = ServiceType.CLOUD_LOAD_BALANCERS
RCV3 = ServiceType.RACKCONNECT_V3
HEAT = ServiceType.ORCHESTRATION
TEMPLATE = {"heat_template_version": "2015-10-15",
            "resources": {"secret": {"type": "OS::Heat::RandomString"}}}
QUOTA_MESSAGE = re.compile(r"Quota exceeded for \w+: Requested \d+, but already used \d+ of \d+ \w+")
PENDING_UPDATE = re.compile(
    r"Load Balancer '\d+' has a status of 'PENDING[_-]UPDATE' and is considered immutable")


class CloudUnderTest(Protocol):
    """A cloud the behaviour suite runs against, with a tenant of its own."""

    tenant_id: str
    build_time: float  # seconds a new server spends in BUILD

    def send(self, request: ServiceRequest) -> Awaitable[Response]:
        """The cloud's answer to ``request``."""

    def pass_time(self, seconds: float) -> Awaitable[None]:
        """Let the cloud's clock run ``seconds`` on."""

    def server_metadata(self) -> dict[str, str]:
        """Metadata a new server needs to build for ``build_time`` (mimic's
        ``server_building``), merged into every create."""

    def new_load_balancer(self, pending_update: float,
                          pending_delete: float = 0) -> Awaitable[str]:
        """The id of a new, empty, ACTIVE load balancer that stays PENDING_UPDATE
        for ``pending_update`` seconds after each change and, once deleted,
        PENDING_DELETE for ``pending_delete`` seconds (unless 0), then DELETED."""

    def existing_pool(self) -> Awaitable[str]:
        """The id of a RackConnect v3 load balancer pool the tenant has."""

    def force_server_status(self, server_id: str, status: str) -> Awaitable[None]:
        """Force a server into a status, out of band."""

    def limit_instances(self, count: int) -> Awaitable[None]:
        """Refuse, as over quota, any create beyond ``count`` servers."""

    def fail_nova(self, seconds: float) -> Awaitable[None]:
        """Make Nova answer 500 to creates for ``seconds``."""


def next_page(response: Response) -> tuple[tuple[str, str], ...] | None:
    """The query of a servers listing's next page, or None if it is the last."""
    links = [link for link in thaw_json(response.body).get("servers_links", [])
             if link.get("rel") == "next"]
    return tuple(parse_qsl(urlsplit(links[0]["href"]).query)) if links else None


def node(address: str, port: int = 80, condition: str = "ENABLED") -> dict:
    """A node to add to a CLB."""
    return {"address": address, "port": port, "condition": condition,
            "type": "PRIMARY", "weight": 1}


def listed_tags(stack: dict) -> list[str]:
    """A listed stack's tags, whether as Heat's list or mimic's comma-joined string."""
    tags = stack.get("tags") or []
    return [tag for tag in tags.split(",") if tag] if isinstance(tags, str) else list(tags)


def cloud_behaviour_tests(build: Callable[[TestCase], CloudUnderTest]) -> type[TestCase]:
    """The behaviour suite, for the cloud ``build`` gives each test."""

    class CloudBehaviourContract(TestCase):
        def setUp(self) -> None:
            self.cloud = build(self)

        def send(self, service: ServiceType, method: str, path: str,
                 params: tuple[tuple[str, str], ...] = (), json: Any = None
                 ) -> Awaitable[Response]:
            return self.cloud.send(ServiceRequest(self.cloud.tenant_id, service, method, path,
                                                  params, json))

        async def create_server(self, name: str = "s",
                                metadata: dict[str, str] | None = None) -> Response:
            body = {"server": {"name": name, "imageRef": "image", "flavorRef": "general1-1",
                               "metadata": {**self.cloud.server_metadata(),
                                            **(metadata or {})}}}
            return await self.send(NOVA, "POST", "servers", json=body)

        async def new_server(self, name: str = "s", **metadata: str) -> str:
            response = await self.create_server(name, metadata)
            self.assertEqual(response.status, 202, response.body)
            server_id: str = response.body["server"]["id"]
            return server_id

        async def server(self, server_id: str) -> Response:
            return await self.send(NOVA, "GET", f"servers/{server_id}")

        def assertNovaFault(self, response: Response, status: int, kind: str) -> str:
            self.assertEqual(response.status, status, response.body)
            fault = thaw_json(response.body)[kind]
            self.assertEqual(fault["code"], status)
            message: str = fault["message"]
            return message

        async def test_create_answers_202(self) -> None:
            """Creating a server answers 202 with its id, links and admin password."""
            response = await self.create_server()
            self.assertEqual(response.status, 202)
            server = thaw_json(response.body)["server"]
            self.assertIsInstance(server["id"], str)
            self.assertIsInstance(server["adminPass"], str)
            self.assertIn(server["id"], [link["href"].split("/")[-1] for link in server["links"]])

        async def test_new_server_builds_then_is_active(self) -> None:
            """A new server is BUILD until its build time has passed, then ACTIVE."""
            server_id = await self.new_server()
            self.assertEqual((await self.server(server_id)).body["server"]["status"], "BUILD")
            await self.cloud.pass_time(self.cloud.build_time / 2)
            self.assertEqual((await self.server(server_id)).body["server"]["status"], "BUILD")
            await self.cloud.pass_time(self.cloud.build_time / 2 + 1)
            self.assertEqual((await self.server(server_id)).body["server"]["status"], "ACTIVE")

        async def test_server_detail(self) -> None:
            """A server shows its metadata, a ServiceNet 10.x address and its creation time."""
            server_id = await self.new_server("web", role="frontend")
            response = await self.server(server_id)
            self.assertEqual(response.status, 200)
            server = thaw_json(response.body)["server"]
            self.assertEqual((server["id"], server["name"]), (server_id, "web"))
            self.assertEqual(server["metadata"]["role"], "frontend")
            private = [a for a in server["addresses"]["private"] if a["version"] == 4]
            self.assertTrue(private[0]["addr"].startswith("10."), private)
            self.assertRegex(server["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
            self.assertIn("OS-EXT-STS:task_state", server)

        async def test_listing_pages_by_servers_links(self) -> None:
            """Listing with a limit pages through every server by servers_links next links."""
            created = {await self.new_server(f"s{i}") for i in range(3)}
            first = await self.send(NOVA, "GET", "servers/detail", (("limit", "2"),))
            self.assertEqual(first.status, 200)
            self.assertEqual(len(first.body["servers"]), 2)
            query = next_page(first)
            assert query is not None, first.body
            self.assertEqual(dict(query)["limit"], "2")
            second = await self.send(NOVA, "GET", "servers/detail", query)
            self.assertEqual(len(second.body["servers"]), 1)
            self.assertIsNone(next_page(second))
            listed = [s["id"] for page in (first, second) for s in page.body["servers"]]
            self.assertEqual(sorted(listed), sorted(created))

        async def test_unknown_server_is_404(self) -> None:
            """Getting an unknown server answers 404 itemNotFound."""
            self.assertNovaFault(await self.server("no-such-server"), 404, "itemNotFound")

        async def test_delete_server(self) -> None:
            """Deleting a server answers 204; it is then unlisted, 404 to get and to delete."""
            server_id = await self.new_server()
            self.assertEqual((await self.send(NOVA, "DELETE", f"servers/{server_id}")).status,
                             204)
            self.assertNovaFault(await self.server(server_id), 404, "itemNotFound")
            again = await self.send(NOVA, "DELETE", f"servers/{server_id}")
            self.assertNovaFault(again, 404, "itemNotFound")
            listed = await self.send(NOVA, "GET", "servers/detail")
            self.assertNotIn(server_id, [s["id"] for s in listed.body["servers"]])

        async def test_set_metadata_item(self) -> None:
            """Setting one metadata item answers 200 with it and keeps the others."""
            server_id = await self.new_server(role="frontend")
            key = "rax:autoscale:server:state"
            response = await self.send(NOVA, "PUT", f"servers/{server_id}/metadata/{key}",
                                       json={"meta": {key: "DRAINING"}})
            self.assertEqual(response.status, 200)
            self.assertEqual(thaw_json(response.body), {"meta": {key: "DRAINING"}})
            metadata = await self.send(NOVA, "GET", f"servers/{server_id}/metadata")
            self.assertEqual(metadata.status, 200)
            self.assertEqual(metadata.body["metadata"][key], "DRAINING")
            self.assertEqual(metadata.body["metadata"]["role"], "frontend")

        async def test_replace_metadata(self) -> None:
            """Putting a server's whole metadata replaces it."""
            server_id = await self.new_server(role="frontend")
            response = await self.send(NOVA, "PUT", f"servers/{server_id}/metadata",
                                       json={"metadata": {"only": "this"}})
            self.assertEqual(response.status, 200)
            server = await self.server(server_id)
            self.assertEqual(thaw_json(server.body)["server"]["metadata"], {"only": "this"})

        async def test_metadata_of_unknown_server_is_404(self) -> None:
            """Setting metadata on an unknown server answers 404 itemNotFound."""
            response = await self.send(NOVA, "PUT", "servers/no-such-server/metadata/k",
                                       json={"meta": {"k": "v"}})
            self.assertNovaFault(response, 404, "itemNotFound")

        async def test_too_much_metadata_is_403(self) -> None:
            """Creating a server with more than 40 metadata items answers 403 forbidden."""
            response = await self.create_server(metadata={f"k{i}": "v" for i in range(41)})
            message = self.assertNovaFault(response, 403, "forbidden")
            self.assertIn("Maximum number of metadata items exceeds 40", message)

        async def test_quota_exceeded_is_403(self) -> None:
            """A create beyond the instance quota answers 403 forbidden, Quota exceeded."""
            await self.cloud.limit_instances(1)
            await self.new_server()
            message = self.assertNovaFault(await self.create_server(), 403, "forbidden")
            self.assertRegex(message, QUOTA_MESSAGE)

        async def test_forced_error(self) -> None:
            """A server forced into ERROR out of band shows ERROR."""
            server_id = await self.new_server()
            await self.cloud.force_server_status(server_id, "ERROR")
            self.assertEqual((await self.server(server_id)).body["server"]["status"], "ERROR")

        async def test_nova_failure_is_500(self) -> None:
            """While Nova fails, a create answers 500 computeFault; afterwards it works."""
            await self.cloud.fail_nova(60)
            self.assertNovaFault(await self.create_server(), 500, "computeFault")
            await self.cloud.pass_time(61)
            self.assertEqual((await self.create_server()).status, 202)

        async def add_nodes(self, lb_id: str, *nodes: dict) -> Response:
            return await self.send(CLB, "POST", f"loadbalancers/{lb_id}/nodes",
                                   json={"nodes": list(nodes)})

        async def nodes(self, lb_id: str) -> list[dict]:
            response = await self.send(CLB, "GET", f"loadbalancers/{lb_id}/nodes")
            self.assertEqual(response.status, 200, response.body)
            listed: list[dict] = thaw_json(response.body)["nodes"]
            return listed

        def assertCLBError(self, response: Response, status: int) -> str:
            self.assertEqual(response.status, status, response.body)
            message: str = thaw_json(response.body)["message"]
            return message

        async def load_balancer_status(self, lb_id: str) -> str:
            response = await self.send(CLB, "GET", f"loadbalancers/{lb_id}")
            self.assertEqual(response.status, 200, response.body)
            shown = thaw_json(response.body)["loadBalancer"]
            self.assertEqual(str(shown["id"]), lb_id)
            status: str = shown["status"]
            return status

        async def test_load_balancer_is_shown(self) -> None:
            """A load balancer is shown by its id, ACTIVE."""
            lb_id = await self.cloud.new_load_balancer(0)
            self.assertEqual(await self.load_balancer_status(lb_id), "ACTIVE")

        async def test_deleted_load_balancer_is_shown(self) -> None:
            """A deleted load balancer is shown PENDING_DELETE (mimic spells it
            PENDING-DELETE) for its window, then DELETED."""
            lb_id = await self.cloud.new_load_balancer(0, pending_delete=30)
            deleted = await self.send(CLB, "DELETE", f"loadbalancers/{lb_id}")
            self.assertEqual(deleted.status, 202, deleted.body)
            await self.cloud.pass_time(15)
            self.assertIn(await self.load_balancer_status(lb_id),
                          ("PENDING_DELETE", "PENDING-DELETE"))
            await self.cloud.pass_time(31)  # mimic's window starts again at each look
            self.assertEqual(await self.load_balancer_status(lb_id), "DELETED")

        async def test_load_balancer_is_listed(self) -> None:
            """A load balancer is listed ACTIVE, with its id and name."""
            lb_id = await self.cloud.new_load_balancer(0)
            response = await self.send(CLB, "GET", "loadbalancers")
            self.assertEqual(response.status, 200)
            listed = {str(lb["id"]): lb for lb in thaw_json(response.body)["loadBalancers"]}
            self.assertEqual(listed[lb_id]["status"], "ACTIVE")
            self.assertIn("name", listed[lb_id])

        async def test_add_nodes(self) -> None:
            """Adding nodes answers 202 with their ids; they are listed ONLINE as given."""
            lb_id = await self.cloud.new_load_balancer(0)
            response = await self.add_nodes(lb_id, node("10.0.0.1"), node("10.0.0.2", 8080))
            self.assertEqual(response.status, 202, response.body)
            added = thaw_json(response.body)["nodes"]
            listed = await self.nodes(lb_id)
            self.assertEqual(sorted(n["id"] for n in added), sorted(n["id"] for n in listed))
            self.assertEqual(
                sorted((n["address"], n["port"], n["condition"], n["weight"], n["type"],
                        n["status"]) for n in listed),
                [("10.0.0.1", 80, "ENABLED", 1, "PRIMARY", "ONLINE"),
                 ("10.0.0.2", 8080, "ENABLED", 1, "PRIMARY", "ONLINE")])

        async def test_pending_update_window(self) -> None:
            """After a change a CLB is PENDING_UPDATE and answers changes 422 for its window."""
            lb_id = await self.cloud.new_load_balancer(30)
            self.assertEqual((await self.add_nodes(lb_id, node("10.0.0.1"))).status, 202)
            refused = await self.add_nodes(lb_id, node("10.0.0.2"))
            message = self.assertCLBError(refused, 422)
            self.assertRegex(message, PENDING_UPDATE)
            self.assertIn(f"'{lb_id}'", message)
            listed = await self.send(CLB, "GET", "loadbalancers")
            status = {str(lb["id"]): lb["status"] for lb in listed.body["loadBalancers"]}
            self.assertIn(status[lb_id], ("PENDING_UPDATE", "PENDING-UPDATE"))
            await self.cloud.pass_time(31)
            self.assertEqual((await self.add_nodes(lb_id, node("10.0.0.2"))).status, 202)
            self.assertEqual(len(await self.nodes(lb_id)), 2)

        async def test_change_node(self) -> None:
            """Draining a node answers 202, shows DRAINING, and its Atom feed says so."""
            lb_id = await self.cloud.new_load_balancer(0)
            added = await self.add_nodes(lb_id, node("10.0.0.7"))
            node_id = added.body["nodes"][0]["id"]
            changed = await self.send(CLB, "PUT", f"loadbalancers/{lb_id}/nodes/{node_id}",
                                      json={"node": {"condition": "DRAINING"}})
            self.assertEqual(changed.status, 202)
            self.assertEqual((await self.nodes(lb_id))[0]["condition"], "DRAINING")
            feed = await self.send(CLB, "GET", f"loadbalancers/{lb_id}/nodes/{node_id}.atom")
            self.assertEqual(feed.status, 200)
            self.assertIn("Node successfully updated with address: '10.0.0.7', port: '80', "
                          "weight: '1', condition: 'DRAINING'", feed.body)
            self.assertIn("<updated>", feed.body)

        async def test_node_limit_is_413(self) -> None:
            """Going past 25 nodes on a CLB answers 413 and adds nothing."""
            lb_id = await self.cloud.new_load_balancer(0)
            full = [node(f"10.0.1.{i}") for i in range(25)]
            self.assertEqual((await self.add_nodes(lb_id, *full)).status, 202)
            refused = await self.add_nodes(lb_id, node("10.0.2.1"))
            self.assertIn("Nodes must not exceed 25 per load balancer",
                          self.assertCLBError(refused, 413))
            self.assertEqual(len(await self.nodes(lb_id)), 25)

        async def test_duplicate_node_is_refused(self) -> None:
            """Adding a node at an address and port already there is refused as a duplicate."""
            lb_id = await self.cloud.new_load_balancer(0)
            await self.add_nodes(lb_id, node("10.0.0.1"))
            refused = await self.add_nodes(lb_id, node("10.0.0.1"))
            self.assertIn(refused.status, (413, 422))
            self.assertIn("Duplicate nodes detected", refused.body["message"])

        async def test_bulk_delete(self) -> None:
            """A bulk delete answers 202 and removes exactly the nodes it names."""
            lb_id = await self.cloud.new_load_balancer(0)
            added = await self.add_nodes(lb_id, *[node(f"10.0.0.{i}") for i in (1, 2, 3)])
            ids = [str(n["id"]) for n in added.body["nodes"]]
            response = await self.send(CLB, "DELETE", f"loadbalancers/{lb_id}/nodes",
                                       (("id", ids[0]), ("id", ids[2])))
            self.assertEqual(response.status, 202)
            self.assertEqual([str(n["id"]) for n in await self.nodes(lb_id)], [ids[1]])

        async def test_bulk_delete_of_unknown_node_is_400(self) -> None:
            """A bulk delete naming an unknown node answers 400 naming it, and removes none."""
            lb_id = await self.cloud.new_load_balancer(0)
            added = await self.add_nodes(lb_id, node("10.0.0.1"))
            known = str(added.body["nodes"][0]["id"])
            response = await self.send(CLB, "DELETE", f"loadbalancers/{lb_id}/nodes",
                                       (("id", known), ("id", "99999999")))
            self.assertEqual(response.status, 400)
            self.assertEqual(thaw_json(response.body)["validationErrors"]["messages"],
                             ["Node ids 99999999 are not a part of your loadbalancer"])
            self.assertEqual(len(await self.nodes(lb_id)), 1)

        async def test_unknown_load_balancer_is_404(self) -> None:
            """Anything on an unknown CLB answers 404 Load balancer not found."""
            shown = await self.send(CLB, "GET", "loadbalancers/99999999")
            self.assertEqual(self.assertCLBError(shown, 404), "Load balancer not found")
            listed = await self.send(CLB, "GET", "loadbalancers/99999999/nodes")
            self.assertEqual(self.assertCLBError(listed, 404), "Load balancer not found")
            added = await self.add_nodes("99999999", node("10.0.0.1"))
            self.assertEqual(self.assertCLBError(added, 404), "Load balancer not found")

        async def test_unknown_node_is_404(self) -> None:
            """Changing an unknown node of a CLB answers 404."""
            lb_id = await self.cloud.new_load_balancer(0)
            response = await self.send(CLB, "PUT", f"loadbalancers/{lb_id}/nodes/99999999",
                                       json={"node": {"condition": "DRAINING"}})
            self.assertEqual(response.status, 404)

        async def test_no_health_monitor(self) -> None:
            """A CLB without a health monitor shows an empty one."""
            lb_id = await self.cloud.new_load_balancer(0)
            response = await self.send(CLB, "GET", f"loadbalancers/{lb_id}/healthmonitor")
            self.assertEqual(response.status, 200)
            self.assertEqual(thaw_json(response.body), {"healthMonitor": {}})

        async def test_pools_are_listed(self) -> None:
            """The tenant's RackConnect v3 pools are listed, each with its id and status."""
            pool_id = await self.cloud.existing_pool()
            response = await self.send(RCV3, "GET", "load_balancer_pools")
            self.assertEqual(response.status, 200, response.body)
            listed = {pool["id"]: pool for pool in thaw_json(response.body)}
            self.assertEqual(listed[pool_id]["status"], "ACTIVE")

        async def new_stack(self, name: str, tags: str) -> str:
            body = {"stack_name": name, "tags": tags, "template": TEMPLATE}
            response = await self.send(HEAT, "POST", "stacks", json=body)
            self.assertEqual(response.status, 201, response.body)
            stack_id: str = response.body["stack"]["id"]
            return stack_id

        async def stacks(self, *params: tuple[str, str]) -> dict[str, dict]:
            response = await self.send(HEAT, "GET", "stacks", params)
            self.assertEqual(response.status, 200, response.body)
            return {stack["id"]: stack for stack in thaw_json(response.body)["stacks"]}

        async def test_stack_is_listed_by_tag(self) -> None:
            """A new stack answers 201 with its id and link, and is listed CREATE_COMPLETE
            by any of its tags; stacks without the tag are not listed."""
            body = {"stack_name": "autoscale_g1_a", "tags": "autoscale_g1,web",
                    "template": TEMPLATE}
            response = await self.send(HEAT, "POST", "stacks", json=body)
            self.assertEqual(response.status, 201, response.body)
            created = thaw_json(response.body)["stack"]
            self.assertTrue(unquote(created["links"][0]["href"]).endswith(
                f"/stacks/autoscale_g1_a/{created['id']}"), created)
            other = await self.new_stack("autoscale_g2_a", "autoscale_g2")
            listed = await self.stacks(("tags", "autoscale_g1"))
            self.assertEqual(list(listed), [created["id"]])
            stack = listed[created["id"]]
            self.assertEqual((stack["stack_name"], stack["stack_status"]),
                             ("autoscale_g1_a", "CREATE_COMPLETE"))
            self.assertEqual(sorted(listed_tags(stack)), ["autoscale_g1", "web"])
            self.assertEqual(list(await self.stacks(("tags", "autoscale_g1,web"))),
                             [created["id"]])
            self.assertEqual(sorted(await self.stacks()), sorted([created["id"], other]))

        async def test_check_stack(self) -> None:
            """Checking a stack answers 200 (mimic: 201); it is then CHECK_COMPLETE."""
            stack_id = await self.new_stack("autoscale_g1_a", "autoscale_g1")
            response = await self.send(HEAT, "POST", f"stacks/autoscale_g1_a/{stack_id}/actions",
                                       json={"check": None})
            self.assertIn(response.status, (200, 201), response.body)
            listed = await self.stacks(("tags", "autoscale_g1"))
            self.assertEqual(listed[stack_id]["stack_status"], "CHECK_COMPLETE")

        async def test_update_stack(self) -> None:
            """Updating a checked stack answers 202; it is then UPDATE_COMPLETE."""
            stack_id = await self.new_stack("autoscale_g1_a", "autoscale_g1")
            path = f"stacks/autoscale_g1_a/{stack_id}"
            await self.send(HEAT, "POST", f"{path}/actions", json={"check": None})
            response = await self.send(HEAT, "PUT", path,
                                       json={"template": TEMPLATE, "tags": "autoscale_g1"})
            self.assertEqual(response.status, 202, response.body)
            listed = await self.stacks(("tags", "autoscale_g1"))
            self.assertEqual(listed[stack_id]["stack_status"], "UPDATE_COMPLETE")

        async def test_deleted_stack_is_unlisted(self) -> None:
            """Deleting a stack answers 204; it is then listed only with show_deleted,
            DELETE_COMPLETE."""
            stack_id = await self.new_stack("autoscale_g1_a", "autoscale_g1")
            kept = await self.new_stack("autoscale_g1_b", "autoscale_g1")
            response = await self.send(HEAT, "DELETE", f"stacks/autoscale_g1_a/{stack_id}")
            self.assertEqual(response.status, 204, response.body)
            self.assertEqual(list(await self.stacks(("tags", "autoscale_g1"))), [kept])
            everything = await self.stacks(("tags", "autoscale_g1"), ("show_deleted", "true"))
            self.assertEqual(everything[stack_id]["stack_status"], "DELETE_COMPLETE")

        async def test_unknown_stack_is_404(self) -> None:
            """Updating, checking or deleting an unknown stack answers 404."""
            path = "stacks/autoscale_g1_a/no-such-stack"
            updated = await self.send(HEAT, "PUT", path, json={"template": TEMPLATE})
            self.assertEqual(updated.status, 404, updated.body)
            checked = await self.send(HEAT, "POST", f"{path}/actions", json={"check": None})
            self.assertEqual(checked.status, 404, checked.body)
            deleted = await self.send(HEAT, "DELETE", path)
            self.assertEqual(deleted.status, 404, deleted.body)

    return CloudBehaviourContract
