"""
The pace of otter2's calls to the cloud, kept around the `ServiceRequest`
performer: a call first waits out any ``Retry-After`` its tenant was given
by the service (see Note [Rate limits are the tenant's] in
``otter2.cloud.courtesy``), then takes its kind's throttle, if one is
configured (spec §3.6: a lock held until the call completes, each call
preceded by the delay), then one of its tenant's slots for calls in flight.
Waiting is done on the reactor's clock; nothing is refused.

test-case-name: tests.effects.test_courtesy
"""

from __future__ import annotations

from typing import Awaitable, Callable, Optional

from pyrsistent import PMap, pmap
from twisted.internet.defer import DeferredLock, DeferredSemaphore
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater

from otter2.cloud.courtesy import RetryWindows, Throttle, asked_wait, throttle_for
from otter2.cloud.request import Response, ServiceRequest
from otter2.config import MAX_IN_FLIGHT_PER_TENANT


class Courtesy:
    """
    The Retry-After windows, throttles and per-tenant slots of one node; one
    instance is shared by every call the node makes.
    """

    def __init__(self, clock: IReactorTime, delays: PMap = pmap(),
                 max_in_flight_per_tenant: int = MAX_IN_FLIGHT_PER_TENANT) -> None:
        self.clock = clock
        self.delays = delays
        self.max_in_flight = max_in_flight_per_tenant
        self.windows = RetryWindows()
        self._locks: dict[Throttle, DeferredLock] = {}
        self._slots: dict[str, DeferredSemaphore] = {}

    async def call(self, request: ServiceRequest,
                   send: Callable[[], Awaitable[Response]]) -> Response:
        """``send()``'s answer, sent when courtesy allows; a 413 or 429 with
        ``Retry-After`` holds the tenant's later calls to the service."""
        await self._window(request)
        throttle = throttle_for(request, self.delays)
        lock = self._lock(throttle)
        if lock is not None and throttle is not None:
            await lock.acquire()
        try:
            if throttle is not None and throttle.delay > 0:
                await deferLater(self.clock, throttle.delay, lambda: None)
            response = await self._in_a_slot(request, send)
        finally:
            if lock is not None:
                lock.release()
        wait = asked_wait(response)
        if wait:
            self.windows = self.windows.hold(request.tenant_id, request.service,
                                             self.clock.seconds(), wait)
        return response

    async def _window(self, request: ServiceRequest) -> None:
        while True:
            wait = self.windows.wait(request.tenant_id, request.service, self.clock.seconds())
            if wait <= 0:
                return
            await deferLater(self.clock, wait, lambda: None)

    def _lock(self, throttle: Optional[Throttle]) -> Optional[DeferredLock]:
        if throttle is None:
            return None
        return self._locks.setdefault(throttle, DeferredLock())

    async def _in_a_slot(self, request: ServiceRequest,
                         send: Callable[[], Awaitable[Response]]) -> Response:
        tenant_id = request.tenant_id
        slots = self._slots.setdefault(tenant_id, DeferredSemaphore(self.max_in_flight))
        await slots.acquire()
        try:
            return await send()
        finally:
            slots.release()
            if slots.tokens == slots.limit and not slots.waiting:
                self._slots.pop(tenant_id, None)
