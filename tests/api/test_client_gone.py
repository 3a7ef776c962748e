"""
Tests for Note [A client that goes away] in otter2.api.base: a request read
whole is carried to its end when its client's connection closes before the
answer.
"""

from __future__ import annotations

import json
from typing import Any

from effect import ComposedDispatcher, Effect, TypeDispatcher
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.internet.task import deferLater
from twisted.logger import ILogObserver, LogLevel, globalLogPublisher
from txeffect import deferred_performer, perform
from zope.interface import provider

from otter2.cloud.request import ServiceRequest
from tests.api.support import CloudAPITestCase, minimal_group


class _Sender(Protocol):
    """Sends one request and keeps its connection until told to drop it."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.answered = b""

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:
        self.answered += data


class ClientGoneTests(CloudAPITestCase):
    """The API with a cloud that answers only when the test lets it, so that a
    request is still in its route when its client leaves."""

    def setUp(self) -> None:
        self.cloud_open: Deferred[None] = Deferred()  # the test lets the cloud answer
        self.cloud_asked: Deferred[None] = Deferred()  # a route is waiting on the cloud
        self.events: list[dict[str, Any]] = []

        @provider(ILogObserver)
        def observe(event: dict[str, Any]) -> None:
            self.events.append(event)

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        super().setUp()

    def make_dispatcher(self) -> Any:
        behind = super().make_dispatcher()

        async def answer_later(intent: ServiceRequest) -> Any:
            if not self.cloud_asked.called:
                self.cloud_asked.callback(None)
            await self.cloud_open
            return await perform(behind, Effect(intent))

        slow_cloud = deferred_performer(
            lambda dispatcher, intent: Deferred.fromCoroutine(answer_later(intent)))
        return ComposedDispatcher([TypeDispatcher({ServiceRequest: slow_cloud}), behind])

    async def send_and_leave(self, body: dict[str, Any]) -> _Sender:
        """POST ``body`` to the tenant's groups on a connection of its own, and close
        that connection while the route waits on the cloud."""
        data = json.dumps(body).encode()
        port = int(self.base.rsplit(":", 1)[1])
        sender = _Sender(b"POST /v1.0/t1/groups/ HTTP/1.1\r\nHost: otter2\r\n"
                         b"Content-Type: application/json\r\n"
                         b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
        factory = ClientFactory.forProtocol(lambda: sender)
        reactor.connectTCP("127.0.0.1", port, factory)  # type: ignore[arg-type]
        await self.cloud_asked
        assert sender.transport is not None
        sender.transport.abortConnection()  # type: ignore[attr-defined]
        await deferLater(reactor, 0.05, lambda: None)  # the server sees it close
        return sender

    async def test_group_created_whole(self) -> None:
        """A group whose creation loses its client while its launch configuration is
        checked with the cloud is still created whole: listed, marked for
        convergence and journalled, as if its client had stayed; the request is
        logged as answered to no one, with no failure."""
        sender = await self.send_and_leave(minimal_group(minEntities=1))
        self.assertEqual(sender.answered, b"", "no answer came before the client left")
        self.assertEqual((await self.call("GET", "/groups")).json["groups"], [])
        self.cloud_open.callback(None)
        for _ in range(200):
            groups = (await self.call("GET", "/groups")).json["groups"]
            if groups:
                activities = await self.call("GET", f"/groups/{groups[0]['id']}/activities")
                if activities.code == 200:
                    break
            await deferLater(reactor, 0.02, lambda: None)
        [group] = groups
        self.assertEqual([e["type"] for e in activities.json["activities"]], ["change"])
        marks = await self.store.list_divergent()
        self.assertEqual([(m.tenant_id, m.group_id) for m in marks], [("t1", group["id"])])
        gone = [e for e in self.events if "went away" in e.get("log_format", "")]
        self.assertEqual(len(gone), 1)
        self.assertEqual(gone[0]["log_level"], LogLevel.info)
        self.assertEqual([e for e in self.events if e["log_level"] >= LogLevel.error], [])
