"""
Tests for otter2.convergence.preview and otter2.convergence.explain: the
preview plans as the iteration does (Note [One planner]), explains each
step, and names its inputs with a stable plan id.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from attrs import evolve
from hypothesis import given, settings
from hypothesis import strategies as st
from pyrsistent import pset

from otter2.cloud.metadata import DRAINING, SERVER_STATE_KEY
from otter2.convergence.iteration import observe_and_act
from otter2.convergence.preview import Preview, plan_id, preview
from otter2.model import ScalingGroup
from otter2.model.cloud import ServerState
from otter2.simulation import delete_server, set_server_metadata, set_server_status
from tests.convergence.tenant import SETTINGS, TenantCase, clb

STATES = st.sampled_from([ServerState.ACTIVE, ServerState.ERROR, ServerState.BUILD,
                          ServerState.REBOOT, ServerState.SHUTOFF])


class SameAsIterationTests(TenantCase):
    """The preview's steps are the steps the next iteration executes."""

    def build(self, desired: int, later: int, lb: bool, damage: list[tuple[int, Any]],
              draining_timeout: float) -> ScalingGroup:
        """A group converged to ``desired``, then asked for ``later``, with some of
        its servers damaged out of band (deleted, in another state, marked)."""
        if lb:
            self.add_clb(5)
        self.make_group("g1", desired, [clb(5)] if lb else [],
                        draining_timeout=draining_timeout)
        self.settle(["g1"], rounds=3)
        group = self.group("g1")
        self.store.save_state(evolve(group.state, desired=later))
        servers = sorted(self.holder.cloud.nova["t1"].servers) if "t1" in self.holder.cloud.nova else []
        now = self.clock.seconds()
        for index, change in damage:
            if index >= len(servers):
                continue
            server_id = servers[index]
            if change == "delete":
                self.holder.cloud = delete_server(self.holder.cloud, "t1", server_id)
            elif change == "drain":
                metadata = self.holder.cloud.nova["t1"].servers[server_id].metadata
                self.holder.cloud = set_server_metadata(
                    self.holder.cloud, "t1", server_id,
                    metadata.set(SERVER_STATE_KEY, DRAINING))
            else:
                self.holder.cloud = set_server_status(self.holder.cloud, "t1", server_id,
                                                      change, now)
        return self.group("g1")

    @settings(max_examples=15, deadline=None)
    @given(desired=st.integers(0, 4), later=st.integers(0, 4), lb=st.booleans(),
           damage=st.lists(st.tuples(st.integers(0, 4),
                                     st.one_of(STATES, st.sampled_from(["delete", "drain"]))),
                           max_size=3),
           draining_timeout=st.sampled_from([0.0, 30.0]))
    def test_preview_is_the_next_iteration(self, desired: int, later: int, lb: bool,
                                           damage: list[tuple[int, Any]],
                                           draining_timeout: float) -> None:
        """For random damaged groups, the steps previewed are the steps the next
        iteration then executes on the same cloud at the same time, and each
        has a reason."""
        self.setUp()
        group = self.build(desired, later, lb, damage, draining_timeout)
        now = self.clock.seconds()
        found: Preview = self.do(preview(group, now, SETTINGS))
        facts = self.do(observe_and_act(group, now, SETTINGS))
        self.assertEqual(Counter(found.plan.steps), Counter(facts.executed))
        self.assertEqual(len(found.explained), len(found.plan.steps))
        self.assertTrue(all(e.reason for e in found.explained))


class PreviewTests(TenantCase):
    """What a preview says, and its plan id."""

    def test_reasons_of_a_repair(self) -> None:
        """A group of 2 with one server in ERROR and one deleted: the broken one
        is replaced, the gone one's node removed, two servers built."""
        self.add_clb(5)
        self.make_group("g1", 2, [clb(5)])
        self.settle(["g1"], rounds=3)
        broken, gone = sorted(self.holder.cloud.nova["t1"].servers)
        self.holder.cloud = set_server_status(self.holder.cloud, "t1", broken,
                                              ServerState.ERROR, self.clock.seconds())
        self.holder.cloud = delete_server(self.holder.cloud, "t1", gone)
        found: Preview = self.do(preview(self.group("g1"), self.clock.seconds(), SETTINGS))
        reasons = sorted(e.reason for e in found.explained)
        self.assertEqual(len([r for r in reasons if r.startswith("desired capacity is 2 and "
                                                                  "the group keeps 0 servers")]),
                         2, reasons)
        self.assertIn(f"server {broken} is in ERROR: replaced", reasons)
        [removal] = [r for r in reasons if "load balancer 5" in r]
        self.assertRegex(removal, rf"server {gone} is gone: its node \d+ on load balancer 5 "
                                  rf"goes; server {broken} leaves load balancer 5 \(node \d+\)|"
                                  rf"server {broken} leaves load balancer 5 \(node \d+\); "
                                  rf"server {gone} is gone")
        self.assertFalse(found.converged)

    def test_converged_group_has_nothing_to_do(self) -> None:
        """A converged group's preview has no steps and says so."""
        self.make_group("g1", 1)
        self.settle(["g1"], rounds=3)
        found: Preview = self.do(preview(self.group("g1"), self.clock.seconds(), SETTINGS))
        self.assertEqual((found.explained, found.converged), ([], True))

    def test_plan_id_follows_the_world(self) -> None:
        """The plan id stays while nothing changes and changes with the cloud."""
        self.make_group("g1", 2)
        self.settle(["g1"], rounds=3)
        group = self.group("g1")
        first = self.do(preview(group, self.clock.seconds(), SETTINGS)).plan_id
        self.clock.advance(5)
        self.assertEqual(self.do(preview(group, self.clock.seconds(), SETTINGS)).plan_id, first)
        self.holder.cloud = delete_server(self.holder.cloud, "t1",
                                          sorted(self.holder.cloud.nova["t1"].servers)[0])
        self.assertNotEqual(self.do(preview(group, self.clock.seconds(), SETTINGS)).plan_id,
                            first)


class PlanIdTests(TenantCase):
    """``plan_id`` is a digest of values that does not depend on hashing."""

    @given(st.sets(st.text(max_size=5), max_size=8))
    def test_sets_digest_alike_in_any_order(self, members: set[str]) -> None:
        """A set built in two orders digests alike (members are sorted)."""
        ordered = sorted(members)
        self.assertEqual(plan_id([pset(ordered)]), plan_id([pset(reversed(ordered))]))

    def test_different_values_differ(self) -> None:
        """Values that differ digest differently."""
        self.assertNotEqual(plan_id([1, "a"]), plan_id([1, "b"]))
        self.assertNotEqual(plan_id({"a": 1}), plan_id({"a": 2}))

