"""
Intents for what the outside world supplies: the time.

test-case-name: tests.effects.test_dispatcher
"""

from attrs import frozen


@frozen
class Now:
    """The current time, in seconds since the epoch."""
