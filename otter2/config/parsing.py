"""
The configuration file: JSON in, a frozen `Config` out, or a one-line error
naming the bad key. Keys keep the names of Otter's configuration where they
apply; a key of Otter's that otter2 does not act on yet is accepted and
listed in ``Config.unused``.

test-case-name: tests.test_config
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from attrs import evolve

from otter2.config.reading import ABSENT, Absent, given, natural, positive, read, section_of
from otter2.config.values import (
    API_AUTH_TTL,
    DEFAULT_PORT,
    THROTTLE_KEYS,
    CloudClientConfig,
    Config,
    ConfigError,
    ConvergerConfig,
    ExecutionsConfig,
    IdentityConfig,
    JournalConfig,
    Limits,
    MetricsConfig,
    RootResponse,
    SchedulerConfig,
    StoreConfig,
    ZooKeeperConfig,
)

# Sections whose content the control plane does not read yet: accepted as
# objects (or strings) so an Otter-style file loads, and kept for the services.
_OBJECT_SECTIONS = ("identity", "converger", "scheduler", "zookeeper", "selfheal",
                    "cassandra", "metrics", "cloudfeeds", "cloud_client", "auth")
_STRING_SECTIONS = ("cloudServersOpenStack", "cloudLoadBalancers", "rackconnect",
                    "cloudOrchestration", "environment", "bobby_url")
_KNOWN = {"url_root", "admin", "limits", "store", "root", "region", "shutdown_timeout",
          "executions", "journal",
          "non-convergence-tenants", *_OBJECT_SECTIONS, *_STRING_SECTIONS}

#: Keys of Otter's configuration that otter2 accepts, so that an Otter file
#: loads, but does not act on yet; the daemon names each one given in a
#: warning as it starts, so that nobody believes it took effect.
UNUSED_KEYS = ("cassandra", "zookeeper.threads", "scheduler.partition", "cloudfeeds",
               "environment", "bobby_url",
               "non-convergence-tenants", "identity.wait", "converger.max_retry_delay")

#: The keys of ``cloud_client`` otter2 acts on; any other is named in the warning.
_CLOUD_CLIENT_KEYS = ("throttling", "max_in_flight_per_tenant")

#: The keys of ``metrics`` otter2 acts on; any other (Otter's Cloud Metrics
#: settings: ``interval``, ``ttl``...) is named in the warning.
_METRICS_KEYS = ("per_group", "divergent_timeout")


def parse_config(document: Any) -> Config:
    """The `Config` a parsed JSON document describes; `ConfigError` if it is wrong."""
    if not isinstance(document, dict):
        raise ConfigError("the configuration must be a JSON object")
    for key in document:
        if key not in _KNOWN:
            raise ConfigError(f"unknown configuration key {key}")

    limits_doc = section_of(document, "limits", {"pagination", "absolute", "max_body_bytes",
                                               "rate", "require_json"})
    rate = section_of(limits_doc, "rate", {"tenant_per_minute", "execute_per_second"},
                    "limits.")
    absolute = section_of(limits_doc, "absolute", {
        "maxGroups", "maxPoliciesPerGroup", "maxWebhooksPerPolicy"}, "limits.")
    limits = Limits(**given(
        pagination=read(limits_doc, "pagination", "limits.", int, positive,
                        "a positive integer"),
        max_groups=read(absolute, "maxGroups", "limits.absolute.", int, natural,
                        "a non-negative integer"),
        max_policies_per_group=read(absolute, "maxPoliciesPerGroup", "limits.absolute.",
                                    int, natural, "a non-negative integer"),
        max_webhooks_per_policy=read(absolute, "maxWebhooksPerPolicy", "limits.absolute.",
                                     int, natural, "a non-negative integer"),
        max_body_bytes=read(limits_doc, "max_body_bytes", "limits.", int, positive,
                            "a positive integer"),
        tenant_per_minute=read(rate, "tenant_per_minute", "limits.rate.", int, positive,
                               "a positive integer"),
        execute_per_second=read(rate, "execute_per_second", "limits.rate.", int, positive,
                                "a positive integer"),
        require_json=read(limits_doc, "require_json", "limits.", bool, None,
                          "true or false")))

    store_doc = section_of(document, "store", {"backend", "path", "hosts", "port", "keyspace"})
    store = StoreConfig(**given(
        backend=read(store_doc, "backend", "store.", str,
                     lambda v: v in ("sqlite", "cassandra"), 'one of "sqlite", "cassandra"'),
        path=read(store_doc, "path", "store.", str, bool, "a file path"),
        hosts=read(store_doc, "hosts", "store.", list, lambda v: v and all(
            isinstance(h, str) and h and not h.isspace() for h in v),
            "a non-empty list of host names or addresses"),
        port=read(store_doc, "port", "store.", int, lambda v: 0 < v < 65536, "a port number"),
        keyspace=read(store_doc, "keyspace", "store.", str,
                      lambda v: re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,47}", v) is not None,
                      "a keyspace name (a letter, then letters, digits or _; 48 at most)")))

    root_doc = section_of(document, "root", {"code", "headers", "body"})
    root = RootResponse(**given(
        code=read(root_doc, "code", "root.", int, lambda v: 100 <= v <= 599,
                  "an HTTP status code"),
        headers=read(root_doc, "headers", "root.", dict, lambda v: all(
            isinstance(vs, list) and all(isinstance(x, str) for x in vs)
            for vs in v.values()), "a map from header name to a list of strings"),
        body=read(root_doc, "body", "root.", str, None, "a string")))

    sections = {}
    for key in _OBJECT_SECTIONS:
        if key in document:
            sections[key] = read(document, key, "", dict, None, "an object")
    for key in _STRING_SECTIONS:
        if key in document:
            sections[key] = read(document, key, "", str, None, "a string")

    journal = _journal(document)
    converger = evolve(_converger(document), journal_retention=journal.retention)
    return Config(**given(
        identity=_identity(document), converger=converger,
        cloud_client=_cloud_client(document), metrics=_metrics(document),
        scheduler=_scheduler(document), executions=_executions(document),
        journal=journal,
        zookeeper=_zookeeper(document),
        selfheal_interval=_selfheal(document),
        shutdown_timeout=read(document, "shutdown_timeout", "", (int, float),
                              lambda v: v >= 0, "a number of seconds"),
        service_names={key: sections[key] for key in _SERVICE_KEYS if key in sections},
        api_auth_ttl=_api_auth(document),
        url_root=_url_root(document),
        admin=read(document, "admin", "", (str, type(None)), None,
                   "a listening endpoint such as \"tcp:9001\""),
        limits=limits, store=store, root=root,
        region=read(document, "region", "", str, None, "a string"),
        sections=sections, unused=_unused(document)))


def _unused(document: Mapping[str, Any]) -> tuple[str, ...]:
    """The keys of `UNUSED_KEYS` that ``document`` gives."""
    given = []
    for key in UNUSED_KEYS:
        section, _, name = key.rpartition(".")
        holder = document.get(section) if section else document
        if isinstance(holder, dict) and name in holder:
            given.append(key)
    for section, known in (("cloud_client", _CLOUD_CLIENT_KEYS), ("metrics", _METRICS_KEYS)):
        holder = document.get(section)
        if isinstance(holder, dict):
            given.extend(f"{section}.{name}" for name in holder if name not in known)
    return tuple(given)


def _metrics(document: Mapping[str, Any]) -> MetricsConfig:
    section = document.get("metrics", {})
    if not isinstance(section, dict):
        raise ConfigError(f"metrics must be an object (got {json.dumps(section)})")
    return MetricsConfig(**given(
        per_group=read(section, "per_group", "metrics.", bool, None, "true or false"),
        divergent_timeout=read(section, "divergent_timeout", "metrics.", (int, float),
                               positive, "a positive number of seconds")))


def _cloud_client(document: Mapping[str, Any]) -> CloudClientConfig:
    section = document.get("cloud_client", {})
    if not isinstance(section, dict):
        raise ConfigError(f"cloud_client must be an object (got {json.dumps(section)})")
    path = "cloud_client."
    throttling = section_of(section, "throttling", set(THROTTLE_KEYS), path)
    return CloudClientConfig(**given(
        throttling={key: float(read(throttling, key, path + "throttling.", (int, float),
                                    natural, "a number of seconds"))
                    for key in THROTTLE_KEYS if key in throttling},
        max_in_flight_per_tenant=read(section, "max_in_flight_per_tenant", path, int,
                                      positive, "a positive integer")))


def _selfheal(document: Mapping[str, Any]) -> float | None | Absent:
    interval = read(section_of(document, "selfheal", {"interval"}), "interval", "selfheal.",
                    (int, float, type(None)), lambda v: v is None or v >= 0,
                    "a number of seconds, or 0 or null for off")
    return None if interval == 0 else interval


_SERVICE_KEYS = ("cloudServersOpenStack", "cloudLoadBalancers", "rackconnect",
                 "cloudOrchestration")


def _identity(document: Mapping[str, Any]) -> IdentityConfig | Absent:
    if "identity" not in document:
        return ABSENT
    section = section_of(document, "identity", {
        "url", "admin_url", "username", "password", "strategy", "cache_ttl", "wait",
        "max_retries", "retry_interval"})
    path = "identity."
    for key in ("url", "username", "password"):
        if key not in section:
            raise ConfigError(f"{path}{key} is required")
    number = (int, float)
    return IdentityConfig(**given(
        url=read(section, "url", path, str, lambda v: v.startswith("http"),
                 "an http:// or https:// URL"),
        username=read(section, "username", path, str, bool, "a user name"),
        password=read(section, "password", path, str, None, "a string"),
        strategy=read(section, "strategy", path, str,
                      lambda v: v in ("impersonation", "password"),
                      'one of "impersonation", "password"'),
        admin_url=read(section, "admin_url", path, str, lambda v: v.startswith("http"),
                       "an http:// or https:// URL"),
        cache_ttl=read(section, "cache_ttl", path, number, natural, "a number of seconds"),
        max_retries=read(section, "max_retries", path, int, natural,
                         "a non-negative integer"),
        retry_interval=read(section, "retry_interval", path, number, natural,
                            "a number of seconds")))


def _api_auth(document: Mapping[str, Any]) -> float | Absent:
    section = section_of(document, "auth", {"enabled", "cache_ttl"})
    if not read(section, "enabled", "auth.", bool, None, "true or false", default=False):
        return ABSENT
    if "identity" not in document:
        raise ConfigError("auth.enabled needs identity (the Identity that checks tokens)")
    return float(read(section, "cache_ttl", "auth.", (int, float), natural,
                      "a number of seconds", default=API_AUTH_TTL))


def _scheduler(document: Mapping[str, Any]) -> SchedulerConfig:
    section = section_of(document, "scheduler", {"interval", "batchsize", "buckets",
                                               "partition"})
    path = "scheduler."
    section_of(section, "partition", {"path", "time_boundary"}, path)
    return SchedulerConfig(**given(
        interval=read(section, "interval", path, (int, float), positive,
                      "a positive number of seconds"),
        batchsize=read(section, "batchsize", path, int, positive, "a positive integer"),
        buckets=read(section, "buckets", path, int, lambda v: 1 <= v <= 4096,
                     "an integer from 1 to 4096")))


def _executions(document: Mapping[str, Any]) -> ExecutionsConfig:
    section = section_of(document, "executions", {"idempotency_window", "retention",
                                                  "key_field"})
    path = "executions."
    return ExecutionsConfig(**given(
        idempotency_window=read(section, "idempotency_window", path, (int, float), positive,
                                "a positive number of seconds"),
        retention=read(section, "retention", path, (int, float), positive,
                       "a positive number of seconds"),
        key_field=read(section, "key_field", path, (str, type(None)),
                       lambda v: v is None or v != "", "a field name, or null")))
def _journal(document: Mapping[str, Any]) -> JournalConfig:
    section = section_of(document, "journal", {"retention"})
    return JournalConfig(**given(retention=read(
        section, "retention", "journal.", (int, float), positive,
        "a positive number of seconds")))


def _zookeeper(document: Mapping[str, Any]) -> ZooKeeperConfig | None:
    if "zookeeper" not in document:
        return None
    section = section_of(document, "zookeeper", {"hosts", "path", "session_timeout",
                                               "threads"})
    path = "zookeeper."
    hosts = read(section, "hosts", path, str, bool, 'a list such as "127.0.0.1:2181"')
    if hosts is ABSENT:
        raise ConfigError('zookeeper.hosts is missing (such as "127.0.0.1:2181")')
    return ZooKeeperConfig(hosts=hosts, **given(
        path=read(section, "path", path, str, lambda v: v.startswith("/") and len(v) > 1,
                  'a path such as "/otter2"'),
        session_timeout=read(section, "session_timeout", path, (int, float),
                             lambda v: 1 <= v <= 60, "a number of seconds from 1 to 60")))


def _converger(document: Mapping[str, Any]) -> ConvergerConfig:
    section = section_of(document, "converger", {
        "interval", "concurrency", "build_timeout", "limited_retry_iterations",
        "max_retry_delay", "step_limits", "offline_timeout"})
    path = "converger."
    number = (int, float)
    limits = section_of(section, "step_limits", {"create_server"}, path)
    return ConvergerConfig(**given(
        interval=read(section, "interval", path, number, positive,
                      "a positive number of seconds"),
        concurrency=read(section, "concurrency", path, int, positive,
                         "a positive integer"),
        build_timeout=read(section, "build_timeout", path, number, positive,
                           "a positive number of seconds"),
        limited_retry_iterations=read(section, "limited_retry_iterations", path, int,
                                      natural, "a non-negative integer"),
        max_retry_delay=read(section, "max_retry_delay", path, number, positive,
                             "a positive number of seconds"),
        offline_timeout=read(section, "offline_timeout", path, number, positive,
                             "a positive number of seconds"),
        create_server_limit=read(limits, "create_server", path + "step_limits.", int,
                                 positive, "a positive integer")))


def _url_root(document: Mapping[str, Any]) -> str | Absent:
    value = read(document, "url_root", "", str,
                 lambda v: v.startswith(("http://", "https://")),
                 "an http:// or https:// URL")
    return value if value is ABSENT else str(value).rstrip("/")


def default_url_root(port: str) -> str:
    """
    The URL clients reach a listener at when ``url_root`` is not configured:
    this machine's loopback address and the port of a ``tcp:PORT`` endpoint
    (of `DEFAULT_PORT` for any other kind of endpoint).
    """
    parts = port.split(":")
    number = parts[1] if len(parts) > 1 and parts[0] == "tcp" else parts[0]
    if not number.isdigit():
        return default_url_root(DEFAULT_PORT)
    return f"http://127.0.0.1:{number}"


def load_config(path: str | None) -> Config:
    """The configuration in the file at ``path``, or the defaults if None."""
    if path is None:
        return Config()
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    try:
        document = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"{path} is not valid JSON: {e}") from None
    return parse_config(document)
