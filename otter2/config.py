"""
The configuration file: JSON in, a frozen `Config` out, or a one-line error
naming the bad key.

Keys keep the names of Otter's configuration where they apply; everything has
a default that runs on a fresh machine (embedded SQLite, one node).

test-case-name: tests.test_config
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum, auto
from typing import Any

from attrs import field, frozen
from pyrsistent import PMap, pmap

from otter2.model import frozen_json

#: The endpoint the REST API listens on unless twistd is told otherwise: this
#: machine only; listening on other interfaces is the operator's choice.
DEFAULT_PORT = "tcp:9000:interface=127.0.0.1"

#: Seconds between self-heal passes unless ``selfheal.interval`` says otherwise
#: (0 or null turns self-heal off).
SELFHEAL_INTERVAL = 300.0

#: Seconds the API remembers what Identity said of a token (``auth.cache_ttl``).
API_AUTH_TTL = 60.0

#: Calls of one tenant to the cloud in flight at once unless
#: ``cloud_client.max_in_flight_per_tenant`` says otherwise.
MAX_IN_FLIGHT_PER_TENANT = 20

#: The throttles of ``cloud_client.throttling`` (spec §3.6), one per kind of call.
THROTTLE_KEYS = ("create_server_delay", "delete_server_delay", "get_rcv3_delay",
                 "create_rcv3_delay", "delete_rcv3_delay", "get_clb_delay", "post_clb_delay",
                 "put_clb_delay", "delete_clb_delay")


class ConfigError(Exception):
    """The configuration cannot be used; the message is one line for the operator."""


@frozen
class Limits:
    """How big things may get."""

    pagination: int = 100
    max_groups: int = 1000
    max_policies_per_group: int = 100
    max_webhooks_per_policy: int = 25
    max_body_bytes: int = 1_048_576
    # Requests per minute under /v1.0/{tenantId}/ and per second of anonymous
    # executions; None: not limited (a proxy in front may do it).
    tenant_per_minute: int | None = None
    execute_per_second: int | None = None
    require_json: bool = False  # 415 for a body that does not say application/json


@frozen
class StoreConfig:
    """Where groups are kept."""

    backend: str = "sqlite"
    path: str = "otter2.sqlite"


@frozen
class RootResponse:
    """What ``GET /`` answers."""

    code: int = 200
    headers: PMap = field(factory=pmap, converter=frozen_json)
    body: str = ""


@frozen
class IdentityConfig:
    """How otter2 authenticates as each tenant (``identity``)."""

    url: str
    username: str
    password: str
    strategy: str = "impersonation"  # or "password" (one tenant)
    admin_url: str | None = None  # impersonation; defaults to ``url``
    cache_ttl: float = 300.0
    max_retries: int = 3
    retry_interval: float = 2.0


@frozen
class ConvergerConfig:
    """How the converger paces itself (``converger``)."""

    interval: float = 10.0
    concurrency: int = 20
    build_timeout: float = 3600.0
    limited_retry_iterations: int = 10
    max_retry_delay: float = 60.0
    create_server_limit: int = 10  # ``step_limits.create_server``
    offline_timeout: float = 3600.0  # a node joining a monitored CLB may stay OFFLINE so long


@frozen
class SchedulerConfig:
    """How the scheduler of schedule policies runs (``scheduler``)."""

    interval: float = 10.0  # seconds between looks for due events
    batchsize: int = 100  # events read at a time
    buckets: int = 128  # buckets the events are spread over

    @property
    def bucket_numbers(self) -> range:
        """Every bucket: 1..buckets."""
        return range(1, self.buckets + 1)


@frozen
class CloudClientConfig:
    """The pace of calls to the cloud (``cloud_client``): each configured
    throttle's delay in seconds (none: off, as in Otter), and the cap on a
    tenant's calls in flight."""

    throttling: PMap = field(factory=pmap, converter=frozen_json)
    max_in_flight_per_tenant: int = MAX_IN_FLIGHT_PER_TENANT


