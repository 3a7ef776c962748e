"""
The composition root: twistd's options and `makeService`.

Reads the configuration once, builds the store, the dispatcher, the API and
admin sites. The only module that touches the global reactor.

# Note [Failing to start]
Everything that can stop the daemon from starting is tried while twistd builds
it, before logging begins and before any thread runs: the configuration (in
`Options`), both endpoints, the store's file (opened and closed again), then
the ports, bound at once; a Cassandra store is connected to and its schema
looked for, then the connection closed. A failure is one line on standard error and a
non-zero exit (`SystemExit`), with nothing left open. The store is opened for
good, and its thread started, only when the services start, after twistd
may have forked.

test-case-name: tests.test_daemon, tests.test_startup
"""

from __future__ import annotations

from typing import Any

from attrs import evolve
from effect import Effect
from treq.client import HTTPClient
from twisted.application.service import MultiService
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.python import usage
from twisted.web.client import Agent
from txeffect import perform

from otter2.api.app import AdminAPI, OtterAPI
from otter2.api.site import APISite
from otter2.cloud.request import ServiceType
from otter2.config import (
    DEFAULT_PORT,
    Config,
    ConfigError,
    IdentityConfig,
    default_url_root,
    load_config,
)
from otter2.effects import Courtesy, make_dispatcher
from otter2.effects.auth import (
    AdminSession,
    CachingAuthenticator,
    ImpersonatingAuthenticator,
    PasswordAuthenticator,
    TokenValidator,
)
from otter2.effects.dispatcher import notify_after
from otter2.effects.http import QuietConnectionPool, RequestWatch, TimeoutHTTPClient
from otter2.effects.reachable import identity_check
from otter2.logs import text_observer
from otter2.metrics import Metrics
from otter2.partition import AllBuckets, Ownership, ZooKeeperPartition, partition_check
from otter2.service.converger import Converger
from otter2.service.daemon import (
    DaemonService,
    NormalStop,
    StoreService,
    tune_garbage_collector,
)
from otter2.service.divergence import DivergenceWatch
from otter2.service.listening import (
    LOOPBACK_EXAMPLE,
    CannotListen,
    ListeningService,
    listen_now,
    parse_endpoint,
    reachable_from_elsewhere,
)
from otter2.service.loop import loop_check
from otter2.service.scheduler import Scheduler, scheduler_check
from otter2.service.selfheal import SelfHeal
from otter2.store.cassandra import CassandraGroupStore
from otter2.store.cassandra_session import connect
from otter2.store.intents import ClaimBucket, marks_divergent
from otter2.store.sqlite import SQLiteGroupStore
from otter2.store.sqlite_database import StoreUnavailable, open_file

log = Logger()


class Options(usage.Options):
    """``twistd otter2 [--port STRPORT] [--config FILE]``."""

    optParameters = [
        ["port", "p", DEFAULT_PORT,
         "Endpoint the REST API listens on (this machine only by default)."],
        ["config", "c", None, "JSON configuration file (defaults if omitted)."],
    ]

    def postOptions(self) -> None:
        try:
            self["parsed_config"] = load_config(self["config"])
        except ConfigError as e:
            # One line for the operator, not twistd's usage text nor a traceback.
            raise SystemExit(f"otter2: invalid configuration: {e}") from None


CLOUD_TIMEOUT = 60.0


def _authenticator(http: Any, identity: IdentityConfig, reactor: Any) -> CachingAuthenticator:
    inner: Any
    if identity.strategy == "password":
        inner = PasswordAuthenticator(http, identity.url, identity.username, identity.password)
    else:
        inner = ImpersonatingAuthenticator(http, identity.url, identity.admin_url or identity.url,
                                           identity.username, identity.password)
    return CachingAuthenticator(inner, reactor, identity.cache_ttl, identity.max_retries,
                                identity.retry_interval)


def _http_client(reactor: Any) -> TimeoutHTTPClient:
    """The one treq client (one connection pool) for every call to the cloud."""
    agent: Any = Agent(reactor, pool=QuietConnectionPool(reactor))
    treq_client: Any = HTTPClient(agent)
    return TimeoutHTTPClient(treq_client, CLOUD_TIMEOUT)


