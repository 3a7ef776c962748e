"""
Tests for otter2.bench.clock: the heap clock runs delayed calls as
``task.Clock`` does, in time order, honouring cancel, reset and delay, and
drives Twisted's own users of a clock (LoopingCall, deferLater).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock, LoopingCall, deferLater
from twisted.trial.unittest import SynchronousTestCase

from otter2.bench.clock import HeapClock


class HeapClockTests(SynchronousTestCase):
    """The heap clock against the expectations of a Twisted clock."""

    def test_calls_in_time_order(self) -> None:
        """Calls run when due, earliest first, ties in the order made."""
        clock, seen = HeapClock(100.0), list[str]()
        for delay, name in ((3, "c"), (1, "a"), (1, "b"), (2, "x")):
            clock.callLater(delay, seen.append, name)
        clock.advance(1)
        self.assertEqual(seen, ["a", "b"])
        clock.advance(5)
        self.assertEqual((seen, clock.seconds()), (["a", "b", "x", "c"], 106.0))
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertIsNone(clock.next_time())

    def test_cancel_reset_delay(self) -> None:
        """A cancelled call never runs; a reset or delayed one runs at its new time."""
        clock, seen = HeapClock(), list[str]()
        clock.callLater(1, seen.append, "cancelled").cancel()
        earlier = clock.callLater(10, seen.append, "earlier")
        later = clock.callLater(2, seen.append, "later")
        earlier.reset(1)
        later.delay(5)
        self.assertEqual(clock.next_time(), 1.0)
        clock.advance(2)
        self.assertEqual(seen, ["earlier"])
        self.assertEqual(clock.getDelayedCalls(), [later])
        clock.advance(5)
        self.assertEqual(seen, ["earlier", "later"])

    def test_twisted_users(self) -> None:
        """LoopingCall and deferLater run on it."""
        clock, ticks = HeapClock(), list[float]()
        loop = LoopingCall(lambda: ticks.append(clock.seconds()))
        loop.clock = clock
        loop.start(5, now=True)
        waited = deferLater(clock, 7, lambda: "done")
        for _ in range(12):
            clock.advance(1)
        loop.stop()
        self.assertEqual(ticks, [0.0, 5.0, 10.0])
        self.assertEqual(self.successResultOf(waited), "done")

    @given(st.lists(st.tuples(st.integers(0, 20), st.booleans()), max_size=30),
           st.lists(st.integers(0, 7), min_size=1, max_size=8))
    def test_same_as_task_clock(self, calls: list[tuple[int, bool]],
                                steps: list[int]) -> None:
        """Any calls, some cancelled, and any steps of time: the same runs, in the same
        order, at the same times as with Twisted's Clock."""
        def run(clock: HeapClock | Clock) -> list[tuple[int, float]]:
            seen: list[tuple[int, float]] = []
            made = [clock.callLater(delay, lambda i: seen.append((i, clock.seconds())), i)
                    for i, (delay, _) in enumerate(calls)]
            for call, (_, cancel) in zip(made, calls, strict=True):
                if cancel:
                    call.cancel()
            for step in steps:
                clock.advance(step)
            return seen
        self.assertEqual(run(HeapClock()), run(Clock()))
