"""
What starts a convergence, against mimic, with a converger interval of a
minute and self-heal off so that only the trigger can act in time (spec
convergence.md §8.1, §8.5): a policy refused for the group's bounds and a
config update repair out-of-band damage at once; a paused group refuses or
ignores every trigger, a schedule included, and state stays as it was while
its server builds, until it is resumed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from twisted.internet import reactor
from twisted.internet.task import deferLater

from tests.e2e.support import MimicTestCase


class TriggerTests(MimicTestCase):
    """Servers are ACTIVE as soon as created (no build time): what follows a trigger
    happens within seconds, or not before the converger's next tick a minute on."""

    config = {"converger": {"interval": 60, "build_timeout": 60},
              "selfheal": {"interval": 600}, "scheduler": {"interval": 1}}

    async def holding(self, group_id: str, count: int, excluded: frozenset[str] = frozenset(),
                      seconds: float = 10) -> None:
        """Wait (ten seconds at most) until mimic holds ``count`` of the group's servers,
        none of them ``excluded``."""
        async def check() -> bool:
            ids = {s["id"] for s in await self.servers(group_id)}
            return len(ids) == count and not ids & excluded
        await self.eventually(check, f"holding {count} servers", seconds=seconds)

    async def delete_two(self, group_id: str) -> frozenset[str]:
        """Delete two of the group's servers through Nova; their ids."""
        victims = frozenset(s["id"] for s in (await self.servers(group_id))[:2])
        for server_id in victims:
            await self.request(
                "DELETE", f"{self.cloud['cloudServersOpenStack']}/servers/{server_id}", ok=204)
        return victims

    async def test_refused_policy_and_config_update_converge(self) -> None:
        """CATC-007-a and CATC-008: with 2 of 10 servers deleted out of band, a +5 policy
        refused with 403 (beyond the maximum) brings them back at once; so does a
        config update."""
        group_id = await self.create_group(0, build_seconds=0, maxEntities=10)
        await self.execute(group_id, desiredCapacity=10)
        await self.holding(group_id, 10)
        gone = await self.delete_two(group_id)
        answer = await self.request("POST", f"{self.api}/groups/{group_id}/policies", [
            {"name": "more", "type": "webhook", "cooldown": 0, "change": 5}], ok=201)
        await self.request("POST", f"{self.api}/groups/{group_id}/policies/"
                           f"{answer['policies'][0]['id']}/execute", ok=403)
        await self.holding(group_id, 10, gone)

        gone = await self.delete_two(group_id)
        await self.request("PUT", f"{self.api}/groups/{group_id}/config",
                           {"name": "web", "cooldown": 0, "minEntities": 0,
                            "maxEntities": 12, "metadata": {}}, ok=204)
        await self.holding(group_id, 10, gone)
        self.assertEqual((await self.state(group_id))["desiredCapacity"], 10)

    async def test_paused_group(self) -> None:
        """Paused: executing is 403, a policy can be created, its webhook answers 202 and
        changes nothing, converge is 403, and an at policy due in 2 s has not run 5 s
        later. Resumed: the policy, the webhook and converge act again."""
        group_id = await self.create_group(0, build_seconds=0)
        await self.request("POST", f"{self.api}/groups/{group_id}/pause", ok=204)
        self.assertTrue((await self.state(group_id))["paused"])
        answer = await self.request("POST", f"{self.api}/groups/{group_id}/policies", [
            {"name": "more", "type": "webhook", "cooldown": 0, "change": 1}], ok=201)
        policy = f"{self.api}/groups/{group_id}/policies/{answer['policies'][0]['id']}"
        await self.request("POST", f"{policy}/execute", ok=403)
        hooks = await self.request("POST", f"{policy}/webhooks", [{"name": "hook"}], ok=201)
        [capability] = [link["href"] for link in hooks["webhooks"][0]["links"]
                        if link["rel"] == "capability"]
        await self.request("POST", capability, ok=202)
        await self.request("POST", f"{self.api}/groups/{group_id}/converge", ok=403)
        at = datetime.fromtimestamp(int(time.time()) + 2, UTC)
        await self.request("POST", f"{self.api}/groups/{group_id}/policies", [{
            "name": "soon", "type": "schedule", "desiredCapacity": 2, "cooldown": 0,
            "args": {"at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}}], ok=201)
        await deferLater(reactor, 5, lambda: None)  # past the at time and a scheduler tick
        state = await self.state(group_id)
        self.assertEqual((state["desiredCapacity"], state["activeCapacity"],
                          state["pendingCapacity"]), (0, 0, 0))
        self.assertEqual(await self.servers(group_id), [])

        await self.request("POST", f"{self.api}/groups/{group_id}/resume", ok=204)
        self.assertFalse((await self.state(group_id))["paused"])
        await self.request("POST", f"{policy}/execute", ok=202)
        await self.holding(group_id, 1)
        await self.request("POST", capability, ok=202)
        await self.holding(group_id, 2)
        self.assertEqual((await self.state(group_id))["desiredCapacity"], 2)
        await self.request("POST", f"{self.api}/groups/{group_id}/converge", ok=204)

    async def test_pause_freezes_the_state(self) -> None:
        """Paused while its server builds, the group's state still shows it pending
        after the server is ACTIVE; resumed, it settles at 1."""
        group_id = await self.create_group(1, build_seconds=2)

        async def pending() -> bool:
            state = await self.state(group_id)
            return bool((state["pendingCapacity"], state["activeCapacity"]) == (1, 0))
        await self.eventually(pending, "with one server pending")
        await self.request("POST", f"{self.api}/groups/{group_id}/pause", ok=204)

        async def built() -> bool:
            return [s["status"] for s in await self.servers(group_id)] == ["ACTIVE"]
        await self.eventually(built, "with its server ACTIVE in Nova")
        await deferLater(reactor, 1, lambda: None)
        state = await self.state(group_id)
        self.assertEqual((state["pendingCapacity"], state["activeCapacity"]), (1, 0))
        await self.request("POST", f"{self.api}/groups/{group_id}/resume", ok=204)
        await self.converged(group_id, 1, seconds=10)
