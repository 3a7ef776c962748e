"""
``/health`` and its liveness and readiness views over a real socket: each part
of the daemon failing on its own turns it unhealthy with its reason.
"""

from __future__ import annotations

from typing import Any

from effect import ComposedDispatcher, TypeDispatcher
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import Request, Site
from txeffect import deferred_performer

from otter2.api.health import HealthPart, examine
from otter2.config import ConvergerConfig
from otter2.effects import make_dispatcher
from otter2.effects.reachable import identity_check
from otter2.service.converger import Converger
from otter2.service.loop import STUCK_AFTER, loop_check
from otter2.service.scheduler import Scheduler, scheduler_check
from otter2.store.intents import ListDivergent
from tests.api.support import APITestCase, serve_on_loopback
from tests.e2e.support import free_port

INTERVAL = 5.0


class HealthTests(APITestCase):
    """The store, the converger's loop and the scheduler, each checked."""

    def setUp(self) -> None:
        super().setUp()
        self.clock = Clock()
        self.clock.advance(1_000)
        self.listing: list[Deferred[Any]] = []

    def start_converger(self, stalls: bool = False) -> None:
        """A converger on ``self.clock`` whose listing of marks never answers if
        ``stalls`` (its store hangs)."""
        dispatcher: Any = make_dispatcher(self.clock, self.store)
        if stalls:
            def hang(dispatcher: Any, intent: Any) -> Deferred[Any]:
                self.listing.append(Deferred())
                return self.listing[-1]
            dispatcher = ComposedDispatcher([
                TypeDispatcher({ListDivergent: deferred_performer(hang)}), dispatcher])
        converger = Converger(self.clock, dispatcher, ConvergerConfig(interval=INTERVAL))
        converger.startService()
        self.addCleanup(converger.stopService)
        self.api.add_health_check("converger", loop_check(converger.repeater), liveness=True)

    def start_scheduler(self) -> None:
        scheduler = Scheduler(reactor, make_dispatcher(reactor, self.store), 60, 10, [1])
        scheduler.startService()
        self.addCleanup(scheduler.stopService)
        self.api.add_health_check("scheduler", scheduler_check(scheduler))

    async def health(self, path: str = "/health") -> tuple[int, dict[str, Any]]:
        answer = await self.call("GET", self.base + path)
        self.assertEqual(answer.header("X-Response-Id"), "health_check")
        document: dict[str, Any] = answer.json
        return answer.code, document

    async def test_all_healthy(self) -> None:
        """Every part healthy: /health, /health/live and /health/ready say so."""
        self.start_converger()
        self.start_scheduler()
        code, document = await self.health()
        self.assertEqual((code, document["healthy"]), (200, True))
        self.assertEqual(sorted(document), ["converger", "healthy", "scheduler", "store"])
        self.assertIn("store_time", document["store"]["details"])
        self.assertEqual([(await self.health(path))[0] for path in ("/health/live",
                                                                    "/health/ready")],
                         [200, 200])

    async def test_store_stopped(self) -> None:
        """With the store stopped, the store part alone fails, with a reason; the
        daemon is not ready, but alive."""
        self.start_converger()
        self.store.close()
        code, document = await self.health()
        self.assertEqual((code, document["healthy"], document["store"]["healthy"],
                          document["converger"]["healthy"]), (200, False, False, True))
        self.assertTrue(document["store"]["details"]["reason"])
        self.assertEqual([(await self.health(path))[0] for path in ("/health/live",
                                                                    "/health/ready")],
                         [200, 503])

    async def test_converger_stalled(self) -> None:
        """A converger whose tick never ends is stuck once its interval and the grace
        have passed: not alive, with the reason."""
        self.start_converger(stalls=True)
        self.clock.advance(INTERVAL + STUCK_AFTER - 1)
        self.assertTrue((await self.health())[1]["converger"]["healthy"])
        self.clock.advance(2)
        code, document = await self.health("/health/live")
        self.assertEqual((code, document["healthy"]), (503, False))
        self.assertEqual(sorted(document), ["converger", "healthy"])
        self.assertIn("converger loop is stuck", document["converger"]["details"]["reason"])
        self.assertTrue((await self.health())[1]["store"]["healthy"])

    async def test_scheduler_stopped(self) -> None:
        """A stopped scheduler is unhealthy and the daemon not ready."""
        scheduler = Scheduler(reactor, make_dispatcher(reactor, self.store), 60, 10, [1])
        self.api.add_health_check("scheduler", scheduler_check(scheduler))
        code, document = await self.health("/health/ready")
        self.assertEqual((code, document["scheduler"]["healthy"], document["store"]["healthy"]),
                         (503, False, True))


class IdentityHealthTests(APITestCase):
    """Identity, when configured, is a part of readiness."""

    async def test_identity_reachable_or_not(self) -> None:
        """An Identity that answers is healthy; one that cannot be reached, or answers
        500, is not, with the reason."""
        class Identity(Resource):
            isLeaf = True
            status = 200

            def render(self, request: Request) -> bytes:
                request.setResponseCode(self.status)
                return b"{}"

        identity = Identity()
        url = serve_on_loopback(self, Site(identity)) + "/v2.0"
        self.api.add_health_check("identity", identity_check(self.http, url))
        document = (await self.call("GET", self.base + "/health")).json
        self.assertEqual(document["identity"], {"healthy": True,
                                                "details": {"url": url, "status": 200}})
        identity.status = 500
        answer = await self.call("GET", self.base + "/health/ready")
        self.assertEqual((answer.code, answer.json["identity"]["details"]["reason"]),
                         (503, "Identity answers 500"))
        closed = f"http://127.0.0.1:{free_port()}/v2.0"
        self.api.add_health_check("identity", identity_check(self.http, closed))
        details = (await self.call("GET", self.base + "/health")).json["identity"]["details"]
        self.assertIn("Identity cannot be reached", details["reason"])


class TimeoutTests(SynchronousTestCase):
    """A part that does not answer fails on its own after its timeout."""

    def test_silent_part_times_out(self) -> None:
        """A check that never answers is unhealthy after 15 s, saying so; the others
        answer as they are."""
        clock = Clock()

        async def silent() -> tuple[bool, dict[str, Any]]:
            await Deferred()
            return True, {}

        async def fine() -> tuple[bool, dict[str, Any]]:
            return True, {"ok": 1}

        result = Deferred.fromCoroutine(examine(
            {"silent": HealthPart(silent), "fine": HealthPart(fine)}, clock))
        clock.advance(14.9)
        self.assertNoResult(result)
        clock.advance(0.1)
        self.assertEqual(self.successResultOf(result), {
            "healthy": False,
            "silent": {"healthy": False, "details": {"reason": "no answer within 15 s"}},
            "fine": {"healthy": True, "details": {"ok": 1}}})
