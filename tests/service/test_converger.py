"""
Tests for otter2.service.converger and selfheal, on a Clock against the
simulated cloud and the in-memory store: they observe the cloud and the
store (and the cloud requests made), never the converger's own methods.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from attrs import evolve
from effect import ComposedDispatcher, sync_performer
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import provider

from otter2.cloud.request import NoSuchEndpoint, ServiceRequest, ServiceType
from otter2.config import ConvergerConfig
from otter2.effects.courtesy import Courtesy
from otter2.effects.dispatcher import make_dispatcher, store_dispatcher
from otter2.model import Fence, GroupState, GroupStatus, ScalingGroup
from otter2.model.cloud import NodeCondition, ServerState
from otter2.partition import AllBuckets, Turn
from otter2.service.converger import Converger
from otter2.service.selfheal import SelfHeal
from otter2.simulation import (
    Behaviour,
    Capacity,
    CloudHolder,
    SimulatedCloud,
    add_load_balancer,
    capacity,
    delete_server,
    fail_service,
    limit_rate,
    set_current_connections,
    set_server_status,
    simulated_resource,
    standalone_dispatcher,
)
from otter2.store.memory import MemoryGroupStore
from tests.effects.test_courtesy import REGION, Arrivals, TenantsAuthenticator
from tests.stub_treq import StubTreq


class ConvergerTestCase(SynchronousTestCase):
    """A converger over the simulated cloud (builds take 30 s)."""

    settings = ConvergerConfig(interval=5, concurrency=20, limited_retry_iterations=3)
    behaviour = Behaviour(build_time=30)

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.holder = CloudHolder(SimulatedCloud(self.behaviour))
        self.store = MemoryGroupStore()
        self.dispatcher = ComposedDispatcher([
            store_dispatcher(self.store), standalone_dispatcher(self.holder, self.clock)])
        self.converger = Converger(self.clock, self.dispatcher, self.settings)

    def make_group(self, group_id: str = "g1", desired: int = 2, tenant_id: str = "t1",
                   lb_id: int | None = None, draining_timeout: float = 0.0) -> None:
        args: dict[str, Any] = {"server": {"name": "web", "flavorRef": "f", "imageRef": "i"}}
        if lb_id is not None:
            self.holder.cloud = add_load_balancer(self.holder.cloud, tenant_id, lb_id,
                                                  self.clock.seconds())
            args["loadBalancers"] = [{"loadBalancerId": lb_id, "port": 80}]
            args["draining_timeout"] = draining_timeout
        group = ScalingGroup(
            tenant_id=tenant_id, group_id=group_id,
            config={"name": group_id, "cooldown": 0, "minEntities": 0, "maxEntities": 50},
            launch={"type": "launch_server", "args": args},
            state=GroupState(tenant_id, group_id, desired), created=0.0)
        self.store.create_group(group, [], [], 100)
        self.store.mark_divergent(tenant_id, group_id)

    def state(self, group_id: str = "g1") -> GroupState:
        return self.store.groups[("t1", group_id)].state

    def set_desired(self, desired: int, group_id: str = "g1") -> None:
        self.store.save_state(evolve(self.state(group_id), desired=desired))
        self.store.mark_divergent("t1", group_id)

    def active(self, group_id: str = "g1", tenant_id: str = "t1") -> int:
        return capacity(self.holder.cloud, tenant_id, group_id).active

    def lb_nodes(self, group_id: str = "g1") -> int:
        return capacity(self.holder.cloud, "t1", group_id).lb_nodes

    def recorded_active(self, group_id: str = "g1") -> list[str]:
        return [s.id for s in self.store.groups[("t1", group_id)].servers if s.active]

    def run_for(self, seconds: float, step: float = 1.0) -> None:
        self.converger.startService() if not self.converger.running else None
        end = self.clock.seconds() + seconds
        while self.clock.seconds() < end:
            self.clock.advance(step)


class ConvergerTests(ConvergerTestCase):
    """Divergent groups are converged, then their marks cleared."""

    def test_divergent_group_converges_and_mark_clears(self) -> None:
        """A marked group gets its servers and, once converged, loses its mark."""
        self.make_group(desired=2)
        self.run_for(1)
        self.assertEqual(capacity(self.holder.cloud, "t1", "g1").building, 2)
        self.assertEqual(len(self.store.divergent), 1)
        self.run_for(60)
        self.assertEqual(self.active(), 2)
        self.assertEqual(self.store.divergent, {})
        self.assertEqual(self.converger.converging, {})

    def test_new_mark_survives_an_iteration(self) -> None:
        """A mark made while an iteration ran is not cleared by it."""
        self.holder.cloud = evolve(self.holder.cloud,
                                   behaviour=evolve(self.behaviour, latency=3))
        self.make_group(desired=0)
        self.store.mark_divergent("t1", "g1")
        [mark] = self.successResultOf(self.store.list_divergent())
        self.converger.startService()
        self.store.mark_divergent("t1", "g1")
        self.assertEqual(self.store.divergent, {("t1", "g1"): mark.mark + 1})
        self.clock.advance(3)
        self.assertEqual(self.store.divergent, {("t1", "g1"): mark.mark + 1})
        self.run_for(20)
        self.assertEqual(self.store.divergent, {})

    def test_unmarked_groups_are_left_alone(self) -> None:
        """A group that is not marked is not converged."""
        self.make_group(desired=2)
        self.store.clear_divergent("t1", "g1")
        self.run_for(30)
        self.assertEqual(capacity(self.holder.cloud, "t1", "g1").building, 0)

    def test_failures_are_retried_every_interval(self) -> None:
        """While Nova fails, the group is looked at once per interval: no faster, no slower."""
        self.make_group(desired=1)
        self.holder.cloud = fail_service(self.holder.cloud, ServiceType.CLOUD_SERVERS,
                                         self.clock.seconds() + 3600, status=503)
        listings: list[float] = []

        def record(intent: Any) -> None:
            if isinstance(intent, ServiceRequest) and intent.path == "servers/detail":
                listings.append(self.clock.seconds())

        self.converger = Converger(self.clock, ComposedDispatcher([record, self.dispatcher]),
                                   self.settings)
        self.run_for(60, step=0.5)
        gaps = [b - a for a, b in zip(listings, listings[1:], strict=False)]
        self.assertEqual(gaps, [5.0] * 12)
        self.assertEqual(self.state().status, GroupStatus.ACTIVE)

    def test_limited_retry_ends_in_error(self) -> None:
        """A server stuck rebooting puts the group in ERROR with a 'Timed out' reason."""
        self.make_group(desired=1)
        self.run_for(60)
        self.assertEqual(self.active(), 1)
        [server] = self.holder.cloud.nova["t1"].servers.values()
        self.holder.cloud = set_server_status(self.holder.cloud, "t1", server.id,
                                              ServerState.HARD_REBOOT, self.clock.seconds())
        self.store.mark_divergent("t1", "g1")
        self.run_for(300)
        state = self.state()
        self.assertEqual(state.status, GroupStatus.ERROR)
        self.assertTrue(state.error_reasons[0].startswith("Timed out: "), state.error_reasons)
        self.assertIn(server.id, state.error_reasons[0])
        self.assertEqual(self.store.divergent, {})

    def test_paused_group(self) -> None:
        """A paused group is not converged and its mark is cleared."""
        self.make_group(desired=2)
        self.store.save_state(evolve(self.state(), paused=True))
        self.run_for(30)
        self.assertEqual(capacity(self.holder.cloud, "t1", "g1"), capacity(SimulatedCloud()))
        self.assertEqual(self.store.divergent, {})

    def test_suspended_group(self) -> None:
        """A suspended tenant's group is not converged and its mark is cleared."""
        self.make_group(desired=2)
        self.store.save_state(evolve(self.state(), suspended=True))
        self.run_for(60)
        self.assertEqual(capacity(self.holder.cloud, "t1", "g1"), Capacity())
        self.assertEqual(self.store.divergent, {})

    def test_stop_waits_for_iterations(self) -> None:
        """Stopping the service waits for the iterations in flight."""
        self.holder.cloud = evolve(self.holder.cloud,
                                   behaviour=evolve(self.behaviour, latency=3))
        self.make_group(desired=1)
        self.converger.startService()
        self.assertEqual(len(self.converger.converging), 1)
        stopped = self.converger.stopService()
        self.assertNoResult(stopped)
        for _ in range(30):
            self.clock.advance(1)
        self.successResultOf(stopped)


