"""
Tests for otter2.convergence.destiny: the status table.
"""

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from otter2.convergence.destiny import COUNTED, DESTINY_BY_STATE, Destiny, by_destiny, destiny
from otter2.model.cloud import ObservedServer, ServerState

WAITING = [ServerState.REBOOT, ServerState.HARD_REBOOT, ServerState.MIGRATING,
           ServerState.PASSWORD, ServerState.REBUILD, ServerState.RESIZE,
           ServerState.REVERT_RESIZE]
HELD = [ServerState.RESCUE, ServerState.VERIFY_RESIZE, ServerState.SUSPENDED,
        ServerState.PAUSED, ServerState.SHELVED, ServerState.SHELVED_OFFLOADED]


def fate(state: ServerState, created: float = 0, now: float = 0, draining: bool = False,
         build_timeout: float = 3600) -> Destiny:
    return destiny(ObservedServer("s", state, created, draining=draining), now, build_timeout)


class DestinyTableTests(SynchronousTestCase):
    """DESTINY_BY_STATE gives every Nova state a fate."""

    def test_every_state_has_a_row(self) -> None:
        """Every ServerState, synthetic ones included, has a destiny."""
        self.assertEqual(set(DESTINY_BY_STATE), set(ServerState))

    def test_active_counts(self) -> None:
        """An ACTIVE server counts and is kept."""
        self.assertIs(fate(ServerState.ACTIVE), Destiny.COUNT)

    def test_transient_states_wait(self) -> None:
        """Servers that come back by themselves (REBOOT included, unlike Otter) wait."""
        self.assertEqual({state: fate(state) for state in WAITING},
                         {state: Destiny.WAIT for state in WAITING})

    def test_operator_held_states_hold(self) -> None:
        """RESCUE, VERIFY_RESIZE, SUSPENDED, PAUSED and SHELVED servers are left alone."""
        self.assertEqual({state: fate(state) for state in HELD},
                         {state: Destiny.HOLD for state in HELD})

    def test_broken_states_are_replaced(self) -> None:
        """ERROR and SHUTOFF servers are deleted and replaced (SHUTOFF as in Otter)."""
        self.assertEqual([fate(ServerState.ERROR), fate(ServerState.SHUTOFF)],
                         [Destiny.REPLACE, Destiny.REPLACE])

    def test_gone_states_are_cleaned_up(self) -> None:
        """DELETED and SOFT_DELETED servers only leave nodes to clean up."""
        self.assertEqual([fate(ServerState.DELETED), fate(ServerState.SOFT_DELETED)],
                         [Destiny.CLEANUP, Destiny.CLEANUP])

    def test_unknown_states_are_ignored(self) -> None:
        """UNKNOWN and unrecognised states are neither counted nor touched."""
        self.assertEqual([fate(ServerState.UNKNOWN), fate(ServerState.UNKNOWN_TO_OTTER)],
                         [Destiny.IGNORE, Destiny.IGNORE])

    def test_counted_destinies(self) -> None:
        """Serving, building, waiting and held servers count; the others do not."""
        self.assertEqual(COUNTED, {Destiny.COUNT, Destiny.BUILDING, Destiny.WAIT, Destiny.HOLD})


class DestinyTests(SynchronousTestCase):
    """destiny() applies the draining marker and the build timeout to the table."""

    def test_building_before_timeout(self) -> None:
        """A BUILD server younger than the build timeout is building."""
        self.assertIs(fate(ServerState.BUILD, created=0, now=3599), Destiny.BUILDING)

    def test_build_timeout_is_inclusive(self) -> None:
        """A BUILD server exactly build_timeout old is replaced (``>=``)."""
        self.assertIs(fate(ServerState.BUILD, created=0, now=3600), Destiny.REPLACE)

    def test_build_timeout_applies_to_build_only(self) -> None:
        """An old ACTIVE or waiting server is not timed out."""
        self.assertEqual([fate(ServerState.ACTIVE, now=10**6),
                          fate(ServerState.RESIZE, now=10**6)],
                         [Destiny.COUNT, Destiny.WAIT])

    def test_draining_active_or_build(self) -> None:
        """The draining marker on an ACTIVE or BUILD server means drain, even past timeout."""
        self.assertEqual([fate(ServerState.ACTIVE, draining=True),
                          fate(ServerState.BUILD, draining=True, now=10**6)],
                         [Destiny.DRAIN, Destiny.DRAIN])

    def test_draining_marker_ignored_in_other_states(self) -> None:
        """A marked server in another state gets its state's destiny."""
        self.assertEqual([fate(ServerState.ERROR, draining=True),
                          fate(ServerState.SUSPENDED, draining=True),
                          fate(ServerState.DELETED, draining=True)],
                         [Destiny.REPLACE, Destiny.HOLD, Destiny.CLEANUP])


class ByDestinyTests(SynchronousTestCase):
    """by_destiny groups servers as destiny decides, one by one."""

    @given(servers=st.lists(st.builds(ObservedServer, st.sampled_from(["a", "b", "c"]),
                                      st.sampled_from(ServerState), st.integers(0, 100),
                                      draining=st.booleans())),
           now=st.integers(0, 200), build_timeout=st.sampled_from([0, 50, 3600]))
    def test_as_destiny_says(self, servers: list[ObservedServer], now: int,
                             build_timeout: int) -> None:
        """Every server is in its destiny's list, in the order given."""
        expected: dict[Destiny, list[ObservedServer]] = {fate: [] for fate in Destiny}
        for server in servers:
            expected[destiny(server, now, build_timeout)].append(server)
        self.assertEqual(by_destiny(servers, now, build_timeout), expected)
