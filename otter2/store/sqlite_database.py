"""
The file under the embedded store: one SQLite connection in WAL mode, the one
thread that uses it, transactions, and the groups kept in memory.

Every query runs on one dedicated thread that owns the connection, so the
reactor never waits on the disk and writes are serialised; each operation is
atomic (its own savepoint), which makes the limit checks and compare-and-set
atomic. See Note [Group commit] for how operations become durable.
A file that cannot be opened (a missing directory, a denied permission, a
file that is not SQLite) is a `StoreUnavailable` whose one line names the cause.

# Note [Group cache]
A daemon alone on its SQLite file makes every write of a group's row through
this store: reads of a group (and the groups of a listing) are answered from
a copy kept in memory (the
most recently used ``CACHED_GROUPS``), without a trip to the store's thread.
A write forgets the group's copy when it is submitted, so later reads queue
behind it on the store's thread, and again when it is done, after any read
that ran before it has filed its answer (the one thread runs them in order
and their results come back in that order).
Several daemons may share one file (several nodes on one machine, through
ZooKeeper): then the store is ``shared`` and another process may have
written any row. A read then always goes to the store's thread, which reads
the row together with ``PRAGMA data_version`` (it changes when another
connection commits); when that differs from the last one seen, every copy
in memory is forgotten before the answer is used. A copy is served only if
no other process has committed since it was read, so the cache still saves
the parsing, which is most of a read's cost.
A write that knows what it leaves in the row (a new state: a policy
execution's, convergence's) keeps the copy, updated, rather than forgetting
it, when no other write of the group was submitted meanwhile: the next
execution of the group then reads it from memory, not from the store's
thread behind the commit in flight. A shared file's copies are always
forgotten, since another process may have changed the rest of the row.

# Note [Document cache]
Policies and capability URLs' targets are read on every policy execution,
and a group's policies and webhooks on every read of its manifest; they
change rarely: a daemon alone on its file answers those reads from memory
(the most recently used ``CACHED_DOCUMENTS``). Every write of
policies or webhooks (and the creation and deletion of a group, which write
its policies and webhooks) forgets every copy when it is submitted and again
when it is done, and a read only keeps what it read if no such write was
submitted while it ran: what is in memory is what a read of the file would
find. An unknown capability is kept as unknown too, until any webhook is
written. A shared file is always read, since another process may write them.

# Note [Group commit]
An acknowledged write must survive a power loss, not only the death of the
process: a 202 for a policy execution that then vanishes is a lie. So the
file runs with ``synchronous=FULL``: every commit waits for the disk. To keep
that from costing one disk flush per request, operations submitted while
the store's thread is busy are queued, and the thread runs the queue as one
transaction, each operation inside a savepoint of its own (an operation that
fails is rolled back alone), then commits once, and only then are the
operations' results delivered, in submission order. Under load many
requests share one flush; alone, a request waits for its own, as before.
When operations are already queued, the next batch starts before the results
of the last are delivered, so that its flush and the answers to the last
batch's requests overlap. A
commit that fails fails every operation of its batch: nothing of it was
written.

test-case-name: tests.store.test_sqlite_database, tests.store.test_stores
"""

from __future__ import annotations

import os
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from otter2.model import ScalingGroup
from otter2.store.interface import StoreUnavailable

__all__ = ["Database", "StoreUnavailable", "apply_schema", "open_file"]

T = TypeVar("T")

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema" / "sqlite"
CACHED_GROUPS = 10_000
CACHED_DOCUMENTS = 20_000

#: Operations run in one transaction at most (Note [Group commit]).
MAX_BATCH = 256