def _cloud(config: Config, http: TimeoutHTTPClient, reactor: Any,
           metrics: Metrics) -> dict[str, Any]:
    """The keyword arguments that let the dispatcher reach the cloud (none without one),
    each request and each wait told to ``metrics``."""
    if config.identity is None:
        return {}
    return {"http": http, "authenticator": _authenticator(http, config.identity, reactor),
            "region": config.region,
            "courtesy": Courtesy(reactor, config.cloud_client.throttling,
                                 config.cloud_client.max_in_flight_per_tenant,
                                 on_wait=metrics.cloud_waited),
            "watch": RequestWatch(reactor, metrics.cloud_answered),
            "service_names": {ServiceType(key): name
                              for key, name in config.service_names.items()}}


def _validator(config: Config, http: TimeoutHTTPClient,
               reactor: Any) -> TokenValidator | None:
    """What checks API callers' tokens, when ``auth.enabled`` asks for it."""
    identity = config.identity
    if config.api_auth_ttl is None or identity is None:
        return None
    admin = AdminSession(http, identity.url, identity.username, identity.password)
    return TokenValidator(admin, identity.admin_url or identity.url, reactor,
                          config.api_auth_ttl)


def build_service(config: Config, port: str, reactor: Any,
                  store_path: str | None = None) -> DaemonService:
    """
    The daemon's services for ``config``: store, API listener, admin listener
    and, when a cloud is configured (``identity``), the converger and self-heal.
    `CannotStart` if an endpoint or the store cannot be used: see Note
    [Failing to start].
    """
    endpoints = [(port, "--port")] + ([(config.admin, "admin")] if config.admin else [])
    try:
        parsed = [parse_endpoint(reactor, description, source)
                  for description, source in endpoints]
        store = _store(config, reactor, store_path)
    except (CannotListen, StoreUnavailable) as e:
        raise CannotStart(str(e)) from None
    if config.url_root is None:
        config = evolve(config, url_root=default_url_root(port))
    top = DaemonService(reactor, config.shutdown_timeout)
    StoreService(store).setServiceParent(top)
    http = _http_client(reactor)
    # The daemon's own registry: Note [Metrics seams] in otter2.metrics.
    metrics = Metrics(per_group=config.metrics.per_group)
    dispatcher = make_dispatcher(reactor, store, **_cloud(config, http, reactor, metrics))
    # Started after the store and stopped before it, after the services working
    # for its buckets have stopped: Note [Fencing].
    ownership = _ownership(config, reactor, dispatcher, top)
    buckets = config.scheduler.buckets
    converger = None
    if config.identity is not None:
        converger = Converger(reactor, dispatcher, config.converger, ownership, buckets,
                              observe=metrics.iteration_concluded)
        converger.setServiceParent(top)
        ownership.subscribe(converger.look_now)
        # A mark written on this node is looked at now: Note [Divergent marks].
        dispatcher = notify_after(dispatcher, marks_divergent, converger.look_now)
        DivergenceWatch(reactor, dispatcher, config.metrics.divergent_timeout,
                        observe=metrics.divergence_watched).setServiceParent(top)
        if config.selfheal_interval is not None:
            SelfHeal(reactor, dispatcher, config.selfheal_interval, ownership,
                     buckets).setServiceParent(top)
    scheduler = Scheduler(reactor, dispatcher, config.scheduler.interval,
                          config.scheduler.batchsize, config.scheduler.bucket_numbers,
                          ownership, observe=metrics.event_fired)
    scheduler.setServiceParent(top)
    api = OtterAPI(config, dispatcher, reactor, _validator(config, http, reactor), metrics)
    api.add_health_check("scheduler", scheduler_check(scheduler))
    if converger is not None:
        api.add_health_check("converger", loop_check(converger.repeater), liveness=True)
    if config.identity is not None:
        api.add_health_check("identity", identity_check(http, config.identity.url))
    if isinstance(ownership, ZooKeeperPartition):
        api.add_health_check("partition", partition_check(ownership))
    sites = [APISite(api.resource(), config.limits.max_body_bytes)]
    if config.admin:
        sites.append(APISite(AdminAPI(dispatcher, reactor, scheduler, metrics).resource(),
                             config.limits.max_body_bytes))
    ports = _listen(parsed, sites, endpoints)
    for listening in ports:
        ListeningService(listening).setServiceParent(top)
    _warn(config, ports[0].getHost())
    return top


