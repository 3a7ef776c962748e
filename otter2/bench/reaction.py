"""
How long the converger takes to carry out a change of capacity, in simulated
time (deterministic, not wall time): a group of ``BASE`` servers on a CLB
gets 50 more (60 s builds) and, once they serve, loses them again (30 s
draining timeout).

The converger is the real service with its default settings on a ``Clock``
over the simulated cloud and the in-memory store. A change is made as the
daemon makes one: the group's desired capacity is saved, the group marked
divergent, and the converger told of the mark (``look_now``). The reaction is
the time from then until the cloud has exactly the new number of ACTIVE
servers, each on the CLB, and no other node. Targets: the build time plus one
converger interval up, the draining timeout plus one interval down.

The scale-down cannot meet its target on a faithful CLB, and the figure says
so with the bound the CLB imposes beside it. A node drains by a change of
its own (CLB's API updates one node per call; only removal is in bulk), and
after every change the load balancer refuses the next for its PENDING_UPDATE
window (``CLB_WINDOW`` in the simulated cloud). Nothing else in that API
stops new connections to a node while letting its open ones finish: removing
it cuts them, and the load balancer's own settings (access lists, throttling,
health monitor) act on every node alike. So the last of ``CHANGE`` drains
starts no sooner than ``CHANGE - 1`` windows after the first, the first waits
for the window of the scale-up's last change (the measure starts as that
change lands), and that drain lasts the draining timeout: the scale-down
takes at least ``CHANGE`` windows plus the draining timeout (Note [Order of
load-balancer changes] in ``otter2.convergence.transforming``). The removals
of drained nodes (ten per call) fit in the windows left while the last
drains run.

test-case-name: tests.bench.test_reaction
"""

from __future__ import annotations

from typing import Any

from attrs import evolve
from effect import ComposedDispatcher
from twisted.internet.task import Clock

from otter2.bench.report import Figure, median
from otter2.config import ConvergerConfig
from otter2.effects.dispatcher import store_dispatcher
from otter2.model import GroupState, ScalingGroup
from otter2.service.converger import Converger
from otter2.simulation import (
    Behaviour,
    CloudHolder,
    SimulatedCloud,
    add_load_balancer,
    capacity,
    standalone_dispatcher,
)
from otter2.store.memory import MemoryGroupStore

SECTION = "convergence"
BUILD_TIME = 60.0
DRAINING_TIMEOUT = 30.0
CLB_WINDOW = 1.0  # the simulated CLB's PENDING_UPDATE window after each change
BASE = 10
CHANGE = 50
STEP = 0.25
LIMIT = 3600.0
SETTINGS = ConvergerConfig()
TENANT, GROUP, LB = "t1", "g1", 5


class ReactingGroup:
    """One group on a CLB, its converger running on a Clock."""

    def __init__(self, seed: int, settings: ConvergerConfig = SETTINGS) -> None:
        self.clock = Clock()
        self.clock.advance(1_000_000)
        cloud = SimulatedCloud(Behaviour(build_time=BUILD_TIME, clb_update_time=CLB_WINDOW,
                                         node_limit=4 * (BASE + CHANGE),
                                         instance_quota=4 * (BASE + CHANGE)), seed=seed)
        self.holder = CloudHolder(add_load_balancer(cloud, TENANT, LB, self.clock.seconds()))
        self.store = MemoryGroupStore()
        args: dict[str, Any] = {
            "server": {"name": "web", "flavorRef": "f", "imageRef": "i"},
            "loadBalancers": [{"loadBalancerId": LB, "port": 80}],
            "draining_timeout": DRAINING_TIMEOUT}
        self.store.create_group(ScalingGroup(
            tenant_id=TENANT, group_id=GROUP,
            config={"name": GROUP, "cooldown": 0, "minEntities": 0, "maxEntities": 1000},
            launch={"type": "launch_server", "args": args},
            state=GroupState(TENANT, GROUP, 0), created=self.clock.seconds()), [], [], 10)
        dispatcher = ComposedDispatcher([store_dispatcher(self.store),
                                         standalone_dispatcher(self.holder, self.clock)])
        self.settings = settings
        self.converger = Converger(self.clock, dispatcher, settings)
        self.converger.startService()

    def serving(self) -> tuple[int, int, int]:
        """ACTIVE servers, servers in BUILD, and load-balancer nodes of the group."""
        found = capacity(self.holder.cloud, TENANT, GROUP)
        nodes = sum(len(lb.nodes) for lb in self.holder.cloud.load_balancers[TENANT].values())
        return found.active, found.building, nodes

    def change_to(self, desired: int) -> float:
        """Set the desired capacity as the API would and return the simulated
        seconds until the group serves with exactly that many servers."""
        state = self.store.groups[(TENANT, GROUP)].state
        self.store.save_state(evolve(state, desired=desired))
        self.store.mark_divergent(TENANT, GROUP)
        self.converger.look_now()
        changed = self.clock.seconds()
        self.clock.advance(0)  # what the reactor runs at once (the prompted tick)
        while self.serving() != (desired, 0, desired):
            if self.clock.seconds() - changed > LIMIT:
                raise RuntimeError(f"the group did not reach {desired} servers in {LIMIT} s: "
                                   f"{self.serving()}")
            self.clock.advance(self._next_step())
        return self.clock.seconds() - changed

    def _next_step(self) -> float:
        """Seconds to the next delayed call, at most ``STEP``: the cloud changes
        only when called, so the group is looked at after every call, on time."""
        now = self.clock.seconds()
        soonest = min((call.getTime() for call in self.clock.getDelayedCalls()),
                      default=now + STEP)
        return min(max(soonest - now, 0.0), STEP)

    def stop(self) -> None:
        """Stop the converger (what it has in flight stays on the clock)."""
        self.converger.stopService()


def reaction_times(seed: int) -> tuple[float, float]:
    """The simulated seconds of the scale-up and of the scale-down, one run."""
    group = ReactingGroup(seed)
    group.change_to(BASE)
    up = group.change_to(BASE + CHANGE)
    down = group.change_to(BASE)
    group.stop()
    return up, down


def figures(runs: int = 3) -> list[Figure]:
    """The reaction to +50 and to -50 servers, median of runs with different seeds."""
    ups, downs = [], []
    for seed in range(runs):
        up, down = reaction_times(seed)
        ups.append(up)
        downs.append(down)
    interval = SETTINGS.interval
    up_target, down_target = BUILD_TIME + interval, DRAINING_TIMEOUT + interval
    bound = clb_bound()
    return [
        Figure(SECTION, f"reaction to +{CHANGE} servers (CLB, {BUILD_TIME:.0f} s builds)",
               median(ups), "s simulated", f"<= {up_target:.0f} s (build + 1 interval)",
               median(ups) <= up_target,
               {"runs": ups, "interval s": interval, "build s": BUILD_TIME}),
        Figure(SECTION, f"reaction to -{CHANGE} servers ({DRAINING_TIMEOUT:.0f} s draining)",
               median(downs), "s simulated",
               f"<= {down_target:.0f} s (draining + 1 interval)", median(downs) <= down_target,
               {"runs": downs, "interval s": interval, "draining s": DRAINING_TIMEOUT,
                "CLB changes": CHANGE, "CLB window s": CLB_WINDOW,
                "CLB bound s": bound, "over CLB bound s": median(downs) - bound}),
    ]


def clb_bound() -> float:
    """
    The fewest simulated seconds any scale-down by ``CHANGE`` drained nodes
    can take on one CLB: a window per drain, then the draining timeout (see
    the module docstring).
    """
    return CHANGE * CLB_WINDOW + DRAINING_TIMEOUT
