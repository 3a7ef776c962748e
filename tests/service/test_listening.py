"""
Tests for otter2.service.listening: endpoints parsed and bound at once, with
one line for each reason they cannot be. The daemon's own start-up failures
are in tests.test_startup.
"""

from __future__ import annotations

import errno
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from otter2.service.listening import (
    CannotListen,
    ListeningService,
    listen_now,
    parse_endpoint,
    reachable_from_elsewhere,
)


@implementer(IStreamServerEndpoint)
class AnsweringEndpoint:
    """An endpoint whose ``listen`` answers with the given Deferred."""

    def __init__(self, answer: Deferred[Any]) -> None:
        self.answer = answer

    def listen(self, factory: Any) -> Deferred[Any]:
        return self.answer


@implementer(IListeningPort)
class StoppablePort:
    """A listening port that remembers being stopped."""

    stopped = False

    def startListening(self) -> None:
        pass

    def stopListening(self) -> None:
        self.stopped = True

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", "127.0.0.1", 9000)


class ParseEndpointTests(SynchronousTestCase):
    """Endpoint descriptions are checked before anything listens."""

    def test_malformed_endpoints_are_named(self) -> None:
        """Each malformed description is one line naming its source and itself,
        with an example of a good one."""
        for description in ["tcp:abc", "bogus:1", "tcp:9000:interfce=127.0.0.1", "9000", ""]:
            with self.assertRaises(CannotListen) as caught:
                parse_endpoint(MemoryReactor(), description, "--port")
            message = str(caught.exception)
            self.assertTrue(message.startswith(f'--port "{description}" is not a listening '
                                               "endpoint"), message)
            self.assertIn('"tcp:9000:interface=127.0.0.1"', message)
            self.assertNotIn("\n", message)

    def test_good_endpoint(self) -> None:
        """A well-formed description gives an endpoint that listens on the reactor."""
        reactor = MemoryReactor()
        endpoint = parse_endpoint(reactor, "tcp:9100:interface=127.0.0.1", "admin")
        listen_now(endpoint, Factory(), "tcp:9100:interface=127.0.0.1", "admin")
        self.assertEqual([(port, interface) for port, _, _, interface in reactor.tcpServers],
                         [(9100, "127.0.0.1")])


class ListenNowTests(SynchronousTestCase):
    """Ports are bound before `listen_now` returns, or it says why not."""

    def test_taken_port(self) -> None:
        """A port in use is named with its source and the system's reason."""
        refused = CannotListenError("127.0.0.1", 9000,
                                    OSError(errno.EADDRINUSE, "Address already in use"))
        with self.assertRaises(CannotListen) as caught:
            listen_now(AnsweringEndpoint(fail(refused)), Factory(),
                       "tcp:9000:interface=127.0.0.1", "--port")
        self.assertEqual(str(caught.exception), 'cannot listen on '
                         '"tcp:9000:interface=127.0.0.1" (--port): address already in use')

    def test_other_failure(self) -> None:
        """Any other failure to listen is named with its own message."""
        with self.assertRaises(CannotListen) as caught:
            listen_now(AnsweringEndpoint(fail(OverflowError("port must be 0-65535"))),
                       Factory(), "tcp:99999", "admin")
        self.assertEqual(str(caught.exception),
                         'cannot listen on "tcp:99999" (admin): port must be 0-65535')

    def test_later_is_refused(self) -> None:
        """An endpoint that would listen only later is refused, and its attempt
        cancelled."""
        later: Deferred[Any] = Deferred()
        with self.assertRaises(CannotListen) as caught:
            listen_now(AnsweringEndpoint(later), Factory(), "onion:80", "--port")
        self.assertIn("does not listen at once", str(caught.exception))
        self.assertTrue(later.called)

    def test_service_stops_listening(self) -> None:
        """The service holding a bound port stops listening when it stops."""
        port = StoppablePort()
        bound = listen_now(AnsweringEndpoint(succeed(port)), Factory(), "tcp:9000", "--port")
        ListeningService(bound).stopService()
        self.assertTrue(port.stopped)


class ReachableTests(SynchronousTestCase):
    """Which listening addresses other machines can reach."""

    def test_loopback_is_not_reachable(self) -> None:
        """127.0.0.0/8, ::1 and UNIX sockets stay on this machine."""
        for address in [IPv4Address("TCP", "127.0.0.1", 9000),
                        IPv4Address("TCP", "127.0.0.2", 9000),
                        IPv6Address("TCP", "::1", 9000), UNIXAddress(b"/tmp/s")]:
            self.assertFalse(reachable_from_elsewhere(address), address)

    def test_other_addresses_are_reachable(self) -> None:
        """Every interface (0.0.0.0, ::) and any other address can be reached."""
        for address in [IPv4Address("TCP", "0.0.0.0", 9000), IPv6Address("TCP", "::", 9000),
                        IPv4Address("TCP", "10.1.2.3", 9000),
                        IPv6Address("TCP", "fe80::1%eth0", 9000)]:
            self.assertTrue(reachable_from_elsewhere(address), address)
