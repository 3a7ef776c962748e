"""
Tests for otter2.cloud.nova and otter2.cloud.metadata: the server-metadata
contract, Nova servers read into values, and what Nova's answers mean.
"""

import json

from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import freeze, pset, thaw
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud import nova
from otter2.cloud.messages import error_message
from otter2.cloud.metadata import (
    desired_lbs_of,
    group_id_of,
    is_draining,
    launch_load_balancers,
    prepare_server_config,
    server_metadata,
    without_own_keys,
)
from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.model.cloud import CLBDescription, RCv3Description, ServerState
from otter2.model.outcome import StepOutcome, Verdict

CLB_5 = "rax:autoscale:lb:CloudLoadBalancer:5"


def server_json(**changes: object) -> dict[str, object]:
    server: dict[str, object] = {
        "id": "s1", "status": "ACTIVE", "created": "2015-03-24T19:43:02Z",
        "addresses": {"private": [{"addr": "10.0.0.5", "version": 4}]},
        "image": {"id": "img"}, "flavor": {"id": "2"},
        "links": [{"rel": "self", "href": "http://nova/servers/s1"}],
        "metadata": {"rax:autoscale:group:id": "g1"},
    }
    server.update(changes)
    return server


class MembershipTests(SynchronousTestCase):
    """Which group a server's metadata puts it in."""

    def test_current_key(self) -> None:
        """The current membership key names the group."""
        self.assertEqual(group_id_of({"rax:autoscale:group:id": "g1"}), "g1")

    def test_legacy_key(self) -> None:
        """Without the current key, the legacy key names the group."""
        self.assertEqual(group_id_of({"rax:auto_scaling_group_id": "g2"}), "g2")

    def test_current_key_wins(self) -> None:
        """The current key wins over the legacy key."""
        self.assertEqual(group_id_of({"rax:autoscale:group:id": "g1",
                                      "rax:auto_scaling_group_id": "g2"}), "g1")

    def test_no_metadata(self) -> None:
        """No metadata, or neither key, is no group."""
        self.assertIsNone(group_id_of(None))
        self.assertIsNone(group_id_of({"other": "x"}))

    def test_belongs_to(self) -> None:
        """A listed server belongs to the group its metadata names, and only to it."""
        self.assertTrue(nova.belongs_to(server_json(), "g1"))
        self.assertFalse(nova.belongs_to(server_json(), "g2"))
        self.assertFalse(nova.belongs_to(server_json(metadata=None), "g1"))

    def test_draining_marker(self) -> None:
        """The draining marker counts only when it is exactly DRAINING."""
        self.assertTrue(is_draining({"rax:autoscale:server:state": "DRAINING"}))
        self.assertFalse(is_draining({"rax:autoscale:server:state": "draining"}))
        self.assertFalse(is_draining(None))


