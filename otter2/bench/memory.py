"""
How much memory the daemon holds with many groups, and how long it takes to
start with them.

The daemon's store is filled with ``GROUPS`` groups, 1 000 to a tenant, each
with two policies and a webhook on each (`otter2.bench.fill`), then the
daemon (`otter2.bench.daemon`) is started on it several times: each time the
seconds until it answers ``/health`` are taken, every tenant's groups are
listed page by page (which reads every group's state, so what the daemon
keeps of a group in memory is there), and its resident size is read. The
start-up time is shown beside that of a daemon on an empty store, measured
in the same runs.

test-case-name: tests.bench.test_main
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from urllib.parse import urlsplit

from otter2.bench.daemon import Client, Daemon
from otter2.bench.fill import tenants
from otter2.bench.report import Figure, median

SECTION = "memory"
GROUPS = 10_000
TARGET_MB = 300.0


def list_every_group(daemon: Daemon, tenant_ids: list[str]) -> int:
    """List every group of the tenants, following the next links: how many were listed."""
    client = Client(daemon.port)
    listed = 0
    for tenant_id in tenant_ids:
        path: str | None = f"/v1.0/{tenant_id}/groups/"
        while path is not None:
            page = client.request("GET", path)
            listed += len(page["groups"])
            following = [link["href"] for link in page["groups_links"]
                         if link["rel"] == "next"]
            path = None
            if following and page["groups"]:
                parts = urlsplit(following[0])
                path = parts.path + (f"?{parts.query}" if parts.query else "")
    return listed


def figures(runs: int = 3, groups: int = GROUPS) -> list[Figure]:
    """The resident size with ``groups`` groups, and the start-up times."""
    with tempfile.TemporaryDirectory(prefix="otter2-bench-memory-") as directory:
        full_dir, empty_dir = os.path.join(directory, "full"), os.path.join(directory, "empty")
        os.makedirs(full_dir)
        os.makedirs(empty_dir)
        subprocess.run([sys.executable, "-m", "otter2.bench.fill",
                        os.path.join(full_dir, "otter2.sqlite"), str(groups)], check=True)
        full, empty = Daemon(full_dir), Daemon(empty_dir)
        tenant_ids = [tenant_id for tenant_id, _ in tenants(groups)]
        try:
            sizes, starts, empty_starts, ratios, listed = [], [], [], [], []
            for _ in range(runs):
                empty_starts.append(empty.start())
                empty_size = empty.resident_bytes()
                empty.stop()
                starts.append(full.start())
                listed.append(list_every_group(full, tenant_ids))
                sizes.append(full.resident_bytes() / 2**20)
                full.stop()
                ratios.append(starts[-1] / empty_starts[-1] if empty_starts[-1] else 0.0)
        finally:
            full.stop()
            empty.stop()
    size = median(sizes)
    return [
        Figure(SECTION, f"resident size with {groups} groups", size, "MB",
               f"< {TARGET_MB:.0f} MB", size < TARGET_MB,
               {"runs": sizes, "empty daemon MB": empty_size / 2**20,
                "groups listed": min(listed), "policies": 2 * groups, "webhooks": 2 * groups}),
        Figure(SECTION, f"start-up with {groups} groups", median(starts), "s", "", None,
               {"runs": starts, "empty start-up s": median(empty_starts)}),
        Figure(SECTION, f"start-up with {groups} groups / empty start-up", median(ratios), "x",
               "", None, {"runs": ratios}),
    ]
