"""
Tests for opening the embedded store's file (otter2.store.sqlite_database):
each reason a file cannot be used is one line naming it, and nothing is left
running; and how its operations are committed, together and durably. What
the store keeps is tested in tests.store.test_stores.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable

from twisted.internet import reactor
from twisted.internet.defer import gatherResults
from twisted.internet.interfaces import IReactorThreads
from twisted.trial.unittest import SynchronousTestCase, TestCase

from otter2.store.sqlite import SQLiteGroupStore
from otter2.store.sqlite_database import Database, StoreUnavailable, open_file


def store_threads() -> int:
    """How many store threads run in this process (other tests' stores included)."""
    return len([t for t in threading.enumerate() if "otter2-sqlite" in t.name])


def unwritable_directory(case: SynchronousTestCase) -> str:
    """A directory this process may not create files in: one of its own made
    read-only or, for root (whom permissions do not stop), sysfs, where nobody may."""
    if os.geteuid() == 0:
        return "/sys"
    directory: str = os.path.abspath(case.mktemp())
    os.makedirs(directory)
    os.chmod(directory, 0o500)
    case.addCleanup(os.chmod, directory, 0o700)
    return directory


class OpenFileTests(SynchronousTestCase):
    """`open_file` names why a path cannot hold the store."""

    def assert_refused(self, path: str, reason: str) -> None:
        with self.assertRaises(StoreUnavailable) as caught:
            open_file(path)
        self.assertEqual(str(caught.exception), f"cannot open the store {path}: {reason}")

    def test_missing_directory(self) -> None:
        """A path in a directory that does not exist names the directory."""
        directory = os.path.abspath(self.mktemp())
        self.assert_refused(os.path.join(directory, "otter2.sqlite"),
                            f"the directory {directory} does not exist")

    def test_directory(self) -> None:
        """A path that is a directory says so."""
        path = self.mktemp()
        os.makedirs(path)
        self.assert_refused(path, "it is a directory")

    def test_unwritable_directory(self) -> None:
        """A directory otter2 may not write to is refused with the system's reason."""
        path = os.path.join(unwritable_directory(self), "otter2.sqlite")
        self.assert_refused(path, "permission denied")

    def test_not_a_database(self) -> None:
        """A file that is not SQLite says so, and is left as it was."""
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(b"groups: many\n" * 500)
        self.assert_refused(path, "it is not an SQLite database")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"groups: many\n" * 500)

    def test_new_file(self) -> None:
        """A path in a writable directory becomes a store with the schema."""
        conn = open_file(self.mktemp())
        tables = {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        conn.close()
        self.assertIn("scaling_group", tables)


class StartTests(SynchronousTestCase):
    """A store built not to start opens nothing until it is started."""

    def test_unstarted_store_runs_nothing(self) -> None:
        """Before `start`, no thread runs and no file exists."""
        path, before = self.mktemp(), store_threads()
        store = SQLiteGroupStore(IReactorThreads(reactor), path, start=False)
        self.addCleanup(store.close)
        self.assertEqual((store_threads(), os.path.exists(path)), (before, False))

    def test_start_opens(self) -> None:
        """`start` opens the file and starts the store's thread; `close` stops it."""
        path, before = self.mktemp(), store_threads()
        store = SQLiteGroupStore(IReactorThreads(reactor), path, start=False)
        self.addCleanup(store.close)
        store.start()
        self.assertEqual((store_threads(), os.path.exists(path)), (before + 1, True))
        store.close()
        self.assertEqual(store_threads(), before)

    def test_close_twice(self) -> None:
        """Closing a store again does nothing."""
        store = SQLiteGroupStore(IReactorThreads(reactor), self.mktemp())
        store.close()
        store.close()

    def test_failed_start_runs_nothing(self) -> None:
        """A store whose file cannot be opened starts no thread."""
        before = store_threads()
        store = SQLiteGroupStore(IReactorThreads(reactor), os.path.join(self.mktemp(), "x"), start=False)
        self.addCleanup(store.close)
        self.assertRaises(StoreUnavailable, store.start)
        self.assertEqual(store_threads(), before)


class GroupCommitTests(TestCase):
    """Operations queued together commit together (Note [Group commit])."""

    def setUp(self) -> None:
        self.path = os.path.abspath(self.mktemp())
        self.db = Database(IReactorThreads(reactor), self.path)
        self.addCleanup(self.db.close)
        self.db.conn.execute("CREATE TABLE item (name TEXT PRIMARY KEY)")

    def insert(self, name: str) -> Callable[[], str]:
        def work() -> str:
            with self.db.transaction() as conn:
                conn.execute("INSERT INTO item VALUES (?)", (name,))
            return name
        return work

    def on_disk(self) -> list[str]:
        """What another connection reads from the file: committed rows only."""
        other = sqlite3.connect(self.path)
        try:
            return [name for (name,) in other.execute("SELECT name FROM item ORDER BY name")]
        finally:
            other.close()

    async def test_results_in_order_once_committed(self) -> None:
        """Many operations submitted at once come back in order, each already on disk
        when its result arrives."""
        names = [f"n{i:03d}" for i in range(300)]
        seen: list[list[str]] = []

        def arrived(name: str) -> str:
            seen.append(self.on_disk())
            return name
        results = await gatherResults([self.db.run(self.insert(name)).addCallback(arrived)
                                       for name in names])
        self.assertEqual(results, names)
        for name, disk in zip(names, seen, strict=True):
            self.assertIn(name, disk)

    async def test_next_batch_runs_while_answers_are_delivered(self) -> None:
        """Operations queued behind a batch start on the store's thread before that
        batch's results are delivered: the flush of the next batch and the
        answers to the last overlap. Results still come in submission order."""
        second_ran = threading.Event()
        seen: list[tuple[str, bool]] = []

        def second() -> str:
            second_ran.set()
            return "second"

        def first_answered(name: str) -> str:
            # Blocks this (the reactor's) thread until the second batch runs, which
            # it does at once when it was started before this delivery.
            seen.append((name, second_ran.wait(timeout=30)))
            return name
        first = self.db.run(self.insert("a")).addCallback(first_answered)
        later = self.db.run(second)
        await first
        seen.append((await later, True))
        self.assertEqual(seen, [("a", True), ("second", True)])

    async def test_failed_operation_rolls_back_alone(self) -> None:
        """An operation that fails leaves nothing; those around it in its batch commit."""
        def half_then_fail() -> None:
            with self.db.transaction() as conn:
                conn.execute("INSERT INTO item VALUES ('half')")
                raise ValueError("no")
        first = self.db.run(self.insert("a"))
        failed = self.db.run(half_then_fail)
        duplicate = self.db.run(self.insert("a"))
        last = self.db.run(self.insert("b"))
        self.assertEqual(await first, "a")
        with self.assertRaises(ValueError):
            await failed
        with self.assertRaises(sqlite3.IntegrityError):
            await duplicate
        self.assertEqual(await last, "b")
        self.assertEqual(self.on_disk(), ["a", "b"])

    async def test_close_runs_what_is_queued(self) -> None:
        """Closing the store runs the operations still queued after the batch in
        flight: nothing submitted is lost, results come in order; afterwards
        operations fail with StoreUnavailable."""
        order: list[str] = []
        pending = [self.db.run(self.insert(name)).addCallback(order.append)
                   for name in ("x", "y", "z")]
        self.db.close()
        await gatherResults(pending)
        self.assertEqual(order, ["x", "y", "z"])
        self.assertEqual(self.on_disk(), ["x", "y", "z"])
        self.failureResultOf(self.db.run(self.insert("late")), StoreUnavailable)

    def test_durable_by_default(self) -> None:
        """The file waits for the disk at every commit (synchronous=FULL)."""
        (level,) = self.db.conn.execute("PRAGMA synchronous").fetchone()
        self.assertEqual(level, 2)