class RecordedLoadBalancerTests(SynchronousTestCase):
    """The load balancers a server's metadata records."""

    def test_clb_ports(self) -> None:
        """A CLB key yields one description per port of its JSON list."""
        self.assertEqual(desired_lbs_of({CLB_5: '[{"port": 80}, {"port": 8080}]'}),
                         pset([CLBDescription("5", 80), CLBDescription("5", 8080)]))

    def test_rcv3_pool(self) -> None:
        """Every RackConnectV3 key names a pool, whatever its value."""
        self.assertEqual(desired_lbs_of({"rax:autoscale:lb:RackConnectV3:pool-A": ""}),
                         pset([RCv3Description("pool-a")]))

    def test_bad_clb_values_skip_the_key(self) -> None:
        """A value that is not JSON, not a list, or has an element without port is skipped whole."""
        for value in ["{", '{"port": 80}', '[{"port": 80}, {"weight": 2}]', '["80"]',
                      '[{"port": "80"}]']:
            self.assertEqual(desired_lbs_of({CLB_5: value, "rax:autoscale:lb:CloudLoadBalancer:6":
                                             '[{"port": 81}]'}),
                             pset([CLBDescription("6", 81)]), value)

    def test_values_that_are_not_text_skip_the_key(self) -> None:
        """A CLB key whose value is not a string (a list, a number) is skipped whole."""
        for value in [[{"port": 80}], 80, None]:
            self.assertEqual(desired_lbs_of({CLB_5: value, "rax:autoscale:lb:RackConnectV3:p":
                                             ""}), pset([RCv3Description("p")]), value)

    def test_other_keys_are_ignored(self) -> None:
        """Keys outside the lb:type:id shape record no load balancer."""
        self.assertEqual(desired_lbs_of({
            "rax:autoscale:group:id": "g1", "rax:autoscale:lb:CloudLoadBalancer": "[]",
            "rax:autoscale:lb:Other:5": "", "rax:autoscale:lb:CloudLoadBalancer:5:x": "[]",
            "rax:autoscale:lb:CloudLoadBalancer:5 6": '[{"port": 1}]', "x": "y"}), pset())

    @given(st.sets(st.one_of(
        st.builds(CLBDescription, st.from_regex(r"\A[0-9]{1,6}\Z"), st.integers(1, 65535)),
        st.builds(RCv3Description, st.from_regex(r"\A[a-z0-9-]{1,36}\Z"))), max_size=6),
        st.text(min_size=1, max_size=10))
    def test_written_metadata_reads_back(self, lbs: set, group_id: str) -> None:
        """The metadata otter2 writes reads back as the group and load balancers it was given."""
        metadata = server_metadata(group_id, lbs)
        self.assertEqual(group_id_of(metadata), group_id)
        self.assertEqual(desired_lbs_of(metadata), pset(lbs))


class ServerMetadataTests(SynchronousTestCase):
    """The metadata otter2 writes on the servers it creates."""

    def test_keys(self) -> None:
        """Both membership keys, a JSON port list per CLB and an empty value per pool."""
        self.assertEqual(
            server_metadata("g1", [CLBDescription("5", 8080), CLBDescription("5", 80),
                                   RCv3Description("p1")]),
            {"rax:autoscale:group:id": "g1", "rax:auto_scaling_group_id": "g1",
             CLB_5: '[{"port": 80}, {"port": 8080}]',
             "rax:autoscale:lb:RackConnectV3:p1": ""})

    def test_launch_load_balancers(self) -> None:
        """CLB entries (typed or not) carry their port; RCv3 entries their pool."""
        self.assertEqual(launch_load_balancers({"loadBalancers": [
            {"loadBalancerId": 5, "port": 80},
            {"loadBalancerId": 6, "port": 443, "type": "CloudLoadBalancer"},
            {"loadBalancerId": "P1", "type": "RackConnectV3"}]}),
            pset([CLBDescription("5", 80), CLBDescription("6", 443), RCv3Description("p1")]))

    def test_prepare_server_config(self) -> None:
        """The group's keys are merged into the user's metadata, and win a collision."""
        config = prepare_server_config({
            "server": {"name": "web", "flavorRef": "2",
                       "metadata": {"mine": "1", "rax:autoscale:group:id": "bogus"}},
            "loadBalancers": [{"loadBalancerId": 5, "port": 80}]}, "g1")
        self.assertEqual(thaw(config), {"server": {"name": "web", "flavorRef": "2", "metadata": {
            "mine": "1", "rax:autoscale:group:id": "g1", "rax:auto_scaling_group_id": "g1",
            CLB_5: '[{"port": 80}]'}}})

    def test_frozen_configuration_reads_the_same(self) -> None:
        """A frozen launch configuration (as the store keeps it) gives the same
        load balancers and body as the same plain JSON, read once or often."""
        args = {"server": {"name": "web", "flavorRef": "2", "metadata": {"mine": "1"},
                           "networks": [{"uuid": "n1"}]},
                "loadBalancers": [{"loadBalancerId": 5, "port": 80},
                                  {"loadBalancerId": "P1", "type": "RackConnectV3"}]}
        frozen = freeze(args)
        for _ in range(2):
            self.assertEqual(launch_load_balancers(frozen), launch_load_balancers(args))
            self.assertEqual(prepare_server_config(frozen, "g1"),
                             freeze(prepare_server_config(args, "g1")))
            self.assertEqual(prepare_server_config(frozen, "g2")["server"]["metadata"][
                "rax:autoscale:group:id"], "g2")

    def test_equal_configurations_keep_their_own_values(self) -> None:
        """Configurations equal in Python but not in JSON (1, 1.0 and true) each send
        Nova what they say."""
        bodies = [prepare_server_config(freeze({"server": {"flavorRef": "2", "x": value}}),
                                        "g1") for value in (1, 1.0, True)]
        self.assertEqual([json.dumps(thaw(body)["server"]["x"]) for body in bodies],
                         ["1", "1.0", "true"])

    def test_without_own_keys(self) -> None:
        """A released server keeps its owner's keys and loses every key of otter2's and
        Otter's."""
        metadata = {**server_metadata("g1", [CLBDescription("5", 80), RCv3Description("p1")]),
                    "rax:autoscale:server:state": "DRAINING", "mine": "1",
                    "rax:other": "2", "autoscale": "3"}
        self.assertEqual(without_own_keys(metadata), {"mine": "1", "rax:other": "2",
                                                      "autoscale": "3"})

    def test_name_server(self) -> None:
        """The name gets an -as<hex> suffix; no name becomes as<hex>."""
        named = nova.name_server({"server": {"name": "web"}}, "0a1b2c3d")
        self.assertEqual(named["server"]["name"], "web-as0a1b2c3d")
        self.assertEqual(nova.name_server({"server": {}}, "0a1b2c3d")["server"]["name"],
                         "as0a1b2c3d")