class ConcurrencyTests(ConvergerTestCase):
    """Many groups at once, up to the limit, one iteration per group."""

    settings = ConvergerConfig(interval=5, concurrency=2)
    behaviour = Behaviour(build_time=30, latency=2)

    def test_limit_and_one_per_group(self) -> None:
        """
        Five groups (each in a tenant of its own) with a limit of two: never
        more than two listings of Nova in flight, never two for one group.
        """
        for i in range(5):
            self.make_group(f"g{i}", desired=1, tenant_id=f"t{i}")
        in_flight: dict[str, int] = {}
        most: list[tuple[int, int]] = []  # (in flight, most in flight for one group)

        def track(intent: Any) -> Any:
            performer = self.dispatcher(intent)
            if not (isinstance(intent, ServiceRequest) and intent.path == "servers/detail"):
                return None

            def perform(dispatcher: Any, intent: ServiceRequest, box: Any) -> Any:
                tenant = intent.tenant_id
                in_flight[tenant] = in_flight.get(tenant, 0) + 1
                most.append((sum(in_flight.values()), max(in_flight.values())))

                class Done:
                    def succeed(self, result: Any) -> None:
                        in_flight[tenant] -= 1
                        box.succeed(result)

                    def fail(self, error: Any) -> None:
                        in_flight[tenant] -= 1
                        box.fail(error)
                return performer(dispatcher, intent, Done())
            return perform

        self.converger = Converger(self.clock, ComposedDispatcher([track, self.dispatcher]),
                                   self.settings)
        self.run_for(200, step=0.5)
        self.assertEqual((max(m[0] for m in most), max(m[1] for m in most)), (2, 1))
        self.assertEqual([self.active(f"g{i}", f"t{i}") for i in range(5)], [1] * 5)


