"""
otter2 against mimic's load balancers when they misbehave or are shared: the
CLB node limit, a CLB deleted out of band (one of two, too) or held in
PENDING_DELETE, more than ten nodes to remove, a health monitor that keeps new
nodes OFFLINE, two groups on one CLB, and RackConnect v3 pools (spec
convergence.md §8.3, §8.4).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.e2e.support import MimicTestCase


def private_ip(server: dict[str, Any]) -> str:
    return str(next(a["addr"] for a in server["addresses"]["private"] if a["version"] == 4))


class LoadBalancerTestCase(MimicTestCase):
    """Reading and changing mimic's CLBs and RCv3 pools behind otter2's back."""

    async def add_foreign_nodes(self, lb_id: int, count: int) -> list[dict[str, Any]]:
        """``count`` nodes that no group owns, put on the CLB in one call."""
        nodes = [{"address": f"192.0.2.{i + 1}", "port": 80, "condition": "ENABLED",
                  "type": "PRIMARY", "weight": 1} for i in range(count)]
        answer = await self.request(
            "POST", f"{self.cloud['cloudLoadBalancers']}/loadbalancers/{lb_id}/nodes",
            {"nodes": nodes}, ok=202)
        added: list[dict[str, Any]] = answer["nodes"]
        return added

    async def settled(self, group_id: str, count: int) -> list[dict[str, Any]]:
        """The group's servers once it has ``count`` ACTIVE ones and says so, whatever its
        load balancers hold."""
        async def check() -> bool:
            servers = await self.servers(group_id)
            state = await self.state(group_id)
            return (len(servers) == count and all(s["status"] == "ACTIVE" for s in servers)
                    and state["status"] == "ACTIVE" and state["activeCapacity"] == count
                    and state["pendingCapacity"] == 0 and state["desiredCapacity"] == count)

        async def seen() -> str:
            servers = [(s["id"], s["status"]) for s in await self.servers(group_id)]
            return f"servers {servers}, state {await self.state(group_id)}"
        await self.eventually(check, f"settled at {count}", seen=seen)
        return await self.servers(group_id)


class NodeLimitTests(LoadBalancerTestCase):
    """A CLB that cannot take more nodes (mimic allows 25)."""

    async def test_node_limit_then_recovery(self) -> None:
        """With 22 foreign nodes on the CLB, 4 servers put the group in ERROR naming the
        limit; lowering capacity to 3 recovers, and so does freeing room for a fourth."""
        lb = await self.new_load_balancer()
        foreign = await self.add_foreign_nodes(lb, 22)
        group_id = await self.create_group(0, (lb,))
        await self.execute(group_id, desiredCapacity=4)
        state = await self.status_is(group_id, "ERROR", 4)
        self.assertIn(f"Cannot create more than 25 nodes in Cloud Load Balancer {lb}",
                      self.errors(state))
        self.assertLessEqual(len(await self.nodes(lb)), 25)

        await self.execute(group_id, desiredCapacity=3)
        servers = await self.settled(group_id, 3)
        await self.eventually(lambda: self.holds(lb, servers, 22),
                              "with every server's node and the foreign ones")
        self.assertNotIn("errors", await self.state(group_id))

        for node in foreign[:2]:
            await self.request("DELETE", f"{self.cloud['cloudLoadBalancers']}/loadbalancers/"
                               f"{lb}/nodes/{node['id']}", ok=202)
        await self.execute(group_id, desiredCapacity=4)
        servers = await self.settled(group_id, 4)
        await self.eventually(lambda: self.holds(lb, servers, 20),
                              "with every server's node and the foreign ones")

    async def holds(self, lb: int, servers: list[dict[str, Any]], foreign: int) -> bool:
        """Whether the CLB holds a node for each server and ``foreign`` others."""
        addresses = [n["address"] for n in await self.nodes(lb)]
        ours = [a for a in addresses if not a.startswith("192.0.2.")]
        return (sorted(ours) == sorted(private_ip(s) for s in servers)
                and len(addresses) - len(ours) == foreign)


class FullLoadBalancerTests(LoadBalancerTestCase):
    """CATC-015: a group that grows to exactly the CLB's limit of 25 nodes."""

    async def test_deleted_servers_make_room(self) -> None:
        """24 servers, 2 deleted out of band, then +1: the group settles at 25 without
        ever showing ERROR, and the deleted servers' nodes are gone."""
        lb = await self.new_load_balancer()
        group_id = await self.create_group(0, (lb,), maxEntities=25)
        await self.execute(group_id, desiredCapacity=24)
        servers = await self.converged(group_id, 24, (lb,))
        for server in servers[:2]:
            await self.request("DELETE", f"{self.cloud['cloudServersOpenStack']}/servers/"
                               f"{server['id']}", ok=204)
        await self.execute(group_id, change=1)
        statuses = set()

        async def check() -> bool:
            state = await self.state(group_id)
            statuses.add(state["status"])
            return bool(state["status"] == "ACTIVE" and state["activeCapacity"] == 25
                        and state["pendingCapacity"] == 0)
        await self.eventually(check, "settled at 25")
        self.assertEqual(statuses, {"ACTIVE"})
        await self.converged(group_id, 25, (lb,))
        addresses = [n["address"] for n in await self.nodes(lb)]
        for server in servers[:2]:
            self.assertNotIn(private_ip(server), addresses)


