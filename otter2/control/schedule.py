"""
The ``at`` and ``cron`` rules of schedule policies: which arguments are acceptable,
when they fire (rest-api.md §3.3.3), and the scheduler event a policy gets.

``at`` follows what Otter's ISO 8601 parser accepted, with a mandatory ``Z``. ``cron``
is a strict five-field grammar (numbers, ``*``, lists, ranges, steps, month and day
names, ``L`` in the day of the month); croniter checks the values and finds the
occurrences, in UTC. Unlike Otter, an expression that can never fire (``0 0 30 2 *``)
is refused when the policy is validated instead of failing when it is scheduled.

test-case-name: tests.control.test_schedule
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attrs import evolve
from croniter import CroniterBadDateError, CroniterError, croniter

from otter2.control.errors import validation_error
from otter2.control.messages import format_failure, json_list, json_text, located
from otter2.model import Policy, ScheduledEvent

_AT = re.compile(
    r"(?P<year>[0-9]{4})"
    r"(?:-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})"
    r"|(?P<basic_month>[0-9]{2})(?P<basic_day>[0-9]{2}))"
    r"(?:[T ](?P<hour>[0-9]{2})"
    r"(?::?(?P<minute>[0-9]{2})"
    r"(?::?(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?)?)?)?"
    r"Z")


def _cron_field(value: str, special: str = "") -> re.Pattern[str]:
    """A comma-separated list of ``*`` or ``value`` or ``value-value``, each with an
    optional ``/step``; ``special`` is an item allowed on its own."""
    item = rf"(?:\*|{value}(?:-{value})?)(?:/[0-9]{{1,2}})?"
    if special:
        item = rf"(?:{special}|{item})"
    return re.compile(rf"{item}(?:,{item})*")


_NUMBER = "[0-9]{1,2}"
_NUMBER_OR_NAME = "(?:[0-9]{1,2}|[A-Za-z]{3})"
_CRON_FIELDS = (
    _cron_field(_NUMBER),                  # minute
    _cron_field(_NUMBER),                  # hour
    _cron_field(_NUMBER, special="[Ll]"),  # day of month; L is its last day
    _cron_field(_NUMBER_OR_NAME),          # month: 1-12 or JAN-DEC
    _cron_field(_NUMBER_OR_NAME),          # day of week: 0-7 (0 and 7 are Sunday) or SUN-SAT
)

# Any expression that fires at all fires within 8 years (29 February skips a leap year
# at most once in a row), so a longer search without a match means never.
_MAX_YEARS_BETWEEN_MATCHES = 10


def parse_at(text: str) -> float | None:
    """The instant ``text`` names in seconds since the epoch, or ``None`` if it is not
    an acceptable ``at`` (§3.3.3: ISO 8601, UTC spelled ``Z``, seconds optional)."""
    match = _AT.fullmatch(text)
    if match is None:
        return None
    fields = match.groupdict()
    try:
        moment = datetime(
            int(fields["year"]),
            int(fields["month"] or fields["basic_month"]),
            int(fields["day"] or fields["basic_day"]),
            int(fields["hour"] or 0),
            int(fields["minute"] or 0),
            int(fields["second"] or 0),
            tzinfo=UTC)
    except ValueError:  # out-of-range month, day, hour, minute or second
        return None
    fraction = float("0." + fields["fraction"]) if fields["fraction"] else 0.0
    return moment.timestamp() + fraction


def _cron_expression(text: str) -> str | None:
    """``text`` with single spaces between its five fields if croniter and our grammar
    both accept it, else ``None``."""
    fields = text.split()
    if len(fields) != 5 or not all(
            pattern.fullmatch(field) for pattern, field in zip(_CRON_FIELDS, fields, strict=True)):
        return None
    if any(_descending(field) for field in fields):
        return None
    expression = " ".join(fields)
    try:
        croniter.expand(expression)
    except (CroniterError, ValueError):
        return None
    return expression


_NAMES = {name: number for number, name in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
    start=1)} | {name: number for number, name in enumerate(
        ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}


def _descending(field: str) -> bool:
    """Whether a cron field holds a range whose start is above its end (``6-0``)."""
    for item in field.split(","):
        bounds = item.split("/")[0].split("-")
        if len(bounds) == 2:
            low, high = (int(b) if b.isdigit() else _NAMES.get(b.upper(), -1) for b in bounds)
            if low > high:
                return True
    return False


def _next_cron(expression: str, now: float, zone: ZoneInfo | None = None) -> float:
    """
    The first occurrence of ``expression`` strictly after ``now``, in UTC or
    in the wall-clock time of ``zone``; raises ``CroniterBadDateError`` if
    there is none.

    In a time zone, occurrences are found on the local wall clock and each
    is read with the offset in force before any change (``fold=0``): a local
    time repeated when clocks go back fires once, the first time; one
    skipped when they go forward fires once, just after the gap (an hour
    after its nominal time), and two that land on the same instant fire
    once.
    """
    if zone is None:
        start = datetime.fromtimestamp(now, UTC)
        times = croniter(expression, start,
                         max_years_between_matches=_MAX_YEARS_BETWEEN_MATCHES)
        following: datetime = times.get_next(datetime)
        return following.timestamp()
    local = datetime.fromtimestamp(now, zone).replace(tzinfo=None)
    times = croniter(expression, local, max_years_between_matches=_MAX_YEARS_BETWEEN_MATCHES)
    while True:
        candidate: datetime = times.get_next(datetime)
        instant = candidate.replace(tzinfo=zone).timestamp()
        if instant > now:
            return instant


def time_zone(args: Mapping[str, Any]) -> ZoneInfo | None:
    """The IANA time zone of a schedule policy's ``cron``, None for UTC."""
    name = args.get("timezone")
    return None if name is None else ZoneInfo(name)


