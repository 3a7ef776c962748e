"""
The real daemon's start and stop, ``twistd -n otter2`` as a separate process:
each failure to start is one line naming its cause and a non-zero exit, with
nothing left running; a stop the operator asks for exits with status 0; and
what the operator should know is logged as it starts.
"""

from __future__ import annotations

import gc
import io
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from typing import Any

from twisted.application.service import Application, IServiceCollection, Service
from twisted.internet import reactor
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort, IReactorThreads
from twisted.internet.task import Clock
from twisted.logger import ILogObserver
from twisted.trial.unittest import SynchronousTestCase, TestCase

from otter2.logs import json_observer, text_observer
from otter2.service.daemon import DaemonService, StoreService
from otter2.service.listening import ListeningService
from otter2.store.interface import StoreUnavailable
from otter2.store.sqlite import SQLiteGroupStore
from otter2.tap import Options, makeService, writes_text_to_stdout
from tests.e2e.support import TWISTD, clean_environment, free_port
from tests.store.test_sqlite_database import store_threads, unwritable_directory

#: Seconds within which a daemon that cannot start must be gone, and one asked
#: to stop must have stopped (twistd itself takes about one to start).
PROMPT = 10.0


def _default_signals() -> None:
    """In the child: SIGINT as a terminal would deliver it, even if this test
    process was started ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Run:
    """One ``twistd -n otter2`` in a directory of its own, with ``config`` as its file."""

    def __init__(self, case: SynchronousTestCase, args: list[str],
                 config: dict[str, Any] | None = None) -> None:
        self.directory = os.path.abspath(case.mktemp())
        os.makedirs(self.directory)
        if config is not None:
            path = os.path.join(self.directory, "config.json")
            with open(path, "w") as f:
                json.dump(config, f)
            args = [*args, "--config", path]
        self.output_path = os.path.join(self.directory, "output")
        self.started = time.monotonic()
        with open(self.output_path, "wb") as output:
            self.process = subprocess.Popen(
                [TWISTD, "-n", "--pidfile=", "otter2", *args], cwd=self.directory,
                stdout=output, stderr=subprocess.STDOUT, env=clean_environment(),
                start_new_session=True, preexec_fn=_default_signals)
        case.addCleanup(self.kill)

    def wait(self) -> float:
        """Seconds from start to exit; fails if the process outlives `PROMPT`."""
        try:
            self.process.wait(timeout=PROMPT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {PROMPT} s:\n{self.output()}") from None
        return time.monotonic() - self.started

    def wait_for_health(self, port: int) -> None:
        """Wait until the API answers ``GET /health`` on loopback."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"otter2 exited at start-up:\n{self.output()}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"otter2 did not answer:\n{self.output()}")

    def output(self) -> str:
        with open(self.output_path, errors="replace") as f:
            return f.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def listening_socket() -> tuple[socket.socket, int]:
    """A socket that holds a loopback port, and the port."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder, holder.getsockname()[1]


class StartFailureTests(SynchronousTestCase):
    """A daemon that cannot start exits non-zero at once with one line, and no traceback."""

    def assert_one_line(self, args: list[str], config: dict[str, Any] | None,
                        line: str) -> Run:
        run = Run(self, args, config)
        run.wait()
        self.assertEqual(run.output().splitlines(), [line])
        self.assertNotEqual(run.process.returncode, 0)
        return run

    def test_port_taken(self) -> None:
        """A ``--port`` another process holds is named, with the system's reason."""
        holder, port = listening_socket()
        self.addCleanup(holder.close)
        endpoint = f"tcp:{port}:interface=127.0.0.1"
        self.assert_one_line(["--port", endpoint], None,
                             f'otter2: cannot listen on "{endpoint}" (--port): '
                             "address already in use")

    def test_malformed_port(self) -> None:
        """A ``--port`` that is no endpoint is named, with an example of one."""
        self.assert_one_line(["--port", "tcp:nine"], None,
                             'otter2: --port "tcp:nine" is not a listening endpoint '
                             "(invalid literal for int() with base 10: 'nine'); "
                             'write one such as "tcp:9000:interface=127.0.0.1"')

    def test_malformed_admin(self) -> None:
        """An ``admin`` endpoint that is no endpoint is named."""
        self.assert_one_line(
            ["--port", f"tcp:{free_port()}:interface=127.0.0.1"], {"admin": "sideways:1"},
            "otter2: admin \"sideways:1\" is not a listening endpoint (Unknown endpoint "
            "type: 'sideways'); write one such as \"tcp:9000:interface=127.0.0.1\"")

    def test_admin_taken(self) -> None:
        """An ``admin`` port another process holds is named, and the API's port,
        bound just before, is free again."""
        holder, taken = listening_socket()
        self.addCleanup(holder.close)
        api = free_port()
        admin = f"tcp:{taken}:interface=127.0.0.1"
        self.assert_one_line(["--port", f"tcp:{api}:interface=127.0.0.1"], {"admin": admin},
                             f'otter2: cannot listen on "{admin}" (admin): '
                             "address already in use")
        with socket.socket() as again:
            again.bind(("127.0.0.1", api))

    def test_store_directory_missing(self) -> None:
        """A store path in a directory that does not exist names the directory."""
        directory = os.path.abspath(self.mktemp())
        path = os.path.join(directory, "groups.sqlite")
        self.assert_one_line(["--port", "tcp:0:interface=127.0.0.1"],
                             {"store": {"path": path}},
                             f"otter2: cannot open the store {path}: "
                             f"the directory {directory} does not exist")

    def test_cassandra_unreachable(self) -> None:
        """A Cassandra store that no node answers for is named, with the reason."""
        port = free_port()
        self.assert_one_line(["--port", "tcp:0:interface=127.0.0.1"],
                             {"store": {"backend": "cassandra", "hosts": ["127.0.0.1"],
                                        "port": port}},
                             f"otter2: cannot reach Cassandra at 127.0.0.1 port {port}: "
                             "connection refused")

    def test_cassandra_with_several_nodes(self) -> None:
        """Several nodes (zookeeper) may share the Cassandra store, which fences their
        writes: such a daemon goes on to reach the cluster (here, none answers)."""
        port = free_port()
        self.assert_one_line(["--port", "tcp:0:interface=127.0.0.1"],
                             {"store": {"backend": "cassandra", "hosts": ["127.0.0.1"],
                                        "port": port},
                              "zookeeper": {"hosts": "127.0.0.1:2181"}},
                             f"otter2: cannot reach Cassandra at 127.0.0.1 port {port}: "
                             "connection refused")

    def test_store_unwritable(self) -> None:
        """A store path where otter2 may not write is refused with the system's reason."""
        path = os.path.join(unwritable_directory(self), "groups.sqlite")
        self.assert_one_line(["--port", "tcp:0:interface=127.0.0.1"],
                             {"store": {"path": path}},
                             f"otter2: cannot open the store {path}: permission denied")

    def test_store_is_a_directory(self) -> None:
        """A store path that is a directory says so."""
        path = os.path.abspath(self.mktemp())
        os.makedirs(path)
        self.assert_one_line(["--port", "tcp:0:interface=127.0.0.1"],
                             {"store": {"path": path}},
                             f"otter2: cannot open the store {path}: it is a directory")

    def test_store_corrupt(self) -> None:
        """A store file that is not SQLite says so, and the file is left alone."""
        path = os.path.abspath(self.mktemp())
        with open(path, "wb") as f:
            f.write(b"\x00not sqlite\xff" * 1000)
        self.assert_one_line(["--port", "tcp:0:interface=127.0.0.1"],
                             {"store": {"path": path}},
                             f"otter2: cannot open the store {path}: "
                             "it is not an SQLite database")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"\x00not sqlite\xff" * 1000)

    def test_bad_config(self) -> None:
        """A bad configuration is one line naming the key."""
        self.assert_one_line(["--port", "tcp:0:interface=127.0.0.1"],
                             {"limits": {"pagination": 0}},
                             "otter2: invalid configuration: limits.pagination must be "
                             "a positive integer (got 0)")


