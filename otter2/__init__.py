"""
otter2 keeps groups of cloud servers at the size their owners ask for, behind
the Rackspace Auto Scale API v1.0.

test-case-name: tests.test_layers
"""
