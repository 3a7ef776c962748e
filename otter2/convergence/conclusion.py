"""
How one iteration of a group ends, decided once, by a pure function of what
the iteration observed and did: the group's status and its reasons (shown in its state as
``errors`` in ERROR, as ``waiting`` while ACTIVE and not converged), the
record of its servers, whether the group is removed, the LIMITED_RETRY count
kept with the group, and when to look at it again.

# Note [Looking again]
An iteration that did not converge the group says when the next one should
come (``Conclusion.look_again``, an instant), and the converger only acts on
it (see Note [Divergent marks] in ``otter2.service.converger``):

- converged (SUCCESS), or in ERROR (FAILURE) and not being deleted: never;
  the group's divergent mark is cleared and only a new mark (an API change,
  self-heal) brings it back;
- otherwise at the latest one converger ``interval`` from now, sooner when
  the plan knows that a wait ends sooner (a node drained for its timeout, a
  build timeout: ``Plan.wake_at``), and at once (after ``PROMPTLY``) when
  the plan held work back that the next iteration can do (step limits, one
  change per Cloud Load Balancer, ten nodes per removal: Note [Order of
  load-balancer changes] in ``transforming``) or a Cloud Load Balancer
  refused a change only because it was still in the PENDING_UPDATE window
  of the last one (a ``busy`` step outcome, counted as postponed work):
  ``PROMPTLY`` is about one such window, so the next change goes as soon as
  the load balancer takes it, not an interval later. Then exactly after
  ``PROMPTLY``, even when a known wait ends sooner: a look inside the window
  would only have its change refused and push the next try a further
  ``PROMPTLY`` away (on a scale-down, the end of a drain, which CLB tells to
  the second, can fall inside the window of the change made just before);
- later than that only when the cloud asked us to slow down (a
  ``Retry-After``): never before it says.

LIMITED_RETRY (servers in transient states that should come back by
themselves) counts the iterations in a row that ended so; the count lives
in the group's state, so a restart or a move to another node keeps it, and
past ``limited_retry_iterations`` the group goes to ERROR with "Timed out"
reasons, which stops the waiting.

# Note [Servers that keep failing]
A server that breaks (ERROR, SHUTOFF, a build past its timeout) is deleted
and built again. When that keeps happening (a bad image, a full region),
rebuilding at once would create and delete servers for ever while the group
looked healthy. So ``build_failures`` counts the iterations since the group
last converged that had to replace broken servers, kept with the group; from
``BUILD_FAILURE_ROUNDS`` on, the group shows ERROR with the servers that
broke, and no server is built before ``build_after``, a back-off that doubles
with every further round (from two intervals up to ``MAX_BUILD_BACKOFF``).
Broken servers are still deleted at once. The group keeps being looked at
(its mark is not cleared), and the first iteration that converges it ends
the back-off and clears the ERROR.

test-case-name: tests.convergence.test_conclusion
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from attrs import field, frozen
from pyrsistent import PSet, PVector, pset, pvector

from otter2.convergence.planning import iso_time
from otter2.model import GroupStatus
from otter2.model.group import frozen_list, frozen_set
from otter2.model.outcome import StepOutcome, Verdict

#: Seconds before the next iteration when the plan held back work it can do
#: at once (a Cloud Load Balancer refuses changes for a moment after each).
PROMPTLY = 1.0

#: Why an iteration leaves alone a group that is gone.
GONE = "the group no longer exists"

FAILED_WITHOUT_REASON = "the group cannot converge as configured"

#: The reason of an iteration that did not converge the group and said no more.
NOT_DONE_WITHOUT_REASON = "convergence is not finished yet"

#: Rounds of broken servers in a row from which building backs off.
BUILD_FAILURE_ROUNDS = 3

#: How the reason naming the servers that broke last begins.
LATEST_BROKEN = "Latest broken: "

#: The longest a group waits before building again, in seconds.
MAX_BUILD_BACKOFF = 900.0


def _optional_list(value: Iterable[Any] | None) -> PVector | None:
    return None if value is None else pvector(value)


@frozen
class Iteration:
    """
    What one iteration of a group observed and did: the facts its conclusion
    is drawn from.

    ``outcome`` is the worst outcome of the gather and of the steps;
    ``servers`` the `RecordedServer` values seen (None when the cloud could
    not be observed), ``gone`` the ids among them that Nova says are gone;
    ``wake_at`` and ``broken`` (a sentence per broken server replaced) come
    from the plan, ``postponed`` too, with the reasons of changes the cloud
    refused only for a moment (``StepOutcome.busy``); ``retry_after`` is the longest wait the
    cloud asked for, in seconds; ``build_failures``, ``build_after`` and
    ``error_reasons`` are the group's stored back-off and the reasons its
    state shows (Note [Servers that keep failing]); ``done`` says what the
    steps changed, in words (``summary.summarize``); ``unit`` is what the
    group is made of, in words ("server", or "stack" for a ``launch_stack``
    group); ``steps`` the kind and verdict of each step executed, as pairs of
    names (``("CreateServer", "RETRY")``), for the metrics and the log;
    ``executed`` the plan's steps that were executed; ``journal`` the events
    the iteration appends to the group's journal (``journaling``).
    """

    now: float
    outcome: StepOutcome
    deleting: bool = False
    limited_retries: int = 0
    servers: PVector | None = field(default=None, converter=_optional_list)
    gone: PSet = field(factory=pset, converter=frozen_set)
    postponed: PVector = field(factory=pvector, converter=frozen_list)
    wake_at: float | None = None
    retry_after: float | None = None
    broken: PVector = field(factory=pvector, converter=frozen_list)
    build_failures: int = 0
    build_after: float | None = None
    error_reasons: PVector = field(factory=pvector, converter=frozen_list)
    done: PVector = field(factory=pvector, converter=frozen_list)
    unit: str = "server"
    steps: PVector = field(factory=pvector, converter=frozen_list)
    executed: tuple[Any, ...] = ()  # the plan's steps, as executed
    journal: PVector = field(factory=pvector, converter=frozen_list)


@frozen
class Conclusion:
    """
    How an iteration ended: its ``verdict`` and ``reasons``; the ``status``
    to write (None when the iteration left the group alone: gone or
    paused); the ``servers`` to record (None to keep the last record); the
    ``limited_retries`` count and the build back-off (``build_failures``,
    ``build_after``) to keep; whether to ``remove_group`` (a deleting group
    with nothing left); and the instant to ``look_again`` (None: the group
    is converged or needs its owner); ``done`` says what the iteration
    changed, in words, and ``steps`` the kind and verdict of each step it
    executed (as `Iteration.steps`). See Note [Looking again].
    """

    verdict: Verdict
    reasons: PVector = field(factory=pvector, converter=frozen_list)
    status: GroupStatus | None = None
    servers: PVector | None = field(default=None, converter=_optional_list)
    limited_retries: int = 0
    build_failures: int = 0
    build_after: float | None = None
    remove_group: bool = False
    look_again: float | None = None
    done: PVector = field(factory=pvector, converter=frozen_list)
    steps: PVector = field(factory=pvector, converter=frozen_list)

    def summary(self) -> str:
        """One line for the log: what the iteration changed, and how it ended."""
        did = ", ".join(self.done) if self.done else "changed nothing"
        why = "; ".join(self.reasons)
        if self.remove_group:
            return f"{did}; the group is deleted"
        if self.verdict is Verdict.SUCCESS:
            return f"{did}; converged" if self.status is not None else why
        if self.verdict is Verdict.FAILURE:
            return f"{did}; ERROR: {why}"
        return f"{did}; not converged yet: {why}"

    def steps_by_kind(self) -> dict[str, int]:
        """How many steps of each kind the iteration executed, for the log."""
        counts: dict[str, int] = {}
        for kind, _ in self.steps:
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    @property
    def active_ids(self) -> list[str]:
        """The ids of the servers recorded as active (none without a record)."""
        return [server.id for server in self.servers or () if server.active]

    @property
    def error_reasons(self) -> PVector:
        """The reasons shown in the group's state: those of an ERROR only."""
        return self.reasons if self.status is GroupStatus.ERROR else pvector()

    @property
    def waiting(self) -> PVector:
        """
        The reasons shown as ``waiting`` in the group's state: those of an
        iteration that left the group ACTIVE and not converged (RETRY or
        LIMITED_RETRY: a gather that failed, servers building, a wait the
        cloud asked for); none once converged or in ERROR.
        """
        if self.status is GroupStatus.ACTIVE and self.verdict in (Verdict.RETRY,
                                                                  Verdict.LIMITED_RETRY):
            return self.reasons
        return pvector()