@frozen
class Config:
    """Everything otter2 reads from its configuration file."""

    url_root: str | None = None  # None: derived from the listening port
    admin: str | None = None
    limits: Limits = Limits()
    store: StoreConfig = StoreConfig()
    root: RootResponse = RootResponse()
    region: str | None = None
    identity: IdentityConfig | None = None  # None: no cloud; nothing converges
    converger: ConvergerConfig = ConvergerConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    selfheal_interval: float | None = SELFHEAL_INTERVAL  # None: off
    api_auth_ttl: float | None = None  # None: the API checks no tokens
    service_names: PMap = field(factory=pmap, converter=frozen_json)
    cloud_client: CloudClientConfig = CloudClientConfig()
    # Sections that later services read; kept as given.
    sections: PMap = field(factory=pmap, converter=frozen_json)
    # Keys of `UNUSED_KEYS` the document gives, in that order.
    unused: tuple[str, ...] = ()


# Sections whose content the control plane does not read yet: accepted as
# objects (or strings) so an Otter-style file loads, and kept for the services.
_OBJECT_SECTIONS = ("identity", "converger", "scheduler", "zookeeper", "selfheal",
                    "cassandra", "metrics", "cloudfeeds", "cloud_client", "auth")
_STRING_SECTIONS = ("cloudServersOpenStack", "cloudLoadBalancers", "rackconnect",
                    "cloudOrchestration", "environment", "bobby_url")
_KNOWN = {"url_root", "admin", "limits", "store", "root", "region",
          "non-convergence-tenants", *_OBJECT_SECTIONS, *_STRING_SECTIONS}

#: Keys of Otter's configuration that otter2 accepts, so that an Otter file
#: loads, but does not act on yet; the daemon names each one given in a
#: warning as it starts, so that nobody believes it took effect.
UNUSED_KEYS = ("cassandra", "zookeeper", "scheduler.partition", "metrics", "cloudfeeds",
               "cloudOrchestration", "environment", "bobby_url",
               "non-convergence-tenants", "identity.wait", "converger.max_retry_delay")

#: The keys of ``cloud_client`` otter2 acts on; any other is named in the warning.
_CLOUD_CLIENT_KEYS = ("throttling", "max_in_flight_per_tenant")


class _Absent(Enum):
    """A key the document leaves out: its value is the dataclass default."""

    ABSENT = auto()


_ABSENT = _Absent.ABSENT


def _get(section: Mapping[str, Any], key: str, path: str, kind: type | tuple[type, ...],
         check: Any = None, expect: str = "", default: Any = _ABSENT) -> Any:
    """The value of ``key`` if it is of ``kind`` and passes ``check``, ``default`` if
    the key is absent; `ConfigError` otherwise."""
    if key not in section:
        return default
    value = section[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))
    if ok and check is not None:
        ok = check(value)
    if not ok:
        raise ConfigError(f"{path}{key} must be {expect} (got {json.dumps(value)})")
    return value


def _given(**values: Any) -> dict[str, Any]:
    """The keyword arguments whose keys the document gave: the dataclass supplies the
    default of every other field, so each default is written once, in the class."""
    return {name: value for name, value in values.items() if value is not _ABSENT}


def _section(document: Mapping[str, Any], key: str, known: set[str],
             path: str = "") -> Mapping[str, Any]:
    section = document.get(key, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}{key} must be an object (got {json.dumps(section)})")
    for name in section:
        if name not in known:
            raise ConfigError(f"unknown configuration key {path}{key}.{name}")
    return section


