"""
Tests for otter2.partition.ownership: one node alone owns every bucket, unfenced.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from otter2.partition import AllBuckets, Turn


class AllBucketsTests(SynchronousTestCase):
    """A node alone."""

    def test_every_bucket_unfenced(self) -> None:
        """Every bucket is owned and work for any of them starts, its writes unfenced."""
        ownership = AllBuckets(range(3, 0, -1))
        self.assertEqual(list(ownership.owned()), [1, 2, 3])
        self.assertEqual(ownership.begin(2), Turn(None))
        ownership.end(2)
        self.assertEqual(list(ownership.owned()), [1, 2, 3])
