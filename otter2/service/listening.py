"""
The daemon's listening ports, bound at once.

twistd's own endpoint services bind when the application starts, after
logging has begun, and a port that cannot be had there is a traceback in a
process that keeps running. The daemon instead parses and binds each
endpoint while it is being built: a malformed endpoint or a port that is
taken is a `CannotListen` whose one line names the endpoint, its source
(``--port`` or ``admin``) and the cause, before anything has started.

test-case-name: tests.service.test_listening
"""

from __future__ import annotations

import ipaddress
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IAddress, IListeningPort, IStreamServerEndpoint
from twisted.python.failure import Failure

#: How an endpoint that stays on this machine is written, for messages.
LOOPBACK_EXAMPLE = "tcp:9000:interface=127.0.0.1"


class CannotListen(Exception):
    """An endpoint cannot be listened on; the message is one line saying why."""


def parse_endpoint(reactor: Any, description: str, source: str) -> IStreamServerEndpoint:
    """The endpoint ``description`` names; `CannotListen` if it is malformed."""
    try:
        endpoint: IStreamServerEndpoint = serverFromString(reactor, description)
        return endpoint
    except Exception as e:  # the parsers raise ValueError, TypeError, OSError...
        raise CannotListen(
            f'{source} "{description}" is not a listening endpoint ({e}); '
            f'write one such as "{LOOPBACK_EXAMPLE}"') from None


def listen_now(endpoint: IStreamServerEndpoint, factory: Any, description: str,
               source: str) -> IListeningPort:
    """The port ``endpoint`` listens on for ``factory``, bound before this returns;
    `CannotListen` naming the cause if it cannot be (or would bind only later)."""
    outcome: list[Any] = []
    listening: Deferred[IListeningPort] = endpoint.listen(factory)
    listening.addBoth(outcome.append)
    if not outcome:
        listening.cancel()  # its failure goes to ``outcome``, unseen
        raise CannotListen(f'{source} "{description}" does not listen at once; use a '
                           f'tcp: or unix: endpoint such as "{LOOPBACK_EXAMPLE}"')
    result = outcome[0]
    if isinstance(result, Failure):
        raise CannotListen(f'cannot listen on "{description}" ({source}): '
                           f"{_reason(result.value)}")
    port: IListeningPort = result
    return port


def _reason(error: BaseException | None) -> str:
    if isinstance(error, CannotListenError) and isinstance(error.socketError, OSError):
        return (error.socketError.strerror or str(error.socketError)).lower()
    return str(error) or type(error).__name__


def reachable_from_elsewhere(address: IAddress) -> bool:
    """Whether a listener at ``address`` can be reached from other machines: an IP
    address that is not loopback (``0.0.0.0`` and ``::`` are every interface)."""
    host = getattr(address, "host", None)
    if not isinstance(host, str):
        return False  # a UNIX socket, say
    try:
        return not ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return True


class ListeningService(Service):
    """Holds a port `listen_now` bound and stops listening when the daemon stops."""

    def __init__(self, port: IListeningPort) -> None:
        self.port = port

    def stopService(self) -> Deferred[None] | None:
        Service.stopService(self)
        return self.port.stopListening()
