"""
Schedule policies are stored with their next trigger time, one pending
event per policy, replaced when the policy changes and removed with it:
checked in the SQLite file itself.
"""

import sqlite3
import time
from datetime import UTC, datetime

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
                         (datetime(2030, 6, 1, 8, tzinfo=UTC).timestamp(), None))
        trigger, cron = events[cron_id]
        self.assertEqual(cron, "0 22 * * *")
        fires = datetime.fromtimestamp(trigger, UTC)
        self.assertEqual((fires.hour, fires.minute, fires.second), (22, 0, 0))
        self.assertTrue(before < trigger <= before + 86400)

    async def test_update_replaces_the_event(self) -> None:
        """Updating a schedule policy replaces its event by one for its new args and version."""
        group = await self.create_group()
        policy = {"name": "s", "type": "schedule", "change": 1, "cooldown": 0,
                  "args": {"at": "2031-01-01T00:00:00Z"}}
        answer = await self.call("POST", f"/groups/{group['id']}/policies", [policy])
        policy_id = answer.json["policies"][0]["id"]
        [(_, _, _, old_version)] = self.events()
        answer = await self.call("PUT", f"/groups/{group['id']}/policies/{policy_id}",
                                 {**policy, "args": {"at": "2032-01-01T00:00:00Z"}})
        self.assertEqual(answer.code, 204, answer.raw)
        [(event_policy, trigger, _, version)] = self.events()
        self.assertEqual((event_policy, trigger),
                         (policy_id, datetime(2032, 1, 1, tzinfo=UTC).timestamp()))
        self.assertNotEqual(version, old_version)

    async def test_deleted_policy_leaves_no_event(self) -> None:
        """A deleted schedule policy has no event left; the others keep theirs."""
        group = await self.create_group()
        policies = [{"name": f"s{i}", "type": "schedule", "change": 1, "cooldown": 0,
                     "args": {"cron": "0 8 * * *"}} for i in range(2)]
        answer = await self.call("POST", f"/groups/{group['id']}/policies", policies)
        first, second = (p["id"] for p in answer.json["policies"])
        self.assertEqual(len(self.events()), 2)
        answer = await self.call("DELETE", f"/groups/{group['id']}/policies/{first}")
        self.assertEqual(answer.code, 204, answer.raw)
        self.assertEqual([e[0] for e in self.events()], [second])

    async def test_cron_in_a_time_zone(self) -> None:
        """A cron with a timezone is stored as given and fires at its local time."""
        group = await self.create_group()
        policy = {"name": "tokyo mornings", "type": "schedule", "desiredCapacity": 2,
                  "cooldown": 0, "args": {"cron": "0 9 * * *", "timezone": "Asia/Tokyo"}}
        answer = await self.call("POST", f"/groups/{group['id']}/policies", [policy])
        self.assertEqual(answer.code, 201, answer.raw)
        self.assertEqual(answer.json["policies"][0]["args"], policy["args"])
        [(_, trigger, _, _)] = self.events()
        fires = datetime.fromtimestamp(trigger, UTC)
        self.assertEqual((fires.hour, fires.minute), (0, 0))  # 09:00 in Tokyo, UTC+9

    async def test_unknown_time_zone_is_refused(self) -> None:
        """An unknown zone is a 400 naming the field, and nothing is stored."""
        group = await self.create_group()
        policy = {"name": "s", "type": "schedule", "change": 1, "cooldown": 0,
                  "args": {"cron": "0 9 * * *", "timezone": "Nowhere/Atlantis"}}
        answer = await self.call("POST", f"/groups/{group['id']}/policies", [policy])
        self.assertEqual((answer.code, answer.json["error"]["type"]), (400, "ValidationError"))
        self.assertIn("args.timezone", answer.json["error"]["message"])
        self.assertEqual(self.events(), [])
