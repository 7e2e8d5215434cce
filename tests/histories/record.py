"""Record the histories that the replay tests hold the workflow code to.

    .venv/bin/python -m tests.histories.record

Runs the main scenarios of the process on the time-skipping server with the current code and
writes each workflow run's history as JSON into a new folder next to this file
(`<date><letter>/`), named `<workflow id>.run<N>.json` (a relationship continues as new:
several runs). Record new histories when you add a
scenario; when you CHANGE a workflow, keep the old folders: they are the running processes your
change must still replay (guard the change with `workflow.patched`); the new recording goes
beside them (see README, "Changing a workflow").
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from domain.names import NURTURE_ANSWER_SIGNAL
from domain.contact import NurtureAnswer, NurtureAnswerKind
from domain.contract import referee_check_workflow_id, relationship_workflow_id
from domain.status import RelationshipState
from domain.events import InterviewData, OfferData
from domain.follow_through import TaskCompletion, TaskKind, TaskOutcome
from process_client import complete_task, deliver_event, signal_event
from tests.events import GOOD_DEBRIEF, Application
from domain.policy import PolicyBook
from tests.harness import CONTINUOUS, eventually, running_engine, start_time_skipping_server

HERE = Path(__file__).parent


def default_folder() -> Path:
    """A new folder per recording: older recordings stay, standing for processes still running."""
    today = __import__("datetime").date.today().isoformat()
    taken = {p.name for p in HERE.iterdir() if p.is_dir()}
    suffix = next(letter for letter in "abcdefghijklmnopqrstuvwxyz" if f"{today}{letter}" not in taken)
    return HERE / f"{today}{suffix}"

Scenario = Callable[[WorkflowEnvironment, str], Awaitable[dict[str, str]]]


async def late_debrief_then_follow_up(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    app = Application(application_id="rec-late-debrief")
    await deliver_event(env.client, app.interview(1), task_queue)
    await env.sleep(timedelta(days=2))  # reminder, then escalation
    await deliver_event(env.client, app.event("client.feedback_requested"), task_queue)
    await deliver_event(env.client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
    await deliver_event(env.client, app.interview(2, "interview.scheduled", at=await env.get_current_time() + timedelta(days=3)), task_queue)
    await env.sleep(timedelta(days=3))
    await deliver_event(env.client, app.interview(2), task_queue)
    await deliver_event(env.client, app.event("candidate.debriefed", {**GOOD_DEBRIEF, "round": 2}), task_queue)
    await deliver_event(env.client, app.event("candidate.withdrew", {"reason": "accepted another offer"}), task_queue)
    await _closed(env.client, app.workflow_id)
    return {"post_interview_late_debrief": app.workflow_id}


async def references_offer_and_start(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    app = Application(application_id="rec-placed")
    start_date = (await env.get_current_time()).date() + timedelta(days=20)
    await deliver_event(env.client, app.interview(1), task_queue)
    await deliver_event(env.client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
    await deliver_event(env.client, app.references("ref-fast", "ref-slow"), task_queue)
    await deliver_event(env.client, app.event("referee.consented", {"referee_id": "ref-fast"}), task_queue)
    await deliver_event(env.client, app.event("referee.consented", {"referee_id": "ref-slow"}), task_queue)
    await deliver_event(env.client, app.event("referee.responded", {"referee_id": "ref-fast"}), task_queue)
    await env.sleep(timedelta(days=4))  # reminders, a nudge, the deadline
    await deliver_event(env.client, app.offer("offer.extended"), task_queue)
    await deliver_event(env.client, app.event("referee.responded", {"referee_id": "ref-slow"}), task_queue)
    await deliver_event(env.client, app.offer("offer.accepted", start=start_date), task_queue)
    await deliver_event(env.client, app.event("contract.signed"), task_queue)
    await deliver_event(env.client, app.event("vetting.passed"), task_queue)
    await env.sleep(timedelta(days=22))  # the start date passes unconfirmed
    await deliver_event(env.client, app.event("candidate.started", {"start_date": start_date.isoformat()}), task_queue)
    await _closed(env.client, app.workflow_id)
    relationship = env.client.get_workflow_handle(relationship_workflow_id(app.source, app.candidate["id"]))
    await env.sleep(timedelta(days=100))
    await _closed(env.client, relationship.id)
    return {
        "post_interview_placed": app.workflow_id,
        "referee_check_slow": referee_check_workflow_id(app.workflow_id, "ref-slow"),
        "relationship_placed": relationship.id,
    }


async def rejected_during_references(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    app = Application(application_id="rec-rejected")
    await deliver_event(env.client, app.interview(1), task_queue)
    await deliver_event(env.client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
    await deliver_event(env.client, app.references("ref-silent", "ref-unconsenting"), task_queue)
    await deliver_event(env.client, app.event("referee.consented", {"referee_id": "ref-silent"}), task_queue)
    await env.sleep(timedelta(days=5))
    await deliver_event(env.client, app.event("candidate.rejected", {"reason": "client chose another candidate"}), task_queue)
    await _closed(env.client, app.workflow_id)
    return {
        "post_interview_rejected": app.workflow_id,
        "referee_check_cancelled": referee_check_workflow_id(app.workflow_id, "ref-silent"),
    }


async def completed_through_the_task_desk(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    """A recruiter completes tasks (inbox or task API): the `complete_task` update, its facts."""
    app = Application(application_id="rec-desk")
    wf = app.workflow_id

    def done(key: str, kind: TaskKind, outcome: TaskOutcome, **extra: object) -> TaskCompletion:
        return TaskCompletion(key=key, kind=kind, outcome=outcome, completed_by="rec-1", **extra)  # type: ignore[arg-type]

    start_date = (await env.get_current_time()).date() + timedelta(days=10)
    await deliver_event(env.client, app.interview(1), task_queue)
    await eventually(lambda: env.client.get_workflow_handle(wf).describe())
    await env.sleep(timedelta(hours=1))
    await complete_task(env.client, wf, done(f"{wf}/debrief/1/book-call", TaskKind.BOOK_DEBRIEF, TaskOutcome.DEBRIEFED, debrief=GOOD_DEBRIEF, context={"round": "1"}))
    await deliver_event(env.client, app.references("ref-desk"), task_queue)
    await env.sleep(timedelta(hours=1))
    await complete_task(env.client, wf, done(f"{wf}-referee-ref-desk/consent", TaskKind.REFEREE_CONSENT, TaskOutcome.CONSENTED))
    await env.sleep(timedelta(hours=1))
    await complete_task(env.client, wf, done(f"{wf}-referee-ref-desk/overdue", TaskKind.REFEREE_OVERDUE, TaskOutcome.REFERENCE_RECEIVED))
    await deliver_event(env.client, app.offer("offer.accepted", start=start_date), task_queue)
    await env.sleep(timedelta(days=12))  # the start date passes: a confirm-start task
    await complete_task(
        env.client, wf, done(f"{wf}/start/{start_date.isoformat()}/confirm", TaskKind.CONFIRM_START, TaskOutcome.STARTED, context={"start_date": start_date.isoformat()})
    )
    await _closed(env.client, wf)
    return {"post_interview_desk": wf, "referee_check_desk": referee_check_workflow_id(wf, "ref-desk")}


async def start_date_moved_after_it_passed(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    """The first date passes unconfirmed, then moves: the old confirmation is cancelled
    (`cancel-confirm-for-moved-start`)."""
    app = Application(application_id="rec-moved-start")
    first = (await env.get_current_time()).date() + timedelta(days=10)
    later = first + timedelta(days=21)
    await deliver_event(env.client, app.interview(1), task_queue)
    await deliver_event(env.client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
    await deliver_event(env.client, app.offer("offer.accepted", start=first), task_queue)
    await env.sleep(timedelta(days=13))
    await deliver_event(env.client, app.offer("offer.accepted", start=later), task_queue)
    await env.sleep(timedelta(hours=1))
    await deliver_event(env.client, app.event("candidate.started", {"start_date": later.isoformat()}), task_queue)
    await _closed(env.client, app.workflow_id)
    return {"post_interview_moved_start": app.workflow_id}


async def poisoned_events_skipped(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    """Events no deadline can be counted from (year 1, year 9999) are rejected and skipped, and
    a start date decades away is waited for without a timer (`skip-what-fails-for-good`,
    `no-timer-beyond-the-farthest`)."""
    app = Application(application_id="rec-poisoned")
    await deliver_event(env.client, app.interview(1), task_queue)
    year_one = app.interview(2, "interview.scheduled")
    year_one = year_one.model_copy(update={"data": InterviewData.model_construct(interview_id="int-2", round=2, at=datetime(1, 1, 1, tzinfo=UTC))})
    await deliver_event(env.client, year_one, task_queue)
    far = app.offer("offer.extended")
    await deliver_event(env.client, far.model_copy(update={"data": OfferData.model_construct(start_date=date(9999, 12, 31))}), task_queue)
    await deliver_event(env.client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
    await deliver_event(env.client, app.offer("offer.accepted", start=date(2100, 6, 1)), task_queue)
    await env.sleep(timedelta(days=2))
    await deliver_event(env.client, app.event("candidate.withdrew", {"reason": "the start date is a placeholder"}), task_queue)
    await _closed(env.client, app.workflow_id)
    return {"post_interview_poisoned": app.workflow_id}


# The client of `continued_as_new`: its processes continue as new after 10 signals, not 2,000.
CONTINUING_CLIENT = "acme-continues"


async def continued_as_new(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    """A noisy process continues as new twice: its debrief duty resumes across the boundaries
    (reminded, then escalated, in later runs), its reference check outlives the run that started
    it, and a later run closes out."""
    app = Application(application_id="rec-continued", client_id=CONTINUING_CLIENT)

    async def noise(count: int) -> None:
        for _ in range(count):  # the same interview reported again under new ids: no effect
            await deliver_event(env.client, app.interview(1), task_queue)

    await deliver_event(env.client, app.interview(1), task_queue)
    await deliver_event(env.client, app.references("ref-outlives"), task_queue)
    await noise(10)  # the first boundary: the debrief waits for its due time
    await env.sleep(timedelta(hours=5))  # due: the recruiter is reminded by the second run
    await noise(10)  # the second boundary: the debrief waits for its escalation
    await env.sleep(timedelta(days=1))  # the lead is told by the third run
    await deliver_event(env.client, app.event("referee.consented", {"referee_id": "ref-outlives"}), task_queue)
    await deliver_event(env.client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
    await env.sleep(timedelta(hours=1))
    await deliver_event(env.client, app.event("candidate.rejected", {"reason": "client chose another candidate"}), task_queue)
    await _closed(env.client, app.workflow_id)
    return {"post_interview_continued": app.workflow_id, "referee_check_outlives": referee_check_workflow_id(app.workflow_id, "ref-outlives")}


def _scheduled(app: Application, interview_id: str, at: datetime, type_: str = "interview.scheduled", **data: object):
    """An interview as the schedule-only vendors report it: no round unless given."""
    return app.event(type_, {"interview_id": interview_id, "at": at.isoformat(), **data})


async def interview_truth_and_reopen(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    """Issue 10: an ids-only first event whose tasks later take the names; a scheduled interview
    moved, then taken as having happened after its end; an urgent debrief replacing the booking;
    a cancelled interview; a late explicit completion; a rejection taken back (a new run that
    knows its history, the relationship told), a later round, and a second close."""
    app = Application(application_id="rec-truth")
    wf = app.workflow_id
    now = await env.get_current_time()
    panel = [{"id": "u-1", "name": "Grace Hopper"}]
    ids_only = _scheduled(app, "gh-1", now + timedelta(hours=1), interviewers=panel)
    ids_only = ids_only.model_copy(
        update={
            "candidate": ids_only.candidate.model_copy(update={"name": None, "email": None}),
            "recruiter": ids_only.recruiter.model_copy(update={"id": "recruiting-desk", "name": None, "email": None, "lead": None}),
            "assumed": ["recruiter"],
        }
    )
    await deliver_event(env.client, ids_only, task_queue)
    await deliver_event(env.client, _scheduled(app, "gh-1", now + timedelta(hours=1), interviewers=panel), task_queue)
    await deliver_event(env.client, _scheduled(app, "gh-1", now + timedelta(hours=3), "interview.rescheduled", duration_minutes=45), task_queue)
    await env.sleep(timedelta(hours=5))  # over, and the grace period passed: round 1
    await deliver_event(env.client, app.event("client.feedback_requested"), task_queue)
    await deliver_event(env.client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
    await deliver_event(env.client, _scheduled(app, "gh-2", now + timedelta(days=1)), task_queue)
    await deliver_event(env.client, app.event("interview.cancelled", {"interview_id": "gh-2"}), task_queue)
    await deliver_event(env.client, _scheduled(app, "gh-3", now + timedelta(days=2), ends_at=(now + timedelta(days=2, hours=1)).isoformat()), task_queue)
    await env.sleep(timedelta(days=2, hours=1))
    await deliver_event(env.client, _scheduled(app, "gh-3", now + timedelta(days=2), "interview.completed"), task_queue)
    await env.sleep(timedelta(hours=1))
    await deliver_event(env.client, app.event("candidate.rejected", {"reason": "client chose another candidate"}), task_queue)
    await _closed(env.client, wf)
    closed_run = (await env.client.get_workflow_handle(wf).describe()).run_id
    await deliver_event(env.client, app.event("application.reopened", {"reason": "unreject_candidate"}), task_queue)
    await eventually(lambda: _running(env.client, wf), what="the reopened run")
    await deliver_event(env.client, _scheduled(app, "gh-4", await env.get_current_time(), "interview.completed"), task_queue)
    await env.sleep(timedelta(hours=1))
    await deliver_event(env.client, app.event("candidate.withdrew", {"reason": "accepted another offer"}), task_queue)
    await _closed(env.client, wf)
    relationship = relationship_workflow_id(app.source, app.candidate["id"])  # handed over, told of the reopening, handed over again
    return {"post_interview_truth": wf, "post_interview_truth_closed": f"{wf}@{closed_run}", "relationship_truth": relationship}


async def closed_before_any_interview(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    """Issue 10: the only interview is cancelled, then the candidate withdraws, and a reopening
    reaches the run while it closes (it continues as new)."""
    app = Application(application_id="rec-never-met")
    now = await env.get_current_time()
    await deliver_event(env.client, _scheduled(app, "gh-9", now + timedelta(days=1)), task_queue)
    await deliver_event(env.client, app.event("interview.cancelled", {"interview_id": "gh-9"}), task_queue)
    await deliver_event(env.client, app.event("candidate.withdrew", {"reason": "moving abroad"}), task_queue)
    await deliver_event(env.client, app.event("application.reopened", {}), task_queue)
    await env.sleep(timedelta(hours=1))
    await deliver_event(env.client, app.event("candidate.rejected", {"reason": "role withdrawn"}), task_queue)
    await _closed(env.client, app.workflow_id)
    return {"post_interview_never_met": app.workflow_id}


async def client_chased_across_runs(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    """Issue 14: a silent client after the debrief. The recruiter is asked to chase on day 3, the
    process continues as new while the chase waits, the next run escalates it to the lead and tells
    the candidate "no news yet"; the client then asks for feedback (the chase ends, its tasks are
    cancelled) and rejects the candidate."""
    app = Application(application_id="rec-client-chase", client_id=CONTINUING_CLIENT)
    await deliver_event(env.client, app.interview(1), task_queue)
    await deliver_event(env.client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
    await env.sleep(timedelta(days=3, hours=1))  # the chase task
    for _ in range(10):  # the same interview reported again: a boundary while the chase waits
        await deliver_event(env.client, app.interview(1), task_queue)
    await env.sleep(timedelta(days=2, hours=1))  # escalated, and the candidate's first update
    await deliver_event(env.client, app.event("client.feedback_requested"), task_queue)
    await env.sleep(timedelta(hours=1))
    await deliver_event(env.client, app.event("candidate.rejected", {"reason": "client chose another candidate"}), task_queue)
    await _closed(env.client, app.workflow_id)
    return {"post_interview_client_chase": app.workflow_id}


async def contract_stalls_to_the_first_day(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    """Issue 14, keep the search going: the offer accepted, the contract unsigned for 5 days (a
    chase, the candidate reminded), the process continues as new while the chase waits, the next
    run escalates it; the contract signed (the chase done, still `offer`), the vetting open 5 days
    before the first day (a chase, the candidate reminded), passed (`starting`), the first day."""
    app = Application(application_id="rec-keep-search", client_id=CONTINUING_CLIENT)
    start_date = (await env.get_current_time()).date() + timedelta(days=14)
    await deliver_event(env.client, app.interview(1), task_queue)
    await deliver_event(env.client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
    await deliver_event(env.client, app.offer("offer.accepted", start=start_date), task_queue)
    await env.sleep(timedelta(days=5, hours=1))  # the contract chase
    for _ in range(10):  # the same interview reported again: a boundary while the chases wait
        await deliver_event(env.client, app.interview(1), task_queue)
    await env.sleep(timedelta(days=2))  # escalated by the next run
    await deliver_event(env.client, app.event("contract.signed"), task_queue)
    await env.sleep(timedelta(days=3))  # 5 days before the first day: the vetting chase
    await deliver_event(env.client, app.event("vetting.passed"), task_queue)
    await env.sleep(timedelta(days=5))
    await deliver_event(env.client, app.event("candidate.started", {"start_date": start_date.isoformat()}), task_queue)
    await _closed(env.client, app.workflow_id)
    return {"post_interview_keep_search": app.workflow_id}


async def offer_falls_through(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    """Issue 14: an offer withdrawn by the client, a vetting failed, a candidate who reneges after
    signing the contract: each closes with its close-out and hands the candidate over."""
    withdrawn = Application(application_id="rec-offer-withdrawn")
    failed = Application(application_id="rec-vetting-failed")
    reneged = Application(application_id="rec-reneged")
    start_date = (await env.get_current_time()).date() + timedelta(days=30)
    for app in (withdrawn, failed, reneged):
        await deliver_event(env.client, app.interview(1), task_queue)
        await deliver_event(env.client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
    await deliver_event(env.client, withdrawn.offer("offer.extended", start=start_date), task_queue)
    await deliver_event(env.client, failed.offer("offer.accepted", start=start_date), task_queue)
    await deliver_event(env.client, reneged.offer("offer.accepted", start=start_date), task_queue)
    await deliver_event(env.client, reneged.event("contract.signed"), task_queue)
    await env.sleep(timedelta(days=6))  # the failed vetting's contract is chased meanwhile
    await deliver_event(env.client, withdrawn.event("offer.withdrawn", {"reason": "the role's budget was frozen"}), task_queue)
    await deliver_event(env.client, failed.event("vetting.failed", {"reason": "the credit check failed"}), task_queue)
    await deliver_event(env.client, reneged.event("candidate.reneged", {"reason": "accepted a counter-offer", "met_in_person": True}), task_queue)
    for app in (withdrawn, failed, reneged):
        await _closed(env.client, app.workflow_id)
    return {"post_interview_offer_withdrawn": withdrawn.workflow_id, "post_interview_vetting_failed": failed.workflow_id, "post_interview_reneged": reneged.workflow_id}


async def reneged_then_reopened(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    """A candidate reneges after signing; the application is reopened and the offer accepted
    again (`reopen-forgets-the-fallen-offer`: the new acceptance's contract is chased), then the
    contract signed and vetting passed for it, and the candidate starts."""
    app = Application(application_id="rec-reneged-reopened")
    await deliver_event(env.client, app.interview(1), task_queue)
    await deliver_event(env.client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
    await deliver_event(env.client, app.offer("offer.accepted"), task_queue)
    await deliver_event(env.client, app.event("contract.signed"), task_queue)
    await deliver_event(env.client, app.event("candidate.reneged", {"reason": "accepted a counter-offer", "met_in_person": True}), task_queue)
    await _closed(env.client, app.workflow_id)
    closed_run = (await env.client.get_workflow_handle(app.workflow_id).describe()).run_id
    await deliver_event(env.client, app.event("application.reopened", {"reason": "the counter-offer fell through"}), task_queue)
    await eventually(lambda: _running(env.client, app.workflow_id), what="the reopened run")
    await env.sleep(timedelta(hours=2))
    start_date = (await env.get_current_time()).date() + timedelta(days=30)
    await deliver_event(env.client, app.offer("offer.accepted", start=start_date), task_queue)
    await env.sleep(timedelta(days=8))  # the new acceptance's contract chased
    await deliver_event(env.client, app.event("contract.signed"), task_queue)
    await deliver_event(env.client, app.event("vetting.passed"), task_queue)
    await deliver_event(env.client, app.event("candidate.started", {"start_date": start_date.isoformat()}), task_queue)
    await _closed(env.client, app.workflow_id)
    return {"post_interview_reneged_reopened": app.workflow_id, "post_interview_reneged_closed": f"{app.workflow_id}@{closed_run}"}


async def _running(client: Client, workflow_id: str) -> bool:
    return (await client.get_workflow_handle(workflow_id).describe()).status == WorkflowExecutionStatus.RUNNING


async def signal_burst(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    """A burst of signals at once (more than one activation's share): worked off a batch per
    activation, with a 1 ms timer between batches (workflows/_arrivals.py)."""
    app = Application(application_id="rec-burst")
    await deliver_event(env.client, app.interview(1), task_queue)
    await asyncio.gather(*(signal_event(env.client, app.interview(1)) for _ in range(250)))
    await deliver_event(env.client, app.event("candidate.withdrew", {"reason": "accepted another offer"}), task_queue)
    await _closed(env.client, app.workflow_id)
    return {"post_interview_burst": app.workflow_id}


async def _closed(client: Client, workflow_id: str) -> None:
    # Polls rather than awaiting the result: a result long-poll on the time-skipping server can
    # time out while other workflows hold timers.
    async def is_closed() -> bool:
        return (await client.get_workflow_handle(workflow_id).describe()).status != WorkflowExecutionStatus.RUNNING

    await eventually(is_closed, timeout=30, what=f"{workflow_id} to close")


async def interview_reported_after_it_began(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    """An interview a poller reports as scheduled when it is over already (a look-back): no
    preparation, the debrief once its end and grace have passed; then the candidate withdraws."""
    app = Application(application_id="rec-past-interview")
    now = await env.get_current_time()
    past = app.event("interview.scheduled", {"interview_id": "gh-past", "at": (now - timedelta(hours=2)).isoformat(), "ends_at": (now - timedelta(hours=1)).isoformat()})
    await deliver_event(env.client, past, task_queue)
    await env.sleep(timedelta(hours=1))
    await deliver_event(env.client, app.event("candidate.withdrew", {"reason": "accepted another offer"}), task_queue)
    await _closed(env.client, app.workflow_id)
    return {"post_interview_past_interview": app.workflow_id}


async def feedback_carries_the_debrief(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    """Issue 14, feedback with substance: an interview with a named panel (the debrief questions
    thank them by name); the client asks for feedback before the debrief (the feedback task at
    once, saying it is not in yet), the debrief comes (the same task gets it, the recruiter is
    told, the round noted on the ATS), a better debrief replaces it (the task updated); a second
    round debriefed, then asked for (a task that carries it); the rejection's feedback task names
    the interviewers."""
    app = Application(application_id="rec-feedback-debrief")
    now = await env.get_current_time()
    panel = [{"id": "u-1", "name": "Grace Hopper"}, {"id": "u-2", "name": "Alan Turing"}]
    await deliver_event(env.client, app.event("interview.completed", {"interview_id": "gh-1", "round": 1, "at": now.isoformat(), "interviewers": panel}), task_queue)
    await env.sleep(timedelta(hours=1))
    await deliver_event(env.client, app.event("client.feedback_requested"), task_queue)
    await env.sleep(timedelta(minutes=30))
    await deliver_event(env.client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
    await env.sleep(timedelta(minutes=30))
    better = {**GOOD_DEBRIEF, "summary": GOOD_DEBRIEF["summary"] + " On reflection the questions on controls went best.", "interest": 5}
    await deliver_event(env.client, app.event("candidate.debriefed", better), task_queue)
    await env.sleep(timedelta(hours=1))
    await deliver_event(env.client, app.interview(2), task_queue)
    await deliver_event(env.client, app.event("candidate.debriefed", {**GOOD_DEBRIEF, "round": 2}), task_queue)
    await env.sleep(timedelta(hours=1))
    await deliver_event(env.client, app.event("client.feedback_requested"), task_queue)
    await env.sleep(timedelta(hours=1))
    await deliver_event(env.client, app.event("candidate.rejected", {"reason": "client chose another candidate", "met_in_person": True}), task_queue)
    await _closed(env.client, app.workflow_id)
    return {"post_interview_feedback_debrief": app.workflow_id}


# The client of `enough_references`: two references are enough (the policy's references_needed).
TWO_REFERENCES_CLIENT = "acme-two-references"


async def referee_declines_and_is_replaced(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    """Issue 14: a referee declines after being asked (`referee-declined`: no more chasing, the
    recruiter told, the candidate asked for another), a replacement is added (`referee-added`)
    and answers, the offer waits for it; then the candidate withdraws."""
    app = Application(application_id="rec-declined")
    await deliver_event(env.client, app.interview(1), task_queue)
    await deliver_event(env.client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
    await deliver_event(env.client, app.references("ref-yes", "ref-no", required=True), task_queue)
    await deliver_event(env.client, app.event("referee.consented", {"referee_id": "ref-yes"}), task_queue)
    await deliver_event(env.client, app.event("referee.consented", {"referee_id": "ref-no"}), task_queue)
    await env.sleep(timedelta(days=1, hours=1))  # both asked, both reminded once
    await deliver_event(env.client, app.event("referee.declined", {"referee_id": "ref-no", "reason": "I never managed the candidate."}), task_queue)
    await deliver_event(env.client, app.event("referee.responded", {"referee_id": "ref-yes"}), task_queue)
    await deliver_event(env.client, app.offer("offer.extended"), task_queue)
    await env.sleep(timedelta(hours=2))
    replacement = {"id": "ref-new", "name": "Referee ref-new", "email": "ref-new@example.org", "relationship": "former team lead"}
    await deliver_event(env.client, app.event("referee.added", {"referee": replacement, "replaces": "ref-no"}), task_queue)
    await env.sleep(timedelta(hours=2))
    await deliver_event(env.client, app.event("referee.consented", {"referee_id": "ref-new"}), task_queue)
    await env.sleep(timedelta(hours=2))
    await deliver_event(env.client, app.event("referee.responded", {"referee_id": "ref-new"}), task_queue)
    await env.sleep(timedelta(hours=1))
    await deliver_event(env.client, app.event("candidate.withdrew", {"reason": "accepted another offer"}), task_queue)
    await _closed(env.client, app.workflow_id)
    return {
        "post_interview_declined": app.workflow_id,
        "referee_check_declined": referee_check_workflow_id(app.workflow_id, "ref-no"),
        "referee_check_replacement": referee_check_workflow_id(app.workflow_id, "ref-new"),
    }


async def enough_references(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    """Issue 14: two of three references are enough (`references-n-of-m`): the third referee's
    check stands down and they hear they are no longer needed; the offer is no longer blocked."""
    app = Application(application_id="rec-two-of-three", client_id=TWO_REFERENCES_CLIENT)
    await deliver_event(env.client, app.interview(1), task_queue)
    await deliver_event(env.client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
    await deliver_event(env.client, app.references("ref-one", "ref-two", "ref-three", required=True), task_queue)
    for referee in ("ref-one", "ref-two", "ref-three"):
        await deliver_event(env.client, app.event("referee.consented", {"referee_id": referee}), task_queue)
    await env.sleep(timedelta(hours=3))
    await deliver_event(env.client, app.event("referee.responded", {"referee_id": "ref-one"}), task_queue)
    await deliver_event(env.client, app.event("referee.responded", {"referee_id": "ref-two"}), task_queue)
    await env.sleep(timedelta(hours=3))
    await deliver_event(env.client, app.event("candidate.rejected", {"reason": "client chose another candidate"}), task_queue)
    await _closed(env.client, app.workflow_id)
    return {"post_interview_two_of_three": app.workflow_id, "referee_check_not_needed": referee_check_workflow_id(app.workflow_id, "ref-three")}


async def nurture_answered(env: WorkflowEnvironment, task_queue: str) -> dict[str, str]:
    """Issue 14, nurture: a rejected candidate's 90-day check-in messages them (patch
    `nurture-reaches-the-candidate`); they answer "open" (a call task), the next run takes "not
    now" (the 365-day check-in moves), then "stop" (opted out: tasks cancelled, the relationship
    ends). An answer sent twice is taken once."""
    app = Application(application_id="rec-nurture")
    await deliver_event(env.client, app.interview(1), task_queue)
    await deliver_event(env.client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
    await deliver_event(env.client, app.event("candidate.rejected", {"reason": "client chose another candidate", "met_in_person": True}), task_queue)
    await _closed(env.client, app.workflow_id)
    relationship = relationship_workflow_id(app.source, app.candidate["id"])
    handle = env.client.get_workflow_handle(relationship)
    await env.sleep(timedelta(days=91))  # the 90-day check-in: the task, and the candidate's message

    async def state() -> RelationshipState:
        return await handle.query("status", result_type=RelationshipState)

    await eventually(lambda: _done(state()), what="the first check-in")
    now = await env.get_current_time()
    for kind, times in ((NurtureAnswerKind.OPEN, 2), (NurtureAnswerKind.NOT_NOW, 1)):
        for _ in range(times):
            await handle.signal(NURTURE_ANSWER_SIGNAL, NurtureAnswer(answer_id=f"link:rec-{kind.value}", answer=kind, at=now))
        await eventually(lambda: _answered(state(), f"link:rec-{kind.value}"), what=f"the answer {kind.value}")
    await handle.signal(NURTURE_ANSWER_SIGNAL, NurtureAnswer(answer_id="link:rec-stop", answer=NurtureAnswerKind.STOP, at=now))
    await _closed(env.client, relationship)
    return {"relationship_nurture": relationship}


async def _done(state: Awaitable[RelationshipState]) -> bool:
    return bool((await state).done)


async def _answered(state: Awaitable[RelationshipState], answer_id: str) -> bool:
    current = await state
    return answer_id in current.answers_seen and not current.answers


SCENARIOS: list[Scenario] = [
    late_debrief_then_follow_up,
    references_offer_and_start,
    rejected_during_references,
    completed_through_the_task_desk,
    start_date_moved_after_it_passed,
    poisoned_events_skipped,
    continued_as_new,
    interview_truth_and_reopen,
    closed_before_any_interview,
    signal_burst,
    client_chased_across_runs,
    interview_reported_after_it_began,
    feedback_carries_the_debrief,
    contract_stalls_to_the_first_day,
    offer_falls_through,
    reneged_then_reopened,
    referee_declines_and_is_replaced,
    enough_references,
    nurture_answered,
]


async def _histories(client: Client, workflow_id: str) -> list[str]:
    """Every run of a workflow, oldest first (a relationship continues as new)."""
    runs = []
    handle = client.get_workflow_handle(workflow_id)
    description = await handle.describe()
    run_id: str | None = description.run_id
    # Walk back through continue-as-new chains from the latest run.
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs.append(history.to_json())
        first = history.events[0].workflow_execution_started_event_attributes
        run_id = first.continued_execution_run_id or None
    return list(reversed(runs))


async def record(out: Path | None = None) -> list[Path]:
    out = out or default_folder()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(8) as pool:
        for scenario in SCENARIOS:
            # A server per scenario: a process left waiting by the last one would hold its clock.
            env = await start_time_skipping_server()
            try:
                task_queue = f"record-{uuid.uuid4()}"
                policy = PolicyBook(
                    default=CONTINUOUS, clients={CONTINUING_CLIENT: {"signals_per_run": 10}, TWO_REFERENCES_CLIENT: {"references_needed": 2}}
                )
                async with running_engine(env, f"sqlite:///{tmp}/{task_queue}.sqlite3", task_queue, pool, policy=policy):
                    names = await scenario(env, task_queue)
                    # "id@run": a run that closed before its workflow was started again (reopened):
                    # it comes first among that workflow's runs.
                    earlier: dict[str, list[str]] = {}
                    for value in names.values():
                        if "@" in value:
                            workflow_id, run_id = value.split("@")
                            history = await env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
                            earlier.setdefault(workflow_id, []).append(history.to_json())
                    for workflow_id in (value for value in names.values() if "@" not in value):
                        runs = earlier.get(workflow_id, []) + await eventually(lambda: _histories(env.client, workflow_id))
                        for index, text in enumerate(runs):
                            # Named by workflow id (replay needs it), then the run's number.
                            path = out / f"{workflow_id}.run{index + 1}.json"
                            path.write_text(text)
                            written.append(path)
            finally:
                await env.shutdown()
    return written


if __name__ == "__main__":
    import sys

    # An explicit folder (tests/histories/<date>-<branch>/), or a new dated one.
    for path in asyncio.run(record(Path(sys.argv[1]) if len(sys.argv) > 1 else None)):
        print(f"recorded {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
