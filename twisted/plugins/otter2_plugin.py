"""
Registers ``otter2`` with twistd.

test-case-name: tests.test_daemon
"""

from twisted.application.service import ServiceMaker

otter2 = ServiceMaker(
    "otter2",
    "otter2.tap",
    "otter2: an autoscaler for OpenStack-style clouds",
    "otter2",
)
