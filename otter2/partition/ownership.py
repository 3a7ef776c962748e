"""
What the converger and the scheduler ask before working for a bucket, and
the owner of every bucket when one node runs alone.

A service that works for a bucket calls `Ownership.begin`: None means the
bucket is not this node's now (do nothing); otherwise the answer carries
the `Fence` every write for that work must carry (None when the node runs
alone, unfenced). When the work is over, finished or abandoned, the service
calls `Ownership.end`: a bucket being handed over is let go only once no
work for it is left (Note [Fencing] in ``otter2.partition``).

test-case-name: tests.partition.test_ownership
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from attrs import frozen

from otter2.model import Fence


@frozen
class Turn:
    """Leave to work for a bucket now, and the fence the work's writes carry."""

    fence: Fence | None


class Ownership(Protocol):
    """Which buckets this node may work for; see the module docstring."""

    def owned(self) -> Sequence[int]:
        """The buckets work may start for now, ascending."""

    def begin(self, bucket: int) -> Turn | None:
        """Leave to work for ``bucket`` (to be ended by `end`), or None if not ours now."""

    def end(self, bucket: int) -> None:
        """The work begun for ``bucket`` is over (finished or abandoned)."""

    def subscribe(self, changed: Callable[[], None]) -> None:
        """Call ``changed`` whenever this node gains buckets."""


class AllBuckets:
    """Every bucket, always, unfenced: one node alone (no ``zookeeper`` configured)."""

    def __init__(self, buckets: Sequence[int]) -> None:
        self._buckets = sorted(buckets)
        self._turn = Turn(None)

    def owned(self) -> Sequence[int]:
        return self._buckets

    def begin(self, bucket: int) -> Turn | None:
        return self._turn

    def end(self, bucket: int) -> None:
        pass

    def subscribe(self, changed: Callable[[], None]) -> None:
        pass
