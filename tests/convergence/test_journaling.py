"""
Tests for ``otter2.convergence.journaling`` and ``step_events``: what
iterations journal, run on the simulated cloud and the memory store on a
Clock, each step traced back through ``load_journal`` to its root (Note
[Root causes]).
"""

from __future__ import annotations

from collections import Counter

from attrs import evolve
from pyrsistent import pmap
from twisted.trial.unittest import SynchronousTestCase
from txeffect import perform

from otter2.config import ConvergerConfig
from otter2.convergence.causes import Attribution
from otter2.convergence.iteration import converge_one_group
from otter2.convergence.journaling import Recalled, Survey, attribute
from otter2.convergence.step_events import DELETE
from otter2.model import EventKind, Fence, JournalEvent
from otter2.model.cloud import ServerState
from otter2.model.execution import Execution, Trigger
from otter2.simulation import delete_server, remove_node, set_quota, set_server_status
from otter2.store.interface import FencedOut
from tests.convergence.tenant import TenantCase, clb

#: Two creates per iteration, so that a scale-up spans iterations.
LIMITED = ConvergerConfig(interval=5, limited_retry_iterations=3, create_server_limit=2)


class JournalTests(TenantCase):
    """A group on CLB 5 scaled by executions and damaged out of band."""

    def setUp(self) -> None:
        super().setUp()
        self.add_clb(5)
        self.make_group("g1", 0, lbs=[clb(5)])
        self.executions = 0

    def execute(self, desired: int) -> str:
        """An execution of a policy that sets the desired capacity, as the API records
        it (its receipt and journal event in one change); its id."""
        self.executions += 1
        state = self.group("g1").state
        execution = Execution(
            tenant_id="t1", group_id="g1", execution_id=f"exec-{self.executions}",
            policy_id="p1", trigger=Trigger.API, at=self.clock.seconds(),
            desired_before=state.desired, desired_after=desired)
        self.successResultOf(self.store.record_executions(
            evolve(state, desired=desired), [execution], True, 0.0, 0.0))
        return execution.execution_id

    def converge(self, rounds: int = 8) -> None:
        """Iterations 11 s apart, with two creates at most each."""
        for _ in range(rounds):
            self.do(converge_one_group("t1", "g1", LIMITED))
            self.clock.advance(11)

    def events(self) -> dict[str, JournalEvent]:
        """Every event of the group's journal, by id."""
        return dict(self.store.journal.get(("t1", "g1"), {}))

    def steps(self) -> list[JournalEvent]:
        """The step events about a server."""
        return [e for e in self.events().values()
                if e.kind is EventKind.STEP and e.server_id is not None]

    def root(self, event: JournalEvent) -> JournalEvent | None:
        """The root ``event`` walks back to through ``load_journal``, or None."""
        seen = 0
        while event.cause is not None and seen < 10:
            found = self.successResultOf(self.store.load_journal("t1", "g1", [event.cause]))
            if event.cause not in found:
                return None
            event, seen = found[event.cause], seen + 1
        return event if event.kind.is_root else None

    def roots_of(self, action: str) -> Counter[str]:
        """How many steps of ``action`` each root caused."""
        return Counter(root.event_id for e in self.steps() if e.details["action"] == action
                       for root in [self.root(e)] if root is not None)

    def servers(self) -> list[str]:
        """The group's servers in the simulated cloud, by id."""
        return sorted(self.holder.cloud.nova["t1"].servers)

    def test_every_step_walks_to_its_one_root(self) -> None:
        """Through a scale-up by an execution, another execution, a scale-down, an
        out-of-band deletion and a server going to ERROR, every step about a
        server walks to exactly one root: the execution whose slots it
        filled or emptied, or the observation of the server replaced."""
        first = self.execute(3)
        self.converge()
        second = self.execute(5)
        self.converge()
        self.assertEqual(self.roots_of("create"), {first: 3, second: 2})
        down = self.execute(2)
        self.converge()
        self.assertEqual(self.roots_of("delete"), {down: 3})
        survivors = self.servers()
        self.assertEqual(len(survivors), 2)

        self.holder.cloud = delete_server(self.holder.cloud, "t1", survivors[0])
        self.converge()
        vanished = [e for e in self.events().values() if e.kind is EventKind.OBSERVED]
        self.assertEqual([(e.server_id, e.details["what"]) for e in vanished],
                         [(survivors[0], "vanished")])

        broken = self.servers()[0]
        self.holder.cloud = set_server_status(self.holder.cloud, "t1", broken, ServerState.ERROR,
                                              self.clock.seconds())
        self.converge()
        observed = {e.details["what"]: e for e in self.events().values()
                    if e.kind is EventKind.OBSERVED}
        self.assertEqual(observed["broken"].server_id, broken)
        self.assertEqual(self.roots_of("create"), {
            first: 3, second: 2, observed["vanished"].event_id: 1,
            observed["broken"].event_id: 1})
        self.assertEqual(self.roots_of("delete"), {down: 3, observed["broken"].event_id: 1})
        self.assertEqual(len(self.servers()), 2)

        # Every step about a server has a root, the one its server's create or
        # removal had; the plans name their first root.
        created: dict[str, str] = {}
        for event in self.steps():
            root = self.root(event)
            assert root is not None, event
            if event.details["action"] == "create":
                created[event.server_id or ""] = root.event_id
        for event in self.steps():
            root = self.root(event)
            assert root is not None and event.server_id is not None
            self.assertIn(root.event_id, {created.get(event.server_id), down,
                                          observed["broken"].event_id,
                                          observed["vanished"].event_id})
            plan = self.events()[event.details["plan"]]
            self.assertEqual(plan.kind, EventKind.PLAN)

    def test_steady_rounds_append_nothing(self) -> None:
        """Once converged, further iterations append nothing to the journal."""
        self.execute(2)
        self.converge()
        before = self.events()
        self.assertTrue(before)
        self.converge(rounds=3)
        self.assertEqual(self.events(), before)

    def test_same_observation_appended_once(self) -> None:
        """A broken server whose deletion keeps failing is observed once however many
        iterations see it."""
        self.execute(1)
        self.converge()
        server = self.servers()[0]
        self.holder.cloud = set_server_status(self.holder.cloud, "t1", server, ServerState.ERROR,
                                              self.clock.seconds())
        self.failing.append(lambda request: request.method == "DELETE")
        self.converge(rounds=3)
        observed = [e for e in self.events().values() if e.kind is EventKind.OBSERVED]
        self.assertEqual(len(observed), 1)
        deletes = [e for e in self.steps() if e.details["action"] == "delete"]
        self.assertEqual({e.cause for e in deletes}, {observed[0].event_id})
        self.assertEqual({e.details["outcome"] for e in deletes}, {"retry"})

    def test_node_removed_by_hand_is_observed(self) -> None:
        """A node removed out of band is observed (a root, once) and its addition back
        is caused by that observation; the server's other steps keep its creation's
        root."""
        first = self.execute(1)
        self.converge()
        [node_id] = list(self.holder.cloud.load_balancers["t1"][5].nodes)
        self.holder.cloud = remove_node(self.holder.cloud, "t1", 5, node_id)
        self.converge()
        [observed] = [e for e in self.events().values() if e.kind is EventKind.OBSERVED]
        self.assertEqual((observed.details["what"], observed.details["lb_id"]),
                         ("node removed", "5"))
        adds = sorted((e.at, e.cause) for e in self.steps()
                      if e.details["action"] == "add node")
        self.assertEqual([cause for _, cause in adds], [first, observed.event_id])
        self.assertEqual(self.roots_of("create"), {first: 1})

    def test_status_change_follows_its_plan(self) -> None:
        """A group that cannot build servers goes to ERROR: the status event names
        the plan and is caused by its root."""
        first = self.execute(1)
        self.holder.cloud = set_quota(self.holder.cloud, "t1", 0)
        self.converge(rounds=1)
        statuses = [e for e in self.events().values() if e.kind is EventKind.STATUS]
        self.assertEqual([(e.details["status_after"], e.cause) for e in statuses],
                         [("ERROR", first)])

    def test_fenced_out_iteration_appends_nothing(self) -> None:
        """An iteration whose bucket has a newer owner appends nothing."""
        self.execute(2)
        before = self.events()
        stale = Fence(bucket=1, token=self.successResultOf(self.store.claim_bucket(1)))
        self.successResultOf(self.store.claim_bucket(1))
        failure = self.failureResultOf(perform(self.dispatcher, converge_one_group(
            "t1", "g1", LIMITED, fence=stale)))
        failure.trap(FencedOut)
        self.assertEqual(self.events(), before)


