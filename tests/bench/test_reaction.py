"""
Tests for otter2.bench.reaction: a change of capacity ends with exactly the
servers asked for serving, in simulated time, and both figures are there.
"""

from twisted.trial.unittest import SynchronousTestCase

from otter2.bench.reaction import (
    BASE,
    BUILD_TIME,
    CHANGE,
    CLB_WINDOW,
    DRAINING_TIMEOUT,
    ReactingGroup,
    clb_bound,
    figures,
)


class ReactionTests(SynchronousTestCase):
    """The reaction benchmark measures until the group serves as asked."""

    def test_change_ends_serving(self) -> None:
        """Up takes at least a build; down ends with the servers and nodes asked for."""
        group = ReactingGroup(seed=0)
        group.change_to(BASE)
        up = group.change_to(BASE + CHANGE)
        self.assertGreaterEqual(up, BUILD_TIME)
        self.assertEqual(group.serving(), (BASE + CHANGE, 0, BASE + CHANGE))
        down = group.change_to(BASE)
        self.assertGreater(down, 0)
        self.assertEqual(group.serving(), (BASE, 0, BASE))
        group.stop()

    def test_scale_down_at_the_clb_bound(self) -> None:
        """
        The scale-down takes the bound the CLB imposes (a window per drain, then
        the draining timeout), in simulated seconds, and no more.
        """
        self.assertEqual(clb_bound(), CHANGE * CLB_WINDOW + DRAINING_TIMEOUT)
        group = ReactingGroup(seed=1)
        group.change_to(BASE)
        group.change_to(BASE + CHANGE)
        self.assertEqual(group.change_to(BASE), clb_bound())
        group.stop()

    def test_scale_down_part_way_into_a_window(self) -> None:
        """
        A scale-down decided part-way into the CLB's window (here half a window
        after the scale-up's last change) takes the bound less that half: no
        window is lost to a look that comes before the load balancer takes
        changes.
        """
        group = ReactingGroup(seed=1)
        group.change_to(BASE)
        group.change_to(BASE + CHANGE)
        group.clock.advance(CLB_WINDOW / 2)
        self.assertEqual(group.change_to(BASE), clb_bound() - CLB_WINDOW / 2)
        group.stop()

    def test_figures(self) -> None:
        """The scale-up and the scale-down, each with its target and runs."""
        found = figures(runs=1)
        self.assertEqual([f.unit for f in found], ["s simulated"] * 2)
        self.assertEqual([f.target for f in found],
                         ["<= 70 s (build + 1 interval)", "<= 40 s (draining + 1 interval)"])
        self.assertEqual([len(f.raw["runs"]) for f in found], [1, 1])
        down = found[1].raw
        self.assertEqual((down["CLB changes"], down["CLB window s"], down["CLB bound s"],
                          down["over CLB bound s"] + clb_bound()),
                         (CHANGE, CLB_WINDOW, clb_bound(), found[1].value))
