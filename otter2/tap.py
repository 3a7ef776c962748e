"""
The composition root: twistd's options and `makeService`.

Reads the configuration once, builds the store, the dispatcher, the API and
admin sites. The only module that touches the global reactor.

test-case-name: tests.test_daemon
"""

from __future__ import annotations

from typing import Any, Optional

from attrs import evolve

from twisted.application.service import MultiService, Service
from twisted.application.strports import service as strports_service
from treq.client import HTTPClient
from twisted.python import usage
from twisted.web.client import Agent, HTTPConnectionPool

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
from otter2.effects.auth import (
    AdminSession,
    CachingAuthenticator,
    ImpersonatingAuthenticator,
    PasswordAuthenticator,
    TokenValidator,
)
from otter2.effects.http import TimeoutHTTPClient
from otter2.effects import make_dispatcher
from otter2.service.converger import Converger
from otter2.service.scheduler import Scheduler, scheduler_check
from otter2.service.selfheal import SelfHeal
from otter2.store.sqlite import SQLiteGroupStore


class Options(usage.Options):
    """``twistd otter2 [--port STRPORT] [--config FILE]``."""

    optParameters = [
        ["port", "p", DEFAULT_PORT, "Endpoint the REST API listens on."],
        ["config", "c", None, "JSON configuration file (defaults if omitted)."],
    ]

    def postOptions(self) -> None:
        try:
            self["parsed_config"] = load_config(self["config"])
        except ConfigError as e:
            # One line for the operator, not twistd's usage text nor a traceback.
            raise SystemExit(f"otter2: invalid configuration: {e}") from None


class StoreService(Service):
    """Closes the store when the daemon stops."""

    def __init__(self, store: SQLiteGroupStore) -> None:
        self.store = store

    def stopService(self) -> None:
        Service.stopService(self)
        self.store.close()


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
    agent: Any = Agent(reactor, pool=HTTPConnectionPool(reactor))
    treq_client: Any = HTTPClient(agent)
    return TimeoutHTTPClient(treq_client, CLOUD_TIMEOUT)


def _cloud(config: Config, http: TimeoutHTTPClient, reactor: Any) -> dict[str, Any]:
    """The keyword arguments that let the dispatcher reach the cloud (none without one)."""
    if config.identity is None:
        return {}
    return {"http": http, "authenticator": _authenticator(http, config.identity, reactor),
            "region": config.region,
            "service_names": {ServiceType(key): name
                              for key, name in config.service_names.items()}}


def _validator(config: Config, http: TimeoutHTTPClient,
               reactor: Any) -> Optional[TokenValidator]:
    """What checks API callers' tokens, when ``auth.enabled`` asks for it."""
    identity = config.identity
    if config.api_auth_ttl is None or identity is None:
        return None
    admin = AdminSession(http, identity.url, identity.username, identity.password)
    return TokenValidator(admin, identity.admin_url or identity.url, reactor,
                          config.api_auth_ttl)


def build_service(config: Config, port: str, reactor: Any,
                  store_path: Optional[str] = None) -> MultiService:
    """
    The daemon's services for ``config``: store, API listener, admin listener
    and, when a cloud is configured (``identity``), the converger and self-heal.
    """
    if config.url_root is None:
        config = evolve(config, url_root=default_url_root(port))
    top = MultiService()
    store = SQLiteGroupStore(reactor, store_path or config.store.path)
    StoreService(store).setServiceParent(top)
    http = _http_client(reactor)
    dispatcher = make_dispatcher(reactor, store, **_cloud(config, http, reactor))
    if config.identity is not None:
        Converger(reactor, dispatcher, config.converger).setServiceParent(top)
        if config.selfheal_interval is not None:
            SelfHeal(reactor, dispatcher, config.selfheal_interval).setServiceParent(top)
    scheduler = Scheduler(reactor, dispatcher, config.scheduler.interval,
                          config.scheduler.batchsize, config.scheduler.bucket_numbers)
    scheduler.setServiceParent(top)
    api = OtterAPI(config, dispatcher, reactor, _validator(config, http, reactor))
    api.add_health_check("scheduler", scheduler_check(scheduler))
    site = APISite(api.resource(), config.limits.max_body_bytes)
    strports_service(port, site, reactor=reactor).setServiceParent(top)  # type: ignore[arg-type]
    if config.admin:
        admin = AdminAPI(dispatcher, reactor, scheduler)
        strports_service(config.admin, APISite(admin.resource(), config.limits.max_body_bytes),  # type: ignore[arg-type]
                         reactor=reactor).setServiceParent(top)
    return top


def makeService(options: Options) -> MultiService:
    """twistd's entry point."""
    from twisted.internet import reactor

    return build_service(options["parsed_config"], options["port"], reactor)
