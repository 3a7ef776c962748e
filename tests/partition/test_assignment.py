"""
Tests for otter2.partition.assignment: every bucket goes to one member,
spread about evenly, and a member joining or leaving moves only what it must.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from otter2.partition.assignment import buckets_of, owner_of

BUCKETS = range(1, 65)
members = st.lists(st.text("abcdefgh0123456789-", min_size=1, max_size=12),
                   min_size=1, max_size=8, unique=True)


class AssignmentTests(SynchronousTestCase):
    """Rendezvous hashing of buckets over members."""

    @given(members=members)
    def test_every_bucket_has_one_owner(self, members: list[str]) -> None:
        """The members' shares are disjoint and cover every bucket, whatever their order."""
        shares = [buckets_of(m, members, BUCKETS) for m in members]
        self.assertEqual(sorted(b for share in shares for b in share), list(BUCKETS))
        self.assertEqual([buckets_of(m, list(reversed(members)), BUCKETS) for m in members],
                         shares)

    @given(members=members, newcomer=st.text("xyz", min_size=1, max_size=5))
    def test_joining_moves_only_to_the_newcomer(self, members: list[str],
                                                newcomer: str) -> None:
        """A member joining takes buckets only for itself: no bucket moves between the
        others; leaving again gives each bucket back to its former owner."""
        after = members + [newcomer]
        for bucket in BUCKETS:
            owner = owner_of(bucket, after)
            self.assertIn(owner, (owner_of(bucket, members), newcomer))

    def test_spread_is_about_even(self) -> None:
        """256 buckets over 2, 4 or 8 members: each member's share is within half of
        an even share of it."""
        buckets = range(1, 257)
        for count in (2, 4, 8):
            names = [f"m-{i:010d}" for i in range(count)]
            even = len(buckets) / count
            for name in names:
                self.assertLess(abs(len(buckets_of(name, names, buckets)) - even), even / 2)

    def test_no_members_no_owner(self) -> None:
        """Without members a bucket goes to nobody."""
        self.assertIsNone(owner_of(1, []))
