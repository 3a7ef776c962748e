"""
CLB self-healing against mimic (spec convergence.md §8.4): a group's nodes
changed behind its back are put right on the next converge, and nodes that
are not the group's (on its CLB, at another port, or on another CLB) are left
as they are, as are the nodes of a server taken out of the group.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.test_load_balancers import LoadBalancerTestCase, private_ip


class LoadBalancerHealingTests(LoadBalancerTestCase):
    """Each test changes a converged group's CLB by hand, then asks for a converge."""

    def lb_url(self, lb_id: int) -> str:
        return f"{self.cloud['cloudLoadBalancers']}/loadbalancers/{lb_id}"

    async def add_nodes(self, lb_id: int, addresses: list[str], port: int = 80,
                        **attributes: Any) -> list[dict[str, Any]]:
        answer = await self.request("POST", f"{self.lb_url(lb_id)}/nodes", {"nodes": [
            {"address": a, "port": port, "condition": "ENABLED", "type": "PRIMARY",
             **attributes} for a in addresses]}, ok=202)
        nodes: list[dict[str, Any]] = answer["nodes"]
        return nodes

    async def remove_node(self, lb_id: int, node_id: int) -> None:
        await self.request("DELETE", f"{self.lb_url(lb_id)}/nodes/{node_id}", ok=202)

    async def converge(self, *group_ids: str) -> None:
        for group_id in group_ids:
            await self.request("POST", f"{self.api}/groups/{group_id}/converge", ok=204)

    async def done(self, group_id: str) -> None:
        """Wait until the group shows neither waiting nor errors: its converge is over."""
        async def check() -> bool:
            state = await self.state(group_id)
            return bool(state["status"] == "ACTIVE"
                        and not {"waiting", "errors"} & set(state))
        await self.eventually(check, "done converging")

    async def test_attribute_drift(self) -> None:
        """A node set to weight 2, SECONDARY, DISABLED is put back as it was, same id."""
        lb = await self.new_load_balancer()
        group_id = await self.create_group(1, (lb,))
        await self.converged(group_id, 1, (lb,))
        [node] = await self.nodes(lb)
        await self.request("PUT", f"{self.lb_url(lb)}/nodes/{node['id']}", {"node": {
            "weight": 2, "type": "SECONDARY", "condition": "DISABLED"}}, ok=202)
        await self.converge(group_id)

        async def reset() -> bool:
            nodes = await self.nodes(lb)
            return nodes == [node]
        await self.eventually(reset, "with the node as it was")
        self.assertEqual((node["weight"], node["type"], node["condition"]),
                         (1, "PRIMARY", "ENABLED"))

    async def test_only_the_groups_node_comes_back(self) -> None:
        """Two user nodes at port 8080 and the group's node; the group's node and one
        user node deleted, and the group's address put on a CLB no group uses: the
        group's node comes back (a new id, same address, port and condition), the
        deleted user node stays deleted, the other is untouched, and so is the other
        CLB's node."""
        lb, other = await self.new_load_balancer(), await self.new_load_balancer()
        users = await self.add_nodes(lb, ["192.0.2.1", "192.0.2.2"], port=8080)
        group_id = await self.create_group(1, (lb,))
        [server] = await self.converged_with_others(group_id, lb, users)
        [ours] = [n for n in await self.nodes(lb) if n["address"] == private_ip(server)]
        await self.remove_node(lb, ours["id"])
        await self.remove_node(lb, users[0]["id"])
        [foreign] = await self.add_nodes(other, [private_ip(server)], weight=2)
        await self.converge(group_id)

        async def back() -> bool:
            return len(await self.nodes(lb)) == 2
        await self.eventually(back, "with the group's node again")
        await self.done(group_id)
        [kept, again] = sorted(await self.nodes(lb), key=lambda n: n["port"] == 80)
        self.assertEqual(kept, users[1])
        self.assertNotEqual(again["id"], ours["id"])
        self.assertEqual({k: again[k] for k in ("address", "port", "condition")},
                         {k: ours[k] for k in ("address", "port", "condition")})
        self.assertEqual(await self.nodes(other), [foreign])

    async def converged_with_others(self, group_id: str, lb: int,
                                    others: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The group's one server, once it is on the CLB beside ``others``."""
        servers = await self.settled(group_id, 1)

        async def joined() -> bool:
            return len(await self.nodes(lb)) == len(others) + 1
        await self.eventually(joined, "with the group's node")
        return servers

    async def test_two_groups_two_ports(self) -> None:
        """Group 1 at port 80 and group 2 at 8080 on one CLB; group 1's address added at
        8080 and removed at 80: after both converge, three nodes, group 1's at 80 again
        and its extra one at 8080 left in place."""
        lb = await self.new_load_balancer()
        first = await self.create_group(1, (lb,))
        body = {"groupConfiguration": {"name": "web2", "cooldown": 0, "minEntities": 1},
                "launchConfiguration": {"type": "launch_server", "args": {
                    "server": {"name": "web2", "flavorRef": "general1-1",
                               "imageRef": self.image_id},
                    "loadBalancers": [{"loadBalancerId": lb, "port": 8080}]}}}
        second = (await self.request("POST", self.api + "/groups", body, ok=201))["group"]["id"]
        [one] = await self.settled(first, 1)
        [two] = await self.settled(second, 1)

        async def both() -> bool:
            return len(await self.nodes(lb)) == 2
        await self.eventually(both, "with both groups' nodes")
        await self.add_nodes(lb, [private_ip(one)], port=8080)
        [at_80] = [n for n in await self.nodes(lb) if n["port"] == 80]
        await self.remove_node(lb, at_80["id"])
        await self.converge(first, second)

        async def three() -> bool:
            return len(await self.nodes(lb)) == 3
        await self.eventually(three, "with three nodes")
        await self.done(first)
        await self.done(second)
        self.assertEqual(sorted((n["address"], n["port"]) for n in await self.nodes(lb)),
                         sorted([(private_ip(one), 80), (private_ip(one), 8080),
                                 (private_ip(two), 8080)]))

    async def test_released_server_is_not_converged(self) -> None:
        """Of 2 servers, one released (replace=false, purge=false) and both put on
        another CLB; with both nodes removed from the group's CLB only the kept
        server's comes back, the other CLB keeps both, the group settles at 1 and the
        released server still exists. Without removing them, both CLBs keep both."""
        for remove in (True, False):
            lb, other = await self.new_load_balancer(), await self.new_load_balancer()
            group_id = await self.create_group(0, (lb,))
            await self.execute(group_id, desiredCapacity=2)
            [released, kept] = await self.converged(group_id, 2, (lb,))
            await self.request("DELETE", f"{self.api}/groups/{group_id}/servers/"
                               f"{released['id']}?replace=false&purge=false", ok=202)
            addresses = sorted(private_ip(s) for s in (released, kept))
            await self.add_nodes(other, addresses)
            if remove:
                for node in await self.nodes(lb):
                    await self.remove_node(lb, node["id"])
            await self.converge(group_id)
            expected = [private_ip(kept)] if remove else addresses

            async def healed(lb: int = lb, expected: list[str] = expected) -> bool:
                return sorted(n["address"] for n in await self.nodes(lb)) == expected
            await self.eventually(healed, "with the expected nodes")
            await self.settled(group_id, 1)
            await self.done(group_id)
            self.assertTrue(await healed())
            self.assertEqual(sorted(n["address"] for n in await self.nodes(other)), addresses)
            await self.request("GET", f"{self.cloud['cloudServersOpenStack']}/servers/"
                               f"{released['id']}", ok=200)
