"""
The plan preview over HTTP (otter2.api.plans): GET …/plan, dry runs of the
changes, and POST …/converge with If-Match, against the simulated cloud.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor

from otter2.model.cloud import ServerState
from otter2.simulation import (
    set_server_status,
)
from tests.api.support import APITestCase, CloudAPITestCase, minimal_group


class CloudCase(CloudAPITestCase):
    """The API with a simulated cloud, and groups in it."""

    async def group(self, minimum: int = 2) -> tuple[str, str]:
        group = await self.create_group(minimal_group(minEntities=minimum, maxEntities=10))
        policy = await self.create_policy(group["id"], change=3)
        return group["id"], policy["id"]

    async def plan(self, group_id: str) -> dict[str, Any]:
        answer = await self.call("GET", f"/groups/{group_id}/plan")
        self.assertEqual(answer.code, 200, answer.raw)
        found: dict[str, Any] = answer.json["plan"]
        return found


class PlanTests(CloudCase):
    """A group's plan, previewed against the simulated cloud."""

    async def test_plan_of_a_new_group(self) -> None:
        """A new group of two plans two servers, each with its reason."""
        group_id, _ = await self.group()
        plan = await self.plan(group_id)
        self.assertEqual((plan["desiredCapacity"], plan["converged"], plan["postponed"]),
                         (2, False, []))
        self.assertEqual(plan["steps"], [{
            "type": "createServer",
            "reason": "desired capacity is 2 and the group keeps 0 servers: "
                      "a new server is built"}] * 2)
        self.assertRegex(plan["planId"], r"^[0-9a-f]{32}$")

    async def test_surplus_server_is_named(self) -> None:
        """With three ACTIVE servers for two, one goes, and the plan says why."""
        group_id, _ = await self.group()
        servers = [self.server(group_id) for _ in range(3)]
        for server_id in servers:
            self.holder.cloud = set_server_status(self.holder.cloud, "t1", server_id,
                                                  ServerState.ACTIVE, reactor.seconds())
        [step] = (await self.plan(group_id))["steps"]
        self.assertEqual(step["type"], "deleteServer")
        self.assertIn(step["serverId"], servers)
        self.assertIn("among the oldest beyond the desired capacity of 2", step["reason"])

    async def test_dry_run_execution_changes_nothing(self) -> None:
        """A dry-run execution answers the desired capacity and plan it would lead
        to; the group, its receipts and its marks are untouched."""
        group_id, policy_id = await self.group()
        await self.store.clear_divergent("t1", group_id)
        answer = await self.call(
            "POST", f"/groups/{group_id}/policies/{policy_id}/execute?dry_run=true")
        self.assertEqual(answer.code, 200, answer.raw)
        self.assertEqual((answer.json["dryRun"], answer.json["desiredCapacity"]), (True, 5))
        self.assertEqual([s["type"] for s in answer.json["plan"]["steps"]], ["createServer"] * 5)
        self.assertEqual(await self.desired(group_id), 2)
        self.assertEqual((await self.call("GET", f"/groups/{group_id}/executions")).json[
            "executions"], [])
        self.assertEqual(await self.store.list_divergent(), [])

    async def test_dry_run_refusal_is_the_refusal(self) -> None:
        """A dry run the execution would refuse (cooldown) gets that refusal."""
        group_id, _ = await self.group()
        policy = await self.create_policy(group_id, change=1, cooldown=600)
        url = f"/groups/{group_id}/policies/{policy['id']}/execute"
        self.assertEqual((await self.call("POST", url)).code, 202)
        answer = await self.call("POST", url + "?dry_run=true")
        self.assertEqual((answer.code, answer.json["error"]["type"]),
                         (403, "CannotExecutePolicyError"))

    async def test_dry_run_config(self) -> None:
        """A dry-run config change shows the clamped capacity and changes nothing."""
        group_id, _ = await self.group()
        answer = await self.call(
            "PUT", f"/groups/{group_id}/config?dry_run=true",
            {"name": "web", "cooldown": 0, "minEntities": 4, "maxEntities": 10, "metadata": {}})
        self.assertEqual((answer.code, answer.json["desiredCapacity"]), (200, 4), answer.raw)
        self.assertEqual(len(answer.json["plan"]["steps"]), 4)
        config = (await self.call("GET", f"/groups/{group_id}/config")).json
        self.assertEqual(config["groupConfiguration"]["minEntities"], 2)
        self.assertEqual(await self.desired(group_id), 2)

    async def test_converge_if_the_plan_still_holds(self) -> None:
        """POST converge with the previewed plan id converges; once the cloud
        changed, the same id is refused (412) and nothing is marked."""
        group_id, _ = await self.group()
        await self.store.clear_divergent("t1", group_id)
        plan_id = (await self.plan(group_id))["planId"]
        answer = await self.call("POST", f"/groups/{group_id}/converge",
                                 headers={"If-Match": f'"{plan_id}"'})
        self.assertEqual(answer.code, 204, answer.raw)
        await self.store.clear_divergent("t1", group_id)
        self.server(group_id)
        answer = await self.call("POST", f"/groups/{group_id}/converge",
                                 headers={"If-Match": plan_id})
        self.assertEqual((answer.code, answer.json["error"]["type"]), (412, "PlanChangedError"))
        self.assertEqual(await self.store.list_divergent(), [])