class ThrottledTenantTests(ConvergerTestCase):
    """
    A tenant that the cloud asked to wait does not hold the converger back
    from other tenants: its calls are refused unsent while the wait lasts
    (see Note [Rate limits are the tenant's]), over the real HTTP performer.
    """

    settings = ConvergerConfig(interval=5, concurrency=1)
    behaviour = Behaviour(build_time=30, latency=0.25)

    def setUp(self) -> None:
        super().setUp()
        self.arrivals = Arrivals(simulated_resource(self.holder, self.clock), self.clock)
        self.http = StubTreq(self.arrivals)
        self.use(Courtesy(self.clock))

    def use(self, courtesy: Courtesy) -> None:
        self.dispatcher = make_dispatcher(
            self.clock, self.store, http=self.http, region=REGION, courtesy=courtesy,
            authenticator=TenantsAuthenticator(self.holder.cloud.base_url))
        self.converger = Converger(self.clock, self.dispatcher, self.settings)

    def run_for(self, seconds: float, step: float = 0.25) -> None:
        self.converger.startService() if not self.converger.running else None
        end = self.clock.seconds() + seconds
        while self.clock.seconds() < end:
            self.clock.advance(step)
            self.http.flush()

    def storm(self) -> float:
        """Six groups of t1, whose Nova calls are refused for ten minutes, and two of
        t2; the instant the storm ends."""
        storm_end = self.clock.seconds() + 600
        self.holder.cloud = limit_rate(self.holder.cloud, "t1", ServiceType.CLOUD_SERVERS,
                                       storm_end)
        for i in range(6):
            self.make_group(f"a{i}", desired=1, tenant_id="t1")
        for i in range(2):
            self.make_group(f"b{i}", desired=1, tenant_id="t2")
        return storm_end

    def test_other_tenant_goes_on(self) -> None:
        """
        With one converger slot and t1's round of six groups first in line, t2's
        groups converge while t1 is held; t1's groups stay ACTIVE saying they wait,
        reach Nova only with their round's first listing (made before the first
        429 came back), and converge once the wait is over.
        """
        storm_end = self.storm()
        self.run_for(120)
        self.assertEqual([self.active(f"b{i}", "t2") for i in range(2)], [1, 1])
        for i in range(6):
            state = self.store.groups[("t1", f"a{i}")].state
            self.assertEqual(state.status, GroupStatus.ACTIVE)
            self.assertIn("limiting the rate of requests", " ".join(state.waiting))
        refused = [t for t, tenant, _, path in self.arrivals.seen
                   if tenant == "t1" and t < storm_end]
        self.assertEqual(refused, [refused[0]])
        self.run_for(storm_end - self.clock.seconds() + 120)
        self.assertEqual([self.active(f"a{i}", "t1") for i in range(6)], [1] * 6)
        self.assertEqual(self.store.divergent, {})


