"""
Convergence: observe the cloud, plan the steps to the desired state, act.
"""
