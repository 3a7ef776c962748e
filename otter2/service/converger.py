"""
The converger: runs iterations of the groups marked divergent, one at a time
per group, in rounds (the groups of one tenant due at the same moment share
one observation of its cloud: ``otter2.convergence.rounds``), many rounds at
once up to a limit, and looks at each group again when its last iteration
says. It decides nothing and writes no group state:
the iteration concludes (``otter2.convergence.conclusion``) and writes its
conclusion; the converger only schedules.

# Note [Divergent marks]
The API marks a group divergent whenever its desired state changes (and on
converge, resume, rejected executions...), and self-heal marks every group
now and then. Every ``interval`` seconds the converger lists the marks and
starts an iteration for each group that is neither converging nor waiting to
be looked at again for that same mark; the groups of one tenant started
together form one round (one observation of the tenant's cloud shared by
all of them; ``converger.concurrency`` bounds the rounds in flight, and the
tenant's calls to the cloud are bounded by its own cap). An iteration's `Conclusion` either
says the group needs no more work (``look_again`` is None), and the mark it
was started for is cleared, and only that one: a mark made meanwhile
survives and brings the group back on the next tick; or it names the instant
of the next look (see Note [Looking again]), when the converger runs the
group again. A new mark cuts such a wait short: the group is looked at on the
next tick. A mark made on this node (by the API, the scheduler or self-heal)
does not wait for that tick: the composition root performs `MarkDivergent`
through a dispatcher that calls `Converger.look_now` once the mark is
written, and that runs a tick on the reactor's next turn (one at a time:
marks made together share it). A mark made on another node is seen on the
next tick. The waits live only in memory, and need not be kept: after a
restart every marked group is looked at on the first tick, and the
LIMITED_RETRY count is kept with the group.

With several nodes, a node converges only the groups of the buckets it owns
(``otter2.partition``; a group's bucket comes from its id): the marks of
the others' buckets are left to them. Each group's round holds its bucket
(`Ownership.begin`) until its conclusion is written, and the writes carry
the bucket's fence; a conclusion refused because the bucket moved meanwhile
(`FencedOut`) leaves the mark for the new owner. See Note [Fencing].

test-case-name: tests.service.test_converger
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

from effect import Effect
from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, DeferredSemaphore
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from txeffect import perform

from otter2.config import ConvergerConfig, SchedulerConfig
from otter2.control.schedule import group_bucket
from otter2.convergence.conclusion import Conclusion
from otter2.convergence.rounds import converge_tenant
from otter2.model import DivergentMark, Fence
from otter2.partition import AllBuckets, Ownership
from otter2.service.loop import Repeater
from otter2.store.intents import ClearDivergent, ListDivergent
from otter2.store.interface import FencedOut

log = Logger(namespace="otter2.converger")

GroupKey = tuple[str, str]


class Converger(Service):
    """Converges divergent groups; see Note [Divergent marks]."""

    def __init__(self, clock: IReactorTime, dispatcher: Any,
                 settings: ConvergerConfig = ConvergerConfig(),
                 ownership: Ownership | None = None,
                 buckets: int = SchedulerConfig().buckets,
                 observe: Callable[[Conclusion, float], None] | None = None) -> None:
        """``ownership`` says which of the ``buckets`` buckets are this node's
        (all of them, unfenced, if None)."""
        # ``observe`` hears of each conclusion and its round's seconds: Note [Metrics seams].
        self._observe = observe
        self._clock = clock
        self._dispatcher = dispatcher
        self.settings = settings
        self._buckets = buckets
        self._ownership: Ownership = ownership or AllBuckets(range(1, buckets + 1))
        self._semaphore = DeferredSemaphore(settings.concurrency)
        self.repeater = Repeater(clock, settings.interval, self.tick, "converger")
        self.converging: dict[GroupKey, Deferred[None]] = {}
        self.waiting: dict[GroupKey, tuple[IDelayedCall, DivergentMark]] = {}
        self._prompt: IDelayedCall | None = None
        # Groups due now, by tenant, gathered into rounds on the reactor's next turn.
        self._due: dict[str, dict[str, DivergentMark]] = {}
        self._gather: IDelayedCall | None = None

    def startService(self) -> None:
        Service.startService(self)
        self.repeater.start(now=True)

    def stopService(self) -> Deferred[Any]:
        Service.stopService(self)
        self.repeater.stop()
        for call in (self._prompt, self._gather):
            if call is not None and call.active():
                call.cancel()
        self._prompt = self._gather = None
        due, self._due = self._due, {}
        for tenant_id, marks in due.items():  # never started: nothing to wait for
            for group_id in marks:
                self.converging.pop((tenant_id, group_id)).callback(None)
        for call, _ in self.waiting.values():
            call.cancel()
        self.waiting.clear()
        return DeferredList(list(self.converging.values()))

    def _do(self, effect: Any) -> Deferred[Any]:
        result: Deferred[Any] = perform(self._dispatcher,
                                        effect if isinstance(effect, Effect) else Effect(effect))
        return result

    def look_now(self) -> None:
        """
        Tick on the reactor's next turn rather than at the next interval,
        unless such a tick is already due: a group was just marked divergent
        on this node. See Note [Divergent marks].
        """
        if not self.running or self._prompt is not None:
            return
        self._prompt = self._clock.callLater(0, self._prompted)

    def _prompted(self) -> None:
        self._prompt = None
        self.tick()

    def tick(self) -> Deferred[None]:
        """Start an iteration for every divergent group that is due."""
        return Deferred.fromCoroutine(self._tick())

    async def _tick(self) -> None:
        try:
            marks = await self._do(ListDivergent())
        except Exception:
            log.failure("Could not list the divergent groups")
            return
        owned = set(self._ownership.owned())
        for mark in marks:
            key = (mark.tenant_id, mark.group_id)
            if key in self.converging or self._bucket(mark) not in owned:
                continue
            waiting = self.waiting.get(key)
            if waiting is not None:
                call, held = waiting
                if held.mark == mark.mark:
                    continue
                call.cancel()
                del self.waiting[key]
            self._start(mark)
        self._start_rounds()

    def _start(self, mark: DivergentMark) -> None:
        """Converge the group in the round of its tenant that starts on the reactor's
        next turn (with every other group of the tenant due by then)."""
        key = (mark.tenant_id, mark.group_id)
        self.converging[key] = Deferred()  # fired when its round ends
        self._due.setdefault(mark.tenant_id, {})[mark.group_id] = mark
        if self._gather is None:
            self._gather = self._clock.callLater(0, self._start_rounds)

    def _start_rounds(self) -> None:
        """Start a round for each tenant with groups due."""
        if self._gather is not None and self._gather.active():
            self._gather.cancel()
        self._gather = None
        due, self._due = self._due, {}
        for tenant_id, marks in due.items():
            fences: dict[str, Fence | None] = {}
            for group_id, mark in list(marks.items()):
                turn = self._ownership.begin(self._bucket(mark))
                if turn is None:  # the bucket is not ours (any more): its owner's work
                    del marks[group_id]
                    self.converging.pop((tenant_id, group_id)).callback(None)
                else:
                    fences[group_id] = turn.fence
            if not marks:
                continue
            d: Deferred[None] = self._semaphore.run(self._converge, tenant_id,
                                                    list(marks.values()), fences)
            d.addBoth(self._done, list(marks.values()))

    def _bucket(self, mark: DivergentMark) -> int:
        return group_bucket(mark.group_id, self._buckets)

    def _done(self, result: Any, marks: list[DivergentMark]) -> None:
        keys = [(mark.tenant_id, mark.group_id) for mark in marks]
        if isinstance(result, Failure):
            log.failure("Converging the groups {keys} failed", result, keys=keys)
        for mark, key in zip(marks, keys, strict=True):
            self._ownership.end(self._bucket(mark))
            self.converging.pop(key).callback(None)

    async def _converge(self, tenant_id: str, marks: list[DivergentMark],
                        fences: dict[str, Fence | None]) -> None:
        started = self._clock.seconds()
        try:
            results = await self._do(converge_tenant(
                tenant_id, [mark.group_id for mark in marks], self.settings, fences))
        except Exception as error:
            results = {mark.group_id: error for mark in marks}
        for mark in marks:
            seconds = self._clock.seconds() - started
            if self._observe is not None and not isinstance(results[mark.group_id], Exception):
                self._observe(results[mark.group_id], seconds)
            await self._concluded(mark, results[mark.group_id], fences[mark.group_id], seconds)

    async def _concluded(self, mark: DivergentMark, conclusion: Any,
                         fence: Fence | None = None, seconds: float = 0.0) -> None:
        if isinstance(conclusion, FencedOut):
            log.info("Group {group_id} of tenant {tenant_id}: its bucket {bucket} has "
                     "another owner now; the conclusion was not written",
                     tenant_id=mark.tenant_id, group_id=mark.group_id,
                     bucket=self._bucket(mark))
            return
        if isinstance(conclusion, Exception):
            # A bug: the iteration wrote nothing; try again after an interval.
            log.failure("Converging group {group_id} of tenant {tenant_id} failed",
                        Failure(conclusion), tenant_id=mark.tenant_id, group_id=mark.group_id)
            self._look_again(mark, self._clock.seconds() + self.settings.interval)
            return
        look_again = conclusion.look_again
        log.info("Group {group_id} of tenant {tenant_id}: {summary}; {next} "
                 "(iteration {iteration_id}, {seconds:.3f} s)",
                 tenant_id=mark.tenant_id, group_id=mark.group_id,
                 summary=conclusion.summary(), verdict=conclusion.verdict.name,
                 reasons=list(conclusion.reasons), done=list(conclusion.done),
                 iteration_id=uuid4().hex, steps=conclusion.steps_by_kind(), seconds=seconds,
                 next=("done" if look_again is None else
                       f"looking again in {max(0.0, look_again - self._clock.seconds()):.1f} s"))
        if look_again is None:
            try:
                await self._do(ClearDivergent(mark.tenant_id, mark.group_id, mark.mark,
                                              fence))
            except FencedOut:
                log.info("Group {group_id} of tenant {tenant_id}: its bucket has another "
                         "owner now; its mark is left to it",
                         tenant_id=mark.tenant_id, group_id=mark.group_id)
            except Exception:
                log.failure("Could not clear the mark of group {group_id} of tenant "
                            "{tenant_id}", tenant_id=mark.tenant_id, group_id=mark.group_id)
        else:
            self._look_again(mark, look_again)

    def _look_again(self, mark: DivergentMark, at: float) -> None:
        """Run the group again at ``at``, unless a new mark brings it sooner."""
        if not self.running:
            return
        key = (mark.tenant_id, mark.group_id)
        delay = max(0.0, at - self._clock.seconds())
        self.waiting[key] = (self._clock.callLater(delay, self._wake, mark), mark)

    def _wake(self, mark: DivergentMark) -> None:
        key = (mark.tenant_id, mark.group_id)
        self.waiting.pop(key, None)
        if key not in self.converging:
            self._start(mark)
