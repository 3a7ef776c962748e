"""
Buckets split among the live otter2 nodes through ZooKeeper (kazoo), each
owned by one node at a time and fenced in the store: see Note [Fencing] in
``otter2.partition``.

kazoo blocks and calls back from its own threads. Every blocking call runs
in the reactor's thread pool (``deferToThread``) and every kazoo callback
(a watch, a change of the connection's state) only hands its news to the
reactor's thread (``callFromThread``): the state below is touched on the
reactor's thread alone. The partition's own waits (before joining again,
before claiming again after a failed claim) are timers of its ``clock``,
which tests drive by hand while ZooKeeper is real; the session's timeout is
kazoo's and ZooKeeper's, in real time.

test-case-name: tests.partition.test_zookeeper
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NodeExistsError, NoNodeError
from kazoo.protocol.states import WatchedEvent
from kazoo.recipe.watchers import ChildrenWatch
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.threads import deferToThread
from twisted.logger import Logger

from otter2.model import Fence
from otter2.partition.assignment import buckets_of
from otter2.partition.ownership import Turn

log = Logger(namespace="otter2.partition")

#: Seconds between attempts to join when ZooKeeper cannot be reached.
RETRY_JOIN = 5.0
#: Seconds before claiming again buckets whose claim failed in the store.
RETRY_CLAIM = 1.0


class ZooKeeperPartition(Service):
    """
    This node's share of ``buckets`` among the members alive in ZooKeeper
    under ``path``. ``claim`` records in the store that this node takes a
    bucket and results in the bucket's new fencing token.
    """

    def __init__(self, reactor: Any, hosts: str, buckets: Sequence[int],
                 claim: Callable[[int], Deferred[int]], path: str = "/otter2",
                 session_timeout: float = 10.0, identifier: str | None = None,
                 clock: IReactorTime | None = None) -> None:
        """``reactor`` hears kazoo's news (``callFromThread``); ``clock`` (the
        reactor if None) times the partition's waits."""
        self._reactor = reactor
        self._clock: IReactorTime = clock or reactor
        self.hosts = hosts
        self.buckets = sorted(buckets)
        self._claim = claim
        self._members_path = f"{path.rstrip('/')}/members"
        self._owners_path = f"{path.rstrip('/')}/owners"
        self.session_timeout = session_timeout
        self.identifier = identifier or f"{socket.getfqdn()}-{os.getpid()}"
        self._client: KazooClient | None = None
        # On the reactor's thread only:
        self.member: str | None = None  # our member node's name, in this session
        self.members: list[str] = []
        self.held: dict[int, int] = {}  # bucket -> its token, recorded in the store
        self._claiming: set[int] = set()
        #: Buckets ours by the assignment whose owner node another node still
        #: holds: a watch brings us back when it lets go.
        self.awaiting: set[int] = set()
        self._releasing: set[int] = set()
        self._busy: Counter[int] = Counter()
        self.connected = False
        self._session = 0  # grows when a session is lost: older news is ignored
        self._subscribers: list[Callable[[], None]] = []
        self._stopping = False
        self._rejoin = False  # a session was lost: join again once connected
        self._retry: Any = None  # the delayed rebalance after a failed claim
        self._idle: list[Deferred[None]] = []

    # -- Ownership ---------------------------------------------------------------

    def owned(self) -> Sequence[int]:
        if not self.connected or self._stopping:
            return []
        return sorted(b for b in self.held if b not in self._releasing)

    def begin(self, bucket: int) -> Turn | None:
        if (not self.connected or self._stopping or bucket not in self.held
                or bucket in self._releasing):
            return None
        self._busy[bucket] += 1
        return Turn(Fence(bucket, self.held[bucket]))

    def end(self, bucket: int) -> None:
        self._busy[bucket] -= 1
        if self._busy[bucket] <= 0:
            del self._busy[bucket]
            if bucket in self._releasing:
                self._release(bucket)
            if not self._busy:
                idle, self._idle = self._idle, []
                for waiting in idle:
                    waiting.callback(None)

    def subscribe(self, changed: Callable[[], None]) -> None:
        self._subscribers.append(changed)

    @property
    def claiming(self) -> frozenset[int]:
        """The buckets being taken now (their owner node, then their token)."""
        return frozenset(self._claiming)

    # -- the service ---------------------------------------------------------------

    def startService(self) -> None:
        Service.startService(self)
        self._stopping = False
        self._begin()

    def _begin(self) -> None:
        """Connect and join; if ZooKeeper cannot be reached, try again in a few seconds."""
        self._retry = None
        client = self._client = KazooClient(hosts=self.hosts, timeout=self.session_timeout)
        client.add_listener(self._state_changed)
        d = deferToThread(self._connect, client)
        d.addCallbacks(self._joined, self._not_joined, callbackArgs=(self._session,),
                       errbackArgs=(client,))

    def _not_joined(self, failure: Any, client: KazooClient) -> None:
        log.failure("Could not join the otter2 nodes in ZooKeeper at {hosts}; trying again "
                    "in {seconds} s", failure, hosts=self.hosts, seconds=RETRY_JOIN)
        if self._client is client:
            self._client = None
        deferToThread(_close, client).addErrback(lambda _: None)
        if self.running and not self._stopping:
            self._retry = self._clock.callLater(RETRY_JOIN, self._begin)

    def stopService(self) -> Deferred[None]:
        """Start no more work, wait for the work begun, then leave: closing the session
        removes this node's nodes at once, and the others take its buckets."""
        Service.stopService(self)
        self._stopping = True
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        return Deferred.fromCoroutine(self._leave())

    async def _leave(self) -> None:
        if self._busy:
            waiting: Deferred[None] = Deferred()
            self._idle.append(waiting)
            await waiting
        client, self._client = self._client, None
        self.held.clear()
        self.connected = False
        if client is not None:
            await deferToThread(_close, client)

    # -- on kazoo's threads ----------------------------------------------------------

    def _connect(self, client: KazooClient) -> str:
        client.start(timeout=max(15.0, self.session_timeout))
        client.ensure_path(self._members_path)
        client.ensure_path(self._owners_path)
        name = self._join(client)
        ChildrenWatch(client, self._members_path, self._members_seen)
        return name

    def _join(self, client: KazooClient) -> str:
        """Our member node, new in this session: its name."""
        path: str = client.create(f"{self._members_path}/m-", self.identifier.encode(),
                                  ephemeral=True, sequence=True)
        return path.rsplit("/", 1)[1]

    def _state_changed(self, state: str) -> None:
        self._reactor.callFromThread(self._connection, state)

    def _members_seen(self, children: list[str]) -> bool:
        self._reactor.callFromThread(self._members_changed, list(children))
        return self._client is not None

    def _take_node(self, client: KazooClient, bucket: int, member: str,
                   session: int) -> bool:
        """Create the bucket's owner node; False (and a watch on it) if another holds it."""
        path = f"{self._owners_path}/{bucket}"
        while True:
            try:
                client.create(path, member.encode(), ephemeral=True)
                return True
            except NodeExistsError:
                pass
            try:
                data, _ = client.get(path)
            except NoNodeError:
                continue
            if data.decode() == member:
                return True  # ours already (a claim of ours that failed in the store)

            def freed(event: WatchedEvent) -> None:
                self._reactor.callFromThread(self._rebalance, session)
            if client.exists(path, watch=freed) is not None:
                return False

    # -- on the reactor's thread -------------------------------------------------------

    def _joined(self, member: str, session: int) -> None:
        if session != self._session or self._stopping:
            return
        self.member = member
        self.connected = True
        log.info("Joined the otter2 nodes in ZooKeeper as {member}", member=member)
        self._rebalance(session)

    def _connection(self, state: str) -> None:
        if self._stopping:
            return
        if state == KazooState.SUSPENDED:
            # Start nothing until we know whether our session survives.
            self.connected = False
            log.warn("Lost touch with ZooKeeper: no new work for buckets {buckets} until "
                     "it answers", buckets=sorted(self.held))
        elif state == KazooState.LOST:
            # Our nodes are gone: others may own our buckets already.
            self.connected = False
            self._session += 1
            self.member = None
            self._rejoin = True
            self.held.clear()
            self._claiming.clear()
            self.awaiting.clear()
            self._releasing.clear()
            log.warn("The ZooKeeper session ended: this node owns no bucket until it rejoins")
        elif state == KazooState.CONNECTED and not self._stopping:
            if self._rejoin and self._client is not None:
                self._rejoin = False
                d = deferToThread(self._join, self._client)
                d.addCallbacks(self._joined, lambda f: log.failure(
                    "Could not rejoin the otter2 nodes", f), callbackArgs=(self._session,))
            elif self.member is not None:
                self.connected = True
                self._rebalance(self._session)

    def _members_changed(self, children: list[str]) -> None:
        self.members = sorted(children)
        self._rebalance(self._session)

    def _rebalance(self, session: int) -> None:
        """Let go of the buckets no longer ours and claim those newly ours."""
        if session != self._session or self.member is None or not self.connected \
                or self._stopping or self._client is None:
            return
        wanted = buckets_of(self.member, self.members, self.buckets) \
            if self.member in self.members else frozenset()
        self.awaiting &= wanted
        for bucket in list(self.held):
            if bucket not in wanted and bucket not in self._releasing:
                self._releasing.add(bucket)
                if not self._busy[bucket]:
                    self._release(bucket)
            elif bucket in wanted:
                self._releasing.discard(bucket)
        for bucket in sorted(wanted - set(self.held) - self._claiming):
            self._take(bucket, session)

    def _take(self, bucket: int, session: int) -> None:
        assert self._client is not None and self.member is not None
        self._claiming.add(bucket)
        d: Deferred[Any] = deferToThread(self._take_node, self._client, bucket,
                                         self.member, session)
        d.addCallback(self._node_taken, bucket, session)
        d.addErrback(self._claim_failed, bucket, session)

    def _node_taken(self, taken: bool, bucket: int, session: int) -> Deferred[None] | None:
        if session != self._session:
            return None
        if not taken:  # its owner still holds it: the watch brings us back
            self.awaiting.add(bucket)
            self._claiming.discard(bucket)
            return None
        self.awaiting.discard(bucket)
        return self._claim(bucket).addCallback(self._claimed, bucket, session)

    def _claimed(self, token: int, bucket: int, session: int) -> None:
        self._claiming.discard(bucket)
        if session != self._session:
            return
        self.held[bucket] = token
        log.info("Took bucket {bucket} (token {token})", bucket=bucket, token=token)
        self._rebalance(session)  # it may have stopped being ours meanwhile
        for changed in self._subscribers:
            changed()

    def _claim_failed(self, failure: Any, bucket: int, session: int) -> None:
        """The bucket's node was taken but no token claimed (the store failed): let go of
        the node, so that it is nobody's rather than held by a node not working for the
        bucket, and try again in a second if the bucket is still ours."""
        self._claiming.discard(bucket)
        log.failure("Could not take bucket {bucket}", failure, bucket=bucket)
        client = self._client
        if session != self._session or client is None:
            return
        d = deferToThread(_delete_owner_node, client, f"{self._owners_path}/{bucket}",
                          self.member)
        d.addErrback(lambda f: log.failure("Could not let go of bucket {bucket}", f,
                                           bucket=bucket))
        d.addCallback(lambda _: self._retry_later(session))

    def _retry_later(self, session: int) -> None:
        """Rebalance again in `RETRY_CLAIM` seconds (once, however many claims failed)."""
        if self.running and (self._retry is None or not self._retry.active()):
            self._retry = self._clock.callLater(RETRY_CLAIM, self._rebalance, session)

    def _release(self, bucket: int) -> None:
        """Let go of ``bucket``, whose work is over: the next owner may take it."""
        self._releasing.discard(bucket)
        self.held.pop(bucket, None)
        client, session = self._client, self._session
        if client is None:
            return
        log.info("Handing over bucket {bucket}", bucket=bucket)
        d = deferToThread(_delete_owner_node, client, f"{self._owners_path}/{bucket}",
                          self.member)
        d.addCallbacks(lambda _: self._rebalance(session), lambda f: log.failure(
            "Could not hand over bucket {bucket}", f, bucket=bucket))


def partition_check(partition: ZooKeeperPartition,
                    ) -> Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]:
    """The partition's part of ``/health``: healthy while in touch with ZooKeeper as a
    member; the members seen, the buckets this node works for, those it is
    taking now (``claiming``) and those the assignment gives it that another
    node still holds (``awaiting``: that node still works for them; a bucket
    that stays here long names a node that does not let go)."""
    async def check() -> tuple[bool, dict[str, Any]]:
        healthy = partition.connected and partition.member is not None
        return healthy, {"connected": partition.connected, "member": partition.member,
                         "members": len(partition.members),
                         "buckets": list(partition.owned()),
                         "claiming": sorted(partition.claiming),
                         "awaiting": sorted(partition.awaiting)}
    return check


def _delete_owner_node(client: KazooClient, path: str, member: str | None) -> None:
    """Delete the owner node at ``path`` if it is ``member``'s."""
    try:
        data, stat = client.get(path)
        if data.decode() == member:
            client.delete(path, version=stat.version)
    except NoNodeError:
        pass


def _close(client: KazooClient) -> None:
    client.stop()
    client.close()
