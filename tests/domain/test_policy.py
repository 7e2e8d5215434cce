"""Timing policy: defaults from the process model, a TOML file, per-client overrides."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from domain.policy import PolicyBook, PolicyError, TimingPolicy, load_policy_book

PROJECT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_process_model():
    policy = TimingPolicy()
    assert policy.calendar == "business"
    assert policy.debrief_due_business_hours == 4
    assert policy.debrief_escalation_business_days == 1
    assert policy.referee_deadline_business_days == 3
    assert (policy.quiet_start, policy.quiet_end) == (time(21), time(8))


def test_the_shipped_policy_file_loads_with_its_client_override():
    book = load_policy_book(PROJECT / "config" / "policy.toml")
    assert book.default.office.timezone == "Europe/London"
    acme = book.for_client("acme-capital")
    assert acme.debrief_due_business_hours == 2 and acme.referee_deadline_business_days == 2
    assert acme.debrief_escalation_business_days == book.default.debrief_escalation_business_days
    assert book.for_client("anyone-else") == book.default


def test_nested_overrides_merge(tmp_path: Path):
    path = tmp_path / "policy.toml"
    path.write_text('[clients.tokyo-fund.office]\ntimezone = "Asia/Tokyo"\ncountry = "JP"\n')
    policy = load_policy_book(path).for_client("tokyo-fund")
    assert policy.office.timezone == "Asia/Tokyo" and policy.office.workday_start == time(9)
    assert policy.office_calendar().country == "JP"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("[default]\ndebrief_due_hours = 4\n", "debrief_due_hours"),  # a typo is an error, not ignored
        ("[default]\ncalendar = 'lunar'\n", "calendar"),
        ("[clients.acme]\nreferee_deadline_business_days = 0\n", "referee_deadline_business_days"),
        ("[default\n", "cannot read policy file"),
    ],
)
def test_a_bad_policy_file_fails_at_start_up_with_where(tmp_path: Path, text: str, expected: str):
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(PolicyError) as failed:
        load_policy_book(path)
    assert expected in str(failed.value) and str(path) in str(failed.value)


def test_people_outside_the_company_get_their_own_zone_and_holidays():
    calendar = TimingPolicy().calendar_of("America/New_York", "US")
    assert (calendar.timezone, calendar.country, calendar.continuous) == ("America/New_York", "US", False)
    fallback = TimingPolicy().calendar_of(None, None)
    assert (fallback.timezone, fallback.country) == ("Europe/London", "GB")
    assert TimingPolicy(calendar="continuous").calendar_of(None, None).continuous


def test_no_policy_file_means_defaults():
    assert load_policy_book(None) == PolicyBook()
