"""
Tests for otter2.simulation.nova: what the simulated Nova does beyond the
shared behaviour suite (tests.simulation.contract), as pure transitions.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud.request import Response, ServiceType
from otter2.model.cloud import ServerState
from otter2.model.group import thaw_json
from otter2.simulation import (
    Behaviour,
    SimulatedCloud,
    advance,
    delete_server,
    set_quota,
    set_server_metadata,
    set_server_status,
)
from tests.simulation.support import START, call, create_body

NOVA = ServiceType.CLOUD_SERVERS


def new_server(cloud: SimulatedCloud, name: str = "s", now: float = START,
               **metadata: str) -> tuple[SimulatedCloud, str]:
    """The cloud with one more server, and its id."""
    cloud, response = call(cloud, NOVA, "POST", "servers", now, json=create_body(name, **metadata))
    assert response.status == 202, response
    return cloud, response.body["server"]["id"]


def get(cloud: SimulatedCloud, path: str, now: float = START,
        params: tuple[tuple[str, str], ...] = ()) -> Response:
    """Nova's answer to a GET."""
    return call(cloud, NOVA, "GET", path, now, params)[1]


def list_all(cloud: SimulatedCloud, limit: int) -> list[str]:
    """Every server id, following next links page by page."""
    ids: list[str] = []
    params: tuple[tuple[str, str], ...] = (("limit", str(limit)),)
    for _ in range(1000):
        page = get(cloud, "servers/detail", params=params)
        ids.extend(s["id"] for s in page.body["servers"])
        links = page.body.get("servers_links", [])
        if not links:
            return ids
        params = tuple(parse_qsl(urlsplit(links[0]["href"]).query))
    raise AssertionError("the listing never ends")


class ListingTests(SynchronousTestCase):
    """Servers are listed newest first, in pages linked by servers_links."""

    def test_newest_first(self) -> None:
        """The listing shows the newest server first."""
        cloud, first = new_server(SimulatedCloud(), "a")
        cloud, second = new_server(cloud, "b", now=START + 1)
        listed = get(cloud, "servers/detail").body["servers"]
        self.assertEqual([s["id"] for s in listed], [second, first])

    def test_next_link(self) -> None:
        """A full page links to the next: same path and limit, its last server the marker."""
        cloud, _ = new_server(SimulatedCloud(base_url="http://sim.test"))
        cloud, _ = new_server(cloud)
        page = get(cloud, "servers/detail", params=(("limit", "1"),))
        link = thaw_json(page.body["servers_links"])
        self.assertEqual(link, [{
            "rel": "next",
            "href": "http://sim.test/cloudServersOpenStack/t1/servers/detail?limit=1&marker="
                    + page.body["servers"][0]["id"]}])

    def test_brief_listing(self) -> None:
        """GET servers shows each server's id, name and links only."""
        cloud, server_id = new_server(SimulatedCloud(), "web")
        listed = thaw_json(get(cloud, "servers").body["servers"])
        self.assertEqual(set(listed[0]), {"id", "name", "links"})
        self.assertEqual(listed[0]["id"], server_id)

    def test_unknown_marker(self) -> None:
        """A marker that names no server answers 400 badRequest."""
        response = get(SimulatedCloud(), "servers/detail", params=(("marker", "gone"),))
        self.assertEqual(thaw_json(response.body),
                         {"badRequest": {"message": "marker [gone] not found", "code": 400}})

    def test_bad_limit(self) -> None:
        """A limit that is not a number answers 400 badRequest."""
        response = get(SimulatedCloud(), "servers/detail", params=(("limit", "many"),))
        self.assertEqual(response.status, 400)
        self.assertIn("badRequest", response.body)

    @given(operations=st.lists(st.one_of(st.just("create"), st.integers(0, 20)), max_size=25),
           limit=st.integers(1, 6))
    def test_pages_cover_live_servers(self, operations: list, limit: int) -> None:
        """Following next links lists every live server exactly once, whatever was deleted."""
        cloud, live = SimulatedCloud(), []
        for operation in operations:
            if operation == "create":
                cloud, server_id = new_server(cloud)
                live.append(server_id)
            elif live:
                cloud = delete_server(cloud, "t1", live.pop(operation % len(live)))
        listed = list_all(cloud, limit)
        self.assertEqual(sorted(listed), sorted(live))
        self.assertEqual(len(listed), len(set(listed)))


