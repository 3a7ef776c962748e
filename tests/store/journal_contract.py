"""
The activity journal's part of the group store contract (see Note [Journal]
in ``otter2.model.journal``): `group_store_tests` in `tests.store.test_stores`
runs it against every backend.
"""

from __future__ import annotations

from typing import Any

from attrs import evolve

from otter2.model import (
    EventKind,
    Execution,
    Fence,
    GroupState,
    JournalEvent,
    Policy,
    ScalingGroup,
    ScheduledEvent,
    Trigger,
)
from otter2.model.journal import from_execution
from otter2.store.interface import DuplicateExecution, FencedOut, GroupStore, StaleVersion

_CONFIG = {"name": "web", "cooldown": 0, "minEntities": 1, "maxEntities": 10}
_LAUNCH = {"type": "launch_server", "args": {"server": {"flavorRef": "f", "imageRef": "i"}}}
_POLICY = Policy("t1", "g1", "p1", {"name": "up", "type": "webhook", "change": 1,
                                    "cooldown": 0}, "v1")


def journal_group(group_id: str = "g1") -> ScalingGroup:
    """A group to keep a journal for."""
    return ScalingGroup(tenant_id="t1", group_id=group_id, config=_CONFIG, launch=_LAUNCH,
                        state=GroupState("t1", group_id, 1), created=1.0)


def entry(event_id: str, at: float, kind: EventKind = EventKind.CHANGE,
          server_id: str | None = None, cause: str | None = None, group_id: str = "g1",
          summary: str = "something changed") -> JournalEvent:
    """One event of group ``group_id``'s journal."""
    return JournalEvent(tenant_id="t1", group_id=group_id, event_id=event_id, kind=kind,
                        at=at, summary=summary, cause=cause, server_id=server_id,
                        details={"n": [1, {"k": "v"}], "at": at})


def execution(execution_id: str, at: float, key: str | None = None,
              after: int = 1) -> Execution:
    """A receipt of policy p1 of group g1 (from 1 to ``after``)."""
    return Execution(tenant_id="t1", group_id="g1", execution_id=execution_id,
                     policy_id="p1", trigger=Trigger.API, at=at, desired_before=1,
                     desired_after=after, idempotency_key=key, request_id="r")


