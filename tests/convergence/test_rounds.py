"""
Tests for otter2.convergence.rounds against the simulated cloud and the
in-memory store: a round converges each of a tenant's groups as its own
iteration would, leaves alone those an iteration leaves alone, and one
group's failure stays its own.
"""

from __future__ import annotations

from typing import Any

from attrs import evolve
from hypothesis import given, settings
from hypothesis import strategies as st

from otter2.cloud.request import ServiceType
from otter2.convergence.conclusion import Conclusion, left_alone
from otter2.convergence.iteration import GONE, converge_one_group
from otter2.convergence.rounds import RoundResult, converge_tenant
from otter2.model import GroupStatus, ScalingGroup
from otter2.model.outcome import Verdict
from otter2.simulation import capacity, delete_server, tenant_stacks
from otter2.store.interface import StoreUnavailable
from tests.convergence.tenant import SETTINGS, TenantCase, clb

STACK_TEMPLATE = {"heat_template_version": "2015-04-30",
                  "resources": {"word": {"type": "OS::Heat::RandomString",
                                         "properties": {"length": 8}}}}


class RoundCase(TenantCase):
    """Rounds of tenant t1."""

    def round(self, group_ids: list[str], tenant_id: str = "t1") -> dict[str, RoundResult]:
        """The results of one round over ``group_ids``."""
        results: dict[str, RoundResult] = self.do(converge_tenant(tenant_id, group_ids, SETTINGS))
        return results

    def rounds(self, group_ids: list[str], count: int = 8) -> dict[str, RoundResult]:
        """The results of the last of ``count`` rounds 11 s apart."""
        results = self.round(group_ids)
        for _ in range(count - 1):
            self.clock.advance(11)
            results = self.round(group_ids)
        return results

    def served(self, group_id: str, tenant_id: str = "t1") -> tuple[int, int]:
        """The group's ACTIVE servers and their load-balancer nodes."""
        seen = capacity(self.holder.cloud, tenant_id, group_id)
        return seen.active, seen.lb_nodes


class ConvergeTenantTests(RoundCase):
    """A round converges every group of a tenant it is given."""

    def test_groups_converge_together(self) -> None:
        """
        Three groups, two sharing a CLB, reach their capacities on their load
        balancers; each conclusion is a success written to the store, with
        the group's servers recorded as active.
        """
        self.add_clb(5)
        self.add_clb(6)
        self.make_group("g1", 2, [clb(5)])
        self.make_group("g2", 1, [clb(5), clb(6)])
        self.make_group("g3", 3)
        results = self.rounds(["g1", "g2", "g3"])
        self.assertEqual({group_id: self.served(group_id) for group_id in results},
                         {"g1": (2, 2), "g2": (1, 2), "g3": (3, 0)})
        for group_id, result in results.items():
            assert isinstance(result, Conclusion), result
            self.assertEqual((result.verdict, result.status, result.look_again),
                             (Verdict.SUCCESS, GroupStatus.ACTIVE, None), group_id)
            stored = self.group(group_id)
            self.assertEqual(stored.state.status, GroupStatus.ACTIVE)
            self.assertEqual(sum(s.active for s in stored.servers), stored.state.desired)

    def test_one_listing_per_round(self) -> None:
        """However many groups a round has, it lists the tenant's servers once."""
        for number in range(6):
            self.make_group(f"g{number}", 1)
        for _ in range(3):
            self.requests.clear()
            self.round([f"g{number}" for number in range(6)])
            self.assertEqual(len(self.listings()), 1)
            self.clock.advance(11)

    def test_groups_left_alone(self) -> None:
        """
        A paused group, a suspended tenant's group and a gone one are left
        alone (nothing built, nothing written) while the round converges the
        fourth.
        """
        paused = self.make_group("paused", 2)
        suspended = self.make_group("suspended", 2)
        self.store.save_state(evolve(paused.state, paused=True))
        self.store.save_state(evolve(suspended.state, suspended=True))
        self.make_group("g1", 1)
        before = {group_id: self.group(group_id) for group_id in ("paused", "suspended")}
        results = self.rounds(["paused", "suspended", "gone", "g1"], count=3)
        self.assertEqual({group_id: results[group_id] for group_id in ("paused", "suspended", "gone")},
                         {"paused": left_alone("the group is paused"),
                          "suspended": left_alone("the tenant is suspended"),
                          "gone": left_alone(GONE)})
        self.assertEqual({group_id: self.group(group_id) for group_id in before}, before)
        self.assertEqual((self.served("paused"), self.served("suspended"), self.served("g1")),
                         ((0, 0), (0, 0), (1, 0)))

    def test_nothing_to_act_on_reaches_no_cloud(self) -> None:
        """A round whose groups are all left alone makes no request of the cloud."""
        paused = self.make_group("paused", 2)
        self.store.save_state(evolve(paused.state, paused=True))
        self.round(["paused", "gone"])
        self.assertEqual(self.requests, [])

    def test_stack_group_in_the_same_round(self) -> None:
        """
        A ``launch_stack`` group in a round with server groups takes no part in
        their shared observation: it gathers and plans its own stacks and
        converges on the simulated Heat, while the server groups converge with
        one listing of the tenant's servers per round.
        """
        self.add_clb(5)
        self.make_group("g1", 2, [clb(5)])
        self.make_group("g2", 1)
        self.make_group("stacks", 2)
        self.store.update_launch("t1", "stacks", {
            "type": "launch_stack", "args": {"stack": {"template": STACK_TEMPLATE}}})
        self.requests.clear()
        pending, listings = ["g1", "stacks", "g2"], []
        for _ in range(12):  # rounds of the groups not yet converged, as the converger runs
            before = len(self.listings())
            results = self.round(pending)
            listings.append(len(self.listings()) - before)
            pending = [group_id for group_id, result in results.items()
                       if not (isinstance(result, Conclusion) and result.look_again is None)]
            if not pending:
                break
            self.clock.advance(11)
        self.assertEqual(pending, [])
        self.assertEqual(set(listings), {1})
        stacks = tenant_stacks(self.holder.cloud, "t1")
        self.assertEqual([s.status.value for s in stacks], ["COMPLETE"] * 2)
        self.assertEqual(sorted(s.id for s in self.group("stacks").servers if s.active),
                         sorted(s.id for s in stacks))
        self.assertEqual((self.served("g1"), self.served("g2")), ((2, 2), (1, 0)))
        self.assertEqual([self.group(g).state.status for g in ("g1", "stacks", "g2")],
                         [GroupStatus.ACTIVE] * 3)
        self.assertEqual({r.service for r in self.requests if "stack" in r.path},
                         {ServiceType.ORCHESTRATION})

    def test_unreadable_group_does_not_stop_the_others(self) -> None:
        """A group whose store read fails has that error as its result; the others converge."""
        self.make_group("g1", 2)
        self.make_group("broken", 2)
        self.unreadable.add("broken")
        results = self.rounds(["broken", "g1"], count=4)
        self.assertIsInstance(results["broken"], StoreUnavailable)
        self.assertEqual((self.served("g1"), self.served("broken")), ((2, 0), (0, 0)))
        self.assertEqual(self.group("g1").state.status, GroupStatus.ACTIVE)

    def test_failing_iteration_fails_alone(self) -> None:
        """A group whose iteration raises (its launch configuration lacks a server)
        has that error as its result; the other group converges."""
        self.make_group("g1", 1)
        broken = self.make_group("broken", 1)
        self.store.update_launch("t1", "broken", {"type": "launch_server", "args": {}})
        results = self.rounds(["broken", "g1"], count=3)
        self.assertIsInstance(results["broken"], Exception)
        self.assertEqual(self.group("broken").state, broken.state)
        self.assertEqual(self.served("g1"), (1, 0))


