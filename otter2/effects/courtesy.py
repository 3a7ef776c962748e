"""
The pace of otter2's calls to the cloud, kept around the `ServiceRequest`
performer: a call first waits out any ``Retry-After`` its tenant was given
by the service (see Note [Rate limits are the tenant's] in
``otter2.cloud.courtesy``), then takes its kind's throttle, if one is
configured (spec §3.6: a lock held until the call completes, each call
preceded by the delay), then one of its tenant's slots for calls in flight;
if by then an answer has asked its tenant to wait, it lets both go and waits
again. A wait asked is noted before the throttle and slot pass on. Waiting
is done on the reactor's clock; nothing is refused.

test-case-name: tests.effects.test_courtesy
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

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
        """
        ``send()``'s answer, sent when courtesy allows; a 413 or 429 with
        ``Retry-After`` holds the tenant's later calls to the service. A call
        that finds the tenant held once it has its throttle and its slot (an
        answer came back while it waited for them) lets both go and waits.
        """
        throttle = throttle_for(request, self.delays)
        lock = None if throttle is None else self._locks.setdefault(throttle, DeferredLock())
        while True:
            await self._window(request)
            if lock is not None:
                await lock.acquire()
            try:
                if throttle is not None and throttle.delay > 0:
                    await deferLater(self.clock, throttle.delay, lambda: None)
                slots = self._slots.setdefault(request.tenant_id,
                                               DeferredSemaphore(self.max_in_flight))
                await slots.acquire()
                try:
                    if not self._held(request):
                        response = await send()
                        self._note(request, response)
                        return response
                finally:
                    self._release(request.tenant_id, slots)
            finally:
                if lock is not None:
                    lock.release()

    def _note(self, request: ServiceRequest, response: Response) -> None:
        """Hold the tenant's calls to the service if ``response`` asks to wait
        (before the throttle and slot go to the next call)."""
        wait = asked_wait(response)
        if wait:
            self.windows = self.windows.hold(request.tenant_id, request.service,
                                             self.clock.seconds(), wait)

    def _held(self, request: ServiceRequest) -> bool:
        return self.windows.wait(request.tenant_id, request.service, self.clock.seconds()) > 0

    async def _window(self, request: ServiceRequest) -> None:
        while True:
            wait = self.windows.wait(request.tenant_id, request.service, self.clock.seconds())
            if wait <= 0:
                return
            await deferLater(self.clock, wait, lambda: None)

    def _release(self, tenant_id: str, slots: DeferredSemaphore) -> None:
        """Give a slot back, forgetting the tenant's slots once none is taken."""
        slots.release()
        if slots.tokens == slots.limit and not slots.waiting:
            self._slots.pop(tenant_id, None)
