"""
Tests for ``otter2.convergence.causes``: the attribution of servers to roots
by capacity slot (Note [Root causes]), as properties of random histories of
executions converged under random step limits.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from otter2.convergence.causes import (
    CapacityRoot,
    capacity_roots,
    creation_roots,
    event_id,
    removal_roots,
    slot_root,
)
from otter2.model import EventKind, JournalEvent


def converge(start: int, changes: list[int], limit: int, steps_between: list[int],
             ) -> tuple[list[str | None], list[tuple[int, str | None, list[CapacityRoot]]]]:
    """
    The root of every server created by iterations creating at most
    ``limit`` servers each, from ``start`` servers, while ``changes`` move the
    desired capacity (change i after ``steps_between[i]`` iterations); and
    each create's slot, root and the capacity roots it was attributed from
    (newest first). Servers above the desired capacity are removed at once.
    """
    roots: list[CapacityRoot] = []
    servers, desired = start, start
    created: list[tuple[int, str | None, list[CapacityRoot]]] = []

    def iterate() -> None:
        nonlocal servers
        creates = min(limit, desired - servers)
        found = creation_roots(roots, servers, [], creates)
        created.extend((servers + index + 1, root, list(roots))
                       for index, root in enumerate(found))
        servers += max(creates, 0)

    for index, change in enumerate(changes):
        roots.insert(0, CapacityRoot(f"r{index}", desired, change))
        desired = change
        servers = min(servers, desired)
        for _ in range(steps_between[index] if index < len(steps_between) else 100):
            iterate()
    while servers < desired:
        iterate()
    return [root for _, root, _ in created], created


class SlotTests(SynchronousTestCase):
    """Slots belong to the most recent root that moved the capacity through them."""

    def test_example(self) -> None:
        """+5 then +3 from 10 gives slots 11..15 to the first and 16..18 to the second,
        across iterations of two creates."""
        created, _ = converge(10, [15, 18], 2, [1])
        self.assertEqual(Counter(created), {"r0": 5, "r1": 3})

    @given(start=st.integers(0, 20), steps=st.lists(st.integers(1, 10), min_size=1, max_size=6),
           limit=st.integers(1, 5), between=st.lists(st.integers(0, 4), max_size=6))
    def test_increases_are_served_exactly(self, start: int, steps: list[int], limit: int,
                                          between: list[int]) -> None:
        """Capacity only going up: each root is attributed exactly as many creates as
        it added, whatever the step limit and however the changes interleave with
        the iterations; every create has a root."""
        changes = []
        desired = start
        for step in steps:
            desired += step
            changes.append(desired)
        created, _ = converge(start, changes, limit, between)
        self.assertEqual(Counter(created), {f"r{i}": step for i, step in enumerate(steps)})

    @given(start=st.integers(0, 20), changes=st.lists(st.integers(0, 30), min_size=1,
                                                      max_size=6),
           limit=st.integers(1, 5), between=st.lists(st.integers(0, 4), max_size=6))
    def test_each_create_has_the_newest_covering_root(self, start: int, changes: list[int],
                                                      limit: int, between: list[int]) -> None:
        """Any history: every server created has one root, one that raised the
        capacity through its slot, and no newer root did; none of the creates
        is left without a root (the servers below ``start`` were never missing)."""
        roots, created = converge(start, changes, limit, between)
        self.assertNotIn(None, roots)
        for slot, root, known in created:
            covering = [r.event_id for r in known if r.before < slot <= r.after]
            self.assertEqual(covering[0], root)

    @given(before=st.integers(1, 30), data=st.data())
    def test_removals_by_slot(self, before: int, data: st.DataObject) -> None:
        """A scale-down from ``before`` to ``after`` attributes exactly the servers
        beyond ``after`` to it, and an older scale-down keeps the slots only it
        emptied."""
        after = data.draw(st.integers(0, before - 1))
        older = CapacityRoot("old", before + 5, before)
        roots = [CapacityRoot("new", before, after), older]
        surplus = [f"s{i}" for i in range(before + 5 - after)]
        removed = removal_roots(roots, after, surplus)
        self.assertEqual(Counter(removed.values()), {"new": before - after, "old": 5})

    def test_replacements_take_the_lowest_slots(self) -> None:
        """Servers replacing lost ones go to their observations first; the rest to the
        slots above."""
        roots = [CapacityRoot("up", 4, 6)]
        self.assertEqual(creation_roots(roots, 3, ["lost"], 3), ["lost", "up", "up"])
        self.assertEqual(creation_roots(roots, 3, ["lost", "other"], 1), ["lost"])

    def test_no_root_when_pruned(self) -> None:
        """A slot no known root moved has no root."""
        self.assertIsNone(slot_root([CapacityRoot("up", 0, 3)], 4, growing=True))
        self.assertIsNone(slot_root([CapacityRoot("up", 0, 3)], 2, growing=False))
        self.assertEqual(creation_roots([], 0, [], 2), [None, None])


class CapacityRootTests(SynchronousTestCase):
    """Capacity roots come from roots that moved the desired capacity."""

    def test_only_roots_that_moved_capacity(self) -> None:
        """Executions and changes that moved the capacity count, in order; a refused
        one, or a plan, does not."""
        def event(event_id: str, kind: EventKind, before: int, after: int) -> JournalEvent:
            return JournalEvent(tenant_id="t1", group_id="g1", event_id=event_id, kind=kind,
                                at=1.0, summary="", details={"desired_before": before,
                                                             "desired_after": after})
        events = [event("a", EventKind.EXECUTION, 1, 3), event("b", EventKind.EXECUTION, 3, 3),
                  event("c", EventKind.PLAN, 0, 9), event("d", EventKind.CHANGE, 0, 1)]
        self.assertEqual(capacity_roots(events),
                         [CapacityRoot("a", 1, 3), CapacityRoot("d", 0, 1)])

    @given(parts=st.lists(st.text(max_size=5), max_size=4))
    def test_event_ids_are_deterministic(self, parts: list[str]) -> None:
        """The same parts give the same id; another part another id."""
        self.assertEqual(event_id(*parts), event_id(*parts))
        self.assertNotEqual(event_id(*parts), event_id(*parts, "more"))
