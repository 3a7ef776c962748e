"""
Tests for otter2.control.capability: the secret of a webhook's execute URL.
"""

from __future__ import annotations

import re

from twisted.trial.unittest import SynchronousTestCase

from otter2.control.capability import new_capability_hash


class CapabilityHashTests(SynchronousTestCase):
    """A capability hash is long, plain and never repeats."""

    def test_shape(self) -> None:
        """A hash is 64 lowercase hex characters (256 random bits)."""
        for _ in range(20):
            self.assertRegex(new_capability_hash(), re.compile(r"\A[0-9a-f]{64}\Z"))

    def test_unrepeated(self) -> None:
        """No two hashes are the same."""
        hashes = {new_capability_hash() for _ in range(1000)}
        self.assertEqual(len(hashes), 1000)
