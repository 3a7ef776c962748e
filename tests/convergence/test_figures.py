"""
Tests for otter2.convergence.figures: each group's status label and servers,
drawn from the store alone.
"""

from __future__ import annotations

from attrs import evolve
from effect import ComposedDispatcher, base_dispatcher
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from txeffect import make_twisted_dispatcher, perform

from otter2.convergence.figures import all_figures, figures_of, status_label
from otter2.effects.dispatcher import store_dispatcher
from otter2.model import GroupStatus, ScalingGroup
from otter2.model.cloud import RecordedServer
from otter2.store.memory import MemoryGroupStore
from tests.store.test_stores import group


def recorded(actives: int, others: int) -> list[RecordedServer]:
    return ([RecordedServer(f"a{i}", active=True) for i in range(actives)]
            + [RecordedServer(f"p{i}") for i in range(others)])


class FiguresTests(SynchronousTestCase):
    """A group's figures come from its state and its record of servers."""

    @given(desired=st.integers(0, 50), actives=st.integers(0, 50), others=st.integers(0, 50))
    def test_figures_count_the_record(self, desired: int, actives: int, others: int) -> None:
        """Actual is the active servers recorded, pending the others; divergent when
        together they differ from desired."""
        figures = figures_of(evolve(group(desired=desired), servers=recorded(actives, others)))
        self.assertEqual((figures.desired, figures.actual, figures.pending),
                         (desired, actives, others))
        self.assertEqual(figures.divergent, actives + others != desired)

    def test_status_labels(self) -> None:
        """Deleting outranks paused, which outranks the stored status."""
        base = group()
        paused = evolve(base, state=evolve(base.state, paused=True))
        errored = evolve(base, state=evolve(base.state, status=GroupStatus.ERROR))
        self.assertEqual([status_label(g) for g in (
            base, errored, paused, evolve(paused, deleting=True))],
            ["ACTIVE", "ERROR", "paused", "deleting"])

    def test_all_figures_reads_every_group(self) -> None:
        """Every group of every tenant is read, deleting ones included."""
        store = MemoryGroupStore()
        groups: list[ScalingGroup] = [group("t1", "g1", 2), group("t2", "g2", 3)]
        for one in groups:
            self.successResultOf(store.create_group(one, [], [], 100))
        self.successResultOf(store.mark_deleting("t2", "g2"))
        dispatcher = ComposedDispatcher([store_dispatcher(store), make_twisted_dispatcher(Clock()),
                                         base_dispatcher])
        figures = self.successResultOf(perform(dispatcher, all_figures()))
        self.assertEqual([(f.group_id, f.status, f.desired) for f in figures],
                         [("g1", "ACTIVE", 2), ("g2", "deleting", 3)])
