"""
The daemon's composition root against mimic: a group marked divergent by the
API is acted on at once, long before the converger's next tick
(Note [Divergent marks]).
"""

from __future__ import annotations

import time

from tests.e2e.support import MimicTestCase


class LookNowTests(MimicTestCase):
    """With a converger interval of a minute, marks made by the API are acted on in seconds."""

    config = {"converger": {"interval": 60, "build_timeout": 60},
              "selfheal": {"interval": 600}}

    async def servers_created(self, group_id: str, count: int) -> None:
        """Wait (ten seconds at most) until mimic holds ``count`` of the group's servers."""
        async def created() -> bool:
            return len(await self.servers(group_id)) == count
        await self.eventually(created, f"holding {count} servers", seconds=10)

    async def test_created_and_scaled_group_is_served_at_once(self) -> None:
        """A new group's server, and then a policy's second one, are created within seconds."""
        began = time.monotonic()
        group_id = await self.create_group(1)
        await self.servers_created(group_id, 1)
        await self.execute(group_id, change=1)
        await self.servers_created(group_id, 2)
        self.assertLess(time.monotonic() - began, 20)
