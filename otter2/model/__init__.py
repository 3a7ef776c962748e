"""
otter2's values: attrs frozen records, no behaviour beyond derived fields.

test-case-name: tests.store.test_stores
"""

from otter2.model.execution import Execution, Refusal, Trigger
from otter2.model.group import (
    CapabilityTarget,
    DivergentMark,
    Fence,
    GroupState,
    GroupStatus,
    Policy,
    ScalingGroup,
    ScheduledEvent,
    Webhook,
    frozen_json,
    frozen_list,
    thaw_json,
)
from otter2.model.journal import EventKind, JournalEvent

__all__ = [
    "CapabilityTarget", "DivergentMark", "EventKind", "Execution", "Fence", "GroupState", "GroupStatus",
    "JournalEvent", "Policy", "Refusal", "ScalingGroup", "ScheduledEvent", "Trigger", "Webhook",
    "frozen_json", "frozen_list", "thaw_json",
]
