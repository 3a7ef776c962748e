"""
How fast the daemon answers its API under load, beside a bare Klein route on
the same machine in the same run.

The daemon is the real ``twistd -n otter2`` on its embedded SQLite store in
a temporary directory, with no cloud configured (`otter2.bench.daemon`),
holding 100 groups in one tenant (each with a +1 and a -1 policy and a
webhook on each) and one group in another tenant. ``wrk -t2 -c50`` then
loads, in turn: GET a group's state, GET the list of the 100 groups, GET a
group's manifest with its webhooks, POST the execution of a policy (the
authenticated route) and POST a capability URL. The executions go round the
100 groups, each group's +1 policy then its -1, so every group stays
between its limits and every execution changes it. After each load the
daemon is given time to finish what it accepted (``busy after s``: the
capability route answers before it executes) so that it does not slow the
next load. The bare route (`otter2.bench.bare`) takes the same load, GET and
POST, in each run; each ratio is taken within a run and the median of the
runs is shown.

Targets: GET state at 70% or more of the bare GET's requests per second,
each POST execute at 50% or more of the bare POST's, no socket error and no
answer outside 2xx and 3xx, and a p99 latency at most three times the bare
route's.

test-case-name: tests.bench.test_main
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from urllib.parse import urlsplit

from attrs import frozen

from otter2.bench.daemon import (
    CreatedGroup,
    Daemon,
    free_port,
    populate,
    stop_process,
    wait_until_up,
)
from otter2.bench.report import Figure, median, skipped_figure
from otter2.bench.wrk import WrkResult, find_wrk, run_wrk

SECTION = "api"
CONNECTIONS = 50
THREADS = 2


@frozen
class Load:
    """One kind of request the benchmark sends: its name, method, the daemon's
    paths, the bare route's paths, and its rate target (a share of the bare's)."""

    name: str
    method: str
    paths: tuple[str, ...]
    bare_paths: tuple[str, ...]
    share: float | None


def loads(listed: list[CreatedGroup], single: CreatedGroup) -> list[Load]:
    """The loads of the benchmark, on the groups `populate` made: reads of one
    group, and executions spread over the listed groups' policies."""
    base = f"/v1.0/{single.tenant_id}/groups/{single.group_id}"
    bare_get = (f"/v1.0/{single.tenant_id}/groups/{single.group_id}/state/",)
    bare_post = ("/v1.0/execute/1/bare-up/", "/v1.0/execute/1/bare-down/")
    return [
        Load("GET group state", "GET", (f"{base}/state/",), bare_get, 0.7),
        Load(f"GET group list ({len(listed)} groups)", "GET",
             (f"/v1.0/{listed[0].tenant_id}/groups/",), bare_get, None),
        Load("GET manifest with webhooks", "GET", (f"{base}/?webhooks=true",), bare_get, None),
        Load("POST policy execute (authenticated route)", "POST",
             tuple(f"/v1.0/{g.tenant_id}/groups/{g.group_id}/policies/{p}/execute/"
                   for g in listed for p in g.policy_ids), bare_post, 0.5),
        Load("POST capability URL", "POST",
             tuple(urlsplit(url).path for g in listed for url in g.capability_urls),
             bare_post, 0.5),
    ]


def _skipped(reason: str, listed_groups: int) -> list[Figure]:
    """The figures of a run without wrk, each saying why it is missing."""
    single = CreatedGroup("t", "g", ("p1", "p2"), ("http://x/1", "http://x/2"))
    figures = [skipped_figure(SECTION, f"bare Klein route {method}", "req/s", "", reason)
               for method in ("GET", "POST")]
    for kind in loads([single] * listed_groups, single):
        target = f">= {kind.share:.2f}" if kind.share is not None else ""
        figures += [
            skipped_figure(SECTION, f"{kind.name}: rate / bare {kind.method}", "x", target,
                           reason),
            skipped_figure(SECTION, f"{kind.name}: errors and non-2xx/3xx", "", "= 0", reason),
            skipped_figure(SECTION, f"{kind.name}: p99 / bare p99", "x", "<= 3", reason)]
    return figures


