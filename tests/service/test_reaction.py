"""
How fast the converger carries out changes on a Cloud Load Balancer, which
takes one change at a time (PENDING_UPDATE for a window after each, 422
meanwhile), in simulated time on a Clock against the simulated cloud: a
scale-down drains every node one window after the other before it removes
drained nodes, in bulk, and honours every drain; a change refused because
the load balancer is still busy is tried again promptly, not an interval
later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from effect import ComposedDispatcher

from otter2.cloud.request import ServiceRequest, ServiceType
from otter2.config import ConvergerConfig
from otter2.convergence.conclusion import PROMPTLY
from otter2.model.cloud import NodeCondition
from otter2.service.converger import Converger
from otter2.simulation import (
    Behaviour,
    CLBStatus,
    remove_node,
    set_load_balancer_status,
)
from tests.service.test_converger import ConvergerTestCase

WINDOW = 1.0


class CLBReactionTestCase(ConvergerTestCase):
    """A converger whose CLB changes are recorded, on a CLB with a one-second window."""

    settings = ConvergerConfig(interval=10, concurrency=20, limited_retry_iterations=3)
    behaviour = Behaviour(build_time=30, clb_update_time=WINDOW)

    def setUp(self) -> None:
        super().setUp()
        #: (time, method, path, ids) of every request that would change a CLB.
        self.changes: list[tuple[float, str, str, tuple[str, ...]]] = []
        self.converger = Converger(self.clock, ComposedDispatcher([self._record,
                                                                   self.dispatcher]),
                                   self.settings)

    def _record(self, intent: Any) -> None:
        if (isinstance(intent, ServiceRequest) and intent.method != "GET"
                and intent.service is ServiceType.CLOUD_LOAD_BALANCERS):
            self.changes.append((self.clock.seconds(), intent.method, intent.path,
                                 tuple(v for k, v in intent.params if k == "id")))

    def nodes(self) -> dict[int, NodeCondition]:
        """The conditions of the nodes of CLB 5, by node id."""
        return {node.id: node.condition
                for node in self.holder.cloud.load_balancers["t1"][5].nodes.values()}

    def watch(self, seconds: float, until: Callable[[], bool],
              ) -> list[tuple[float, dict[int, NodeCondition]]]:
        """
        The nodes of CLB 5 after every call the clock runs (the cloud changes
        only when called, so nothing is missed or seen late), until ``until``
        holds or ``seconds`` have passed.
        """
        end = self.clock.seconds() + seconds
        samples = [(self.clock.seconds(), self.nodes())]
        while not until() and self.clock.seconds() < end:
            now = self.clock.seconds()
            soonest = min((call.getTime() for call in self.clock.getDelayedCalls()),
                          default=end)
            self.clock.advance(max(0.0, min(soonest, end) - now))
            samples.append((self.clock.seconds(), self.nodes()))
        return samples


class ScaleDownTests(CLBReactionTestCase):
    """A scale-down on a CLB takes what the CLB imposes, and no more."""

    def test_drains_first_then_removes_in_bulk(self) -> None:
        """
        22 → 2 servers with a 5 s draining timeout: the 20 drains start one
        window apart, before any drained node leaves; each node leaves at
        least the draining timeout after its drain began; the drained nodes
        leave ten at a time when they can, and the whole scale-down ends
        within 20 windows plus the draining timeout.
        """
        self.make_group(desired=22, lb_id=5, draining_timeout=5)
        self.run_for(120, step=0.25)
        self.assertEqual((self.active(), self.lb_nodes(), self.store.divergent), (22, 22, {}))
        self.set_desired(2)
        self.converger.look_now()
        scaled_down = self.clock.seconds()
        self.changes.clear()
        samples = self.watch(120, lambda: self.lb_nodes() == 2 and self.active() == 2)
        drained_at: dict[int, float] = {}
        gone_at: dict[int, float] = {}
        for when, nodes in samples:
            for node_id, condition in nodes.items():
                if condition is NodeCondition.DRAINING:
                    drained_at.setdefault(node_id, when)
            for node_id in drained_at.keys() - nodes.keys():
                gone_at.setdefault(node_id, when)

        self.assertEqual((len(drained_at), len(gone_at), self.active(), self.lb_nodes()),
                         (20, 20, 2, 2))
        starts = sorted(drained_at.values())
        self.assertEqual([b - a for a, b in zip(starts, starts[1:], strict=False)],
                         [WINDOW] * 19)
        self.assertGreaterEqual(min(gone_at.values()), max(starts))
        for node_id, began in drained_at.items():
            self.assertGreaterEqual(gone_at[node_id] - began, 5, node_id)
        removals = [ids for _, method, _, ids in self.changes if method == "DELETE" and ids]
        self.assertEqual(max(len(ids) for ids in removals), 10)
        self.assertLess(len(removals), 20)
        self.assertLessEqual(max(gone_at.values()) - scaled_down, 20 * WINDOW + 5)


class BusyLoadBalancerTests(CLBReactionTestCase):
    """A change refused while the CLB is busy is made again as soon as it can be."""

    def test_refused_change_is_tried_again_promptly(self) -> None:
        """
        A node removed out of band while its CLB stays PENDING_UPDATE for 2.5 s
        is added again at the first look after the window, once per
        ``PROMPTLY`` and not an interval later.
        """
        self.make_group(desired=1, lb_id=5)
        self.run_for(60, step=0.25)
        self.assertEqual((self.lb_nodes(), self.store.divergent), (1, {}))
        [node_id] = self.nodes()
        now = self.clock.seconds()
        self.holder.cloud = set_load_balancer_status(
            remove_node(self.holder.cloud, "t1", 5, node_id), "t1", 5,
            CLBStatus.PENDING_UPDATE, now + 2.5)
        self.store.mark_divergent("t1", "g1")
        self.converger.look_now()
        self.changes.clear()
        self.watch(30, lambda: self.lb_nodes() == 1)
        self.assertEqual(self.lb_nodes(), 1)
        attempts = [when - now for when, method, _, _ in self.changes if method == "POST"]
        self.assertEqual(attempts, [0.0, PROMPTLY, 2 * PROMPTLY, 3 * PROMPTLY])
        self.assertLess(attempts[-1], self.settings.interval)
