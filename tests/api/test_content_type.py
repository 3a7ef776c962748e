"""
Every answer of the API says it is JSON, the bodiless ones included (spec
§2.4): Otter set the header everywhere and its clients check it.
"""

from __future__ import annotations

from tests.api.support import APITestCase


class ContentTypeTests(APITestCase):
    """``Content-Type: application/json`` on 200, 201, 202, 204 and errors alike."""

    async def test_every_answer_is_json(self) -> None:
        """PUT and DELETE (204), execute (202), create (201), read (200) and a 404."""
        group = await self.create_group()
        group_id = group["id"]
        policy = (await self.call("POST", f"/groups/{group_id}/policies", [
            {"name": "p", "type": "webhook", "change": 1, "cooldown": 0}])).json
        policy_id = policy["policies"][0]["id"]
        config = {"name": "web", "cooldown": 0, "minEntities": 0, "maxEntities": 5,
                  "metadata": {}}
        answers = [
            await self.call("GET", f"/groups/{group_id}"),
            await self.call("PUT", f"/groups/{group_id}/config", config),
            await self.call("POST", f"/groups/{group_id}/policies/{policy_id}/execute"),
            await self.call("POST", f"/groups/{group_id}/pause"),
            await self.call("DELETE", f"/groups/{group_id}/policies/{policy_id}"),
            await self.call("DELETE", f"/groups/{group_id}?force=true"),
            await self.call("GET", f"/groups/{group_id}"),
        ]
        self.assertEqual([a.code for a in answers], [200, 204, 202, 204, 204, 204, 404])
        self.assertEqual({a.header("Content-Type") for a in answers}, {"application/json"})
