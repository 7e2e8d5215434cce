"""Inserts that must happen once say truthfully whether they did, on SQLite and PostgreSQL.

With psycopg, an INSERT ... ON CONFLICT DO NOTHING reports a row count of -1 whether it inserted
or not: a store that trusted it took every webhook re-delivery for a new one (`accepted` instead of
`duplicate`) and logged a second "created" in a retried task's history.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.follow_through import Assignee, TaskKind, TaskRequest
from store.intake_store import IntakeStore
from store.task_store import TaskStore


def test_a_redelivered_webhook_is_reported_as_a_duplicate(database_url: str) -> None:
    store = IntakeStore(database_url)
    try:
        delivery = dict(source="greenhouse", idempotency_key="evt-1", action="hire_candidate", application_key="greenhouse:1", events=[{"a": 1}], ignored_reason=None, received_at=datetime.now(UTC))
        first, second = store.accept(**delivery), store.accept(**delivery)
    finally:
        store.close()
    assert first.duplicate is False and second.duplicate is True
    assert first.delivery_id == second.delivery_id


def test_a_retried_task_has_one_created_line_in_its_history(database_url: str) -> None:
    store = TaskStore(database_url)
    request = TaskRequest(
        key="post-interview-api-1/debrief/1/book-call",
        process_id="post-interview-api-1",
        kind=TaskKind.BOOK_DEBRIEF,
        assignee=Assignee(id="rec-1", lead_id="lead-1"),
        due_at=datetime.now(UTC) + timedelta(hours=4),
    )
    try:
        store.create_task(request, "Book a debrief call", "why")
        store.create_task(request, "Book a debrief call", "why")
        assert [e.action for e in store.history(request.key)] == ["created"]
    finally:
        store.close()


def test_leads_are_known_from_the_tasks_themselves(database_url: str) -> None:
    """A lead who first got a task of their own is still the lead of the recruiters who name them."""
    from store.access_store import AccessStore

    store = TaskStore(database_url)
    access = AccessStore(store.engine)
    due = datetime.now(UTC) + timedelta(hours=4)

    def task(key: str, assignee: Assignee, kind: TaskKind = TaskKind.BOOK_DEBRIEF) -> None:
        store.create_task(TaskRequest(key=key, process_id="post-interview-api-2", kind=kind, assignee=assignee, due_at=due), "t", "i")

    try:
        task("a/own", Assignee(id="lead-1"))  # the lead's own candidate first: registered as a recruiter
        assert access.user("lead-1").role == "recruiter"
        task("a/rec", Assignee(id="rec-1", lead_id="lead-1"))  # a recruiter names them as lead
        assert access.user("lead-1").role == "lead" and access.user("rec-1").lead_id == "lead-1"
        assert access.team("lead-1") == ["lead-1", "rec-1"]
        task("a/esc", Assignee(id="lead-2"), TaskKind.ESCALATION)  # first seen receiving an escalation
        assert access.user("lead-2").role == "lead"
        task("a/again", Assignee(id="lead-2"))  # a later task of their own never demotes them
        assert access.user("lead-2").role == "lead"
    finally:
        store.close()
