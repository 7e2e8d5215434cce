"""Business-time arithmetic for post-interview deadlines and message timing.

A debrief due in 4 business hours, a referee deadline in 3 business days, an escalation after
1 business day: each is counted in the *recipient's* working week, in their own time zone,
skipping weekends and their country's public holidays. Messages to people outside the company
are also held back during their quiet hours (at night, local time). A policy may instead use a
continuous 24x7 calendar, where deadlines are plain elapsed durations.

Everything here runs inside Temporal workflow code, so it is pure and deterministic: no clock
reads, no I/O, no randomness, no logging; every "now" is passed in. Results are stable for a
given version of the `holidays` library and of the tz database; upgrading either can move a
deadline, which matters on workflow replay.

Rules:
- All datetimes in and out are timezone-aware; results are in UTC.
- Working hours are the half-open interval [workday_start, workday_end) of each business day,
  local time. Quiet hours are [quiet_start, quiet_end), possibly wrapping midnight.
- Durations are measured in elapsed time (UTC), so a working day that spans a DST change is
  as long as it really was.
- A local time that does not exist or is ambiguous because of DST is resolved with fold=0
  (a skipped time lands after the gap by its length; a repeated time is the first occurrence).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

__all__ = [
    "Calendar",
    "local_moment",
    "add_business_days",
    "add_business_hours",
    "business_hours_between",
    "is_business_day",
    "next_send_time",
    "public_holidays",
    "guard_holiday_lookups",
    "EARLIEST_DAY",
    "LATEST_DAY",
    "UnschedulableDate",
    "check_schedulable",
]

UTC = timezone.utc

# The days a process schedules with: deadlines and timers are counted from them, and the
# arithmetic must stay far from datetime's limits (year 1, year 9999), where ATSs put their
# placeholders. The intake refuses dates outside a sane range too; a process must not rely on it.
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(2100, 12, 31)
_COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")


class Calendar(BaseModel):
    """Whose working week a deadline is counted in."""

    model_config = ConfigDict(frozen=True)

    timezone: str = "UTC"
    country: str | None = None
    continuous: bool = False
    workday_start: time = time(9, 0)
    workday_end: time = time(17, 30)
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)
    respect_quiet_hours: bool = True

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: expected an IANA name such as 'Europe/London'"
            ) from None
        return value

    @field_validator("country")
    @classmethod
    def _country_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # The holidays library only knows upper-case codes and reports "gb" as an unsupported
        # country, which would silently drop every bank holiday.
        code = value.strip().upper()
        if not _COUNTRY_CODE.match(code):
            raise ValueError(f"country must be an ISO 3166 alpha-2 code such as 'GB', got {value!r}")
        return code

    @field_validator("workday_start", "workday_end", "quiet_start", "quiet_end")
    @classmethod
    def _local_wall_clock(cls, value: time) -> time:
        # These are wall-clock times in `timezone`; an offset of their own would contradict it.
        if value.tzinfo is not None:
            raise ValueError("workday and quiet-hour times must not carry a time zone; set Calendar.timezone")
        return value

    @model_validator(mode="after")
    def _workday_order(self) -> Calendar:
        if self.workday_end <= self.workday_start:
            raise ValueError(
                f"workday_end ({self.workday_end}) must be after workday_start ({self.workday_start})"
            )
        return self


# The holiday tables are deterministic, but building them reads the locale for the names'
# translations, which Temporal's workflow sandbox forbids; the names are never used here. Workflow
# code lets the lookup out of the sandbox (workflows/_business_time.py installs the SDK's
# `sandbox_unrestricted` here), so this module needs nothing of Temporal; elsewhere it runs as is.
_holiday_lookup_guard: Callable[[], AbstractContextManager[object]] = nullcontext


def guard_holiday_lookups(guard: Callable[[], AbstractContextManager[object]]) -> None:
    """Run every holiday table lookup inside `guard()` from now on."""
    global _holiday_lookup_guard
    _holiday_lookup_guard = guard


@lru_cache(maxsize=512)
def public_holidays(country: str | None, year: int) -> frozenset[date]:
    """The public holidays of `country` in `year`; empty for None or a country the holidays
    library does not support (a deadline must still be computable for anyone)."""
    if country is None:
        return frozenset()
    with _holiday_lookup_guard():
        try:
            return frozenset(holidays.country_holidays(country, years=year).keys())
        except NotImplementedError:
            return frozenset()


class UnschedulableDate(ValueError):
    """A date a process cannot count a deadline from: the event that carries it is skipped."""


def check_schedulable(what: str, moment: date) -> None:
    """Raise UnschedulableDate unless `moment` (a date or datetime) lies in EARLIEST_DAY..LATEST_DAY."""
    day = moment.date() if isinstance(moment, datetime) else moment
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise UnschedulableDate(
            f"{what} {moment.isoformat()} is outside the dates a process can schedule "
            f"({EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()})"
        )


def local_moment(day: date, at: time, timezone_name: str) -> datetime:
    """`at` o'clock on `day` where the person is, as a UTC instant (e.g. 09:00 on a start date)."""
    return _at(day, at, ZoneInfo(timezone_name))


def is_business_day(day: date, cal: Calendar) -> bool:
    """Monday to Friday and not a public holiday of cal.country; every day if continuous."""
    if isinstance(day, datetime):
        # A datetime's date depends on the zone it is read in: make the caller choose.
        raise TypeError("is_business_day takes a date, not a datetime")
    if cal.continuous:
        return True
    return day.weekday() < 5 and day not in public_holidays(cal.country, day.year)


