"""The follow-through activities against a real task store (SQLite and PostgreSQL).

What matters most: a retried activity never duplicates a task or a message, a closed task stays
closed, templates read well whatever names the process has, and the logs carry no personal data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from jinja2 import StrictUndefined
from sqlalchemy import text
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.follow_through import FollowThroughActivities, render_message, templates
from domain.follow_through import (
    Assignee,
    MessageRequest,
    ProcessTasksCancellation,
    Recipient,
    TaskKind,
    TaskRequest,
    TaskResolution,
)
from service.settings import Settings
from store.task_store import TaskStore

PROCESS = "post-interview-greenhouse-123"
DUE = datetime(2025, 3, 14, 16, 0, tzinfo=UTC)

# Who each template speaks to, and so whose name opens it.
TEMPLATE_RECIPIENTS = {
    "debrief_questions": "candidate",
    "interview_preparation": "candidate",
    "keep_searching": "candidate",
    "referee_nudge": "candidate",
    "closure_next_steps": "candidate",
    "client_decision_pending": "candidate",
    "contract_pending": "candidate",
    "vetting_pending": "candidate",
    "offer_withdrawn": "candidate",
    "reneged_door_open": "candidate",
    "referee_replacement_request": "candidate",
    "nurture_check_in": "candidate",
    "referee_consent_request": "referee",
    "referee_request": "referee",
    "referee_reminder": "referee",
    "referee_no_longer_needed": "referee",
    "recruiter_reminder": "recruiter",
    "feedback_debrief_in": "recruiter",
    "escalation": "lead",
}
# The messages; blocks/ holds parts of other texts (the debrief on a feedback task), notes/ the
# ATS notes written from a stored record (a reference report), and `_candidate_footer` is the end
# of every message to a candidate: none of them is a message.
TEMPLATES = sorted(
    name.removesuffix(".txt.j2")
    for name in templates.list_templates(extensions=["j2"])
    if not name.startswith(("blocks/", "notes/", "_"))
)
NAMES = {
    "candidate": "Ann Lee",
    "client": "Acme Capital",
    "round": "2",
    "recruiter": "Sam Ward",
    "referee": "Bob Roe",
    "lead": "Jo King",
    "deadline": "Friday 14 March",
    "interview_at": "Tuesday 18 March at 10:00",
    "what": "Book a debrief call with Ann Lee (round 1)",
    "due_at": "14 March 16:00",
}


def task_request(
    key: str = f"{PROCESS}/debrief/1/book-call",
    process_id: str = PROCESS,
    kind: TaskKind = TaskKind.BOOK_DEBRIEF,
    due_at: datetime = DUE,
    assignee: Assignee | None = None,
    context: dict[str, str] | None = None,
) -> TaskRequest:
    return TaskRequest(
        key=key,
        process_id=process_id,
        application_id="123",
        kind=kind,
        assignee=assignee or Assignee(id="recruiter-7", name="Sam Ward", email="sam@agency.example"),
        due_at=due_at,
        context={"candidate": "Ann Lee", "client": "Acme Capital", "round": "1"} if context is None else context,
    )


def message_request(
    key: str = f"{PROCESS}/debrief/1/questions",
    role: str = "candidate",
    template: str = "debrief_questions",
    send_after: datetime | None = None,
) -> MessageRequest:
    return MessageRequest(
        key=key,
        process_id=PROCESS,
        application_id="123",
        recipient=Recipient(role=role, id=f"{role}-1", name="Ann Lee", email="ann@example.com"),
        template=template,
        context={"client": "Acme Capital", "round": "1", "recruiter": "Sam Ward"},
        send_after=send_after,
    )


def escalation_request() -> TaskRequest:
    return task_request(
        key=f"{PROCESS}/debrief/1/escalate",
        kind=TaskKind.ESCALATION,
        assignee=Assignee(id="lead-2", name="Jo King", email="jo@agency.example"),
        context={"what": "Book a debrief call with Ann Lee (round 1)", "recruiter": "Sam Ward"},
    )


# Idempotency: a retry finds what the first attempt wrote.


def test_creating_a_task_twice_keeps_the_first(store: TaskStore) -> None:
    first = store.create_task(task_request(), "Book a debrief call", "Speak to the candidate.")
    second = store.create_task(task_request(due_at=DUE + timedelta(days=1)), "Another title", "Other words.")

    assert second == first
    assert store.tasks() == [first]


def test_create_recruiter_task_twice_leaves_one_task(
    follow_through: FollowThroughActivities, store: TaskStore, activity_environment: ActivityEnvironment
) -> None:
    first = activity_environment.run(follow_through.create_recruiter_task, task_request())
    again = activity_environment.run(follow_through.create_recruiter_task, task_request())

    assert again == first
    assert first.title == "Book a debrief call with Ann Lee (round 1)"
    assert first.status == "open"
    assert len(store.tasks()) == 1


def test_a_retried_escalation_leaves_one_task_and_one_message(
    follow_through: FollowThroughActivities, store: TaskStore, activity_environment: ActivityEnvironment
) -> None:
    with capture_logs() as logs:
        task = activity_environment.run(follow_through.escalate_to_lead, escalation_request())
        activity_environment.run(follow_through.escalate_to_lead, escalation_request())

    assert store.tasks() == [task]
    assert task.assignee_id == "lead-2"
    assert task.title == "Overdue: Book a debrief call with Ann Lee (round 1) (assigned to Sam Ward)"
    [message] = store.messages()
    assert message.key == f"{task.key}/message"
    assert (message.recipient_role, message.recipient_id) == ("lead", "lead-2")
    assert message.body.startswith("Hi Jo King,")
    assert [(log["created"], log["message_created"]) for log in logs] == [(True, True), (False, False)]


def test_a_retried_message_is_queued_once(
    follow_through: FollowThroughActivities, store: TaskStore, activity_environment: ActivityEnvironment
) -> None:
    first = activity_environment.run(follow_through.message_candidate, message_request())
    again = activity_environment.run(follow_through.message_candidate, message_request())

    assert again == first
    assert store.messages() == [first]
    assert first.status == "queued"
    assert first.subject == "How did it go with Acme Capital?"
    assert first.body.startswith("Hi Ann Lee,")


def test_logs_say_what_happened_and_name_nobody(
    follow_through: FollowThroughActivities, activity_environment: ActivityEnvironment
) -> None:
    with capture_logs() as logs:
        activity_environment.run(follow_through.create_recruiter_task, task_request())
        activity_environment.run(follow_through.create_recruiter_task, task_request())
        activity_environment.run(follow_through.escalate_to_lead, escalation_request())
        activity_environment.run(follow_through.message_candidate, message_request())
        activity_environment.run(
            follow_through.resolve_tasks, TaskResolution(keys=[task_request().key], status="done", outcome="Ann Lee called")
        )

    assert [log["created"] for log in logs[:2]] == [True, False]
    for log in logs:
        assert {"workflow_id", "activity_id", "activity_type"} <= log.keys()
    logged = repr(logs)
    for personal in ("Ann", "Lee", "Sam Ward", "Jo King", "@"):
        assert personal not in logged


# Closing tasks.


def test_resolving_twice_is_a_no_op(
    follow_through: FollowThroughActivities, store: TaskStore, activity_environment: ActivityEnvironment
) -> None:
    keys = [f"{PROCESS}/debrief/1/book-call", f"{PROCESS}/feedback/1/send"]
    for key in keys:
        store.create_task(task_request(key=key), "title", "instructions")
    resolution = TaskResolution(keys=[*keys, "no-such-task"], status="done", outcome="debrief recorded")

    assert activity_environment.run(follow_through.resolve_tasks, resolution) == 2
    resolved = store.tasks()
    assert activity_environment.run(follow_through.resolve_tasks, resolution) == 0
    assert store.resolve_tasks(keys, "cancelled", "too late") == 0

    assert store.tasks() == resolved
    assert {(task.status, task.outcome) for task in resolved} == {("done", "debrief recorded")}
    assert all(task.resolved_at is not None for task in resolved)


def test_cancel_process_tasks_reaches_referee_checks_only(
    follow_through: FollowThroughActivities, store: TaskStore, activity_environment: ActivityEnvironment
) -> None:
    # An underscore in the id: a LIKE pattern that was not escaped would also match "ghx1".
    process = "post-interview-gh_1"
    tasks_by_process = {
        "open": process,
        "referee": f"{process}-referee-r1",
        "done": process,
        "similar id": "post-interview-ghx1-referee-r1",
        "longer id": f"{process}2",
        "other process": "post-interview-gh-2",
    }
    for name, process_id in tasks_by_process.items():
        store.create_task(task_request(key=name, process_id=process_id), name, "instructions")
    store.resolve_tasks(["done"], "done", "called")

    cancellation = ProcessTasksCancellation(process_id=process, reason="candidate withdrew")
    assert activity_environment.run(follow_through.cancel_process_tasks, cancellation) == 2
    assert activity_environment.run(follow_through.cancel_process_tasks, cancellation) == 0

    statuses = {task.key: (task.status, task.outcome) for task in store.tasks()}
    assert statuses == {
        "open": ("cancelled", "candidate withdrew"),
        "referee": ("cancelled", "candidate withdrew"),
        "done": ("done", "called"),
        "similar id": ("open", None),
        "longer id": ("open", None),
        "other process": ("open", None),
    }


# Reading the store.


def test_tasks_filter_and_come_in_due_order(store: TaskStore) -> None:
    store.create_task(task_request(key="later", due_at=DUE + timedelta(hours=2)), "later", "")
    store.create_task(task_request(key="sooner", due_at=DUE), "sooner", "")
    store.create_task(
        task_request(key="lead's", assignee=Assignee(id="lead-2"), process_id="post-interview-gh-9"), "lead's", ""
    )
    store.resolve_tasks(["later"], "done", "called")

    assert [task.key for task in store.tasks()] == ["sooner", "lead's", "later"]
    assert [task.key for task in store.tasks(status="open", assignee_id="recruiter-7")] == ["sooner"]
    assert [task.key for task in store.tasks(process_id="post-interview-gh-9")] == ["lead's"]


def test_messages_filter_and_come_in_creation_order(store: TaskStore) -> None:
    for key, role in [("first", "candidate"), ("second", "referee"), ("third", "candidate")]:
        store.add_message(message_request(key=key, role=role), "subject", "body")

    assert [message.key for message in store.messages()] == ["first", "second", "third"]
    assert [message.key for message in store.messages(process_id=PROCESS, recipient_role="candidate")] == [
        "first",
        "third",
    ]
    assert store.messages(process_id="post-interview-gh-9") == []


def test_instants_come_back_timezone_aware_in_utc(store: TaskStore) -> None:
    due_in_london = datetime(2025, 7, 1, 17, 30, tzinfo=ZoneInfo("Europe/London"))
    send_after_in_india = datetime(2025, 7, 2, 8, 0, tzinfo=ZoneInfo("Asia/Kolkata"))

    created = store.create_task(task_request(due_at=due_in_london), "title", "instructions")
    store.add_message(message_request(send_after=send_after_in_india), "subject", "body")
    [task], [message] = store.tasks(), store.messages()

    for instant, expected in [
        (created.due_at, due_in_london),
        (task.due_at, due_in_london),
        (message.send_after, send_after_in_india),
    ]:
        assert instant == expected
        assert instant.utcoffset() == timedelta(0)
    assert task.due_at.hour == 16
    assert task.created_at.tzinfo is not None


# Refusals that no retry can fix.


def test_an_unknown_template_fails_for_good(
    follow_through: FollowThroughActivities, store: TaskStore, activity_environment: ActivityEnvironment
) -> None:
    with pytest.raises(ApplicationError) as raised:
        activity_environment.run(follow_through.message_candidate, message_request(template="no_such_template"))

    assert raised.value.type == "UnknownTemplate"
    assert raised.value.non_retryable
    assert store.messages() == []


@pytest.mark.parametrize(
    ("activity_name", "wrong_role"),
    [("message_candidate", "referee"), ("contact_referee", "candidate"), ("remind_recruiter", "lead")],
)
def test_a_message_to_the_wrong_person_fails_for_good(
    follow_through: FollowThroughActivities,
    store: TaskStore,
    activity_environment: ActivityEnvironment,
    activity_name: str,
    wrong_role: str,
) -> None:
    with pytest.raises(ApplicationError) as raised:
        activity_environment.run(getattr(follow_through, activity_name), message_request(role=wrong_role))

    assert raised.value.type == "WrongRecipient"
    assert raised.value.non_retryable
    assert store.messages() == []


def test_an_escalation_must_be_an_escalation_task(
    follow_through: FollowThroughActivities, store: TaskStore, activity_environment: ActivityEnvironment
) -> None:
    with pytest.raises(ApplicationError) as raised:
        activity_environment.run(follow_through.escalate_to_lead, task_request())

    assert raised.value.non_retryable
    assert store.tasks() == []


# Words: tasks and templates read well with or without names.


def test_a_task_without_names_still_reads(
    follow_through: FollowThroughActivities, activity_environment: ActivityEnvironment
) -> None:
    task = activity_environment.run(follow_through.create_recruiter_task, task_request(context={}))

    assert task.title == "Book a debrief call with the candidate (round {round})"
    assert task.instructions.startswith("Speak to the candidate while the interview is fresh.")


def test_every_template_has_a_recipient() -> None:
    assert TEMPLATES == sorted(TEMPLATE_RECIPIENTS)


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_template_renders_without_names(template: str) -> None:
    # Strict rendering proves every name the template uses has a default.
    templates.overlay(undefined=StrictUndefined).get_template(f"{template}.txt.j2").render()

    subject, body = render_message(template, {})

    assert subject and "Subject" not in body
    assert body.startswith("Hi there,\n")
    for awkward in ("  ", " ,", " .", "None"):
        assert awkward not in subject + body


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_template_uses_the_names_it_is_given(template: str) -> None:
    subject, body = render_message(template, NAMES)

    assert subject and not subject.startswith("Subject")
    assert body.startswith(f"Hi {NAMES[TEMPLATE_RECIPIENTS[template]]},\n")
    assert "{" not in subject + body


# Where the store lives.


def test_the_default_database_is_a_sqlite_file_under_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)

    store = TaskStore(Settings.from_env().database_url)
    try:
        with store.engine.connect() as connection:
            journal_mode = connection.execute(text("PRAGMA journal_mode")).scalar_one()
    finally:
        store.close()

    assert (tmp_path / "data" / "postinterview.sqlite3").is_file()
    assert journal_mode == "wal"


def test_database_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://postgres@db:5432/postinterview")

    assert Settings.from_env().database_url == "postgresql+psycopg://postgres@db:5432/postinterview"


# Names known later (issue 10): open tasks move from the stand-in and take the names.


def test_open_tasks_move_to_the_real_recruiter_and_take_the_names_once(
    follow_through: FollowThroughActivities, store: TaskStore, activity_environment: ActivityEnvironment
) -> None:
    from domain.follow_through import OpenTasksUpdate

    desk = Assignee(id="recruiting-desk")
    unnamed = {"candidate": "the candidate for application 123", "client": "acme", "round": "1"}
    book = f"{PROCESS}/debrief/1/book-call"
    activity_environment.run(follow_through.create_recruiter_task, task_request(key=book, assignee=desk, context=unnamed))
    escalation = f"{PROCESS}/debrief/1/escalation"
    lead = Assignee(id="lead-3", name="Jo King")
    activity_environment.run(
        follow_through.escalate_to_lead,
        task_request(key=escalation, kind=TaskKind.ESCALATION, assignee=lead, context={**unnamed, "what": "debrief of round 1", "recruiter": "recruiting-desk"}),
    )
    closed = f"{PROCESS}/follow-up/1/brief"
    activity_environment.run(follow_through.create_recruiter_task, task_request(key=closed, kind=TaskKind.BRIEF_CANDIDATE, assignee=desk, context=unnamed))
    store.resolve_tasks([closed], "done", "interview round 1 took place")
    other_process = task_request(key="post-interview-greenhouse-999/debrief/1/book-call", process_id="post-interview-greenhouse-999", assignee=desk, context=unnamed)
    activity_environment.run(follow_through.create_recruiter_task, other_process)

    update = OpenTasksUpdate(
        process_id=PROCESS,
        from_assignee_id="recruiting-desk",
        assignee=Assignee(id="recruiter-7", name="Sam Ward", email="sam@agency.example", lead_id="lead-3"),
        context={"candidate": "Ann Lee", "client": "Acme Capital", "recruiter": "Sam Ward"},
    )
    assert activity_environment.run(follow_through.update_open_tasks, update) == 2
    moved = store.task(book)
    assert moved.assignee_id == "recruiter-7" and moved.title == "Book a debrief call with Ann Lee (round 1)"
    assert moved.context["round"] == "1"  # what the task already said is kept
    escalated = store.task(escalation)
    assert escalated.assignee_id == "lead-3" and escalated.title == "Overdue: debrief of round 1 (assigned to Sam Ward)"
    assert store.task(closed).assignee_id == "recruiting-desk"  # done: left as it was
    assert store.task(other_process.key).assignee_id == "recruiting-desk"  # another process's
    # The new assignee is a user of the inbox, in their lead's team.
    assert any(t.key == book for t in store.tasks(assignee_id="recruiter-7"))

    # A retried activity changes nothing and writes no second history line.
    assert activity_environment.run(follow_through.update_open_tasks, update) == 0
    assert [e.action for e in store.history(book)] == ["created", "reassigned"]
    assert [e.action for e in store.history(escalation)] == ["created", "renamed"]


def test_a_feedback_task_gets_the_debrief_once_and_a_done_one_is_left_alone(
    follow_through: FollowThroughActivities, store: TaskStore, activity_environment: ActivityEnvironment
) -> None:
    """The feedback task opened before the debrief says it is not in yet; the update gives it the
    debrief (its text, its context, one history line); a retry changes nothing."""
    from domain.debrief import Debrief, feedback_context, feedback_debrief
    from domain.follow_through import TaskUpdate
    from tests.events import GOOD_DEBRIEF

    key = f"{PROCESS}/feedback/1/send"
    pending = {"candidate": "Ann Lee", "client": "Acme Capital", "round": "1", **feedback_context(None)}
    waiting = activity_environment.run(follow_through.create_recruiter_task, task_request(key=key, kind=TaskKind.SEND_FEEDBACK, context=pending))
    assert waiting.title == "Send Ann Lee's debrief to Acme Capital"
    assert "The candidate's debrief of round 1 is not in yet: Ann Lee has not been debriefed." in waiting.instructions

    update = TaskUpdate(key=key, context=feedback_context(Debrief.model_validate(GOOD_DEBRIEF), 1), action="debrief added")
    assert activity_environment.run(follow_through.update_recruiter_task, update) is True
    assert activity_environment.run(follow_through.update_recruiter_task, update) is False  # a retry
    task = store.task(key)
    assert task.id == waiting.id and task.title == waiting.title and "not in yet" not in task.instructions
    assert task.instructions.startswith(waiting.instructions.split("\n\n")[0] + "\n\nThe candidate's debrief of round 1, in Ann Lee's words:\n")
    assert f"Summary: {GOOD_DEBRIEF['summary']}\nInterest: 4 out of 5\nConcerns: {GOOD_DEBRIEF['concerns']}\n" in task.instructions
    assert "Questions for Acme Capital:\n- How large is the reporting backlog?\n- Is there budget for tooling?\nReflections: " in task.instructions
    assert feedback_debrief(task.context).summary == GOOD_DEBRIEF["summary"] and task.context["candidate"] == "Ann Lee"
    assert [e.action for e in store.history(key)] == ["created", "debrief added"]

    store.resolve_tasks([key], "done", "sent")
    assert activity_environment.run(follow_through.update_recruiter_task, TaskUpdate(key=key, context={"debrief": "pending"})) is False
    assert activity_environment.run(follow_through.update_recruiter_task, TaskUpdate(key="no/such/task", context={})) is False


def test_a_feedback_task_without_a_debrief_entry_reads_as_before(
    follow_through: FollowThroughActivities, activity_environment: ActivityEnvironment
) -> None:
    task = activity_environment.run(follow_through.create_recruiter_task, task_request(key=f"{PROCESS}/feedback/1/send", kind=TaskKind.SEND_FEEDBACK))
    assert task.instructions.endswith("sway a client who is in two minds.")
