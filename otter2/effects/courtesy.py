"""
The pace of otter2's calls to the cloud, kept around the `ServiceRequest`
performer: a call first meets any ``Retry-After`` its tenant was given by the
service (see Note [Rate limits are the tenant's] in ``otter2.cloud.courtesy``),
then takes its kind's throttle, if one is configured (spec §3.6: a lock held
until the call completes, each call preceded by the delay), then one of its
tenant's slots for calls in flight; if by then an answer has asked its tenant
to wait, it lets both go and meets the wait again.

Meeting a wait: a call whose tenant may call the service again within
``longest_hold`` seconds waits for it on the reactor's clock; a longer wait is
answered at once, without sending anything, by the answer the service would
give: a 429 with the seconds left in ``Retry-After``. Its group then RETRYs and
looks again when the wait ends, so a converger slot is not held for the wait.
A wait asked is noted before the throttle and slot pass on. Each wait is
told to ``on_wait`` (request, reason, seconds), if given: ``throttle`` for a
throttle's delay, ``retry_after`` for a hold sat out, ``refused`` for one
answered at once (Note [Metrics seams] in ``otter2.metrics``).

test-case-name: tests.effects.test_courtesy
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from pyrsistent import PMap, pmap
from twisted.internet.defer import DeferredLock, DeferredSemaphore
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater

from otter2.cloud.courtesy import RetryWindows, Throttle, asked_wait, held_answer, throttle_for
from otter2.cloud.request import Response, ServiceRequest
from otter2.config import MAX_IN_FLIGHT_PER_TENANT

#: Told of each wait before a call: the request, why (throttle, retry_after,
#: refused) and how many seconds.
WaitObserver = Callable[[ServiceRequest, str, float], None]

#: The longest wait, in seconds, that a call sits out rather than being
#: answered at once as the service would (see the module docstring).
LONGEST_HOLD = 1.0


class Courtesy:
    """
    The Retry-After windows, throttles and per-tenant slots of one node; one
    instance is shared by every call the node makes.
    """

    def __init__(self, clock: IReactorTime, delays: PMap = pmap(),
                 max_in_flight_per_tenant: int = MAX_IN_FLIGHT_PER_TENANT,
                 longest_hold: float = LONGEST_HOLD,
                 on_wait: WaitObserver | None = None) -> None:
        self.clock = clock
        self.on_wait = on_wait
        self.delays = delays
        self.max_in_flight = max_in_flight_per_tenant
        self.longest_hold = longest_hold
        self.windows = RetryWindows()
        self._locks: dict[Throttle, DeferredLock] = {}
        self._slots: dict[str, DeferredSemaphore] = {}

    async def call(self, request: ServiceRequest,
                   send: Callable[[], Awaitable[Response]]) -> Response:
        """
        ``send()``'s answer, sent when courtesy allows, or the service's
        refusal, unsent, while the tenant is held for longer than
        ``longest_hold``; a 413 or 429 with ``Retry-After`` holds the tenant's
        later calls to the service. A call that finds the tenant held once it
        has its throttle and its slot (an answer came back while it waited for
        them) lets both go and meets the wait again.
        """
        throttle = throttle_for(request, self.delays)
        lock = None if throttle is None else self._locks.setdefault(throttle, DeferredLock())
        while True:
            refusal = await self._window(request)
            if refusal is not None:
                return refusal
            if lock is not None:
                await lock.acquire()
            try:
                if throttle is not None and throttle.delay > 0:
                    self._waited(request, "throttle", throttle.delay)
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

    async def _window(self, request: ServiceRequest) -> Response | None:
        """Wait out a short hold of the tenant; the refusal to answer for a long one."""
        while True:
            wait = self.windows.wait(request.tenant_id, request.service, self.clock.seconds())
            if wait <= 0:
                return None
            if wait > self.longest_hold:
                self._waited(request, "refused", wait)
                return held_answer(math.ceil(wait))
            self._waited(request, "retry_after", wait)
            await deferLater(self.clock, wait, lambda: None)

    def _waited(self, request: ServiceRequest, reason: str, seconds: float) -> None:
        if self.on_wait is not None:
            self.on_wait(request, reason, seconds)

    def _release(self, tenant_id: str, slots: DeferredSemaphore) -> None:
        """Give a slot back, forgetting the tenant's slots once none is taken."""
        slots.release()
        if slots.tokens == slots.limit and not slots.waiting:
            self._slots.pop(tenant_id, None)
