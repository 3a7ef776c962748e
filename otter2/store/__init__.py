"""
The group store: its contract, its intents and its backends.
"""

from otter2.store.interface import (
    GroupStore,
    NoSuchGroup,
    NoSuchPolicy,
    NoSuchWebhook,
    OverLimit,
    StaleVersion,
    StoreError,
)

__all__ = ["GroupStore", "NoSuchGroup", "NoSuchPolicy", "NoSuchWebhook", "OverLimit",
           "StaleVersion", "StoreError"]
