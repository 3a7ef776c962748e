"""
The one dispatcher that performs every intent otter2 has.

test-case-name: tests.effects.test_dispatcher
"""

from __future__ import annotations

from typing import Any

from attrs import fields
from effect import ComposedDispatcher, TypeDispatcher, base_dispatcher
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from txeffect import deferred_performer, make_twisted_dispatcher

from otter2.intents import Now
from otter2.store.interface import GroupStore
from otter2.store.intents import STORE_INTENTS


def store_dispatcher(store: GroupStore) -> TypeDispatcher:
    """Performers for the store intents: each calls the method it names."""

    @deferred_performer
    def perform(dispatcher: Any, intent: Any) -> Deferred[Any]:
        arguments = {a.name: getattr(intent, a.name) for a in fields(type(intent))}
        result: Deferred[Any] = getattr(store, intent.method)(**arguments)
        return result

    return TypeDispatcher({intent: perform for intent in STORE_INTENTS})


def world_dispatcher(clock: IReactorTime) -> TypeDispatcher:
    """Performers for the time."""
    return TypeDispatcher({
        Now: deferred_performer(lambda dispatcher, intent: clock.seconds()),  # type: ignore[misc]
    })


def make_dispatcher(reactor: Any, store: GroupStore) -> ComposedDispatcher:
    """Every performer otter2 has, bound to its collaborators."""
    return ComposedDispatcher([
        store_dispatcher(store),
        world_dispatcher(reactor),
        make_twisted_dispatcher(reactor),
        base_dispatcher,
    ])
