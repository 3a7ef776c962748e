"""
Tests for ``otter2.control.schedule``: the ``at`` and ``cron`` rules (rest-api.md §3.3.3)
and the scheduler event of a policy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from otter2.control.errors import APIError, validation_error
from otter2.control.schedule import (
    check_schedule_args,
    following_event,
    group_bucket,
    next_trigger,
    parse_at,
    policy_event,
)
from otter2.model import Policy, ScheduledEvent


def epoch(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
          second: int = 0) -> float:
    """Seconds since the epoch of a UTC date and time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


NOW = epoch(2023, 11, 14, 22, 13, 20)  # a Tuesday
AT = epoch(2030, 12, 5, 3, 12)

ACCEPTED_CRONS = [
    "0 22 * * *", "*/5 * * * *", "0,30 8-18 * * 1-5", "0 0 1-15/2 * *", "0 0 L * *",
    "0 12 * JAN,jul MON", "0 0 * * SUN-SAT", "0 0 * * 7", "0 0 29 2 *", "0 0 31 * *",
    "59 23 31 12 *", "0 0 30 2 MON", "  0  22 * * *\t", "00 05 * * *", "0 0 1,L * *",
    "0 0 * FEB-MAR/1 *",
]


class ParseAtTests(SynchronousTestCase):
    """``parse_at`` reads the date-times Otter's parser accepted, ending in Z."""

    def test_accepted(self) -> None:
        """The accepted spellings of §3.3.3 give their instant."""
        for text, instant in [
                ("2030-12-05T03:12:00Z", AT), ("2030-12-05T03:12:00.5Z", AT + 0.5),
                ("2030-12-05T03:12Z", AT), ("2030-12-05T03Z", AT - 12 * 60),
                ("2030-12-05 03:12:00Z", AT), ("20301205T031200Z", AT),
                ("2030-12-05Z", AT - 3 * 3600 - 12 * 60), ("2030-12-05T03:12:59Z", AT + 59),
                ("2030-2-5T03:12:00Z", epoch(2030, 2, 5, 3, 12)),
                ("2032-02-29T00:00:00Z", epoch(2032, 2, 29))]:
            self.assertEqual(parse_at(text), instant, text)

    def test_rejected(self) -> None:
        """The rejected spellings of §3.3.3, and other garbage, give ``None``."""
        for text in ["2030-12-05", "2030-12-05T03:12:00", "2030-12-05T03:12:00+05:00",
                     "2030-12-05T03:12:00+00:00Z", "2030/12/05T03:12:00Z",
                     "05-12-2030T03:12:09Z", "2030-13-05T03:12:00Z", "2030-00-05T03:12:00Z",
                     "2030-12-32T03:12:00Z", "2031-02-29T00:00:00Z", "2030-12-05T24:00:00Z",
                     "2030-12-05T03:60:00Z", "2030-12-05T03:12:60Z", "", "  ", "Z",
                     "2030Z", "2030-12Z", "0000-01-01T00:00:00Z", "2030-12-05T03:12:00Z\n",
                     " 2030-12-05T03:12:00Z", "2030-12-05T03:12:00z", "2030-12-05x03:12Z",
                     "\u0662\u0660\u0663\u0660-12-05T03:12:00Z"]:
            self.assertIsNone(parse_at(text), text)

    @given(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31),
                        timezones=st.just(UTC)),
           st.sampled_from(["%Y-%m-%dT%H:%M:%S.%fZ", "%Y%m%dT%H%M%S.%fZ", "%Y-%m-%d %H:%M:%S.%fZ"]))
    def test_round_trip(self, moment: datetime, spelling: str) -> None:
        """A formatted UTC date-time parses back to its instant."""
        parsed = parse_at(moment.strftime(spelling))
        self.assertIsNotNone(parsed)
        self.assertAlmostEqual(parsed, moment.timestamp(), places=3)


