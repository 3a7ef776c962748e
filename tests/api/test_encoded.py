"""
Tests for otter2.api.encoded: documents assembled from encoded parts are the
bytes ``json.dumps`` gives for the whole, and a group's documents are encoded
again exactly when the store hands out another copy of it.
"""

from __future__ import annotations

import json
from typing import Any

from attrs import evolve
from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from otter2.api.encoded import EncodedGroups, dumps, json_array, json_object
from otter2.api.render import Links, render_state, self_link
from otter2.model import GroupState, GroupStatus, ScalingGroup
from otter2.model.cloud import RecordedServer

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


def group(group_id: str = "g1", desired: int = 2, status: GroupStatus = GroupStatus.ACTIVE,
          servers: tuple[RecordedServer, ...] = ()) -> ScalingGroup:
    return ScalingGroup(
        tenant_id="t1", group_id=group_id,
        config={"name": "web ü", "cooldown": 0, "minEntities": 0, "maxEntities": 10},
        launch={"type": "launch_server", "args": {}},
        state=GroupState("t1", group_id, desired, status=status,
                         error_reasons=["no quota"], waiting=["building"]),
        created=1.0, servers=servers)


class AssembledJSONTests(SynchronousTestCase):
    """Objects and arrays of encoded parts are what json.dumps writes for the whole."""

    @given(members=st.lists(st.tuples(st.text(), json_values), max_size=5,
                            unique_by=lambda member: member[0]))
    def test_object(self, members: list[tuple[str, Any]]) -> None:
        """An object of encoded members is json.dumps of the dictionary."""
        self.assertEqual(json_object([(name, dumps(value)) for name, value in members]),
                         json.dumps(dict(members)).encode())

    @given(items=st.lists(json_values, max_size=5))
    def test_array(self, items: list[Any]) -> None:
        """An array of encoded items is json.dumps of the list."""
        self.assertEqual(json_array([dumps(item) for item in items]),
                         json.dumps(items).encode())


class EncodedGroupsTests(SynchronousTestCase):
    """Each group's documents, encoded once per copy of the group."""

    def setUp(self) -> None:
        self.links = Links("http://otter2.test/")
        self.encoded = EncodedGroups(self.links, kept=2)

    def test_documents(self) -> None:
        """A group's state, its state led by its id and links, and its listing entry are
        json.dumps of the rendered documents, in every status, with active servers or
        none."""
        server = RecordedServer("s1", links=[{"href": "http://n/s1", "rel": "self"}],
                                active=True)
        for each in (group(), group(status=GroupStatus.ERROR), group(servers=(server,)),
                     group(desired=0)):
            self.assertEqual(self.encoded.state(each), json.dumps(render_state(each)).encode())
            self.assertEqual(self.encoded.entry(each), json.dumps({
                "id": each.group_id, "links": self_link(self.links.group("t1", each.group_id)),
                "state": render_state(each)}).encode())
            self.assertEqual(self.encoded.identified_state(each), json.dumps({
                "id": each.group_id, "links": self_link(self.links.group("t1", each.group_id)),
                **render_state(each)}).encode())

    def test_encoded_once_per_copy(self) -> None:
        """The same copy of a group gets the very bytes encoded before; another copy
        (changed or equal) is encoded afresh and shows its change."""
        first = group()
        state, entry = self.encoded.state(first), self.encoded.entry(first)
        identified = self.encoded.identified_state(first)
        self.assertIs(self.encoded.state(first), state)
        self.assertIs(self.encoded.entry(first), entry)
        self.assertIs(self.encoded.identified_state(first), identified)
        changed = evolve(first, state=evolve(first.state, desired=5))
        self.assertEqual(json.loads(self.encoded.identified_state(changed))["desiredCapacity"],
                         5)
        self.assertEqual(json.loads(self.encoded.state(changed))["desiredCapacity"], 5)
        self.assertEqual(json.loads(self.encoded.entry(changed))["state"]["desiredCapacity"], 5)
        equal = evolve(first)
        self.assertIsNot(self.encoded.state(equal), state)
        self.assertEqual(self.encoded.state(equal), state)

    def test_kept_groups_bounded(self) -> None:
        """Past the number of groups kept, the least recently used is forgotten and
        encoded again when asked for."""
        a, b, c = group("a"), group("b"), group("c")
        kept = self.encoded.state(a)
        self.encoded.state(b)
        self.assertIs(self.encoded.state(a), kept)
        self.encoded.state(c)  # forgets b, the least recently used
        self.assertIs(self.encoded.state(a), kept)
        again = self.encoded.state(b)
        self.assertEqual(again, json.dumps(render_state(b)).encode())