class StopTests(SynchronousTestCase):
    """A stop the operator asks for is prompt and exits with status 0."""

    def assert_stops(self, number: signal.Signals) -> None:
        port = free_port()
        run = Run(self, ["--port", f"tcp:{port}:interface=127.0.0.1"], {})
        run.wait_for_health(port)
        run.process.send_signal(number)
        run.wait()
        self.assertEqual(run.process.returncode, 0, run.output())
        self.assertIn(f"Received {number.name}, shutting down.", run.output())
        self.assertNotIn("Traceback", run.output())

    def test_sigterm(self) -> None:
        """SIGTERM stops the daemon with status 0."""
        self.assert_stops(signal.SIGTERM)

    def test_sigint(self) -> None:
        """SIGINT (Ctrl-C) stops the daemon with status 0."""
        self.assert_stops(signal.SIGINT)


class StartWarningTests(SynchronousTestCase):
    """What the operator should know is logged once as the daemon starts."""

    def started_output(self, endpoint: str, port: int, config: dict[str, Any]) -> str:
        run = Run(self, ["--port", endpoint], config)
        run.wait_for_health(port)
        run.process.send_signal(signal.SIGTERM)
        run.wait()
        return run.output()

    def test_every_interface_without_auth(self) -> None:
        """Listening beyond loopback with authentication off logs a warning naming the
        risk; on loopback there is none."""
        port = free_port()
        output = self.started_output(f"tcp:{port}", port, {})
        warnings = [line for line in output.splitlines() if "authentication off" in line]
        self.assertEqual(len(warnings), 1, output)
        self.assertIn(f"the API listens on 0.0.0.0:{port}", warnings[0])
        self.assertIn("anyone who can reach the port can manage every tenant's groups",
                      warnings[0])
        port = free_port()
        output = self.started_output(f"tcp:{port}:interface=127.0.0.1", port, {})
        self.assertNotIn("authentication off", output)

    def test_unused_configuration(self) -> None:
        """Each key of Otter's configuration that otter2 does not act on yet is named
        in one warning line."""
        port = free_port()
        output = self.started_output(
            f"tcp:{port}:interface=127.0.0.1", port,
            {"metrics": {"interval": 60}, "cloudfeeds": {"tenant_id": "t"},
             "converger": {"max_retry_delay": 30, "interval": 5}})
        for key in ["metrics.interval", "cloudfeeds", "converger.max_retry_delay"]:
            lines = [line for line in output.splitlines()
                     if f"configuration key {key} is accepted but not used yet" in line]
            self.assertEqual(len(lines), 1, output)
        self.assertNotIn("converger.interval", output)


