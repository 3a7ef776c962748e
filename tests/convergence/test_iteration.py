"""
Tests for otter2.convergence.iteration: the intents of one iteration, in
order, with canned answers. (Wiring against the simulated cloud is in
tests/simulation.)
"""

from typing import Any

from attrs import evolve
from effect.testing import parallel_sequence, perform_sequence
from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud import nova
from otter2.cloud.request import Response
from otter2.config import ConvergerConfig
from otter2.convergence.conclusion import Conclusion, left_alone
from otter2.convergence.iteration import (
    GONE,
    autoscale_active,
    converge_one_group,
    record_servers,
)
from otter2.convergence.step_events import status_event
from otter2.intents import Now
from otter2.model import GroupState, GroupStatus, ScalingGroup
from otter2.model.cloud import (
    CLBDescription,
    CLBNode,
    LBNode,
    ObservedServer,
    RCv3Description,
    RCv3Node,
    RecordedServer,
    ServerState,
)
from otter2.model.outcome import Verdict
from otter2.store.intents import AppendJournal, DeleteGroup, LoadGroup, SaveServers, SaveState

LAUNCH = {"type": "launch_server", "args": {"server": {"flavorRef": "f", "imageRef": "i"}}}
SETTINGS = ConvergerConfig(interval=10, limited_retry_iterations=2)


def group(desired: int = 0, deleting: bool = False, servers: Any = (),
          status: GroupStatus = GroupStatus.ACTIVE, limited_retries: int = 0) -> ScalingGroup:
    return ScalingGroup(
        tenant_id="t1", group_id="g1",
        config={"name": "g", "cooldown": 0, "minEntities": 0, "maxEntities": 10},
        launch=LAUNCH, state=GroupState("t1", "g1", desired, status=status,
                                        limited_retries=limited_retries),
        created=0.0, deleting=deleting, servers=list(servers))


def listing(*servers: Any) -> Response:
    return Response(200, {"servers": list(servers), "servers_links": []})


def nova_server(server_id: str, status: str = "ACTIVE") -> dict[str, Any]:
    return {"id": server_id, "status": status, "created": "2020-01-01T00:00:00Z",
            "metadata": {"rax:autoscale:group:id": "g1"}, "links": [],
            "addresses": {"private": [{"addr": "10.0.0.1", "version": 4}]}}


