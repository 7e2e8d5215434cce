"""What the Greenhouse interview poller has seen, stored with its events in one transaction, on
SQLite and PostgreSQL: a second identical write stores nothing new, a failed one stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from store.harvest_store import HarvestInterviewStore, SeenInterview
from store.intake_store import IntakeStore, NewDelivery

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def delivery(key: str, application_id: str = "4684156") -> NewDelivery:
    event = {"event_id": key, "type": "interview.scheduled"}
    return NewDelivery("greenhouse", key, "harvest_scheduled_interview", f"greenhouse:{application_id}", [event], None, NOW)


def test_events_and_what_was_seen_are_stored_together_once(database_url: str):
    intake = IntakeStore(database_url)
    store = HarvestInterviewStore(intake)
    try:
        upcoming = SeenInterview("9128481", "4684156", NOW + timedelta(days=2), NOW + timedelta(days=2, hours=1), "scheduled", reported_as="7001")
        # Seen before the poller reported interview steps: its events carried its own id.
        past = SeenInterview("9128482", "4684156", NOW - timedelta(hours=2), NOW - timedelta(hours=1), "awaiting_feedback")
        assert (upcoming.process_interview_id, past.process_interview_id) == ("7001", "9128482")
        first = store.record("acme", [delivery("greenhouse-harvest:9128481:scheduled"), delivery("greenhouse-harvest:9128482:completed")], [upcoming, past], NOW)
        assert [outcome.duplicate for outcome in first] == [False, False]
        again = store.record("acme", [delivery("greenhouse-harvest:9128481:scheduled")], [upcoming], NOW)
        assert [outcome.duplicate for outcome in again] == [True]
        assert len(intake.deliveries(source="greenhouse")) == 2

        assert store.seen("acme", ["9128481", "9128482", "404"]) == {"9128481": upcoming, "9128482": past}
        assert store.seen("other-account", ["9128481"]) == {}
        assert store.upcoming("acme", NOW) == [upcoming]
        by_application = store.of_applications("acme", ["4684156", "1"])
        assert sorted(by_application["4684156"], key=lambda seen: seen.interview_id) == [upcoming, past] and by_application["1"] == []
        assert store.counts("acme") == {"scheduled": 1, "awaiting_feedback": 1}

        moved = SeenInterview("9128481", "4684156", NOW + timedelta(days=3), NOW + timedelta(days=3, hours=1), "scheduled", revision=1, reported_as="7001")
        store.record("acme", [delivery("greenhouse-harvest:9128481:rescheduled:1:x")], [moved], NOW)
        assert store.seen("acme", ["9128481"])["9128481"] == moved

        # A delivery the intake cannot store fails the whole write: the interview's new state too.
        cancelled = SeenInterview("9128481", "4684156", moved.starts_at, moved.ends_at, "cancelled", revision=1, reported_as="7001")
        broken = NewDelivery("greenhouse", "greenhouse-harvest:9128481:cancelled:1", "harvest_scheduled_interview", None, [{"bad": {1, 2}}], None, NOW)
        with pytest.raises(Exception):
            store.record("acme", [broken], [cancelled], NOW)
        assert store.seen("acme", ["9128481"])["9128481"] == moved
        assert intake.delivery("greenhouse", "greenhouse-harvest:9128481:cancelled:1") is None
    finally:
        intake.close()
