"""Business-time arithmetic: weekends, public holidays, time zones, DST, quiet hours."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from domain.business_time import (
    Calendar,
    add_business_days,
    add_business_hours,
    business_days_before,
    business_hours_between,
    is_business_day,
    next_send_time,
    public_holidays,
)

UTC = timezone.utc
LONDON = Calendar(timezone="Europe/London", country="GB")
NEW_YORK = Calendar(timezone="America/New_York", country="US")
TOKYO = Calendar(timezone="Asia/Tokyo", country="JP")
LONDON_24X7 = Calendar(timezone="Europe/London", country="GB", continuous=True)
# Egypt's DST changes at midnight on weekdays (Friday 2026-04-24 00:00 skips an hour, Thursday
# 2026-10-29 24:00 repeats one), which a Mon-Fri calendar can actually hit. A near-24h working
# day puts those moments inside working hours.
CAIRO_LONG_DAY = Calendar(timezone="Africa/Cairo", workday_start=time(0, 0), workday_end=time(23, 59))


def at(zone: str, *fields: int, fold: int = 0) -> datetime:
    return datetime(*fields, tzinfo=ZoneInfo(zone), fold=fold)


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def london(*fields: int) -> datetime:
    return at("Europe/London", *fields)


def assert_utc(actual: datetime, expected: datetime) -> None:
    assert actual == expected
    assert actual.tzinfo is UTC


# --- is_business_day / public_holidays ---------------------------------------------------


def test_weekends_are_not_business_days() -> None:
    assert is_business_day(date(2026, 6, 12), LONDON)  # Friday
    assert not is_business_day(date(2026, 6, 13), LONDON)
    assert not is_business_day(date(2026, 6, 14), LONDON)
    assert is_business_day(date(2026, 6, 15), LONDON)  # Monday


def test_gb_bank_holidays_include_the_boxing_day_substitute() -> None:
    assert {date(2026, 12, 25), date(2026, 12, 26), date(2026, 12, 28)} <= public_holidays("GB", 2026)
    assert not is_business_day(date(2026, 12, 25), LONDON)  # Christmas Day, Friday
    assert not is_business_day(date(2026, 12, 28), LONDON)  # Boxing Day (observed), Monday
    assert is_business_day(date(2026, 12, 29), LONDON)
    assert not is_business_day(date(2026, 5, 25), LONDON)  # Spring bank holiday


def test_thanksgiving_is_a_holiday_in_the_us_only() -> None:
    assert not is_business_day(date(2026, 11, 26), NEW_YORK)
    assert is_business_day(date(2026, 11, 27), NEW_YORK)
    assert is_business_day(date(2026, 11, 26), LONDON)


def test_continuous_calendar_has_no_weekends_or_holidays() -> None:
    assert is_business_day(date(2026, 6, 13), LONDON_24X7)
    assert is_business_day(date(2026, 12, 25), LONDON_24X7)


def test_unsupported_or_missing_country_has_no_holidays() -> None:
    assert public_holidays("ZZ", 2026) == frozenset()
    assert public_holidays(None, 2026) == frozenset()
    assert is_business_day(date(2026, 12, 25), Calendar(country="ZZ"))
    assert is_business_day(date(2026, 12, 25), Calendar())


def test_country_code_is_normalised_to_upper_case() -> None:
    # The holidays library reports "gb" as unsupported; without this Christmas would be a workday.
    cal = Calendar(timezone="Europe/London", country="gb")
    assert cal.country == "GB"
    assert not is_business_day(date(2026, 12, 25), cal)


def test_is_business_day_rejects_a_datetime() -> None:
    with pytest.raises(TypeError):
        is_business_day(utc(2026, 6, 15, 10, 0), LONDON)


# --- add_business_hours --------------------------------------------------------------------


def test_friday_afternoon_plus_four_hours_is_monday_noon() -> None:
    assert_utc(add_business_hours(london(2026, 6, 12, 16, 30), 4, LONDON), london(2026, 6, 15, 12, 0))


def test_bank_holiday_monday_pushes_to_tuesday() -> None:
    assert_utc(add_business_hours(london(2026, 5, 22, 16, 30), 4, LONDON), london(2026, 5, 26, 12, 0))


def test_christmas_and_boxing_day_substitute_are_skipped() -> None:
    # 1.5 h on Thursday 24th; 25th, weekend and Monday 28th off; 2.5 h on Tuesday 29th.
    assert_utc(add_business_hours(london(2026, 12, 24, 16, 0), 4, LONDON), utc(2026, 12, 29, 11, 30))


def test_us_thanksgiving_is_skipped() -> None:
    # 2.5 h on Wednesday, Thursday off, 1.5 h on Friday: 10:30 EST.
    start = at("America/New_York", 2026, 11, 25, 15, 0)
    assert_utc(add_business_hours(start, 4, NEW_YORK), utc(2026, 11, 27, 15, 30))


def test_start_before_working_hours_counts_from_workday_start() -> None:
    assert_utc(add_business_hours(london(2026, 6, 15, 7, 0), 1, LONDON), london(2026, 6, 15, 10, 0))
    assert_utc(add_business_hours(london(2026, 6, 13, 11, 0), 1, LONDON), london(2026, 6, 15, 10, 0))


def test_within_working_hours_and_fractional_hours() -> None:
    assert_utc(add_business_hours(london(2026, 6, 15, 10, 0), 2.5, LONDON), london(2026, 6, 15, 12, 30))
    assert_utc(add_business_hours(london(2026, 6, 15, 10, 0), 0.25, LONDON), london(2026, 6, 15, 10, 15))


def test_start_exactly_at_workday_end_rolls_to_next_business_day() -> None:
    assert_utc(add_business_hours(london(2026, 6, 15, 17, 30), 0.5, LONDON), london(2026, 6, 16, 9, 30))
    assert_utc(add_business_hours(london(2026, 6, 12, 17, 30), 0.5, LONDON), london(2026, 6, 15, 9, 30))


def test_hours_used_up_at_workday_end_end_there() -> None:
    assert_utc(add_business_hours(london(2026, 6, 15, 9, 0), 8.5, LONDON), london(2026, 6, 15, 17, 30))


def test_zero_hours_returns_start_unchanged_even_outside_working_hours() -> None:
    saturday_night = london(2026, 6, 13, 3, 0)
    assert_utc(add_business_hours(saturday_night, 0, LONDON), utc(2026, 6, 13, 2, 0))


def test_same_instant_is_inside_hours_in_london_but_not_tokyo_or_new_york() -> None:
    instant = utc(2026, 6, 10, 9, 30)  # 10:30 London, 18:30 Tokyo, 05:30 New York
    assert_utc(add_business_hours(instant, 1, LONDON), utc(2026, 6, 10, 10, 30))
    assert_utc(add_business_hours(instant, 1, TOKYO), at("Asia/Tokyo", 2026, 6, 11, 10, 0))
    assert_utc(add_business_hours(instant, 1, NEW_YORK), at("America/New_York", 2026, 6, 10, 10, 0))
    one_hour_later = instant + timedelta(hours=1)
    assert business_hours_between(instant, one_hour_later, LONDON) == 1.0
    assert business_hours_between(instant, one_hour_later, TOKYO) == 0.0
    assert business_hours_between(instant, one_hour_later, NEW_YORK) == 0.0


def test_spring_forward_week() -> None:
    # Friday 16:30 GMT, clocks go forward on Sunday 2026-03-29: Monday 12:00 BST.
    assert_utc(add_business_hours(london(2026, 3, 27, 16, 30), 4, LONDON), utc(2026, 3, 30, 11, 0))


def test_fall_back_week() -> None:
    # Friday 16:30 BST, clocks go back on Sunday 2026-10-25: Monday 12:00 GMT.
    assert_utc(add_business_hours(london(2026, 10, 23, 16, 30), 4, LONDON), utc(2026, 10, 26, 12, 0))


def test_continuous_hours_are_elapsed_time_even_across_dst() -> None:
    assert_utc(add_business_hours(london(2026, 6, 12, 16, 30), 4, LONDON_24X7), utc(2026, 6, 12, 19, 30))
    assert_utc(add_business_hours(london(2026, 3, 28, 12, 0), 24, LONDON_24X7), utc(2026, 3, 29, 12, 0))


def test_thirty_business_days_of_hours_is_cheap_and_exact() -> None:
    # June 2026 has 21 business days after Monday 1st; then 3 + 5 in July and Monday 13th.
    start = london(2026, 6, 1, 10, 0)
    expected = london(2026, 7, 13, 10, 0)
    assert_utc(add_business_hours(start, 30 * 8.5, LONDON), expected)
    assert_utc(add_business_days(start, 30, LONDON), expected)


@pytest.mark.parametrize("hours", [-1, float("nan"), float("inf")])
def test_invalid_hours_rejected(hours: float) -> None:
    with pytest.raises(ValueError, match="hours"):
        add_business_hours(london(2026, 6, 15, 10, 0), hours, LONDON)


# --- add_business_days ---------------------------------------------------------------------


def test_business_days_keep_the_local_time_and_skip_weekends() -> None:
    assert_utc(add_business_days(london(2026, 6, 10, 14, 15), 3, LONDON), london(2026, 6, 15, 14, 15))
    assert_utc(add_business_days(london(2026, 6, 12, 11, 0), 1, LONDON), london(2026, 6, 15, 11, 0))


def test_business_days_before_keep_the_local_time_and_skip_weekends_and_holidays() -> None:
    # Monday 09:00 less 1 business day is the Friday before; less 5, the Monday a week before.
    assert_utc(business_days_before(london(2026, 6, 15, 9, 0), 1, LONDON), london(2026, 6, 12, 9, 0))
    assert_utc(business_days_before(london(2026, 6, 15, 9, 0), 5, LONDON), london(2026, 6, 8, 9, 0))
    # Tuesday 29 December 2026, less 2: Christmas (Fri 25) and Boxing Day (Mon 28, substitute) skipped.
    assert_utc(business_days_before(london(2026, 12, 29, 9, 0), 2, LONDON), london(2026, 12, 23, 9, 0))
    assert_utc(business_days_before(london(2026, 6, 15, 9, 0), 0, LONDON), london(2026, 6, 15, 9, 0))
    assert_utc(business_days_before(london(2026, 6, 15, 9, 0), 3, LONDON_24X7), london(2026, 6, 12, 9, 0))
    with pytest.raises(ValueError):
        business_days_before(london(2026, 6, 15, 9, 0), -1, LONDON)


def test_business_days_from_outside_working_hours_count_from_the_next_workday_start() -> None:
    tuesday_nine = london(2026, 6, 16, 9, 0)
    assert_utc(add_business_days(london(2026, 6, 13, 10, 0), 1, LONDON), tuesday_nine)  # Saturday
    assert_utc(add_business_days(london(2026, 6, 15, 7, 0), 1, LONDON), tuesday_nine)  # before start
    assert_utc(add_business_days(london(2026, 6, 15, 9, 0), 1, LONDON), tuesday_nine)  # at start
    wednesday_nine = london(2026, 6, 17, 9, 0)
    assert_utc(add_business_days(london(2026, 6, 15, 17, 30), 1, LONDON), wednesday_nine)  # at end
    assert_utc(add_business_days(london(2026, 6, 15, 18, 0), 1, LONDON), wednesday_nine)  # after end


def test_business_days_skip_gb_christmas_holidays() -> None:
    assert_utc(add_business_days(london(2026, 12, 24, 10, 0), 1, LONDON), utc(2026, 12, 29, 10, 0))
    # Starting on Christmas Day: the count begins Tuesday 29th 09:00.
    assert_utc(add_business_days(london(2026, 12, 25, 12, 0), 1, LONDON), utc(2026, 12, 30, 9, 0))


def test_business_days_skip_us_thanksgiving() -> None:
    start = at("America/New_York", 2026, 11, 25, 10, 0)
    assert_utc(add_business_days(start, 1, NEW_YORK), utc(2026, 11, 27, 15, 0))


def test_business_days_keep_wall_clock_across_dst() -> None:
    assert_utc(add_business_days(london(2026, 3, 27, 10, 0), 1, LONDON), utc(2026, 3, 30, 9, 0))
    assert_utc(add_business_days(london(2026, 10, 23, 10, 0), 1, LONDON), utc(2026, 10, 26, 10, 0))


def test_business_days_landing_on_a_skipped_local_time_resolve_with_fold_0() -> None:
    # Friday 2026-04-24 00:30 does not exist in Cairo; fold=0 reads it at +02:00 (= 01:30 +03:00).
    start = at("Africa/Cairo", 2026, 4, 23, 0, 30)
    assert_utc(add_business_days(start, 1, CAIRO_LONG_DAY), utc(2026, 4, 23, 22, 30))


def test_business_days_landing_on_a_repeated_local_time_take_the_first_occurrence() -> None:
    start = at("Africa/Cairo", 2026, 10, 28, 23, 30)  # +03:00
    assert_utc(add_business_days(start, 1, CAIRO_LONG_DAY), utc(2026, 10, 29, 20, 30))


def test_zero_business_days_returns_start_unchanged() -> None:
    assert_utc(add_business_days(london(2026, 6, 13, 10, 0), 0, LONDON), utc(2026, 6, 13, 9, 0))


def test_continuous_days_are_24_hours_of_elapsed_time() -> None:
    assert_utc(add_business_days(london(2026, 6, 13, 10, 0), 3, LONDON_24X7), utc(2026, 6, 16, 9, 0))
    # Across the spring-forward night: 24 h later is 11:00 BST.
    assert_utc(add_business_days(london(2026, 3, 28, 10, 0), 1, LONDON_24X7), utc(2026, 3, 29, 10, 0))


@pytest.mark.parametrize("days", [-1, 1.5, True])
def test_invalid_days_rejected(days: object) -> None:
    with pytest.raises(ValueError, match="days"):
        add_business_days(london(2026, 6, 15, 10, 0), days, LONDON)  # type: ignore[arg-type]


# --- next_send_time ------------------------------------------------------------------------


def test_late_evening_waits_until_next_morning() -> None:
    assert_utc(next_send_time(london(2026, 6, 10, 22, 0), LONDON), london(2026, 6, 11, 8, 0))


def test_early_morning_waits_until_quiet_end_same_day() -> None:
    assert_utc(next_send_time(london(2026, 6, 11, 7, 0), LONDON), london(2026, 6, 11, 8, 0))
    assert_utc(next_send_time(london(2026, 6, 11, 0, 30), LONDON), london(2026, 6, 11, 8, 0))


def test_daytime_is_sent_immediately() -> None:
    assert_utc(next_send_time(london(2026, 6, 11, 12, 0), LONDON), utc(2026, 6, 11, 11, 0))


def test_quiet_window_is_half_open() -> None:
    assert_utc(next_send_time(london(2026, 6, 11, 8, 0), LONDON), utc(2026, 6, 11, 7, 0))
    assert_utc(next_send_time(london(2026, 6, 11, 20, 59), LONDON), utc(2026, 6, 11, 19, 59))
    assert_utc(next_send_time(london(2026, 6, 11, 21, 0), LONDON), london(2026, 6, 12, 8, 0))


def test_quiet_hours_depend_on_the_recipient_time_zone() -> None:
    instant = utc(2026, 6, 10, 21, 30)  # 22:30 London, 17:30 New York, 06:30 Tokyo (11th)
    assert_utc(next_send_time(instant, LONDON), utc(2026, 6, 11, 7, 0))
    assert_utc(next_send_time(instant, NEW_YORK), instant)
    assert_utc(next_send_time(instant, TOKYO), at("Asia/Tokyo", 2026, 6, 11, 8, 0))


def test_non_wrapping_quiet_window() -> None:
    lunch = Calendar(timezone="Europe/London", quiet_start=time(12, 0), quiet_end=time(14, 0))
    assert_utc(next_send_time(london(2026, 6, 11, 13, 0), lunch), london(2026, 6, 11, 14, 0))
    assert_utc(next_send_time(london(2026, 6, 11, 11, 59), lunch), london(2026, 6, 11, 11, 59))
    assert_utc(next_send_time(london(2026, 6, 11, 14, 0), lunch), london(2026, 6, 11, 14, 0))
    assert_utc(next_send_time(london(2026, 6, 11, 22, 0), lunch), london(2026, 6, 11, 22, 0))


def test_quiet_hours_can_be_switched_off() -> None:
    night = london(2026, 6, 10, 22, 0)
    never_quiet = Calendar(timezone="Europe/London", respect_quiet_hours=False)
    assert_utc(next_send_time(night, never_quiet), utc(2026, 6, 10, 21, 0))
    empty_window = Calendar(timezone="Europe/London", quiet_start=time(8, 0), quiet_end=time(8, 0))
    assert_utc(next_send_time(night, empty_window), utc(2026, 6, 10, 21, 0))


def test_quiet_hours_apply_to_continuous_calendars() -> None:
    assert_utc(next_send_time(london(2026, 6, 13, 23, 0), LONDON_24X7), london(2026, 6, 14, 8, 0))


def test_quiet_night_across_dst_changes() -> None:
    assert_utc(next_send_time(london(2026, 3, 28, 22, 0), LONDON), utc(2026, 3, 29, 7, 0))  # 08:00 BST
    assert_utc(next_send_time(london(2026, 10, 24, 22, 0), LONDON), utc(2026, 10, 25, 8, 0))  # 08:00 GMT


def test_quiet_window_ending_in_a_repeated_hour_ends_on_the_same_pass() -> None:
    # Cairo repeats 23:00-24:00 on 2026-10-29 (+03:00, then +02:00).
    cal = Calendar(timezone="Africa/Cairo", quiet_start=time(21, 0), quiet_end=time(23, 45))
    first_pass = at("Africa/Cairo", 2026, 10, 29, 23, 15, fold=0)
    second_pass = at("Africa/Cairo", 2026, 10, 29, 23, 15, fold=1)
    assert_utc(next_send_time(first_pass, cal), utc(2026, 10, 29, 20, 45))
    assert_utc(next_send_time(second_pass, cal), utc(2026, 10, 29, 21, 45))


# --- business_hours_between ----------------------------------------------------------------


def test_business_hours_between_examples() -> None:
    assert business_hours_between(london(2026, 6, 12, 16, 30), london(2026, 6, 15, 12, 0), LONDON) == 4.0
    assert business_hours_between(london(2026, 6, 15, 0, 0), london(2026, 6, 22, 0, 0), LONDON) == 42.5
    # Christmas week: Monday to Thursday only.
    assert business_hours_between(london(2026, 12, 21, 0, 0), london(2026, 12, 28, 0, 0), LONDON) == 34.0
    assert business_hours_between(london(2026, 3, 27, 16, 30), london(2026, 3, 30, 12, 0), LONDON) == 4.0


def test_business_hours_between_is_zero_when_end_is_not_after_start() -> None:
    moment = london(2026, 6, 15, 12, 0)
    assert business_hours_between(moment, moment, LONDON) == 0.0
    assert business_hours_between(moment, moment - timedelta(hours=3), LONDON) == 0.0
    assert business_hours_between(moment, moment - timedelta(hours=3), LONDON_24X7) == 0.0


def test_continuous_business_hours_between_is_elapsed_time() -> None:
    assert business_hours_between(utc(2026, 6, 12, 16, 30), utc(2026, 6, 15, 12, 0), LONDON_24X7) == 67.5
    assert business_hours_between(london(2026, 3, 28, 12, 0), london(2026, 3, 29, 12, 0), LONDON_24X7) == 23.0


# Starting points every 7 h 13 min through a DST change and through the Christmas and
# Thanksgiving holidays, so every time of day, weekends and holidays are all hit.
_GRID = [
    origin + k * timedelta(hours=7, minutes=13)
    for origin in (utc(2026, 3, 23), utc(2026, 10, 19), utc(2026, 11, 23), utc(2026, 12, 21))
    for k in range(40)
]


@pytest.mark.parametrize(
    "cal", [LONDON, NEW_YORK, TOKYO, LONDON_24X7], ids=["London", "New_York", "Tokyo", "London-24x7"]
)
def test_round_trip_between_add_and_measure(cal: Calendar) -> None:
    for start in _GRID:
        for hours in (0.25, 1, 4, 8.5, 13.75, 40):
            deadline = add_business_hours(start, hours, cal)
            assert deadline > start
            assert business_hours_between(start, deadline, cal) == pytest.approx(hours, abs=1e-9)
            if not cal.continuous:
                local = deadline.astimezone(ZoneInfo(cal.timezone))
                assert is_business_day(local.date(), cal)
                assert cal.workday_start < local.time() <= cal.workday_end
        for end in (e for e in _GRID[::5] if start < e < start + timedelta(days=10)):
            measured = business_hours_between(start, end, cal)
            reached = add_business_hours(start, measured, cal)
            assert reached <= end + timedelta(microseconds=1)
            assert business_hours_between(start, reached, cal) == pytest.approx(measured, abs=1e-9)


@pytest.mark.parametrize("cal", [LONDON, NEW_YORK], ids=["London", "New_York"])
def test_a_business_day_is_one_working_day_of_business_hours(cal: Calendar) -> None:
    for start in _GRID:
        counting_from = add_business_hours(start, 0.0001, cal) - timedelta(hours=0.0001)
        for days in (1, 3, 10):
            deadline = add_business_days(start, days, cal)
            assert business_hours_between(counting_from, deadline, cal) == pytest.approx(days * 8.5, abs=1e-9)


# --- validation ----------------------------------------------------------------------------

NAIVE = datetime(2026, 6, 15, 10, 0)
AWARE = utc(2026, 6, 15, 10, 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: add_business_hours(NAIVE, 1, LONDON),
        lambda: add_business_days(NAIVE, 1, LONDON),
        lambda: next_send_time(NAIVE, LONDON),
        lambda: business_hours_between(NAIVE, AWARE, LONDON),
        lambda: business_hours_between(AWARE, NAIVE, LONDON),
        lambda: add_business_hours(NAIVE, 1, LONDON_24X7),
    ],
)
def test_naive_datetimes_are_rejected(call) -> None:
    with pytest.raises(ValueError, match="must be timezone-aware"):
        call()


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd", "GMT+25"])
def test_unknown_time_zone_is_rejected(zone: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        Calendar(timezone=zone)


def test_calendar_validation() -> None:
    with pytest.raises(ValueError, match="workday_end"):
        Calendar(workday_start=time(17, 0), workday_end=time(9, 0))
    with pytest.raises(ValueError, match="workday_end"):
        Calendar(workday_start=time(9, 0), workday_end=time(9, 0))
    with pytest.raises(ValueError, match="alpha-2"):
        Calendar(country="GBR")
    with pytest.raises(ValueError, match="time zone"):
        Calendar(workday_start=time(9, 0, tzinfo=UTC))
    with pytest.raises(ValueError):
        LONDON.timezone = "Asia/Tokyo"  # type: ignore[misc]
