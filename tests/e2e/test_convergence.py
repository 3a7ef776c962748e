"""
otter2 converging real groups on mimic: growth and shrinkage, out-of-band
damage, cloud faults, deletion, and a SIGKILL in the middle of a scale-up.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.web.http_headers import Headers

from tests.e2e.support import MimicTestCase


def private_ip(server: dict[str, Any]) -> str:
    return str(next(a["addr"] for a in server["addresses"]["private"] if a["version"] == 4))


class ScalingTests(MimicTestCase):
    """A group's servers and CLB nodes follow its desired capacity."""

    async def test_grow_and_shrink(self) -> None:
        """min 2 gives 2 servers with the group's metadata and 2 nodes; +3 gives 5; 1 gives 1
        (once the minimum allows it)."""
        lb = await self.new_load_balancer()
        group_id = await self.create_group(2, (lb,))
        servers = await self.converged(group_id, 2, (lb,))
        for server in servers:
            self.assertEqual(server["metadata"]["rax:autoscale:group:id"], group_id)
            self.assertEqual(server["metadata"][f"rax:autoscale:lb:CloudLoadBalancer:{lb}"],
                             '[{"port": 80}]')
        await self.execute(group_id, change=3)
        await self.converged(group_id, 5, (lb,))
        await self.request("PUT", f"{self.api}/groups/{group_id}/config",
                           {"name": "web", "cooldown": 0, "minEntities": 0,
                            "maxEntities": 10, "metadata": {}}, ok=204)
        await self.execute(group_id, desiredCapacity=1)
        [kept] = await self.converged(group_id, 1, (lb,))
        self.assertEqual([n["address"] for n in await self.nodes(lb)], [private_ip(kept)])

    async def test_force_delete(self) -> None:
        """A forced delete leaves no server and no node, then the group is gone."""
        lb = await self.new_load_balancer()
        group_id = await self.create_group(2, (lb,))
        await self.converged(group_id, 2, (lb,))
        await self.request("DELETE", f"{self.api}/groups/{group_id}?force=true", ok=204)

        async def gone() -> bool:
            return not await self.servers(group_id) and not await self.nodes(lb)
        await self.eventually(gone, "free of servers and nodes")
        await self.request("GET", f"{self.api}/groups/{group_id}", ok=404)


class WaitingTests(MimicTestCase):
    """The group state says why a group is not converged yet."""

    async def test_waiting_for_builds(self) -> None:
        """While its server builds the ACTIVE group shows why it waits, without errors;
        converged, it shows neither."""
        group_id = await self.create_group(1, build_seconds=6)

        async def waiting() -> bool:
            state = await self.state(group_id)
            return bool(state["status"] == "ACTIVE" and state.get("waiting")
                        and "errors" not in state)
        await self.eventually(waiting, "waiting while the server builds")
        state = await self.state(group_id)
        self.assertTrue(all(set(entry) == {"message"} and entry["message"]
                            for entry in state["waiting"]), state)
        await self.converged(group_id, 1)

        async def settled() -> bool:
            return not {"waiting", "errors"} & set(await self.state(group_id))
        await self.eventually(settled, "neither waiting nor in error once converged")


class DamageTests(MimicTestCase):
    """Damage done behind otter2's back is repaired without any API call."""

    async def test_deleted_server_replaced(self) -> None:
        """A server deleted out of band is replaced, and its node removed."""
        lb = await self.new_load_balancer()
        group_id = await self.create_group(2, (lb,))
        servers = await self.converged(group_id, 2, (lb,))
        await self.request("DELETE",
                           f"{self.cloud['cloudServersOpenStack']}/servers/{servers[0]['id']}",
                           ok=204)
        after = await self.converged(group_id, 2, (lb,))
        self.assertNotIn(servers[0]["id"], [s["id"] for s in after])

    async def test_errored_server_replaced(self) -> None:
        """A server forced to ERROR through mimic's control plane is replaced."""
        group_id = await self.create_group(2)
        servers = await self.converged(group_id, 2)
        victim = servers[0]["id"]
        await self.request("POST", f"{self.cloud['cloudServersBehavior']}/attributes/",
                           {"status": {victim: "ERROR"}}, ok=201)
        after = await self.converged(group_id, 2)
        self.assertNotIn(victim, [s["id"] for s in after])

    async def test_removed_node_comes_back(self) -> None:
        """A CLB node removed out of band is added again."""
        lb = await self.new_load_balancer()
        group_id = await self.create_group(2, (lb,))
        await self.converged(group_id, 2, (lb,))
        node = (await self.nodes(lb))[0]
        await self.request(
            "DELETE", f"{self.cloud['cloudLoadBalancers']}/loadbalancers/{lb}/nodes/{node['id']}",
            ok=202)
        self.assertEqual(len(await self.nodes(lb)), 1)
        await self.converged(group_id, 2, (lb,))


