"""Greenhouse Harvest's scheduled interviews -> canonical events: the documented example list byte
for byte, what each change means, and the HTTP side (pagination, 429) against the stand-in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.ats_api.greenhouse_harvest import (
    HarvestInterview,
    cancellation,
    changes,
    get_interview,
    harvest_time,
    list_page,
    parse_interview,
    retry_after,
)
from cli.harvest_stand_in import HarvestStandIn, StandInServer
from domain.events import EventType
from service.settings import Settings, SettingsError
from store.harvest_store import SeenInterview

DOCUMENTED = Path(__file__).parent / "payloads" / "greenhouse-harvest-list-scheduled-interviews.json"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def documented() -> list[dict]:
    """GET /v1/scheduled_interviews as Greenhouse's documentation answers it."""
    return json.loads(DOCUMENTED.read_text(encoding="utf-8"))


def parsed(raw: dict) -> HarvestInterview:
    interview = parse_interview(raw)
    assert isinstance(interview, HarvestInterview), interview
    return interview


def test_the_documented_list_is_understood_each_done_interview_once():
    first, all_day = (parsed(raw) for raw in documented())
    found, seen = changes(None, first, NOW)
    # Awaiting feedback when first seen: it took place; no "scheduled" for an interview in the past.
    assert [(c.type, c.event_id) for c in found] == [(EventType.INTERVIEW_COMPLETED, "greenhouse-harvest:9128481:completed")]
    data = found[0].data
    # Known by its interview step (`interview.id`), the id Greenhouse's webhooks give the stage's
    # interview; no round (the process numbers interviews among all it knows of).
    assert data.interview_id == "7001" and data.round is None
    assert data.at == datetime(2014, 3, 26, 22, 15, tzinfo=UTC) and data.ends_at == datetime(2014, 3, 26, 22, 30, tzinfo=UTC)
    assert [(i.id, i.name, i.email) for i in data.interviewers] == [("4080", "Kate Austen", "kate.austen@example.com")]
    assert found[0].occurred_at == data.ends_at
    assert (seen.application_id, seen.status, seen.revision, seen.reported_as) == ("4684156", "awaiting_feedback", 0, "7001")
    # Seen again unchanged: nothing.
    assert changes(seen, first, NOW)[0] == []

    found, seen = changes(None, all_day, NOW)
    # An all-day interview: from midnight to midnight (UTC).
    assert [c.type for c in found] == [EventType.INTERVIEW_COMPLETED]
    assert found[0].data.at == datetime(2017, 8, 22, tzinfo=UTC) and found[0].data.ends_at == datetime(2017, 8, 23, tzinfo=UTC)
    assert [i.name for i in found[0].data.interviewers] == ["Charlie Pace"]


def scheduled(start: datetime, status: str = "scheduled", minutes: int = 60) -> HarvestInterview:
    raw = documented()[0]
    raw.update(
        status=status,
        start={"date_time": harvest_time(start)},
        end={"date_time": harvest_time(start + timedelta(minutes=minutes))},
        updated_at=harvest_time(NOW),
    )
    return parsed(raw)


def test_scheduled_moved_moved_back_then_done():
    monday = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    found, seen = changes(None, scheduled(monday), NOW)
    assert [c.event_id for c in found] == ["greenhouse-harvest:9128481:scheduled"]
    assert found[0].data.ends_at == monday + timedelta(hours=1)

    tuesday = monday + timedelta(days=1)
    found, seen = changes(seen, scheduled(tuesday), NOW)
    assert [(c.type, c.event_id) for c in found] == [(EventType.INTERVIEW_RESCHEDULED, "greenhouse-harvest:9128481:rescheduled:1:20261208T100000Z")]
    assert found[0].data.at == tuesday

    # Back to Monday: news again, under a new id (the count of moves), not the first one's.
    found, seen = changes(seen, scheduled(monday), NOW)
    assert [c.event_id for c in found] == ["greenhouse-harvest:9128481:rescheduled:2:20261207T100000Z"]

    # A longer slot is a move too: the end is what the process waits for.
    found, seen = changes(seen, scheduled(monday, minutes=90), NOW)
    assert [c.type for c in found] == [EventType.INTERVIEW_RESCHEDULED] and found[0].data.ends_at == monday + timedelta(minutes=90)

    later = monday + timedelta(days=2)
    found, seen = changes(seen, scheduled(monday, "awaiting_feedback", minutes=90), later)
    assert [(c.type, c.event_id) for c in found] == [(EventType.INTERVIEW_COMPLETED, "greenhouse-harvest:9128481:completed")]
    assert found[0].occurred_at == monday + timedelta(minutes=90)
    # Complete after the scorecards, or its record corrected afterwards: nothing more.
    assert changes(seen, scheduled(monday, "complete", minutes=90), later)[0] == []
    assert changes(seen, scheduled(tuesday, "complete"), later)[0] == []