class ParseServerTests(SynchronousTestCase):
    """Nova's server JSON read into an ObservedServer."""

    def test_fields(self) -> None:
        """Every field comes from its source in the JSON."""
        server = nova.parse_server(server_json(metadata={
            "rax:autoscale:group:id": "g1", CLB_5: '[{"port": 80}]',
            "rax:autoscale:server:state": "DRAINING"}))
        self.assertEqual(server.id, "s1")
        self.assertEqual(server.state, ServerState.ACTIVE)
        self.assertEqual(server.created, 1427226182.0)
        self.assertEqual(server.servicenet_address, "10.0.0.5")
        self.assertEqual(server.desired_lbs, pset([CLBDescription("5", 80)]))
        self.assertTrue(server.draining)
        self.assertEqual((server.image_id, server.flavor_id), ("img", "2"))
        self.assertEqual(thaw(server.links), [{"rel": "self", "href": "http://nova/servers/s1"}])
        self.assertEqual(server.metadata["rax:autoscale:group:id"], "g1")

    def test_deleting_task_state(self) -> None:
        """A deleting task state makes the server DELETED whatever its status."""
        server = nova.parse_server(server_json(**{"OS-EXT-STS:task_state": " Deleting "}))
        self.assertEqual(server.state, ServerState.DELETED)

    def test_every_known_status(self) -> None:
        """Every Nova status otter2 knows is read as itself."""
        for state in ServerState:
            parsed = nova.parse_server(server_json(status=state.value))
            self.assertEqual(parsed.state, state)

    def test_unknown_status(self) -> None:
        """A status otter2 does not know is UNKNOWN_TO_OTTER."""
        for status in ["FLOATING", "active", None, 7, ["ACTIVE"]]:
            self.assertEqual(nova.parse_server(server_json(status=status)).state,
                             ServerState.UNKNOWN_TO_OTTER, status)

    def test_frozen_server_reads_as_its_json(self) -> None:
        """A server given frozen (as the simulated cloud hands its metadata and
        links) is read as the same JSON given plain, however often."""
        plain = server_json(metadata={"rax:autoscale:group:id": "g1", CLB_5: '[{"port": 80}]'})
        frozen = {**plain, "metadata": freeze(plain["metadata"]), "links": freeze(plain["links"])}
        for _ in range(2):
            self.assertEqual(nova.parse_server(frozen), nova.parse_server(plain))

    def test_servicenet_address(self) -> None:
        """The first IPv4 private address in 10/8 is the ServiceNet address, else ''."""
        addresses = {"private": [{"addr": "fd00::a", "version": 6},
                                 {"addr": "192.168.0.1", "version": 4},
                                 {"addr": "10.1.2.3"}, {"addr": "10.9.9.9", "version": 4}],
                     "public": [{"addr": "10.0.0.1", "version": 4}]}
        self.assertEqual(nova.parse_server(server_json(addresses=addresses)).servicenet_address,
                         "10.1.2.3")
        self.assertEqual(nova.parse_server(server_json(addresses={})).servicenet_address, "")

    def test_boot_from_volume(self) -> None:
        """A server booted from a volume (image "") has no image id."""
        self.assertIsNone(nova.parse_server(server_json(image="")).image_id)

    def test_created_with_offset_and_fraction(self) -> None:
        """Creation times with fractions, offsets or no zone (UTC) are epoch seconds."""
        self.assertEqual(nova.epoch("2015-03-24T19:43:02.500Z"), 1427226182.5)
        self.assertEqual(nova.epoch("2015-03-24T21:43:02+02:00"), 1427226182.0)
        self.assertEqual(nova.epoch("2015-03-24T19:43:02"), 1427226182.0)
        self.assertEqual(nova.epoch(" 2015-03-24T19:43:02Z "), 1427226182.0)