def apply_schema(conn: sqlite3.Connection, schema_dir: Path = SCHEMA_DIR) -> None:
    """Bring the database up to the newest schema file, each file once."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migration (name TEXT PRIMARY KEY)")
    done = {name for (name,) in conn.execute("SELECT name FROM schema_migration")}
    for path in sorted(schema_dir.glob("*.sql")):
        if path.name in done:
            continue
        conn.executescript("BEGIN IMMEDIATE;\n" + path.read_text() +
                           f"\nINSERT INTO schema_migration VALUES ('{path.name}');\nCOMMIT;")


def open_file(path: str) -> sqlite3.Connection:
    """
    A connection to the SQLite file at ``path`` (created if absent) in WAL mode,
    its schema up to date; `StoreUnavailable` naming the cause otherwise.

    The file is first opened for appending so that a missing directory, a
    directory or a denied permission is reported in the system's own words
    rather than SQLite's "unable to open database file".
    """
    try:
        with open(path, "ab"):
            pass
    except OSError as e:
        raise StoreUnavailable(f"cannot open the store {path}: {_system_reason(path, e)}") \
            from None
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # Commits survive a power loss, not only a killed process; see
            # Note [Group commit] for why that stays fast.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=5000")
            apply_schema(conn)
        except BaseException:
            conn.close()
            raise
    except sqlite3.Error as e:
        raise StoreUnavailable(f"cannot open the store {path}: {_sqlite_reason(path, e)}") \
            from None
    return conn


def _system_reason(path: str, error: OSError) -> str:
    directory = os.path.dirname(os.path.abspath(path))
    if isinstance(error, FileNotFoundError):
        return f"the directory {directory} does not exist"
    if isinstance(error, IsADirectoryError):
        return "it is a directory"
    if isinstance(error, NotADirectoryError):
        return f"a part of {os.path.abspath(path)} is not a directory"
    return (error.strerror or str(error)).lower()


def _sqlite_reason(path: str, error: sqlite3.Error) -> str:
    if getattr(error, "sqlite_errorname", "") == "SQLITE_NOTADB":
        return "it is not an SQLite database"
    directory = os.path.dirname(os.path.abspath(path))
    if not os.access(directory, os.W_OK):
        return f"{error} (SQLite also writes {path}-wal and {path}-shm in {directory}, " \
               "which is not writable)"
    return str(error)


def _deliver(batch: list[tuple[Callable[[], Any], Deferred[Any]]], results: list[Any]) -> None:
    """Fire each operation's Deferred with its result (a `Failure` errbacks)."""
    for (_, waiting), result in zip(batch, results, strict=True):
        if isinstance(result, Failure):
            waiting.errback(result)
        else:
            waiting.callback(result)


