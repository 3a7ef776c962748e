"""
Capability hashes: the secret part of a webhook's anonymous execute URL.

test-case-name: tests.control.test_capability
"""

import os

CAPABILITY_VERSION = "1"


def new_capability_hash() -> str:
    """64 lowercase hex characters from the OS's CSPRNG."""
    return os.urandom(32).hex()
