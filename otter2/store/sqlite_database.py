"""
The file under the embedded store: one SQLite connection in WAL mode, the one
thread that uses it, transactions, and the groups kept in memory.

Every query runs on one dedicated thread that owns the connection, so the
reactor never waits on the disk and writes are serialised; each operation is
one transaction, which makes the limit checks and compare-and-set atomic.
A file that cannot be opened (a missing directory, a denied permission, a
file that is not SQLite) is a `StoreUnavailable` whose one line names the cause.

# Note [Group cache]
The daemon owns its SQLite file, so every write of a group's row goes through
this store: reads of a group are answered from a copy kept in memory (the
most recently used ``CACHED_GROUPS``), without a trip to the store's thread.
A write forgets the group's copy when it is submitted, so later reads queue
behind it on the store's thread, and again when it is done, after any read
that ran before it has filed its answer (the one thread runs them in order
and their results come back in that order). Two processes must not share
one file.

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

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from otter2.model import ScalingGroup

T = TypeVar("T")

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema" / "sqlite"
CACHED_GROUPS = 10_000


def apply_schema(conn: sqlite3.Connection, schema_dir: Path = SCHEMA_DIR) -> None:
    """Bring the database up to the newest schema file, each file once."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migration (name TEXT PRIMARY KEY)")
    done = {name for (name,) in conn.execute("SELECT name FROM schema_migration")}
    for path in sorted(schema_dir.glob("*.sql")):
        if path.name in done:
            continue
        conn.executescript("BEGIN IMMEDIATE;\n" + path.read_text() +
                           f"\nINSERT INTO schema_migration VALUES ('{path.name}');\nCOMMIT;")


class StoreUnavailable(Exception):
    """The store's file cannot be opened or used; the message is one line saying why."""


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
            # NORMAL survives the death of the process (SIGKILL) in WAL mode; only a
            # power loss could drop the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
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


class Database:
    """One SQLite file, its thread and its cached groups; see the module docstring."""

    conn: sqlite3.Connection

    def __init__(self, reactor: IReactorThreads, path: str, start: bool = True) -> None:
        self._reactor = reactor
        self.path = path
        self._groups: OrderedDict[tuple[str, str], ScalingGroup | None] = OrderedDict()
        self._pool = ThreadPool(minthreads=1, maxthreads=1, name="otter2-sqlite")
        self._opened = self._closed = False
        if start:
            self.start()

    def start(self) -> None:
        """Open the file and start the store's thread; `StoreUnavailable` if it cannot be
        opened (nothing is left running then)."""
        self.conn = open_file(self.path)
        self._opened = True
        self._pool.start()

    def close(self) -> None:
        """Stop the store's thread and close the file, if they were started (once)."""
        if self._closed:
            return
        self._closed = True
        self._pool.stop()
        if self._opened:
            self.conn.close()

    def run(self, work: Callable[..., T], *args: Any) -> Deferred[T]:
        """Run ``work`` on the store's thread: its result, in submission order."""
        return deferToThreadPool(self._reactor, self._pool, work, *args)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one transaction, rolled back if the block raises."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # See Note [Group cache].

    def write(self, key: tuple[str, str], work: Callable[[], T]) -> Deferred[T]:
        """Run a write of the group's row; its cached copy is forgotten before and after."""
        self._groups.pop(key, None)

        def written(result: T) -> T:
            self._groups.pop(key, None)
            return result
        return self.run(work).addBoth(written)

    def read_group(self, key: tuple[str, str],
                   work: Callable[[], ScalingGroup | None]) -> Deferred[ScalingGroup | None]:
        """The group's cached copy, else what ``work`` reads of it, which is then kept."""
        if key in self._groups:
            self._groups.move_to_end(key)
            return succeed(self._groups[key])

        def remember(group: ScalingGroup | None) -> ScalingGroup | None:
            self._groups[key] = group
            if len(self._groups) > CACHED_GROUPS:
                self._groups.popitem(last=False)
            return group
        return self.run(work).addCallback(remember)