class BatchRemovalTests(LoadBalancerTestCase):
    """A CLB takes at most ten node ids per removal call."""

    config = {"converger": {"interval": 10, "build_timeout": 30},
              "selfheal": {"interval": 600}}

    async def test_more_than_ten_nodes_removed(self) -> None:
        """11 servers, then min and max 0: the state shows 0/0/0 ACTIVE, and the CLB is
        empty at once after (within 2 s, with a converger interval of 10 s)."""
        lb = await self.new_load_balancer()
        group_id = await self.create_group(11, (lb,), build_seconds=0, maxEntities=25)
        await self.converged(group_id, 11, (lb,))
        await self.request("PUT", f"{self.api}/groups/{group_id}/config",
                           {"name": "web", "cooldown": 0, "minEntities": 0, "maxEntities": 0,
                            "metadata": {}}, ok=204)

        async def emptied() -> bool:
            state = await self.state(group_id)
            return bool((state["activeCapacity"], state["pendingCapacity"],
                         state["desiredCapacity"], state["status"]) == (0, 0, 0, "ACTIVE"))
        await self.eventually(emptied, "at 0/0/0")

        async def no_nodes() -> bool:
            return not await self.nodes(lb)
        await self.eventually(no_nodes, "without nodes", seconds=2)
        self.assertEqual(await self.servers(group_id), [])


class HealthMonitorTests(LoadBalancerTestCase):
    """A CLB with a health monitor, on which new nodes start OFFLINE."""

    async def test_node_added_draining_until_online(self) -> None:
        """The server's node is added DRAINING while OFFLINE, and ENABLED once mimic
        says it is ONLINE."""
        lb = await self.new_load_balancer()
        await self.request("PUT", f"{self.cloud['cloudLoadBalancers']}/loadbalancers/{lb}/"
                           "healthmonitor", {"healthMonitor": {
                               "type": "CONNECT", "delay": 10, "timeout": 10,
                               "attemptsBeforeDeactivation": 3}}, ok=202)
        group_id = await self.create_group(1, (lb,))

        def node_is(condition: str, status: str) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                nodes = await self.nodes(lb)
                return len(nodes) == 1 and (nodes[0]["condition"], nodes[0]["status"]) == (
                    condition, status)
            return check
        await self.eventually(node_is("DRAINING", "OFFLINE"), "with a DRAINING node")
        [server] = await self.servers(group_id)
        [node] = await self.nodes(lb)
        self.assertEqual(node["address"], private_ip(server))
        await self.request("PUT", f"{self.cloud['cloudLoadBalancerControl']}/loadbalancers/"
                           f"{lb}/nodes/{node['id']}/status", {"status": "ONLINE"}, ok=200)
        await self.eventually(node_is("ENABLED", "ONLINE"), "with an ENABLED node")
        await self.settled(group_id, 1)