class ConvergeOneGroupTests(SynchronousTestCase):
    """The shape of one iteration."""

    def test_missing_group(self) -> None:
        """A group that no longer exists is left alone and nothing else is done."""
        result = perform_sequence([(LoadGroup("t1", "g1", True), lambda _: None)],
                                  converge_one_group("t1", "g1"))
        self.assertEqual(result, left_alone(GONE))
        self.assertIsNone(result.look_again)

    def test_paused_group_is_left_alone(self) -> None:
        """A paused group is not gathered nor changed."""
        g = evolve(group(desired=3), state=evolve(group(desired=3).state, paused=True))
        result = perform_sequence([(LoadGroup("t1", "g1", True), lambda _: g)],
                                  converge_one_group("t1", "g1"))
        self.assertEqual(result, left_alone("the group is paused"))

    def test_paused_deleting_group_is_still_deleted(self) -> None:
        """Deleting goes on while paused."""
        g = group(desired=3, deleting=True)
        g = evolve(g, state=evolve(g.state, paused=True))
        result = perform_sequence([
            (LoadGroup("t1", "g1", True), lambda _: g),
            (Now(), lambda _: 100.0),
            (nova.list_servers_request("t1"), lambda _: listing()),
            (DeleteGroup("t1", "g1"), lambda _: None),
        ], converge_one_group("t1", "g1"))
        self.assertTrue(result.remove_group)

    def test_suspended_group_is_left_alone(self) -> None:
        """A suspended tenant's group is not gathered nor changed."""
        g = evolve(group(desired=3), state=evolve(group(desired=3).state, suspended=True))
        result = perform_sequence([(LoadGroup("t1", "g1", True), lambda _: g)],
                                  converge_one_group("t1", "g1"))
        self.assertEqual(result, left_alone("the tenant is suspended"))

    def test_suspended_deleting_group_is_still_deleted(self) -> None:
        """Deleting goes on while the tenant is suspended."""
        g = group(desired=3, deleting=True)
        g = evolve(g, state=evolve(g.state, suspended=True))
        result = perform_sequence([
            (LoadGroup("t1", "g1", True), lambda _: g),
            (Now(), lambda _: 100.0),
            (nova.list_servers_request("t1"), lambda _: listing()),
            (DeleteGroup("t1", "g1"), lambda _: None),
        ], converge_one_group("t1", "g1"))
        self.assertTrue(result.remove_group)

    def test_converged_group_succeeds_without_writing(self) -> None:
        """
        Nothing to do and nothing changed: the iteration succeeds and writes
        neither the record of servers (the same as the group's) nor the state.
        """
        g = group()
        result = perform_sequence([
            (LoadGroup("t1", "g1", True), lambda _: g),
            (Now(), lambda _: 100.0),
            (nova.list_servers_request("t1"), lambda _: listing()),
            (LoadGroup("t1", "g1", True), lambda _: g),
        ], converge_one_group("t1", "g1"))
        self.assertEqual(result, Conclusion(Verdict.SUCCESS, status=GroupStatus.ACTIVE,
                                            servers=[]))

    def test_changed_record_is_written(self) -> None:
        """A converged group whose servers changed since its last record gets the new
        record; once recorded, the next iteration writes it no more."""
        recorded = [RecordedServer("s1", address="10.0.0.1", active=True)]
        before, after = group(desired=1), group(desired=1, servers=recorded)
        expected = [
            (Now(), lambda _: 100.0),
            (nova.list_servers_request("t1"), lambda _: listing(nova_server("s1"))),
        ]
        result = perform_sequence([
            (LoadGroup("t1", "g1", True), lambda _: before), *expected,
            (SaveServers("t1", "g1", recorded), lambda _: None),
            (LoadGroup("t1", "g1", True), lambda _: after),
        ], converge_one_group("t1", "g1"))
        again = perform_sequence([
            (LoadGroup("t1", "g1", True), lambda _: after), *expected,
            (LoadGroup("t1", "g1", True), lambda _: after),
        ], converge_one_group("t1", "g1"))
        self.assertEqual((result.verdict, list(result.servers or ())),
                         (Verdict.SUCCESS, recorded))
        self.assertEqual(again, result)

    def test_failed_gather_is_a_retry_with_its_reason(self) -> None:
        """
        A Nova listing that fails makes the iteration RETRY with a readable
        reason, shown in the ACTIVE group's state as why it waits; it keeps the
        last record and looks again after one interval.
        """
        g = group(desired=1)
        reason = "Could not list the servers of Cloud Servers: unavailable (HTTP 503)"
        waiting = evolve(g.state, waiting=[reason])
        result = perform_sequence([
            (LoadGroup("t1", "g1", True), lambda _: g),
            (Now(), lambda _: 100.0),
            (nova.list_servers_request("t1"), lambda _: Response(503, "unavailable")),
            (LoadGroup("t1", "g1", True), lambda _: g),
            (SaveState(waiting), lambda _: evolve(waiting, version=1)),
        ], converge_one_group("t1", "g1", SETTINGS))
        self.assertEqual(result.verdict, Verdict.RETRY)
        self.assertEqual(len(result.reasons), 1)
        self.assertEqual(result.reasons[0], reason)
        self.assertEqual((result.servers, result.look_again), (None, 110.0))

    def test_rate_limited_gather_waits_as_asked(self) -> None:
        """
        A Nova listing refused with Retry-After makes the iteration RETRY with the
        reason shown, no sooner than asked and without counting a LIMITED_RETRY.
        """
        g = group(desired=1)
        g = evolve(g, state=evolve(g.state, limited_retries=2))
        limited = Response(429, {"overLimit": {"message": "slow down"}}, {"retry-after": "45"})
        reset = evolve(g.state, limited_retries=0, waiting=[
            "Could not list the servers of Cloud Servers: the service is limiting the rate "
            "of requests and asked to wait 45 s: slow down (HTTP 429)"])
        result = perform_sequence([
            (LoadGroup("t1", "g1", True), lambda _: g),
            (Now(), lambda _: 100.0),
            (nova.list_servers_request("t1"), lambda _: limited),
            (LoadGroup("t1", "g1", True), lambda _: g),
            (SaveState(reset), lambda _: evolve(reset, version=1)),
        ], converge_one_group("t1", "g1", SETTINGS))
        self.assertEqual((result.verdict, result.status, result.look_again,
                          result.limited_retries), (Verdict.RETRY, GroupStatus.ACTIVE, 145.0, 0))
        self.assertIn("limiting the rate of requests and asked to wait 45 s", result.reasons[0])

    def test_success_clears_error(self) -> None:
        """A group in ERROR that converges is set back to ACTIVE, and the change of
        status is journaled first."""
        g = group(status=GroupStatus.ERROR)
        cleared = evolve(g.state, status=GroupStatus.ACTIVE)
        journaled = status_event("t1", "g1", 100.0, "ERROR", "ACTIVE", [], [])
        result = perform_sequence([
            (LoadGroup("t1", "g1", True), lambda _: g),
            (Now(), lambda _: 100.0),
            (nova.list_servers_request("t1"), lambda _: listing()),
            (AppendJournal([journaled], 100.0 - ConvergerConfig().journal_retention),
             lambda _: None),
            (LoadGroup("t1", "g1", True), lambda _: g),
            (SaveState(cleared), lambda _: evolve(cleared, version=1)),
        ], converge_one_group("t1", "g1"))
        self.assertEqual(result.verdict, Verdict.SUCCESS)

    def test_limited_retry_count_is_stored(self) -> None:
        """A server stuck rebooting adds one to the group's stored LIMITED_RETRY count."""
        g = group(desired=1, limited_retries=1)
        counted = evolve(g.state, limited_retries=2, waiting=[
            "Waiting for server s1 to transition to ACTIVE from REBOOT"])
        result = perform_sequence([
            (LoadGroup("t1", "g1", True), lambda _: g),
            (Now(), lambda _: 100.0),
            (nova.list_servers_request("t1"), lambda _: listing(nova_server("s1", "REBOOT"))),
            parallel_sequence([[]]),  # the wait, a step without I/O
            (SaveServers("t1", "g1", [RecordedServer("s1", address="10.0.0.1")]),
             lambda _: None),
            (LoadGroup("t1", "g1", True), lambda _: g),
            (SaveState(counted), lambda _: evolve(counted, version=1)),
        ], converge_one_group("t1", "g1", SETTINGS))
        self.assertEqual((result.verdict, result.limited_retries, result.look_again),
                         (Verdict.LIMITED_RETRY, 2, 110.0))

    def test_limited_retry_past_the_limit_is_an_error(self) -> None:
        """The stored count past the limit puts the group in ERROR, 'Timed out', count
        reset; the change of status is journaled."""
        g = group(desired=1, limited_retries=2)
        reasons = ["Timed out: Waiting for server s1 to transition to ACTIVE from REBOOT"]
        failed = evolve(g.state, status=GroupStatus.ERROR, error_reasons=reasons,
                        limited_retries=0)
        journaled = status_event("t1", "g1", 100.0, "ACTIVE", "ERROR", reasons, [])
        result = perform_sequence([
            (LoadGroup("t1", "g1", True), lambda _: g),
            (Now(), lambda _: 100.0),
            (nova.list_servers_request("t1"), lambda _: listing(nova_server("s1", "REBOOT"))),
            parallel_sequence([[]]),  # the wait, a step without I/O
            (AppendJournal([journaled], 100.0 - SETTINGS.journal_retention), lambda _: None),
            (SaveServers("t1", "g1", [RecordedServer("s1", address="10.0.0.1")]),
             lambda _: None),
            (LoadGroup("t1", "g1", True), lambda _: g),
            (SaveState(failed), lambda _: evolve(failed, version=1)),
        ], converge_one_group("t1", "g1", SETTINGS))
        self.assertEqual((result.verdict, list(result.reasons), result.look_again),
                         (Verdict.FAILURE, reasons, None))

    def test_deleting_group_with_nothing_left_is_deleted(self) -> None:
        """A deleting group whose servers are all gone is removed from the store."""
        result = perform_sequence([
            (LoadGroup("t1", "g1", True), lambda _: group(desired=3, deleting=True)),
            (Now(), lambda _: 100.0),
            (nova.list_servers_request("t1"), lambda _: listing()),
            (DeleteGroup("t1", "g1"), lambda _: None),
        ], converge_one_group("t1", "g1"))
        self.assertEqual((result.verdict, result.remove_group, result.look_again),
                         (Verdict.SUCCESS, True, None))

    def test_vanished_server_checked_before_cleanup(self) -> None:
        """A recorded server missing from the group that Nova still has is left alone."""
        g = group(servers=[RecordedServer("s1", address="10.0.0.1", active=True)])
        result = perform_sequence([
            (LoadGroup("t1", "g1", True), lambda _: g),
            (Now(), lambda _: 100.0),
            (nova.list_servers_request("t1"), lambda _: listing()),
            parallel_sequence([[(nova.get_server_request("t1", "s1"),
                                 lambda _: Response(200, {"server": {"id": "s1",
                                                                     "status": "ACTIVE"}}))]]),
            (SaveServers("t1", "g1", []), lambda _: None),
            (LoadGroup("t1", "g1", True), lambda _: g),
        ], converge_one_group("t1", "g1"))
        self.assertEqual(result.verdict, Verdict.SUCCESS)


