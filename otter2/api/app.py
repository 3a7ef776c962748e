"""
The public API and the admin API, assembled.

test-case-name: tests.api.test_groups
"""

from __future__ import annotations

import json
from typing import Any

from effect import ComposedDispatcher, Effect
from klein import Klein
from twisted.application.service import Service
from twisted.web.server import Request
from txeffect import perform

from otter2.api.groups import GroupRoutes
from otter2.api.journal import JournalRoutes
from otter2.api.policies import PolicyRoutes
from otter2.convergence.figures import GroupFigures, all_figures
from otter2.metrics import Metrics, wants_prometheus
from otter2.service.scheduler import Scheduler
from otter2.store.intents import CountRows


class OtterAPI(GroupRoutes, PolicyRoutes, JournalRoutes):
    """Every route of the public REST API v1.0."""


class AdminAPI:
    """
    The admin port: ``/``, ``/metrics`` and ``POST /scheduler/stop``.

    ``/metrics`` answers a Prometheus scrape (an Accept header naming the text
    format or OpenMetrics, as Prometheus sends) with the daemon's `Metrics`,
    the store's figures read at that moment; any other request gets Otter's
    JSON row counts, so that Otter's clients keep working.
    """

    app = Klein()

    def __init__(self, dispatcher: ComposedDispatcher, clock: Any,
                 scheduler: Service | None = None, metrics: Metrics | None = None) -> None:
        self._dispatcher = dispatcher
        self._clock = clock
        self._scheduler = scheduler
        self.metrics = metrics if metrics is not None else Metrics()

    def resource(self) -> Any:
        """The Twisted resource serving the admin API."""
        return self.app.resource()

    @app.route("/", methods=["GET"])
    def root(self, request: Request) -> bytes:
        return b""

    @app.route("/scheduler/stop", methods=["POST"], strict_slashes=False)
    async def stop_scheduler(self, request: Request) -> bytes:
        """Stop firing schedule policies on this node (until it restarts)."""
        request.setHeader(b"Content-Type", b"application/json")
        if self._scheduler is not None and self._scheduler.running:
            await self._scheduler.stopService()
        return b"{}"

    @app.route("/metrics", methods=["GET"], strict_slashes=False)
    async def metrics_page(self, request: Request) -> bytes:
        accept = (request.getHeader(b"accept") or b"").decode("latin-1")
        if wants_prometheus(accept):
            return await self._scrape(request, accept)
        counts = await perform(self._dispatcher, Effect(CountRows()))
        now = int(self._clock.seconds())
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps({"metrics": [
            {"id": f"otter.metrics.{name}", "value": counts[name], "time": now}
            for name in ("groups", "policies", "webhooks")]}).encode()

    async def _scrape(self, request: Request, accept: str) -> bytes:
        """The Prometheus exposition, with the store's and the scheduler's figures read now."""
        figures: list[GroupFigures] = await perform(self._dispatcher, all_figures())
        self.metrics.groups_seen(figures)
        if isinstance(self._scheduler, Scheduler):
            health = await self._scheduler.health()
            self.metrics.events_overdue.set(health.overdue)
        body, content_type = self.metrics.exposition(accept)
        request.setHeader(b"Content-Type", content_type.encode())
        return body