def test_the_same_sighting_always_gives_the_same_ids():
    monday = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    _, seen = changes(None, scheduled(monday), NOW)
    again = [changes(seen, scheduled(monday + timedelta(hours=3)), NOW)[0][0].event_id for _ in range(3)]
    assert len(set(again)) == 1


def test_a_cancellation_names_the_interview_and_how_often_it_moved():
    monday = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    _, seen = changes(None, scheduled(monday), NOW)
    _, seen = changes(seen, scheduled(monday + timedelta(days=1)), NOW)
    change, gone = cancellation(seen, NOW)
    assert change.type is EventType.INTERVIEW_CANCELLED and change.event_id == "greenhouse-harvest:9128481:cancelled:1"
    # It names the interview its scheduling named: the step.
    assert change.data.interview_id == "7001" and gone.status == "cancelled" and gone.reported_as == "7001"
    # Put back in Greenhouse (a new sighting of the same id): rescheduled, not scheduled again.
    found, _ = changes(gone, scheduled(monday + timedelta(days=3)), NOW)
    assert [c.type for c in found] == [EventType.INTERVIEW_RESCHEDULED]


def test_every_event_of_an_interview_names_its_step_and_no_round():
    monday = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    found, seen = changes(None, scheduled(monday), NOW)
    moved, seen = changes(seen, scheduled(monday + timedelta(days=1)), NOW)
    done, seen = changes(seen, scheduled(monday + timedelta(days=1), "awaiting_feedback"), monday + timedelta(days=2))
    events = found + moved + done
    assert [c.type for c in events] == [EventType.INTERVIEW_SCHEDULED, EventType.INTERVIEW_RESCHEDULED, EventType.INTERVIEW_COMPLETED]
    assert {(c.data.interview_id, c.data.round) for c in events} == {("7001", None)}
    # The events' own ids stay the scheduled interview's: stable, and distinct per booking.
    assert all(c.event_id.startswith("greenhouse-harvest:9128481:") for c in events)


def test_an_interview_without_a_step_or_seen_before_steps_keeps_its_own_id():
    monday = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    no_step = parsed({**documented()[0], "interview": None, "status": "scheduled", "start": {"date_time": harvest_time(monday)}})
    (change,), seen = changes(None, no_step, NOW)
    assert change.data.interview_id == "9128481" and seen.reported_as == "9128481"
    # A row from before steps were reported (reported_as NULL): the process knows it by the
    # scheduled id, so its completion and its cancellation still say that id.
    _, legacy = changes(None, scheduled(monday), NOW)
    legacy = SeenInterview(legacy.interview_id, legacy.application_id, legacy.starts_at, legacy.ends_at, legacy.status, legacy.revision)
    (done,), after = changes(legacy, scheduled(monday, "awaiting_feedback"), monday + timedelta(days=1))
    assert done.data.interview_id == "9128481" and after.reported_as is None
    assert cancellation(legacy, NOW)[0].data.interview_id == "9128481"


@pytest.mark.parametrize(
    ("start", "problem"),
    [
        ({}, "start has neither date_time nor date"),
        ({"date_time": "9999-12-31T00:00:00Z"}, "out of range"),
        ({"date_time": "not a time"}, "start.date_time"),
    ],
)
def test_an_interview_without_a_usable_start_is_left_out_with_the_reason(start, problem):
    raw = {**documented()[0], "start": start}
    reason = parse_interview(raw)
    assert isinstance(reason, str) and reason.startswith("scheduled interview 9128481") and problem in reason


