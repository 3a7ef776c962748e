"""
The group store: its contract, its intents and its backends.

test-case-name: tests.store.test_stores
"""

from otter2.store.interface import (
    FencedOut,
    GroupStore,
    NoSuchGroup,
    NoSuchPolicy,
    NoSuchWebhook,
    OverLimit,
    StaleVersion,
    StoreError,
)

__all__ = ["FencedOut", "GroupStore", "NoSuchGroup", "NoSuchPolicy", "NoSuchWebhook", "OverLimit",
           "StaleVersion", "StoreError"]