def host_and_port(port: IListeningPort) -> tuple[str, int]:
    """The IP address and port number ``port`` listens on."""
    address = port.getHost()
    if not isinstance(address, (IPv4Address, IPv6Address)):
        raise AssertionError(f"{address} is not an IP address")
    return address.host, address.port


class FailingService(Service):
    """A service that cannot start."""

    def startService(self) -> None:
        raise RuntimeError("cannot start")


class FinishingService(Service):
    """A service with work in flight when it stops: its stop ends with ``finished``."""

    def __init__(self) -> None:
        self.finished: Deferred[None] = Deferred()

    def stopService(self) -> Deferred[None]:
        Service.stopService(self)
        return self.finished


class DaemonServiceTests(TestCase):
    """The daemon's services, built as twistd builds them."""

    def stopping(self) -> tuple[Clock, SQLiteGroupStore, FinishingService, Deferred[None]]:
        """A daemon of a store and a service with work in flight, stopping on a Clock
        with 30 s for the work."""
        clock = Clock()
        top = DaemonService(clock, 30.0)
        store = SQLiteGroupStore(IReactorThreads(reactor), self.mktemp(), start=False)
        self.addCleanup(store.close)
        StoreService(store).setServiceParent(top)
        working = FinishingService()
        working.setServiceParent(top)
        top.startService()
        return clock, store, working, top.stopService()

    async def test_store_outlives_the_work_in_flight(self) -> None:
        """A stopping daemon keeps its store open while a service finishes its work,
        and closes it once the work is done."""
        clock, store, working, stopped = self.stopping()
        clock.advance(29)
        self.assertFalse(stopped.called)
        self.assertIsInstance(await store.check_health(), float)
        working.finished.callback(None)
        self.assertTrue(stopped.called)
        with self.assertRaises(StoreUnavailable):
            await store.check_health()

    async def test_work_in_flight_has_a_bound(self) -> None:
        """Work that does not finish within the bound is left: the store closes."""
        clock, store, working, stopped = self.stopping()
        clock.advance(30)
        self.assertTrue(stopped.called)
        with self.assertRaises(StoreUnavailable):
            await store.check_health()
        working.finished.callback(None)

    def test_failed_start_stops_the_store(self) -> None:
        """When a service fails to start, the store started before it is closed again
        and its thread stopped, so nothing keeps the process alive."""
        before = store_threads()
        top = DaemonService()
        store = SQLiteGroupStore(IReactorThreads(reactor), self.mktemp(), start=False)
        self.addCleanup(store.close)
        StoreService(store).setServiceParent(top)
        FailingService().setServiceParent(top)
        self.assertRaises(RuntimeError, top.startService)
        self.assertEqual(store_threads(), before)
        self.assertFalse(top.running)

    async def test_default_listens_on_loopback(self) -> None:
        """Without ``--port`` the API listens on 127.0.0.1:9000 only."""
        options = Options()
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            json.dump({"store": {"path": path + ".sqlite"}}, f)
        options.parseOptions(["--config", path])
        self.addCleanup(gc.set_threshold, *gc.get_threshold())  # makeService tunes it
        self.addCleanup(gc.unfreeze)
        try:
            top = makeService(options)
        except SystemExit as e:
            if "address already in use" in str(e):
                raise self.skipTest("port 9000 is in use on this machine") from None
            raise
        hosts = [host_and_port(s.port) for s in top if isinstance(s, ListeningService)]
        await top.stopService()
        self.assertEqual(hosts, [("127.0.0.1", 9000)])