def add_business_hours(start: datetime, hours: float, cal: Calendar) -> datetime:
    """The moment `hours` of working time after `start`.

    A start outside working hours begins counting at the next working moment; a count that is
    used up exactly at workday_end ends there rather than at the next morning. hours == 0
    returns `start` itself (as UTC), even outside working hours.
    """
    start = _utc(start, "start")
    remaining = timedelta(hours=_non_negative(hours, "hours"))
    if cal.continuous or not remaining:
        return start + remaining
    for begin, end in _working_periods(start, cal):
        if begin + remaining <= end:
            return begin + remaining
        remaining -= end - begin
    raise AssertionError("unreachable: _working_periods never ends")


def add_business_days(start: datetime, days: int, cal: Calendar) -> datetime:
    """The moment `days` business days after `start`.

    The start is first moved to the next working moment (itself if it is within working hours;
    otherwise the workday_start of the same or next business day). The result is that
    moment's local wall-clock time on the `days`-th following business day. So Saturday 10:00
    + 1 day is Tuesday 09:00 and Monday 07:00 + 1 day is Tuesday 09:00: both are one full
    working day of business time after the count began. days == 0 returns `start` itself.
    Continuous calendars add days x 24 hours of elapsed time.
    """
    start = _utc(start, "start")
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError(f"days must be a non-negative integer, got {days!r}")
    if cal.continuous or days == 0:
        return start + timedelta(days=days)
    tz = ZoneInfo(cal.timezone)
    anchor = next(_working_periods(start, cal))[0].astimezone(tz)
    day = anchor.date()
    for _ in range(days):
        day += timedelta(days=1)
        while not is_business_day(day, cal):
            day += timedelta(days=1)
    return _at(day, anchor.time(), tz)


def business_days_before(moment: datetime, days: int, cal: Calendar) -> datetime:
    """The moment `days` business days before `moment`: its local wall-clock time on the
    `days`-th business day before its local date (Monday 09:00 - 1 day is the Friday before,
    09:00; a holiday in between is skipped). days == 0 returns `moment` itself. Continuous
    calendars subtract days x 24 hours."""
    moment = _utc(moment, "moment")
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError(f"days must be a non-negative integer, got {days!r}")
    if cal.continuous or days == 0:
        return moment - timedelta(days=days)
    tz = ZoneInfo(cal.timezone)
    local = moment.astimezone(tz)
    day = local.date()
    for _ in range(days):
        day -= timedelta(days=1)
        while not is_business_day(day, cal):
            day -= timedelta(days=1)
    return _at(day, local.time(), tz)


def next_send_time(at: datetime, cal: Calendar) -> datetime:
    """`at` if a message may go out then, else the end of the quiet window, in the recipient's
    time zone. Quiet hours apply to continuous calendars too: they protect people, not
    deadlines. quiet_start == quiet_end means no quiet hours."""
    at = _utc(at, "at")
    if not cal.respect_quiet_hours or cal.quiet_start == cal.quiet_end:
        return at
    tz = ZoneInfo(cal.timezone)
    local = at.astimezone(tz)
    wall_clock, today = local.time(), local.date()
    if cal.quiet_start < cal.quiet_end:
        if not cal.quiet_start <= wall_clock < cal.quiet_end:
            return at
        resume_day = today
    elif wall_clock >= cal.quiet_start:
        resume_day = today + timedelta(days=1)
    elif wall_clock < cal.quiet_end:
        resume_day = today
    else:
        return at
    resume = _at(resume_day, cal.quiet_end, tz)
    if resume <= at:
        # `at` is in the second pass of a repeated (DST) hour; the window ends on that pass too.
        resume = _at(resume_day, cal.quiet_end, tz, fold=1)
    return resume


def business_hours_between(start: datetime, end: datetime, cal: Calendar) -> float:
    """Working hours elapsed from `start` to `end`; 0 if end <= start. The inverse of
    add_business_hours: business_hours_between(s, add_business_hours(s, h)) == h."""
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        return 0.0
    if cal.continuous:
        return (end - start) / timedelta(hours=1)
    total = timedelta()
    for begin, stop in _working_periods(start, cal):
        if begin >= end:
            break
        total += min(stop, end) - begin
    return total / timedelta(hours=1)


def _working_periods(since: datetime, cal: Calendar) -> Iterator[tuple[datetime, datetime]]:
    """Working periods (UTC, non-empty) from `since` on, the first clipped to begin at `since`.
    Endless: callers stop when they have what they need, one day per step."""
    tz = ZoneInfo(cal.timezone)
    day = since.astimezone(tz).date()
    while True:
        if is_business_day(day, cal):
            begin = max(_at(day, cal.workday_start, tz), since)
            end = _at(day, cal.workday_end, tz)
            if end > begin:
                yield begin, end
        day += timedelta(days=1)


def _at(day: date, wall_clock: time, tz: ZoneInfo, fold: int = 0) -> datetime:
    """The UTC instant of a local wall-clock time on `day`."""
    return datetime.combine(day, wall_clock.replace(fold=fold), tzinfo=tz).astimezone(UTC)


def _utc(moment: datetime, name: str) -> datetime:
    # Arithmetic on a datetime carrying a ZoneInfo is wall-clock arithmetic, which is wrong
    # across DST; UTC makes every timedelta an elapsed duration.
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _non_negative(hours: float, name: str) -> float:
    is_number = isinstance(hours, (int, float)) and not isinstance(hours, bool)
    if not is_number or not math.isfinite(hours) or hours < 0:
        raise ValueError(f"{name} must be a finite, non-negative number, got {hours!r}")
    return float(hours)
