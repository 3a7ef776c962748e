"""
Self-heal: every ``interval`` seconds, mark every group divergent (groups in
ERROR included), so that damage done to the cloud behind otter2's back is
repaired without any API call.

test-case-name: tests.service.test_converger
"""

from __future__ import annotations

from typing import Any

from effect import Effect
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from txeffect import perform

from otter2.service.loop import Repeater
from otter2.store.intents import ListAllGroups, MarkDivergent

log = Logger(namespace="otter2.selfheal")


class SelfHeal(Service):
    """Marks all groups divergent periodically."""

    def __init__(self, clock: IReactorTime, dispatcher: Any, interval: float) -> None:
        self._dispatcher = dispatcher
        self.interval = interval
        self._repeater = Repeater(clock, interval, self.heal, "self-heal")

    def startService(self) -> None:
        Service.startService(self)
        self._repeater.start(now=False)

    def stopService(self) -> None:
        Service.stopService(self)
        self._repeater.stop()

    def heal(self) -> Deferred[None]:
        """Mark every group divergent."""
        return Deferred.fromCoroutine(self._heal())

    async def _heal(self) -> None:
        try:
            groups = await perform(self._dispatcher, Effect(ListAllGroups()))
            for tenant_id, group_id in groups:
                await perform(self._dispatcher, Effect(MarkDivergent(tenant_id, group_id)))
        except Exception:
            log.failure("Self-heal could not mark the groups")
            return
        log.info("Self-heal marked {count} groups divergent", count=len(groups))