class TextLogTests(SynchronousTestCase):
    """Where twistd would write its text lines to standard output, the daemon
    names its own observer of the same lines (Note [Text log lines])."""

    def test_only_where_twistd_writes_text_to_stdout(self) -> None:
        """``-n`` without ``--logfile`` (or with ``-``), ``--logger`` or syslog."""
        plain = {"nodaemon": True, "logfile": None, "logger": None, "syslog": False}
        self.assertTrue(writes_text_to_stdout(plain))
        self.assertTrue(writes_text_to_stdout({**plain, "logfile": "-"}))
        self.assertTrue(writes_text_to_stdout({**plain, "logfile": ""}))
        for other in ({"nodaemon": False}, {"logfile": "otter2.log"},
                      {"logger": json_observer}, {"syslog": True}):
            self.assertFalse(writes_text_to_stdout({**plain, **other}), other)
        self.assertFalse(writes_text_to_stdout(None))

    def test_observer_set_on_the_application(self) -> None:
        """The daemon's service sets its observer on the application it joins,
        where twistd looks for one; without one it sets none."""
        observer = text_observer(io.StringIO())
        application = Application("otter2")
        daemon = DaemonService()
        daemon.log_observer = observer
        daemon.setServiceParent(application)
        self.assertIs(application.getComponent(ILogObserver, None), observer)
        self.assertIn(daemon, list(IServiceCollection(application)))
        bare = Application("otter2")
        DaemonService().setServiceParent(bare)
        self.assertIsNone(bare.getComponent(ILogObserver, None))