class ServerTests(SynchronousTestCase):
    """Servers are created, validated and described as Nova does."""

    def test_created_time_and_addresses(self) -> None:
        """A server was created now, and each has its own 10.x ServiceNet address."""
        cloud, first = new_server(SimulatedCloud(), now=1_900_000_000)
        cloud, second = new_server(cloud, now=1_900_000_000)
        servers = [get(cloud, f"servers/{i}").body["server"] for i in (first, second)]
        self.assertEqual(servers[0]["created"], "2030-03-17T17:46:40Z")
        private = [s["addresses"]["private"][0]["addr"] for s in servers]
        self.assertNotEqual(private[0], private[1])
        self.assertTrue(all(a.startswith("10.") for a in private))

    def test_missing_flavor(self) -> None:
        """A create without flavorRef answers 400 badRequest and builds nothing."""
        cloud, response = call(SimulatedCloud(), NOVA, "POST", "servers",
                               json={"server": {"name": "a"}})
        self.assertEqual(response.body["badRequest"]["message"], "Missing flavorRef attribute")
        self.assertNotIn("t1", cloud.nova)

    def test_metadata_values_are_strings(self) -> None:
        """Metadata whose values are not strings answers 400 badRequest."""
        body = {"server": {"name": "a", "flavorRef": "1", "metadata": {"n": 1}}}
        _, response = call(SimulatedCloud(), NOVA, "POST", "servers", json=body)
        self.assertEqual(response.status, 400)

    def test_quota_from_behaviour(self) -> None:
        """The behaviour's quota applies to a tenant with none set; its message counts."""
        cloud, _ = new_server(SimulatedCloud(Behaviour(instance_quota=1)))
        _, response = call(cloud, NOVA, "POST", "servers", json=create_body())
        self.assertEqual(thaw_json(response.body), {"forbidden": {
            "message": "Quota exceeded for instances: Requested 1, but already used 1 of 1 "
                       "instances", "code": 403}})

    def test_quota_per_tenant(self) -> None:
        """A quota set for one tenant leaves the others alone, and deletion frees it."""
        cloud = set_quota(SimulatedCloud(), "t1", 1)
        cloud, server_id = new_server(cloud)
        _, refused = call(cloud, NOVA, "POST", "servers", json=create_body())
        self.assertEqual(refused.status, 403)
        _, other = call(cloud, NOVA, "POST", "servers", json=create_body(), tenant_id="t2")
        self.assertEqual(other.status, 202)
        cloud, _ = call(cloud, NOVA, "DELETE", f"servers/{server_id}")
        self.assertEqual(call(cloud, NOVA, "POST", "servers", json=create_body())[1].status, 202)

    def test_slow_deletion(self) -> None:
        """With a delete time, a deleted server shows task_state deleting until it is gone."""
        cloud, server_id = new_server(SimulatedCloud(Behaviour(delete_time=5)))
        cloud, response = call(cloud, NOVA, "DELETE", f"servers/{server_id}")
        self.assertEqual(response.status, 204)
        server = get(cloud, f"servers/{server_id}", START + 4).body["server"]
        self.assertEqual(server["OS-EXT-STS:task_state"], "deleting")
        self.assertEqual(get(cloud, f"servers/{server_id}", START + 5).status, 404)


class MetadataTests(SynchronousTestCase):
    """Metadata items are set, read and deleted one by one, as Nova checks them."""

    def setUp(self) -> None:
        self.cloud, self.server_id = new_server(SimulatedCloud(), role="web")
        self.path = f"servers/{self.server_id}/metadata"

    def test_item_round_trip(self) -> None:
        """An item is read back, then deleted with 204, then 404."""
        self.assertEqual(thaw_json(get(self.cloud, f"{self.path}/role").body),
                         {"meta": {"role": "web"}})
        cloud, deleted = call(self.cloud, NOVA, "DELETE", f"{self.path}/role")
        self.assertEqual(deleted.status, 204)
        self.assertEqual(get(cloud, f"{self.path}/role").body["itemNotFound"]["code"], 404)

    def test_item_body_must_match(self) -> None:
        """An item whose body names another key, or two keys, answers 400."""
        for meta in ({"other": "x"}, {"role": "x", "more": "y"}):
            _, response = call(self.cloud, NOVA, "PUT", f"{self.path}/role",
                               json={"meta": meta})
            self.assertEqual(response.status, 400, meta)

    def test_item_limit(self) -> None:
        """A 41st item answers 403 forbidden."""
        many = {f"k{i}": "v" for i in range(40)}
        cloud, response = call(self.cloud, NOVA, "PUT", self.path, json={"metadata": many})
        self.assertEqual(response.status, 200)
        _, response = call(cloud, NOVA, "PUT", f"{self.path}/extra",
                           json={"meta": {"extra": "v"}})
        self.assertEqual(response.body["forbidden"]["message"],
                         "Maximum number of metadata items exceeds 40")

    def test_merge(self) -> None:
        """POSTed metadata is merged into the server's."""
        cloud, response = call(self.cloud, NOVA, "POST", self.path,
                               json={"metadata": {"more": "x"}})
        self.assertEqual(thaw_json(response.body), {"metadata": {"role": "web", "more": "x"}})


