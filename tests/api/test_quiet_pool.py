"""
The daemon's HTTP client pool does not log "Starting factory" and "Stopping
factory" for every connection it makes to the cloud (checked over loopback).
"""

from __future__ import annotations

from typing import Any

from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.resource import Resource
from twisted.web.server import Site
from zope.interface import provider

from otter2.effects.http import QuietConnectionPool
from tests.api.support import serve_on_loopback


class Hello(Resource):
    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        return b"{}"


class QuietPoolTests(TestCase):
    """Connections to the cloud leave no factory noise in the log."""

    def setUp(self) -> None:
        self.url = serve_on_loopback(self, Site(Hello())) + "/"

    async def factory_lines(self, pool: HTTPConnectionPool) -> list[str]:
        """The factory start/stop lines logged while ``pool`` makes two requests."""
        seen: list[str] = []

        @provider(ILogObserver)
        def observe(event: LogEvent) -> None:
            text = str(event.get("log_format", ""))
            if "factory" in text.lower() and "Site" not in repr(event.get("factory")):
                seen.append(text)
        globalLogPublisher.addObserver(observe)
        try:
            client = HTTPClient(Agent(reactor, pool=pool))
            for _ in range(2):
                response = await client.get(self.url)
                await response.content()
        finally:
            await pool.closeCachedConnections()
            await deferLater(reactor, 0.1, lambda: None)  # the connections' last words
            globalLogPublisher.removeObserver(observe)
        return seen

    async def test_quiet(self) -> None:
        """The quiet pool logs nothing per connection, where a plain pool does."""
        self.assertNotEqual(await self.factory_lines(HTTPConnectionPool(reactor, False)), [])
        self.assertEqual(await self.factory_lines(QuietConnectionPool(reactor, False)), [])