# -- a round of one group is that group's iteration -------------------------------------

GROUP_SET_UPS = st.lists(
    st.fixed_dictionaries({
        "desired": st.integers(0, 3),
        "lb": st.sampled_from(["none", "shared", "own"]),
        "later": st.integers(0, 3),  # the desired capacity after the first rounds
    }), min_size=1, max_size=3)


class SameAsIterationTests(RoundCase):
    """A round over one group does what that group's own iteration does."""

    def build(self, set_ups: list[dict[str, Any]], settled: int, deleted: list[int]) -> None:
        """The groups converged ``settled`` times, then their desired capacities
        changed and some servers (by index in the tenant) deleted out of band."""
        self.add_clb(5)
        for number, set_up in enumerate(set_ups):
            lbs = {"none": [], "shared": [clb(5)], "own": [clb(10 + number)]}[set_up["lb"]]
            if set_up["lb"] == "own":
                self.add_clb(10 + number)
            self.make_group(f"g{number}", set_up["desired"], lbs)
        self.settle([f"g{number}" for number in range(len(set_ups))], rounds=settled)
        for number, set_up in enumerate(set_ups):
            group: ScalingGroup = self.group(f"g{number}")
            self.store.save_state(evolve(group.state, desired=set_up["later"]))
        servers = sorted(self.holder.cloud.nova["t1"].servers) if "t1" in self.holder.cloud.nova else []
        for index in deleted:
            if index < len(servers):
                self.holder.cloud = delete_server(self.holder.cloud, "t1", servers[index])

    @settings(max_examples=8, deadline=None)
    @given(set_ups=GROUP_SET_UPS, settled=st.integers(0, 3),
           deleted=st.lists(st.integers(0, 8), max_size=3), chosen=st.integers(0, 2),
           later_rounds=st.integers(1, 3))
    def test_round_of_one_is_its_iteration(self, set_ups: list[dict[str, Any]], settled: int,
                                           deleted: list[int], chosen: int,
                                           later_rounds: int) -> None:
        """
        On two copies of one cloud and store, rounds of one group and that
        group's own iterations give the same conclusions, the same cloud and
        the same stored group.
        """
        group_id = f"g{chosen % len(set_ups)}"
        outcomes = []
        for converge in (lambda: converge_tenant("t1", [group_id], SETTINGS),
                         lambda: converge_one_group("t1", group_id, SETTINGS)):
            self.setUp()
            self.build(set_ups, settled, deleted)
            conclusions = []
            for _ in range(later_rounds):
                result = self.do(converge())
                conclusions.append(result[group_id] if isinstance(result, dict) else result)
                self.clock.advance(11)
            outcomes.append((conclusions, self.holder.cloud, self.group(group_id)))
        self.assertEqual(outcomes[0], outcomes[1])