class TimingTests(ConvergerTestCase):
    """The converger comes back when a wait ends, not after a guessed delay."""

    settings = ConvergerConfig(interval=5, concurrency=20, limited_retry_iterations=3)
    behaviour = Behaviour(build_time=40, clb_update_time=0.5)

    def sample_until(self, seconds: float, measure: Callable[[], Any]) -> list[tuple[float, Any]]:
        samples = []
        for _ in range(int(seconds / 0.25)):
            self.clock.advance(0.25)
            samples.append((self.clock.seconds(), measure()))
        return samples

    def test_active_server_joins_its_load_balancer_within_an_interval(self) -> None:
        """A server that turns ACTIVE is on its CLB at most one interval later."""
        self.make_group(desired=1, lb_id=5)
        self.converger.startService()
        self.clock.advance(0.25)
        [server] = self.holder.cloud.nova["t1"].servers.values()
        active_at = server.created + self.behaviour.build_time
        samples = self.sample_until(120, self.lb_nodes)
        joined = next(t for t, nodes in samples if nodes == 1)
        self.assertGreaterEqual(joined, active_at)
        self.assertLessEqual(joined, active_at + self.settings.interval)
        self.assertEqual((self.recorded_active(), self.store.divergent),
                         ([server.id], {}))

    def test_drained_node_leaves_within_timeout_and_an_interval(self) -> None:
        """
        A node draining for 32 s leaves its CLB when the drain ends (not at the
        next look after it), so within 32 s plus one interval of the scale-down.
        """
        self.make_group(desired=2, lb_id=5, draining_timeout=32)
        self.run_for(120, step=0.25)
        self.assertEqual((self.lb_nodes(), self.store.divergent), (2, {}))
        self.set_desired(1)
        scaled_down = self.clock.seconds()

        def nodes() -> tuple[int, int]:
            listed = self.holder.cloud.load_balancers["t1"][5].nodes.values()
            return (len(listed), sum(n.condition is NodeCondition.DRAINING for n in listed))
        samples = self.sample_until(120, nodes)
        began = next(t for t, (_, draining) in samples if draining == 1)
        left = next(t for t, (count, _) in samples if count == 1)
        self.assertLessEqual(began, scaled_down + self.settings.interval)
        # Removed when the drain ends, not at the next look after it.
        self.assertEqual(left, began + 32)
        self.assertEqual((self.active(), len(self.recorded_active())), (1, 1))

    def test_idle_load_balancer_ends_a_drain_at_the_next_look(self) -> None:
        """
        A node of a 300 s drain on a load balancer whose stats show no connection
        leaves at the next look after it began draining, not 300 s later.
        """
        self.make_group(desired=2, lb_id=5, draining_timeout=300)
        self.run_for(120, step=0.25)
        self.assertEqual((self.lb_nodes(), self.store.divergent), (2, {}))
        self.holder.cloud = set_current_connections(self.holder.cloud, "t1", 5, 0)
        self.set_desired(1)

        def nodes() -> tuple[int, int]:
            listed = self.holder.cloud.load_balancers["t1"][5].nodes.values()
            return (len(listed), sum(n.condition is NodeCondition.DRAINING for n in listed))
        samples = self.sample_until(120, nodes)
        began = next(t for t, (_, draining) in samples if draining == 1)
        left = next(t for t, (count, _) in samples if count == 1)
        self.assertGreater(left, began)
        self.assertLessEqual(left, began + self.settings.interval)
        self.assertEqual((self.active(), len(self.recorded_active())), (1, 1))

    def test_busy_load_balancer_drains_for_the_whole_timeout(self) -> None:
        """With connections on the load balancer, the drain lasts its timeout."""
        self.make_group(desired=2, lb_id=5, draining_timeout=40)
        self.run_for(120, step=0.25)
        self.holder.cloud = set_current_connections(self.holder.cloud, "t1", 5, 3)
        self.set_desired(1)
        samples = self.sample_until(120, lambda: (
            len(self.holder.cloud.load_balancers["t1"][5].nodes),
            any(n.condition is NodeCondition.DRAINING
                for n in self.holder.cloud.load_balancers["t1"][5].nodes.values())))
        began = next(t for t, (_, draining) in samples if draining)
        left = next(t for t, (count, _) in samples if count == 1)
        self.assertEqual(left, began + 40)

    def test_restart_keeps_the_limited_retry_count(self) -> None:
        """A converger that restarts in the middle of LIMITED_RETRY goes on counting."""
        self.make_group(desired=1)
        self.run_for(60)
        [server] = self.holder.cloud.nova["t1"].servers.values()
        self.holder.cloud = set_server_status(self.holder.cloud, "t1", server.id,
                                              ServerState.HARD_REBOOT, self.clock.seconds())
        self.store.mark_divergent("t1", "g1")
        while self.state().limited_retries < 2:
            self.clock.advance(0.5)
        self.successResultOf(self.converger.stopService())
        self.converger = Converger(self.clock, self.dispatcher, self.settings)
        seen = [(self.state().limited_retries, self.state().status)]
        for _ in range(60):
            self.run_for(0.5, step=0.5)
            if (self.state().limited_retries, self.state().status) != seen[-1]:
                seen.append((self.state().limited_retries, self.state().status))
        self.assertEqual(seen, [(2, GroupStatus.ACTIVE), (3, GroupStatus.ACTIVE),
                                (0, GroupStatus.ERROR)])
        self.assertTrue(self.state().error_reasons[0].startswith("Timed out: "))