def next_trigger(args: Mapping[str, str], now: float) -> float:
    """
    When a schedule policy with validated ``args`` fires next after ``now``: the
    instant of its ``at``, or the first occurrence of its ``cron`` strictly after
    ``now``. Raises ``ValueError`` for arguments that validation refuses.
    """
    if "at" in args:
        moment = parse_at(args["at"])
        if moment is None:
            raise ValueError(f"{json_text(args['at'])} is not a date-time")
        return moment
    expression = _cron_expression(args["cron"])
    if expression is None:
        raise ValueError(f"{json_text(args['cron'])} is not a cron expression")
    return _next_cron(expression, now, time_zone(args))


def group_bucket(group_id: str, buckets: int) -> int:
    """
    The scheduler bucket (1..``buckets``) of a group's events: a stable hash
    of the group, so that one tenant's groups spread over the buckets and
    every event of a group stays in one.
    """
    return zlib.crc32(group_id.encode()) % buckets + 1


def policy_event(policy: Policy, now: float, buckets: int) -> ScheduledEvent | None:
    """The scheduler event of a schedule policy, None for a webhook policy."""
    if policy.policy_type != "schedule":
        return None
    args = policy.data["args"]
    return ScheduledEvent(
        tenant_id=policy.tenant_id, group_id=policy.group_id, policy_id=policy.policy_id,
        trigger=next_trigger(args, now), version=policy.version, cron=args.get("cron"),
        bucket=group_bucket(policy.group_id, buckets))


def following_event(event: ScheduledEvent, policy: Policy,
                    now: float) -> ScheduledEvent | None:
    """
    The event that follows ``event`` once it fired at ``now``: none for an
    ``at``; for a ``cron``, its first occurrence strictly after both the
    trigger that fired and ``now``, so that occurrences missed while nothing
    ran fire once, not once each, and a clock behind the trigger cannot fire
    the same occurrence twice.
    """
    args = policy.data.get("args") or {}
    if policy.policy_type != "schedule" or "cron" not in args:
        return None
    return evolve(event, trigger=next_trigger(args, max(event.trigger, now)),
                  cron=args["cron"], version=policy.version)


def _at_problem(at: Any, now: float) -> str | None:
    moment = parse_at(at) if isinstance(at, str) else None
    if moment is None:
        return (f"{format_failure(at, 'date-time')}: give a UTC time ending in Z, "
                'such as "2030-12-05T03:12:00Z"')
    if moment <= now:
        return f"Invalid {json_text(at)} datetime: It must be in the future"
    return None


def _time_zone_problem(name: Any) -> str | None:
    if isinstance(name, str) and name and not name.startswith(("/", ".")):
        try:
            ZoneInfo(name)
            return None
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return (f"{json_text(name)} is not an IANA time zone name such as \"Europe/Paris\" or "
            "\"America/New_York\"")


def _cron_problem(cron: Any, now: float, zone: ZoneInfo | None = None) -> str | None:
    if isinstance(cron, str) and len(cron.split()) == 6:
        return f"Invalid {json_text(cron)} cron entry: Seconds not allowed"
    expression = _cron_expression(cron) if isinstance(cron, str) else None
    if expression is None:
        return (f"{format_failure(cron, 'cron')}: give five fields (minute, hour, "
                'day of month, month, day of week) such as "0 22 * * *"')
    try:
        _next_cron(expression, now, zone)
    except CroniterBadDateError:
        return f"Invalid {json_text(cron)} cron entry: It never fires"
    return None


def check_schedule_args(args: Mapping[str, Any], now: float, where: str = "args") -> None:
    """
    Raise the ``ValidationError`` that the ``args`` of a schedule policy deserve at
    ``now``, if any: cloud-monitoring arguments, not exactly one of ``at`` and
    ``cron``, an unacceptable or past ``at``, an unacceptable or never-firing ``cron``.
    Its message starts with the path of the field at fault, under ``where`` (the path
    of ``args`` in the request body).
    """
    if "check" in args or "alarm_criteria" in args:
        raise validation_error(located(where, "Incorrect args for schedule policy"))
    given = [key for key in ("at", "cron") if key in args]
    if len(given) != 1:
        raise validation_error(located(
            where, 'a schedule policy needs exactly one of "at" and "cron" '
                   f"(found: {json_list(given) or 'none'})"))
    key = given[0]
    if "timezone" in args:
        problem = ("applies to a cron only: an at is a UTC time ending in Z" if key == "at"
                   else _time_zone_problem(args["timezone"]))
        if problem is not None:
            raise validation_error(located(f"{where}.timezone", problem))
    if key == "at":
        problem = _at_problem(args[key], now)
    else:
        problem = _cron_problem(args[key], now, time_zone(args))
    if problem is not None:
        raise validation_error(located(f"{where}.{key}", problem))
