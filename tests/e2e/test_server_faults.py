"""
Server lifecycle faults against mimic, injected by its Nova control plane on the
servers' names (spec convergence.md §8.2): a server that errors while it
builds, one that never finishes building, a create answered 500 that still
builds a server, creates refused with 400 or 403, 401 and 500 answers that
pass, and a group's error reasons from ERROR back to none.

test-case-name: tests.e2e.test_server_faults
"""

from __future__ import annotations

from typing import Any

from tests.e2e.support import MimicTestCase


class ServerFaultTestCase(MimicTestCase):
    """Creation behaviours of mimic's Nova, for servers of groups named ``web``."""

    async def behave(self, *behaviours: dict[str, Any]) -> str:
        """The URL of one creation behaviour, or of a sequence of them (each create
        takes the next, in a cycle), for every server named ``web…``."""
        behaviour = (behaviours[0] if len(behaviours) == 1 else
                     {"name": "sequence", "parameters": {"behaviors": list(behaviours)}})
        url = f"{self.cloud['cloudServersBehavior']}/behaviors/creation"
        answer = await self.request("POST", url, {"criteria": [{"server_name": "web.*"}],
                                                  **behaviour}, ok=201)
        return f"{url}/{answer['id']}"


DEFAULT: dict[str, Any] = {"name": "default"}


def fail(code: int, message: str, kind: str) -> dict[str, Any]:
    return {"name": "fail", "parameters": {"code": code, "message": message, "type": kind}}


class ServerFaultTests(ServerFaultTestCase):
    """Each fault ends with the group settled, or in ERROR saying why, and never with
    more servers than it asked for."""

    async def test_error_while_building(self) -> None:
        """CATC-009: a server that goes to ERROR is replaced and deleted: exactly 2."""
        await self.behave({"name": "error", "parameters": {}}, DEFAULT, DEFAULT)
        group_id = await self.create_group(2, build_seconds=0)
        await self.converged(group_id, 2)

    async def test_false_negative_create(self) -> None:
        """CATC-029: a create answered 500 that built a server anyway does not make a
        third server: the group has exactly 2."""
        await self.behave({"name": "false-negative", "parameters": {"code": 500}},
                          DEFAULT, DEFAULT)
        group_id = await self.create_group(2, build_seconds=0)
        await self.converged(group_id, 2)

    async def test_refused_with_400(self) -> None:
        """CATC-024: a create refused with 400 puts the group in ERROR at its desired
        capacity, saying what Nova said."""
        await self.behave(DEFAULT, fail(400, "Can not find requested image", "badRequest"))
        group_id = await self.create_group(3, build_seconds=0)
        state = await self.status_is(group_id, "ERROR", 3)
        self.assertTrue(any("Can not find requested image" in e for e in self.errors(state)),
                        state)

    async def test_401_and_500_are_retried(self) -> None:
        """CATC-024 as meant: creates that fail with 401, then 500, then pass, over and
        over, leave no visible error: the group settles at 5."""
        await self.behave(fail(401, "token expired", "unauthorized"),
                          fail(500, "boom", "computeFault"), DEFAULT)
        group_id = await self.create_group(5, build_seconds=0)
        await self.converged(group_id, 5)
        self.assertNotIn("errors", await self.state(group_id))

    async def test_over_quota_then_more(self) -> None:
        """CATC-025: one create passes, the next is over quota: the group is in ERROR at
        desired 2 (the refused create is not sent again, where mimic's cycle would let
        it pass); without the fault, a +1 policy settles it at 3."""
        behaviour = await self.behave(DEFAULT, fail(
            403, "Quota exceeded for ram: Requested 1024, but already used 131072 of "
            "131072 ram", "forbidden"))
        group_id = await self.create_group(2, build_seconds=0)
        state = await self.status_is(group_id, "ERROR", 2)
        self.assertTrue(any("Quota exceeded for ram" in e for e in self.errors(state)), state)
        await self.request("DELETE", behaviour, ok=204)
        await self.execute(group_id, change=1)
        await self.converged(group_id, 3)
        self.assertEqual((await self.state(group_id))["desiredCapacity"], 3)

    async def test_error_reasons_are_updated(self) -> None:
        """An invalid key name gives ERROR with one error naming it; once fixed, a
        converge settles the group and its state has no ``errors`` at all."""
        behaviour = await self.behave(fail(400, "Invalid key_name provided.", "badRequest"))
        group_id = await self.create_group(1, build_seconds=0)
        state = await self.status_is(group_id, "ERROR", 1)
        [error] = self.errors(state)
        self.assertIn("key_name", error)
        await self.request("DELETE", behaviour, ok=204)
        await self.request("POST", f"{self.api}/groups/{group_id}/converge", ok=204)
        await self.converged(group_id, 1)
        self.assertNotIn("errors", await self.state(group_id))


class BuildTimeoutTests(ServerFaultTestCase):
    """CATC-010 with a build timeout of 3 s (Otter's test used 30)."""

    config = {"converger": {"interval": 0.5, "build_timeout": 3}}

    async def test_slow_build_is_replaced(self) -> None:
        """A server still building after the timeout is replaced and deleted: the group
        ends with 2 ACTIVE servers, none of them the slow one."""
        await self.behave({"name": "build", "parameters": {"duration": 9000}},
                          DEFAULT, DEFAULT)
        group_id = await self.create_group(2, build_seconds=0)

        async def one_of_each() -> bool:
            statuses = sorted(s["status"] for s in await self.servers(group_id))
            return statuses == ["ACTIVE", "BUILD"]
        await self.eventually(one_of_each, "with one ACTIVE and one BUILD server", seconds=3)
        [slow] = [s["id"] for s in await self.servers(group_id) if s["status"] == "BUILD"]
        servers = await self.converged(group_id, 2)
        self.assertNotIn(slow, [s["id"] for s in servers])
        state = await self.state(group_id)
        self.assertEqual((state["pendingCapacity"], state["desiredCapacity"]), (0, 2))
        self.assertNotIn(slow, [a["id"] for a in state["active"]])
