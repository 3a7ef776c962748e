"""
Which buckets this node works for: all of them when it runs alone
(`AllBuckets`), or its share among the live nodes in ZooKeeper
(`ZooKeeperPartition`), each bucket owned by one node at a time and fenced.

A bucket (1..``scheduler.buckets``) holds the groups whose id hashes to it
(``otter2.control.schedule.group_bucket``) and their schedule events: the
converger converges only the marked groups of the buckets this node owns,
the scheduler fires only their events, and self-heal marks only their
groups. Anyone may *mark* a group (the API, the scheduler, self-heal of
another node): marks are never fenced and never lost, and whichever node
owns the group's bucket converges it.

# Note [Fencing]
Two nodes converging one group at once over-create or over-delete servers;
two nodes firing one event fire it twice. So a node works for a bucket only
while it owns it, and every store write made for that work is refused once
it no longer does.

Ownership. Every node keeps an ephemeral member node under ``members``; from
the sorted members each node computes the same assignment (rendezvous
hashing, ``assignment``). To take a bucket a node creates the ephemeral node
``owners/<bucket>``; if it exists, the old owner still holds the bucket, and
the new one waits (a watch) until it is gone. Having created it, the node
asks the store for a fencing token (`claim_bucket`: one more than the last
token of the bucket, in one transaction), and only then starts work for it.

Hand-over. When the assignment moves a bucket away, its owner stops starting
work for it at once (`Ownership.begin` says no), waits until the work it
began has ended (`Ownership.end`: rounds of the converger and the event
being fired finish or fail), and only then deletes its owner node, so the
next owner starts after the old one has stopped. A node stopped cleanly does
the same for all its buckets and closes its session.

The token. Every write made for a bucket carries the token its owner got
(the `Fence`): saving a group's state or servers, deleting a group, clearing
its mark, firing an event. The store refuses it, with `FencedOut` and
nothing written, in the same transaction as the write, when a later owner
has claimed the bucket. Tokens come from the store, so they grow across
owners even if ZooKeeper's data is wiped.

Failures:
- SIGKILL, a crash, a machine gone: ZooKeeper ends the node's session after
  ``session_timeout`` seconds and deletes its nodes; the buckets go to the
  others, who claim new tokens. Marks and events are in the store: a mark is
  cleared only by a successful (fenced) conclusion and an event only by its
  (fenced) firing, so whatever the dead node left half-done is done again by
  the new owner (convergence is idempotent: it looks at the cloud afresh).
- Cut off from ZooKeeper (a network partition): kazoo reports SUSPENDED
  when it stops hearing from ZooKeeper, about two thirds of the session
  timeout in, before ZooKeeper ends the session; from then on the node
  starts no work (`begin` says no) until it is connected again with its
  session intact. If the session ended (LOST), the node owns nothing, its
  late writes are refused, and it joins again as a new member.
- A pause longer than the session (SIGSTOP, a long garbage collection, a
  frozen VM): the node cannot notice anything while paused; meanwhile its
  session ended and its buckets went to others, who claimed newer tokens. When
  it resumes, every write it had in flight, or starts before kazoo tells it the
  session is LOST, is refused by the store. Several nodes on one SQLite file
  add a case: a node paused in the middle of a write holds the file's one
  write lock, so no other node can claim (or write) until it goes on and
  commits, its fence checked before any newer claim: the buckets move late,
  never unsafely.

On Cassandra the check and the write cannot be one transaction (a claim
and a group are different partitions): the token is checked against the
claim before the write, and against the greatest token that has written
the group in the write's own compare-and-set, so a stale write may land
after a claim but never after the new owner's first write of that group;
a mark cleared as the bucket is claimed is put back. See Note [Cassandra
fencing] in ``otter2.store.cassandra_fencing``.

The honest limit: calls to the cloud cannot carry a token. A node that lost
its bucket (cut off, or paused and resumed) may still make the cloud calls
of the iteration it had in flight, or of one it starts in the moment before
it learns it was suspended, while the new owner converges the same group:
for that overlap both may, for example, create a server. The overlap is
bounded by one iteration of the old owner (its steps are bounded by the
cloud client's timeouts) from the moment its session ended or it was
suspended; its conclusion is then refused, and the next iteration of the
new owner sees every server the cloud has for the group (the cloud is the
source of truth: servers are found by their metadata) and deletes any
excess. Nothing leaks; a group may briefly have more servers than desired.

test-case-name: tests.partition.test_zookeeper, tests.partition.test_ownership
"""

from otter2.partition.assignment import buckets_of, owner_of
from otter2.partition.ownership import AllBuckets, Ownership, Turn
from otter2.partition.zookeeper import ZooKeeperPartition, partition_check

__all__ = ["AllBuckets", "Ownership", "Turn", "ZooKeeperPartition", "buckets_of", "owner_of",
           "partition_check"]
