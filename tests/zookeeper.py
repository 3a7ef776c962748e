"""
A standalone ZooKeeper for the tests that need one: ``scripts/start-zookeeper``
on a free loopback port, its data in a temporary directory, started when a
test first asks for it and stopped when the test process exits (or dies: the
server is told to end with its parent). Each test works under a path of its
own (`ZooKeeper.path`), so tests sharing the server never see each other's
nodes.

``make test`` installs the server (``scripts/install-zookeeper``); without it
the tests that need it fail and say so.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START = os.path.join(ROOT, "scripts", "start-zookeeper")
JAR = "/usr/share/java/zookeeper.jar"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _end_with_parent() -> None:
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _answers(port: int) -> bool:
    """Whether the server at ``port`` says it is fine ("ruok" answered "imok")."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"ruok")
            return s.recv(4) == b"imok"
    except OSError:
        return False


class ZooKeeper:
    """One ZooKeeper server process; see the module docstring."""

    def __init__(self) -> None:
        if not os.path.exists(JAR):
            raise AssertionError("ZooKeeper is not installed: run scripts/install-zookeeper "
                                 "as root (make test does)")
        self.port = _free_port()
        self.directory = tempfile.mkdtemp(prefix="otter2-zk-")
        self.log = open(os.path.join(self.directory, "zookeeper.log"), "wb")
        self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
            [START], env={**os.environ, "ZK_DIR": self.directory, "ZK_PORT": str(self.port),
                          "ZK_TICK": "500"},
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_end_with_parent)
        deadline = time.monotonic() + 30
        while not _answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"ZooKeeper did not start; see {self.directory}")
            time.sleep(0.05)
        self.hosts = f"127.0.0.1:{self.port}"
        self._paths = itertools.count(1)

    def path(self) -> str:
        """A path in the server that no other test uses."""
        return f"/test-{os.getpid()}-{next(self._paths)}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None
        self.log.close()
        shutil.rmtree(self.directory, ignore_errors=True)


_server: list[ZooKeeper] = []


def shared_zookeeper() -> ZooKeeper:
    """The test process's ZooKeeper, started when first needed, stopped at exit."""
    if not _server:
        _server.append(ZooKeeper())
        atexit.register(_server[0].stop)
    return _server[0]