class NextTriggerTests(SynchronousTestCase):
    """``next_trigger`` says when a schedule policy fires next."""

    def test_at(self) -> None:
        """An ``at`` fires at its instant."""
        self.assertEqual(next_trigger({"at": "2030-12-05T03:12:00Z"}, NOW), AT)

    def test_cron(self) -> None:
        """A cron fires at its first occurrence strictly after now, in UTC."""
        for cron, now, expected in [
                ("0 22 * * *", NOW, epoch(2023, 11, 15, 22)),
                ("13 22 * * *", NOW, epoch(2023, 11, 15, 22, 13)),
                ("14 22 * * *", NOW, epoch(2023, 11, 14, 22, 14)),
                ("0 0 * * *", epoch(2024, 1, 1), epoch(2024, 1, 2)),
                ("0 0 * * *", epoch(2024, 1, 1) - 0.5, epoch(2024, 1, 1)),
                ("*/5 * * * *", NOW, epoch(2023, 11, 14, 22, 15)),
                ("0 0 L * *", NOW, epoch(2023, 11, 30)),
                ("0 0 L 2 *", NOW, epoch(2024, 2, 29)),
                ("0 0 29 2 *", epoch(2096, 3, 1), epoch(2104, 2, 29)),
                ("0 12 * JAN MON", NOW, epoch(2024, 1, 1, 12)),
                ("0 0 * * 7", NOW, epoch(2023, 11, 19)),
                ("0 0 * * sun", NOW, epoch(2023, 11, 19)),
                ("0,30 8-18/5 * * *", NOW, epoch(2023, 11, 15, 8)),
                ("0 0 30 2 MON", NOW, epoch(2024, 2, 5))]:
            self.assertEqual(next_trigger({"cron": cron}, now), expected, cron)

    def test_refused_args(self) -> None:
        """Arguments that validation refuses raise ``ValueError``."""
        for args in [{"at": "2030-12-05"}, {"cron": "@daily"}, {"cron": "0 0 30 2 *"}]:
            self.assertRaises(ValueError, next_trigger, args, NOW)

    @given(st.sampled_from(ACCEPTED_CRONS), st.floats(0, 4e9))
    def test_occurrence(self, cron: str, now: float) -> None:
        """The next trigger lies after now, within 8 years, and is itself an occurrence."""
        following = next_trigger({"cron": cron}, now)
        self.assertGreater(following, now)
        self.assertLessEqual(following - now, timedelta(days=8 * 366 + 1).total_seconds())
        self.assertEqual(next_trigger({"cron": cron}, following - 0.5), following)


def policy(data: dict[str, Any]) -> Policy:
    """A policy of group g1 with body ``data`` and version v7."""
    return Policy("t1", "g1", "p1", data, version="v7")


class PolicyEventTests(SynchronousTestCase):
    """``policy_event`` gives the scheduler event of a schedule policy."""

    def test_at(self) -> None:
        """An ``at`` policy's event fires at its instant and has no cron."""
        event = policy_event(policy({"type": "schedule", "args": {"at": "2030-12-05T03:12:00Z"}}),
                             NOW, 16)
        self.assertEqual(event, ScheduledEvent("t1", "g1", "p1", trigger=AT, version="v7",
                                               bucket=group_bucket("g1", 16)))

    def test_cron(self) -> None:
        """A cron policy's event fires at the next occurrence and keeps its cron."""
        event = policy_event(policy({"type": "schedule", "args": {"cron": "0 22 * * *"}}), NOW, 16)
        self.assertEqual(event, ScheduledEvent("t1", "g1", "p1", trigger=epoch(2023, 11, 15, 22),
                                               version="v7", cron="0 22 * * *",
                                               bucket=group_bucket("g1", 16)))

    def test_webhook(self) -> None:
        """A webhook policy has no event."""
        self.assertIsNone(policy_event(policy({"type": "webhook", "change": 1}), NOW, 16))

    @given(st.text(min_size=1, max_size=40), st.integers(1, 1000))
    def test_bucket_is_stable_and_in_range(self, group_id: str, buckets: int) -> None:
        """A group's bucket lies in 1..buckets and is the same every time."""
        bucket = group_bucket(group_id, buckets)
        self.assertTrue(1 <= bucket <= buckets)
        self.assertEqual(bucket, group_bucket(group_id, buckets))


class FollowingEventTests(SynchronousTestCase):
    """The event after a cron fired: its next occurrence after the trigger and now."""

    def following(self, cron: str, trigger: float, now: float) -> float:
        policy_ = policy({"type": "schedule", "args": {"cron": cron}})
        event = ScheduledEvent("t1", "g1", "p1", trigger=trigger, version="v7", cron=cron)
        found = following_event(event, policy_, now)
        assert found is not None
        return found.trigger

    def test_across_hours_days_and_month_ends(self) -> None:
        """Hourly, daily and month-end crons roll over hours, days, months and years."""
        self.assertEqual(self.following("0 * * * *", epoch(2030, 1, 1, 23), epoch(2030, 1, 1, 23)),
                         epoch(2030, 1, 2, 0))
        self.assertEqual(self.following("30 2 * * *", epoch(2030, 1, 31, 2, 30),
                                        epoch(2030, 1, 31, 2, 30, 4)), epoch(2030, 2, 1, 2, 30))
        self.assertEqual(self.following("0 0 L * *", epoch(2030, 4, 30), epoch(2030, 4, 30)),
                         epoch(2030, 5, 31))
        self.assertEqual(self.following("0 0 1 * *", epoch(2030, 12, 1), epoch(2030, 12, 1)),
                         epoch(2031, 1, 1))

    def test_leap_days(self) -> None:
        """29 February fires in leap years only; L in February is the 29th in a leap year."""
        self.assertEqual(self.following("0 0 29 2 *", epoch(2028, 2, 29), epoch(2028, 2, 29)),
                         epoch(2032, 2, 29))
        self.assertEqual(self.following("0 12 L 2 *", epoch(2031, 2, 28, 12),
                                        epoch(2031, 2, 28, 12)), epoch(2032, 2, 29, 12))

    def test_missed_occurrences_are_skipped(self) -> None:
        """Fired three days late, a daily cron goes on from tomorrow, not from the missed days."""
        self.assertEqual(self.following("0 8 * * *", epoch(2030, 3, 1, 8),
                                        epoch(2030, 3, 4, 9)), epoch(2030, 3, 5, 8))

    def test_at_has_none(self) -> None:
        """An at policy has nothing after it fired."""
        at = policy({"type": "schedule", "args": {"at": "2030-12-05T03:12:00Z"}})
        event = ScheduledEvent("t1", "g1", "p1", trigger=AT, version="v7")
        self.assertIsNone(following_event(event, at, AT))


