"""
The walk-through of the README, end to end through the HTTP API.
"""

from tests.api.support import URL_ROOT, APITestCase, minimal_group


class WalkThroughTests(APITestCase):
    """Create a group, add a policy, execute it, read the state."""

    async def test_walk_through(self) -> None:
        """The README's curl walk-through behaves as written."""
        answer = await self.call("POST", "/groups", minimal_group(minEntities=1))
        self.assertEqual(answer.code, 201, answer.raw)
        group = answer.json["group"]
        self.assertEqual(answer.header("Location"),
                         f"{URL_ROOT}/v1.0/t1/groups/{group['id']}/")
        self.assertEqual(group["groupConfiguration"]["maxEntities"], 1000)
        self.assertEqual(group["state"]["desiredCapacity"], 1)
        policy = await self.create_policy(group["id"], change=2)
        answer = await self.call("POST", f"/groups/{group['id']}/policies/{policy['id']}/execute")
        self.assertEqual((answer.code, answer.json), (202, {}))
        self.assertEqual(await self.desired(group["id"]), 3)
        self.assertTrue(answer.header("X-Response-Id"))