class DeletedLoadBalancerTests(LoadBalancerTestCase):
    """A CLB that goes away under a group."""

    async def test_deleted_out_of_band(self) -> None:
        """A CLB deleted through its API puts the growing group in ERROR naming it; scaled
        to 0 the group is ACTIVE again with no servers."""
        lb = await self.new_load_balancer()
        group_id = await self.create_group(0, (lb,))
        await self.execute(group_id, desiredCapacity=1)
        await self.converged(group_id, 1, (lb,))
        await self.request("DELETE", f"{self.cloud['cloudLoadBalancers']}/loadbalancers/{lb}",
                           ok=202)
        await self.execute(group_id, desiredCapacity=2)
        state = await self.status_is(group_id, "ERROR", 2)
        # Listed PENDING-DELETE or DELETED, or gone: the CLB counts as missing.
        self.assertEqual(self.errors(state), [f"Cloud Load Balancer does not exist: {lb}"])
        self.assertEqual(state["activeCapacity"], 0)

        await self.execute(group_id, desiredCapacity=0)
        await self.settled(group_id, 0)

    async def test_one_of_two_deleted(self) -> None:
        """With two CLBs, one deleted: the growing group is in ERROR naming it, with
        nothing active; scaled to 0 it is ACTIVE, and the other CLB is empty."""
        [gone, kept] = [await self.new_load_balancer() for _ in range(2)]
        group_id = await self.create_group(0, (gone, kept))
        await self.execute(group_id, desiredCapacity=1)
        await self.converged(group_id, 1, (gone, kept))
        await self.request("DELETE",
                           f"{self.cloud['cloudLoadBalancers']}/loadbalancers/{gone}", ok=202)
        await self.execute(group_id, desiredCapacity=2)
        state = await self.status_is(group_id, "ERROR", 2)
        self.assertEqual(self.errors(state), [f"Cloud Load Balancer does not exist: {gone}"])
        self.assertEqual(state["activeCapacity"], 0)

        await self.execute(group_id, desiredCapacity=0)
        await self.settled(group_id, 0)
        self.assertEqual(await self.nodes(kept), [])

    async def pending_delete(self, count: int) -> tuple[int, str]:
        """A CLB and a group settled at ``count`` on it, then the CLB put in
        PENDING_DELETE through mimic's control plane."""
        lb = await self.new_load_balancer()
        group_id = await self.create_group(0, (lb,))
        await self.execute(group_id, desiredCapacity=count)
        await self.converged(group_id, count, (lb,))
        await self.request(
            "PATCH", f"{self.cloud['cloudLoadBalancerControl']}/loadbalancer/{lb}/attributes",
            {"status": "PENDING_DELETE"}, ok=204)
        return lb, group_id

    async def test_pending_delete_scale_up(self) -> None:
        """A CLB in PENDING_DELETE counts as missing: the growing group goes to ERROR
        saying it does not exist, and its old node is left to go with the CLB."""
        lb, group_id = await self.pending_delete(1)
        await self.execute(group_id, desiredCapacity=2)
        state = await self.status_is(group_id, "ERROR", 2)
        self.assertEqual(self.errors(state), [f"Cloud Load Balancer does not exist: {lb}"])
        self.assertEqual(len(await self.nodes(lb)), 1)

    async def test_pending_delete_scale_down(self) -> None:
        """Scaling down is not held up by a CLB in PENDING_DELETE: the server goes
        without its node being touched (it goes with the CLB); the group, whose launch
        configuration still wants the CLB, shows ERROR saying it does not exist."""
        lb, group_id = await self.pending_delete(2)
        await self.execute(group_id, desiredCapacity=1)

        async def check() -> bool:
            state = await self.state(group_id)
            return (len(await self.servers(group_id)) == 1 and state["status"] == "ERROR"
                    and self.errors(state) == [f"Cloud Load Balancer does not exist: {lb}"])
        await self.eventually(check, "one server left, in ERROR naming the CLB")
        self.assertEqual(len(await self.nodes(lb)), 2)


class SharedLoadBalancerTests(LoadBalancerTestCase):
    """Two groups with one CLB."""

    async def test_each_group_keeps_its_own_nodes(self) -> None:
        """Each group puts exactly its servers on the CLB; scaling one down removes only
        its own nodes and leaves the other's as they were."""
        lb = await self.new_load_balancer()
        first = await self.create_group(0, (lb,))
        second = await self.create_group(0, (lb,))
        await self.execute(first, desiredCapacity=2)
        await self.execute(second, desiredCapacity=2)
        firsts = await self.settled(first, 2)
        seconds = await self.settled(second, 2)

        async def nodes_of(servers: list[dict[str, Any]]) -> bool:
            return (sorted(n["address"] for n in await self.nodes(lb))
                    == sorted(private_ip(s) for s in servers))
        await self.eventually(lambda: nodes_of(firsts + seconds), "with both groups' nodes")
        theirs = {n["id"]: n for n in await self.nodes(lb)
                  if n["address"] in {private_ip(s) for s in seconds}}

        await self.execute(first, desiredCapacity=1)
        firsts = await self.settled(first, 1)
        await self.eventually(lambda: nodes_of(firsts + seconds), "with 3 nodes")
        after = {n["id"]: n for n in await self.nodes(lb)
                 if n["address"] in {private_ip(s) for s in seconds}}
        self.assertEqual(after, theirs)
        self.assertEqual([s["id"] for s in await self.settled(second, 2)],
                         [s["id"] for s in seconds])


class RackConnectTests(LoadBalancerTestCase):
    """A group with a RackConnect v3 pool (mimic serves RCv3 in ORD)."""

    async def pool_members(self, pool_id: str) -> list[str]:
        answer = await self.request(
            "GET", f"{self.cloud['rackconnect']}/load_balancer_pools/{pool_id}/nodes", ok=200)
        return sorted(n["cloud_server"]["id"] for n in answer)

    async def test_pool_follows_the_group(self) -> None:
        """Each server joins the pool; a server scaled away leaves it."""
        [pool, *_] = await self.request(
            "GET", self.cloud["rackconnect"] + "/load_balancer_pools", ok=200)
        group_id = await self.create_group(0, pool_ids=(pool["id"],))
        await self.execute(group_id, desiredCapacity=2)
        servers = await self.settled(group_id, 2)

        async def members(servers: list[dict[str, Any]]) -> bool:
            return await self.pool_members(pool["id"]) == sorted(s["id"] for s in servers)
        await self.eventually(lambda: members(servers), "with both servers in the pool")

        await self.execute(group_id, desiredCapacity=1)
        servers = await self.settled(group_id, 1)
        await self.eventually(lambda: members(servers), "with one server in the pool")