def left_alone(reason: str) -> Conclusion:
    """The conclusion of an iteration that did nothing (the group is gone or paused)."""
    return Conclusion(Verdict.SUCCESS, [reason])


def conclude(iteration: Iteration, interval: float, limited_retry_iterations: int) -> Conclusion:
    """How ``iteration`` ends; see the module docstring and Note [Looking again]."""
    verdict, reasons = iteration.outcome.verdict, iteration.outcome.reasons
    if iteration.postponed and verdict in (Verdict.SUCCESS, Verdict.LIMITED_RETRY):
        verdict, reasons = Verdict.RETRY, iteration.postponed
    limited = iteration.limited_retries + 1 if verdict is Verdict.LIMITED_RETRY else 0
    if limited > limited_retry_iterations:
        verdict, limited = Verdict.FAILURE, 0
        reasons = pvector(f"Timed out: {reason}" for reason in reasons)
    failures, build_after = _build_backoff(iteration, verdict, interval)
    backing_off = failures >= BUILD_FAILURE_ROUNDS
    if backing_off:
        keep_failing = _keep_failing(failures, build_after, iteration)
        reasons = pvector([*keep_failing, *(reasons if verdict is Verdict.FAILURE else ())])
        verdict, limited = Verdict.FAILURE, 0
    if verdict is Verdict.FAILURE and not reasons:
        reasons = pvector([FAILED_WITHOUT_REASON])
    elif verdict in (Verdict.RETRY, Verdict.LIMITED_RETRY) and not reasons:
        reasons = pvector([NOT_DONE_WITHOUT_REASON])
    servers = iteration.servers
    if servers is not None and verdict is Verdict.SUCCESS:
        # Their clean-up is known to be done: forget the servers that are gone.
        servers = pvector(s for s in servers if s.id not in iteration.gone)
    removed = iteration.deleting and verdict is Verdict.SUCCESS
    return Conclusion(
        verdict=verdict, reasons=reasons,
        status=GroupStatus.ERROR if verdict is Verdict.FAILURE else GroupStatus.ACTIVE,
        servers=servers, limited_retries=limited, build_failures=failures,
        build_after=build_after, remove_group=removed, done=iteration.done,
        steps=iteration.steps,
        look_again=(None if verdict is Verdict.SUCCESS
                    or (verdict is Verdict.FAILURE and not iteration.deleting
                        and not backing_off)
                    else next_look(iteration, interval)))


