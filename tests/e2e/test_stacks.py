"""
Stack groups against mimic's Heat (spec convergence.md §2.12, §8.8): a
``launch_stack`` group scales its tagged stacks up and down, ends each
convergence with its check cycle (every stack UPDATE_COMPLETE), lists its
stacks as active, and a forced delete removes the stacks and the group.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.support import MimicTestCase

TEMPLATE = {"heat_template_version": "2015-04-30",
            "resources": {"word": {"type": "OS::Heat::RandomString",
                                   "properties": {"length": 8}}}}


class StackGroupTests(MimicTestCase):
    """A launch_stack group of mimic's Heat stacks."""

    async def create_stack_group(self, minimum: int = 0, maximum: int = 10) -> str:
        body = {"groupConfiguration": {"name": "stacks", "cooldown": 0,
                                       "minEntities": minimum, "maxEntities": maximum},
                "launchConfiguration": {"type": "launch_stack", "args": {
                    "stack": {"template": TEMPLATE, "disable_rollback": True,
                              "parameters": {}, "timeout_mins": 5}}}}
        answer = await self.request("POST", self.api + "/groups", body, ok=201)
        return str(answer["group"]["id"])

    async def stacks(self, group_id: str) -> list[dict[str, Any]]:
        """The group's stacks, as mimic's Heat lists them by the group's tag."""
        body = await self.request(
            "GET", f"{self.cloud['cloudOrchestration']}/stacks?tags=autoscale_{group_id}",
            ok=200)
        stacks: list[dict[str, Any]] = body["stacks"]
        return stacks

    async def cycled(self, group_id: str, count: int) -> list[dict[str, Any]]:
        """Wait until the group has ``count`` stacks, all UPDATE_COMPLETE (its check
        cycle is over), and the API lists them all as active."""
        async def check() -> bool:
            stacks = await self.stacks(group_id)
            state = await self.state(group_id)
            return (len(stacks) == count
                    and all(s["stack_status"] == "UPDATE_COMPLETE" for s in stacks)
                    and state["status"] == "ACTIVE" and state["activeCapacity"] == count
                    and sorted(a["id"] for a in state["active"])
                    == sorted(s["id"] for s in stacks))

        async def seen() -> str:
            stacks = [(s["id"], s["stack_status"]) for s in await self.stacks(group_id)]
            return f"stacks {stacks}, state {await self.state(group_id)}"
        await self.eventually(check, f"converged to {count} checked stacks", seen=seen)
        return await self.stacks(group_id)

    async def test_scales_up_and_down(self) -> None:
        """5, then 7, then 1 stack: each change ends with that many stacks named for
        the group, every one checked and updated, oldest removed first."""
        group_id = await self.create_stack_group()
        await self.execute(group_id, desiredCapacity=5)
        five = await self.cycled(group_id, 5)
        self.assertTrue(all(s["stack_name"].startswith(f"autoscale_{group_id}_") for s in five))
        self.assertEqual(len({s["stack_name"] for s in five}), 5)
        await self.execute(group_id, desiredCapacity=7)
        seven = await self.cycled(group_id, 7)
        self.assertLessEqual({s["id"] for s in five}, {s["id"] for s in seven})
        await self.execute(group_id, desiredCapacity=1)
        [one] = await self.cycled(group_id, 1)
        self.assertIn(one["id"], {s["id"] for s in seven})

    async def test_force_delete_removes_stacks(self) -> None:
        """Deleting a group with stacks (force) deletes every stack, then the group."""
        group_id = await self.create_stack_group(minimum=2)
        await self.cycled(group_id, 2)
        await self.request("DELETE", f"{self.api}/groups/{group_id}?force=true", ok=204)

        async def gone() -> bool:
            answer = await self.http.get(f"{self.api}/groups/{group_id}")
            await answer.content()
            return answer.code == 404 and not await self.stacks(group_id)
        await self.eventually(gone, "deleted with its stacks")

    async def test_removing_one_stack(self) -> None:
        """DELETE …/servers/{id} with a stack's id deletes that stack: replaced by
        default, and with replace=false the desired capacity drops by one."""
        group_id = await self.create_stack_group(minimum=1)
        await self.execute(group_id, desiredCapacity=3)
        three = await self.cycled(group_id, 3)
        first, second = three[0]["id"], three[1]["id"]
        await self.request("DELETE", f"{self.api}/groups/{group_id}/servers/{first}", ok=202)
        after = await self.cycled(group_id, 3)
        self.assertNotIn(first, {s["id"] for s in after})
        await self.request(
            "DELETE", f"{self.api}/groups/{group_id}/servers/{second}?replace=false", ok=202)
        two = await self.cycled(group_id, 2)
        self.assertNotIn(second, {s["id"] for s in two})
        self.assertEqual((await self.state(group_id))["desiredCapacity"], 2)
        await self.request("DELETE", f"{self.api}/groups/{group_id}/servers/{first}", ok=404)
