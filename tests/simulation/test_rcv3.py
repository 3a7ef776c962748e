"""
Tests for otter2.simulation.rcv3: the simulated RackConnect v3 pools, as pure
transitions.
"""

from __future__ import annotations

from typing import Any

from attrs import evolve
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud.request import Response, ServiceType
from otter2.model.group import thaw_json
from otter2.simulation import (
    Behaviour,
    SimulatedCloud,
    add_pool,
    set_pool_status,
)
from tests.simulation.support import START, call, create_body

RCV3 = ServiceType.RACKCONNECT_V3
POOL = "d95ae0c4-6ab8-4873-b82f-f8433840cff2"


def rcv3(cloud: SimulatedCloud, method: str, path: str,
         json: Any = None) -> tuple[SimulatedCloud, Response]:
    """The cloud after a RackConnect v3 request, and the answer."""
    return call(cloud, RCV3, method, path, START, json=json)


def pairs(*server_ids: str, pool: str = POOL) -> list[dict]:
    """A bulk body putting servers in a pool."""
    return [{"cloud_server": {"id": s}, "load_balancer_pool": {"id": pool}} for s in server_ids]


class PoolTests(SynchronousTestCase):
    """Pools take and give up ACTIVE cloud servers in bulk, all or nothing."""

    def setUp(self) -> None:
        cloud = add_pool(SimulatedCloud(Behaviour(build_time=0)), "t1", POOL.upper())
        self.servers = []
        for name in ("a", "b"):
            cloud, created = call(cloud, ServiceType.CLOUD_SERVERS, "POST", "servers",
                                  json=create_body(name))
            self.servers.append(created.body["server"]["id"])
        self.cloud = cloud

    def members(self, cloud: SimulatedCloud) -> list[str]:
        _, listed = rcv3(cloud, "GET", f"load_balancer_pools/{POOL}/nodes")
        return sorted(n["cloud_server"]["id"] for n in listed.body)

    def test_list_pools(self) -> None:
        """Pools are listed with their id (lower-cased) and node counts."""
        _, listed = rcv3(self.cloud, "GET", "load_balancer_pools")
        pool = thaw_json(listed.body)[0]
        self.assertEqual((pool["id"], pool["status"]), (POOL, "ACTIVE"))
        self.assertEqual(pool["node_counts"]["cloud_servers"], 0)

    def test_add_and_remove(self) -> None:
        """Adding answers 201 with the new nodes; removing answers 204."""
        cloud, added = rcv3(self.cloud, "POST", "load_balancer_pools/nodes",
                            pairs(*self.servers))
        self.assertEqual(added.status, 201)
        self.assertEqual(sorted(n["cloud_server"]["id"] for n in added.body),
                         sorted(self.servers))
        self.assertEqual(self.members(cloud), sorted(self.servers))
        cloud, removed = rcv3(cloud, "DELETE", "load_balancer_pools/nodes",
                              pairs(self.servers[0]))
        self.assertEqual(removed.status, 204)
        self.assertEqual(self.members(cloud), [self.servers[1]])

    def test_already_member(self) -> None:
        """Adding a member again answers 409 naming it, and adds nothing else."""
        cloud, _ = rcv3(self.cloud, "POST", "load_balancer_pools/nodes", pairs(self.servers[0]))
        cloud, refused = rcv3(cloud, "POST", "load_balancer_pools/nodes", pairs(*self.servers))
        self.assertEqual(thaw_json(refused.body), {"errors": [
            f"Cloud Server {self.servers[0]} is already a member of Load Balancer Pool {POOL}"]})
        self.assertEqual(self.members(cloud), [self.servers[0]])

    def test_not_member(self) -> None:
        """Removing a server that is not a member answers 409 naming it."""
        _, refused = rcv3(self.cloud, "DELETE", "load_balancer_pools/nodes",
                          pairs(self.servers[0]))
        self.assertEqual(refused.body["errors"], [
            f"Cloud Server {self.servers[0]} is not a member of Load Balancer Pool {POOL}"])

    def test_unknown_pool_and_server(self) -> None:
        """An unknown pool or server answers 409 saying it does not exist."""
        _, refused = rcv3(self.cloud, "POST", "load_balancer_pools/nodes",
                          pairs("ghost") + pairs(self.servers[0], pool="nope"))
        self.assertEqual(refused.body["errors"], [
            "Cloud Server ghost does not exist", "Load Balancer Pool nope does not exist"])

    def test_inactive_pool(self) -> None:
        """A pool that is not ACTIVE refuses changes with 409."""
        cloud = set_pool_status(self.cloud, "t1", POOL, "PENDING_UPDATE")
        _, refused = rcv3(cloud, "POST", "load_balancer_pools/nodes", pairs(self.servers[0]))
        self.assertEqual(refused.body["errors"],
                         [f"Load Balancer Pool {POOL} is not in an ACTIVE state"])

    def test_unprocessable_server(self) -> None:
        """A server that is not ACTIVE is unprocessable."""
        cloud = evolve(self.cloud, behaviour=Behaviour(build_time=60))
        cloud, created = call(cloud, ServiceType.CLOUD_SERVERS, "POST", "servers",
                              json=create_body("slow"))
        server_id = created.body["server"]["id"]
        _, refused = rcv3(cloud, "POST", "load_balancer_pools/nodes", pairs(server_id))
        self.assertEqual(refused.body["errors"], [f"Cloud Server {server_id} is unprocessable"])

    def test_malformed_body(self) -> None:
        """A bulk body that is not a list of pairs answers 400."""
        _, refused = rcv3(self.cloud, "POST", "load_balancer_pools/nodes", {"no": "list"})
        self.assertEqual(refused.status, 400)

    def test_unknown_pool_is_404(self) -> None:
        """Getting an unknown pool answers 404."""
        self.assertEqual(rcv3(self.cloud, "GET", "load_balancer_pools/nope")[1].status, 404)
