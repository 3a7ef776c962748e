"""
Tests for otter2.effects.dispatcher: the store intents performed for real,
and the dispatcher that calls back after an intent of one type.
"""

from effect import Effect
from twisted.internet import reactor
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from txeffect import perform

from otter2.effects import make_dispatcher
from otter2.effects.dispatcher import notify_after, world_dispatcher
from otter2.intents import Now, RandomHex
from otter2.model import EventKind, JournalEvent
from otter2.store.intents import (
    STORE_INTENTS,
    AppendJournal,
    CountRows,
    CreateGroup,
    ListDivergent,
    ListGroups,
    ListJournal,
    LoadGroup,
    LoadJournal,
    MarkDivergent,
    RecordExecutions,
    SaveState,
    marks_divergent,
)
from otter2.store.interface import GroupStore
from otter2.store.memory import MemoryGroupStore
from otter2.store.sqlite import SQLiteGroupStore
from tests.store.test_stores import group


class StoreIntentTests(TestCase):
    """Every store intent reaches the store method it names."""

    def setUp(self) -> None:
        self.store = SQLiteGroupStore(IReactorThreads(reactor), self.mktemp() + ".sqlite")
        self.addCleanup(self.store.close)
        self.dispatcher = make_dispatcher(reactor, self.store)

    def test_every_intent_names_a_method(self) -> None:
        """Each intent's fields are the keyword arguments of a store method."""
        import inspect

        for intent in STORE_INTENTS:
            method = getattr(GroupStore, intent.method)
            parameters = list(inspect.signature(method).parameters)[1:]
            fields = [f.name for f in intent.__attrs_attrs__]
            self.assertEqual(parameters, fields, intent.__name__)

    async def test_round_trip(self) -> None:
        """A group created through intents is loaded and counted through intents."""
        await perform(self.dispatcher, Effect(CreateGroup(group(), [], [], 10)))
        loaded = await perform(self.dispatcher, Effect(LoadGroup("t1", "g1")))
        self.assertEqual(loaded, group())
        listed = await perform(self.dispatcher, Effect(ListGroups("t1", 10, None)))
        self.assertEqual(listed, [group()])
        counts = await perform(self.dispatcher, Effect(CountRows()))
        self.assertEqual(counts["groups"], 1)

    async def test_journal(self) -> None:
        """Journal events appended through intents are listed and loaded through intents."""
        await perform(self.dispatcher, Effect(CreateGroup(group(), [], [], 10)))
        event = JournalEvent(tenant_id="t1", group_id="g1", event_id="e1",
                             kind=EventKind.OBSERVED, at=1.0, summary="seen")
        await perform(self.dispatcher, Effect(AppendJournal([event], 0.0)))
        listed = await perform(self.dispatcher, Effect(ListJournal("t1", "g1", 10, None)))
        loaded = await perform(self.dispatcher, Effect(LoadJournal("t1", "g1", ["e1"])))
        self.assertEqual((listed, loaded), ([event], {"e1": event}))


class WorldTests(TestCase):
    """The time comes from the clock given."""

    async def test_now(self) -> None:
        """Now() is the clock's time."""
        clock = Clock()
        clock.advance(1234.5)
        from effect import ComposedDispatcher, base_dispatcher

        dispatcher = ComposedDispatcher([world_dispatcher(clock), base_dispatcher])
        self.assertEqual(await perform(dispatcher, Effect(Now())), 1234.5)

    async def test_random_hex(self) -> None:
        """RandomHex(n) is 2n lower-case hex digits, different each time."""
        from effect import ComposedDispatcher, base_dispatcher

        dispatcher = ComposedDispatcher([world_dispatcher(Clock()), base_dispatcher])
        first = await perform(dispatcher, Effect(RandomHex(4)))
        second = await perform(dispatcher, Effect(RandomHex(4)))
        self.assertRegex(first, "^[0-9a-f]{8}$")
        self.assertNotEqual(first, second)


class NotifyAfterTests(TestCase):
    """A dispatcher that calls back once an intent of one type is performed."""

    def setUp(self) -> None:
        self.store = MemoryGroupStore()
        self.seen: list[dict[tuple[str, str], int]] = []
        self.dispatcher = notify_after(make_dispatcher(Clock(), self.store), marks_divergent,
                                       lambda: self.seen.append(dict(self.store.divergent)))

    async def test_called_after_the_mark_is_written(self) -> None:
        """The callback runs once per mark, when the store already holds the mark."""
        await perform(self.dispatcher, Effect(MarkDivergent("t1", "g1")))
        await perform(self.dispatcher, Effect(MarkDivergent("t1", "g2")))
        self.assertEqual(self.seen, [{("t1", "g1"): 1}, {("t1", "g1"): 1, ("t1", "g2"): 1}])

    async def test_a_state_saved_with_its_mark_calls_back(self) -> None:
        """A state saved with the mark in the same write (an execution's) calls
        back once it is written; a state saved without one does not call back."""
        await perform(self.dispatcher, Effect(CreateGroup(group(), [], [], 10)))
        saved = await perform(self.dispatcher, Effect(SaveState(group(desired=2).state)))
        self.assertEqual(self.seen, [])
        await perform(self.dispatcher, Effect(RecordExecutions(saved, [], True, 0.0, 0.0)))
        self.assertEqual(self.seen, [{("t1", "g1"): 1}])
        self.assertEqual(self.store.groups[("t1", "g1")].state.version, saved.version + 1)

    async def test_other_intents_do_not_call_back(self) -> None:
        """Intents of other types are performed as before, with no callback."""
        await perform(self.dispatcher, Effect(ListDivergent()))
        self.assertEqual(await perform(self.dispatcher, Effect(Now())), 0.0)
        self.assertEqual(self.seen, [])