class FencedOwnership:
    """The buckets of ``fences`` owned, each with its fence, as a partition would give them."""

    def __init__(self, fences: dict[int, Fence]) -> None:
        self.fences = fences
        self.working: Counter[int] = Counter()

    def owned(self) -> list[int]:
        return sorted(self.fences)

    def begin(self, bucket: int) -> Turn | None:
        if bucket not in self.fences:
            return None
        self.working[bucket] += 1
        return Turn(self.fences[bucket])

    def end(self, bucket: int) -> None:
        self.working[bucket] -= 1

    def subscribe(self, changed: Callable[[], None]) -> None:
        pass


class OwnedBucketsTests(ConvergerTestCase):
    """With several nodes, a converger works for its own buckets only, fenced
    (Note [Fencing]); in 16 buckets, g1 is in bucket 6 and g2 in bucket 16."""

    def test_only_owned_buckets_converge(self) -> None:
        """Only the groups of owned buckets converge; the others' marks stay for their
        owner; self-heal marks only the owned groups."""
        self.converger = Converger(self.clock, self.dispatcher, self.settings,
                                   AllBuckets([6]), buckets=16)
        self.make_group("g1", desired=1)
        self.make_group("g2", desired=1)
        self.run_for(60)
        self.assertEqual((self.active("g1"), self.active("g2")), (1, 0))
        self.assertEqual(list(self.store.divergent), [("t1", "g2")])
        self.store.clear_divergent("t1", "g2")
        SelfHeal(self.clock, self.dispatcher, 60, AllBuckets([6]), 16).heal()
        self.clock.advance(0)
        self.assertEqual(list(self.store.divergent), [("t1", "g1")])

    def test_fenced_out_conclusion_is_not_written(self) -> None:
        """Once another owner has claimed the bucket, the iteration's conclusion is
        refused: the group's state and mark stay as they were, for the new owner;
        the bucket's work is ended."""
        old = Fence(6, self.successResultOf(self.store.claim_bucket(6)))
        self.successResultOf(self.store.claim_bucket(6))
        ownership = FencedOwnership({6: old})
        self.converger = Converger(self.clock, self.dispatcher, self.settings, ownership,
                                   buckets=16)
        self.make_group("g1", desired=1)
        before = self.state()
        self.run_for(60)
        self.assertEqual(self.state(), before)
        self.assertEqual(list(self.store.divergent), [("t1", "g1")])
        self.assertEqual(+ownership.working, Counter())

    def test_current_fence_converges(self) -> None:
        """With the bucket's latest token the group converges and its mark clears."""
        fence = Fence(6, self.successResultOf(self.store.claim_bucket(6)))
        self.converger = Converger(self.clock, self.dispatcher, self.settings,
                                   FencedOwnership({6: fence}), buckets=16)
        self.make_group("g1", desired=1)
        self.run_for(60)
        self.assertEqual((self.active(), self.store.divergent), (1, {}))


