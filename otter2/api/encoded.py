"""
Groups' JSON documents encoded once: the state of a group (GET state, and
each group of a listing) as the bytes of its JSON, kept until the store
gives the API another copy of the group.

# Note [Encoded groups]
A group read from the store is an immutable value, and the stores keep the
copy they hand out until the group is written (Note [Group cache] in
``otter2.store.sqlite_database``): a group that did not change since the last
request is the very same object. Its state document is a function of that
object alone, so its encoded JSON is kept beside the object it came from
and reused while the store hands out that object; any other copy, changed
or not, is encoded afresh. A listing of a hundred groups then encodes only
the groups written since the last listing. The bytes are those
``json.dumps`` gives for the whole answer with its default separators, so
the answers are the same to the byte as when each was encoded whole.

test-case-name: tests.api.test_encoded
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from otter2.api.render import Links, render_state, self_link
from otter2.model import ScalingGroup

#: Groups whose encoded documents are kept, the most recently used.
KEPT_GROUPS = 10_000


def dumps(value: Any) -> bytes:
    """``value`` as JSON, as the API encodes its answers."""
    return json.dumps(value).encode()


def json_object(members: Sequence[tuple[str, bytes]]) -> bytes:
    """The JSON object of these names and encoded values, in order, byte for byte as
    ``json.dumps`` of the dictionary of their decoded values."""
    return b"{" + b", ".join(dumps(name) + b": " + value for name, value in members) + b"}"


def json_array(items: Sequence[bytes]) -> bytes:
    """The JSON array of these encoded items, as ``json.dumps`` writes it."""
    return b"[" + b", ".join(items) + b"]"


class EncodedGroups:
    """Each group's state document, its ``GET …/state`` body and its listing entry,
    each encoded once per copy of the group (Note [Encoded groups])."""

    def __init__(self, links: Links, kept: int = KEPT_GROUPS) -> None:
        self._links = links
        self._kept = kept
        # Per group: the copy the encodings were made from, and the encodings
        # made so far, by form ("state", "identified", "entry").
        self._encoded: OrderedDict[tuple[str, str],
                                   tuple[ScalingGroup, dict[str, bytes]]] = OrderedDict()

    def _forms(self, group: ScalingGroup) -> dict[str, bytes]:
        """The encodings kept for this very copy of the group (none yet for another)."""
        key = (group.tenant_id, group.group_id)
        found = self._encoded.get(key)
        if found is not None and found[0] is group:
            self._encoded.move_to_end(key)
            return found[1]
        forms: dict[str, bytes] = {}
        self._encoded[key] = (group, forms)
        self._encoded.move_to_end(key)
        if len(self._encoded) > self._kept:
            self._encoded.popitem(last=False)
        return forms

    def state(self, group: ScalingGroup) -> bytes:
        """The group's state document (``render_state``), encoded."""
        forms = self._forms(group)
        state = forms.get("state")
        if state is None:
            state = forms["state"] = dumps(render_state(group))
        return state

    def _identity(self, group: ScalingGroup) -> list[tuple[str, bytes]]:
        """The members that name the group: its ``id`` and self ``links``, encoded."""
        return [("id", dumps(group.group_id)),
                ("links", dumps(self_link(self._links.group(group.tenant_id,
                                                            group.group_id))))]

    def identified_state(self, group: ScalingGroup) -> bytes:
        """The state document as ``GET …/state`` answers it: led by the group's ``id``
        and self ``links``, then the same members as `state` (Note [State names its
        group] in ``otter2.api.groups``)."""
        forms = self._forms(group)
        identified = forms.get("identified")
        if identified is None:
            head = json_object(self._identity(group))
            identified = forms["identified"] = head[:-1] + b", " + self.state(group)[1:]
        return identified

    def entry(self, group: ScalingGroup) -> bytes:
        """The group as a listing shows it: its id, self link and state, encoded."""
        forms = self._forms(group)
        entry = forms.get("entry")
        if entry is None:
            entry = forms["entry"] = json_object(
                [*self._identity(group), ("state", self.state(group))])
        return entry