class ScheduleArgsTests(SynchronousTestCase):
    """``check_schedule_args`` refuses unacceptable schedules with Otter's messages."""

    def assertRefused(self, args: dict[str, Any], message: str) -> None:
        """``args`` are refused at ``NOW`` with ``message``."""
        error = self.assertRaises(APIError, check_schedule_args, args, NOW)
        self.assertEqual(error, validation_error(message))

    def test_accepted(self) -> None:
        """Future ``at`` values and the accepted cron forms pass."""
        for cron in ACCEPTED_CRONS:
            check_schedule_args({"cron": cron}, NOW)
        for at in ["2030-12-05T03:12:00Z", "2023-11-14T22:13:20.001Z", "2030-12-05Z"]:
            check_schedule_args({"at": at}, NOW)

    def test_past(self) -> None:
        """An ``at`` that is not strictly in the future is refused."""
        for at in ["2023-11-14T22:13:20Z", "2023-11-14T22:13Z", "2020-01-01T00:00:00Z"]:
            self.assertRefused({"at": at},
                               f'args.at: Invalid "{at}" datetime: It must be in the future')

    def test_not_a_date_time(self) -> None:
        """An unacceptable ``at`` is not a date-time."""
        for at in ["2030-12-05", "2030-12-05T03:12:00+05:00", "", "  ", "2030-12-05T03:12:60Z"]:
            self.assertRefused({"at": at}, f"args.at: '{at}' is not a 'date-time': give a "
                                           'UTC time ending in Z, such as '
                                           '"2030-12-05T03:12:00Z"')

    def test_seconds(self) -> None:
        """A six-field cron has seconds, which are not allowed."""
        for cron in ["0 0 0 * * *", "* * * * * *", "a b c d e f"]:
            self.assertRefused({"cron": cron},
                               f'args.cron: Invalid "{cron}" cron entry: Seconds not allowed')

    def test_not_a_cron(self) -> None:
        """Other field counts, keywords and out-of-range or unknown values are refused."""
        for cron in ["", " ", "* * * *", "* * * * * * *", "@daily", "@reboot", "70 * * * *",
                     "* 24 * * *", "0 0 0 * *", "0 0 32 * *", "0 0 * 13 *", "0 0 * 0 *",
                     "0 0 * * 8", "*/0 * * * *", "0 0 ? * *", "0 0 * * 1#2", "0 0 * * 5L",
                     "H * * * *", "0 0 * * L", "0 0 * MON *", "0 JAN * * *",
                     "0 0 * FOO *", "0 0 1-L * *", "0 0 L/2 * *", "-1 * * * *",
                     "1-2-3 * * * *", "0,,1 * * * *", "\u0661 * * * *", "0 0 * * 100"]:
            self.assertRefused({"cron": cron}, f"args.cron: '{cron}' is not a 'cron': give "
                                               "five fields (minute, hour, day of month, "
                                               'month, day of week) such as "0 22 * * *"')

    def test_never_fires(self) -> None:
        """A cron that can never fire is refused."""
        for cron in ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *", "0 0 30-31 FEB *"]:
            self.assertRefused({"cron": cron},
                               f'args.cron: Invalid "{cron}" cron entry: It never fires')

    def test_monitoring_args(self) -> None:
        """Cloud-monitoring arguments are incorrect for a schedule policy."""
        args: Any
        for args in [{"check": {}}, {"alarm_criteria": {}, "at": "2030-12-05T03:12:00Z"}]:
            self.assertRefused(args, "args: Incorrect args for schedule policy")

    def test_exactly_one(self) -> None:
        """Exactly one of ``at`` and ``cron`` is needed."""
        self.assertRefused({}, 'args: a schedule policy needs exactly one of "at" and "cron" '
                               "(found: none)")
        self.assertRefused({"at": "2030-12-05T03:12:00Z", "cron": "* * * * *"},
                           'args: a schedule policy needs exactly one of "at" and "cron" '
                           '(found: "at", "cron")')

    def test_message_names_the_path(self) -> None:
        """Every message starts with the path of the field at fault under the given place."""
        where = "scalingPolicies[3].args"
        for args, path in [({"cron": "@daily"}, where + ".cron"),
                           ({"at": "2020-01-01T00:00:00Z"}, where + ".at"),
                           ({"at": "x", "cron": "y"}, where), ({"check": 1}, where)]:
            error = self.assertRaises(APIError, check_schedule_args, args, NOW, where)
            self.assertTrue(error.message.startswith(path + ": "), error.message)


