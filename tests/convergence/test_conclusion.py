"""
Tests for otter2.convergence.conclusion: how an iteration ends, as
properties over arbitrary iteration outcomes and as examples.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from otter2.convergence.conclusion import (
    BUILD_FAILURE_ROUNDS,
    FAILED_WITHOUT_REASON,
    MAX_BUILD_BACKOFF,
    NOT_DONE_WITHOUT_REASON,
    PROMPTLY,
    Iteration,
    conclude,
    left_alone,
)
from otter2.model import GroupStatus
from otter2.model.cloud import RecordedServer
from otter2.model.outcome import StepOutcome, Verdict

NOW = 1000.0
LIMIT = 3

reasons = st.lists(st.sampled_from(["a", "b", "c"]), max_size=3, unique=True)
outcomes = st.builds(StepOutcome, st.sampled_from(list(Verdict)), reasons)
offsets = st.one_of(st.none(), st.floats(-100, 7200, allow_nan=False),
                    st.floats(0, 2 * PROMPTLY, allow_nan=False))
record = st.one_of(st.none(), st.lists(
    st.builds(RecordedServer, st.sampled_from(["s1", "s2", "s3", "s4"]), active=st.booleans()),
    max_size=4, unique_by=lambda s: s.id))


@st.composite
def iterations(draw: Any) -> Iteration:
    """Any iteration: an outcome, a record, a plan's postponed work and wake instant."""
    wake = draw(offsets)
    retry_after = draw(st.one_of(st.none(), st.floats(0, 600, allow_nan=False)))
    return Iteration(
        now=NOW, outcome=draw(outcomes), deleting=draw(st.booleans()),
        limited_retries=draw(st.integers(0, LIMIT)), servers=draw(record),
        gone=draw(st.sets(st.sampled_from(["s1", "s2", "s3", "s4"]))),
        postponed=draw(reasons), wake_at=None if wake is None else NOW + wake,
        retry_after=retry_after, broken=draw(reasons),
        build_failures=draw(st.integers(0, BUILD_FAILURE_ROUNDS + 3)),
        build_after=draw(st.one_of(st.none(), st.floats(NOW - 100, NOW + 900))))


def conclusion_of(iteration: Iteration, interval: float = 10.0) -> Any:
    return conclude(iteration, interval, LIMIT)


