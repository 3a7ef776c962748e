"""
Rate limits of the API, for running without a proxy in front: a fixed window
of requests per key (a tenant per minute, anonymous executions per second).

test-case-name: tests.api.test_ratelimit
"""

from __future__ import annotations

import math

from twisted.internet.interfaces import IReactorTime


class FixedWindowLimiter:
    """At most ``limit`` requests per key in each ``window`` seconds of the clock."""

    def __init__(self, clock: IReactorTime, limit: int, window: float) -> None:
        self._clock = clock
        self.limit = limit
        self.window = window
        self._counts: dict[str, tuple[float, int]] = {}

    def _current(self, key: str) -> tuple[float, int]:
        start = math.floor(self._clock.seconds() / self.window) * self.window
        window_start, count = self._counts.get(key, (start, 0))
        return (start, 0) if window_start != start else (start, count)

    def allow(self, key: str) -> float | None:
        """Count a request; None if it may go ahead, else the seconds until it may."""
        start, count = self._current(key)
        if count >= self.limit:
            return start + self.window - self._clock.seconds()
        if len(self._counts) > 100_000:
            self._counts = {k: v for k, v in self._counts.items() if v[0] == start}
        self._counts[key] = (start, count + 1)
        return None

    def remaining(self, key: str) -> tuple[int, float]:
        """Requests left in the key's window, and when the next window opens."""
        start, count = self._current(key)
        return max(self.limit - count, 0), start + self.window