def parse_config(document: Any) -> Config:
    """The `Config` a parsed JSON document describes; `ConfigError` if it is wrong."""
    if not isinstance(document, dict):
        raise ConfigError("the configuration must be a JSON object")
    for key in document:
        if key not in _KNOWN:
            raise ConfigError(f"unknown configuration key {key}")

    limits_doc = _section(document, "limits", {"pagination", "absolute", "max_body_bytes",
                                               "rate", "require_json"})
    rate = _section(limits_doc, "rate", {"tenant_per_minute", "execute_per_second"},
                    "limits.")
    absolute = _section(limits_doc, "absolute", {
        "maxGroups", "maxPoliciesPerGroup", "maxWebhooksPerPolicy"}, "limits.")
    limits = Limits(**_given(
        pagination=_get(limits_doc, "pagination", "limits.", int, _positive,
                        "a positive integer"),
        max_groups=_get(absolute, "maxGroups", "limits.absolute.", int, _natural,
                        "a non-negative integer"),
        max_policies_per_group=_get(absolute, "maxPoliciesPerGroup", "limits.absolute.",
                                    int, _natural, "a non-negative integer"),
        max_webhooks_per_policy=_get(absolute, "maxWebhooksPerPolicy", "limits.absolute.",
                                     int, _natural, "a non-negative integer"),
        max_body_bytes=_get(limits_doc, "max_body_bytes", "limits.", int, _positive,
                            "a positive integer"),
        tenant_per_minute=_get(rate, "tenant_per_minute", "limits.rate.", int, _positive,
                               "a positive integer"),
        execute_per_second=_get(rate, "execute_per_second", "limits.rate.", int, _positive,
                                "a positive integer"),
        require_json=_get(limits_doc, "require_json", "limits.", bool, None,
                          "true or false")))

    store_doc = _section(document, "store", {"backend", "path"})
    store = StoreConfig(**_given(
        backend=_get(store_doc, "backend", "store.", str, lambda v: v == "sqlite",
                     'one of "sqlite"'),
        path=_get(store_doc, "path", "store.", str, bool, "a file path")))

    root_doc = _section(document, "root", {"code", "headers", "body"})
    root = RootResponse(**_given(
        code=_get(root_doc, "code", "root.", int, lambda v: 100 <= v <= 599,
                  "an HTTP status code"),
        headers=_get(root_doc, "headers", "root.", dict, lambda v: all(
            isinstance(vs, list) and all(isinstance(x, str) for x in vs)
            for vs in v.values()), "a map from header name to a list of strings"),
        body=_get(root_doc, "body", "root.", str, None, "a string")))

    sections = {}
    for key in _OBJECT_SECTIONS:
        if key in document:
            sections[key] = _get(document, key, "", dict, None, "an object")
    for key in _STRING_SECTIONS:
        if key in document:
            sections[key] = _get(document, key, "", str, None, "a string")

    return Config(**_given(
        identity=_identity(document), converger=_converger(document),
        cloud_client=_cloud_client(document),
        scheduler=_scheduler(document),
        selfheal_interval=_selfheal(document),
        service_names={key: sections[key] for key in _SERVICE_KEYS if key in sections},
        api_auth_ttl=_api_auth(document),
        url_root=_url_root(document),
        admin=_get(document, "admin", "", (str, type(None)), None,
                   "a listening endpoint such as \"tcp:9001\""),
        limits=limits, store=store, root=root,
        region=_get(document, "region", "", str, None, "a string"),
        sections=sections, unused=_unused(document)))


def _unused(document: Mapping[str, Any]) -> tuple[str, ...]:
    """The keys of `UNUSED_KEYS` that ``document`` gives."""
    given = []
    for key in UNUSED_KEYS:
        section, _, name = key.rpartition(".")
        holder = document.get(section) if section else document
        if isinstance(holder, dict) and name in holder:
            given.append(key)
    cloud_client = document.get("cloud_client")
    if isinstance(cloud_client, dict):
        given.extend(f"cloud_client.{name}" for name in cloud_client
                     if name not in _CLOUD_CLIENT_KEYS)
    return tuple(given)


def _cloud_client(document: Mapping[str, Any]) -> CloudClientConfig:
    section = document.get("cloud_client", {})
    if not isinstance(section, dict):
        raise ConfigError(f"cloud_client must be an object (got {json.dumps(section)})")
    path = "cloud_client."
    throttling = _section(section, "throttling", set(THROTTLE_KEYS), path)
    return CloudClientConfig(**_given(
        throttling={key: float(_get(throttling, key, path + "throttling.", (int, float),
                                    _natural, "a number of seconds"))
                    for key in THROTTLE_KEYS if key in throttling},
        max_in_flight_per_tenant=_get(section, "max_in_flight_per_tenant", path, int,
                                      _positive, "a positive integer")))


def _selfheal(document: Mapping[str, Any]) -> float | None | _Absent:
    interval = _get(_section(document, "selfheal", {"interval"}), "interval", "selfheal.",
                    (int, float, type(None)), lambda v: v is None or v >= 0,
                    "a number of seconds, or 0 or null for off")
    return None if interval == 0 else interval


