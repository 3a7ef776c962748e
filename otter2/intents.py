"""
Intents for what the outside world supplies: the time and randomness.

test-case-name: tests.effects.test_dispatcher
"""

from attrs import frozen


@frozen
class Now:
    """The current time, in seconds since the epoch."""


@frozen
class RandomHex:
    """``nbytes`` random bytes as lower-case hex: the unique part of a new name."""

    nbytes: int