class FaultTests(MimicTestCase):
    """Faults of the cloud delay convergence but do not defeat it."""

    async def test_pending_update_window(self) -> None:
        """A CLB held in PENDING_UPDATE for a while ends converged."""
        lb = await self.new_load_balancer()
        control = f"{self.cloud['cloudLoadBalancerControl']}/loadbalancer/{lb}/attributes"
        await self.request("PATCH", control, {"status": "PENDING_UPDATE"}, ok=204)
        group_id = await self.create_group(2, (lb,))

        async def servers_up() -> bool:
            servers = await self.servers(group_id)
            return len(servers) == 2 and all(s["status"] == "ACTIVE" for s in servers)
        await self.eventually(servers_up, "with 2 active servers")
        await deferLater(reactor, 2, lambda: None)
        self.assertEqual(await self.nodes(lb), [])
        await self.request("PATCH", control, {"status": "ACTIVE"}, ok=204)
        await self.converged(group_id, 2, (lb,))

    async def test_create_failures_then_recovery(self) -> None:
        """Refused creates put the group in ERROR with a readable reason; it recovers."""
        behaviours = f"{self.cloud['cloudServersBehavior']}/behaviors/creation"
        quota = ("Quota exceeded for instances: Requested 1, but already used 10 of 10 "
                 "instances")
        answer = await self.request("POST", behaviours, {
            "criteria": [{"server_name": "web.*"}], "name": "fail",
            "parameters": {"code": 403, "message": quota, "type": "forbidden"}}, ok=201)
        group_id = await self.create_group(2, build_seconds=0)

        async def in_error() -> bool:
            status: str = (await self.state(group_id))["status"]
            return status == "ERROR"
        await self.eventually(in_error, "in ERROR")
        errors = (await self.state(group_id))["errors"]
        self.assertTrue(any("Quota exceeded" in e["message"] for e in errors), errors)
        self.assertNotIn("Unknown error", str(errors))
        await self.request("DELETE", f"{behaviours}/{answer['id']}", ok=204)
        await self.converged(group_id, 2)


class CrashTests(MimicTestCase):
    """The daemon killed in the middle of a scale-up leaks and duplicates nothing."""

    config = {"converger": {"interval": 0.5, "build_timeout": 30,
                            "step_limits": {"create_server": 3}}}

    async def test_sigkill_during_scale_up(self) -> None:
        """SIGKILL while scaling to 10, then a restart: exactly 10 servers."""
        lb = await self.new_load_balancer()
        group_id = await self.create_group(0, (lb,), build_seconds=2)
        await self.execute(group_id, desiredCapacity=10)

        async def some_created() -> bool:
            return len(await self.servers(group_id)) >= 3
        await self.eventually(some_created, "creating servers")
        self.daemon.stop(signal.SIGKILL)
        self.assertLess(len(await self.servers(group_id)), 10)
        self.daemon.start()
        await self.converged(group_id, 10, (lb,), seconds=90)


class LifecycleTests(MimicTestCase):
    """Pause, resume and removing one server, with the cloud watching."""

    async def test_pause_stops_convergence_until_resume(self) -> None:
        """While paused a deleted server is not replaced; after resume it is."""
        group_id = await self.create_group(2)
        servers = await self.converged(group_id, 2)
        await self.request("POST", f"{self.api}/groups/{group_id}/pause", ok=204)
        await self.request("DELETE",
                           f"{self.cloud['cloudServersOpenStack']}/servers/{servers[0]['id']}",
                           ok=204)
        await deferLater(reactor, 5, lambda: None)  # more than a self-heal interval
        self.assertEqual(len(await self.servers(group_id)), 1)
        await self.request("POST", f"{self.api}/groups/{group_id}/resume", ok=204)
        await self.converged(group_id, 2)

    async def test_delete_server_with_and_without_replacement(self) -> None:
        """A removed server is replaced by default; with replace=false capacity drops."""
        lb = await self.new_load_balancer()
        group_id = await self.create_group(0, (lb,))
        await self.execute(group_id, desiredCapacity=3)
        servers = await self.converged(group_id, 3, (lb,))
        await self.request("DELETE", f"{self.api}/groups/{group_id}/servers/{servers[0]['id']}",
                           ok=202)
        await self.gone(group_id, servers[0]["id"])
        replaced = await self.converged(group_id, 3, (lb,))
        await self.request(
            "DELETE", f"{self.api}/groups/{group_id}/servers/{replaced[0]['id']}?replace=false",
            ok=202)
        self.assertEqual((await self.state(group_id))["desiredCapacity"], 2)
        await self.gone(group_id, replaced[0]["id"])
        await self.converged(group_id, 2, (lb,))

    async def gone(self, group_id: str, server_id: str) -> None:
        async def check() -> bool:
            return server_id not in [s["id"] for s in await self.servers(group_id)]
        await self.eventually(check, f"rid of server {server_id}")


