"""
The composition root: twistd's options and `makeService`.

Reads the configuration once, builds the store, the dispatcher, the API and
admin sites. The only module that touches the global reactor.

test-case-name: tests.test_tap
"""

from __future__ import annotations

from typing import Any, Optional

from attrs import evolve

from twisted.application.service import MultiService, Service
from twisted.application.strports import service as strports_service
from twisted.python import usage

from otter2.api.app import AdminAPI, OtterAPI
from otter2.api.site import APISite
from otter2.config import Config, ConfigError, default_url_root, load_config
from otter2.effects import make_dispatcher
from otter2.store.sqlite import SQLiteGroupStore


class Options(usage.Options):
    """``twistd otter2 [--port STRPORT] [--config FILE]``."""

    optParameters = [
        ["port", "p", "tcp:9000", "Endpoint the REST API listens on."],
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


def build_service(config: Config, port: str, reactor: Any,
                  store_path: Optional[str] = None) -> MultiService:
    """The daemon's services for ``config``: store, API listener, admin listener."""
    if config.url_root is None:
        config = evolve(config, url_root=default_url_root(port))
    top = MultiService()
    store = SQLiteGroupStore(reactor, store_path or config.store.path)
    StoreService(store).setServiceParent(top)
    dispatcher = make_dispatcher(reactor, store)
    api = OtterAPI(config, dispatcher, reactor)
    site = APISite(api.resource(), config.limits.max_body_bytes)
    strports_service(port, site, reactor=reactor).setServiceParent(top)  # type: ignore[arg-type]
    if config.admin:
        admin = AdminAPI(dispatcher, reactor)
        strports_service(config.admin, APISite(admin.resource(), config.limits.max_body_bytes),  # type: ignore[arg-type]
                         reactor=reactor).setServiceParent(top)
    return top


def makeService(options: Options) -> MultiService:
    """twistd's entry point."""
    from twisted.internet import reactor

    return build_service(options["parsed_config"], options["port"], reactor)
