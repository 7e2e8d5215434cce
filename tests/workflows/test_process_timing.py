"""Every branch of the post-interview process, on the time-skipping server.

Each test drives the real workflows with canonical events through signal-with-start, skips days
or months of process time, and checks what a recruiter would see: the tasks written, the messages
queued, and the process's own status. The activities are the in-memory fakes of
tests/workflows/fakes.py (no store per test); two tests, the year to the last check-in and a close
in the middle of reference checks, run the real worker on a real SQLite store end to end.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.business_time import add_business_hours
from domain.contract import relationship_workflow_id
from domain.policy import TimingPolicy
from domain.status import ProcessStatus, RelationshipState
from process_client import Delivery, deliver_event, process_handle, process_status
from store.task_store import TaskStore
from tests.events import GOOD_DEBRIEF, Application
from tests.harness import CONTINUOUS, eventually, running_engine, status_when
from tests.workflows.fakes import FakeStore, running_with_fakes



def kinds(store: TaskStore | FakeStore, app: Application, status: str | None = "open") -> list[str]:
    return sorted(t.kind for t in store.tasks(status=status) if t.process_id.startswith(app.workflow_id))


def templates(store: TaskStore | FakeStore, app: Application) -> list[str]:
    # The subject line is rendered; the key's last part names the purpose.
    return [m.key.removeprefix(app.workflow_id + "/") for m in store.messages() if m.key.startswith(app.workflow_id)]


async def status(env: WorkflowEnvironment, app: Application) -> ProcessStatus:
    return await process_status(env.client, app.source, app.application_id)


async def start(env: WorkflowEnvironment, app: Application, task_queue: str) -> None:
    assert await deliver_event(env.client, app.interview(1), task_queue) == Delivery.DELIVERED


async def send(env: WorkflowEnvironment, app: Application, task_queue: str, *events) -> None:
    for event in events:
        await deliver_event(env.client, event, task_queue)


# --- duty 1: debrief ------------------------------------------------------------------------


async def test_debrief_on_time_closes_the_call_task_and_waits_for_the_client(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        await eventually(lambda: kinds(store, app) == ["book_debrief"], what="book-debrief task")
        task = store.tasks(process_id=app.workflow_id)[0]
        assert "Ada Lovelace" in task.title and "round 1" in task.title
        assert task.assignee_id == "rec-1"
        # The questions go out right after the task is written: wait for them too.
        await eventually(lambda: templates(store, app) == ["debrief/1/questions"], what="debrief questions")

        await time_env.sleep(timedelta(hours=1))
        await send(time_env, app, task_queue, app.event("candidate.debriefed", GOOD_DEBRIEF))
        await eventually(lambda: kinds(store, app, "done") == ["book_debrief"], what="task done")
        current = await status(time_env, app)
        assert current.stage == "awaiting_client"
        assert current.sla_breached is False
        assert current.debriefs[0].interest == 4 and current.debriefs[0].recorded_at is not None
        assert current.open_tasks == []

        await time_env.sleep(timedelta(days=3))  # nothing is left to remind anybody of
        assert not any("reminder" in k or "escalation" in k for k in templates(store, app))
        assert (await status(time_env, app)).sla_breached is False


async def test_late_debrief_reminds_then_escalates_and_marks_the_sla_breached(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        started = await time_env.get_current_time()
        await start(time_env, app, task_queue)
        await eventually(lambda: kinds(store, app) == ["book_debrief"])
        due = store.tasks(process_id=app.workflow_id)[0].due_at
        assert timedelta(hours=3, minutes=59) < due - started <= timedelta(hours=4, minutes=1)

        await time_env.sleep(timedelta(hours=4, minutes=5))
        await eventually(lambda: "debrief/1/reminder" in templates(store, app), what="reminder to the recruiter")
        reminder = [m for m in store.messages() if m.key.endswith("debrief/1/reminder")][0]
        assert reminder.recipient_role == "recruiter" and reminder.recipient_id == "rec-1"
        assert (await status(time_env, app)).sla_breached is False

        await time_env.sleep(timedelta(days=1))
        await eventually(lambda: kinds(store, app) == ["book_debrief", "escalation"], what="escalation")
        escalation = next(t for t in store.tasks(status="open") if t.kind == "escalation" and t.process_id == app.workflow_id)
        assert escalation.assignee_id == "lead-1"
        current = await status(time_env, app)
        assert current.sla_breached is True and current.debriefs[0].escalated is True
        assert "overdue" in current.waiting_for

        await send(time_env, app, task_queue, app.event("candidate.debriefed", GOOD_DEBRIEF))
        await eventually(lambda: kinds(store, app) == [], what="both tasks done")
        assert kinds(store, app, "done") == ["book_debrief", "escalation"]
        assert (await status(time_env, app)).sla_breached is True  # a breach stays on the record


async def test_escalation_without_a_lead_goes_to_the_recruiter(time_env, task_queue):
    app = Application(lead=False)
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        await time_env.sleep(timedelta(days=2))
        await eventually(lambda: "escalation" in kinds(store, app))
        escalation = next(t for t in store.tasks(status="open") if t.kind == "escalation" and t.process_id == app.workflow_id)
        assert escalation.assignee_id == "rec-1"


async def test_an_empty_debrief_event_is_no_debrief(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        await send(time_env, app, task_queue, app.event("candidate.debriefed", {"summary": "I think it went well, let me know", "interest": 5}))
        await eventually(lambda: kinds(store, app) == ["book_debrief"])
        current = await eventually(lambda: status(time_env, app))
        await eventually(lambda: _events_seen(time_env, app, 2))
        current = await status(time_env, app)
        assert current.stage == "debrief" and current.debriefs[0].recorded_at is None


async def _events_seen(env: WorkflowEnvironment, app: Application, count: int) -> bool:
    return (await status(env, app)).events_seen >= count


async def test_client_asks_for_feedback_before_the_debrief(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        await time_env.sleep(timedelta(hours=1))
        await send(time_env, app, task_queue, app.event("client.feedback_requested"))
        # One debrief task per round: the urgent one replaces the booking; the feedback task is
        # opened at once, saying the debrief is not in yet (tests/workflows/test_feedback_debrief.py).
        await eventually(lambda: kinds(store, app) == ["send_feedback", "urgent_debrief"], what="urgent debrief")
        assert kinds(store, app, "cancelled") == ["book_debrief"]
        assert (await status(time_env, app)).sla_breached is False  # not overdue yet: no escalation

        await send(time_env, app, task_queue, app.event("candidate.debriefed", GOOD_DEBRIEF))
        # The debrief closes the debrief task, and the feedback task, the same one, carries it.
        await eventually(lambda: kinds(store, app) == ["send_feedback"], what="send-feedback task")
        assert kinds(store, app, "done") == ["urgent_debrief"]


async def test_client_asks_for_feedback_after_the_debrief(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        await send(time_env, app, task_queue, app.event("candidate.debriefed", GOOD_DEBRIEF))
        await eventually(lambda: kinds(store, app, "done") == ["book_debrief"])
        await send(time_env, app, task_queue, app.event("client.feedback_requested"))
        await eventually(lambda: kinds(store, app) == ["send_feedback"])
        feedback = store.tasks(status="open", process_id=app.workflow_id)[0]
        assert "Acme Capital" in feedback.title and "never generic" in feedback.instructions


async def test_client_asks_when_the_debrief_is_already_overdue_escalates_at_once(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        await time_env.sleep(timedelta(hours=5))
        await eventually(lambda: "debrief/1/reminder" in templates(store, app))
        await send(time_env, app, task_queue, app.event("client.feedback_requested"))
        await eventually(lambda: kinds(store, app) == ["escalation", "send_feedback", "urgent_debrief"])
        assert (await status(time_env, app)).sla_breached is True


# --- duty 4: follow-up round ------------------------------------------------------------------


async def test_follow_up_interview_prepares_the_candidate_then_starts_a_second_debrief(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        await send(time_env, app, task_queue, app.event("candidate.debriefed", GOOD_DEBRIEF))
        await eventually(lambda: kinds(store, app) == [])
        interview_at = await time_env.get_current_time() + timedelta(days=5)
        await send(time_env, app, task_queue, app.interview(2, "interview.scheduled", at=interview_at))
        await eventually(lambda: kinds(store, app) == ["brief_candidate"], what="brief task")
        brief = store.tasks(status="open", process_id=app.workflow_id)[0]
        assert abs(brief.due_at - (interview_at - timedelta(hours=24))) < timedelta(minutes=1)
        assert "follow-up/2/preparation" in templates(store, app)
        current = await status(time_env, app)
        assert current.stage == "follow_up" and "round 2" in current.waiting_for

        await time_env.sleep(timedelta(days=5))
        await send(time_env, app, task_queue, app.interview(2))
        await eventually(lambda: "book_debrief" in kinds(store, app), what="round 2 debrief")
        round_two = next(t for t in store.tasks(status="open") if t.kind == "book_debrief" and t.process_id == app.workflow_id)
        assert "round 2" in round_two.title
        assert (await status(time_env, app)).stage == "debrief"
        assert [d.round for d in (await status(time_env, app)).debriefs] == [1, 2]


# --- duty 3: referees -------------------------------------------------------------------------


def referee_messages(store: TaskStore | FakeStore, app: Application, referee: str) -> list[str]:
    prefix = f"{app.workflow_id}-referee-{referee}/"
    return [m.key.removeprefix(prefix) for m in store.messages() if m.key.startswith(prefix)]


def referee_state(current: ProcessStatus, referee: str) -> str:
    return next((r.state for r in current.referees if r.id == referee), None)


async def test_fast_referee_consents_and_responds_without_reminders(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        await send(time_env, app, task_queue, app.references("ref-a"))
        await eventually(lambda: referee_messages(store, app, "ref-a") == ["consent-request"])
        assert referee_state(await status(time_env, app), "ref-a") == "awaiting_consent"
        assert (await status(time_env, app)).stage == "references"

        await send(time_env, app, task_queue, app.event("referee.consented", {"referee_id": "ref-a"}))
        await eventually(lambda: referee_messages(store, app, "ref-a") == ["consent-request", "request"])
        await eventually(lambda: _referee_is(time_env, app, "ref-a", "requested"))
        await time_env.sleep(timedelta(hours=6))
        await send(time_env, app, task_queue, app.event("referee.responded", {"referee_id": "ref-a"}))
        await eventually(lambda: _referee_is(time_env, app, "ref-a", "responded"))
        await time_env.sleep(timedelta(days=5))
        assert referee_messages(store, app, "ref-a") == ["consent-request", "request"]
        assert not [k for k in kinds(store, app) if k.startswith("referee")]


async def _referee_is(env: WorkflowEnvironment, app: Application, referee: str, state: str) -> bool:
    return referee_state(await status(env, app), referee) == state


async def test_slow_referee_gets_reminders_the_candidate_nudges_and_the_recruiter_escalation(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        await send(time_env, app, task_queue, app.references("ref-b"), app.event("referee.consented", {"referee_id": "ref-b"}))
        await eventually(lambda: "request" in referee_messages(store, app, "ref-b"))
        deadline = (await eventually(lambda: _referee_deadline(time_env, app, "ref-b")))

        await time_env.sleep(timedelta(days=1, minutes=5))
        await eventually(lambda: "reminder/1" in referee_messages(store, app, "ref-b"), what="first reminder")
        await eventually(lambda: "slow-nudge" in referee_messages(store, app, "ref-b"), what="candidate nudge")
        nudge = next(m for m in store.messages() if m.key.endswith("slow-nudge"))
        assert nudge.recipient_role == "candidate"

        await time_env.sleep(timedelta(days=1))
        await eventually(lambda: "reminder/2" in referee_messages(store, app, "ref-b"), what="second reminder")
        assert (await status(time_env, app)).referees[0].reminders_sent == 2

        await time_env.sleep(timedelta(days=1))
        await eventually(lambda: _referee_is(time_env, app, "ref-b", "overdue"), what="overdue at the deadline")
        assert "referee_overdue" in kinds(store, app)
        assert any(t.kind == "referee_overdue" for t in (await status(time_env, app)).open_tasks)
        assert deadline <= await time_env.get_current_time()

        # A late reference still counts, and closes the escalation.
        await send(time_env, app, task_queue, app.event("referee.responded", {"referee_id": "ref-b"}))
        await eventually(lambda: _referee_is(time_env, app, "ref-b", "responded"))
        await eventually(lambda: "referee_overdue" in kinds(store, app, "done"))


async def _referee_deadline(env: WorkflowEnvironment, app: Application, referee: str):
    current = await status(env, app)
    return next((r.deadline for r in current.referees if r.id == referee and r.deadline), None)


async def test_silent_referee_stays_overdue_after_the_deadline(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        await send(time_env, app, task_queue, app.references("ref-c", required=True), app.event("referee.consented", {"referee_id": "ref-c"}))
        await eventually(lambda: "request" in referee_messages(store, app, "ref-c"))
        await time_env.sleep(timedelta(days=10))
        await eventually(lambda: _referee_is(time_env, app, "ref-c", "overdue"))
        current = await status(time_env, app)
        assert current.offer_blocked is True
        # Reminders stop at the deadline: two before it, none after.
        assert [m for m in referee_messages(store, app, "ref-c") if m.startswith("reminder")] == ["reminder/1", "reminder/2"]


async def test_referee_without_consent_is_never_sent_the_request(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        await send(time_env, app, task_queue, app.references("ref-d"))
        await eventually(lambda: referee_messages(store, app, "ref-d") == ["consent-request"])
        await time_env.sleep(timedelta(days=2, minutes=5))
        await eventually(lambda: "consent-nudge" in referee_messages(store, app, "ref-d"), what="candidate asked to confirm consent")
        await eventually(lambda: "referee_consent" in kinds(store, app), what="recruiter task to check consent")
        await time_env.sleep(timedelta(days=4))
        await eventually(lambda: _referee_is(time_env, app, "ref-d", "no_consent"))
        assert "request" not in referee_messages(store, app, "ref-d")
        assert "referee_consent" in kinds(store, app, "cancelled"), "no consent: the check task is not 'done'"


async def test_offer_is_blocked_until_the_last_reference_is_in(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        await send(
            time_env, app, task_queue,
            app.references("ref-e", "ref-f", required=True),
            app.event("referee.consented", {"referee_id": "ref-e"}),
            app.event("referee.consented", {"referee_id": "ref-f"}),
            app.event("referee.responded", {"referee_id": "ref-e"}),
            app.offer(),  # out of order: the offer before the last reference
        )
        current = await eventually(lambda: _stage_is(time_env, app, "offer"))
        current = await status(time_env, app)
        assert current.offer_blocked is True
        assert "offer is blocked" in current.waiting_for and "1 of 2" in current.waiting_for

        await send(time_env, app, task_queue, app.event("referee.responded", {"referee_id": "ref-f"}))
        await eventually(lambda: _referee_is(time_env, app, "ref-f", "responded"))
        current = await status(time_env, app)
        assert current.offer_blocked is False
        assert current.waiting_for == "the candidate's answer to the offer"


async def _stage_is(env: WorkflowEnvironment, app: Application, stage: str) -> bool:
    return (await status(env, app)).stage == stage


# --- duties 2 and 5: to the first day, and beyond --------------------------------------------


async def test_offer_to_first_day_then_a_year_of_check_ins(time_env, store_url, task_queue, activity_pool):
    app = Application()
    start_date = (await time_env.get_current_time()).date() + timedelta(days=30)
    async with running_engine(time_env, store_url, task_queue, activity_pool) as store:
        await start(time_env, app, task_queue)
        await send(time_env, app, task_queue, app.event("candidate.debriefed", GOOD_DEBRIEF), app.offer("offer.extended"), app.offer("offer.accepted", start=start_date))
        await eventually(lambda: "offer/keep-searching" in templates(store, app), what="keep-searching advice")
        assert (await status(time_env, app)).waiting_for == "the signed contract and passed vetting"
        await send(time_env, app, task_queue, app.event("contract.signed"), app.event("vetting.passed"))
        await eventually(lambda: _stage_is(time_env, app, "starting"))
        assert "first day on " + start_date.isoformat() in (await status(time_env, app)).waiting_for

        # The start date passes with no word: the recruiter is asked to confirm it.
        await time_env.sleep(timedelta(days=33))
        await eventually(lambda: "confirm_start" in kinds(store, app), what="confirm-start task")

        handle: WorkflowHandle = process_handle(time_env.client, app.source, app.application_id)
        await send(time_env, app, task_queue, app.event("candidate.started", {"start_date": start_date.isoformat()}))
        final = await handle.result()
        assert final.stage == "placed"
        assert {"offer.extended", "offer.accepted", "contract.signed", "vetting.passed", "candidate.started"} <= set(final.milestones)
        assert kinds(store, app) == [] and "confirm_start" in kinds(store, app, "done")

        relationship = time_env.client.get_workflow_handle(relationship_workflow_id(app.source, app.candidate["id"]), result_type=RelationshipState)
        first_run = (await relationship.describe()).run_id
        await time_env.sleep(timedelta(days=7))
        await eventually(lambda: _check_ins(store, app) == ["the first week in the new role"], what="first-week check-in")
        await time_env.sleep(timedelta(days=90))
        await eventually(lambda: len(_check_ins(store, app)) == 2, what="probation check-in")
        # The last check-in's answers are awaited (nurture_answer_days), then the relationship ends.
        await time_env.sleep(timedelta(days=CONTINUOUS.nurture_answer_days + 1))
        state: RelationshipState = await relationship.result()
        assert state.pending == [] and len(state.done) == 2
        assert (await relationship.describe()).run_id != first_run, "continue-as-new keeps the history small"


async def test_a_moved_start_date_cancels_the_confirmation_of_the_old_one(time_env, task_queue):
    app = Application()
    first = (await time_env.get_current_time()).date() + timedelta(days=10)
    later = first + timedelta(days=21)
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        await send(time_env, app, task_queue, app.event("candidate.debriefed", GOOD_DEBRIEF), app.offer("offer.accepted", start=first))
        await time_env.sleep(timedelta(days=13))  # the first date passes with no word
        await eventually(lambda: "confirm_start" in kinds(store, app), what="confirm-start task")

        # The client and the candidate agree a later first day: the old date needs no confirming.
        await send(time_env, app, task_queue, app.offer("offer.accepted", start=later))
        await eventually(lambda: "confirm_start" in kinds(store, app, "cancelled"), what="old confirmation cancelled")
        cancelled = next(t for t in store.tasks(status="cancelled", process_id=app.workflow_id) if t.kind == "confirm_start")
        assert first.isoformat() in cancelled.key and cancelled.outcome == f"the start date moved to {later.isoformat()}"
        assert all(t.kind != "confirm_start" for t in (await status(time_env, app)).open_tasks)

        await time_env.sleep(timedelta(days=24))  # the new date passes too: confirm that one
        await eventually(lambda: any(later.isoformat() in t.key for t in store.tasks(status="open", process_id=app.workflow_id)), what="new confirm task")


def _check_ins(store: TaskStore | FakeStore, app: Application) -> list[str]:
    return [t.title.split(": ", 1)[1] for t in store.tasks() if t.kind == "check_in" and t.key.startswith(app.workflow_id)]


@pytest.mark.parametrize("closing", ["candidate.rejected", "candidate.withdrew"])
async def test_closing_in_the_middle_of_reference_checks(time_env, store_url, task_queue, activity_pool, closing):
    app = Application()
    async with running_engine(time_env, store_url, task_queue, activity_pool) as store:
        await start(time_env, app, task_queue)
        await send(time_env, app, task_queue, app.event("candidate.debriefed", GOOD_DEBRIEF), app.references("ref-g", "ref-h"), app.event("referee.consented", {"referee_id": "ref-g"}))
        await eventually(lambda: "request" in referee_messages(store, app, "ref-g"))
        await time_env.sleep(timedelta(days=4))
        await eventually(lambda: "referee_overdue" in kinds(store, app))

        await send(time_env, app, task_queue, app.event(closing, {"reason": "client chose another candidate"}))
        final = await process_handle(time_env.client, app.source, app.application_id).result()
        assert final.stage == "closed"
        assert {r.id: r.state for r in final.referees} == {"ref-g": "cancelled", "ref-h": "cancelled"}
        # Children were cancelled cleanly: each contacted referee heard they are not needed.
        assert "no-longer-needed" in referee_messages(store, app, "ref-g")
        assert "no-longer-needed" in referee_messages(store, app, "ref-h")
        # Everything the process no longer needs is cancelled; close-out tasks are open.
        assert "referee_overdue" in kinds(store, app, "cancelled")
        assert kinds(store, app) == ["closure_feedback", "face_to_face"]
        assert "close/next-steps" in templates(store, app)

        relationship = time_env.client.get_workflow_handle(relationship_workflow_id(app.source, app.candidate["id"]))
        state: RelationshipState = await relationship.query("status", result_type=RelationshipState)
        assert [c.occasion for c in state.pending] == ["90 days after the application closed", "365 days after the application closed"]
        assert state.handovers_seen == [f"{app.workflow_id}/{closing.split('.')[1]}"]


# --- duplicates and disorder -------------------------------------------------------------------


async def test_the_same_event_twice_has_one_effect(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        first = app.interview(1)
        for _ in range(3):
            await deliver_event(time_env.client, first, task_queue)
        # The same interview reported again under a new event id is the same interview.
        await deliver_event(time_env.client, app.interview(1), task_queue)
        references = app.references("ref-i")
        await send(time_env, app, task_queue, references, references)
        await eventually(lambda: _events_seen(time_env, app, 3))
        await eventually(lambda: referee_messages(store, app, "ref-i") == ["consent-request"])
        await eventually(lambda: kinds(store, app) == ["book_debrief"])
        await eventually(lambda: [m for m in templates(store, app) if "questions" in m])
        await time_env.sleep(timedelta(minutes=1))  # time for any second effect to show
        current = await status(time_env, app)
        assert current.events_seen == 3
        assert len(current.debriefs) == 1 and len(current.referees) == 1
        assert kinds(store, app) == ["book_debrief"]
        assert len([m for m in templates(store, app) if "questions" in m]) == 1


async def test_events_out_of_order(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        # The reference arrives before the request for it, and the ATS reports a late first
        # interview after references started: neither moves the process backwards.
        await start(time_env, app, task_queue)
        await send(time_env, app, task_queue, app.event("referee.responded", {"referee_id": "ref-j"}), app.references("ref-j", "ref-k"))
        await eventually(lambda: _stage_is(time_env, app, "references"))
        await eventually(lambda: _referee_is(time_env, app, "ref-j", "responded"))
        assert referee_messages(store, app, "ref-j") == []
        await send(time_env, app, task_queue, app.interview(1))
        await eventually(lambda: _events_seen(time_env, app, 4))
        assert (await status(time_env, app)).stage == "references"

        # Events after the close are ignored; a re-delivery after completion starts nothing.
        await send(time_env, app, task_queue, app.event("candidate.withdrew"))
        await process_handle(time_env.client, app.source, app.application_id).result()
        assert await deliver_event(time_env.client, app.event("candidate.withdrew"), task_queue) == Delivery.PROCESS_CLOSED


async def test_business_calendar_counts_the_office_working_week(time_env, task_queue):
    app = Application()
    policy = TimingPolicy()  # the default: business hours, London office, GB holidays
    async with running_with_fakes(time_env, task_queue, policy=policy) as store:
        started = await time_env.get_current_time()
        await start(time_env, app, task_queue)
        await eventually(lambda: kinds(store, app) == ["book_debrief"])
        task = store.tasks(process_id=app.workflow_id)[0]
        expected = add_business_hours(started, 4, policy.office_calendar())
        assert abs(task.due_at - expected) < timedelta(seconds=5)
        questions = (await eventually(lambda: [m for m in store.messages() if m.key.endswith("debrief/1/questions")]))[0]
        local = questions.send_after.astimezone(ZoneInfo("Europe/London")).time()
        assert not (local.hour >= 21 or local.hour < 8), "no message to the candidate at night"


async def test_a_debrief_reported_before_its_interview_counts(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        await send(time_env, app, task_queue, app.event("candidate.debriefed", GOOD_DEBRIEF))
        await eventually(lambda: _stage_is(time_env, app, "awaiting_client"))
        # Round 2's debrief arrives before the ATS reports round 2 happened.
        await send(time_env, app, task_queue, app.event("candidate.debriefed", {**GOOD_DEBRIEF, "round": 2}), app.interview(2))
        await eventually(lambda: _events_seen(time_env, app, 4))
        current = await status_when(time_env.client, app.source, app.application_id, lambda s: len(s.debriefs) == 2 and s.stage == "awaiting_client")
        assert current.debriefs[1].recorded_at is not None
        # A silent client: once three business days have passed (how many calendar days that is
        # depends on the day and hour this runs), only the chase of round 2's decision
        # (tests/workflows/test_client_chase.py). A day at a time, so the chase is seen before
        # its escalation.
        for _ in range(7):
            await time_env.sleep(timedelta(days=1))
            try:
                await eventually(lambda: bool(kinds(store, app)), timeout=2, what="a task")
                break
            except AssertionError:
                continue
        assert not [m for m in templates(store, app) if m.startswith("debrief/2/")], "no questions, reminder or escalation for a debriefed round"
        assert kinds(store, app) == ["chase_client"]
        assert store.tasks(status="open", process_id=app.workflow_id)[0].key.endswith("/client-chase/2/chase")


async def test_an_event_with_ids_only_keeps_the_names_already_known(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        # Some ATSs send ids only (Lever, Ashby): the process must not forget who the candidate is.
        app.candidate = {"id": app.candidate["id"]}
        app.recruiter = {"id": "rec-1"}
        await send(time_env, app, task_queue, app.event("client.feedback_requested"))
        await eventually(lambda: "urgent_debrief" in kinds(store, app))
        urgent = [t for t in store.tasks(status="open", process_id=app.workflow_id) if t.kind == "urgent_debrief"][0]
        assert "Ada Lovelace" in urgent.title


async def test_a_rejection_while_reference_checks_are_starting_still_closes_cleanly(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        await send(
            time_env, app, task_queue,
            app.event("referee.consented", {"referee_id": "ref-q"}),
            app.references("ref-q"),
            app.event("candidate.rejected", {"reason": "role filled"}),
        )  # fmt: skip
        final = await process_handle(time_env.client, app.source, app.application_id).result()
        assert final.stage == "closed" and final.referees[0].state == "cancelled"
        await time_env.sleep(timedelta(days=10))
        assert not [m for m in referee_messages(store, app, "ref-q") if m.startswith("reminder")], "nobody chased after the rejection"
        assert kinds(store, app) == ["closure_feedback", "face_to_face"]


async def test_consent_after_the_check_gave_up_starts_it_again(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        await send(time_env, app, task_queue, app.references("ref-r"))
        await eventually(lambda: referee_messages(store, app, "ref-r") == ["consent-request"])
        await time_env.sleep(timedelta(days=10))
        await eventually(lambda: _referee_is(time_env, app, "ref-r", "no_consent"))
        await send(time_env, app, task_queue, app.event("referee.consented", {"referee_id": "ref-r"}))
        await eventually(lambda: "request" in referee_messages(store, app, "ref-r"), what="the request after late consent")
        await eventually(lambda: _referee_is(time_env, app, "ref-r", "requested"))


async def test_a_repeated_interview_report_does_not_move_the_process_back(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue):
        await start(time_env, app, task_queue)
        await send(time_env, app, task_queue, app.event("candidate.debriefed", GOOD_DEBRIEF))
        await eventually(lambda: _stage_is(time_env, app, "awaiting_client"))
        await send(time_env, app, task_queue, app.interview(1), app.interview(1, "interview.scheduled"))
        await eventually(lambda: _events_seen(time_env, app, 4))
        await time_env.sleep(timedelta(minutes=1))
        assert (await status(time_env, app)).stage == "awaiting_client"


async def test_parties_the_sender_only_assumed_never_replace_known_ones(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await start(time_env, app, task_queue)
        # An offer webhook that names no candidate and no recruiter (placeholder and desk default).
        offer = app.offer().model_copy(
            update={
                "candidate": app.offer().candidate.model_copy(update={"id": "unknown-candidate-x", "name": None, "email": None}),
                "recruiter": app.offer().recruiter.model_copy(update={"id": "recruiting-desk", "name": "Recruiting desk", "lead": None}),
                "assumed": ["candidate", "recruiter"],
            }
        )
        await send(time_env, app, task_queue, offer, app.event("candidate.rejected", {"reason": "no"}))
        final = await process_handle(time_env.client, app.source, app.application_id).result()
        assert final.stage == "closed"
        feedback = [t for t in store.tasks(process_id=app.workflow_id) if t.kind == "closure_feedback"][0]
        assert feedback.assignee_id == "rec-1" and "Ada Lovelace" in feedback.title
