"""Reference reports and link opens in the store, on SQLite and PostgreSQL: one report per
referee however often it is sent, the facts the fraud signals need read from what the engine
stored, and who opened a candidate's link kept as a digest only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from domain.follow_through import Assignee, MessageRequest, Recipient, TaskKind, TaskRequest
from domain.reference_report import FraudSignal, ReferenceAnswer, ReferenceFlag, ReferenceReport
from store.notification_store import NotificationStore
from store.reference_store import ReferenceStore, fingerprint
from store.schema import link_opens
from store.task_store import TaskStore

PROCESS = "post-interview-greenhouse-4321"
CHECK = f"{PROCESS}-referee-ref-1"


def report(link_id: str = "link-aaaaaaaaaaaaaaaa", flagged: bool = True, **changes: object) -> ReferenceReport:
    values: dict[str, object] = {
        "key": CHECK,
        "process_id": PROCESS,
        "source": "greenhouse",
        "application_id": "4321",
        "referee_id": "ref-1",
        "link_id": link_id,
        "answers": [ReferenceAnswer(id="strengths", question="What are their main strengths?", answer="Rigorous.\nCalm.")],
        "flags": [ReferenceFlag(code=FraudSignal.QUICK_ANSWER, text="Answered 12 seconds after the request was sent")] if flagged else [],
        "submitted_at": datetime(2026, 12, 3, 12, 0, tzinfo=UTC),
    }
    return ReferenceReport(**(values | changes))  # type: ignore[arg-type]


def test_a_referee_has_one_report(database_url: str) -> None:
    store = ReferenceStore(database_url)
    try:
        first, created = store.add(report())
        again, created_again = store.add(report(link_id="link-bbbbbbbbbbbbbbbb", flagged=False))
        assert (created, created_again) == (True, False)
        assert again == first == store.report(CHECK)
        assert first.link_id == "link-aaaaaaaaaaaaaaaa" and first.flags[0].code is FraudSignal.QUICK_ANSWER
        assert first.answer("strengths") == "Rigorous.\nCalm." and first.submitted_at == datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

        other = report(key=f"{PROCESS}-referee-ref-2", referee_id="ref-2", flagged=False)
        store.add(other)
        store.add(report(key="post-interview-lever-9-referee-r", process_id="post-interview-lever-9", source="lever", application_id="9"))
        assert [r.referee_id for r in store.reports(application_id="4321")] == ["ref-1", "ref-2"]
        assert [r.source for r in store.reports(application_id="9", source="greenhouse")] == []
        assert store.counts([PROCESS, "post-interview-lever-9", "nothing"]) == {PROCESS: (2, 1), "post-interview-lever-9": (1, 1)}
        assert store.counts([]) == {}
    finally:
        store.close()


def test_link_opens_keep_a_digest_and_answer_whether_this_browser_opened_it(database_url: str) -> None:
    store = ReferenceStore(database_url)
    try:
        assert store.record_open("debrief-link-1", "candidate_debrief", PROCESS, "203.0.113.7", "Firefox/140")
        assert store.record_open("debrief-link-1", "candidate_debrief", PROCESS, "203.0.113.7", "Firefox/140")  # once per browser
        assert not store.record_open("debrief-link-1", "candidate_debrief", PROCESS, None, "Firefox/140")
        assert store.opened_by(PROCESS, "candidate_debrief", "203.0.113.7", "Firefox/140")
        assert not store.opened_by(PROCESS, "candidate_debrief", "203.0.113.7", "Chrome/140")
        assert not store.opened_by(PROCESS, "candidate_debrief", "198.51.100.1", "Firefox/140")
        assert not store.opened_by("post-interview-greenhouse-other", "candidate_debrief", "203.0.113.7", "Firefox/140")
        with store.engine.connect() as connection:
            rows = connection.execute(select(link_opens)).mappings().all()
        assert len(rows) == 1 and rows[0]["fingerprint"] == fingerprint("203.0.113.7", "Firefox/140")
        assert "203.0.113.7" not in str(dict(rows[0]))
    finally:
        store.close()


def test_the_facts_come_from_the_messages_and_tasks_the_engine_stored(database_url: str) -> None:
    tasks = TaskStore(database_url)
    store = ReferenceStore(tasks.engine)
    try:
        assert store.request_sent_at(CHECK) is None and store.candidate_email(PROCESS) is None

        def message(key: str, process_id: str, role: str, email: str, send_after: datetime | None = None) -> None:
            tasks.add_message(
                MessageRequest(key=key, process_id=process_id, application_id="4321", recipient=Recipient(role=role, id=f"{role}-1", email=email), template="t", context={}, send_after=send_after),
                "subject",
                "body",
            )

        later = datetime.now(UTC) + timedelta(hours=9)
        message(f"{CHECK}/request", CHECK, "referee", "grace@gmail.com", send_after=later)
        message(f"{CHECK}/slow-nudge", CHECK, "candidate", "ada@example.com")
        assert store.recipient_email(CHECK, "referee") == "grace@gmail.com"
        assert store.candidate_email(PROCESS) == "ada@example.com"  # from the referee check's nudge
        queued = tasks.message(f"{CHECK}/request")
        assert queued is not None and store.request_sent_at(CHECK) == queued.created_at  # no email sent: when it was queued
        notes = NotificationStore(tasks.engine)
        key = f"message:{CHECK}/request:email"
        notes.claim(key, "message", f"{CHECK}/request", "email")
        notes.mark_sent(key, "<id@agency.example>")
        sent = notes.notification(key)
        assert sent is not None and store.request_sent_at(CHECK) == sent.sent_at != queued.created_at  # its email's delivery wins

        for key, process_id, kind, context in (
            (f"{CHECK}/overdue", CHECK, TaskKind.REFEREE_OVERDUE, {"referee": "Grace Hopper"}),
            (f"{PROCESS}/debrief/1/book-call", PROCESS, TaskKind.BOOK_DEBRIEF, {}),
        ):
            tasks.create_task(
                TaskRequest(key=key, process_id=process_id, application_id="4321", kind=kind, assignee=Assignee(id="rec-7"), due_at=datetime.now(UTC), context=context),
                "title",
                "why",
            )
        assert store.people(CHECK, PROCESS) == ("Grace Hopper", "rec-7")
        assert store.assignees(PROCESS) == {"rec-7"} and store.assignees("post-interview-greenhouse-other") == set()

        # The inbox's recent reports: those of the applications somebody has tasks of.
        store.add(report())
        store.add(report(key="post-interview-lever-9-referee-r", process_id="post-interview-lever-9", source="lever", application_id="9", submitted_at=datetime(2026, 12, 4, tzinfo=UTC)))
        since = datetime(2026, 12, 1, tzinfo=UTC)
        assert [r.key for r in store.recent({"rec-7"}, since)] == [CHECK]
        assert store.recent({"rec-other"}, since) == [] and store.recent({"rec-7"}, datetime(2026, 12, 5, tzinfo=UTC)) == []
        assert [r.application_id for r in store.recent(None, since)] == ["9", "4321"]  # an operator's: everybody's, newest first
    finally:
        tasks.close()