class ConclusionPropertyTests(SynchronousTestCase):
    """Status, reasons and the next look are always consistent."""

    @given(iterations(), st.floats(1, 120))
    def test_status_follows_verdict(self, iteration: Iteration, interval: float) -> None:
        """ERROR exactly when FAILURE, always with reasons; ACTIVE shows none."""
        conclusion = conclusion_of(iteration, interval)
        self.assertEqual(conclusion.status is GroupStatus.ERROR,
                         conclusion.verdict is Verdict.FAILURE)
        if conclusion.status is GroupStatus.ERROR:
            self.assertTrue(conclusion.error_reasons)
        else:
            self.assertEqual(list(conclusion.error_reasons), [])

    @given(iterations(), st.floats(1, 120))
    def test_waiting_while_active_and_not_converged(self, iteration: Iteration,
                                                    interval: float) -> None:
        """The state shows why exactly while the group is ACTIVE and not converged (RETRY
        or LIMITED_RETRY): the iteration's reasons, never empty; never beside errors."""
        conclusion = conclusion_of(iteration, interval)
        not_converged = (conclusion.status is GroupStatus.ACTIVE
                         and conclusion.verdict in (Verdict.RETRY, Verdict.LIMITED_RETRY))
        self.assertEqual(bool(conclusion.waiting), not_converged)
        if not_converged:
            self.assertEqual(conclusion.waiting, conclusion.reasons)
        self.assertFalse(conclusion.waiting and conclusion.error_reasons)

    @given(st.lists(st.text(min_size=1), min_size=1, max_size=3),
           st.one_of(st.none(), st.floats(0, 600)), st.integers(0, LIMIT))
    def test_gather_failure_waits_active(self, why: list[str], retry_after: float | None,
                                         limited: int) -> None:
        """A failed gather (a RETRY with nothing else observed) never puts the group in
        ERROR: its reason is shown as waiting, however often it happens."""
        conclusion = conclusion_of(Iteration(NOW, StepOutcome(Verdict.RETRY, why),
                                             limited_retries=limited, retry_after=retry_after))
        self.assertEqual((conclusion.status, list(conclusion.waiting),
                          list(conclusion.error_reasons)), (GroupStatus.ACTIVE, why, []))

    @given(iterations(), st.floats(1, 120))
    def test_looks_again_unless_done(self, iteration: Iteration, interval: float) -> None:
        """No next look exactly for a converged group or an ERROR that is not a deletion."""
        conclusion = conclusion_of(iteration, interval)
        done = (conclusion.verdict is Verdict.SUCCESS
                or (conclusion.verdict is Verdict.FAILURE and not iteration.deleting
                    and conclusion.build_failures < BUILD_FAILURE_ROUNDS))
        self.assertEqual(conclusion.look_again is None, done)

    @given(iterations(), st.floats(1, 120))
    def test_never_later_than_the_interval_unless_asked(self, iteration: Iteration,
                                                        interval: float) -> None:
        """
        The next look is never in the past, never later than one interval
        unless the cloud asked to slow down, and never before the cloud said.
        """
        look = conclusion_of(iteration, interval).look_again
        if look is None:
            return
        self.assertGreaterEqual(look, NOW)
        asked = iteration.retry_after or 0.0
        self.assertLessEqual(look, NOW + max(interval, asked))
        self.assertGreaterEqual(look, NOW + asked)

    @given(iterations(), st.floats(1, 120))
    def test_known_waits_are_not_overslept(self, iteration: Iteration, interval: float) -> None:
        """A wait that ends within the interval is looked at when it ends (no throttling),
        or PROMPTLY after the iteration when that is later and work was held back."""
        look = conclusion_of(iteration, interval).look_again
        wake = iteration.wake_at
        if look is None or iteration.retry_after or wake is None or wake <= NOW:
            return
        if iteration.postponed:
            self.assertLessEqual(look, max(min(wake, NOW + interval), NOW + PROMPTLY))
        else:
            self.assertLessEqual(look, min(wake, NOW + interval))

    @given(iterations(), st.floats(1, 120))
    def test_postponed_work_goes_on_promptly(self, iteration: Iteration,
                                             interval: float) -> None:
        """
        Work held back is taken up PROMPTLY after the iteration (no throttling),
        and no sooner, even when a known wait ends sooner: the load balancer
        that held it back would refuse it until then.
        """
        look = conclusion_of(iteration, interval).look_again
        if look is None or iteration.retry_after or not iteration.postponed:
            return
        self.assertEqual(look, NOW + PROMPTLY)

    @given(iterations())
    def test_limited_retry_count(self, iteration: Iteration) -> None:
        """The count grows only on LIMITED_RETRY, and never passes the limit."""
        conclusion = conclusion_of(iteration)
        self.assertLessEqual(conclusion.limited_retries, LIMIT)
        if conclusion.verdict is not Verdict.LIMITED_RETRY:
            self.assertEqual(conclusion.limited_retries, 0)
        else:
            self.assertEqual(conclusion.limited_retries, iteration.limited_retries + 1)

    @given(iterations())
    def test_record(self, iteration: Iteration) -> None:
        """
        The record is written whenever the cloud was seen, whatever the
        verdict; servers known gone are forgotten only once the iteration
        succeeded.
        """
        conclusion = conclusion_of(iteration)
        if iteration.servers is None:
            self.assertIsNone(conclusion.servers)
            return
        expected = [s for s in iteration.servers
                    if conclusion.verdict is not Verdict.SUCCESS or s.id not in iteration.gone]
        self.assertEqual(list(conclusion.servers), expected)

    @given(iterations(), st.floats(1, 120))
    def test_build_backoff(self, iteration: Iteration, interval: float) -> None:
        """
        Convergence ends the back-off; a round with broken servers counts one
        more, and from the threshold on the group shows ERROR, saying so, and
        builds nothing before an instant at most MAX_BUILD_BACKOFF away.
        """
        conclusion = conclusion_of(iteration, interval)
        if conclusion.verdict is Verdict.SUCCESS or iteration.deleting:
            self.assertEqual((conclusion.build_failures, conclusion.build_after), (0, None))
            return
        counted = iteration.build_failures + (1 if iteration.broken else 0)
        self.assertEqual(conclusion.build_failures, counted)
        if counted >= BUILD_FAILURE_ROUNDS:
            self.assertEqual(conclusion.status, GroupStatus.ERROR)
            self.assertTrue(conclusion.reasons[0].startswith("Servers keep breaking"))
        if iteration.broken and counted >= BUILD_FAILURE_ROUNDS:
            assert conclusion.build_after is not None
            self.assertGreater(conclusion.build_after, NOW)
            self.assertLessEqual(conclusion.build_after, NOW + MAX_BUILD_BACKOFF)
        elif iteration.broken:
            self.assertIsNone(conclusion.build_after)

    @given(iterations())
    def test_only_a_finished_deletion_removes(self, iteration: Iteration) -> None:
        """The group is removed exactly when it is being deleted and nothing is left to do."""
        conclusion = conclusion_of(iteration)
        self.assertEqual(conclusion.remove_group,
                         iteration.deleting and conclusion.verdict is Verdict.SUCCESS)


