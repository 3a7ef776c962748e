"""
A fake clock for benchmarks that keeps its delayed calls in a heap.

``twisted.internet.task.Clock`` sorts every delayed call it holds at each
``callLater``: with thousands of calls in flight (a round of a thousand
groups against a simulated cloud with latency) the benchmark then measures
the clock. This one costs a logarithm per call, like the real reactor, and
otherwise behaves as ``Clock`` does (``seconds``, ``callLater``, ``advance``,
``getDelayedCalls``; cancelled, reset and delayed calls honoured).

test-case-name: tests.bench.test_clock
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from twisted.internet.base import DelayedCall
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer


@implementer(IReactorTime)
class HeapClock:
    """A fake clock; see the module docstring."""

    def __init__(self, now: float = 0.0) -> None:
        self._now = now
        self._heap: list[tuple[float, int, DelayedCall]] = []
        self._order = 0

    def seconds(self) -> float:
        """The fake time."""
        return self._now

    def _push(self, call: DelayedCall) -> None:
        self._order += 1
        heapq.heappush(self._heap, (call.getTime(), self._order, call))

    def callLater(self, delay: float, callable: Callable[..., Any], *args: object,
                  **kw: object) -> DelayedCall:
        """Call ``callable`` once ``delay`` more fake seconds have passed."""
        call = DelayedCall(self._now + delay, callable, args, kw, lambda _: None, self._push,
                           self.seconds)
        self._push(call)
        return call

    def _due(self) -> DelayedCall | None:
        """The earliest live call (stale heap entries dropped on the way), or None."""
        while self._heap:
            when, _, call = self._heap[0]
            if call.cancelled or call.called or call.getTime() < when:
                heapq.heappop(self._heap)  # cancelled, called, or moved earlier
            elif call.getTime() > when:
                heapq.heappop(self._heap)  # put off: in again at its new time
                self._push(call)
            else:
                return call
        return None

    def next_time(self) -> float | None:
        """When the earliest live call is due, or None when there is none."""
        call = self._due()
        return None if call is None else call.getTime()

    def advance(self, amount: float) -> None:
        """Move time on by ``amount`` and run every call due by then, in order."""
        self._now += amount
        while True:
            call = self._due()
            if call is None or call.getTime() > self._now:
                return
            heapq.heappop(self._heap)
            call.called = 1
            call.func(*call.args, **call.kw)

    def getDelayedCalls(self) -> list[DelayedCall]:
        """The calls still to come."""
        live = {id(call): call for _, _, call in self._heap
                if not (call.cancelled or call.called)}
        return list(live.values())