class ListingTests(SynchronousTestCase):
    """A page of servers/detail and its next link."""

    def test_page(self) -> None:
        """The servers and the rel=next link of a page."""
        body = {"servers": [{"id": "a"}], "servers_links": [
            {"rel": "previous", "href": "http://nova/servers/detail?marker=z"},
            {"rel": "next", "href": "http://nova/v2/t1/servers/detail?limit=100&marker=a"}]}
        servers, href = nova.parse_server_page(body)
        self.assertEqual(servers, [{"id": "a"}])
        if href is None:
            self.fail("the page has no rel=next link")
        self.assertEqual(nova.next_page_params(href), (("limit", "100"), ("marker", "a")))

    def test_last_page(self) -> None:
        """A page without a next link is the last."""
        self.assertEqual(nova.parse_server_page({"servers": []}), ([], None))

    def test_requests(self) -> None:
        """The requests are relative to the Cloud Servers endpoint; a create and a
        metadata write renew their token on 401 only (a 403 there is Nova's refusal)."""
        self.assertEqual(nova.list_servers_request("t1"), ServiceRequest(
            "t1", ServiceType.CLOUD_SERVERS, "GET", "servers/detail", (("limit", "100"),)))
        self.assertEqual(nova.set_metadata_item_request("t1", "s1", "rax:autoscale:server:state",
                                                        "DRAINING"),
                         ServiceRequest("t1", ServiceType.CLOUD_SERVERS, "PUT",
                                        "servers/s1/metadata/rax:autoscale:server:state",
                                        json={"meta": {"rax:autoscale:server:state":
                                                       "DRAINING"}}, reauth_codes=(401,)))
        self.assertEqual(nova.replace_metadata_request("t1", "s1", {}).reauth_codes, (401,))
        self.assertEqual(nova.create_server_request("t1", {}).reauth_codes, (401,))
        self.assertEqual(nova.delete_server_request("t1", "a/b").path, "servers/a%2Fb")
        self.assertEqual(nova.delete_server_request("t1", "a").reauth_codes, (401, 403))

    def test_launch_check_requests(self) -> None:
        """The image, the flavor and the limits are read from Cloud Servers."""
        for request, relative in [(nova.get_image_request("t1", "i/1"), "images/i%2F1"),
                                  (nova.get_flavor_request("t1", "f1"), "flavors/f1"),
                                  (nova.get_limits_request("t1"), "limits")]:
            self.assertEqual(request, ServiceRequest("t1", ServiceType.CLOUD_SERVERS, "GET",
                                                     relative))