class OutOfBandTests(SynchronousTestCase):
    """What happens to servers behind otter2's back shows in Nova's answers."""

    def setUp(self) -> None:
        self.cloud, self.server_id = new_server(SimulatedCloud(), role="web")

    def test_delete(self) -> None:
        """A server deleted out of band is gone at once."""
        cloud = delete_server(self.cloud, "t1", self.server_id)
        self.assertEqual(get(cloud, f"servers/{self.server_id}").status, 404)

    def test_forced_build_stays(self) -> None:
        """A server forced into BUILD stays there, however long."""
        cloud = set_server_status(self.cloud, "t1", self.server_id, ServerState.BUILD, START)
        cloud = advance(cloud, START + 10**6)
        server = get(cloud, f"servers/{self.server_id}", START + 10**6).body["server"]
        self.assertEqual(server["status"], "BUILD")

    def test_forced_status_survives_build(self) -> None:
        """A building server forced into ERROR does not become ACTIVE when its build ends."""
        cloud = set_server_status(self.cloud, "t1", self.server_id, ServerState.ERROR, START)
        server = get(cloud, f"servers/{self.server_id}", START + 10**6).body["server"]
        self.assertEqual(server["status"], "ERROR")

    def test_disown(self) -> None:
        """Replacing a server's metadata out of band shows in its detail."""
        cloud = set_server_metadata(self.cloud, "t1", self.server_id, {})
        self.assertEqual(get(cloud, f"servers/{self.server_id}").body["server"]["metadata"], {})


    def test_listings_follow_each_change(self) -> None:
        """
        Listed again and again, a server shows each change made to it (the
        listing shows the same server many times over a convergence), and an
        answer already given keeps what it said.
        """
        def detail(cloud: SimulatedCloud) -> dict:
            [server] = get(cloud, "servers/detail").body["servers"]
            thawed: dict = thaw_json(server)
            return thawed

        first = detail(self.cloud)
        self.assertEqual(detail(self.cloud), first)
        disowned = set_server_metadata(self.cloud, "t1", self.server_id, {"role": "db"})
        broken = set_server_status(disowned, "t1", self.server_id, ServerState.ERROR, START + 1)
        seen = [detail(cloud) for cloud in (self.cloud, disowned, broken)]
        self.assertEqual([(s["metadata"], s["status"], "fault" in s) for s in seen],
                         [({"role": "web"}, "BUILD", False), ({"role": "db"}, "BUILD", False),
                          ({"role": "db"}, "ERROR", True)])
        self.assertEqual(seen[0], first)


class ImagesAndFlavorsTests(SynchronousTestCase):
    """Images and flavors exist unless removed; limits are Nova's usual ones."""

    def test_images_and_flavors(self) -> None:
        """An image is ACTIVE until its status changes; a removed flavor is 404."""
        from otter2.simulation.nova import remove_flavor, set_image_status

        cloud = SimulatedCloud()
        _, image = call(cloud, NOVA, "GET", "images/i1")
        self.assertEqual((image.status, image.body["image"]["status"]), (200, "ACTIVE"))
        cloud = set_image_status(cloud, "t1", "i1", "SAVING")
        _, image = call(cloud, NOVA, "GET", "images/i1")
        self.assertEqual(image.body["image"]["status"], "SAVING")
        cloud = set_image_status(cloud, "t1", "i1", "DELETED")
        self.assertEqual(call(cloud, NOVA, "GET", "images/i1")[1].status, 404)
        self.assertEqual(call(cloud, NOVA, "GET", "flavors/f1")[1].status, 200)
        cloud = remove_flavor(cloud, "t1", "f1")
        self.assertEqual(call(cloud, NOVA, "GET", "flavors/f1")[1].status, 404)
        limits = call(cloud, NOVA, "GET", "limits")[1].body["limits"]["absolute"]
        self.assertEqual((limits["maxPersonality"], limits["maxPersonalitySize"]), (5, 1000))
