"""
Tests for the activity journal over HTTP (``otter2.api.journal`` and the
owner's change events of ``otter2.api.changes``): a real API on a real
SQLite file, the simulated cloud for a server's removal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from otter2.api.journal import walk_back
from otter2.model import EventKind, JournalEvent
from tests.api.support import URL_ROOT, Answer, APITestCase, CloudAPITestCase, minimal_group
from tests.api.test_errors import assert_error


def event(group_id: str, event_id: str, at: float, kind: EventKind = EventKind.STEP,
          cause: str | None = None, server_id: str | None = None,
          **details: Any) -> JournalEvent:
    """An event of tenant t1's group, as convergence would append it."""
    return JournalEvent(tenant_id="t1", group_id=group_id, event_id=event_id, kind=kind,
                        at=at, summary=f"{kind.value} {event_id}", cause=cause,
                        server_id=server_id, details=details)


class JournalCase(APITestCase):
    """Reading a group's activities."""

    async def activities(self, group_id: str, query: str = "") -> list[dict[str, Any]]:
        answer = await self.call("GET", f"/groups/{group_id}/activities{query}")
        self.assertEqual(answer.code, 200, answer.raw)
        found: list[dict[str, Any]] = answer.json["activities"]
        return found

    async def changes(self, group_id: str) -> list[dict[str, Any]]:
        """The group's change events, newest first."""
        return await self.activities(group_id, "?type=change")


class ActivityTests(JournalCase):
    """GET …/activities: every kind of event, newest first, filtered and paged."""

    async def test_creation_is_a_change(self) -> None:
        """A new group's journal starts with its creation, from 0 to minEntities."""
        group = await self.create_group(minimal_group(minEntities=2))
        [created] = await self.activities(group["id"])
        self.assertEqual(
            {k: created[k] for k in ("type", "cause", "serverId", "details")},
            {"type": "change", "cause": None, "serverId": None, "details": {
                "change": "group_created", "desired_before": 0, "desired_after": 2}})
        self.assertEqual(created["summary"], "group created: desired capacity 0 -> 2 "
                                             "(minEntities 2)")
        self.assertTrue(datetime.strptime(created["at"], "%Y-%m-%dT%H:%M:%S.%fZ"))

    async def test_execution_is_its_receipt(self) -> None:
        """An execution's activity has its receipt's id (X-Execution-Id) and decision;
        a refused one is there too."""
        group = await self.create_group()
        policy = await self.create_policy(group["id"], change=2, cooldown=600)
        applied = await self.call(
            "POST", f"/groups/{group['id']}/policies/{policy['id']}/execute")
        refused = await self.call(
            "POST", f"/groups/{group['id']}/policies/{policy['id']}/execute")
        self.assertEqual((applied.code, refused.code), (202, 403))
        second, first = await self.activities(group["id"], "?type=execution")
        self.assertEqual((first["id"], second["id"]), (applied.header("X-Execution-Id"),
                                                       refused.header("X-Execution-Id")))
        self.assertEqual((first["details"]["desired_before"], first["details"]["desired_after"],
                          first["details"]["trigger"]), (0, 2, "api"))
        self.assertEqual(first["summary"],
                         f"policy {policy['id']} executed by api: desired capacity 0 -> 2")
        self.assertEqual(second["details"]["refusal"]["type"], "CannotExecutePolicyError")

    async def test_capability_execution_is_an_activity(self) -> None:
        """An anonymous execution through a capability URL shows in the owner's journal."""
        group = await self.create_group()
        policy = await self.create_policy(group["id"], change=1)
        answer = await self.call(
            "POST", f"/groups/{group['id']}/policies/{policy['id']}/webhooks", [{"name": "w"}])
        webhook = answer.json["webhooks"][0]
        url = next(link["href"] for link in webhook["links"]
                   if link["rel"] == "capability").replace(URL_ROOT, self.base)
        self.assertEqual((await self.call("POST", url)).code, 202)
        [execution] = await self.activities(group["id"], "?type=execution")
        [receipt] = (await self.call("GET", f"/groups/{group['id']}/executions")).json[
            "executions"]
        self.assertEqual((execution["id"], execution["details"]["trigger"],
                          execution["details"]["webhook_id"]),
                         (receipt["id"], "webhook", webhook["id"]))

    async def test_filters_and_pages(self) -> None:
        """``since`` (ISO 8601 or seconds), ``type`` (repeated or with commas) and
        ``server`` filter; pages follow their ``next`` links, which keep the filters."""
        group_id = (await self.create_group())["id"]
        await self.store.append_journal([
            event(group_id, "a", 1000.0, EventKind.OBSERVED, server_id="s1"),
            event(group_id, "b", 2000.0, EventKind.PLAN, cause="a"),
            event(group_id, "c", 3000.0, cause="a", server_id="s1", plan="b"),
            event(group_id, "d", 3000.0, cause="a", server_id="s2", plan="b"),
            event(group_id, "e", 4000.0, EventKind.STATUS, cause="b")], 0.0)

        async def ids(query: str) -> list[str]:
            return [a["id"] for a in await self.activities(group_id, query)
                    if a["type"] != "change"]
        self.assertEqual(await ids(""), ["e", "c", "d", "b", "a"])
        iso = datetime.fromtimestamp(2000, UTC).isoformat()
        for since in ("2000", "2000.0", iso, "1970-01-01T00:33:20Z", "1970-01-01T00:33:20"):
            self.assertEqual(await ids(f"?since={since.replace('+', '%2B')}"),
                             ["e", "c", "d", "b"], since)
        self.assertEqual(await ids("?type=step&type=observed"), ["c", "d", "a"])
        self.assertEqual(await ids("?type=step,status"), ["e", "c", "d"])
        self.assertEqual(await ids("?server=s1"), ["c", "a"])
        self.assertEqual(await ids("?server=s1&type=step&since=1500"), ["c"])
        seen, url = [], f"/groups/{group_id}/activities?type=step&type=plan&limit=2"
        while url:
            answer = await self.call("GET", url)
            self.assertEqual(answer.code, 200, answer.raw)
            seen += [a["id"] for a in answer.json["activities"]]
            links = answer.json["activities_links"]
            url = links[0]["href"].replace(URL_ROOT, self.base) if links else ""
            if links:
                query = urlsplit(links[0]["href"]).query
                self.assertEqual([pair.split("=")[0] for pair in query.split("&")],
                                 ["limit", "marker", "type", "type"])
                self.assertEqual((parse_qs(query)["type"], parse_qs(query)["limit"]),
                                 (["plan", "step"], ["2"]))
        self.assertEqual(seen, ["c", "d", "b"])

    async def test_bad_arguments(self) -> None:
        """A ``since`` that is no time, a ``type`` that is no activity type or a bad
        ``limit`` is a 400 saying what is accepted."""
        group_id = (await self.create_group())["id"]
        for query, words in (("since=yesterday", "ISO 8601"), ("since=-5", "ISO 8601"),
                             ("type=step,nope", "the types are change, execution, observed, "
                                                "plan, status, step"),
                             ("limit=x", "whole number")):
            answer = await self.call("GET", f"/groups/{group_id}/activities?{query}")
            error = assert_error(self, answer, 400, "InvalidQueryArgument")
            self.assertIn(words, error["message"], query)

    async def test_unknown_and_other_tenants_groups(self) -> None:
        """Another tenant's group, or none, is a 404 with nothing of its journal."""
        group_id = (await self.create_group(tenant="t2"))["id"]
        for url in (f"/groups/{group_id}/activities", "/groups/nope/activities",
                    f"/groups/{group_id}/servers/s1/history"):
            assert_error(self, await self.call("GET", url), 404, "NoSuchScalingGroupError")