def iteration(verdict: Verdict, *why: str, limited_retries: int = 0,
              postponed: tuple[str, ...] = (), wake_at: float | None = None,
              retry_after: float | None = None, deleting: bool = False) -> Iteration:
    return Iteration(NOW, StepOutcome(verdict, list(why)), deleting=deleting,
                     limited_retries=limited_retries, postponed=list(postponed),
                     wake_at=wake_at, retry_after=retry_after)


class ConclusionExampleTests(SynchronousTestCase):
    """The cases by name."""

    def test_success(self) -> None:
        """A converged group is ACTIVE, without reasons, and not looked at again."""
        conclusion = conclusion_of(iteration(Verdict.SUCCESS))
        self.assertEqual((conclusion.status, conclusion.look_again),
                         (GroupStatus.ACTIVE, None))

    def test_postponed_success_is_a_retry(self) -> None:
        """Steps that all succeeded with work held back are a RETRY, looked at promptly."""
        conclusion = conclusion_of(iteration(Verdict.SUCCESS, postponed=("later",)))
        self.assertEqual((conclusion.verdict, list(conclusion.reasons), conclusion.look_again),
                         (Verdict.RETRY, ["later"], NOW + PROMPTLY))

    def test_retry_looks_again_after_the_interval(self) -> None:
        """A RETRY with no known wait comes back after one interval."""
        self.assertEqual(conclusion_of(iteration(Verdict.RETRY, "x"), 10).look_again, NOW + 10)

    def test_held_back_work_waits_for_the_window(self) -> None:
        """
        With work held back, a drain that ends within PROMPTLY is looked at
        PROMPTLY after the iteration: a look inside the load balancer's window
        would have its change refused and come back later still.
        """
        conclusion = conclusion_of(iteration(Verdict.RETRY, "draining", postponed=("more",),
                                             wake_at=NOW + PROMPTLY / 2), 10)
        self.assertEqual(conclusion.look_again, NOW + PROMPTLY)

    def test_drain_end_is_the_next_look(self) -> None:
        """A drain that ends in 4 s is looked at in 4 s, not after the 10 s interval."""
        conclusion = conclusion_of(iteration(Verdict.RETRY, "draining", wake_at=NOW + 4), 10)
        self.assertEqual(conclusion.look_again, NOW + 4)

    def test_retry_after_is_honoured(self) -> None:
        """The cloud's Retry-After of 90 s is waited for, past the interval."""
        conclusion = conclusion_of(iteration(Verdict.RETRY, "slow down", retry_after=90), 10)
        self.assertEqual(conclusion.look_again, NOW + 90)

    def test_throttled_retry_does_not_count_as_limited(self) -> None:
        """A RETRY the cloud throttled (Retry-After) is a RETRY even with the
        LIMITED_RETRY count at its limit: no time-out, the count starts again,
        and the wait asked is kept."""
        conclusion = conclusion_of(iteration(Verdict.RETRY, "rate limited", retry_after=30,
                                             limited_retries=LIMIT), 10)
        self.assertEqual((conclusion.verdict, conclusion.status, list(conclusion.reasons),
                          conclusion.limited_retries, conclusion.look_again),
                         (Verdict.RETRY, GroupStatus.ACTIVE, ["rate limited"], 0, NOW + 30))

    def test_limited_retry_times_out(self) -> None:
        """Past the limit, LIMITED_RETRY becomes an ERROR with 'Timed out' reasons."""
        conclusion = conclusion_of(iteration(Verdict.LIMITED_RETRY, "rebooting",
                                             limited_retries=LIMIT))
        self.assertEqual((conclusion.status, list(conclusion.reasons),
                          conclusion.limited_retries, conclusion.look_again),
                         (GroupStatus.ERROR, ["Timed out: rebooting"], 0, None))

    def test_retry_without_reason(self) -> None:
        """A group not converged always says something while it waits."""
        self.assertEqual(list(conclusion_of(iteration(Verdict.RETRY)).waiting),
                         [NOT_DONE_WITHOUT_REASON])

    def test_waiting_is_shown_until_converged(self) -> None:
        """Builds and a Retry-After wait are shown as waiting; a converged or failed
        group shows none."""
        self.assertEqual(
            [list(conclusion_of(iteration(verdict, *why, retry_after=wait)).waiting)
             for verdict, why, wait in [
                 (Verdict.RETRY, ["waiting for servers to build"], None),
                 (Verdict.RETRY, ["Cloud Servers asked to wait 30 s (HTTP 429)"], 30.0),
                 (Verdict.LIMITED_RETRY, ["rebooting"], None),
                 (Verdict.SUCCESS, [], None),
                 (Verdict.FAILURE, ["no quota"], None)]],
            [["waiting for servers to build"], ["Cloud Servers asked to wait 30 s (HTTP 429)"],
             ["rebooting"], [], []])

    def test_failure_without_reason(self) -> None:
        """An ERROR always says something."""
        self.assertEqual(list(conclusion_of(iteration(Verdict.FAILURE)).reasons),
                         [FAILED_WITHOUT_REASON])

    def test_failed_deletion_is_tried_again(self) -> None:
        """A deletion that fails shows the ERROR and is tried again after an interval."""
        conclusion = conclusion_of(iteration(Verdict.FAILURE, "no Nova", deleting=True), 10)
        self.assertEqual((conclusion.status, conclusion.look_again),
                         (GroupStatus.ERROR, NOW + 10))

    def test_backoff_doubles_and_is_bounded(self) -> None:
        """Past the threshold the wait before building doubles each round, up to its cap."""
        waits = []
        for failures in range(BUILD_FAILURE_ROUNDS - 1, BUILD_FAILURE_ROUNDS + 8):
            conclusion = conclusion_of(Iteration(
                NOW, StepOutcome(Verdict.RETRY, ["x"]), broken=["server s1 went to ERROR"],
                build_failures=failures), 10)
            waits.append(conclusion.build_after - NOW)
        self.assertEqual(waits, [20, 40, 80, 160, 320, 640, 900, 900, 900])

    def test_keep_failing_reason(self) -> None:
        """The ERROR names the rounds, the servers that broke and when building resumes."""
        conclusion = conclusion_of(Iteration(
            NOW, StepOutcome(Verdict.RETRY, ["x"]), broken=["server s1 went to ERROR"],
            build_failures=BUILD_FAILURE_ROUNDS - 1), 10)
        self.assertEqual(list(conclusion.reasons), [
            "Servers keep breaking: 3 rounds in a row had to replace broken servers; no "
            "server is built again before 1970-01-01T00:17:00Z",
            "Latest broken: server s1 went to ERROR"])
        self.assertEqual(conclusion.look_again, NOW + 10)

    def test_waiting_round_keeps_the_latest_broken(self) -> None:
        """A round with nothing newly broken still names the servers that broke last."""
        conclusion = conclusion_of(Iteration(
            NOW, StepOutcome(Verdict.RETRY, ["waiting"]), build_failures=4,
            build_after=NOW + 60, error_reasons=["Servers keep breaking: ...",
                                                 "Latest broken: server s1 went to ERROR"]))
        self.assertEqual(list(conclusion.reasons), [
            "Servers keep breaking: 4 rounds in a row had to replace broken servers; no "
            "server is built again before 1970-01-01T00:17:40Z",
            "Latest broken: server s1 went to ERROR"])

    def test_left_alone(self) -> None:
        """A gone or paused group's conclusion writes nothing and is not looked at again."""
        conclusion = left_alone("the group is paused")
        self.assertEqual((conclusion.status, conclusion.servers, conclusion.look_again),
                         (None, None, None))


class SummaryTests(SynchronousTestCase):
    """The log line of a conclusion says what was done and how it ended."""

    def test_retry(self) -> None:
        """Changes, then why the group is not converged yet."""
        conclusion = conclude(Iteration(NOW, StepOutcome(Verdict.RETRY, ["waiting for builds"]),
                                        done=["created 2 servers"]), 10, LIMIT)
        self.assertEqual(conclusion.summary(),
                         "created 2 servers; not converged yet: waiting for builds")

    def test_converged_without_changes(self) -> None:
        """Nothing to do reads as such."""
        conclusion = conclude(Iteration(NOW, StepOutcome(Verdict.SUCCESS), servers=[]), 10, LIMIT)
        self.assertEqual(conclusion.summary(), "changed nothing; converged")

    def test_error(self) -> None:
        """An ERROR names its reasons."""
        conclusion = conclude(Iteration(NOW, StepOutcome(Verdict.FAILURE, ["no quota"])), 10,
                              LIMIT)
        self.assertEqual(conclusion.summary(), "changed nothing; ERROR: no quota")

    def test_left_alone(self) -> None:
        """A paused group's line says why nothing was done."""
        self.assertEqual(left_alone("the group is paused").summary(), "the group is paused")