def journal_contract() -> type[Any]:
    """The journal tests, mixed into a store's contract suite (``self.store``)."""

    class JournalContract:
        store: GroupStore

        async def _ids(self, **filters: Any) -> list[str]:
            listed = await self.store.list_journal("t1", "g1", 100, None, **filters)
            return [e.event_id for e in listed]

        async def test_receipts_are_execution_events(self: Any) -> None:
            """A receipt recorded, or fired by the scheduler, is in the journal as an
            execution event with the receipt's id, from the same write; a refused
            record or firing adds none."""
            first = ScheduledEvent("t1", "g1", "p1", 10.0, "v1", cron="* * * * *", bucket=1)
            await self.store.create_group(journal_group(), [_POLICY], [first], 10)
            state = (await self.store.load_group("t1", "g1")).state
            taken = execution("e1", 10.0, key="k", after=2)
            with self.assertRaises(StaleVersion):
                await self.store.record_executions(evolve(state, desired=2, version=9),
                                                   [taken], True, 0.0, 0.0)
            self.assertEqual(await self._ids(), [])
            await self.store.record_executions(evolve(state, desired=2), [taken], True,
                                               0.0, 0.0)
            with self.assertRaises(DuplicateExecution):
                await self.store.record_executions(None, [execution("e2", 11.0, key="k")],
                                                   False, 0.0, 0.0)
            fired = evolve(execution("s1", 12.0), trigger=Trigger.SCHEDULE)
            with self.assertRaises(StaleVersion):
                await self.store.fire_event(first, GroupState("t1", "g1", 3, version=9),
                                            None, True, fired)
            self.assertEqual(await self._ids(), ["e1"])
            await self.store.fire_event(first, None, None, True, fired)
            # A later record moves the receipts on (Cassandra copies them then).
            await self.store.record_executions(None, [execution("e3", 13.0)], False, 0.0, 0.0)
            listed = await self.store.list_journal("t1", "g1", 10, None)
            self.assertEqual(listed, [from_execution(execution("e3", 13.0)),
                                      from_execution(fired), from_execution(taken)])
            self.assertEqual(listed[-1].kind, EventKind.EXECUTION)
            self.assertEqual(await self.store.load_journal("t1", "g1", ["e1", "s1", "x"]),
                             {"e1": from_execution(taken), "s1": from_execution(fired)})

        async def test_appended_events_read_back(self: Any) -> None:
            """Appended events list newest first (ties by id) and load by id, whole;
            another group's or tenant's journal does not show them."""
            await self.store.create_group(journal_group(), [], [], 10)
            await self.store.create_group(journal_group("g2"), [], [], 10)
            events = [entry("b", 10.0, server_id="s1", cause="a"), entry("a", 10.0),
                      entry("c", 30.0, EventKind.PLAN, cause="a")]
            await self.store.append_journal(events, 0.0)
            await self.store.append_journal([entry("z", 50.0, group_id="g2")], 0.0)
            self.assertEqual(await self.store.list_journal("t1", "g1", 10, None),
                             [events[2], events[1], events[0]])
            self.assertEqual(await self.store.load_journal("t1", "g1", ["b", "z", "c"]),
                             {"b": events[0], "c": events[2]})
            self.assertEqual(await self.store.list_journal("t2", "g1", 10, None), [])
            self.assertEqual(await self.store.load_journal("t2", "g1", ["a"]), {})

        async def test_an_event_is_appended_once(self: Any) -> None:
            """Appending an event id already there keeps the first, without error."""
            await self.store.create_group(journal_group(), [], [], 10)
            await self.store.append_journal([entry("a", 10.0)], 0.0)
            await self.store.append_journal(
                [entry("a", 10.0, summary="again"), entry("b", 11.0)], 0.0)
            await self.store.append_journal([entry("a", 10.0, summary="again")], 0.0)
            self.assertEqual(await self.store.list_journal("t1", "g1", 10, None),
                             [entry("b", 11.0), entry("a", 10.0)])

        async def test_journal_filters_and_pages(self: Any) -> None:
            """Listing keeps the events at or after ``since``, of the kinds asked, about
            the server asked, and pages through them after each page's last."""
            await self.store.create_group(journal_group(), [], [], 10)
            events = [entry(f"e{i}", float(i // 2), kind, server)
                      for i, (kind, server) in enumerate(
                          [(EventKind.CHANGE, None), (EventKind.STEP, "s1"),
                           (EventKind.STEP, "s2"), (EventKind.OBSERVED, "s1"),
                           (EventKind.PLAN, None), (EventKind.STEP, "s1"),
                           (EventKind.STATUS, None)])]
            await self.store.append_journal(events, 0.0)
            self.assertEqual(await self._ids(), ["e6", "e4", "e5", "e2", "e3", "e0", "e1"])
            self.assertEqual(await self._ids(since=2.0), ["e6", "e4", "e5"])
            self.assertEqual(await self._ids(kinds=["step", "observed"]),
                             ["e5", "e2", "e3", "e1"])
            self.assertEqual(await self._ids(server_id="s1"), ["e5", "e3", "e1"])
            self.assertEqual(await self._ids(since=1.0, kinds=["step"], server_id="s1"), ["e5"])
            self.assertEqual(await self._ids(server_id="s9"), [])
            seen: list[str] = []
            marker = None
            while True:
                page = await self.store.list_journal("t1", "g1", 2, marker, kinds=["step"])
                seen.extend(e.event_id for e in page)
                if len(page) < 2:
                    break
                marker = page[-1].event_id
            self.assertEqual(seen, ["e5", "e2", "e1"])
            # A marker's event need not pass the filters; an unknown one starts anew.
            page = await self.store.list_journal("t1", "g1", 10, "e4", server_id="s1")
            self.assertEqual([e.event_id for e in page], ["e5", "e3", "e1"])
            page = await self.store.list_journal("t1", "g1", 10, "e0")
            self.assertEqual([e.event_id for e in page], ["e1"])
            page = await self.store.list_journal("t1", "g1", 2, "nope")
            self.assertEqual([e.event_id for e in page], ["e6", "e4"])

        async def test_old_events_go_and_the_journal_with_its_group(self: Any) -> None:
            """An append drops the group's events older than the retention; deleting
            the group drops its journal; a gone group's journal takes nothing."""
            await self.store.create_group(journal_group(), [], [], 10)
            await self.store.append_journal([entry("a", 10.0), entry("b", 20.0)], 0.0)
            await self.store.append_journal([entry("c", 30.0)], 15.0)
            self.assertEqual(await self._ids(), ["c", "b"])
            self.assertEqual(await self.store.load_journal("t1", "g1", ["a"]), {})
            await self.store.delete_group("t1", "g1")
            self.assertEqual(await self._ids(), [])
            self.assertEqual(await self.store.load_journal("t1", "g1", ["b", "c"]), {})
            await self.store.append_journal([entry("d", 40.0)], 0.0)
            await self.store.create_group(journal_group(), [], [], 10)
            self.assertEqual(await self._ids(), [])

        async def test_stale_fence_appends_nothing(self: Any) -> None:
            """An append fenced with a bucket's older token is refused with FencedOut
            and writes nothing; the latest token's goes through."""
            await self.store.create_group(journal_group(), [], [], 10)
            old = Fence(3, await self.store.claim_bucket(3))
            new = Fence(3, await self.store.claim_bucket(3))
            await self.store.append_journal([entry("a", 10.0)], 0.0)
            with self.assertRaises(FencedOut):
                await self.store.append_journal([entry("b", 20.0)], 15.0, fence=old)
            self.assertEqual(await self._ids(), ["a"])
            await self.store.append_journal([entry("b", 20.0)], 0.0, fence=new)
            self.assertEqual(await self._ids(), ["b", "a"])

    return JournalContract

