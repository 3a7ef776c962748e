"""
Concurrent requests through the HTTP API: no lost update of the desired
capacity, and limits that hold under a burst (spec rest-api §5.8).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from effect import ComposedDispatcher, Effect, TypeDispatcher
from twisted.internet import defer
from txeffect import deferred_performer, perform

from otter2.config import Limits
from otter2.store.intents import SaveState
from tests.api.support import URL_ROOT, APITestCase, minimal_group


class ConcurrentExecutionTests(APITestCase):
    """Executions racing on one group serialise."""

    async def burst(self, method: str, urls: list[str], body: Any = None) -> Counter[int]:
        """Send every request at once and count the statuses."""
        answers = await defer.gatherResults(
            [defer.ensureDeferred(self.call(method, url, body)) for url in urls])
        return Counter(answer.code for answer in answers)

    async def test_concurrent_executions_lose_no_update(self) -> None:
        """50 concurrent executions of +1 all answer 202 and raise desired capacity by 50."""
        group = await self.create_group(minimal_group(minEntities=3))
        policy = await self.create_policy(group["id"], change=1, cooldown=0)
        url = f"/groups/{group['id']}/policies/{policy['id']}/execute"
        self.assertEqual(await self.burst("POST", [url] * 50), Counter({202: 50}))
        self.assertEqual(await self.desired(group["id"]), 53)

    async def test_concurrent_policies_lose_no_update(self) -> None:
        """Concurrent executions of +2 and -1 policies leave exactly the net change."""
        group = await self.create_group(minimal_group(minEntities=100))
        await self.call("PUT", f"/groups/{group['id']}/config", {
            "name": "web", "cooldown": 0, "minEntities": 0, "maxEntities": 1000,
            "metadata": {}})
        up = await self.create_policy(group["id"], change=2)
        down = await self.create_policy(group["id"], change=-1)
        base = f"/groups/{group['id']}/policies"
        urls = [f"{base}/{up['id']}/execute"] * 30 + [f"{base}/{down['id']}/execute"] * 20
        self.assertEqual(await self.burst("POST", urls), Counter({202: 50}))
        self.assertEqual(await self.desired(group["id"]), 100 + 60 - 20)

    async def test_concurrent_anonymous_executions_lose_no_update(self) -> None:
        """50 concurrent capability executions of +1 raise desired capacity by exactly 50."""
        group = await self.create_group()
        policy = await self.create_policy(group["id"], change=1)
        answer = await self.call(
            "POST", f"/groups/{group['id']}/policies/{policy['id']}/webhooks", [{"name": "w"}])
        capability = next(link["href"] for link in answer.json["webhooks"][0]["links"]
                          if link["rel"] == "capability").replace(URL_ROOT, self.base)
        self.assertEqual(await self.burst("POST", [capability] * 50), Counter({202: 50}))
        await defer.DeferredList(list(self.api.pending_executions))
        self.assertEqual(await self.desired(group["id"]), 50)

    async def test_cooldown_admits_one_of_a_burst(self) -> None:
        """Of concurrent executions of a policy with a cooldown exactly one succeeds."""
        group = await self.create_group()
        policy = await self.create_policy(group["id"], change=1, cooldown=600)
        url = f"/groups/{group['id']}/policies/{policy['id']}/execute"
        self.assertEqual(await self.burst("POST", [url] * 20), Counter({202: 1, 403: 19}))
        self.assertEqual(await self.desired(group["id"]), 1)

    async def test_executions_racing_a_config_change_stay_in_bounds(self) -> None:
        """Executions racing a lowered maximum never leave desired capacity above it."""
        group = await self.create_group()
        policy = await self.create_policy(group["id"], change=1)
        execute = f"/groups/{group['id']}/policies/{policy['id']}/execute"
        config = {"name": "web", "cooldown": 0, "minEntities": 0, "maxEntities": 10,
                  "metadata": {}}
        calls = [defer.ensureDeferred(self.call("POST", execute)) for _ in range(20)]
        calls.insert(5, defer.ensureDeferred(
            self.call("PUT", f"/groups/{group['id']}/config", config)))
        codes = Counter(answer.code for answer in await defer.gatherResults(calls))
        self.assertEqual(codes[204], 1)
        self.assertEqual(codes[202] + codes[403], 20)
        self.assertLessEqual(await self.desired(group["id"]), 10)


class ConcurrentCreationTests(APITestCase):
    """Creations racing past a limit."""

    limits = Limits(max_groups=5, max_policies_per_group=3, max_webhooks_per_policy=4)

    async def burst(self, url: str, body: Any, count: int) -> Counter[int]:
        """POST ``body`` to ``url`` ``count`` times at once and count the statuses."""
        answers = await defer.gatherResults(
            [defer.ensureDeferred(self.call("POST", url, body)) for _ in range(count)])
        return Counter(answer.code for answer in answers)

    async def test_concurrent_groups_respect_the_limit(self) -> None:
        """20 concurrent group creations with maxGroups 5 create exactly 5 groups."""
        self.assertEqual(await self.burst("/groups", minimal_group(), 20),
                         Counter({201: 5, 422: 15}))
        listing = (await self.call("GET", "/groups")).json
        self.assertEqual(len(listing["groups"]), 5)

    async def test_concurrent_policies_respect_the_limit(self) -> None:
        """Concurrent policy creations never pass maxPoliciesPerGroup."""
        group = await self.create_group()
        url = f"/groups/{group['id']}/policies"
        body = [{"name": "p", "type": "webhook", "cooldown": 0, "change": 1}]
        self.assertEqual(await self.burst(url, body, 10), Counter({201: 3, 422: 7}))
        self.assertEqual(len((await self.call("GET", url)).json["policies"]), 3)

    async def test_concurrent_webhooks_respect_the_limit(self) -> None:
        """Concurrent webhook creations never pass maxWebhooksPerPolicy."""
        group = await self.create_group()
        policy = await self.create_policy(group["id"], change=1)
        url = f"/groups/{group['id']}/policies/{policy['id']}/webhooks"
        self.assertEqual(await self.burst(url, [{"name": "a"}, {"name": "b"}], 10),
                         Counter({201: 2, 422: 8}))
        self.assertEqual(len((await self.call("GET", url)).json["webhooks"]), 4)


class TurnTests(APITestCase):
    """Executions of one group in one process are written together
    (Note [Executions together])."""

    def make_dispatcher(self) -> Any:
        self.saves = Counter[str]()
        inner = super().make_dispatcher()

        @deferred_performer
        def count_save(dispatcher: Any, intent: SaveState) -> Any:
            self.saves[intent.state.group_id] += 1
            return perform(inner, Effect(intent))
        return ComposedDispatcher([TypeDispatcher({SaveState: count_save}), inner])

    async def test_executions_of_one_group_are_written_together(self) -> None:
        """50 concurrent executions of one group all apply, in fewer writes than
        executions (those waiting for a write go in the next one), and none
        loses a compare-and-set race to another."""
        group = await self.create_group(minimal_group(minEntities=3))
        policy = await self.create_policy(group["id"], change=1, cooldown=0)
        url = f"/groups/{group['id']}/policies/{policy['id']}/execute"
        answers = await defer.gatherResults(
            [defer.ensureDeferred(self.call("POST", url)) for _ in range(50)])
        self.assertEqual(Counter(answer.code for answer in answers), Counter({202: 50}))
        self.assertLess(self.saves[group["id"]], 50)
        self.assertEqual(await self.desired(group["id"]), 53)
        self.assertEqual((self.api._queued, self.api._executing), ({}, set()))
