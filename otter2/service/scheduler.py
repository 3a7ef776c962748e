"""
The scheduler: every ``interval`` seconds, fires the due events of schedule
policies in the buckets this node owns (all of them on one node), a batch of
at most ``batchsize`` at a time, each exactly once (Note [Exactly once] in
``otter2.scheduling``), and logs one line per event fired. Each event is
fired while its bucket is held (`Ownership.begin`) and its firing carries
the bucket's fence, so a bucket moving to another node never fires an event
twice (Note [Fencing] in ``otter2.partition``). When this node gains buckets
(another node left), their events may be overdue already: the partition
calls `Scheduler.look_now` (the scheduler subscribes to it), and they are
fired on the reactor's next turn rather than at the end of the interval.

test-case-name: tests.service.test_scheduler
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from attrs import frozen
from effect import Effect
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from txeffect import perform

from otter2.convergence.planning import iso_time
from otter2.model import ScheduledEvent
from otter2.partition import AllBuckets, Ownership
from otter2.scheduling.firing import Fired, fire
from otter2.service.loop import Repeater
from otter2.store.intents import DueEvents, EarliestTrigger
from otter2.store.interface import FencedOut

log = Logger(namespace="otter2.scheduler")

#: An owned event due for longer than this makes the scheduler unhealthy.
OVERDUE_LIMIT = 60.0


@frozen
class SchedulerHealth:
    """Whether the scheduler keeps up: its oldest due event, and how late it is."""

    healthy: bool
    running: bool
    oldest_trigger: float | None
    overdue: float


class Scheduler(Service):
    """Fires due schedule events; see the module docstring."""

    def __init__(self, clock: IReactorTime, dispatcher: Any, interval: float,
                 batchsize: int, buckets: Sequence[int],
                 ownership: Ownership | None = None,
                 observe: Callable[[Fired], None] | None = None) -> None:
        """``ownership`` says which of ``buckets`` are this node's (all, unfenced, if None)."""
        # ``observe`` hears of each event fired: Note [Metrics seams] in otter2.metrics.
        self._observe = observe
        self._clock = clock
        self._dispatcher = dispatcher
        self.batchsize = batchsize
        self._ownership: Ownership = ownership or AllBuckets(buckets)
        self.repeater = Repeater(clock, interval, self.tick, "scheduler")
        self._ownership.subscribe(self.look_now)
        self._ticking: Deferred[None] | None = None
        self._again = False  # asked to look again while a tick runs
        self._prompt: IDelayedCall | None = None
        self._stopped = False

    def startService(self) -> None:
        Service.startService(self)
        self._stopped = False
        self.repeater.start(now=True)

    def stopService(self) -> Deferred[None]:
        """Stop firing: the event being fired finishes, no other starts."""
        Service.stopService(self)
        self._stopped = True
        self.repeater.stop()
        if self._prompt is not None and self._prompt.active():
            self._prompt.cancel()
        self._prompt = None
        ticking = self._ticking
        return Deferred.fromCoroutine(self._wait(ticking))

    @staticmethod
    async def _wait(ticking: Deferred[None] | None) -> None:
        if ticking is not None:
            await ticking

    def _do(self, intent: Any) -> Deferred[Any]:
        result: Deferred[Any] = perform(self._dispatcher,
                                        intent if isinstance(intent, Effect) else Effect(intent))
        return result

    def look_now(self) -> None:
        """
        Fire the due events of the owned buckets on the reactor's next turn
        rather than at the next interval, unless that is planned already:
        this node just gained buckets, whose events may be overdue.
        """
        if not self.running or self._stopped or self._prompt is not None:
            return
        self._prompt = self._clock.callLater(0, self._prompted)

    def _prompted(self) -> None:
        self._prompt = None
        self.tick()

    def tick(self) -> Deferred[None]:
        """Fire every due event of the owned buckets, a batch at a time; if a tick
        runs already, it looks again once it is done (its end is returned)."""
        if self._ticking is not None and not self._ticking.called:
            self._again = True
            return self._ticking
        self._ticking = Deferred.fromCoroutine(self._tick())
        return self._ticking

    async def _tick(self) -> None:
        while not self._stopped:
            self._again = False
            buckets = self.buckets
            due: list[ScheduledEvent] = []
            if buckets:
                try:
                    due = await self._do(
                        DueEvents(buckets, self._clock.seconds(), self.batchsize))
                except Exception:
                    log.failure("Could not read the due schedule events")
                    return
            for event in due:
                await self._fire(event)
            if len(due) < self.batchsize and not self._again:
                return

    @property
    def buckets(self) -> list[int]:
        """The buckets whose events this node fires now."""
        return list(self._ownership.owned())

    async def _fire(self, event: ScheduledEvent) -> None:
        if self._stopped:  # stopService came while the batch was being fired
            return
        turn = self._ownership.begin(event.bucket)
        if turn is None:  # its bucket moved away meanwhile: its new owner fires it
            return
        try:
            fired: Fired = await self._do(fire(event, turn.fence))
        except FencedOut:
            log.info("Policy {policy_id} of group {group_id} was not fired: its bucket "
                     "{bucket} has another owner now", policy_id=event.policy_id,
                     group_id=event.group_id, tenant_id=event.tenant_id, bucket=event.bucket)
            return
        except Exception:
            # Nothing was written: the event is still due and fires on a later tick.
            log.failure("Firing policy {policy_id} of group {group_id} failed",
                        policy_id=event.policy_id, group_id=event.group_id,
                        tenant_id=event.tenant_id)
            return
        finally:
            self._ownership.end(event.bucket)
        if self._observe is not None:
            self._observe(fired)
        firing = fired.firing
        log.info("Scheduled policy {policy_id} of group {group_id} of tenant {tenant_id}, "
                 "due at {trigger}, fired {lateness:.1f} s late: {outcome}: {message}",
                 policy_id=event.policy_id, group_id=event.group_id,
                 tenant_id=event.tenant_id, lateness=fired.lateness,
                 trigger=iso_time(event.trigger),
                 outcome=firing.outcome.value, message=firing.message,
                 next_trigger=firing.next_event.trigger if firing.next_event else None)

    def health(self) -> Deferred[SchedulerHealth]:
        """How the scheduler keeps up: unhealthy when an event is overdue by more than 60 s."""
        return Deferred.fromCoroutine(self._health())

    async def _health(self) -> SchedulerHealth:
        oldest = await self._do(EarliestTrigger(self.buckets))
        overdue = 0.0 if oldest is None else max(0.0, self._clock.seconds() - oldest)
        running = bool(self.running) and not self._stopped
        return SchedulerHealth(healthy=running and overdue <= OVERDUE_LIMIT, running=running,
                               oldest_trigger=oldest, overdue=overdue)


def scheduler_check(scheduler: Scheduler) -> Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]:
    """The scheduler's part of ``/health``: healthy, and what it is based on."""
    async def check() -> tuple[bool, dict[str, Any]]:
        health = await scheduler.health()
        return health.healthy, {"running": health.running,
                                "earliest_trigger": health.oldest_trigger,
                                "overdue_seconds": round(health.overdue, 3)}
    return check