class NoCloudPlanTests(APITestCase):
    """Without a cloud there is no plan to preview."""

    async def test_plan_needs_a_cloud(self) -> None:
        """GET plan answers 503 saying no cloud is configured."""
        group = await self.create_group()
        answer = await self.call("GET", f"/groups/{group['id']}/plan")
        self.assertEqual((answer.code, answer.json["error"]["type"]),
                         (503, "ServiceUnavailable"))
        self.assertIn("No cloud is configured", answer.json["error"]["message"])


class DryRunRemovalTests(CloudCase):
    """DELETE …/servers/{id}?dry_run=true: the plan the removal would lead to."""

    async def two_active(self, minimum: int) -> tuple[str, list[str]]:
        """A group of two ACTIVE servers (at least ``minimum``), not marked divergent."""
        group = await self.create_group(minimal_group(minEntities=minimum, maxEntities=10))
        if minimum < 2:
            policy = await self.create_policy(group["id"], desiredCapacity=2)
            await self.call("POST", f"/groups/{group['id']}/policies/{policy['id']}/execute")
        servers = [self.server(group["id"]) for _ in range(2)]
        for server_id in servers:
            self.holder.cloud = set_server_status(self.holder.cloud, "t1", server_id,
                                                  ServerState.ACTIVE, reactor.seconds())
        await self.store.clear_divergent("t1", group["id"])
        return group["id"], servers

    async def dry_run(self, group_id: str, server_id: str, query: str = "") -> Any:
        return await self.call(
            "DELETE", f"/groups/{group_id}/servers/{server_id}?dry_run=true{query}")

    async def unchanged(self, group_id: str, server_id: str) -> None:
        """The server still unmarked, desired capacity 2, nothing marked divergent."""
        metadata = self.holder.cloud.nova["t1"].servers[server_id].metadata
        self.assertNotIn("rax:autoscale:server:state", metadata)
        self.assertEqual(await self.desired(group_id), 2)
        self.assertEqual(await self.store.list_divergent(), [])

    async def test_purge_with_a_replacement(self) -> None:
        """The server marked for draining is deleted and another built in its place."""
        group_id, (server_id, _) = await self.two_active(minimum=2)
        answer = await self.dry_run(group_id, server_id)
        self.assertEqual((answer.code, answer.json["desiredCapacity"]), (200, 2), answer.raw)
        steps = sorted((s["type"], s.get("serverId")) for s in answer.json["plan"]["steps"])
        self.assertEqual(steps, [("createServer", None), ("deleteServer", server_id)])
        [deletion] = [s for s in answer.json["plan"]["steps"] if s["type"] == "deleteServer"]
        self.assertIn("marked for deletion", deletion["reason"])
        await self.unchanged(group_id, server_id)

    async def test_no_replacement(self) -> None:
        """Without a replacement the capacity goes down by one and nothing is built."""
        group_id, (server_id, _) = await self.two_active(minimum=0)
        answer = await self.dry_run(group_id, server_id, "&replace=false")
        self.assertEqual((answer.code, answer.json["desiredCapacity"]), (200, 1), answer.raw)
        self.assertEqual([(s["type"], s.get("serverId")) for s in answer.json["plan"]["steps"]],
                         [("deleteServer", server_id)])
        await self.unchanged(group_id, server_id)

    async def test_release(self) -> None:
        """A released server (purge=false) leaves the group: a new one is built, the
        released one is not touched."""
        group_id, (server_id, _) = await self.two_active(minimum=2)
        answer = await self.dry_run(group_id, server_id, "&purge=false")
        self.assertEqual([s["type"] for s in answer.json["plan"]["steps"]], ["createServer"])
        await self.unchanged(group_id, server_id)

    async def test_refusals_are_the_removals(self) -> None:
        """Below the minimum, or an unknown server: the removal's own errors."""
        group_id, (server_id, _) = await self.two_active(minimum=2)
        below = await self.dry_run(group_id, server_id, "&replace=false")
        self.assertEqual((below.code, below.json["error"]["type"]),
                         (403, "CannotDeleteServerBelowMinError"))
        unknown = await self.dry_run(group_id, "nope")
        self.assertEqual((unknown.code, unknown.json["error"]["type"]),
                         (404, "ServerNotFoundError"))
        await self.unchanged(group_id, server_id)