def step(event_id: str, action: str, cause: str, outcome: str = "ok") -> JournalEvent:
    """A step event about server s1."""
    return JournalEvent(tenant_id="t1", group_id="g1", event_id=event_id, kind=EventKind.STEP,
                        at=5.0, summary="", cause=cause, server_id="s1",
                        details={"action": action, "outcome": outcome})


class AttributeTests(SynchronousTestCase):
    """What `attribute` makes of a gone server, from the latest events about it."""

    def gone(self, *about: JournalEvent, creates: int = 1) -> Attribution:
        found = Survey(broken=(), gone=("s1",), draining=(), surplus=(), creates=creates,
                       kept=0, capacity=1, removed_nodes=())
        return attribute("t1", "g1", 10.0, found, Recalled(about=pmap({"s1": list(about)})))

    def test_deleted_by_us(self) -> None:
        """A server whose deletion otter2 journaled, even behind a later step on its
        node, is not observed as vanished: it keeps the deletion's root and is
        not replaced."""
        made = self.gone(step("a", "remove node", "down"), step("b", DELETE, "down"))
        self.assertEqual((made.observed, made.servers["s1"], made.creates),
                         ((), "down", (None,)))

    def test_refused_deletion_is_not_ours(self) -> None:
        """A server whose deletion failed and that is gone anyway vanished out of band:
        observed once, and replaced."""
        made = self.gone(step("b", DELETE, "down", outcome="failed"))
        [observed] = made.observed
        self.assertEqual((observed.details["what"], made.servers["s1"], made.creates),
                         ("vanished", observed.event_id, (observed.event_id,)))

    def test_replaced_once(self) -> None:
        """A vanished server whose observation is already journaled is not observed
        again, nor replaced again."""
        first = self.gone()
        [observed] = first.observed
        again = attribute("t1", "g1", 20.0, Survey(
            broken=(), gone=("s1",), draining=(), surplus=(), creates=1, kept=1, capacity=2,
            removed_nodes=()), Recalled(about=pmap({"s1": [observed]}),
                                        recorded=frozenset([observed.event_id])))
        self.assertEqual((again.observed, again.creates), ((), (None,)))