class AuthenticationTests(MimicTestCase):
    """With authentication on, mimic's Identity decides who may call."""

    config = {"auth": {"enabled": True}}

    def token(self, tenant_id: str) -> str:
        return self.mimic.token(tenant_id)

    async def test_tokens(self) -> None:
        """No token: 401; the tenant's token: served; another tenant's: 403."""
        answer = await self.http.get(f"{self.api}/groups")
        self.assertEqual(answer.code, 401)
        await answer.content()
        await self.request("GET", f"{self.api}/groups",
                           headers={"X-Auth-Token": self.token(self.tenant_id)}, ok=200)
        other = await self.http.get(f"{self.api}/groups",
                                    headers=Headers({"X-Auth-Token": [self.token("999999")]}))
        self.assertEqual(other.code, 403)
        await other.content()


class LaunchCheckTests(MimicTestCase):
    """A launch configuration is checked against the tenant's cloud."""

    async def test_unknown_image_and_flavor(self) -> None:
        """An image and a flavor the cloud lacks are refused, one line each."""
        body = {"groupConfiguration": {"name": "web", "cooldown": 0, "minEntities": 0},
                "launchConfiguration": {"type": "launch_server", "args": {"server": {
                    "flavorRef": "no-such-flavor", "imageRef": "no-such-image"}}}}
        answer = await self.http.post(f"{self.api}/groups", json=body)
        self.assertEqual(answer.code, 400)
        error = (await answer.json())["error"]
        self.assertEqual(error["type"], "InvalidLaunchConfiguration")
        self.assertEqual(error["message"].splitlines(), [
            "Following problems with launch configuration:",
            'Invalid imageRef "no-such-image" in launchConfiguration',
            'Invalid flavorRef "no-such-flavor" in launchConfiguration'])
        listed = await self.request("GET", f"{self.api}/groups", ok=200)
        self.assertEqual(listed["groups"], [])

    async def test_load_balancers(self) -> None:
        """A CLB and a pool the tenant lacks are refused, one line each; the tenant's own
        CLB and pool are accepted."""
        lb = await self.new_load_balancer()
        pools = await self.request("GET", self.cloud["rackconnect"] + "/load_balancer_pools",
                                   ok=200)
        unknown_pool = "abcdef00-0000-4000-8000-000000000000"

        def body(lb_id: int, pool_id: str) -> dict[str, Any]:
            return {"groupConfiguration": {"name": "web", "cooldown": 0, "minEntities": 0},
                    "launchConfiguration": {"type": "launch_server", "args": {
                        "server": {"flavorRef": "general1-1", "imageRef": self.image_id},
                        "loadBalancers": [{"loadBalancerId": lb_id, "port": 80},
                                          {"loadBalancerId": pool_id,
                                           "type": "RackConnectV3"}]}}}
        answer = await self.http.post(f"{self.api}/groups", json=body(999999, unknown_pool))
        self.assertEqual(answer.code, 400)
        error = (await answer.json())["error"]
        self.assertEqual(error["type"], "InvalidLaunchConfiguration")
        self.assertEqual(error["message"].splitlines(), [
            "Following problems with launch configuration:",
            "Cloud Load Balancer does not exist: 999999",
            f"RackConnect v3 load balancer pool {unknown_pool} does not exist"])
        listed = await self.request("GET", f"{self.api}/groups", ok=200)
        self.assertEqual(listed["groups"], [])
        await self.request("POST", f"{self.api}/groups", body(lb, pools[0]["id"]), ok=201)


