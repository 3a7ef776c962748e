"""
What a group should be: the input of planning (of servers or of stacks).

test-case-name: tests.convergence.test_planning
"""

from __future__ import annotations

from attrs import field, frozen
from pyrsistent import PMap, PSet, pmap, pset

from otter2.model.group import frozen_json, frozen_set


@frozen
class DesiredGroup:
    """
    The desired state of a ``launch_server`` group.

    ``server_config`` is the Nova create-server body, with the group's metadata
    (membership and load balancers) already merged into ``server.metadata``;
    ``desired_lbs`` are the launch configuration's load balancers, which every
    kept server should be on. No server is built before ``build_after``
    (None: at once), the back-off of a group whose servers keep breaking.
    """

    capacity: int
    server_config: PMap = field(factory=pmap, converter=frozen_json)
    desired_lbs: PSet = field(factory=pset, converter=frozen_set)
    draining_timeout: float = 0.0
    build_after: float | None = None


@frozen
class DesiredStackGroup:
    """
    The desired state of a ``launch_stack`` group: ``capacity`` stacks made
    from ``stack_config`` (the launch configuration's stack, tagged with the
    group). No stack is created before ``build_after`` (None: at once), the
    back-off of a group whose stacks keep failing.
    """

    group_id: str
    capacity: int
    stack_config: PMap = field(factory=pmap, converter=frozen_json)
    build_after: float | None = None
