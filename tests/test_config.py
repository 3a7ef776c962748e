"""
Tests for otter2.config: the configuration file.
"""

import json
import os

from pyrsistent import pmap
from twisted.trial.unittest import SynchronousTestCase

from otter2.config import (
    DEFAULT_PORT,
    UNUSED_KEYS,
    CloudClientConfig,
    Config,
    ConfigError,
    ConvergerConfig,
    IdentityConfig,
    Limits,
    ZooKeeperConfig,
    load_config,
    parse_config,
)


class ParseConfigTests(SynchronousTestCase):
    """A JSON document becomes a Config or a one-line error naming the key."""

    def test_defaults(self) -> None:
        """An empty document gives the embedded defaults."""
        self.assertEqual(parse_config({}), Config())
        self.assertEqual(Config().store.path, "otter2.sqlite")
        self.assertEqual(Config().limits, Limits(100, 1000, 100, 25, 1_048_576))

    def test_cassandra_store(self) -> None:
        """The cassandra backend takes its contact points, port and keyspace."""
        store = parse_config({"store": {"backend": "cassandra", "hosts": ["10.0.0.1", "db2"],
                                        "port": 9142, "keyspace": "as_prod"}}).store
        self.assertEqual((store.backend, store.hosts, store.port, store.keyspace),
                         ("cassandra", ("10.0.0.1", "db2"), 9142, "as_prod"))
        self.assertEqual(parse_config({"store": {"backend": "cassandra"}}).store.hosts,
                         ("127.0.0.1",))

    def test_safe_defaults(self) -> None:
        """By default the API listens on loopback only and self-heal runs every 300 s."""
        self.assertEqual(DEFAULT_PORT, "tcp:9000:interface=127.0.0.1")
        self.assertEqual(parse_config({}).selfheal_interval, 300)

    def test_operations_keys(self) -> None:
        """The metrics keys and the stop's bound are read, with their defaults."""
        config = parse_config({"metrics": {"per_group": True, "divergent_timeout": 600},
                               "shutdown_timeout": 5})
        self.assertEqual((config.metrics.per_group, config.metrics.divergent_timeout,
                          config.shutdown_timeout, config.unused), (True, 600, 5, ()))
        default = parse_config({})
        self.assertEqual((default.metrics.per_group, default.metrics.divergent_timeout,
                          default.shutdown_timeout), (False, 3600, 30))

    def test_executions_and_journal(self) -> None:
        """The receipts' and the journal's settings are read, with their defaults (6
        weeks of each); a retention that is not a positive number is refused."""
        config = parse_config({"executions": {"retention": 60, "key_field": "fingerprint"},
                               "journal": {"retention": 3600}})
        self.assertEqual((config.executions.retention, config.executions.key_field,
                          config.journal.retention), (60, "fingerprint", 3600))
        self.assertEqual(config.converger.journal_retention, 3600)
        self.assertEqual((Config().executions.retention, Config().journal.retention),
                         (42 * 86400, 42 * 86400))
        for wrong in (0, -1, "long", None):
            with self.assertRaises(ConfigError) as caught:
                parse_config({"journal": {"retention": wrong}})
            self.assertIn("journal.retention", str(caught.exception))
        with self.assertRaises(ConfigError):
            parse_config({"journal": {"keep": 1}})

    def test_selfheal_off(self) -> None:
        """``selfheal.interval`` 0 or null turns self-heal off; any other number of
        seconds is kept."""
        for interval, expected in [(0, None), (None, None), (0.5, 0.5), (3600, 3600)]:
            config = parse_config({"selfheal": {"interval": interval}})
            self.assertEqual(config.selfheal_interval, expected, interval)

    def test_scheduler_and_offline_timeout(self) -> None:
        """The scheduler's keys and the converger's OFFLINE timeout are read, with defaults."""
        config = parse_config({"scheduler": {"interval": 2, "batchsize": 7, "buckets": 16},
                               "converger": {"offline_timeout": 600}})
        self.assertEqual((config.scheduler.interval, config.scheduler.batchsize,
                          list(config.scheduler.bucket_numbers)), (2, 7, list(range(1, 17))))
        self.assertEqual(config.converger.offline_timeout, 600)
        default = parse_config({})
        self.assertEqual((default.scheduler.interval, default.scheduler.batchsize,
                          default.scheduler.buckets, default.converger.offline_timeout),
                         (10, 100, 256, 3600))
        for bad, key in [({"scheduler": {"buckets": 0}}, "scheduler.buckets"),
                         ({"scheduler": {"interval": -1}}, "scheduler.interval"),
                         ({"converger": {"offline_timeout": 0}}, "converger.offline_timeout")]:
            error = self.assertRaises(ConfigError, parse_config, bad)
            self.assertIn(key, str(error))

    def test_otter_keys(self) -> None:
        """Otter's key names are read where they apply."""
        config = parse_config({
            "url_root": "https://as.example/", "admin": "tcp:9001", "region": "ORD",
            "limits": {"pagination": 50, "absolute": {
                "maxGroups": 3, "maxPoliciesPerGroup": 4, "maxWebhooksPerPolicy": 5}},
            "root": {"code": 301, "headers": {"Location": ["https://docs"]}, "body": "moved"},
            "identity": {"username": "u", "password": "p", "url": "http://id/v2.0",
                         "admin_url": "http://admin/v2.0", "max_retries": 5},
            "cloudServersOpenStack": "nova", "cloudLoadBalancers": "clb",
            "converger": {"interval": 2, "build_timeout": 30,
                          "step_limits": {"create_server": 25}},
            "selfheal": {"interval": 300}, "scheduler": {}, "zookeeper": {"hosts": "x"},
        })
        self.assertEqual(config.identity, IdentityConfig(
            url="http://id/v2.0", username="u", password="p",
            admin_url="http://admin/v2.0", max_retries=5))
        self.assertEqual(config.converger, ConvergerConfig(
            interval=2, build_timeout=30, create_server_limit=25))
        self.assertEqual(config.selfheal_interval, 300)
        self.assertEqual(config.service_names, {"cloudServersOpenStack": "nova",
                                                "cloudLoadBalancers": "clb"})
        self.assertEqual(config.url_root, "https://as.example")
        self.assertEqual(config.limits, Limits(50, 3, 4, 5, 1_048_576))
        self.assertEqual((config.root.code, config.root.body), (301, "moved"))
        self.assertEqual(config.sections["converger"]["interval"], 2)

    def test_errors_name_the_key(self) -> None:
        """Each bad document is refused with a single line naming the key."""
        for document, key in [
                ({"limits": {"pagination": 0}}, "limits.pagination"),
                ({"limits": {"pagination": True}}, "limits.pagination"),
                ({"limits": {"absolute": {"maxGroups": -1}}}, "limits.absolute.maxGroups"),
                ({"limits": {"absolute": {"maxGroup": 1}}}, "limits.absolute.maxGroup"),
                ({"url_root": "ftp://x"}, "url_root"),
                ({"store": {"backend": "mysql"}}, "store.backend"),
                ({"store": []}, "store"),
                ({"store": {"hosts": []}}, "store.hosts"),
                ({"store": {"hosts": "a"}}, "store.hosts"),
                ({"store": {"port": 0}}, "store.port"),
                ({"store": {"keyspace": "x; DROP"}}, "store.keyspace"),
                ({"root": {"headers": {"a": "b"}}}, "root.headers"),
                ({"converger": 5}, "converger"),
                ({"colour": "blue"}, "colour"),
                ({"identity": {"username": "u", "password": "p"}}, "identity.url"),
                ({"identity": {"url": "http://i", "username": "u", "password": "p",
                               "strategy": "magic"}}, "identity.strategy"),
                ({"converger": {"interval": 0}}, "converger.interval"),
                ({"converger": {"step_limits": {"create_server": "x"}}},
                 "converger.step_limits.create_server"),
                ({"selfheal": {"interval": -1}}, "selfheal.interval"),
                ({"selfheal": {"interval": True}}, "selfheal.interval"),
                ({"converger": {"interval": True}}, "converger.interval"),
                ({"selfheal": {"interval": 300, "jitter": 5}}, "selfheal.jitter"),
                ({"auth": {"enabled": True}}, "auth.enabled"),
                ({"limits": {"rate": {"tenant_per_minute": 0}}},
                 "limits.rate.tenant_per_minute"),
                ({"limits": {"require_json": "yes"}}, "limits.require_json"),
                ({"auth": {"enabled": "yes"}}, "auth.enabled"),
                ({"shutdown_timeout": -1}, "shutdown_timeout"),
                ({"metrics": {"per_group": "yes"}}, "metrics.per_group"),
                ({"metrics": {"divergent_timeout": 0}}, "metrics.divergent_timeout")]:
            with self.assertRaises(ConfigError) as caught:
                parse_config(document)
            message = str(caught.exception)
            self.assertIn(key, message)
            self.assertNotIn("\n", message)

    def test_unused_keys_are_listed(self) -> None:
        """Every key of Otter's configuration that otter2 does not act on yet is
        listed, in one order, and the document still loads."""
        config = parse_config({
            "cassandra": {"seed_hosts": ["tcp:127.0.0.1:9042"], "keyspace": "otter"},
            "zookeeper": {"hosts": "127.0.0.1:2181", "threads": 20},
            "scheduler": {"interval": 10, "partition": {"path": "/s"}},
            "metrics": {"interval": 60}, "cloudfeeds": {"tenant_id": "t"},
            "cloud_client": {"throttling": {}, "timeout": 30}, "cloudOrchestration": "heat",
            "environment": "staging", "bobby_url": "http://bobby",
            "non-convergence-tenants": "none",
            "identity": {"url": "http://id/v2.0", "username": "u", "password": "p",
                         "wait": 5},
            "converger": {"max_retry_delay": 30}})
        self.assertEqual(config.unused, (*UNUSED_KEYS, "cloud_client.timeout",
                                         "metrics.interval"))

    def test_zookeeper(self) -> None:
        """The zookeeper section names the servers the nodes share the buckets through,
        with defaults; without it there is none; a wrong key is named."""
        self.assertIsNone(parse_config({}).zookeeper)
        self.assertEqual(parse_config({"zookeeper": {"hosts": "10.0.0.1:2181"}}).zookeeper,
                         ZooKeeperConfig("10.0.0.1:2181", "/otter2", 10.0))
        self.assertEqual(parse_config({"zookeeper": {
            "hosts": "a:1,b:2", "path": "/o2", "session_timeout": 4}}).zookeeper,
            ZooKeeperConfig("a:1,b:2", "/o2", 4))
        for bad, key in [({"zookeeper": {}}, "zookeeper.hosts"),
                         ({"zookeeper": {"hosts": ""}}, "zookeeper.hosts"),
                         ({"zookeeper": {"hosts": "a:1", "path": "x"}}, "zookeeper.path"),
                         ({"zookeeper": {"hosts": "a:1", "session_timeout": 0}},
                          "zookeeper.session_timeout")]:
            error = self.assertRaises(ConfigError, parse_config, bad)
            self.assertIn(key, str(error))

    def test_used_keys_are_not_listed(self) -> None:
        """Keys otter2 acts on are not listed, nor a section's other keys."""
        config = parse_config({
            "region": "ORD", "selfheal": {"interval": 60},
            "identity": {"url": "http://id/v2.0", "username": "u", "password": "p"},
            "converger": {"interval": 5}, "limits": {"pagination": 10},
            "cloud_client": {"throttling": {"create_server_delay": 1},
                             "max_in_flight_per_tenant": 5}})
        self.assertEqual(config.unused, ())
        self.assertEqual(parse_config({"converger": {"max_retry_delay": 30}}).unused,
                         ("converger.max_retry_delay",))

    def test_cloud_client(self) -> None:
        """Throttles are off and 20 calls per tenant may be in flight unless
        ``cloud_client`` says otherwise; each throttle given is kept, in seconds."""
        self.assertEqual(parse_config({}).cloud_client, CloudClientConfig(pmap(), 20))
        config = parse_config({"cloud_client": {
            "throttling": {"create_server_delay": 1, "get_clb_delay": 0.2},
            "max_in_flight_per_tenant": 5}})
        self.assertEqual(config.cloud_client, CloudClientConfig(
            pmap({"create_server_delay": 1.0, "get_clb_delay": 0.2}), 5))

    def test_cloud_client_refusals(self) -> None:
        """An unknown throttle, a negative delay or a cap below 1 is refused, naming the key."""
        for document, key in [
                ({"throttling": {"list_server_delay": 1}}, "cloud_client.throttling.list_server_delay"),
                ({"throttling": {"create_server_delay": -1}}, "cloud_client.throttling.create_server_delay"),
                ({"throttling": []}, "cloud_client.throttling"),
                ({"max_in_flight_per_tenant": 0}, "cloud_client.max_in_flight_per_tenant")]:
            with self.assertRaises(ConfigError) as caught:
                parse_config({"cloud_client": document})
            self.assertIn(key, str(caught.exception))

    def test_not_an_object(self) -> None:
        """A document that is not an object is refused."""
        self.assertRaises(ConfigError, parse_config, [])