class Database:
    """One SQLite file, its thread and its cached groups; see the module docstring."""

    conn: sqlite3.Connection

    def __init__(self, reactor: IReactorThreads, path: str, start: bool = True,
                 shared: bool = False) -> None:
        self._reactor = reactor
        self.path = path
        self.shared = shared  # other processes write the file too: Note [Group cache]
        self._data_version: int | None = None
        self._groups: OrderedDict[tuple[str, str], ScalingGroup | None] = OrderedDict()
        # Writes submitted, and of each group with writes in flight: how many, and
        # the number of the last one submitted (Note [Group cache]).
        self._writes = 0
        self._writing: dict[tuple[str, str], tuple[int, int]] = {}
        # Note [Document cache].
        self._documents: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self._documents_generation = 0
        self._pool = ThreadPool(minthreads=1, maxthreads=1, name="otter2-sqlite")
        self._opened = self._closed = False
        # Touched on the reactor's thread only; see Note [Group commit].
        self._queued: list[tuple[Callable[[], Any], Deferred[Any]]] = []
        self._busy = False
        if start:
            self.start()

    def start(self) -> None:
        """Open the file and start the store's thread; `StoreUnavailable` if it cannot be
        opened (nothing is left running then)."""
        self.conn = open_file(self.path)
        self._opened = True
        self._pool.start()

    def close(self) -> None:
        """
        Stop the store's thread and close the file, if they were started (once).
        Nothing submitted is lost: the batch in flight delivers its results,
        then the operations still queued are run here, in order, before the
        file is closed; later ones fail with `StoreUnavailable`.
        """
        if self._closed:
            return
        self._closed = True
        self._pool.stop()
        if not self._busy:
            self._finish()

    def _finish(self) -> None:
        """Run what is queued on this thread, deliver it, and close the file."""
        if not self._opened:
            return
        self._opened = False
        queued, self._queued = self._queued, []
        if queued:
            try:
                results: list[Any] = self._run_batch([work for work, _ in queued])
            except BaseException:
                results = [Failure()] * len(queued)
            _deliver(queued, results)
        self.conn.close()

    def run(self, work: Callable[..., T], *args: Any) -> Deferred[T]:
        """Run ``work`` on the store's thread, atomically: its result, in submission
        order, once it is committed (Note [Group commit])."""
        if self._closed:
            return fail(StoreUnavailable(f"the store {self.path} is closed"))
        done: Deferred[T] = Deferred()
        self._queued.append((lambda: work(*args), done))
        if not self._busy:
            self._next_batch()
        return done

    def _next_batch(self) -> None:
        if self._closed:
            self._busy = False
            self._finish()
            return
        batch, self._queued = self._queued[:MAX_BATCH], self._queued[MAX_BATCH:]
        if not batch:
            self._busy = False
            return
        self._busy = True
        ran = deferToThreadPool(self._reactor, self._pool, self._run_batch,
                                [work for work, _ in batch])

        def delivered(results: list[Any] | Failure) -> None:
            outcomes = results if isinstance(results, list) else [results] * len(batch)
            if self._closed or not self._queued:
                # Closed: what is still queued runs here once these are
                # delivered. Nothing queued: what these answers submit is
                # gathered into the next batch.
                _deliver(batch, outcomes)
                self._next_batch()
                return
            # The store's thread starts on what queued meanwhile while this
            # thread answers the batch just committed; its results come in
            # a later turn of the reactor, so submission order holds.
            self._next_batch()
            _deliver(batch, outcomes)
        ran.addBoth(delivered)

    def _run_batch(self, batch: list[Callable[[], Any]]) -> list[Any]:
        """On the store's thread: every operation in its savepoint, one commit."""
        results: list[Any] = []
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for work in batch:
                self.conn.execute("SAVEPOINT operation")
                try:
                    results.append(work())
                except BaseException:
                    results.append(Failure())
                    self.conn.execute("ROLLBACK TO operation")
                self.conn.execute("RELEASE operation")
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        return results

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside a savepoint of the operation's transaction, rolled
        back if the block raises."""
        self.conn.execute("SAVEPOINT block")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK TO block")
            self.conn.execute("RELEASE block")
            raise
        self.conn.execute("RELEASE block")

    # See Note [Group cache].

    def write(self, key: tuple[str, str], work: Callable[[], T],
              updated: Callable[[ScalingGroup, T], ScalingGroup] | None = None,
              documents: bool = False) -> Deferred[T]:
        """
        Run a write of the group's row; its cached copy is forgotten before
        and after. With ``updated``, a write that succeeds instead keeps the
        copy it replaced as ``updated`` makes it from the write's result (the
        row as the write left it), unless another write of the group was
        submitted meanwhile or the file is shared. ``documents``: the write
        changes policies or webhooks too (`write_documents`).
        """
        copy = self._groups.pop(key, None)
        in_flight, _ = self._writing.get(key, (0, 0))
        if in_flight:
            copy = None  # it may be older than the write in flight
        self._writes += 1
        submitted = self._writes
        self._writing[key] = (in_flight + 1, submitted)
        if documents:
            self._forget_documents()

        def written(result: T | Failure) -> T | Failure:
            self._groups.pop(key, None)
            in_flight, last = self._writing.pop(key)
            if in_flight > 1:
                self._writing[key] = (in_flight - 1, last)
            if documents:
                self._forget_documents()
            if (updated is not None and copy is not None and last == submitted
                    and not self.shared and not isinstance(result, Failure)):
                self._remember(key, updated(copy, result))
            return result
        return self.run(work).addBoth(written)

    def write_documents(self, work: Callable[[], T]) -> Deferred[T]:
        """Run a write of policies or webhooks: every cached one is forgotten before
        and after (Note [Document cache])."""
        self._forget_documents()

        def written(result: T) -> T:
            self._forget_documents()
            return result
        return self.run(work).addBoth(written)

    def read_document(self, key: tuple[str, ...], fetch: Callable[[], T]) -> Deferred[T]:
        """
        The document (a policy, a capability's target...) cached under
        ``key``, else what ``fetch`` reads on the store's thread, which is
        then kept unless a write of documents was submitted meanwhile (Note
        [Document cache]). A shared file is always read.
        """
        if self.shared:
            return self.run(fetch)
        if key in self._documents:
            self._documents.move_to_end(key)
            return succeed(self._documents[key])
        generation = self._documents_generation

        def remember(document: T) -> T:
            if generation == self._documents_generation:
                self._documents[key] = document
                if len(self._documents) > CACHED_DOCUMENTS:
                    self._documents.popitem(last=False)
            return document
        return self.run(fetch).addCallback(remember)

    def _forget_documents(self) -> None:
        self._documents.clear()
        self._documents_generation += 1

    def read_group(self, key: tuple[str, str], fetch: Callable[[], Any],
                   parse: Callable[[Any], ScalingGroup]) -> Deferred[ScalingGroup | None]:
        """
        The group's cached copy, else its row as ``fetch`` reads it (None if
        absent) parsed by ``parse``, which is then kept. When the file is
        shared, the copy is served only if no other process wrote since.
        """
        if not self.shared:
            if key in self._groups:
                self._groups.move_to_end(key)
                return succeed(self._groups[key])

            def parsed() -> ScalingGroup | None:
                row = fetch()
                return None if row is None else parse(row)

            def remember(group: ScalingGroup | None) -> ScalingGroup | None:
                self._remember(key, group)
                return group
            return self.run(parsed).addCallback(remember)

        def fetch_shared() -> tuple[int, Any]:
            return self._current_version(), fetch()

        def found(result: tuple[int, Any]) -> ScalingGroup | None:
            version, row = result
            self._saw_version(version)
            if key in self._groups:
                self._groups.move_to_end(key)
                return self._groups[key]
            group = None if row is None else parse(row)
            self._remember(key, group)
            return group
        return self.run(fetch_shared).addCallback(found)

    def _current_version(self) -> int:
        """On the store's thread: the file's data version (Note [Group cache])."""
        (version,) = self.conn.execute("PRAGMA data_version").fetchone()
        return int(version)

    def _saw_version(self, version: int) -> None:
        """Forget every copy if another process committed since the last version seen."""
        if version != self._data_version:
            self._groups.clear()
            self._data_version = version

    def _remember(self, key: tuple[str, str], group: ScalingGroup | None) -> None:
        self._groups[key] = group
        if len(self._groups) > CACHED_GROUPS:
            self._groups.popitem(last=False)

    def read_groups(self, keys: Callable[[], list[tuple[str, str]]],
                    rows: Callable[[list[tuple[str, str]]], dict[tuple[str, str], Any]],
                    parse: Callable[[Any], ScalingGroup]) -> Deferred[list[ScalingGroup]]:
        """
        The groups whose keys ``keys`` reads, in its order: each group's
        cached copy when there is one (it is the row as read: see the Note),
        else its row as ``rows`` reads it (by key; a key it does not find was
        deleted meanwhile and is left out) parsed by ``parse``, which is then
        kept. Reading and parsing the rows are most of the cost of a
        listing, so only the groups not already in memory are read whole,
        in a second trip to the store's thread, and parsed here.
        """
        def fetch() -> tuple[int | None, list[tuple[str, str]]]:
            return (self._current_version() if self.shared else None), keys()

        def groups(result: tuple[int | None, list[tuple[str, str]]],
                   ) -> Deferred[list[ScalingGroup]] | list[ScalingGroup]:
            version, listed = result
            if version is not None:
                self._saw_version(version)
            kept = {}
            for key in listed:
                group = self._groups.get(key)
                if group is not None:
                    self._groups.move_to_end(key)
                    kept[key] = group
            if len(kept) == len(listed):
                return [kept[key] for key in listed]

            # A write of a kept group submitted from now on is answered after
            # these rows: the copies kept are as current as the rows read.
            def assemble(found: dict[tuple[str, str], Any]) -> list[ScalingGroup]:
                for key, row in found.items():
                    kept[key] = group = parse(row)
                    self._remember(key, group)
                return [kept[key] for key in listed if key in kept]
            return self.run(rows, [key for key in listed if key not in kept]) \
                .addCallback(assemble)
        return self.run(fetch).addCallback(groups)
