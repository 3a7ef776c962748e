"""
Tests for otter2.model.cloud: which load-balancer descriptions mean the same
place for a server.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from otter2.model.cloud import (
    CLBDescription,
    LBDescription,
    NodeCondition,
    NodeType,
    RCv3Description,
)


class EquivalenceTests(SynchronousTestCase):
    """``equivalent_to`` compares where a server goes, not how it is weighted there."""

    def test_clb_same_place(self) -> None:
        """A CLB description matches another on the same load balancer and port,
        whatever their weight, condition and type."""
        wish = CLBDescription("5", 80)
        other = CLBDescription("5", 80, weight=3, condition=NodeCondition.DRAINING,
                               type=NodeType.SECONDARY)
        self.assertTrue(wish.equivalent_to(other))
        self.assertTrue(other.equivalent_to(wish))

    def test_clb_other_place(self) -> None:
        """Another port, another load balancer or a pool is somewhere else."""
        wish = CLBDescription("5", 80)
        others: list[LBDescription] = [CLBDescription("5", 443), CLBDescription("6", 80),
                                       RCv3Description("5")]
        for other in others:
            self.assertFalse(wish.equivalent_to(other), other)

    def test_pool_ids_ignore_case(self) -> None:
        """Pool ids are compared lower-cased: the same pool, however it is spelt."""
        self.assertEqual(RCv3Description("Pool-A"), RCv3Description("pool-a"))
        self.assertTrue(RCv3Description("POOL-A").equivalent_to(RCv3Description("pool-A")))
        self.assertFalse(RCv3Description("pool-a").equivalent_to(RCv3Description("pool-b")))
        self.assertFalse(RCv3Description("5").equivalent_to(CLBDescription("5", 80)))
