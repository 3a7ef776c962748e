"""
The repeating part of a service: call a function every ``interval`` seconds
on a clock while the service runs, log what it raises, and stop cleanly;
and tell ``/health`` whether the loop still turns. The converger, the
scheduler and self-heal share it.

test-case-name: tests.service.test_converger
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

log = Logger(namespace="otter2.loop")

#: Seconds past its interval that a loop may go without starting a call before
#: ``/health`` says it is stuck (a call still running, or the loop stopped).
STUCK_AFTER = 60.0


class Repeater:
    """Calls ``work`` every ``interval`` seconds between ``start`` and ``stop``."""

    def __init__(self, clock: IReactorTime, interval: float,
                 work: Callable[[], Deferred[Any]], what: str) -> None:
        self._clock = clock
        self.interval = interval
        self._work = work
        self._what = what
        self._loop: LoopingCall | None = None
        self.last_call: float | None = None  # when ``work`` was last called

    def _call(self) -> Deferred[Any]:
        self.last_call = self._clock.seconds()
        return self._work()

    def start(self, now: bool) -> None:
        """Begin, with a first call at once if ``now``, else after one interval."""
        self.last_call = self._clock.seconds()
        self._loop = LoopingCall(self._call)
        self._loop.clock = self._clock
        self._loop.start(self.interval, now=now).addErrback(
            lambda failure: log.failure("The {what} loop stopped", failure, what=self._what))

    def stop(self) -> None:
        """End the calls; one in progress finishes on its own."""
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def turning(self, stuck_after: float = STUCK_AFTER) -> tuple[bool, dict[str, Any]]:
        """
        Whether the loop runs and has started a call within its interval and
        ``stuck_after`` seconds (a call that never ends holds the next one back),
        and the details ``/health`` shows.
        """
        running = self._loop is not None and self._loop.running
        since = None if self.last_call is None else self._clock.seconds() - self.last_call
        details: dict[str, Any] = {"running": running, "interval": self.interval,
                                   "seconds_since_last_tick":
                                   None if since is None else round(since, 3)}
        if not running:
            return False, {**details, "reason": f"the {self._what} loop is not running"}
        if since is not None and since > self.interval + stuck_after:
            return False, {**details, "reason": f"the {self._what} loop is stuck: no tick "
                                                f"for {since:.0f} s"}
        return True, details


def loop_check(repeater: Repeater) -> Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]:
    """The part of ``/health`` that says whether ``repeater``'s loop still turns."""
    async def check() -> tuple[bool, dict[str, Any]]:
        return repeater.turning()
    return check
