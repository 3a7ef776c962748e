"""
Fencing in Cassandra: the owners' tokens of each bucket, and the writes made
for a bucket refused once a later owner has claimed it (Note [Fencing] in
``otter2.partition``).

# Note [Cassandra fencing]
SQLite checks a write's token against the bucket's latest claim in the
write's own transaction. Cassandra compares and writes atomically only
within one partition (a lightweight transaction, LWT), and a bucket's claim
and a group's row are in different partitions. So the token is kept in two
places, and a fenced write is checked against both:

- the claim: ``bucket_owner`` holds each bucket's latest token, raised by
  `claim_bucket` in an LWT (``IF token = ?``, or ``IF NOT EXISTS`` for the
  first), so that two nodes claiming at once get different tokens;
- the group: the group's row holds, in ``fences``, the greatest token of
  each bucket that has written the row. Every fenced write of the row is an
  LWT that compares ``fences`` as it read it (``IF fences = ?``) and raises
  its bucket's entry to the writer's token, in the same LWT as the state's
  version or the pending events it already compares. It is refused
  (`FencedOut`, nothing written) when the row holds a newer token.

A fenced write first reads its bucket's token in ``bucket_owner`` (at
SERIAL, so that a claim in progress is finished first) and is refused if a
later owner claimed the bucket: after a claim, an old owner starts no write.
Its LWT on the group's row then makes sure that no write of the old owner
lands after any write of the new one, whatever the delays between: the two
owners' writes of a group are ordered, every old one before every new one.
What remains is a write of the old owner checked just before the claim and
landing after it, before the new owner's first write of that group: the
group's row sees it as the old owner's last write, and a state the new
owner computed from the version before it loses its compare-and-set and is
computed again. (Execution receipts, recorded by the API, carry no fence.)

Against the failure cases of Note [Fencing]:
- SIGKILL: nothing changes; the dead node's tokens are older than the claim
  of the next owner, which writes as usual.
- Cut off from ZooKeeper, or paused past the session: when the node goes on,
  a write not yet begun reads the new claim and is refused; a write in flight
  (past its read of ``bucket_owner``) either lands before the new owner's
  first write of the group, as said above, or is refused by the group's LWT.

Divergent marks are their own partitions, so clearing a mark (convergence
concluded the group needs nothing more) is checked differently: the claim is
read before the mark's deletion, as for any write, and again after it. If a
later owner claimed the bucket in between, it may have started converging
the group for that mark, and may be relying on it (a conclusion that looks
again later keeps the mark), so the mark is put back (marks are never
fenced) and the clearing refused with `FencedOut`. A claim after the second
read comes after the deletion: the new owner lists the marks after its claim
and finds none, as if the old owner had concluded before the hand-over.

Deleting a group is several statements (policies, events, mark, then the
row); fenced, it raises the row's ``fences`` first, and deletes the row last
``IF fences = ?`` as it read them after (holding no newer token). A later
owner that writes the group in between makes that last LWT fail: the deletion is refused with the
group's mark put back, and the new owner, converging the (deleting) group,
finishes it.

test-case-name: tests.store.test_cassandra_fencing, tests.store.test_stores
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import evolve

from otter2.model import Fence, GroupState
from otter2.store.cassandra_rows import change_group
from otter2.store.cassandra_session import (
    SERIAL,
    CQLConnection,
    Row,
    Statement,
    applied,
    found,
)
from otter2.store.interface import FencedOut, NoSuchGroup, StaleVersion

#: The group row's ``fences`` as read: text, or None when no fenced write was made.
Fences = str | None


class CassandraFences:
    """The bucket claims of `CassandraGroupStore`; Note [Cassandra fencing]."""

    def __init__(self, cql: CQLConnection) -> None:
        self._cql = cql

    async def token(self, bucket: int) -> int:
        """The bucket's latest token (0 if it was never claimed), read at SERIAL."""
        rows = await self._cql.execute(Statement(
            "SELECT token FROM bucket_owner WHERE bucket = %s", (bucket,), consistency=SERIAL))
        return int(rows[0]["token"]) if rows else 0

    async def check(self, fence: Fence | None) -> None:
        """`FencedOut` if a later owner has claimed the fence's bucket."""
        if fence is not None and await self.token(fence.bucket) > fence.token:
            raise FencedOut()

    async def claim(self, bucket: int) -> int:
        """A new token for ``bucket``, one more than the latest, by LWT."""
        current = await self.token(bucket)
        while True:
            if current == 0:
                answer = await self._cql.execute(Statement(
                    "INSERT INTO bucket_owner (bucket, token) VALUES (%s, %s) IF NOT EXISTS",
                    (bucket, 1), lwt=True))
            else:
                answer = await self._cql.execute(Statement(
                    "UPDATE bucket_owner SET token = %s WHERE bucket = %s IF token = %s",
                    (current + 1, bucket, current), lwt=True))
            if applied(answer):
                return current + 1
            current = int(answer[0].get("token") or 0)


    async def _row(self, tenant_id: str, group_id: str, columns: str) -> Row | None:
        rows = await self._cql.execute(Statement(
            f"SELECT {columns} FROM scaling_group WHERE tenant_id = %s AND group_id = %s",
            (tenant_id, group_id)))
        return rows[0] if rows else None

    async def save_state(self, state: GroupState, fence: Fence) -> GroupState:
        """The store's ``save_state`` fenced with ``fence``: the state and the raised
        fences in one LWT, ``IF version = ? AND fences = ?``."""
        await self.check(fence)
        row = await self._row(state.tenant_id, state.group_id, "version, fences")
        while row is not None:
            if row["version"] != state.version:
                raise StaleVersion()
            sets, compared = raise_fences(row["fences"], fence)
            answer = await self._cql.execute(change_group(
                state.tenant_id, state.group_id, state, sets, compared))
            if applied(answer):
                return evolve(state, version=state.version + 1)
            row = answer[0] if found(answer, "version") else None
        raise NoSuchGroup()

    async def write_row(self, tenant_id: str, group_id: str, values: Mapping[str, Any],
                        fence: Fence) -> None:
        """Set ``values`` in the group's row, with the raised fences, in one LWT
        ``IF fences = ?``; nothing if the row is gone."""
        await self.check(fence)
        row = await self._row(tenant_id, group_id, "fences")
        while row is not None:
            sets, compared = raise_fences(row["fences"], fence)
            answer = await self._cql.execute(change_group(
                tenant_id, group_id, None, {**values, **sets}, compared))
            if applied(answer):
                return
            row = answer[0] if has_row(answer, "fences") else None


def raise_fences(fences: Fences, fence: Fence | None) -> tuple[dict[str, str], dict[str, Fences]]:
    """
    What a write fenced with ``fence`` sets in the group's row and compares
    (``fences`` as read, raised to its token); nothing if it is not fenced.
    `FencedOut` if the row holds a newer token of the bucket.
    """
    if fence is None:
        return {}, {}
    tokens: dict[str, int] = json.loads(fences) if fences else {}
    if tokens.get(str(fence.bucket), 0) > fence.token:
        raise FencedOut()
    tokens[str(fence.bucket)] = fence.token
    return ({"fences": json.dumps(tokens, sort_keys=True, separators=(",", ":"))},
            {"fences": fences})


def has_row(answer: Sequence[Row], column: str) -> bool:
    """Whether a refused LWT comparing ``column`` found the row (its answer then
    holds the column, null or not; for an absent row only ``[applied]``)."""
    return bool(answer) and column in answer[0]