class DescendingRangeTests(SynchronousTestCase):
    """A range whose start is above its end is not a cron, in any field."""

    def test_refused(self) -> None:
        """6-0, 23-1, FRI-MON and DEC-JAN ranges are refused; ascending ones are not."""
        for cron in ["6-0 * * * *", "* 6-0 * * *", "* * 20-3 * *", "* * * 12-1 *",
                     "* * * * 6-0", "* * * * FRI-MON", "* * * DEC-JAN *", "0,30-10/5 * * * *"]:
            error = self.assertRaises(APIError, check_schedule_args, {"cron": cron}, NOW)
            self.assertTrue(error.message.startswith(f"args.cron: '{cron}' is not a 'cron'"),
                            error.message)
        for cron in ["0-6 * * * *", "* * * * MON-FRI", "* * * JAN-DEC *", "0 0 * * 1-7"]:
            check_schedule_args({"cron": cron}, NOW)


class TimeZoneTests(SynchronousTestCase):
    """An optional IANA ``timezone`` beside ``cron``, daylight-saving changes included."""

    def test_local_wall_clock(self) -> None:
        """08:00 in Paris is 07:00 UTC in winter and 06:00 UTC in summer."""
        args = {"cron": "0 8 * * *", "timezone": "Europe/Paris"}
        self.assertEqual(next_trigger(args, epoch(2030, 1, 10)), epoch(2030, 1, 10, 7))
        self.assertEqual(next_trigger(args, epoch(2030, 7, 10)), epoch(2030, 7, 10, 6))

    def test_repeated_hour_fires_once(self) -> None:
        """01:30 in New York on the night clocks go back (3 November 2030) fires once."""
        args = {"cron": "30 1 * * *", "timezone": "America/New_York"}
        first = next_trigger(args, epoch(2030, 11, 3, 0))
        self.assertEqual(first, epoch(2030, 11, 3, 5, 30))  # 01:30 EDT
        self.assertEqual(next_trigger(args, first), epoch(2030, 11, 4, 6, 30))  # next day, EST

    def test_skipped_hour_fires_once(self) -> None:
        """02:30 in New York, skipped when clocks go forward (10 March 2030), fires once just
        after the gap; 02:30 and 03:30 landing on the same instant fire once."""
        args = {"cron": "30 2 * * *", "timezone": "America/New_York"}
        self.assertEqual(next_trigger(args, epoch(2030, 3, 10, 0)), epoch(2030, 3, 10, 7, 30))
        both = {"cron": "30 2,3 * * *", "timezone": "America/New_York"}
        first = next_trigger(both, epoch(2030, 3, 10, 0))
        self.assertEqual(first, epoch(2030, 3, 10, 7, 30))
        self.assertEqual(next_trigger(both, first), epoch(2030, 3, 11, 6, 30))

    def test_validation(self) -> None:
        """A zone is checked, and allowed only with a cron; without one, UTC as ever."""
        check_schedule_args({"cron": "0 8 * * *", "timezone": "Asia/Tokyo"}, NOW)
        for name in ["Mars/Olympus", "", "../etc/passwd", 5]:
            error = self.assertRaises(APIError, check_schedule_args,
                                      {"cron": "0 8 * * *", "timezone": name}, NOW)
            self.assertIn("not an IANA time zone name", error.message)
        error = self.assertRaises(APIError, check_schedule_args,
                                  {"at": "2030-12-05T03:12:00Z", "timezone": "Asia/Tokyo"}, NOW)
        self.assertIn("applies to a cron only", error.message)
        self.assertEqual(next_trigger({"cron": "0 8 * * *"}, epoch(2030, 7, 10)),
                         epoch(2030, 7, 10, 8))