def _ownership(config: Config, reactor: Any, dispatcher: Any,
               top: MultiService) -> Ownership:
    """Which buckets this node works for: all of them, unless ``zookeeper`` is
    configured (then a partition service, added to ``top``)."""
    if config.zookeeper is None:
        return AllBuckets(config.scheduler.bucket_numbers)

    def claim(bucket: int) -> Any:
        return perform(dispatcher, Effect(ClaimBucket(bucket)))
    partition = ZooKeeperPartition(reactor, config.zookeeper.hosts,
                                   config.scheduler.bucket_numbers, claim,
                                   config.zookeeper.path, config.zookeeper.session_timeout)
    partition.setServiceParent(top)
    return partition
def _store(config: Config, reactor: Any,
           store_path: str | None) -> SQLiteGroupStore | CassandraGroupStore:
    """
    The store the configuration names, not yet opened, once it has been found
    usable (the SQLite file opened, or the Cassandra cluster reached and its
    schema found, then closed again): `StoreUnavailable` says why not. See
    Note [Failing to start]. Several nodes (``zookeeper``) share an SQLite
    file (Note [Group cache]) or a Cassandra cluster (Note [Cassandra
    fencing]).
    """
    store = config.store
    if store.backend == "cassandra":
        cluster, _ = connect(store.hosts, store.port, store.keyspace)
        cluster.shutdown()
        return CassandraGroupStore(reactor.callFromThread, store.hosts, store.port,
                                   store.keyspace)
    path = store_path or store.path
    open_file(path).close()
    return SQLiteGroupStore(reactor, path, start=False, shared=config.zookeeper is not None)


class CannotStart(Exception):
    """The daemon cannot start; the message is one line naming the cause."""


def _listen(parsed: list[Any], sites: list[APISite],
            endpoints: list[tuple[str, str]]) -> list[IListeningPort]:
    """The ports of every endpoint, bound now; none if one of them cannot be."""
    bound: list[IListeningPort] = []
    try:
        for endpoint, site, (description, source) in zip(parsed, sites, endpoints, strict=True):
            bound.append(listen_now(endpoint, site, description, source))
    except CannotListen as e:
        for listening in bound:
            listening.stopListening()
        raise CannotStart(str(e)) from None
    return bound


def _warn(config: Config, api_address: Any) -> None:
    """Log, as the daemon starts, what the operator should know but might not expect."""
    for key in config.unused:
        log.warn("configuration key {key} is accepted but not used yet", key=key)
    if config.api_auth_ttl is None and reachable_from_elsewhere(api_address):
        log.warn("the API listens on {host}:{port}, which other machines can reach, "
                 "with authentication off (auth.enabled is false): anyone who can reach "
                 "the port can manage every tenant's groups. Listen on loopback "
                 "(--port {example}) or turn auth.enabled on.",
                 host=api_address.host, port=api_address.port, example=LOOPBACK_EXAMPLE)


def makeService(options: Options) -> MultiService:
    """twistd's entry point: the daemon, or a one-line `SystemExit` if it cannot start."""
    from twisted.internet import reactor

    try:
        top = build_service(options["parsed_config"], options["port"], reactor)
    except CannotStart as e:
        raise SystemExit(f"otter2: {e}") from None
    NormalStop(reactor).setServiceParent(top)
    if writes_text_to_stdout(getattr(options, "parent", None)):
        top.log_observer = text_observer()
    tune_garbage_collector()
    return top


def writes_text_to_stdout(twistd_options: Any) -> bool:
    """Whether twistd, run with ``twistd_options``, writes its text lines to
    standard output (no ``--logger``, no syslog, ``-n`` and no ``--logfile``
    but ``-``): where the daemon writes them at less cost, the same lines
    (Note [Text log lines] in ``otter2.logs``)."""
    if twistd_options is None:
        return False
    return (not twistd_options.get("logger") and not twistd_options.get("syslog")
            and bool(twistd_options.get("nodaemon"))
            and twistd_options.get("logfile") in (None, "", "-"))
