"""
The divergence watch: every ``interval`` seconds, reads every group's figures
from the store, raises the alarms of those that stayed diverged and unchanged
for too long (Note [Divergence alarm] in ``otter2.convergence.divergence``),
logs each as an error, keeps its instant in the group's state, and tells the
metrics how many groups are diverged and for how long the oldest.

test-case-name: tests.service.test_divergence
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attrs import evolve
from effect import Effect
from pyrsistent import PMap, pmap
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from txeffect import perform

from otter2.convergence.divergence import Watched, watch
from otter2.convergence.figures import GroupFigures, all_figures
from otter2.convergence.planning import iso_time
from otter2.model import GroupState, ScalingGroup
from otter2.service.loop import Repeater
from otter2.store.changes import update_state

log = Logger(namespace="otter2.divergence")

#: Seconds between two looks of the watch (Otter's metrics interval).
WATCH_INTERVAL = 60.0


class DivergenceWatch(Service):
    """Raises the divergence alarm; see the module docstring."""

    def __init__(self, clock: IReactorTime, dispatcher: Any, timeout: float,
                 observe: Callable[[Watched, float], None] | None = None,
                 interval: float = WATCH_INTERVAL) -> None:
        self._clock = clock
        self._dispatcher = dispatcher
        self.timeout = timeout
        self._observe = observe
        self.tracked: PMap = pmap()
        self.repeater = Repeater(clock, interval, self.look, "divergence watch")

    def startService(self) -> None:
        Service.startService(self)
        self.repeater.start(now=False)

    def stopService(self) -> None:
        Service.stopService(self)
        self.repeater.stop()

    def _do(self, effect: Any) -> Deferred[Any]:
        result: Deferred[Any] = perform(self._dispatcher,
                                        effect if isinstance(effect, Effect) else Effect(effect))
        return result

    def look(self) -> Deferred[None]:
        """Look at every group once."""
        return Deferred.fromCoroutine(self._look())

    async def _look(self) -> None:
        try:
            figures: list[GroupFigures] = await self._do(all_figures())
        except Exception:
            log.failure("Could not read the groups to watch their divergence")
            return
        now = self._clock.seconds()
        watched = watch(self.tracked, figures, now, self.timeout)
        self.tracked = watched.tracked
        if self._observe is not None:
            self._observe(watched, now)
        for alarm in watched.alarms:
            group = alarm.figures
            log.error("Group {group_id} of tenant {tenant_id} remains diverged and unchanged "
                      "since {since}: desired {desired}, actual {actual}, pending {pending}",
                      tenant_id=group.tenant_id, group_id=group.group_id,
                      since=iso_time(alarm.since), desired=group.desired,
                      actual=group.actual, pending=group.pending,
                      divergent_seconds=now - alarm.since)
        for (tenant_id, group_id), since in watched.keep.items():
            await self._keep(tenant_id, group_id, since)

    async def _keep(self, tenant_id: str, group_id: str, since: float | None) -> None:
        """Keep ``since`` in the group's state (None: clear it)."""
        def change(group: ScalingGroup) -> GroupState:
            return evolve(group.state, diverged_since=since)
        try:
            await self._do(update_state(tenant_id, group_id, change))
        except Exception:
            log.failure("Could not note the divergence of group {group_id} of tenant "
                        "{tenant_id}", tenant_id=tenant_id, group_id=group_id)
