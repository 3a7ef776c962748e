"""
Requests that third-party Auto Scale clients send, replayed as they send them,
and the members of the answers those clients read: existing clients must
work unchanged. Each test names the client and the call it stands for.
"""

from __future__ import annotations

from typing import Any

from tests.api.support import APITestCase, minimal_group

#: The headers jclouds' rackspace-autoscale sends with every request.
JCLOUDS_HEADERS = {"Accept": "application/json", "X-Auth-Token": "token"}


def self_href(links: list[dict[str, str]]) -> str:
    """The href of the ``self`` link among ``links``."""
    return next(link["href"] for link in links if link["rel"] == "self")


class JcloudsGroupStateTests(APITestCase):
    """jclouds' ``GroupApi.getState``: ``GET …/groups/{id}/state``, read from
    ``group`` into a GroupState that needs every one of its members."""

    async def state(self, group_id: str) -> dict[str, Any]:
        answer = await self.call("GET", f"/groups/{group_id}/state", headers=JCLOUDS_HEADERS)
        self.assertEqual(answer.code, 200, answer.raw)
        return answer.json["group"]  # type: ignore[no-any-return]

    async def test_state_names_its_group(self) -> None:
        """The state carries the group's id and its self link beside the capacities,
        ``paused`` and the ``active`` servers (Note [State names its group])."""
        group = await self.create_group(minimal_group(minEntities=1))
        state = await self.state(group["id"])
        self.assertEqual(state["id"], group["id"])
        self.assertEqual(self_href(state["links"]), self_href(group["links"]))
        self.assertTrue(self_href(state["links"]).endswith(f"/groups/{group['id']}/"))
        self.assertEqual((state["activeCapacity"], state["pendingCapacity"],
                          state["desiredCapacity"], state["paused"], state["active"]),
                         (0, 1, 1, False, []))

    async def test_paused_state_names_its_group(self) -> None:
        """A paused group's state names it too, and says it is paused."""
        group = await self.create_group()
        await self.call("POST", f"/groups/{group['id']}/pause", headers=JCLOUDS_HEADERS)
        state = await self.state(group["id"])
        self.assertEqual((state["id"], state["paused"]), (group["id"], True))

    async def test_listing_and_manifest_keep_their_shape(self) -> None:
        """The state inside a list entry and a manifest does not repeat the id and
        links the entry and the manifest carry beside it."""
        group = await self.create_group()
        entry = (await self.call("GET", "/groups")).json["groups"][0]
        manifest = (await self.call("GET", f"/groups/{group['id']}")).json["group"]
        self.assertEqual(set(entry), {"id", "links", "state"})
        self.assertFalse({"id", "links"} & (set(entry["state"]) | set(manifest["state"])))
