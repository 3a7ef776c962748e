"""
Which live node each bucket goes to: rendezvous (highest random weight)
hashing of the bucket with every member's name. Every node computes the same
answer from the same membership, no node needs to talk to another, and a
node joining or leaving moves only the buckets it takes or leaves: a bucket
whose favourite member is still there stays with it.

test-case-name: tests.partition.test_assignment
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence


def _weight(member: str, bucket: int) -> int:
    digest = hashlib.blake2b(f"{member}/{bucket}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner_of(bucket: int, members: Sequence[str]) -> str | None:
    """The member ``bucket`` goes to (ties go to the smaller name); None without members."""
    if not members:
        return None
    return max(sorted(members), key=lambda member: _weight(member, bucket))


def buckets_of(member: str, members: Sequence[str], buckets: Iterable[int]) -> frozenset[int]:
    """The buckets of ``buckets`` that go to ``member`` among ``members``."""
    return frozenset(b for b in buckets if owner_of(b, members) == member)
