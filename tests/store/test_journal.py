"""
Tests for the journal's listing rules shared by every store backend
(``otter2.store.journal``) and the journal's event for an execution receipt.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import TestCase

from otter2.model import EventKind, Execution, JournalEvent, Refusal, Trigger
from otter2.model.journal import from_execution
from otter2.store import journal

_events = st.lists(
    st.builds(
        lambda i, at, kind, server: JournalEvent(
            tenant_id="t", group_id="g", event_id=f"e{i}", kind=kind, at=at,
            summary="s", server_id=server),
        st.integers(0, 10**6), st.integers(0, 20).map(float), st.sampled_from(list(EventKind)),
        st.sampled_from([None, "s1", "s2"])),
    unique_by=lambda e: e.event_id, max_size=30)


class PageTests(TestCase):

    @given(_events, st.integers(1, 7))
    def test_pages_walk_every_event_once_newest_first(self, events: list[JournalEvent],
                                                      limit: int) -> None:
        """Following markers page by page lists each event exactly once, in order."""
        seen: list[JournalEvent] = []
        after = None
        while True:
            chunk = journal.page(events, limit, after, None, (), None)
            seen.extend(chunk)
            if len(chunk) < limit:
                break
            after = chunk[-1]
        self.assertEqual(seen, journal.newest_first(events))
        self.assertEqual([(-e.at, e.event_id) for e in seen],
                         sorted((-e.at, e.event_id) for e in events))

    @given(_events, st.floats(0, 20), st.sampled_from([(), ("step",), ("plan", "observed")]),
           st.sampled_from([None, "s1"]))
    def test_filters(self, events: list[JournalEvent], since: float,
                     kinds: tuple[str, ...], server: str | None) -> None:
        """A filtered page holds exactly the events that pass every filter."""
        listed = journal.page(events, 100, None, since, kinds, server)
        expected = [e for e in journal.newest_first(events)
                    if e.at >= since and (not kinds or e.kind.value in kinds)
                    and (server is None or e.server_id == server)]
        self.assertEqual(listed, expected)

    def test_record_round_trip(self) -> None:
        event = JournalEvent(tenant_id="t", group_id="g", event_id="e", kind=EventKind.STEP,
                             at=3.5, summary="created server s", cause="x", server_id="s",
                             details={"plan": "p", "outcome": "ok"})
        self.assertEqual(journal.from_json("t", "g", "e", "step", 3.5, "s",
                                           journal.to_json(event)), event)


class FromExecutionTests(TestCase):

    def _execution(self, refusal: Refusal | None) -> Execution:
        return Execution(tenant_id="t", group_id="g", execution_id="x1", policy_id="p",
                         trigger=Trigger.WEBHOOK, at=7.0, desired_before=2,
                         desired_after=2 if refusal else 5, refusal=refusal,
                         idempotency_key="k", webhook_id="w")

    def test_applied_is_a_capacity_change_root(self) -> None:
        event = from_execution(self._execution(None))
        self.assertEqual((event.event_id, event.kind, event.at, event.cause),
                         ("x1", EventKind.EXECUTION, 7.0, None))
        self.assertTrue(event.kind.is_root)
        self.assertEqual(event.capacity_change, (2, 5))
        self.assertEqual((event.details["webhook_id"], event.details["idempotency_key"]),
                         ("w", "k"))

    def test_refused_changes_nothing_and_says_why(self) -> None:
        event = from_execution(self._execution(Refusal(403, "CannotExecutePolicyError",
                                                       "Cooldown period has not expired")))
        self.assertIsNone(event.capacity_change)
        self.assertIn("Cooldown period has not expired", event.summary)
        self.assertEqual(event.details["refusal"]["status"], 403)
