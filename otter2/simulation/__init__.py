"""
An in-memory cloud that behaves like Nova, Cloud Load Balancers,
RackConnect v3 and Heat, served to the dispatcher and over HTTP, and a helper that
runs convergence against it on a ``task.Clock``: for tests, benchmarks and
the scenario script.

test-case-name: tests.simulation.test_cloud
"""

from otter2.simulation.cloud import (
    add_load_balancer,
    add_pool,
    advance,
    damage_stack,
    delete_server,
    delete_stack,
    fail_service,
    fail_stack_deletes,
    handle,
    limit_rate,
    remove_node,
    set_current_connections,
    set_load_balancer_status,
    set_node_online,
    set_pool_status,
    set_quota,
    set_server_metadata,
    set_server_status,
    set_stack_status,
    tenant_stacks,
)
from otter2.simulation.performers import (
    CloudHolder,
    simulated_catalog,
    simulated_dispatcher,
    simulated_resource,
    standalone_dispatcher,
)
from otter2.simulation.run import Capacity, Sample, Timeline, capacity, run_for
from otter2.simulation.state import (
    Behaviour,
    CLBStatus,
    SimulatedCloud,
    SimulatedStack,
    StackAction,
    StackStatus,
)

__all__ = [
    "Behaviour", "CLBStatus", "Capacity", "CloudHolder", "Sample", "SimulatedCloud",
    "SimulatedStack", "StackAction", "StackStatus", "Timeline", "add_load_balancer",
    "add_pool", "advance", "capacity", "damage_stack", "delete_server", "delete_stack",
    "fail_service", "fail_stack_deletes", "handle", "limit_rate", "remove_node", "run_for",
    "set_current_connections", "set_load_balancer_status", "set_node_online", "set_pool_status", "set_quota",
    "set_server_metadata", "set_server_status", "set_stack_status", "simulated_catalog",
    "simulated_dispatcher", "simulated_resource", "standalone_dispatcher", "tenant_stacks",
]
