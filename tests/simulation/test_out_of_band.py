"""
The out-of-band damage scenarios of convergence spec §8.1 (CATC-004 to
CATC-013) on the simulated cloud and a fake clock: a settled group on CLB 5
loses servers (deleted, or forced to ERROR), then a policy is executed (with
otter2's own policy arithmetic, refused or not), or the config is updated,
or nothing; convergence ends at the expected count, without the disabled
servers or their nodes.
"""

from __future__ import annotations

from typing import Any

from otter2.control.errors import APIError
from otter2.control.policy import clamp_state, execute_in_order
from otter2.model import GroupState, Policy, ScalingGroup
from otter2.model.cloud import ServerState
from otter2.simulation import delete_server, set_server_status
from tests.simulation.test_convergence import SERVICENET, Scenario


class OutOfBandTests(Scenario):
    """Each test is one row of the §8.1 table."""

    def settle(self, minimum: int, maximum: int, desired: int | None = None) -> None:
        """A group with these bounds on CLB 5, converged at ``desired`` (or the minimum)."""
        target = minimum if desired is None else desired
        group = ScalingGroup(
            tenant_id="t1", group_id="g1",
            config={"name": "web", "cooldown": 0, "minEntities": minimum,
                    "maxEntities": maximum},
            launch={"type": "launch_server", "args": {
                "server": {"name": "web", "flavorRef": "general1-1", "imageRef": "image",
                           "networks": [SERVICENET]},
                "loadBalancers": [{"loadBalancerId": 5, "port": 80}]}},
            state=GroupState("t1", "g1", target), created=0.0)
        self.store.create_group(group, [], [], 10)
        self.assert_converged(self.converge_for(minutes=5), target)

    def disable(self, count: int, how: str) -> set[str]:
        """Delete ``count`` of the group's servers, or force them to ERROR; their ids."""
        victims = {s.id for s in self.servers()[:count]}
        for server_id in victims:
            if how == "delete":
                self.holder.cloud = delete_server(self.holder.cloud, "t1", server_id)
            else:
                self.holder.cloud = set_server_status(self.holder.cloud, "t1", server_id,
                                                      ServerState.ERROR, self.clock.seconds())
        return victims

    def execute(self, refused: bool = False, **data: Any) -> None:
        """Execute a webhook policy as the API does; it is refused (403) or applied."""
        group = self.store.groups[("t1", "g1")]
        policy = Policy("t1", "g1", "p1", {"name": "p", "type": "webhook", "cooldown": 0,
                                           **data})
        state, [outcome] = execute_in_order(group, [("p1", policy)], self.clock.seconds())
        if refused:
            self.assertIsInstance(outcome, APIError)
            self.assertEqual(outcome.status if isinstance(outcome, APIError) else None, 403)
        else:
            self.assertNotIsInstance(outcome, APIError)
        self.store.save_state(state)

    def ends_at(self, count: int, victims: set[str]) -> None:
        """Converged at ``count``, with no victim left among the servers."""
        self.assert_converged(self.converge_for(minutes=5), count)
        self.assertFalse(victims & {s.id for s in self.servers()})
        self.assertEqual(self.store.groups[("t1", "g1")].state.desired, count)

    def test_catc_004_delete_2_of_4_then_converge(self) -> None:
        self.settle(4, 25)
        self.ends_at(4, self.disable(2, "delete"))

    def test_catc_005_delete_1_of_3_then_scale_up_2(self) -> None:
        self.settle(3, 25)
        victims = self.disable(1, "delete")
        self.execute(change=2)
        self.ends_at(5, victims)

    def test_catc_006_a_delete_2_of_7_then_scale_down_3(self) -> None:
        self.settle(2, 25, 7)
        victims = self.disable(2, "delete")
        self.execute(change=-3)
        self.ends_at(4, victims)

    def test_catc_006_b_delete_3_of_7_then_scale_down_2(self) -> None:
        self.settle(2, 25, 7)
        victims = self.disable(3, "delete")
        self.execute(change=-2)
        self.ends_at(5, victims)

    def test_catc_006_c_delete_3_of_7_then_scale_down_3(self) -> None:
        self.settle(2, 25, 7)
        victims = self.disable(3, "delete")
        self.execute(change=-3)
        self.ends_at(4, victims)

    def test_catc_007_a_delete_2_at_max_then_refused_scale_up(self) -> None:
        self.settle(0, 10, 10)
        victims = self.disable(2, "delete")
        self.execute(refused=True, change=5)
        self.ends_at(10, victims)

    def test_catc_007_b_delete_2_at_min_then_refused_scale_down(self) -> None:
        self.settle(5, 25)
        victims = self.disable(2, "delete")
        self.execute(refused=True, change=-2)
        self.ends_at(5, victims)

    def test_catc_008_delete_2_then_config_update(self) -> None:
        self.settle(0, 10, 5)
        victims = self.disable(2, "delete")
        group = self.store.groups[("t1", "g1")]
        config = {**group.config, "maxEntities": 12}
        self.store.update_config("t1", "g1", config)
        group = self.store.groups[("t1", "g1")]
        self.store.save_state(clamp_state(group))
        self.ends_at(5, victims)

    def test_catc_011_error_1_then_scale_up_2(self) -> None:
        self.settle(2, 4)
        victims = self.disable(1, "error")
        self.execute(change=2)
        self.ends_at(4, victims)

    def test_catc_012_error_2_of_3_then_scale_down_1(self) -> None:
        self.settle(2, 4, 3)
        victims = self.disable(2, "error")
        self.execute(change=-1)
        self.ends_at(2, victims)

    def test_catc_013_error_2_of_3_then_converge(self) -> None:
        self.settle(2, 4, 3)
        self.ends_at(3, self.disable(2, "error"))
