"""
Convergence: observe the cloud, plan the steps to the desired state, act.

test-case-name: tests.convergence.test_iteration
"""
