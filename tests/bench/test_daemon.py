"""
Tests for otter2.bench.daemon and otter2.bench.fill: the benchmarks' daemon
starts on its own store with no cloud, is filled through its API or straight
into its store file, and reports its resident size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from otter2.bench.daemon import Client, Daemon, populate, resident_bytes
from otter2.bench.fill import tenants


def get(daemon: Daemon, path: str) -> Any:
    with urllib.request.urlopen(daemon.url + path, timeout=30) as answer:
        return json.load(answer)


class DaemonTests(SynchronousTestCase):
    """The daemon the API and memory benchmarks measure."""

    def setUp(self) -> None:
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.daemon = Daemon(self.directory)
        self.addCleanup(self.daemon.stop)

    def test_config_has_no_cloud(self) -> None:
        """The configuration names no identity service, so nothing converges."""
        with open(self.daemon.config_path) as f:
            self.assertEqual(json.load(f), {"url_root": self.daemon.url})

    def test_populate(self) -> None:
        """Groups made through the API each have a +1 and a -1 policy with a webhook."""
        self.assertGreater(self.daemon.start(), 0)
        made = populate(self.daemon, [("1001", 3), ("1002", 1)], desired=5, threads=2)
        self.assertEqual(sorted(g.tenant_id for g in made), ["1001"] * 3 + ["1002"])
        listed = get(self.daemon, "/v1.0/1001/groups/")["groups"]
        self.assertEqual({g["id"] for g in listed},
                         {g.group_id for g in made if g.tenant_id == "1001"})
        one = made[0]
        manifest = get(self.daemon, f"/v1.0/{one.tenant_id}/groups/{one.group_id}/"
                                    "?webhooks=true")["group"]
        self.assertEqual(sorted(p["change"] for p in manifest["scalingPolicies"]), [-1, 1])
        self.assertEqual([len(p["webhooks"]) for p in manifest["scalingPolicies"]], [1, 1])
        self.assertEqual(manifest["state"]["desiredCapacity"], 5)
        self.assertEqual(manifest["groupConfiguration"]["minEntities"], 0)
        urls = {link["href"] for p in manifest["scalingPolicies"] for w in p["webhooks"]
                for link in w["links"] if link["rel"] == "capability"}
        self.assertEqual(urls, set(one.capability_urls))

    def test_resident_size(self) -> None:
        """The resident size of the running daemon is some megabytes."""
        self.daemon.start()
        self.assertGreater(self.daemon.resident_bytes(), 2**20)
        self.assertGreater(resident_bytes(os.getpid()), 0)

    def test_fill(self) -> None:
        """Filling the store file gives every group, policy and webhook to the daemon."""
        subprocess.run([sys.executable, "-m", "otter2.bench.fill",
                        os.path.join(self.directory, "otter2.sqlite"), "3"], check=True)
        self.daemon.start()
        [(tenant_id, _)] = tenants(3)
        client = Client(self.daemon.port)
        page = client.request("GET", f"/v1.0/{tenant_id}/groups/")
        self.assertEqual(len(page["groups"]), 3)
        for listed in page["groups"]:
            manifest = client.request(
                "GET", f"/v1.0/{tenant_id}/groups/{listed['id']}/?webhooks=true")["group"]
            self.assertEqual(sorted((p["change"], len(p["webhooks"]))
                                    for p in manifest["scalingPolicies"]), [(-1, 1), (1, 1)])


class TenantsTests(SynchronousTestCase):
    """How the memory benchmark spreads its groups."""

    def test_a_thousand_to_a_tenant(self) -> None:
        """At most 1 000 groups (the default limit) to a tenant, each tenant its own id."""
        self.assertEqual([count for _, count in tenants(2500)], [1000, 1000, 500])
        self.assertEqual(len({tenant for tenant, _ in tenants(2500)}), 3)
        self.assertEqual(tenants(0), [])
