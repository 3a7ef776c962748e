"""
The configuration file: JSON in, a frozen `Config` out, or a one-line error
naming the bad key. Keys keep the names of Otter's configuration where they
apply; everything has a default that runs on a fresh machine (embedded
SQLite, one node).

test-case-name: tests.test_config
"""

from otter2.config.parsing import UNUSED_KEYS, default_url_root, load_config, parse_config
from otter2.config.values import (
    API_AUTH_TTL,
    DEFAULT_PORT,
    MAX_IN_FLIGHT_PER_TENANT,
    SELFHEAL_INTERVAL,
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

__all__ = [
    "API_AUTH_TTL", "DEFAULT_PORT", "MAX_IN_FLIGHT_PER_TENANT", "SELFHEAL_INTERVAL",
    "THROTTLE_KEYS", "UNUSED_KEYS", "CloudClientConfig", "Config", "ConfigError",
    "ConvergerConfig", "ExecutionsConfig", "IdentityConfig", "JournalConfig", "Limits",
    "MetricsConfig",
    "RootResponse", "SchedulerConfig", "StoreConfig", "ZooKeeperConfig", "default_url_root",
    "load_config", "parse_config",
]
