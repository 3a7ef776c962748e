"""
What otter2 reads from its configuration file, as frozen values with their
defaults (each written once, here), and the error for a bad file.

test-case-name: tests.test_config
"""

from __future__ import annotations

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
    """Where groups are kept: an SQLite file (``path``), or a Cassandra cluster
    (``hosts``, ``port``, ``keyspace``) for the ``cassandra`` backend."""

    backend: str = "sqlite"  # or "cassandra"
    path: str = "otter2.sqlite"
    hosts: tuple[str, ...] = field(default=("127.0.0.1",), converter=tuple)
    port: int = 9042
    keyspace: str = "otter2"


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
    journal_retention: float = 42 * 86_400.0  # how long the events an iteration journals are kept


@frozen
class SchedulerConfig:
    """How the scheduler of schedule policies runs (``scheduler``)."""

    interval: float = 10.0  # seconds between looks for due events
    batchsize: int = 100  # events read at a time
    # Buckets the groups and their events are spread over: the converger's and
    # the scheduler's share of the work when several nodes run (``zookeeper``).
    buckets: int = 256

    @property
    def bucket_numbers(self) -> range:
        """Every bucket: 1..buckets."""
        return range(1, self.buckets + 1)


@frozen
class ExecutionsConfig:
    """Execution receipts (``executions``): how long an idempotency key
    answers with its first execution, how long receipts are kept, and the
    JSON body field whose value serves as the key of an anonymous execution
    (for alarm senders that cannot add an ``Idempotency-Key`` header)."""

    idempotency_window: float = 86_400.0  # 24 h
    retention: float = 42 * 86_400.0  # 6 weeks
    key_field: str | None = None


@frozen
class JournalConfig:
    """The activity journal (``journal``): how long a group's events are kept
    (see Note [Journal] in ``otter2.model.journal``)."""

    retention: float = 42 * 86_400.0  # 6 weeks


@frozen
class ZooKeeperConfig:
    """The ZooKeeper several otter2 nodes share the buckets through (``zookeeper``)."""

    hosts: str  # "host:port,host:port"
    path: str = "/otter2"  # where the nodes keep their members and owners
    session_timeout: float = 10.0  # seconds a silent node keeps its buckets


@frozen
class CloudClientConfig:
    """The pace of calls to the cloud (``cloud_client``): each configured
    throttle's delay in seconds (none: off, as in Otter), and the cap on a
    tenant's calls in flight."""

    throttling: PMap = field(factory=pmap, converter=frozen_json)
    max_in_flight_per_tenant: int = MAX_IN_FLIGHT_PER_TENANT


@frozen
class MetricsConfig:
    """The Prometheus metrics (``metrics``): whether each group gets its own series of
    servers (``per_group``: one series per group and kind, off by default), and the
    seconds a group may stay diverged and unchanged before the alarm
    (``divergent_timeout``, Otter's)."""

    per_group: bool = False
    divergent_timeout: float = 3600.0


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
    executions: ExecutionsConfig = ExecutionsConfig()
    journal: JournalConfig = JournalConfig()
    metrics: MetricsConfig = MetricsConfig()
    # Seconds the work in flight has to finish when the daemon stops.
    shutdown_timeout: float = 30.0
    zookeeper: ZooKeeperConfig | None = None  # None: one node owns every bucket
    # Sections that later services read; kept as given.
    sections: PMap = field(factory=pmap, converter=frozen_json)
    # Keys of `UNUSED_KEYS` the document gives, in that order.
    unused: tuple[str, ...] = ()
