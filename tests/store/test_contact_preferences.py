"""Candidates' choices in the store (SQLite and PostgreSQL): an opt-out is kept for good with its
first time and way, the ATS's can_email is the newest event's, and the intake records it as it
accepts the events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.contact import candidate_source
from store.contact_preferences import ContactPreferenceStore
from store.intake_store import IntakeStore
from store.task_store import TaskStore
from tests.events import Application


def test_an_opt_out_is_kept_with_its_first_time_and_way(database_url: str) -> None:
    store = TaskStore(database_url)
    try:
        preferences = ContactPreferenceStore(store.engine)
        assert preferences.preference("greenhouse", "c-1").suppression is None  # nothing known: contact allowed
        first_at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
        first, created = preferences.opt_out("greenhouse", "c-1", "link:aaa", at=first_at)
        again, created_again = preferences.opt_out("greenhouse", "c-1", "list-unsubscribe:bbb")
        assert (created, created_again) == (True, False)
        assert again.opted_out_at == first_at and again.opted_out_via == "link:aaa"
        assert "opted out of contact on 2026-12-01" in (preferences.preference("greenhouse", "c-1").suppression or "")
        # Keyed by source and candidate: the same id in another ATS is somebody else.
        assert preferences.preference("lever", "c-1").suppression is None
    finally:
        store.close()


def test_the_newest_can_email_wins_and_true_lifts_only_the_ats_flag(database_url: str) -> None:
    store = TaskStore(database_url)
    try:
        preferences = ContactPreferenceStore(store.engine)
        now = datetime.now(UTC)
        preferences.record_ats_can_email("greenhouse", "c-2", True, now - timedelta(days=2))
        assert preferences.preference("greenhouse", "c-2").ats_can_email is None  # a true for nobody adds no row
        preferences.record_ats_can_email("greenhouse", "c-2", False, now - timedelta(days=1))
        assert "can_email: false" in (preferences.preference("greenhouse", "c-2").suppression or "")
        preferences.record_ats_can_email("greenhouse", "c-2", True, now - timedelta(days=3))  # older: ignored
        assert preferences.preference("greenhouse", "c-2").ats_can_email is False
        preferences.record_ats_can_email("greenhouse", "c-2", True, now)
        assert preferences.preference("greenhouse", "c-2").suppression is None
        # The candidate's own opt-out is not the ATS's to lift.
        preferences.opt_out("greenhouse", "c-2", "link:ccc")
        preferences.record_ats_can_email("greenhouse", "c-2", True, now + timedelta(seconds=1))
        assert preferences.preference("greenhouse", "c-2").opted_out
    finally:
        store.close()


def test_a_message_queued_before_its_source_was_kept_is_matched_by_its_process(database_url: str) -> None:
    store = TaskStore(database_url)
    try:
        preferences = ContactPreferenceStore(store.engine)
        preferences.opt_out("api", "c-3", "link:ddd")
        assert preferences.suppression("c-3", None, "post-interview-api-app-9") is not None
        assert preferences.suppression("c-3", None, "relationship-api-c-3") is not None
        assert preferences.suppression("c-3", None, "post-interview-lever-app-9") is None
        assert preferences.suppression("c-3", "lever", "post-interview-api-app-9") is None  # a kept source decides
    finally:
        store.close()


def test_the_intake_records_can_email_as_it_accepts_events(database_url: str) -> None:
    intake = IntakeStore(database_url)
    try:
        app = Application(source="greenhouse")
        app.candidate["can_email"] = False
        event = app.event("interview.completed", {"interview_id": "i-1", "round": 1, "at": datetime.now(UTC).isoformat()})
        for _ in range(2):  # a re-delivery is stored (and recorded) once
            intake.accept(
                source="greenhouse",
                idempotency_key="k-1",
                action="candidate_stage_change",
                application_key=f"greenhouse:{app.application_id}",
                events=[event.model_dump(mode="json")],
                ignored_reason=None,
                received_at=datetime.now(UTC),
            )
        preference = ContactPreferenceStore(intake.engine).preference("greenhouse", app.candidate["id"])
        assert preference.ats_can_email is False and preference.ats_can_email_at == event.occurred_at
    finally:
        intake.close()


def test_a_candidate_message_names_its_source_from_its_process() -> None:
    assert candidate_source("relationship-api-hooks-c-1", None, "c-1") == "api-hooks"
    assert candidate_source("post-interview-api-hooks-app-1", "app-1", "c-1") == "api-hooks"
    assert candidate_source("post-interview-lever-app-1-referee-ref-9", "app-1", "c-1") == "lever"
    assert candidate_source("post-interview-lever-app-1", None, "c-1") is None
    assert candidate_source("something-else", "app-1", "c-1") is None