class SelfHealTests(ConvergerTestCase):
    """Self-heal brings back what was damaged without any API call."""

    def test_deleted_server_comes_back(self) -> None:
        """A server deleted out of band is replaced after the next self-heal."""
        self.make_group(desired=2)
        selfheal = SelfHeal(self.clock, self.dispatcher, interval=60)
        selfheal.startService()
        self.addCleanup(selfheal.stopService)
        self.run_for(50)
        self.assertEqual((self.active(), self.store.divergent), (2, {}))
        victim = next(iter(self.holder.cloud.nova["t1"].servers))
        self.holder.cloud = delete_server(self.holder.cloud, "t1", victim)
        self.run_for(100)
        self.assertEqual(self.active(), 2)

    def test_error_groups_are_healed_too(self) -> None:
        """Groups in ERROR are marked like the others."""
        self.make_group(desired=0)
        self.store.save_state(evolve(self.state(), status=GroupStatus.ERROR))
        self.store.clear_divergent("t1", "g1")
        SelfHeal(self.clock, self.dispatcher, interval=60).heal()
        self.clock.advance(0)
        self.assertEqual(list(self.store.divergent), [("t1", "g1")])


class DeletionTests(ConvergerTestCase):
    """Deleting a group removes its servers, then the group, even through failures."""

    def test_force_delete(self) -> None:
        """A deleting group loses its servers and then its records."""
        self.make_group(desired=3)
        self.run_for(60)
        self.assertEqual(self.active(), 3)
        self.store.mark_deleting("t1", "g1")
        self.store.mark_divergent("t1", "g1")
        self.run_for(30)
        self.assertEqual(capacity(self.holder.cloud, "t1", "g1"), capacity(SimulatedCloud()))
        self.assertNotIn(("t1", "g1"), self.store.groups)
        self.assertEqual(self.store.divergent, {})

    def test_failed_delete_is_retried(self) -> None:
        """A delete that fails (the account's catalog lacks Nova for a while) is retried."""
        self.make_group(desired=2)
        self.run_for(60)
        self.store.mark_deleting("t1", "g1")
        self.store.mark_divergent("t1", "g1")
        outage_ends = self.clock.seconds() + 120

        @sync_performer
        def no_endpoint(dispatcher: Any, intent: ServiceRequest) -> None:
            raise NoSuchEndpoint("cloudServersOpenStack", "ORD")

        def catalog(intent: Any) -> Any:
            if isinstance(intent, ServiceRequest) and self.clock.seconds() < outage_ends:
                return no_endpoint
            return None

        self.converger.stopService()
        self.converger = Converger(self.clock, ComposedDispatcher([catalog, self.dispatcher]),
                                   self.settings)
        self.run_for(60)
        state = self.state()
        self.assertEqual(state.status, GroupStatus.ERROR)
        self.assertIn("Could not locate service cloudServersOpenStack", state.error_reasons[0])
        self.assertEqual(list(self.store.divergent), [("t1", "g1")])
        self.run_for(180)
        self.assertNotIn(("t1", "g1"), self.store.groups)
        self.assertEqual(self.active(), 0)


