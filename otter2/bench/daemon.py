"""
The otter2 daemon as the benchmarks run it: ``twistd -n otter2`` in a
directory of its own, on its embedded SQLite store, with no cloud configured
(so nothing converges against a real cloud while it is measured); a client
that fills it with groups, policies and webhooks through its API; and the
resident size of its process.

test-case-name: tests.bench.test_daemon
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from attrs import frozen

BIN = os.path.dirname(sys.executable)
TWISTD = os.path.join(BIN, "twistd")


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes] | None = None,
                  seconds: float = 120.0) -> None:
    """Return once ``url`` answers; RuntimeError if the process exits or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                answer.read()
            return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in a session of its own, and whatever it started."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def resident_bytes(pid: int) -> int:
    """The resident set size of a process (Linux ``/proc``)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """The CPU time a process has used, user and system (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pid: int, limit: float = 30.0, interval: float = 0.25,
                    busy_share: float = 0.1) -> float:
    """
    Wait until the process uses less than ``busy_share`` of a core over two
    ``interval``s in a row (work it accepted and still does in the
    background, such as anonymous executions, would otherwise steal the core
    from the next measurement), or until ``limit`` seconds pass: the seconds
    waited.
    """
    started = time.perf_counter()
    quiet = 0
    used = cpu_seconds(pid)
    while quiet < 2 and time.perf_counter() - started < limit:
        time.sleep(interval)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if now - used < busy_share * interval else 0
        used = now
    return time.perf_counter() - started


class Daemon:
    """``twistd -n otter2`` over ``directory`` (its store file and log there)."""

    def __init__(self, directory: str, config: dict[str, Any] | None = None) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = os.path.join(directory, "config.json")
        with open(self.config_path, "w") as f:
            # No "identity": no cloud, so the converger never reaches one.
            json.dump({"url_root": self.url, **(config or {})}, f)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start the daemon; the seconds until it answered ``/health``."""
        started = time.perf_counter()
        with open(os.path.join(self.directory, "otter2.log"), "ab") as log:
            self.process = subprocess.Popen(
                [TWISTD, "-n", "--pidfile=", "otter2", "--port",
                 f"tcp:{self.port}:interface=127.0.0.1", "--config", self.config_path],
                cwd=self.directory, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
                env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
        wait_until_up(self.url + "/health", self.process)
        return time.perf_counter() - started

    def resident_bytes(self) -> int:
        """The daemon's resident set size now."""
        assert self.process is not None
        return resident_bytes(self.process.pid)

    def wait_until_idle(self, limit: float = 30.0) -> float:
        """Wait until the daemon is idle (`wait_until_idle`): the seconds waited."""
        assert self.process is not None
        return wait_until_idle(self.process.pid, limit)

    def stop(self) -> None:
        """Stop the daemon, if it runs."""
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@frozen
class CreatedGroup:
    """A group made by `populate`: its id and the ids and capability URLs of its
    two policies (+1 and -1 server)."""

    tenant_id: str
    group_id: str
    policy_ids: tuple[str, str]
    capability_urls: tuple[str, str]


def group_body(name: str, desired: int = 500) -> dict[str, Any]:
    """A group of ``desired`` servers (its minimum; up to 1 000) with a +1 and a -1
    webhook policy."""
    return {
        "groupConfiguration": {"name": name, "cooldown": 0, "minEntities": desired,
                               "maxEntities": 1000},
        "launchConfiguration": {"type": "launch_server", "args": {
            "server": {"flavorRef": "general1-1", "imageRef": "image", "name": name}}},
        "scalingPolicies": [{"name": "up", "change": 1, "cooldown": 0, "type": "webhook"},
                            {"name": "down", "change": -1, "cooldown": 0,
                             "type": "webhook"}]}


class Client:
    """One keep-alive connection to the daemon, per thread."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        self.connection.request(method, path, body=data,
                                headers={"Content-Type": "application/json"})
        answer = self.connection.getresponse()
        content = answer.read()
        if answer.status >= 300:
            raise RuntimeError(f"{method} {path} answered {answer.status}: {content[:300]!r}")
        return json.loads(content) if content.strip() else None


def _create(client: Client, tenant_id: str, name: str, desired: int) -> CreatedGroup:
    body = group_body(name, desired)
    group = client.request("POST", f"/v1.0/{tenant_id}/groups/", body)["group"]
    # Created at ``desired`` servers (its minimum), the group may then go
    # down as well as up: executions of either policy change it.
    client.request("PUT", f"/v1.0/{tenant_id}/groups/{group['id']}/config/",
                   {**body["groupConfiguration"], "minEntities": 0, "metadata": {}})
    policy_ids = tuple(p["id"] for p in group["scalingPolicies"])
    urls = []
    for policy_id in policy_ids:
        hooks = client.request(
            "POST", f"/v1.0/{tenant_id}/groups/{group['id']}/policies/{policy_id}/webhooks/",
            [{"name": "hook"}])["webhooks"]
        urls.append(next(link["href"] for link in hooks[0]["links"]
                         if link["rel"] == "capability"))
    return CreatedGroup(tenant_id, group["id"], (policy_ids[0], policy_ids[1]),
                        (urls[0], urls[1]))


def populate(daemon: Daemon, tenants: Sequence[tuple[str, int]], desired: int = 500,
             threads: int = 8) -> list[CreatedGroup]:
    """Create, through the API, the given number of groups in each tenant, each
    of ``desired`` servers (its minimum then lowered to 0) with two policies
    and a webhook on each: ``threads`` clients at once."""
    work = [(tenant_id, f"g{index}") for tenant_id, count in tenants for index in range(count)]
    chunks = [work[i::threads] for i in range(threads)]

    def run(chunk: list[tuple[str, str]]) -> list[CreatedGroup]:
        client = Client(daemon.port)
        return [_create(client, tenant_id, name, desired) for tenant_id, name in chunk]

    with ThreadPoolExecutor(threads) as pool:
        return [group for made in pool.map(run, chunks) for group in made]
