"""
Self-heal: every ``interval`` seconds, mark every group divergent (groups in
ERROR included), so that damage done to the cloud behind otter2's back is
repaired without any API call.

The marks are spread over the interval rather than made in one burst: of
the n groups listed, the i-th is marked i * interval / n seconds after the
listing, so the converger and the cloud see a steady trickle and every group
is marked once per interval. A suspended tenant's group is not marked (the
converger would leave it alone anyway), unless it is being deleted.

With several nodes, each marks only the groups of the buckets it owns when
it lists them (``otter2.partition``), so every group is marked once per
interval by one node, not once by each. A bucket that moves in the meantime
is harmless: a mark is never fenced, and its new owner converges it.

test-case-name: tests.service.test_selfheal
"""

from __future__ import annotations

from typing import Any

from effect import Effect
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from txeffect import perform

from otter2.control.schedule import group_bucket
from otter2.model import ScalingGroup
from otter2.partition import Ownership
from otter2.service.loop import Repeater
from otter2.store.intents import ListAllGroups, LoadGroup, MarkDivergent

log = Logger(namespace="otter2.selfheal")


class SelfHeal(Service):
    """Marks all groups divergent periodically, spread over the interval."""

    def __init__(self, clock: IReactorTime, dispatcher: Any, interval: float,
                 ownership: Ownership | None = None, buckets: int = 1) -> None:
        """With ``ownership``, only the groups of the buckets (of ``buckets``) it says are
        this node's are marked; without, every group."""
        self._ownership = ownership
        self._buckets = buckets
        self._clock = clock
        self._dispatcher = dispatcher
        self.interval = interval
        self._repeater = Repeater(clock, interval, self.heal, "self-heal")
        self._pending: list[IDelayedCall] = []

    def startService(self) -> None:
        Service.startService(self)
        self._repeater.start(now=False)

    def stopService(self) -> None:
        Service.stopService(self)
        self._repeater.stop()
        for call in self._pending:
            if call.active():
                call.cancel()
        self._pending = []

    def heal(self) -> Deferred[None]:
        """List every group and schedule its mark, spread over the interval."""
        return Deferred.fromCoroutine(self._heal())

    async def _heal(self) -> None:
        try:
            groups = await perform(self._dispatcher, Effect(ListAllGroups()))
        except Exception:
            log.failure("Self-heal could not list the groups")
            return
        if self._ownership is not None:
            owned = set(self._ownership.owned())
            groups = [(tenant_id, group_id) for tenant_id, group_id in groups
                      if group_bucket(group_id, self._buckets) in owned]
        self._pending = [call for call in self._pending if call.active()]
        spacing = self.interval / max(1, len(groups))
        for i, (tenant_id, group_id) in enumerate(groups):
            self._pending.append(
                self._clock.callLater(i * spacing, self._mark, tenant_id, group_id))
        log.info("Self-heal marks {count} groups divergent over {interval} s",
                 count=len(groups), interval=self.interval)

    def _mark(self, tenant_id: str, group_id: str) -> Deferred[None]:
        return Deferred.fromCoroutine(self._mark_one(tenant_id, group_id))

    async def _mark_one(self, tenant_id: str, group_id: str) -> None:
        """Mark the group divergent unless it is gone or its tenant is suspended."""
        try:
            group: ScalingGroup | None = await perform(
                self._dispatcher, Effect(LoadGroup(tenant_id, group_id, True)))
            if group is None or (group.state.suspended and not group.deleting):
                return
            await perform(self._dispatcher, Effect(MarkDivergent(tenant_id, group_id)))
        except Exception:
            log.failure("Self-heal could not mark group {group_id} of tenant {tenant_id}",
                        tenant_id=tenant_id, group_id=group_id)
