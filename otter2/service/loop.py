"""
The repeating part of a service: call a function every ``interval`` seconds
on a clock while the service runs, log what it raises, and stop cleanly.
The converger and self-heal share it.

test-case-name: tests.service.test_converger
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

log = Logger(namespace="otter2.loop")


class Repeater:
    """Calls ``work`` every ``interval`` seconds between ``start`` and ``stop``."""

    def __init__(self, clock: IReactorTime, interval: float,
                 work: Callable[[], Deferred[Any]], what: str) -> None:
        self._clock = clock
        self.interval = interval
        self._work = work
        self._what = what
        self._loop: LoopingCall | None = None

    def start(self, now: bool) -> None:
        """Begin, with a first call at once if ``now``, else after one interval."""
        self._loop = LoopingCall(self._work)
        self._loop.clock = self._clock
        self._loop.start(self.interval, now=now).addErrback(
            lambda failure: log.failure("The {what} loop stopped", failure, what=self._what))

    def stop(self) -> None:
        """End the calls; one in progress finishes on its own."""
        if self._loop is not None and self._loop.running:
            self._loop.stop()