def _build_backoff(iteration: Iteration, verdict: Verdict,
                   interval: float) -> tuple[int, float | None]:
    """The build back-off after ``iteration``; see Note [Servers that keep failing]."""
    if verdict is Verdict.SUCCESS or iteration.deleting:
        return 0, None
    if not iteration.broken:
        return iteration.build_failures, iteration.build_after
    failures = iteration.build_failures + 1
    if failures < BUILD_FAILURE_ROUNDS:
        return failures, None
    delay = min(interval * 2 ** (failures - BUILD_FAILURE_ROUNDS + 1), MAX_BUILD_BACKOFF)
    return failures, iteration.now + delay


def _keep_failing(failures: int, build_after: float | None,
                  iteration: Iteration) -> list[str]:
    """The reasons of a group that backs off: how long, and the servers that broke last."""
    unit = iteration.unit
    after = (f"; no {unit} is built again before {iso_time(build_after)}"
             if build_after is not None else "")
    if iteration.broken:
        latest = [LATEST_BROKEN + "; ".join(iteration.broken)]
    else:
        latest = [r for r in iteration.error_reasons if r.startswith(LATEST_BROKEN)]
    return [f"{unit.capitalize()}s keep breaking: {failures} rounds in a row had to replace "
            f"broken {unit}s{after}", *latest]


def next_look(iteration: Iteration, interval: float) -> float:
    """The instant of the next iteration of a group that is not done; see Note [Looking again]."""
    now = iteration.now
    soonest = now + interval
    if iteration.wake_at is not None and iteration.wake_at > now:
        soonest = min(soonest, iteration.wake_at)
    if iteration.postponed:
        soonest = now + min(interval, PROMPTLY)  # even if a wait ends sooner
    if iteration.retry_after is not None:
        soonest = max(soonest, now + iteration.retry_after)
    return soonest