class LaunchCheckAnswerTests(SynchronousTestCase):
    """What the answers about images and limits say."""

    def test_image_is_active(self) -> None:
        """Only an image whose status is ACTIVE is ready."""
        self.assertTrue(nova.image_is_active({"image": {"id": "i1", "status": "ACTIVE"}}))
        for body in [{"image": {"status": "SAVING"}}, {"image": {}}, {"image": None}, {},
                     None]:
            self.assertFalse(nova.image_is_active(body), body)

    def test_absolute_limits(self) -> None:
        """The absolute limits, or none when the answer has none."""
        limits = {"maxPersonality": 5, "maxPersonalitySize": 1000}
        self.assertEqual(nova.absolute_limits({"limits": {"absolute": limits, "rate": []}}),
                         limits)
        for body in [{"limits": {"rate": []}}, {"limits": None}, {}, None]:
            self.assertEqual(nova.absolute_limits(body), {}, body)


def fault(status: int, name: str, message: str) -> Response:
    return Response(status, {name: {"message": message, "code": status}})


QUOTA = "Quota exceeded for ram: Requested 1024, but already used 130048 of 131072 ram"


class CreateServerTests(SynchronousTestCase):
    """What Nova's answer to a create means."""

    def test_accepted(self) -> None:
        """202 is RETRY: wait for the server to become active."""
        self.assertEqual(nova.classify_create_server(Response(202, {"server": {"id": "s9"}})),
                         StepOutcome(Verdict.RETRY, ["waiting for server s9 to become active"], done=True))

    def test_bad_request(self) -> None:
        """A 400 badRequest is an invalid launch configuration (FAILURE)."""
        self.assertEqual(
            nova.classify_create_server(fault(400, "badRequest", "Invalid flavorRef provided.")),
            StepOutcome(Verdict.FAILURE, [
                "Server launch configuration is invalid: Invalid flavorRef provided."]))

    def test_quota(self) -> None:
        """A 403 quota message is FAILURE: servers cannot be created."""
        self.assertEqual(nova.classify_create_server(fault(403, "forbidden", QUOTA)),
                         StepOutcome(Verdict.FAILURE, [f"Servers cannot be created: {QUOTA}"]))

    def test_network_messages(self) -> None:
        """A plain-text 403 naming a network rule is an invalid launch configuration."""
        for message in [
                "Networks (00000000-0000-0000-0000-000000000000) not allowed",
                "Networks (00000000-0000-0000-0000-000000000000,"
                "11111111-1111-1111-1111-111111111111) required but missing",
                "Exactly 1 isolated network(s) must be attached"]:
            body = f"403 Forbidden\n\nAccess was denied to this resource.\n\n {message}  "
            self.assertEqual(nova.classify_create_server(Response(403, body)),
                             StepOutcome(Verdict.FAILURE, [
                                 f"Server launch configuration is invalid: {message}"]))

    def test_other_forbidden(self) -> None:
        """Another 403 is FAILURE with Nova's message and the status."""
        self.assertEqual(nova.classify_create_server(fault(403, "forbidden", "Policy says no")),
                         StepOutcome(Verdict.FAILURE, [
                             "Cloud Servers refused to create a server: Policy says no "
                             "(HTTP 403)"]))

    def test_rate_limit(self) -> None:
        """413 overLimit and 429 are RETRY."""
        for response in [fault(413, "overLimit", "Rate limited"), Response(429, "slow down")]:
            self.assertEqual(nova.classify_create_server(response).verdict, Verdict.RETRY)

    def test_compute_fault(self) -> None:
        """A 500 computeFault and other 5xx are RETRY with the message."""
        self.assertEqual(nova.classify_create_server(fault(500, "computeFault", "Boom")),
                         StepOutcome(Verdict.RETRY, [
                             "Cloud Servers failed to create a server: Boom (HTTP 500)"]))
        self.assertEqual(list(nova.classify_create_server(Response(503, None)).reasons),
                         ["Cloud Servers failed to create a server (HTTP 503)"])

    def test_unauthorized_is_not_a_group_error(self) -> None:
        """A 401 (after the performer re-authenticated) is RETRY, never FAILURE."""
        outcome = nova.classify_create_server(fault(401, "unauthorized", "Bad token"))
        self.assertEqual(outcome.verdict, Verdict.RETRY)
        self.assertIn("credentials", outcome.reasons[0])