class DefaultURLRootTests(SynchronousTestCase):
    """Without ``url_root``, links point at the listening port on loopback."""

    def test_ports(self) -> None:
        """tcp:N, tcp:N:interface=..., a bare N, and anything else."""
        from otter2.config import default_url_root

        self.assertEqual(default_url_root("tcp:9100"), "http://127.0.0.1:9100")
        self.assertEqual(default_url_root("tcp:9101:interface=127.0.0.1"),
                         "http://127.0.0.1:9101")
        self.assertEqual(default_url_root("9102"), "http://127.0.0.1:9102")
        self.assertEqual(default_url_root("unix:/tmp/s"), "http://127.0.0.1:9000")


class LoadConfigTests(SynchronousTestCase):
    """Reading the file."""

    def test_no_file(self) -> None:
        """No path means the defaults."""
        self.assertEqual(load_config(None), Config())

    def test_missing_file(self) -> None:
        """A missing file names the path."""
        with self.assertRaises(ConfigError) as caught:
            load_config("/nonexistent/otter2.json")
        self.assertIn("/nonexistent/otter2.json", str(caught.exception))

    def test_file(self) -> None:
        """A file's JSON is parsed."""
        path = self.mktemp()
        with open(path, "w") as f:
            json.dump({"store": {"path": "x.sqlite"}}, f)
        self.assertEqual(load_config(path).store.path, "x.sqlite")
        os.remove(path)
