"""
The activity journal against mimic (issue 15): every server created or
deleted in a scale-up, a scale-down and an out-of-band repair is traced,
through the API, to exactly one root cause.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.e2e.support import MimicTestCase


class RootCauseTests(MimicTestCase):
    """Every server convergence creates or deletes has one root, said by the API."""

    async def activities(self, group_id: str, kind: str) -> list[dict[str, Any]]:
        """Every activity of ``kind`` of the group, following the pages."""
        url: str | None = f"{self.api}/groups/{group_id}/activities?type={kind}"
        found: list[dict[str, Any]] = []
        while url is not None:
            answer = await self.request("GET", url, ok=200)
            found.extend(answer["activities"])
            url = next((link["href"] for link in answer.get("activities_links", ())
                        if link.get("rel") == "next"), None)
        return found

    async def test_every_server_traced_to_one_root(self) -> None:
        """Created with 2, +3, down to 1, a server deleted out of band and one put in
        ERROR: each server's history names one root, the change, execution or
        observation that asked for it."""
        lb = await self.new_load_balancer()
        group_id = await self.create_group(2, (lb,))
        await self.converged(group_id, 2, (lb,))
        await self.execute(group_id, change=3)
        await self.converged(group_id, 5, (lb,))
        await self.request("PUT", f"{self.api}/groups/{group_id}/config",
                           {"name": "web", "cooldown": 0, "minEntities": 0,
                            "maxEntities": 10, "metadata": {}}, ok=204)
        await self.execute(group_id, desiredCapacity=1)
        [kept] = await self.converged(group_id, 1, (lb,))
        await self.request("DELETE",
                           f"{self.cloud['cloudServersOpenStack']}/servers/{kept['id']}",
                           ok=204)
        [replacement] = await self.converged(group_id, 1, (lb,))
        await self.request("POST", f"{self.cloud['cloudServersBehavior']}/attributes/",
                           {"status": {replacement["id"]: "ERROR"}}, ok=201)
        [last] = await self.converged(group_id, 1, (lb,))
        self.assertNotIn(last["id"], (kept["id"], replacement["id"]))

        steps = await self.activities(group_id, "step")
        roots: dict[str, dict[str, Any]] = {}
        for kind in ("execution", "change", "observed"):
            roots.update((a["id"], a) for a in await self.activities(group_id, kind))
        acted = {(a["serverId"], a["details"]["action"]) for a in steps
                 if a["serverId"] and a["details"]["action"] in ("create", "delete")}
        traced: Counter[tuple[str, str]] = Counter()
        for server_id, action in sorted(acted):
            history = await self.request(
                "GET", f"{self.api}/groups/{group_id}/servers/{server_id}/history", ok=200)
            self.assertIn(history["rootCause"]["id"], roots)
            causes = {event["cause"] for event in history["history"]
                      if event["type"] == "step" and event["details"]["action"] == action}
            [root] = causes  # one root for the server's creation, one for its deletion
            self.assertIn(root, roots, f"server {server_id}'s {action} root is not a root")
            traced[(action, roots[root]["type"])] += 1
        # 2 at creation, 3 by the execution, 1 for each repair; 4 scaled down and
        # the broken server deleted.
        self.assertEqual(traced, {("create", "change"): 2, ("create", "execution"): 3,
                                  ("create", "observed"): 2, ("delete", "execution"): 4,
                                  ("delete", "observed"): 1})