class ChangeTests(JournalCase):
    """The owner's changes are roots of the journal; failed requests leave none."""

    async def test_config_changes(self) -> None:
        """A config update says how it moved the desired capacity, if it did; one that
        fails, or a dry run, writes nothing."""
        group = await self.create_group(minimal_group(minEntities=2))
        config = {"name": "web", "cooldown": 0, "minEntities": 5, "maxEntities": 10,
                  "metadata": {}}
        url = f"/groups/{group['id']}/config"
        self.assertEqual((await self.call("PUT", url, config)).code, 204)
        self.assertEqual((await self.call("PUT", url, {**config, "maxEntities": 20})).code,
                         204)
        self.assertEqual((await self.call("PUT", url, {**config, "minEntities": -1})).code,
                         400)
        # A dry run changes nothing (here, without a cloud, it cannot even plan).
        self.assertNotEqual((await self.call("PUT", url + "?dry_run=true", config)).code, 204)
        self.assertEqual((await self.call("PUT", url, {**config, "minEntities": 1,
                                                       "maxEntities": 3})).code, 204)
        lowered, unmoved, raised, _ = await self.changes(group["id"])
        self.assertEqual(raised["summary"], "desired capacity 2 -> 5: minEntities raised to 5")
        self.assertEqual((raised["details"]["desired_before"],
                          raised["details"]["desired_after"],
                          raised["details"]["changed"]["minEntities"]),
                         (2, 5, {"before": 2, "after": 5}))
        self.assertEqual(unmoved["summary"], "group configuration updated: maxEntities 10 -> 20")
        self.assertNotIn("desired_before", unmoved["details"])
        self.assertEqual(lowered["summary"], "desired capacity 5 -> 3: maxEntities lowered to 3")

    async def test_launch_and_pause(self) -> None:
        """Launch updates, pauses and resumes are changes, newest first."""
        group = await self.create_group()
        url = f"/groups/{group['id']}"
        launch = minimal_group()["launchConfiguration"]
        self.assertEqual((await self.call("PUT", url + "/launch", launch)).code, 204)
        self.assertEqual((await self.call("POST", url + "/pause")).code, 204)
        self.assertEqual((await self.call("POST", url + "/resume")).code, 204)
        self.assertEqual((await self.call("PUT", url + "/launch", {"type": "no"})).code, 400)
        resumed, paused, launched, created = await self.changes(group["id"])
        self.assertEqual([c["details"]["change"] for c in (resumed, paused, launched, created)],
                         ["resumed", "paused", "launch", "group_created"])
        self.assertEqual(len({c["id"] for c in (resumed, paused, launched, created)}), 4)
        self.assertTrue(all(c["cause"] is None for c in (resumed, paused, launched)))


