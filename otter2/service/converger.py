"""
The converger: converges every group marked divergent, one iteration per
group at a time, many groups at once up to a limit, and tries again with a
growing delay while an iteration asks to (RETRY).

# Note [Divergent marks]
The API marks a group divergent whenever its desired state changes (and on
converge, resume, rejected executions...). The converger lists the marks
every ``interval`` seconds and runs one iteration for each group it is not
already converging and not waiting to retry. An iteration that concludes
(converged, in ERROR, paused, deleted, gone) clears the mark it was started
for, and only that one: a mark made meanwhile survives and brings the group
back on the next tick. RETRY keeps the mark and waits 1, 2, 4... seconds (at
most ``max_retry_delay``) before the next attempt; LIMITED_RETRY does the
same until ``limited_retry_iterations`` is exceeded, which puts the group in
ERROR with "Timed out: ..." reasons.

test-case-name: tests.service.test_converger
"""

from __future__ import annotations

from typing import Any, Optional

from attrs import evolve
from effect import Effect
from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, DeferredSemaphore
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from txeffect import perform

from otter2.convergence.iteration import IterationResult, converge_one_group
from otter2.config import ConvergerConfig
from otter2.convergence.steps import CreateServer
from otter2.model.outcome import Verdict
from otter2.convergence.transforming import DEFAULT_STEP_LIMITS
from otter2.model import DivergentMark, GroupStatus, ScalingGroup
from otter2.store.changes import update_state
from otter2.store.interface import NoSuchGroup
from otter2.store.intents import ClearDivergent, ListDivergent

log = Logger(namespace="otter2.converger")

GroupKey = tuple[str, str]


def retry_delay(attempts: int, max_delay: float) -> float:
    """Seconds to wait after the ``attempts``-th RETRY in a row."""
    return float(min(2 ** max(attempts - 1, 0), max_delay))


def _timed_out(reasons: Any) -> Any:
    def change(group: ScalingGroup) -> Any:
        return evolve(group.state, status=GroupStatus.ERROR,
                      error_reasons=[f"Timed out: {reason}" for reason in reasons])
    return change


class Converger(Service):
    """Converges divergent groups; see Note [Divergent marks]."""

    def __init__(self, clock: Any, dispatcher: Any,
                 settings: ConvergerConfig = ConvergerConfig()) -> None:
        self._clock = clock
        self._dispatcher = dispatcher
        self.settings = settings
        self.step_limits = {**DEFAULT_STEP_LIMITS, CreateServer: settings.create_server_limit}
        self._semaphore = DeferredSemaphore(settings.concurrency)
        self.converging: dict[GroupKey, Deferred[None]] = {}
        self._retry_at: dict[GroupKey, float] = {}
        self._attempts: dict[GroupKey, int] = {}
        self._limited: dict[GroupKey, int] = {}
        self._loop: Optional[LoopingCall] = None

    def startService(self) -> None:
        Service.startService(self)
        self._loop = LoopingCall(self.tick)
        self._loop.clock = self._clock
        self._loop.start(self.settings.interval, now=True).addErrback(
            lambda failure: log.failure("The converger loop stopped", failure))

    def stopService(self) -> Deferred[Any]:
        Service.stopService(self)
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        return DeferredList(list(self.converging.values()))

    def _do(self, effect: Any) -> Deferred[Any]:
        return perform(self._dispatcher, effect if isinstance(effect, Effect) else Effect(effect))

    def tick(self) -> Deferred[None]:
        """Start an iteration for every divergent group that is due."""
        return Deferred.fromCoroutine(self._tick())

    async def _tick(self) -> None:
        try:
            marks = await self._do(ListDivergent())
        except Exception:
            log.failure("Could not list the divergent groups")
            return
        now = self._clock.seconds()
        for mark in marks:
            key = (mark.tenant_id, mark.group_id)
            if key in self.converging or self._retry_at.get(key, 0.0) > now:
                continue
            d: Deferred[None] = self._semaphore.run(self._converge, mark)
            self.converging[key] = d
            d.addBoth(self._done, key)

    def _done(self, result: Any, key: GroupKey) -> None:
        del self.converging[key]
        if isinstance(result, Failure):
            log.failure("Converging group {key} failed", result, key=key)

    async def _converge(self, mark: DivergentMark) -> None:
        key = (mark.tenant_id, mark.group_id)
        settings = self.settings
        try:
            result: IterationResult = await self._do(converge_one_group(
                mark.tenant_id, mark.group_id, settings.build_timeout, self.step_limits))
        except Exception:
            log.failure("Converging group {group_id} of tenant {tenant_id} failed",
                        tenant_id=mark.tenant_id, group_id=mark.group_id)
            self._retry_later(key)
            return
        log.info("Converged group {group_id} of tenant {tenant_id}: {verdict} {reasons}",
                 tenant_id=mark.tenant_id, group_id=mark.group_id,
                 verdict=result.verdict.name, reasons=list(result.reasons))
        if result.verdict is Verdict.LIMITED_RETRY:
            self._limited[key] = self._limited.get(key, 0) + 1
            if self._limited[key] > settings.limited_retry_iterations:
                await self._give_up(mark, result)
                return
        else:
            self._limited.pop(key, None)
        if result.deleting or (result.verdict in (Verdict.RETRY, Verdict.LIMITED_RETRY)
                               and not (result.gone or result.deleted)):
            # A group being deleted keeps its mark until it is gone, even
            # after a FAILURE: a failed delete is retried, never stuck.
            self._retry_later(key)
            return
        self._forget(key)
        await self._do(ClearDivergent(mark.tenant_id, mark.group_id, mark.mark))

    def _retry_later(self, key: GroupKey) -> None:
        self._attempts[key] = self._attempts.get(key, 0) + 1
        self._retry_at[key] = self._clock.seconds() + retry_delay(
            self._attempts[key], self.settings.max_retry_delay)

    def _forget(self, key: GroupKey) -> None:
        self._attempts.pop(key, None)
        self._retry_at.pop(key, None)
        self._limited.pop(key, None)

    async def _give_up(self, mark: DivergentMark, result: IterationResult) -> None:
        """Too many limited retries: the group goes to ERROR and stops waiting."""
        self._forget((mark.tenant_id, mark.group_id))
        try:
            await self._do(update_state(mark.tenant_id, mark.group_id,
                                        _timed_out(result.reasons), include_deleting=True))
        except NoSuchGroup:
            pass
        await self._do(ClearDivergent(mark.tenant_id, mark.group_id, mark.mark))