_SERVICE_KEYS = ("cloudServersOpenStack", "cloudLoadBalancers", "rackconnect")


def _positive(value: float) -> bool:
    return value > 0


def _natural(value: float) -> bool:
    return value >= 0


def _identity(document: Mapping[str, Any]) -> IdentityConfig | _Absent:
    if "identity" not in document:
        return _ABSENT
    section = _section(document, "identity", {
        "url", "admin_url", "username", "password", "strategy", "cache_ttl", "wait",
        "max_retries", "retry_interval"})
    path = "identity."
    for key in ("url", "username", "password"):
        if key not in section:
            raise ConfigError(f"{path}{key} is required")
    number = (int, float)
    return IdentityConfig(**_given(
        url=_get(section, "url", path, str, lambda v: v.startswith("http"),
                 "an http:// or https:// URL"),
        username=_get(section, "username", path, str, bool, "a user name"),
        password=_get(section, "password", path, str, None, "a string"),
        strategy=_get(section, "strategy", path, str,
                      lambda v: v in ("impersonation", "password"),
                      'one of "impersonation", "password"'),
        admin_url=_get(section, "admin_url", path, str, lambda v: v.startswith("http"),
                       "an http:// or https:// URL"),
        cache_ttl=_get(section, "cache_ttl", path, number, _natural, "a number of seconds"),
        max_retries=_get(section, "max_retries", path, int, _natural,
                         "a non-negative integer"),
        retry_interval=_get(section, "retry_interval", path, number, _natural,
                            "a number of seconds")))


def _api_auth(document: Mapping[str, Any]) -> float | _Absent:
    section = _section(document, "auth", {"enabled", "cache_ttl"})
    if not _get(section, "enabled", "auth.", bool, None, "true or false", default=False):
        return _ABSENT
    if "identity" not in document:
        raise ConfigError("auth.enabled needs identity (the Identity that checks tokens)")
    return float(_get(section, "cache_ttl", "auth.", (int, float), _natural,
                      "a number of seconds", default=API_AUTH_TTL))


def _scheduler(document: Mapping[str, Any]) -> SchedulerConfig:
    section = _section(document, "scheduler", {"interval", "batchsize", "buckets",
                                               "partition"})
    path = "scheduler."
    _section(section, "partition", {"path", "time_boundary"}, path)
    return SchedulerConfig(**_given(
        interval=_get(section, "interval", path, (int, float), _positive,
                      "a positive number of seconds"),
        batchsize=_get(section, "batchsize", path, int, _positive, "a positive integer"),
        buckets=_get(section, "buckets", path, int, lambda v: 1 <= v <= 4096,
                     "an integer from 1 to 4096")))


def _converger(document: Mapping[str, Any]) -> ConvergerConfig:
    section = _section(document, "converger", {
        "interval", "concurrency", "build_timeout", "limited_retry_iterations",
        "max_retry_delay", "step_limits", "offline_timeout"})
    path = "converger."
    number = (int, float)
    limits = _section(section, "step_limits", {"create_server"}, path)
    return ConvergerConfig(**_given(
        interval=_get(section, "interval", path, number, _positive,
                      "a positive number of seconds"),
        concurrency=_get(section, "concurrency", path, int, _positive,
                         "a positive integer"),
        build_timeout=_get(section, "build_timeout", path, number, _positive,
                           "a positive number of seconds"),
        limited_retry_iterations=_get(section, "limited_retry_iterations", path, int,
                                      _natural, "a non-negative integer"),
        max_retry_delay=_get(section, "max_retry_delay", path, number, _positive,
                             "a positive number of seconds"),
        offline_timeout=_get(section, "offline_timeout", path, number, _positive,
                             "a positive number of seconds"),
        create_server_limit=_get(limits, "create_server", path + "step_limits.", int,
                                 _positive, "a positive integer")))


def _url_root(document: Mapping[str, Any]) -> str | _Absent:
    value = _get(document, "url_root", "", str,
                 lambda v: v.startswith(("http://", "https://")),
                 "an http:// or https:// URL")
    return value if value is _ABSENT else str(value).rstrip("/")


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
