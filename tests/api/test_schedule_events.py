"""
Schedule policies are stored with their next trigger time (the scheduler
that fires them comes later): checked in the SQLite file itself.
"""

import sqlite3
import time
from datetime import datetime, timezone

from tests.api.support import APITestCase, minimal_group


class ScheduleEventTests(APITestCase):
    """Creating or updating a schedule policy records when it fires next."""

    def events(self) -> list[tuple]:
        with sqlite3.connect(self.store_path) as conn:
            return conn.execute("SELECT policy_id, trigger, cron, version FROM "
                                "schedule_event ORDER BY trigger").fetchall()

    async def test_at_and_cron_events(self) -> None:
        """An at policy fires at its instant; a cron one at its next occurrence in UTC."""
        body = minimal_group()
        body["scalingPolicies"] = [
            {"name": "launch", "type": "schedule", "change": 1, "cooldown": 0,
             "args": {"at": "2030-06-01T08:00:00Z"}},
            {"name": "nightly", "type": "schedule", "desiredCapacity": 1, "cooldown": 0,
             "args": {"cron": "0 22 * * *"}},
            {"name": "hook", "type": "webhook", "change": 1, "cooldown": 0},
        ]
        before = time.time()
        group = await self.create_group(body)
        at_id, cron_id = (p["id"] for p in group["scalingPolicies"][:2])
        events = {policy_id: (trigger, cron) for policy_id, trigger, cron, _ in self.events()}
        self.assertEqual(set(events), {at_id, cron_id})
        self.assertEqual(events[at_id],
                         (datetime(2030, 6, 1, 8, tzinfo=timezone.utc).timestamp(), None))
        trigger, cron = events[cron_id]
        self.assertEqual(cron, "0 22 * * *")
        fires = datetime.fromtimestamp(trigger, timezone.utc)
        self.assertEqual((fires.hour, fires.minute, fires.second), (22, 0, 0))
        self.assertTrue(before < trigger <= before + 86400)

    async def test_update_writes_a_new_event(self) -> None:
        """Updating a schedule policy records an event for its new args and version."""
        group = await self.create_group()
        policy = {"name": "s", "type": "schedule", "change": 1, "cooldown": 0,
                  "args": {"at": "2031-01-01T00:00:00Z"}}
        answer = await self.call("POST", f"/groups/{group['id']}/policies", [policy])
        policy_id = answer.json["policies"][0]["id"]
        answer = await self.call("PUT", f"/groups/{group['id']}/policies/{policy_id}",
                                 {**policy, "args": {"at": "2032-01-01T00:00:00Z"}})
        self.assertEqual(answer.code, 204, answer.raw)
        events = self.events()
        self.assertEqual([e[1] for e in events],
                         [datetime(2031, 1, 1, tzinfo=timezone.utc).timestamp(),
                          datetime(2032, 1, 1, tzinfo=timezone.utc).timestamp()])
        self.assertNotEqual(events[0][3], events[1][3])