class ServerRemovalTests(JournalCase, CloudAPITestCase):
    """DELETE …/servers/{id} is a change about that server, found in its history."""

    async def test_removals(self) -> None:
        """A removal with a replacement keeps the capacity; one without says how it
        lowered it; a refused one (below the minimum) writes nothing; the server's
        history shows its removal as its own root."""
        group_id = (await self.create_group(minimal_group(minEntities=1)))["id"]
        policy = await self.create_policy(group_id, desiredCapacity=3)
        await self.call("POST", f"/groups/{group_id}/policies/{policy['id']}/execute")
        kept, dropped = self.server(group_id), self.server(group_id)
        url = f"/groups/{group_id}/servers/"
        self.assertEqual((await self.call("DELETE", url + kept)).code, 202)
        self.assertEqual((await self.call("DELETE", url + dropped + "?replace=false")).code, 202)
        self.assertEqual((await self.call("DELETE", url + "nope")).code, 404)
        without, replaced, _ = await self.changes(group_id)
        self.assertEqual((replaced["serverId"], replaced["details"]),
                         (kept, {"change": "server_removed", "replace": True, "purge": True}))
        self.assertEqual(without["details"], {
            "change": "server_removed", "replace": False, "purge": True,
            "desired_before": 3, "desired_after": 2})
        self.assertEqual(without["summary"], f"desired capacity 3 -> 2: server {dropped} "
                                             "deleted by its owner without replacement")
        answer = await self.call("GET", f"{url}{dropped}/history")
        self.assertEqual(answer.code, 200, answer.raw)
        [entry] = answer.json["history"]
        self.assertEqual((entry["id"], entry["causes"], answer.json["rootCause"]["id"]),
                         (without["id"], [], without["id"]))


