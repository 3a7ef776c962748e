"""
The daemon's own services: the store opened as the daemon starts and closed as
it stops, start-up that leaves nothing running when a service fails, a stop
that lets the work in flight finish first (Note [Graceful stop]), and a stop
the operator asked for that exits with status 0.

# Note [Graceful stop]
On SIGTERM (or SIGINT) the reactor stops, and before it does, the daemon's
services stop: first every one but the store, at once (the ports stop
taking requests, the converger starts no round and the scheduler fires no
event), each finishing what it has in flight (the converger its rounds, each
iteration's calls and its conclusion written; the scheduler the event it is
firing); then, once they all have or after ``stop_timeout`` seconds
(``shutdown_timeout``, 30 by default), whichever comes first, the store.
What was not finished by then is not lost: the group's divergent mark is
cleared only by a finished iteration, so the next start converges it again,
and a server created meanwhile is found by its metadata (never built twice);
an event not fired is still due.

test-case-name: tests.test_startup, tests.test_daemon
"""

from __future__ import annotations

import gc
import signal
from typing import Any, Protocol

from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import ILogObserver, Logger
from twisted.python.components import Componentized

log = Logger()

#: Allocations between collections of the youngest generation, then how many
#: of those between collections of the next (Python's defaults: 700, 10, 10).
COLLECTOR_THRESHOLDS = (50_000, 20, 100)

#: Seconds the work in flight has to finish when the daemon stops.
STOP_TIMEOUT = 30.0


def tune_garbage_collector() -> None:
    """
    Collect cyclic garbage less often than Python does by default, and leave
    what exists at start-up (modules, configuration) out of every collection.

    Planning and gathering allocate many small immutable values, almost all
    freed by reference counting; with the default thresholds the collector
    ran every 700 allocations and walked every live object on each full
    pass, about half the time of planning a group of 10 000 servers. The
    daemon does this at start; ``python -m otter2.bench`` does the same, so
    that it measures what the daemon runs.
    """
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


class OpenedStore(Protocol):
    """A store opened by the daemon: an SQLite file, or a Cassandra connection."""

    def start(self) -> None:
        """Open it; `StoreUnavailable` says why not."""

    def close(self) -> None:
        """Close it."""


class StoreService(Service):
    """Opens the store when the daemon starts and closes it when the daemon stops."""

    def __init__(self, store: OpenedStore) -> None:
        self.store = store

    def startService(self) -> None:
        self.store.start()
        Service.startService(self)

    def stopService(self) -> None:
        Service.stopService(self)
        self.store.close()


class DaemonService(MultiService):
    """The daemon's services: if one fails to start, those already started are
    stopped again before the failure goes on (the store's thread would keep the
    process alive); they stop as Note [Graceful stop] says, the work in flight
    given ``stop_timeout`` seconds on ``clock`` (no bound without a clock)."""

    #: The observer twistd is to log to, if the daemon names one: set on the
    #: application twistd makes this service a child of, which twistd asks
    #: for its observer next (Note [Text log lines] in ``otter2.logs``).
    log_observer: ILogObserver | None = None

    def __init__(self, clock: IReactorTime | None = None,
                 stop_timeout: float = STOP_TIMEOUT) -> None:
        super().__init__()
        self._clock = clock
        self.stop_timeout = stop_timeout

    def setServiceParent(self, parent: Any) -> None:
        if self.log_observer is not None and isinstance(parent, Componentized):
            parent.setComponent(ILogObserver, self.log_observer)
        super().setServiceParent(parent)

    def startService(self) -> None:
        try:
            MultiService.startService(self)
        except BaseException:
            self.running = 0
            for service in reversed(list(self)):
                if service.running:
                    service.stopService()
            raise

    def stopService(self) -> Deferred[None]:
        """Stop the work, give what is in flight its time, then close the store."""
        Service.stopService(self)
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        services = list(reversed(list(self)))
        work = [s for s in services if not isinstance(s, StoreService)]
        finishing: Deferred[Any] = DeferredList(
            [maybeDeferred(service.stopService) for service in work], consumeErrors=True)
        if self._clock is None:
            await finishing
        else:
            timer = deferLater(self._clock, self.stop_timeout, lambda: None)
            timer.addErrback(lambda failure: None)  # cancelled once the work finished
            await DeferredList([finishing, timer], fireOnOneCallback=True)
            if finishing.called:
                timer.cancel()
            else:
                log.warn("Stopping after {timeout:g} s with work still in flight: the "
                         "groups it was converging are converged again at the next start",
                         timeout=self.stop_timeout)
        for service in services:
            if isinstance(service, StoreService) and service.running:
                service.stopService()


class NormalStop(Service):
    """
    Stops the reactor on SIGTERM and SIGINT, so that a stop the operator asked
    for exits with status 0: twistd's own handlers end the process by the
    signal, which ``make run`` reports as an error. Only the reactor's own
    handlers are replaced; a signal the daemon was started ignoring stays
    ignored.
    """

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor
        self._stopping = False

    def startService(self) -> None:
        Service.startService(self)
        # After the reactor has installed its handlers, as it starts running.
        self._reactor.callWhenRunning(self._install)

    def _install(self) -> None:
        reactors = {signal.SIGTERM: getattr(self._reactor, "sigTerm", None),
                    signal.SIGINT: getattr(self._reactor, "sigInt", None)}
        for number, handler in reactors.items():
            if handler is not None and signal.getsignal(number) == handler:
                signal.signal(number, self._received)

    def _received(self, number: int, frame: Any) -> None:
        self._reactor.callFromThread(self._stop, signal.Signals(number).name)

    def _stop(self, name: str) -> None:
        if not self._stopping:
            self._stopping = True
            log.info("Received {signal}, shutting down.", signal=name)
            self._reactor.stop()