def figures(runs: int = 3, seconds: float = 5.0, listed_groups: int = 100,
            install: bool = True) -> list[Figure]:
    """The API figures; with no wrk (and none installable), each says it was skipped."""
    wrk, reason = find_wrk(install)
    if wrk is None:
        return _skipped(reason, listed_groups)
    with tempfile.TemporaryDirectory(prefix="otter2-bench-api-") as directory:
        daemon = Daemon(directory)
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, "-m", "otter2.bench.bare", str(bare_port)],
                                start_new_session=True)
        try:
            daemon.start()
            bare_root = f"http://127.0.0.1:{bare_port}"
            wait_until_up(f"{bare_root}/v1.0/t/groups/g/state/", bare)
            listed = populate(daemon, [("100100", listed_groups)])
            [single] = populate(daemon, [("100200", 1)])
            return _measure(wrk, daemon, bare_root, loads(listed, single), runs, seconds)
        finally:
            daemon.stop()
            stop_process(bare)


def _measure(wrk: str, daemon: Daemon, bare_root: str, kinds: list[Load], runs: int,
             seconds: float) -> list[Figure]:
    settled: dict[str, list[float]] = {kind.name: [] for kind in kinds}

    def load(target: str, method: str, paths: tuple[str, ...]) -> WrkResult:
        return run_wrk(wrk, target, method, paths, seconds, THREADS, CONNECTIONS)

    def ours(kind: Load) -> WrkResult:
        result = load(daemon.url, kind.method, kind.paths)
        # Work accepted but not done (anonymous executions) must not steal
        # the core from the next load.
        settled[kind.name].append(daemon.wait_until_idle())
        return result

    for kind in kinds[:1] + kinds[3:4]:  # warm both up
        ours(kind)
        load(bare_root, kind.method, kind.bare_paths)
    bare: dict[str, list[WrkResult]] = {"GET": [], "POST": []}
    measured: dict[str, list[WrkResult]] = {kind.name: [] for kind in kinds}
    for _ in range(runs):
        for method, kind in (("GET", kinds[0]), ("POST", kinds[3])):
            bare[method].append(load(bare_root, method, kind.bare_paths))
        for kind in kinds:
            measured[kind.name].append(ours(kind))
    figures = []
    for method in ("GET", "POST"):
        results = bare[method]
        figures.append(Figure(
            SECTION, f"bare Klein route {method}", median(r.per_second for r in results),
            "req/s", "", None,
            {"runs": [r.per_second for r in results],
             "p99 ms": median(r.p99_ms for r in results),
             "errors": sum(r.socket_errors + r.bad_status for r in results)}))
    for kind in kinds:
        figures += _kind_figures(kind, measured[kind.name], bare[kind.method],
                                 median(settled[kind.name]))
    return figures


def _kind_figures(kind: Load, results: list[WrkResult], bare: list[WrkResult],
                  settle: float) -> list[Figure]:
    shares = [r.per_second / b.per_second if b.per_second else 0.0
              for r, b in zip(results, bare, strict=True)]
    p99s = [r.p99_ms / b.p99_ms if b.p99_ms else 0.0 for r, b in zip(results, bare, strict=True)]
    rate = median(r.per_second for r in results)
    errors = sum(r.socket_errors for r in results)
    bad = sum(r.bad_status for r in results)
    share = median(shares)
    return [
        Figure(SECTION, f"{kind.name}: rate / bare {kind.method}", share, "x",
               f">= {kind.share:.2f}" if kind.share is not None else "",
               share >= kind.share if kind.share is not None else None,
               {"runs": shares, "req/s": rate,
                "bare req/s": median(b.per_second for b in bare),
                "busy after s": settle}),
        Figure(SECTION, f"{kind.name}: errors and non-2xx/3xx", float(errors + bad), "",
               "= 0", errors + bad == 0,
               {"socket errors": errors, "non-2xx/3xx": bad,
                "requests": sum(r.requests for r in results)}),
        Figure(SECTION, f"{kind.name}: p99 / bare p99", median(p99s), "x", "<= 3",
               median(p99s) <= 3,
               {"runs": p99s, "p99 ms": median(r.p99_ms for r in results),
                "bare p99 ms": median(b.p99_ms for b in bare),
                "p50 ms": median(r.p50_ms for r in results)}),
    ]
