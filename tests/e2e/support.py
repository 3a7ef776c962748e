"""
Running mimic and the otter2 daemon as real processes for end-to-end tests,
and reading what mimic's cloud holds.

mimic runs from its own virtual environment (``scripts/setup-mimic``, which
``make test`` runs); without it these tests fail and say so.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Relative to the project, as the Makefile gives it (trial runs in a temp dir).
MIMIC_VENV = os.path.join(ROOT, os.environ.get("MIMIC_VENV", ".venv-mimic"))
TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")
REGION = "ORD"
PR_SET_PDEATHSIG = 1  # prctl(2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_environment() -> dict[str, str]:
    """This process's environment without the Python path trial may have set:
    each process imports from its own virtual environment."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _wait_for(url: str, process: subprocess.Popen[bytes], what: str,
              seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited at start-up")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} did not answer within {seconds} s")


def _stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _die_with_parent() -> None:
    """In a child process before it runs: ask Linux to end it when the test
    process dies, even by SIGKILL, when ``atexit`` cannot run."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: atexit and cleanups are all there is


class Mimic:
    """
    A mimic process in a directory of its own. With ``realtime`` its clock is
    the real one; without, it starts at 1970 and moves only by `tick`, which
    makes timed behaviours instant and exact.
    """

    def __init__(self, realtime: bool = True) -> None:
        twistd = os.path.join(MIMIC_VENV, "bin", "twistd")
        if not os.path.exists(twistd):
            raise AssertionError(f"mimic is not installed in {MIMIC_VENV}: run "
                                 "scripts/setup-mimic (make test does)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.directory = tempfile.mkdtemp(prefix="otter2-mimic-")
        self.log = open(os.path.join(self.directory, "mimic.log"), "wb")
        self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
            [twistd, "-n", "--pidfile=", "mimic", "--listen",
             f"tcp:{self.port}:interface=127.0.0.1", *(["--realtime"] if realtime else [])],
            cwd=self.directory, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True, env=clean_environment(), preexec_fn=_die_with_parent)
        _wait_for(self.url + "/", self.process, "mimic")
        self.realtime = realtime
        self.identity = self.url + "/identity/v2.0"

    def stop(self) -> None:
        _stop(self.process)
        self.process = None
        self.log.close()

    def _login(self, tenant_id: str) -> Any:
        body = json.dumps({"auth": {"passwordCredentials": {"username": f"user-{tenant_id}",
                                                            "password": "p"},
                                    "tenantId": tenant_id}}).encode()
        request = urllib.request.Request(self.identity + "/tokens", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)["access"]

    def token(self, tenant_id: str) -> str:
        """A token of a user of the tenant."""
        return str(self._login(tenant_id)["token"]["id"])

    def catalog(self, tenant_id: str) -> dict[str, str]:
        """The ORD public URL of every service of a tenant, by catalog name."""
        access = self._login(tenant_id)
        urls = {}
        for service in access["serviceCatalog"]:
            for endpoint in service["endpoints"]:
                if endpoint.get("region") in (REGION, "") and service["name"] not in urls:
                    urls[service["name"]] = endpoint["publicURL"]
        return urls


class Daemon:
    """``twistd -n otter2`` over its own store file, pointed at mimic."""

    def __init__(self, directory: str, config: dict[str, Any],
                 twistd_options: tuple[str, ...] = ()) -> None:
        self.directory = directory
        self.twistd_options = twistd_options
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = os.path.join(directory, "config.json")
        with open(self.config_path, "w") as f:
            json.dump({"url_root": self.url, **config}, f)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log = open(os.path.join(self.directory, "otter2.log"), "ab")
        self.process = subprocess.Popen(
            [TWISTD, "-n", "--pidfile=", *self.twistd_options, "otter2", "--port",
             f"tcp:{self.port}:interface=127.0.0.1", "--config", self.config_path],
            cwd=self.directory, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True, env=clean_environment(),
            preexec_fn=_die_with_parent)
        _wait_for(self.url + "/health", self.process, "otter2")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        _stop(self.process, sig)
        self.process = None
        self.log.close()

    def output(self) -> str:
        with open(os.path.join(self.directory, "otter2.log"), errors="replace") as f:
            return f.read()


_shared: dict[bool, Mimic] = {}
_tenants = itertools.count(1)


def shared_mimic(realtime: bool = True) -> Mimic:
    """One mimic per test process (and kind of clock), started when first
    needed, stopped at exit."""
    if realtime not in _shared:
        mimic = _shared[realtime] = Mimic(realtime)
        atexit.register(mimic.stop)
    return _shared[realtime]


class MimicTestCase(TestCase):
    """
    One otter2 daemon and one tenant of the shared mimic per test.
    ``self.api`` is the tenant's otter2 URL, ``self.cloud`` its mimic services.
    """

    timeout = 180
    config: dict[str, Any] = {}

    def setUp(self) -> None:
        self.mimic = shared_mimic()
        self.tenant_id = f"{os.getpid()}{next(_tenants):03d}"
        self.cloud = self.mimic.catalog(self.tenant_id)
        with urllib.request.urlopen(self.cloud["cloudServersOpenStack"] + "/images/detail",
                                    timeout=10) as answer:
            self.image_id = next(i["id"] for i in json.load(answer)["images"]
                                 if i.get("status", "ACTIVE") == "ACTIVE")
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.http = HTTPClient(Agent(reactor, pool=pool))
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.daemon = Daemon(self.directory, self.daemon_config())
        self.daemon.start()
        self.addCleanup(self.stop_daemon)
        self.api = f"{self.daemon.url}/v1.0/{self.tenant_id}"

    def stop_daemon(self) -> None:
        self.daemon.stop()

    def daemon_config(self) -> dict[str, Any]:
        return {"region": REGION,
                "identity": {"url": self.mimic.identity, "username": "otter",
                             "password": "secret", "retry_interval": 0.5},
                "converger": {"interval": 0.5, "build_timeout": 30},
                "selfheal": {"interval": 3}, **self.config}

    # -- talking to otter2 and mimic -----------------------------------------------

    async def request(self, method: str, url: str, body: Any = None,
                      headers: dict[str, str] | None = None, ok: Any = None) -> Any:
        """The JSON answer (or None) of a request; fails unless its status is ``ok``."""
        response = await self.http.request(
            method, url, data=None if body is None else json.dumps(body).encode(),
            headers=Headers({"Content-Type": ["application/json"],
                             **{k: [v] for k, v in (headers or {}).items()}}))
        content = await response.content()
        if ok is not None and response.code not in (ok if isinstance(ok, tuple) else (ok,)):
            raise AssertionError(f"{method} {url} answered {response.code}: {content[:500]!r}")
        return json.loads(content) if content.strip() else None

    async def servers(self, group_id: str) -> list[dict[str, Any]]:
        """The group's servers in mimic's Nova (by their metadata)."""
        body = await self.request("GET", self.cloud["cloudServersOpenStack"] + "/servers/detail",
                                  ok=200)
        return [s for s in body["servers"]
                if (s.get("metadata") or {}).get("rax:autoscale:group:id") == group_id]

    async def nodes(self, lb_id: int) -> list[dict[str, Any]]:
        body = await self.request(
            "GET", f"{self.cloud['cloudLoadBalancers']}/loadbalancers/{lb_id}/nodes", ok=200)
        nodes: list[dict[str, Any]] = body["nodes"]
        return nodes

    async def new_load_balancer(self, **metadata: Any) -> int:
        body = {"loadBalancer": {"name": "lb", "protocol": "HTTP", "port": 80,
                                 "virtualIps": [{"type": "PUBLIC"}], "nodes": [],
                                 "metadata": [{"key": k, "value": v}
                                              for k, v in metadata.items()]}}
        answer = await self.request("POST", self.cloud["cloudLoadBalancers"] + "/loadbalancers",
                                    body, ok=202)
        return int(answer["loadBalancer"]["id"])

    async def create_group(self, minimum: int, lb_ids: tuple[int, ...] = (),
                           build_seconds: int = 1, draining_timeout: int = 0,
                           pool_ids: tuple[str, ...] = (), **config: Any) -> str:
        # mimic builds a server for ``server_building`` seconds; that metadata
        # also overrides its control plane's creation behaviours, so it is
        # left out when ``build_seconds`` is 0.
        server: dict[str, Any] = {"name": "web", "flavorRef": "general1-1",
                                  "imageRef": self.image_id}
        if build_seconds:
            server["metadata"] = {"server_building": str(build_seconds)}
        body = {"groupConfiguration": {"name": "web", "cooldown": 0, "minEntities": minimum,
                                       **config},
                "launchConfiguration": {"type": "launch_server", "args": {
                    "server": server,
                    "loadBalancers": [{"loadBalancerId": lb, "port": 80} for lb in lb_ids]
                    + [{"loadBalancerId": pool, "type": "RackConnectV3"} for pool in pool_ids],
                    **({"draining_timeout": draining_timeout} if draining_timeout else {})}}}
        answer = await self.request("POST", self.api + "/groups", body, ok=201)
        return str(answer["group"]["id"])

    async def execute(self, group_id: str, **change: Any) -> None:
        policy = {"name": "p", "type": "webhook", "cooldown": 0, **change}
        answer = await self.request("POST", f"{self.api}/groups/{group_id}/policies",
                                    [policy], ok=201)
        policy_id = answer["policies"][0]["id"]
        await self.request("POST",
                           f"{self.api}/groups/{group_id}/policies/{policy_id}/execute",
                           ok=202)

    async def state(self, group_id: str) -> dict[str, Any]:
        answer = await self.request("GET", f"{self.api}/groups/{group_id}/state", ok=200)
        group: dict[str, Any] = answer["group"]
        return group

    async def status_is(self, group_id: str, status: str, desired: int) -> dict[str, Any]:
        """The group's state once it shows ``status`` with ``desired`` capacity."""
        async def check() -> bool:
            state = await self.state(group_id)
            return bool(state["status"] == status and state["desiredCapacity"] == desired)

        async def seen() -> str:
            return str(await self.state(group_id))
        await self.eventually(check, f"{status} at desired {desired}", seen=seen)
        return await self.state(group_id)

    @staticmethod
    def errors(state: dict[str, Any]) -> list[str]:
        """The messages of a group state's ``errors`` (none when it has none)."""
        return [e["message"] for e in state.get("errors", [])]

    async def eventually(self, check: Callable[[], Awaitable[bool]], what: str,
                         seconds: float = 60.0,
                         seen: Callable[[], Awaitable[str]] | None = None) -> None:
        """Wait until ``check()`` is true; fail, saying ``what`` (and what was
        ``seen``), after ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if await check():
                return
            await deferLater(reactor, 0.25, lambda: None)
        found = await seen() if seen is not None else ""
        raise AssertionError(f"not {what} within {seconds} s: {found}\notter2 said:\n"
                             + self.daemon.output()[-3000:])

    async def converged(self, group_id: str, count: int, lb_ids: tuple[int, ...] = (),
                        seconds: float = 60.0) -> list[dict[str, Any]]:
        """Wait until the group has exactly ``count`` ACTIVE servers, each one
        node on every LB (and no other node there), and the API agrees."""
        async def check() -> bool:
            servers = await self.servers(group_id)
            if len(servers) != count or any(s["status"] != "ACTIVE" for s in servers):
                return False
            addresses = sorted(a["addr"] for s in servers for a in s["addresses"]["private"]
                               if a["version"] == 4)
            for lb_id in lb_ids:
                nodes = sorted(n["address"] for n in await self.nodes(lb_id))
                if nodes != addresses:
                    return False
            state = await self.state(group_id)
            return bool(state["activeCapacity"] == count and state["status"] == "ACTIVE")

        async def seen() -> str:
            servers = [(s["id"], s["status"], [a["addr"] for a in s["addresses"]["private"]])
                       for s in await self.servers(group_id)]
            nodes = {lb: [(n["address"], n["condition"]) for n in await self.nodes(lb)]
                     for lb in lb_ids}
            return f"servers {servers}, nodes {nodes}, state {await self.state(group_id)}"
        await self.eventually(check, f"converged to {count} servers", seconds, seen)
        return await self.servers(group_id)