class HistoryTests(JournalCase):
    """GET …/servers/{id}/history walks each of the server's events back to its root."""

    async def history(self, group_id: str, server_id: str) -> Answer:
        return await self.call("GET", f"/groups/{group_id}/servers/{server_id}/history")

    async def test_walk_to_the_root(self) -> None:
        """Each event about the server lists its plan and its cause up to the root, and
        the server's single root is the ``rootCause``."""
        group_id = (await self.create_group())["id"]
        await self.store.append_journal([
            event(group_id, "x1", 10.0, EventKind.EXECUTION),
            event(group_id, "p1", 11.0, EventKind.PLAN, cause="x1"),
            event(group_id, "s1", 12.0, cause="x1", server_id="srv", plan="p1"),
            event(group_id, "s2", 13.0, cause="x1", server_id="srv", plan="p1"),
            event(group_id, "s3", 14.0, cause="x1", server_id="other", plan="p1")], 0.0)
        answer = await self.history(group_id, "srv")
        self.assertEqual(answer.code, 200, answer.raw)
        history = answer.json["history"]
        self.assertEqual([h["id"] for h in history], ["s2", "s1"])
        self.assertEqual([[c["id"] for c in h["causes"]] for h in history],
                         [["p1", "x1"], ["p1", "x1"]])
        self.assertEqual(history[0]["causes"][1]["type"], "execution")
        self.assertEqual((answer.json["rootCause"]["id"], answer.json["roots"]),
                         ("x1", ["x1"]))

    async def test_pruned_cycles_and_several_roots(self) -> None:
        """A cause no longer in the journal says it was pruned; a cycle stops the walk;
        events leading to different roots are each walked to their own, and the
        server's ``rootCause`` is the root of its creation step, or, without one, of
        its oldest event that reaches a root."""
        group_id = (await self.create_group())["id"]
        await self.store.append_journal([
            event(group_id, "o1", 10.0, EventKind.OBSERVED, server_id="srv"),
            event(group_id, "s1", 11.0, cause="o1", server_id="srv"),
            event(group_id, "s2", 12.0, cause="gone", server_id="srv", plan="gone-plan"),
            event(group_id, "a", 13.0, cause="b", server_id="loop"),
            event(group_id, "b", 14.0, cause="a")], 0.0)
        answer = await self.history(group_id, "srv")
        history = answer.json["history"]
        self.assertEqual([h["id"] for h in history], ["s2", "s1", "o1"])
        pruned = history[0]["causes"]
        self.assertEqual([(c["id"], c.get("pruned")) for c in pruned], [("gone", True)])
        self.assertIn("no longer in the journal", pruned[0]["summary"])
        self.assertEqual([c["id"] for c in history[1]["causes"]], ["o1"])
        self.assertEqual(history[2]["causes"], [])
        self.assertEqual((answer.json["rootCause"]["id"], answer.json["roots"]), ("o1", ["o1"]))
        looped = (await self.history(group_id, "loop")).json
        self.assertEqual([(c["id"], c.get("cycle")) for c in looped["history"][0]["causes"]],
                         [("b", None), ("a", True)])
        self.assertIsNone(looped["rootCause"])
        await self.store.append_journal([
            event(group_id, "x2", 20.0, EventKind.CHANGE),
            event(group_id, "s4", 21.0, cause="x2", server_id="srv")], 0.0)
        several = (await self.history(group_id, "srv")).json
        self.assertEqual((several["rootCause"]["id"], several["roots"]), ("o1", ["x2", "o1"]))
        await self.store.append_journal([
            event(group_id, "s5", 22.0, cause="x2", server_id="srv", action="create")], 0.0)
        created = (await self.history(group_id, "srv")).json
        self.assertEqual(created["rootCause"]["id"], "x2")

    async def test_unknown_server(self) -> None:
        """A server with no recorded activity is a 404 saying so."""
        group_id = (await self.create_group())["id"]
        error = assert_error(self, await self.history(group_id, "nope"), 404,
                             "NoSuchServerActivityError")
        self.assertIn("No activity is recorded for server nope", error["message"])


_IDS = [f"e{i}" for i in range(8)]


@st.composite
def _journals(draw: st.DrawFn) -> tuple[list[JournalEvent], set[str]]:
    """Events linked at random (causes and plans among a few ids, some never
    recorded: pruned), and which of the ids were recorded."""
    recorded = draw(st.sets(st.sampled_from(_IDS), min_size=1))
    events = []
    for event_id in sorted(recorded):
        cause = draw(st.none() | st.sampled_from(_IDS))
        plan = draw(st.none() | st.sampled_from(_IDS))
        kind = draw(st.sampled_from(list(EventKind)))
        events.append(event("g", event_id, 1.0, kind, cause,
                            **({} if plan is None else {"plan": plan})))
    return events, recorded


class WalkBackTests(SynchronousTestCase):
    """The pure walk from an event to its root (``otter2.api.journal.walk_back``)."""

    @given(_journals())
    def test_walks_end_and_reach_only_roots(
            self, journal: tuple[list[JournalEvent], set[str]]) -> None:
        """With every recorded event known, a walk needs nothing more; it passes each
        event once, never the one it starts from; it ends at a root of a root kind
        without a cause, or says which cause was pruned or closed a cycle."""
        events, recorded = journal
        known = {e.event_id: e for e in events}
        missing = set(_IDS) - recorded
        for start in events:
            walk = walk_back(start, known, missing)
            ids = [e.event_id for e in walk.chain]
            self.assertIsNone(walk.needs)
            self.assertEqual(len(ids), len(set(ids)))
            self.assertNotIn(start.event_id, ids)
            ends = [walk.root is not None, walk.pruned is not None, walk.cycle is not None]
            self.assertLessEqual(sum(ends), 1)
            if walk.root is not None:
                self.assertIsNone(walk.root.cause)
                self.assertTrue(walk.root.kind.is_root)
            if walk.pruned is not None:
                self.assertIn(walk.pruned, missing)
            if walk.cycle is not None:
                self.assertIn(walk.cycle, {start.event_id, *ids})

    @given(_journals())
    def test_unknown_links_are_asked_for(
            self, journal: tuple[list[JournalEvent], set[str]]) -> None:
        """Knowing only the event walked from, the walk asks for its first link not yet
        known, or has none to follow."""
        events, _ = journal
        for start in events:
            walk = walk_back(start, {start.event_id: start}, set())
            links = [link for link in (start.details.get("plan"), start.cause)
                     if link is not None and link != start.event_id]
            if links:
                self.assertEqual(walk.needs, links[0])
            else:
                self.assertIsNone(walk.needs)