class BrokenBuildTests(ConvergerTestCase):
    """A group whose servers keep breaking says so and slows down (Note [Servers that keep failing])."""

    settings = ConvergerConfig(interval=5, concurrency=20)
    behaviour = Behaviour(build_time=30, error_rate=1.0)

    def test_backs_off_shows_error_and_recovers(self) -> None:
        """
        Every build ending in ERROR: the group shows ERROR naming the broken
        servers, builds far fewer servers than rebuilding at once would, and
        converges (ACTIVE, back-off ended) once builds succeed again.
        """
        creations: list[float] = []

        def record(intent: Any) -> None:
            if (isinstance(intent, ServiceRequest) and intent.method == "POST"
                    and intent.path == "servers"):
                creations.append(self.clock.seconds())

        self.converger = Converger(self.clock, ComposedDispatcher([record, self.dispatcher]),
                                   self.settings)
        self.make_group(desired=2)
        self.run_for(1800)
        state = self.state()
        self.assertEqual(state.status, GroupStatus.ERROR)
        self.assertTrue(state.error_reasons[0].startswith("Servers keep breaking"),
                        state.error_reasons)
        self.assertRegex(state.error_reasons[1], "^Latest broken: server .* went to ERROR$")
        # Rebuilding at once would build 2 servers every 35 s or so: about 100.
        self.assertLess(len(creations), 30)
        self.assertEqual(list(self.store.divergent), [("t1", "g1")])
        self.holder.cloud = evolve(self.holder.cloud,
                                   behaviour=evolve(self.behaviour, error_rate=0.0))
        self.run_for(1000)
        state = self.state()
        self.assertEqual((state.status, state.build_failures, state.build_after, self.active()),
                         (GroupStatus.ACTIVE, 0, None, 2))