class TimingTests(MimicTestCase):
    """
    otter2 comes back when a wait it knows of ends (Note [Looking again]), so
    against a real cloud API the drain and the join take no longer than they
    must, plus one converger interval.
    """

    interval = 2.0
    config = {"converger": {"interval": interval, "build_timeout": 60},
              "selfheal": {"interval": 600}}

    async def sample_nodes(self, lb: int, until: Callable[[list[dict[str, Any]]], bool],
                           seconds: float = 60.0) -> list[tuple[float, list[dict[str, Any]]]]:
        """The CLB's nodes every quarter of a second, with the time, until ``until`` holds."""
        samples = []
        deadline = time.time() + seconds
        while time.time() < deadline:
            nodes = await self.nodes(lb)
            samples.append((time.time(), nodes))
            if until(nodes):
                return samples
            await deferLater(reactor, 0.25, lambda: None)
        raise AssertionError(f"the nodes never settled: {samples[-1]}\n"
                             + self.daemon.output()[-3000:])

    async def test_drained_node_leaves_when_the_drain_ends(self) -> None:
        """A node drained for 30 s leaves its CLB within 30 s plus one interval."""
        lb = await self.new_load_balancer()
        group_id = await self.create_group(0, (lb,), draining_timeout=30)
        await self.execute(group_id, desiredCapacity=2)
        await self.converged(group_id, 2, (lb,))
        await self.execute(group_id, desiredCapacity=1)
        scaled_down = time.time()
        samples = await self.sample_nodes(lb, lambda nodes: len(nodes) == 1)
        began = next(t for t, nodes in samples
                     if any(n["condition"] == "DRAINING" for n in nodes))
        left = samples[-1][0]
        slack = 1.0  # sampling and the calls of one iteration
        self.assertGreaterEqual(left, began + 30 - slack)
        self.assertLessEqual(left, scaled_down + 30 + self.interval + slack)
        [kept] = await self.converged(group_id, 1, (lb,))
        self.assertEqual([s["id"] for s in (await self.state(group_id))["active"]], [kept["id"]])

    async def test_active_server_joins_within_an_interval(self) -> None:
        """A server that turns ACTIVE after 5 s of building is on its CLB one interval later."""
        lb = await self.new_load_balancer()
        group_id = await self.create_group(0, (lb,), build_seconds=5)
        await self.execute(group_id, desiredCapacity=1)

        async def created() -> bool:
            return len(await self.servers(group_id)) == 1
        await self.eventually(created, "creating a server")
        [server] = await self.servers(group_id)
        active_at = datetime.fromisoformat(server["created"].replace("Z", "+00:00")).timestamp() + 5
        samples = await self.sample_nodes(lb, lambda nodes: len(nodes) == 1)
        self.assertLessEqual(samples[-1][0], active_at + self.interval + 1.0)
        await self.converged(group_id, 1, (lb,))


class ScheduleTests(MimicTestCase):
    """A schedule policy fires in the daemon and the cloud follows it."""

    config = {"scheduler": {"interval": 1}}

    async def test_servers_follow_the_schedule(self) -> None:
        """An at policy three seconds ahead asks for two servers; mimic then holds two."""
        group_id = await self.create_group(0)
        at = datetime.fromtimestamp(int(time.time()) + 3, UTC)
        await self.request("POST", f"{self.api}/groups/{group_id}/policies", [{
            "name": "soon", "type": "schedule", "desiredCapacity": 2, "cooldown": 0,
            "args": {"at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}}], ok=201)
        self.assertEqual((await self.state(group_id))["desiredCapacity"], 0)
        await self.converged(group_id, 2)
        self.assertEqual((await self.state(group_id))["desiredCapacity"], 2)


class LoadBalancerHistoryTests(MimicTestCase):
    """Servers follow the launch configuration through several load-balancer changes."""

    async def test_three_load_balancers_in_turn(self) -> None:
        """CLB a, then b, then c: the servers end on c only, with metadata naming c only."""
        lbs = [await self.new_load_balancer() for _ in range(3)]
        group_id = await self.create_group(2, (lbs[0],))
        await self.converged(group_id, 2, (lbs[0],))
        launch = await self.request("GET", f"{self.api}/groups/{group_id}/launch", ok=200)
        for lb in lbs[1:]:
            args = {**launch["launchConfiguration"]["args"],
                    "loadBalancers": [{"loadBalancerId": lb, "port": 80}]}
            await self.request("PUT", f"{self.api}/groups/{group_id}/launch",
                               {"type": "launch_server", "args": args}, ok=204)
            await self.request("POST", f"{self.api}/groups/{group_id}/converge", ok=204)
            await self.converged(group_id, 2, (lb,))

            async def left() -> bool:
                return not any([await self.nodes(old) for old in lbs if old != lb])
            await self.eventually(left, "off the other load balancers")
        async def recorded() -> bool:
            return all(sorted(k for k in server["metadata"] if k.startswith("rax:autoscale:lb:"))
                       == [f"rax:autoscale:lb:CloudLoadBalancer:{lbs[2]}"]
                       for server in await self.servers(group_id))
        await self.eventually(recorded, "with metadata naming the last load balancer only")
