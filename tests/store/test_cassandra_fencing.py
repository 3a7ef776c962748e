"""
Tests for fencing in the Cassandra store (Note [Cassandra fencing]), on a
fake driver session: what a claim or another owner's write landing between
the statements of a fenced write leaves. The contract's fencing tests, which
every store passes, are in `tests.store.test_stores`.
"""

from __future__ import annotations

from collections.abc import Callable

from attrs import evolve

from otter2.model import Fence
from otter2.model.cloud import RecordedServer
from otter2.store.interface import FencedOut
from tests.store.test_cassandra import CassandraStoreCase, _event, _tables
from tests.store.test_stores import group, policy, present


class CassandraFencingTests(CassandraStoreCase):
    """A write fenced with an old token, checked before a newer owner claimed the
    bucket, is still refused once that owner has written the group, and a mark it
    clears meanwhile is put back."""

    async def prepare(self) -> None:
        await self.store.create_group(group(), [policy("p1")], [_event("p1", 10.0)], 10)
        await self.store.mark_divergent("t1", "g1")
        self.old = Fence(3, await self.store.claim_bucket(3))
        self.before = present(await self.store.load_group("t1", "g1"))

    def new_owner(self, writes: bool = True) -> Callable[[], object]:
        """What lands on the cluster when the new owner claims bucket 3 and, if it
        ``writes``, then makes its first fenced write of the group (raising the
        row's fences to its token)."""
        def landing() -> None:
            self.session.run("UPDATE bucket_owner SET token = %s WHERE bucket = %s "
                             "IF token = %s", (self.old.token + 1, 3, self.old.token))
            if writes:
                self.session.run(
                    "UPDATE scaling_group SET fences = %s WHERE tenant_id = %s AND "
                    "group_id = %s IF EXISTS", (f'{{"3":{self.old.token + 1}}}', "t1", "g1"))
        return landing

    def after_check(self, table: str, landing: Callable[[], object]) -> None:
        """Run ``landing`` just before the first write of ``table``: after the fenced
        write read the bucket's claim."""
        self.session.before.append(
            (lambda cql: cql.startswith(("UPDATE", "DELETE", "INSERT", "BEGIN")) and
             table in cql, landing))

    async def test_claims_and_checks_are_serial(self) -> None:
        """A claim is an LWT on bucket_owner at SERIAL; a fenced write reads the
        bucket's claim at SERIAL and saves the state in one LWT that compares the
        version and the row's fences."""
        await self.prepare()
        self.sent()
        await self.store.claim_bucket(3)
        [read, claim] = self.sent()
        self.assertEqual((_tables(read), read.consistency), ({"bucket_owner"}, "SERIAL"))
        self.assertEqual((claim.cql.split()[0], claim.serial), ("UPDATE", "SERIAL"))
        self.assertTrue(claim.cql.endswith("IF token = %s"))
        await self.store.save_state(evolve(self.before.state, desired=3),
                                    fence=Fence(3, self.old.token + 1))
        [check, _, write] = self.sent()
        self.assertEqual((_tables(check), check.consistency), ({"bucket_owner"}, "SERIAL"))
        self.assertTrue(write.cql.startswith("UPDATE scaling_group SET "), write.cql)
        self.assertTrue(write.cql.endswith("IF fences = %s AND version = %s"), write.cql)

    async def test_state_write_after_the_new_owners(self) -> None:
        """A state write checked before the claim, landing after the new owner's first
        write of the group, is refused and changes nothing."""
        await self.prepare()
        self.after_check("scaling_group", self.new_owner())
        with self.assertRaises(FencedOut):
            await self.store.save_state(evolve(self.before.state, desired=9), fence=self.old)
        self.assertEqual(present(await self.store.load_group("t1", "g1")), self.before)

    async def test_state_write_before_the_new_owners(self) -> None:
        """A state write checked before the claim and landing before the new owner's
        first write of the group is saved: the new owner's writes all come after it,
        and the old owner's next write is refused."""
        await self.prepare()
        self.after_check("scaling_group", self.new_owner(writes=False))
        saved = await self.store.save_state(evolve(self.before.state, desired=9),
                                            fence=self.old)
        self.assertEqual(present(await self.store.load_group("t1", "g1")).state, saved)
        with self.assertRaises(FencedOut):
            await self.store.save_state(evolve(saved, desired=2), fence=self.old)

    async def test_servers_after_the_new_owners(self) -> None:
        """A record of servers landing after the new owner's first write is refused."""
        await self.prepare()
        self.after_check("scaling_group", self.new_owner())
        with self.assertRaises(FencedOut):
            await self.store.save_servers("t1", "g1", [RecordedServer("s1")], self.old)
        self.assertEqual(present(await self.store.load_group("t1", "g1")).servers, [])

    async def test_firing_after_the_new_owners(self) -> None:
        """A firing landing after the new owner's first write is refused: the event
        stays pending and the next event's row it inserted is gone."""
        await self.prepare()
        self.after_check("scaling_schedule_v2", self.new_owner())
        with self.assertRaises(FencedOut):
            await self.store.fire_event(_event("p1", 10.0), evolve(self.before.state,
                                                                   desired=9),
                                        _event("p1", 70.0), True, fence=self.old)
        self.assertEqual(present(await self.store.load_group("t1", "g1")), self.before)
        self.assertEqual(self.event_rows(), [(10.0, "v1")])

    async def test_mark_cleared_while_claimed(self) -> None:
        """A mark cleared just after the new owner claimed the bucket is put back (the
        new owner may be converging the group for it) and the clearing refused."""
        await self.prepare()
        [mark] = await self.store.list_divergent()
        self.after_check("divergent", self.new_owner(writes=False))
        with self.assertRaises(FencedOut):
            await self.store.clear_divergent("t1", "g1", mark.mark, self.old)
        self.assertEqual([m.group_id for m in await self.store.list_divergent()], ["g1"])

    async def test_deletion_while_the_new_owner_writes(self) -> None:
        """A fenced deletion whose row the new owner writes before it is deleted is
        refused: the row stays, marked, for the new owner to finish the deletion."""
        await self.prepare()
        await self.store.mark_deleting("t1", "g1")
        self.after_check("scaling_policies", self.new_owner())
        with self.assertRaises(FencedOut):
            await self.store.delete_group("t1", "g1", self.old)
        self.assertIsNotNone(await self.store.load_group("t1", "g1", include_deleting=True))
        self.assertEqual([m.group_id for m in await self.store.list_divergent()], ["g1"])
        await self.store.delete_group("t1", "g1", Fence(3, self.old.token + 1))
        self.assertIsNone(await self.store.load_group("t1", "g1", include_deleting=True))
