"""
What a step of convergence, or a whole iteration, concluded: a verdict and
sentences the group's owner can read. The cloud's error tables produce these
values and convergence combines them, so they live with the other values.

test-case-name: tests.convergence.test_executing
"""

from __future__ import annotations

from enum import Enum

from attrs import field, frozen
from pyrsistent import PVector, pvector

from otter2.model.group import frozen_list


class Verdict(Enum):
    """What a step (or a whole iteration) concluded, least severe first."""

    SUCCESS = 0
    LIMITED_RETRY = 1
    RETRY = 2
    FAILURE = 3


@frozen
class StepOutcome:
    """
    A step's verdict and its reasons: sentences the group's owner can read
    (never "Unknown error"). ``done`` says the step's change was made (the
    cloud accepted it), whatever is left to verify; ``retry_after`` is the
    number of seconds the cloud asked us to wait before calling it again (a
    ``Retry-After``), if it asked; ``busy`` says the cloud refused only for a
    moment (a Cloud Load Balancer in the PENDING_UPDATE window that follows
    each change), so the change can be made again at once; ``server_id``
    names the server (or Heat stack) a create made, when the cloud said.
    """

    verdict: Verdict
    reasons: PVector = field(factory=pvector, converter=frozen_list)
    done: bool = False
    retry_after: float | None = None
    busy: bool = False
    server_id: str | None = None
