"""
DELETE .../servers/{serverId} with a cloud: the server is looked up in Nova
(the simulated cloud), marked for draining or released, and the desired
capacity lowered when no replacement is wanted.
"""

from __future__ import annotations

from typing import Any

from otter2.cloud.metadata import SERVER_STATE_KEY
from tests.api.support import CloudAPITestCase, minimal_group
from tests.api.test_errors import assert_error


class DeleteServerTests(CloudAPITestCase):
    """Removing a server from a group."""

    def metadata(self, server_id: str) -> Any:
        return self.holder.cloud.nova["t1"].servers[server_id].metadata

    async def group(self, minimum: int = 0, desired: int = 2) -> str:
        group = await self.create_group(minimal_group(minEntities=minimum))
        if desired != minimum:
            policy = await self.create_policy(group["id"], desiredCapacity=desired)
            await self.call("POST", f"/groups/{group['id']}/policies/{policy['id']}/execute")
        return str(group["id"])

    async def test_purge_marks_for_draining(self) -> None:
        """With purge, the server is marked DRAINING; desired stays (a replacement comes)."""
        group_id = await self.group()
        server_id = self.server(group_id, user="kept")
        answer = await self.call("DELETE", f"/groups/{group_id}/servers/{server_id}")
        self.assertEqual((answer.code, answer.raw), (202, b""))
        self.assertEqual(self.metadata(server_id)[SERVER_STATE_KEY], "DRAINING")
        self.assertEqual(await self.desired(group_id), 2)
        self.assertEqual([m.group_id for m in await self.store.list_divergent()], [group_id])

    async def test_no_replace_lowers_desired(self) -> None:
        """With replace=false the desired capacity goes down by one."""
        group_id = await self.group()
        server_id = self.server(group_id)
        answer = await self.call("DELETE",
                                 f"/groups/{group_id}/servers/{server_id}?replace=false")
        self.assertEqual(answer.code, 202, answer.raw)
        self.assertEqual(await self.desired(group_id), 1)

    async def test_no_purge_releases(self) -> None:
        """Without purge the server keeps running but loses the group's metadata."""
        group_id = await self.group()
        server_id = self.server(group_id, user="kept", **{"rax:auto_scaling_group_id": group_id})
        answer = await self.call("DELETE",
                                 f"/groups/{group_id}/servers/{server_id}?purge=false")
        self.assertEqual(answer.code, 202, answer.raw)
        self.assertEqual(dict(self.metadata(server_id)), {"user": "kept"})

    async def test_below_min(self) -> None:
        """replace=false at the minimum is refused and changes nothing."""
        group_id = await self.group(minimum=2, desired=2)
        server_id = self.server(group_id)
        answer = await self.call("DELETE",
                                 f"/groups/{group_id}/servers/{server_id}?replace=false")
        assert_error(self, answer, 403, "CannotDeleteServerBelowMinError")
        self.assertNotIn(SERVER_STATE_KEY, self.metadata(server_id))
        self.assertEqual(await self.desired(group_id), 2)

    async def test_server_of_another_group(self) -> None:
        """A server of another group (or none) is not found, and is left alone."""
        group_id = await self.group()
        other = self.server("another-group")
        answer = await self.call("DELETE", f"/groups/{group_id}/servers/{other}")
        assert_error(self, answer, 404, "ServerNotFoundError")
        self.assertNotIn(SERVER_STATE_KEY, self.metadata(other))

    async def test_unknown_server_wins_over_below_min(self) -> None:
        """An unknown server is a 404 even where replace=false would be refused."""
        group_id = await self.group(minimum=2, desired=2)
        answer = await self.call("DELETE", f"/groups/{group_id}/servers/nope?replace=false")
        assert_error(self, answer, 404, "ServerNotFoundError")