def test_an_interviewer_with_a_malformed_email_keeps_the_name():
    raw = documented()[0]
    raw["interviewers"] = [{"id": 1, "name": "Kate\x00 Austen", "email": "not-an-email"}, {"first_name": "Jack", "last_name": "Shepard"}]
    found, _ = changes(None, parsed(raw), NOW)
    assert [(i.name, i.email) for i in found[0].data.interviewers] == [("Kate Austen", None), ("Jack Shepard", None)]


def test_retry_after_in_seconds_or_as_a_date():
    assert retry_after("7", NOW) == timedelta(seconds=7)
    assert retry_after("Thu, 03 Dec 2026 12:00:30 GMT", NOW) == timedelta(seconds=30)
    assert retry_after(None, NOW) == timedelta(seconds=10) and retry_after("soon", NOW) == timedelta(seconds=10)


async def test_pages_follow_the_link_header_and_a_429_asks_temporal_to_wait():
    server = StandInServer(HarvestStandIn(api_key="k"))
    try:
        for raw in documented():
            server.stand_in.schedule(raw)
        async with httpx.AsyncClient(base_url=server.url, auth=("k", "")) as http:
            since = {"updated_after": harvest_time(NOW - timedelta(days=1)), "per_page": "1"}
            first = await list_page(http, None, since)
            assert [raw["id"] for raw in first.interviews] == [9128481] and first.remaining == 49
            assert first.next_url is not None and first.next_url.startswith(server.url) and "page=2" in first.next_url
            second = await list_page(http, first.next_url)
            assert [raw["id"] for raw in second.interviews] == [9128482] and second.next_url is None

            server.stand_in.throttle(1, retry_after=3)
            with pytest.raises(ApplicationError) as raised:
                await list_page(http, None, since)
            assert raised.value.type == "HarvestRateLimited" and raised.value.next_retry_delay == timedelta(seconds=3)
            assert not raised.value.non_retryable

            assert (await get_interview(http, "9128482"))["id"] == 9128482
            server.stand_in.delete("9128482")
            assert await get_interview(http, "9128482") is None
        async with httpx.AsyncClient(base_url=server.url, auth=("wrong", "")) as http:
            with pytest.raises(ApplicationError) as raised:
                await list_page(http, None, {})
            assert raised.value.type == "HarvestRefused" and raised.value.non_retryable
    finally:
        server.stop()


def test_the_poller_is_configured_from_the_settings(tmp_path: Path):
    assert Settings.from_env({}).ats.greenhouse_poller() is None
    assert Settings.from_env({"GREENHOUSE_INTERVIEW_POLL_SECONDS": "0"}).ats.greenhouse_poller() is None
    with pytest.raises(SettingsError, match="GREENHOUSE_HARVEST_API_KEY is not"):
        Settings.from_env({"GREENHOUSE_INTERVIEW_POLL_SECONDS": "300"}).ats.greenhouse_poller()
    key = tmp_path / "harvest-key"
    key.write_text("secret\n")
    config = Settings.from_env(
        {"GREENHOUSE_INTERVIEW_POLL_SECONDS": "120", "GREENHOUSE_HARVEST_API_KEY_FILE": str(key), "GREENHOUSE_ACCOUNT": "acme"}
    ).ats.greenhouse_poller()
    assert config is not None and (config.account, config.interval_seconds, config.lookback_hours) == ("acme", 120, 24)
    with pytest.raises(SettingsError, match="GREENHOUSE_ACCOUNT"):
        Settings.from_env({"GREENHOUSE_INTERVIEW_POLL_SECONDS": "60", "GREENHOUSE_HARVEST_API_KEY": "k", "GREENHOUSE_ACCOUNT": "a b"}).ats.greenhouse_poller()
    with pytest.raises(SettingsError, match="GREENHOUSE_INTERVIEW_POLL_SECONDS"):
        Settings.from_env({"GREENHOUSE_INTERVIEW_POLL_SECONDS": "often", "GREENHOUSE_HARVEST_API_KEY": "k"}).ats.greenhouse_poller()
