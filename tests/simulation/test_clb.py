"""
Tests for otter2.simulation.clb and clb_nodes: what the simulated Cloud Load
Balancers do beyond the shared behaviour suite (tests.simulation.contract),
as pure transitions.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud.request import Response, ServiceType
from otter2.model.group import thaw_json
from otter2.simulation import (
    Behaviour,
    CLBStatus,
    SimulatedCloud,
    add_load_balancer,
    remove_node,
    set_current_connections,
    set_load_balancer_status,
    set_node_online,
)
from tests.simulation.contract import node
from tests.simulation.support import START, call

CLB = ServiceType.CLOUD_LOAD_BALANCERS


def clb(cloud: SimulatedCloud, method: str, path: str, now: float = START, json: Any = None,
        params: tuple[tuple[str, str], ...] = ()) -> tuple[SimulatedCloud, Response]:
    """The cloud after a CLB request, and the answer."""
    return call(cloud, CLB, method, f"loadbalancers{path}", now, params, json)


def with_lb(behaviour: Behaviour = Behaviour(clb_update_time=5), **options: Any
            ) -> SimulatedCloud:
    """A cloud with load balancer 7 for tenant t1."""
    return add_load_balancer(SimulatedCloud(behaviour), "t1", 7, START, **options)


def listed_nodes(cloud: SimulatedCloud, now: float = START) -> list[dict]:
    """The nodes of load balancer 7."""
    _, response = clb(cloud, "GET", "/7/nodes", now)
    nodes: list[dict] = thaw_json(response.body)["nodes"]
    return nodes


class PendingUpdateTests(SynchronousTestCase):
    """Every change leaves a CLB PENDING_UPDATE for its window; changes then get 422."""

    def test_every_kind_of_change(self) -> None:
        """Adding, changing and removing nodes each start a window."""
        cloud, added = clb(with_lb(), "POST", "/7/nodes", json={"nodes": [node("10.0.0.1")]})
        node_id = added.body["nodes"][0]["id"]
        changes = [("PUT", f"/7/nodes/{node_id}", {"node": {"weight": 3}}, ()),
                   ("DELETE", "/7/nodes", None, (("id", str(node_id)),))]
        now = START
        for method, path, body, params in changes:
            _, refused = clb(cloud, method, path, now + 4.9, body, params)
            self.assertEqual(refused.status, 422, method)
            now += 5
            cloud, done = clb(cloud, method, path, now, body, params)
            self.assertEqual(done.status, 202, method)

    def test_bulk_delete_is_not_active(self) -> None:
        """A bulk delete during the window answers 422 LoadBalancer is not ACTIVE."""
        cloud, added = clb(with_lb(), "POST", "/7/nodes", json={"nodes": [node("10.0.0.1")]})
        _, refused = clb(cloud, "DELETE", "/7/nodes",
                         params=(("id", str(added.body["nodes"][0]["id"])),))
        self.assertEqual(thaw_json(refused.body),
                         {"message": "LoadBalancer is not ACTIVE", "code": 422})

    def test_window_per_load_balancer(self) -> None:
        """A load balancer's own window overrides the behaviour's."""
        cloud, _ = clb(with_lb(update_time=0), "POST", "/7/nodes",
                       json={"nodes": [node("10.0.0.1")]})
        _, again = clb(cloud, "POST", "/7/nodes", json={"nodes": [node("10.0.0.2")]})
        self.assertEqual(again.status, 202)

    def test_held_status(self) -> None:
        """A status set out of band holds until its end, or for ever without one."""
        cloud = set_load_balancer_status(with_lb(), "t1", 7, CLBStatus.PENDING_UPDATE,
                                         until=START + 100)
        _, refused = clb(cloud, "POST", "/7/nodes", START + 99, {"nodes": [node("10.0.0.1")]})
        self.assertEqual(refused.body["message"], "Load Balancer '7' has a status of "
                                                  "'PENDING_UPDATE' and is considered immutable.")
        _, done = clb(cloud, "POST", "/7/nodes", START + 100, {"nodes": [node("10.0.0.1")]})
        self.assertEqual(done.status, 202)
        cloud = set_load_balancer_status(cloud, "t1", 7, CLBStatus.ERROR)
        _, refused = clb(cloud, "POST", "/7/nodes", START + 10**6, {"nodes": [node("10.0.0.1")]})
        self.assertIn("'ERROR'", refused.body["message"])


class LifecycleTests(SynchronousTestCase):
    """Load balancers are built, deleted, and then marked deleted."""

    def test_create(self) -> None:
        """A new load balancer is BUILD for the window, then ACTIVE."""
        body = {"loadBalancer": {"name": "web", "protocol": "HTTP", "port": 80,
                                 "virtualIps": [{"type": "PUBLIC"}]}}
        cloud, created = clb(SimulatedCloud(Behaviour(clb_update_time=5)), "POST", "", json=body)
        self.assertEqual(created.status, 202)
        lb_id = created.body["loadBalancer"]["id"]
        self.assertEqual(created.body["loadBalancer"]["status"], "BUILD")
        _, shown = clb(cloud, "GET", f"/{lb_id}", START + 5)
        self.assertEqual(shown.body["loadBalancer"]["status"], "ACTIVE")

    def test_create_needs_fields(self) -> None:
        """A load balancer without a protocol answers 400 Validation Failure."""
        body = {"loadBalancer": {"name": "web", "port": 80, "virtualIps": []}}
        _, refused = clb(SimulatedCloud(), "POST", "", json=body)
        self.assertEqual(refused.body["message"], "Validation Failure")

    def test_delete(self) -> None:
        """A deleted CLB is PENDING_DELETE, then DELETED: nodes answer 410, changes 422."""
        cloud, deleted = clb(with_lb(), "DELETE", "/7")
        self.assertEqual(deleted.status, 202)
        _, shown = clb(cloud, "GET", "/7", START + 1)
        self.assertEqual(shown.body["loadBalancer"]["status"], "PENDING_DELETE")
        _, nodes = clb(cloud, "GET", "/7/nodes", START + 5)
        self.assertEqual(thaw_json(nodes.body), {
            "message": "The loadbalancer is marked as deleted.", "code": 410})
        _, refused = clb(cloud, "POST", "/7/nodes", START + 5, {"nodes": [node("10.0.0.1")]})
        self.assertEqual(refused.body["message"],
                         "The load balancer is deleted and considered immutable.")

    def test_bulk_delete_while_deleting(self) -> None:
        """A bulk delete on a load balancer being deleted says it is PENDING_DELETE."""
        cloud = set_load_balancer_status(with_lb(), "t1", 7, CLBStatus.PENDING_DELETE)
        _, refused = clb(cloud, "DELETE", "/7/nodes", params=(("id", "1"),))
        self.assertIn("'PENDING_DELETE' and is considered immutable", refused.body["message"])


class NodeTests(SynchronousTestCase):
    """Nodes are validated, numbered, monitored and recorded in their feeds."""

    def test_ids_unique_across_load_balancers(self) -> None:
        """Node ids are unique across load balancers."""
        cloud = add_load_balancer(with_lb(), "t1", 8, START)
        cloud, first = clb(cloud, "POST", "/7/nodes", json={"nodes": [node("10.0.0.1")]})
        cloud, second = clb(cloud, "POST", "/8/nodes", json={"nodes": [node("10.0.0.1")]})
        self.assertNotEqual(first.body["nodes"][0]["id"], second.body["nodes"][0]["id"])

    def test_validation(self) -> None:
        """A node without a condition or with a bad port answers 400 and adds nothing."""
        for bad in ({"address": "10.0.0.1", "port": 80},
                    {"address": "10.0.0.1", "port": 0, "condition": "ENABLED"}):
            cloud, refused = clb(with_lb(), "POST", "/7/nodes", json={"nodes": [bad]})
            self.assertEqual(refused.body["message"], "Validation Failure", bad)
            self.assertEqual(listed_nodes(cloud), [])

    def test_update_validation(self) -> None:
        """A node's address cannot change, nor its condition become anything else."""
        cloud, added = clb(with_lb(update_time=0), "POST", "/7/nodes",
                           json={"nodes": [node("10.0.0.1")]})
        path = f"/7/nodes/{added.body['nodes'][0]['id']}"
        _, moved = clb(cloud, "PUT", path, json={"node": {"address": "10.0.0.2"}})
        self.assertEqual(moved.body["validationErrors"]["messages"],
                         ["Node ip field cannot be modified."])
        _, odd = clb(cloud, "PUT", path, json={"node": {"condition": "SLEEPY"}})
        self.assertEqual(odd.status, 400)

    def test_empty_bulk_delete(self) -> None:
        """A bulk delete naming no node answers 400."""
        _, refused = clb(with_lb(), "DELETE", "/7/nodes")
        self.assertEqual(refused.status, 400)

    def test_health_monitored_nodes(self) -> None:
        """On a monitored CLB new nodes are OFFLINE until the health check passes."""
        cloud = with_lb(Behaviour(health_check_time=10),
                        health_monitor={"type": "CONNECT", "delay": 10})
        cloud, added = clb(cloud, "POST", "/7/nodes", json={"nodes": [node("10.0.0.1")]})
        self.assertEqual(added.body["nodes"][0]["status"], "OFFLINE")
        self.assertEqual(listed_nodes(cloud, START + 10)[0]["status"], "ONLINE")
        node_id = added.body["nodes"][0]["id"]
        cloud = set_node_online(cloud, "t1", 7, node_id, False, START + 10)
        self.assertEqual(listed_nodes(cloud, START + 100)[0]["status"], "OFFLINE")
        cloud = set_node_online(cloud, "t1", 7, node_id, True, START + 100)
        self.assertEqual(listed_nodes(cloud, START + 100)[0]["status"], "ONLINE")

    def test_health_monitor_changes(self) -> None:
        """A health monitor is set and removed with 202."""
        cloud, done = clb(with_lb(update_time=0), "PUT", "/7/healthmonitor",
                          json={"healthMonitor": {"type": "CONNECT"}})
        self.assertEqual(done.status, 202)
        _, shown = clb(cloud, "GET", "/7/healthmonitor")
        self.assertEqual(thaw_json(shown.body), {"healthMonitor": {"type": "CONNECT"}})
        cloud, _ = clb(cloud, "DELETE", "/7/healthmonitor")
        self.assertEqual(clb(cloud, "GET", "/7/healthmonitor")[1].body["healthMonitor"], {})

    def test_removed_out_of_band(self) -> None:
        """A node removed out of band is no longer listed, and the CLB stays ACTIVE."""
        cloud, added = clb(with_lb(), "POST", "/7/nodes",
                           json={"nodes": [node("10.0.0.1"), node("10.0.0.2")]})
        cloud = remove_node(cloud, "t1", 7, added.body["nodes"][0]["id"])
        self.assertEqual([n["address"] for n in listed_nodes(cloud)], ["10.0.0.2"])

    def test_feed(self) -> None:
        """A node's feed lists its creation and changes, newest first, with their times."""
        cloud, added = clb(with_lb(update_time=0), "POST", "/7/nodes",
                           json={"nodes": [node("10.0.0.1")]})
        node_id = added.body["nodes"][0]["id"]
        cloud, _ = clb(cloud, "PUT", f"/7/nodes/{node_id}", START + 60,
                       {"node": {"condition": "DRAINING"}})
        _, feed = clb(cloud, "GET", f"/7/nodes/{node_id}.atom", START + 60)
        self.assertEqual(feed.headers["content-type"], "application/atom+xml")
        updated = feed.body.index("Node successfully updated with address: '10.0.0.1', "
                                  "port: '80', weight: '1', condition: 'DRAINING'")
        created = feed.body.index("Node successfully created with address: '10.0.0.1', "
                                  "port: '80', condition: 'ENABLED', weight: '1'")
        self.assertLess(updated, created)
        self.assertIn("<updated>2030-03-17T17:47:40.000Z</updated>", feed.body)

    def test_stats(self) -> None:
        """``stats`` says the connections set out of band; unset, it is not served (as
        in mimic)."""
        self.assertEqual(clb(with_lb(), "GET", "/7/stats")[1].status, 404)
        cloud = set_current_connections(with_lb(), "t1", 7, 12)
        _, stats = clb(cloud, "GET", "/7/stats")
        self.assertEqual((stats.status, stats.body["currentConn"], stats.body["maxConn"]),
                         (200, 12, 0))
        _, stats = clb(set_current_connections(cloud, "t1", 7, 0), "GET", "/7/stats")
        self.assertEqual(stats.body["currentConn"], 0)

    def test_single_node(self) -> None:
        """A node is shown by id; an unknown one answers 404."""
        cloud, added = clb(with_lb(), "POST", "/7/nodes", json={"nodes": [node("10.0.0.1")]})
        node_id = added.body["nodes"][0]["id"]
        _, shown = clb(cloud, "GET", f"/7/nodes/{node_id}")
        self.assertEqual(shown.body["node"]["address"], "10.0.0.1")
        self.assertEqual(clb(cloud, "GET", "/7/nodes/999")[1].status, 404)
        self.assertEqual(clb(cloud, "GET", "/7/nodes/999.atom")[1].status, 404)
