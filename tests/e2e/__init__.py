"""
End-to-end tests: the otter2 daemon and mimic (a mock of Identity, Nova and
Cloud Load Balancers) as real processes on loopback ports.
"""
