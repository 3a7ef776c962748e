"""
Which servers are a group's, against mimic: a server whose group metadata is
removed by hand is no longer the group's and is left alone (spec
convergence.md §1.2, §8.4, §8.7); and Identity failing to log otter2 in
(§8.9).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater

from tests.e2e.support import MimicTestCase

GROUP_KEYS = ("rax:autoscale:group:id", "rax:auto_scaling_group_id")


def private_ip(server: dict[str, Any]) -> str:
    return str(next(a["addr"] for a in server["addresses"]["private"] if a["version"] == 4))


class DisownedServerTests(MimicTestCase):
    """Servers taken out of a group by editing their Nova metadata."""

    async def set_metadata(self, server_id: str, metadata: dict[str, str]) -> None:
        await self.request(
            "PUT", f"{self.cloud['cloudServersOpenStack']}/servers/{server_id}/metadata",
            {"metadata": metadata}, ok=200)

    async def exists(self, server_id: str) -> bool:
        response = await self.http.get(
            f"{self.cloud['cloudServersOpenStack']}/servers/{server_id}")
        await response.content()
        return bool(response.code == 200)

    async def test_disowned_server_is_replaced_and_left_alone(self) -> None:
        """A server without its group keys is replaced; it and its CLB node stay."""
        lb = await self.new_load_balancer()
        group_id = await self.create_group(2, (lb,))
        [disowned, kept] = await self.converged(group_id, 2, (lb,))
        await self.set_metadata(disowned["id"], {k: v for k, v in disowned["metadata"].items()
                                                 if k not in GROUP_KEYS})

        async def replaced() -> bool:
            servers = await self.servers(group_id)
            state = await self.state(group_id)
            addresses = sorted(n["address"] for n in await self.nodes(lb))
            return (len(servers) == 2 and all(s["status"] == "ACTIVE" for s in servers)
                    and state["status"] == "ACTIVE" and state["activeCapacity"] == 2
                    and addresses == sorted([private_ip(disowned)]
                                            + [private_ip(s) for s in servers]))
        await self.eventually(replaced, "replaced, with 3 nodes on the CLB")
        servers = await self.servers(group_id)
        self.assertIn(kept["id"], [s["id"] for s in servers])
        self.assertNotIn(disowned["id"], [s["id"] for s in servers])
        self.assertNotIn(disowned["id"], [s["id"] for s in (await self.state(group_id))["active"]])
        self.assertTrue(await self.exists(disowned["id"]))

    async def test_metadata_stripped_by_hand(self) -> None:
        """Servers stripped of all their metadata are replaced, a policy beyond the
        maximum is refused, and another group's servers are untouched."""
        untouchable = await self.create_group(2)
        theirs = sorted(s["id"] for s in await self.converged(untouchable, 2))
        group_id = await self.create_group(0, maxEntities=3)
        await self.execute(group_id, desiredCapacity=3)
        servers = await self.converged(group_id, 3)
        stripped = [s["id"] for s in servers[:2]]
        for server_id in stripped:
            await self.set_metadata(server_id, {})
        answer = await self.request("POST", f"{self.api}/groups/{group_id}/policies", [
            {"name": "more", "type": "webhook", "cooldown": 0, "change": 1}], ok=201)
        await self.request("POST", f"{self.api}/groups/{group_id}/policies/"
                           f"{answer['policies'][0]['id']}/execute", ok=403)
        after = await self.converged(group_id, 3)
        self.assertFalse(set(stripped) & {s["id"] for s in after})
        self.assertFalse(set(stripped) & {s["id"] for s in (await self.state(group_id))["active"]})
        for server_id in stripped:
            self.assertTrue(await self.exists(server_id))
        self.assertEqual(sorted(s["id"] for s in await self.servers(untouchable)), theirs)
        self.assertEqual(sorted(s["id"] for s in (await self.state(untouchable))["active"]),
                         theirs)


class IdentityFaultTests(MimicTestCase):
    """
    Identity refusing otter2's logins (a mimic behaviour on otter2's user name,
    unique to each test), with tokens kept for one second so that every
    iteration logs in again.
    """

    def daemon_config(self) -> dict[str, Any]:
        self.username = f"otter-{self.tenant_id}"
        config = super().daemon_config()
        config["identity"] = {**config["identity"], "strategy": "password",
                              "username": self.username, "cache_ttl": 1, "max_retries": 3}
        return config

    async def behave(self, behaviour: dict[str, Any]) -> str:
        """The URL of ``behaviour``, installed for otter2's user; it is removed at cleanup
        unless it is gone by then."""
        url = f"{self.mimic.url}/mimic/v1.1/IdentityControlAPI/behaviors/auth"
        answer = await self.request("POST", url, {
            "criteria": [{"username": f"^{self.username}$"}], **behaviour}, ok=201)
        installed = f"{url}/{answer['id']}"
        self.addCleanup(self.request, "DELETE", installed, ok=(204, 404))
        return installed

    async def test_failing_identity_shows_and_recovers(self) -> None:
        """While Identity fails every login the group is in ERROR saying so; once it
        answers again the group converges and the error is gone."""
        group_id = await self.create_group(0)
        behaviour = await self.behave({"name": "fail", "parameters": {
            "code": 500, "message": "identity down", "type": "identityFault"}})
        await deferLater(reactor, 1.5, lambda: None)  # the token of the launch check expires
        await self.execute(group_id, desiredCapacity=2)

        async def in_error() -> bool:
            return bool((await self.state(group_id))["status"] == "ERROR")
        await self.eventually(in_error, "in ERROR")
        errors = [e["message"] for e in (await self.state(group_id))["errors"]]
        self.assertEqual(len(errors), 1, errors)
        self.assertIn(f"Identity refused to log in as {self.username}", errors[0])
        self.assertIn("500", errors[0])
        self.assertEqual(await self.servers(group_id), [])

        await self.request("DELETE", behaviour, ok=204)
        await self.converged(group_id, 2)
        self.assertNotIn("errors", await self.state(group_id))

    async def test_intermittent_failures_are_retried(self) -> None:
        """Logins failing with 500, then 401, then succeeding, over and over, leave no
        visible error: a group scaled to 5 converges."""
        await self.behave({"name": "sequence", "parameters": {"behaviors": [
            {"name": "fail", "parameters": {"code": 500, "message": "down",
                                            "type": "identityFault"}},
            {"name": "fail", "parameters": {"code": 401, "message": "who?",
                                            "type": "unauthorized"}},
            {"name": "default"}]}})
        group_id = await self.create_group(2)
        await self.execute(group_id, desiredCapacity=5)
        await self.converged(group_id, 5)
        self.assertNotIn("errors", await self.state(group_id))