class WhyTests(CloudCase):
    """Why desired is not actual, and what the next trigger would do."""

    async def test_why_a_new_group_is_not_there_yet(self) -> None:
        """A new group of two: nothing active, two servers to build, and each
        policy's next outcome; a policy in its cooldown says until when."""
        group_id, policy_id = await self.group()
        slow = await self.create_policy(group_id, change=1, cooldown=600)
        await self.call("POST", f"/groups/{group_id}/policies/{slow['id']}/execute")
        answer = await self.call("GET", f"/groups/{group_id}/why")
        self.assertEqual(answer.code, 200, answer.raw)
        why = answer.json["why"]
        self.assertEqual((why["desiredCapacity"], why["activeCapacity"], why["converged"]),
                         (3, 0, False))
        self.assertEqual(why["reasons"], ["desired capacity is 3 and the group keeps 0 "
                                          "servers: a new server is built"] * 3)
        triggers = {t["policyId"]: t for t in why["nextTriggers"]}
        self.assertEqual((triggers[policy_id]["outcome"], triggers[policy_id]["desiredCapacity"]),
                         ("applies", 6))
        self.assertEqual(triggers[slow["id"]]["outcome"], "refused")
        self.assertIn("Cooldowns not met", triggers[slow["id"]]["refusal"]["message"])
        self.assertRegex(triggers[slow["id"]]["cooldownUntil"], r"^\d{4}-\d\d-\d\dT")

    async def test_why_building(self) -> None:
        """Servers still building are named with the time they started."""
        group_id, _ = await self.group()
        building = self.server(group_id)
        self.server(group_id)
        reasons = (await self.call("GET", f"/groups/{group_id}/why")).json["why"]["reasons"]
        [waiting] = [r for r in reasons if r.startswith("waiting: servers building: ")]
        self.assertIn(building, waiting)

    async def test_why_paused(self) -> None:
        """A paused group says so first."""
        group_id, _ = await self.group()
        await self.call("POST", f"/groups/{group_id}/pause")
        reasons = (await self.call("GET", f"/groups/{group_id}/why")).json["why"]["reasons"]
        self.assertTrue(reasons[0].startswith("the group is paused"), reasons)


class NoCloudWhyTests(APITestCase):
    """Without a cloud, why says what it can."""

    async def test_why_without_a_cloud(self) -> None:
        """The state and the next triggers, and that no cloud can be seen."""
        group = await self.create_group()
        await self.create_policy(group["id"], change=2)
        why = (await self.call("GET", f"/groups/{group['id']}/why")).json["why"]
        self.assertIsNone(why["converged"])
        self.assertIn("No cloud is configured", why["reasons"][-1])
        self.assertEqual([(t["outcome"], t["desiredCapacity"]) for t in why["nextTriggers"]],
                         [("applies", 2)])