class RecordServersTests(SynchronousTestCase):
    """What the state names as active is what convergence keeps."""

    def test_only_kept_serving_servers_are_active(self) -> None:
        """A serving server the plan removes is recorded, but not as active."""
        servers = [ObservedServer("a", ServerState.ACTIVE, 0.0, "10.0.0.1"),
                   ObservedServer("b", ServerState.ACTIVE, 0.0, "10.0.0.2"),
                   ObservedServer("c", ServerState.BUILD, 0.0, "10.0.0.3")]
        record = record_servers(servers, serving={"a", "b"}, kept=["b", "c"])
        self.assertEqual([(r.id, r.active) for r in record],
                         [("a", False), ("b", True), ("c", False)])


class AutoscaleActiveTests(SynchronousTestCase):
    """A server serves when it is ACTIVE and on every desired load balancer."""

    def test_active_on_every_lb(self) -> None:
        """Only the ACTIVE server with a node on the CLB port and in the pool serves."""
        clb = CLBDescription("5", 80)
        pool = RCv3Description("P")
        servers = [
            ObservedServer("a", ServerState.ACTIVE, 0.0, "10.0.0.1"),
            ObservedServer("b", ServerState.ACTIVE, 0.0, "10.0.0.2"),
            ObservedServer("c", ServerState.BUILD, 0.0, "10.0.0.3"),
            ObservedServer("d", ServerState.ACTIVE, 0.0, "10.0.0.4"),
        ]
        nodes: list[LBNode] = [
            CLBNode("1", "10.0.0.1", CLBDescription("5", 80, weight=3)),
            RCv3Node("n1", RCv3Description("p"), "a"),
            CLBNode("2", "10.0.0.2", CLBDescription("5", 8080)),
            RCv3Node("n2", RCv3Description("p"), "b"),
            CLBNode("3", "10.0.0.3", CLBDescription("5", 80)),
            RCv3Node("n3", RCv3Description("p"), "c"),
            CLBNode("4", "10.0.0.4", CLBDescription("5", 80)),
        ]
        self.assertEqual(autoscale_active(servers, nodes, [clb, pool]), {"a"})
        self.assertEqual(autoscale_active(servers, nodes, []), {"a", "b", "d"})

    @given(servers=st.lists(st.builds(
        ObservedServer, id=st.sampled_from("abcd"),
        state=st.sampled_from([ServerState.ACTIVE, ServerState.BUILD]), created=st.just(0.0),
        servicenet_address=st.sampled_from(["", "10.0.0.1", "10.0.0.2"])), max_size=4),
        nodes=st.lists(st.one_of(
            st.builds(CLBNode, node_id=st.just("n"),
                      address=st.sampled_from(["", "10.0.0.1", "10.0.0.2"]),
                      description=st.builds(CLBDescription, st.sampled_from(["5", "6"]),
                                            st.sampled_from([80, 81]),
                                            weight=st.integers(1, 2))),
            st.builds(RCv3Node, node_id=st.just("n"),
                      description=st.builds(RCv3Description, st.sampled_from(["p", "P", "5"])),
                      cloud_server_id=st.sampled_from("abcd"))), max_size=6),
        wanted=st.lists(st.one_of(
            st.builds(CLBDescription, st.sampled_from(["5", "6"]), st.sampled_from([80, 81])),
            st.builds(RCv3Description, st.sampled_from(["p", "5"]))), max_size=3))
    def test_serving_is_being_on_an_equivalent_node_of_each(
            self, servers: list[ObservedServer], nodes: list[LBNode],
            wanted: list[CLBDescription | RCv3Description]) -> None:
        """An ACTIVE server serves exactly when, for each wanted load balancer, a
        node at its ServiceNet address (a CLB's) or of its id (a pool's) is
        equivalent to it."""
        def serves(server: ObservedServer) -> bool:
            mine = [n for n in nodes if (isinstance(n, CLBNode) and server.servicenet_address
                                         and n.address == server.servicenet_address)
                    or (isinstance(n, RCv3Node) and n.cloud_server_id == server.id)]
            return all(any(lb.equivalent_to(n.description) for n in mine) for lb in wanted)
        self.assertEqual(autoscale_active(servers, nodes, wanted),
                         {s.id for s in servers if s.state is ServerState.ACTIVE and serves(s)})
