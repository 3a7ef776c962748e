"""
The one dispatcher that performs every intent otter2 has.

test-case-name: tests.effects.test_dispatcher
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from attrs import fields, frozen
from effect import ComposedDispatcher, TypeDispatcher, base_dispatcher
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from txeffect import deferred_performer, make_twisted_dispatcher

from otter2.cloud.request import ServiceRequest, ServiceType
from otter2.effects.courtesy import Courtesy
from otter2.effects.http import Authenticator, HTTPClient, RequestWatch, perform_service_request
from otter2.intents import Now, RandomHex
from otter2.store.intents import STORE_INTENTS
from otter2.store.interface import GroupStore


def store_dispatcher(store: GroupStore) -> TypeDispatcher:
    """Performers for the store intents: each calls the method it names."""

    @deferred_performer
    def perform(dispatcher: Any, intent: Any) -> Deferred[Any]:
        arguments = {a.name: getattr(intent, a.name) for a in fields(type(intent))}
        result: Deferred[Any] = getattr(store, intent.method)(**arguments)
        return result

    return TypeDispatcher({intent: perform for intent in STORE_INTENTS})


def world_dispatcher(clock: IReactorTime) -> TypeDispatcher:
    """Performers for the time and randomness."""
    return TypeDispatcher({
        Now: deferred_performer(lambda dispatcher, intent: clock.seconds()),
        RandomHex: deferred_performer(
            lambda dispatcher, intent: secrets.token_hex(intent.nbytes)),
    })


def cloud_dispatcher(http: HTTPClient, authenticator: Authenticator, region: str | None,
                     service_names: Mapping[ServiceType, str] | None = None,
                     courtesy: Courtesy | None = None,
                     watch: RequestWatch | None = None) -> TypeDispatcher:
    """The performer of `ServiceRequest`: treq, the tenant's token and catalog,
    at ``courtesy``'s pace, each request told to ``watch``."""
    return TypeDispatcher({ServiceRequest: deferred_performer(
        partial(perform_service_request, http, authenticator, region, service_names,
                courtesy=courtesy, watch=watch))})


def make_dispatcher(reactor: IReactorTime, store: GroupStore, *, http: HTTPClient | None = None,
                    authenticator: Authenticator | None = None,
                    region: str | None = None,
                    service_names: Mapping[ServiceType, str] | None = None,
                    courtesy: Courtesy | None = None,
                    watch: RequestWatch | None = None) -> ComposedDispatcher:
    """
    Every performer otter2 has, bound to its collaborators. With an ``http``
    client (and an ``authenticator``), `ServiceRequest` intents reach the cloud,
    at the pace of ``courtesy`` (by default: Retry-After honoured on
    ``reactor``'s clock, no throttle, the default cap on calls in flight),
    each request told to ``watch`` if given.
    """
    cloud = []
    if http is not None:
        if authenticator is None:
            raise ValueError("an HTTP client needs an authenticator")
        cloud = [cloud_dispatcher(http, authenticator, region, service_names,
                                  courtesy if courtesy is not None else Courtesy(reactor),
                                  watch)]
    return ComposedDispatcher([
        store_dispatcher(store),
        world_dispatcher(reactor),
        *cloud,
        make_twisted_dispatcher(reactor),
        base_dispatcher,
    ])


@frozen
class _ThenBox:
    """A performer's box that calls ``then`` once the result is in."""

    box: Any
    then: Callable[[], None]

    def succeed(self, result: Any) -> None:
        self.box.succeed(result)
        self.then()

    def fail(self, error: Any) -> None:
        self.box.fail(error)


def notify_after(dispatcher: Callable[[Any], Any], when: Callable[[Any], bool],
                 then: Callable[[], None]) -> Callable[[Any], Any]:
    """
    A dispatcher that performs every intent as ``dispatcher`` does and calls
    ``then`` each time an intent for which ``when`` holds succeeds. The
    composition root wraps the dispatcher with it so that a mark written on
    this node (``store.intents.marks_divergent``) asks the converger to look
    at once (Note [Divergent marks]).
    """

    def dispatch(intent: Any) -> Any:
        performer = dispatcher(intent)
        if performer is None or not when(intent):
            return performer

        def perform_then(outer: Any, intent: Any, box: Any) -> None:
            performer(outer, intent, _ThenBox(box, then))
        return perform_then
    return dispatch