class RoundTests(ConvergerTestCase):
    """
    The groups of a tenant due together share one observation of its cloud
    per round; a tenant's trouble stays its own; nothing is kept between
    rounds. See Note [Divergent marks].
    """

    def setUp(self) -> None:
        super().setUp()
        self.listings: list[tuple[float, str]] = []
        self.conclusions: list[LogEvent] = []

        def record(intent: Any) -> None:
            if isinstance(intent, ServiceRequest) and intent.path == "servers/detail":
                self.listings.append((self.clock.seconds(), intent.tenant_id))

        self.converger = Converger(self.clock, ComposedDispatcher([record, self.dispatcher]),
                                   self.settings)

        @provider(ILogObserver)
        def concluded(event: LogEvent) -> None:
            if event.get("log_namespace") == "otter2.converger" and "verdict" in event:
                self.conclusions.append(event)

        globalLogPublisher.addObserver(concluded)
        self.addCleanup(globalLogPublisher.removeObserver, concluded)

    def listings_per_tick(self, tenant_id: str = "t1") -> list[int]:
        """How many listings of the tenant's servers each tick that made any made."""
        return list(Counter(t for t, tenant in self.listings if tenant == tenant_id).values())

    def test_one_listing_per_round(self) -> None:
        """
        Ten groups of one tenant, due together, converge with one listing of
        the tenant's servers per round.
        """
        for number in range(10):
            self.make_group(f"g{number}", desired=2, lb_id=5 if number % 2 else None)
        self.run_for(120, step=0.5)
        self.assertEqual([self.active(f"g{number}") for number in range(10)], [2] * 10)
        self.assertEqual(self.lb_nodes("g1"), 2)
        per_tick = self.listings_per_tick()
        self.assertGreater(len(per_tick), 2)
        self.assertEqual(set(per_tick), {1})
        self.assertEqual(self.store.divergent, {})

    def test_rate_limited_tenant_retries_alone(self) -> None:
        """
        While Nova limits the rate of tenant t2, t1's groups converge; t2's
        groups retry, saying so, and none goes to ERROR; they converge once
        the limit is over.
        """
        for number in range(3):
            self.make_group(f"a{number}", desired=2)
            self.make_group(f"b{number}", desired=2, tenant_id="t2")
        limit_ends = self.clock.seconds() + 90
        self.holder.cloud = limit_rate(self.holder.cloud, "t2", ServiceType.CLOUD_SERVERS,
                                       limit_ends)
        self.run_for(80, step=0.5)
        self.assertEqual([self.active(f"a{number}") for number in range(3)], [2] * 3)
        self.assertEqual([self.active(f"b{number}", "t2") for number in range(3)], [0] * 3)
        limited = [event for event in self.conclusions if event["tenant_id"] == "t2"]
        self.assertEqual({event["group_id"] for event in limited}, {"b0", "b1", "b2"})
        self.assertEqual({event["verdict"] for event in limited}, {"RETRY"})
        for event in limited:
            self.assertIn("limiting the rate of requests", event["reasons"][0])
        self.assertEqual(set(self.listings_per_tick("t2")), {1})
        self.assertEqual([self.store.groups[("t2", f"b{number}")].state.status
                          for number in range(3)], [GroupStatus.ACTIVE] * 3)
        self.run_for(120, step=0.5)
        self.assertEqual([self.active(f"b{number}", "t2") for number in range(3)], [2] * 3)
        self.assertEqual(self.store.divergent, {})

    def test_out_of_band_deletion_seen_in_next_round(self) -> None:
        """
        A server deleted out of band between two rounds of the same groups is
        seen by the next one, which replaces it: nothing of the last round's
        observation is kept.
        """
        self.make_group("g1", desired=2)
        self.make_group("g2", desired=2)
        self.run_for(60)
        self.assertEqual((self.active("g1"), self.active("g2"), self.store.divergent),
                         (2, 2, {}))
        victim = next(server_id for server_id, server in
                      self.holder.cloud.nova["t1"].servers.items()
                      if server.metadata.get("rax:autoscale:group:id") == "g1")
        self.holder.cloud = delete_server(self.holder.cloud, "t1", victim)
        self.store.mark_divergent("t1", "g1")
        self.store.mark_divergent("t1", "g2")
        self.listings.clear()
        self.run_for(self.settings.interval)
        self.assertEqual(len(self.listings), 1)
        self.assertEqual(capacity(self.holder.cloud, "t1", "g1"),
                         Capacity(active=1, building=1))
        self.assertNotIn(victim, self.recorded_active("g1"))
        self.run_for(60)
        self.assertEqual((self.active("g1"), self.active("g2")), (2, 2))
