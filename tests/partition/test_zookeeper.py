"""
Tests for otter2.partition.zookeeper against a real ZooKeeper (tests/zookeeper.py)
and a real SQLite store: nodes split the buckets, hand them over only once
their work has ended, and a node cut off from ZooKeeper stops working before
another takes its buckets, whose late writes the store refuses.

The partitions' own waits run on a `task.Clock` the tests advance by hand;
ZooKeeper's news (members, owner nodes, sessions) is awaited as it comes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import fail
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.task import Clock, deferLater
from twisted.protocols.portforward import ProxyFactory, ProxyServer
from twisted.trial.unittest import TestCase

from otter2.model import Fence
from otter2.partition import ZooKeeperPartition, buckets_of
from otter2.partition.zookeeper import RETRY_CLAIM, partition_check
from otter2.store.interface import FencedOut, StoreUnavailable
from otter2.store.sqlite import SQLiteGroupStore
from tests.store.test_stores import group
from tests.zookeeper import shared_zookeeper

BUCKETS = range(1, 17)


class CuttableProxy:
    """A TCP proxy to ZooKeeper whose connections can be cut (a network partition)."""

    def __init__(self, port: int) -> None:
        self.connections: list[Any] = []
        self.cut = False
        proxy = self

        class Server(ProxyServer):
            def connectionMade(self) -> None:
                proxy.connections.append(self)
                if proxy.cut:
                    self.transport.abortConnection()  # type: ignore[attr-defined]
                    return
                super().connectionMade()

        factory = ProxyFactory("127.0.0.1", port)
        factory.protocol = Server
        self.listening = reactor.listenTCP(0, factory, interface="127.0.0.1")  # type: ignore[arg-type]
        self.port: int = self.listening.getHost().port  # type: ignore[attr-defined]

    def sever(self) -> None:
        """Cut every connection and refuse new ones."""
        self.cut = True
        for connection in self.connections:
            for side in (connection, connection.peer):
                if side is not None and side.transport is not None:
                    side.transport.abortConnection()

    def mend(self) -> None:
        """Let connections through again."""
        self.cut = False


class ZooKeeperPartitionTests(TestCase):
    """Several partitions, as several nodes would run them, on one ZooKeeper and store."""

    timeout = 60

    def setUp(self) -> None:
        self.zookeeper = shared_zookeeper()
        self.path = self.zookeeper.path()
        self.store = SQLiteGroupStore(IReactorThreads(reactor), self.mktemp() + ".sqlite")
        self.addCleanup(self.store.close)
        self.clock = Clock()  # the partitions' waits

    def node(self, name: str, hosts: str | None = None,
             claim: Callable[[int], Any] | None = None) -> ZooKeeperPartition:
        partition = ZooKeeperPartition(reactor, hosts or self.zookeeper.hosts, BUCKETS,
                                       claim or self.store.claim_bucket, path=self.path,
                                       session_timeout=2.0, identifier=name, clock=self.clock)
        partition.startService()
        self.addCleanup(lambda: partition.stopService() if partition.running else None)
        return partition

    async def until(self, check: Callable[[], bool], what: str, seconds: float = 20.0,
                    each: Callable[[], None] | None = None) -> None:
        deadline = time.monotonic() + seconds
        while True:
            if each is not None:
                each()
            if check():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not {what} within {seconds} s")
            await deferLater(reactor, 0.02, lambda: None)

    @staticmethod
    def share(node: ZooKeeperPartition) -> set[int] | None:
        """The buckets the assignment gives ``node`` among the members it sees (None
        before it has joined)."""
        if node.member is None or node.member not in node.members:
            return None
        return set(buckets_of(node.member, node.members, BUCKETS))

    @staticmethod
    def split(*nodes: ZooKeeperPartition) -> bool:
        """Whether the nodes own every bucket between them, each once."""
        owned = sorted(b for node in nodes for b in node.owned())
        return owned == list(BUCKETS) and all(len(node.members) == len(nodes)
                                              for node in nodes)

    async def test_nodes_split_and_take_over(self) -> None:
        """One node owns every bucket; a second joins and takes only its share;
        when it leaves, the first owns every bucket again, with newer tokens."""
        a = self.node("a")
        await self.until(lambda: self.split(a), "owning every bucket alone")
        first_tokens = dict(a.held)
        b = self.node("b")
        await self.until(lambda: self.split(a, b), "split between two nodes")
        self.assertTrue(a.owned() and b.owned())
        self.assertTrue(all(a.held[x] == first_tokens[x] for x in a.owned()),
                        "a kept the tokens of the buckets it kept")
        moved = list(b.owned())
        await b.stopService()
        await self.until(lambda: self.split(a), "taken back by the first node")
        self.assertTrue(all(a.held[x] > first_tokens[x] for x in moved))

    async def test_hand_over_waits_for_work_in_flight(self) -> None:
        """A bucket moving away is not taken by its new owner while its old owner
        still works for it; it is as soon as that work ends."""
        a = self.node("a")
        await self.until(lambda: self.split(a), "owning every bucket alone")
        turns = {bucket: a.begin(bucket) for bucket in BUCKETS}
        b = self.node("b")
        await self.until(lambda: len(a.members) == 2 and self.share(b) == b.awaiting,
                         "b finding each bucket of its share held by a")
        self.assertEqual(list(b.owned()), [], "b took a bucket a still works for")
        self.assertEqual(sorted(a.owned()), sorted(set(BUCKETS) - b.awaiting))
        healthy, details = await partition_check(b)()
        self.assertTrue(healthy)
        self.assertEqual((details["buckets"], details["awaiting"]), ([], sorted(b.awaiting)),
                         "/health shows the buckets b waits for")
        for bucket in BUCKETS:
            self.assertIsNotNone(turns[bucket])
            a.end(bucket)
        await self.until(lambda: self.split(a, b), "handed over")

    async def test_cut_off_node_stops_before_another_takes_over(self) -> None:
        """A node cut off from ZooKeeper starts no work from the moment kazoo says so,
        before its session ends and another node takes its buckets; its writes
        with the old tokens are refused; mended, it joins again and gets its
        share back."""
        proxy = CuttableProxy(self.zookeeper.port)
        self.addCleanup(proxy.listening.stopListening)
        a = self.node("a", f"127.0.0.1:{proxy.port}")
        b = self.node("b")
        await self.until(lambda: self.split(a, b), "split between two nodes")
        await self.store.create_group(group(), [], [], 10)
        stale = Fence(a.owned()[0], a.held[a.owned()[0]])
        proxy.sever()
        seen_b_before_a_stopped: list[bool] = []

        def watch() -> None:
            if not seen_b_before_a_stopped and stale.bucket in b.owned():
                seen_b_before_a_stopped.append(bool(a.owned()))
        await self.until(lambda: self.split(b), "taken over by b", each=watch)
        self.assertEqual(seen_b_before_a_stopped, [False])
        self.assertIsNone(a.begin(stale.bucket))
        state: Any = (await self.store.load_group("t1", "g1")).state  # type: ignore[union-attr]
        with self.assertRaises(FencedOut):
            await self.store.save_state(state, fence=stale)
        proxy.mend()
        await self.until(lambda: self.split(a, b), "split again once mended", 30)

    async def test_failed_claim_leaves_the_bucket_free(self) -> None:
        """A node that cannot claim tokens (its store fails) does not keep the buckets'
        nodes: another node gets its own share; once the store answers again, the
        first claims the rest when its wait before claiming again is over, not
        before."""
        failing = [True]

        def claim(bucket: int) -> Any:
            if failing[0]:
                return fail(StoreUnavailable("the store is closed"))
            return self.store.claim_bucket(bucket)
        a = self.node("a", claim=claim)
        await self.until(lambda: self.clock.getDelayedCalls() != [], "a waiting to claim again")
        b = self.node("b")
        await self.until(lambda: len(b.members) == 2 and len(b.owned()) > 0
                         and b.owned() == sorted(set(BUCKETS) - (self.share(a) or set())),
                         "b owning its share")
        await self.until(lambda: len(a.members) == 2 and not a.claiming,
                         "a's claims of its share failed")
        self.assertEqual(list(a.owned()), [])
        failing[0] = False
        await deferLater(reactor, 0, lambda: None)
        self.assertEqual(list(a.owned()), [], "a claimed before its wait was over")
        self.clock.advance(RETRY_CLAIM)
        await self.until(lambda: self.split(a, b), "split once the store answers")
        self.flushLoggedErrors(StoreUnavailable)