class DeleteServerTests(SynchronousTestCase):
    """What Nova's answers to a delete and to the check after it mean."""

    def test_not_found_is_done(self) -> None:
        """404 is done: RETRY so that the next gather confirms it."""
        self.assertEqual(nova.classify_delete_server("s1", Response(404)), nova.deleted("s1"))
        self.assertEqual(nova.deleted("s1").verdict, Verdict.RETRY)

    def test_errors_are_never_failure(self) -> None:
        """A 4xx or 5xx to a delete is RETRY with a readable reason."""
        for status in [400, 401, 403, 409, 500]:
            outcome = nova.classify_delete_server("s1", fault(status, "x", "nope"))
            self.assertEqual(outcome.verdict, Verdict.RETRY)
            self.assertIn("server s1", outcome.reasons[0])

    def test_check(self) -> None:
        """404, a deleting task or a DELETED status confirm; an untouched server does not."""
        confirm = nova.classify_deletion_check
        self.assertEqual(confirm("s1", Response(404)), nova.deleted("s1"))
        self.assertEqual(confirm("s1", Response(200, {"server": {
            "status": "ACTIVE", "OS-EXT-STS:task_state": "deleting"}})), nova.deleted("s1"))
        self.assertEqual(confirm("s1", Response(200, {"server": {"status": "DELETED"}})),
                         nova.deleted("s1"))
        still = confirm("s1", Response(200, {"server": {"status": "ACTIVE",
                                                        "OS-EXT-STS:task_state": None}}))
        self.assertEqual(still.verdict, Verdict.RETRY)
        self.assertIn("still shows it ACTIVE", still.reasons[0])
        self.assertEqual(confirm("s1", Response(500)).verdict, Verdict.RETRY)


class SetMetadataItemTests(SynchronousTestCase):
    """What Nova's answer to a metadata write means."""

    def test_ok(self) -> None:
        """200 is SUCCESS."""
        self.assertEqual(nova.classify_set_metadata_item("s1", "k", Response(200)),
                         StepOutcome(Verdict.SUCCESS, done=True))

    def test_errors_are_retry(self) -> None:
        """A vanished server, too many items, rate limits and faults are RETRY."""
        cases = [fault(404, "itemNotFound", "Server does not exist"),
                 fault(403, "forbidden", "Maximum number of metadata items exceeds 40"),
                 fault(413, "overLimit", "slow"), fault(500, "computeFault", "boom")]
        for response in cases:
            outcome = nova.classify_set_metadata_item("s1", "k", response)
            self.assertEqual(outcome.verdict, Verdict.RETRY)
            self.assertIn("s1", outcome.reasons[0])
        self.assertIn("Maximum number of metadata items", nova.classify_set_metadata_item(
            "s1", "k", cases[1]).reasons[0])


class ErrorMessageTests(SynchronousTestCase):
    """The human part of an error body."""

    def test_shapes(self) -> None:
        """Nova faults, CLB messages, validation errors, RCv3 lists and text are read."""
        self.assertEqual(error_message({"itemNotFound": {"message": "gone", "code": 404}}),
                         "gone")
        self.assertEqual(error_message({"message": "busy", "code": 422}), "busy")
        self.assertEqual(error_message({"validationErrors": {"messages": ["a", "b"]},
                                        "message": "Validation Failure"}), "a; b")
        self.assertEqual(error_message({"errors": ["x", "y"]}), "x; y")
        self.assertEqual(error_message("  plain\n text "), "plain text")
        self.assertEqual(error_message(None), "")
        self.assertEqual(error_message({"odd": 1}), json.dumps({"odd": 1}))
