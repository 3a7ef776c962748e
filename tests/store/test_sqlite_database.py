"""
Tests for opening the embedded store's file (otter2.store.sqlite_database):
each reason a file cannot be used is one line naming it, and nothing is left
running. What the store keeps is tested in tests.store.test_stores.
"""

from __future__ import annotations

import os
import threading

from twisted.internet import reactor
from twisted.internet.interfaces import IReactorThreads
from twisted.trial.unittest import SynchronousTestCase

from otter2.store.sqlite import SQLiteGroupStore
from otter2.store.sqlite_database import StoreUnavailable, open_file


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
