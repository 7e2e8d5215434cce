"""Interview truth from schedules (issue 10), on the time-skipping server.

An ATS that only reports schedules (Greenhouse, Lever, Ashby, Bullhorn) never says an interview
happened: the process takes a scheduled interview as having happened once its end and the grace
period have passed, unless it was moved or cancelled meanwhile, and an explicit
`interview.completed` still wins, never doubled. Rounds the ATS leaves out are numbered by the
order the application's interviews take place. Also here: the close-out that fits what happened,
one debrief task per round, open tasks taking the names once known, and `can_email: false`.

The activities are the in-memory fakes (tests/workflows/fakes.py); the policy is continuous time
(tests.harness.CONTINUOUS): 60-minute interviews by default, taken as over 30 minutes after.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.events import CanonicalEvent
from domain.status import ProcessStatus
from process_client import Delivery, deliver_event, process_status
from tests.events import GOOD_DEBRIEF, Application
from tests.harness import eventually
from tests.workflows.fakes import FakeStore, running_with_fakes


def kinds(store: FakeStore, app: Application, status: str | None = "open") -> list[str]:
    return sorted(t.kind for t in store.tasks(status=status) if t.process_id.startswith(app.workflow_id))


def purposes(store: FakeStore, app: Application) -> list[str]:
    return [m.key.removeprefix(app.workflow_id + "/") for m in store.messages() if m.key.startswith(app.workflow_id)]


def scheduled(app: Application, interview_id: str, at: datetime, type_: str = "interview.scheduled", **data: Any) -> CanonicalEvent:
    """An interview as the schedule-only vendors report it: no round unless given."""
    return app.event(type_, {"interview_id": interview_id, "at": at.isoformat(), **{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}})


async def status(env, app: Application) -> ProcessStatus:
    return await process_status(env.client, app.source, app.application_id)


async def rounds(env, app: Application) -> list[int]:
    return [d.round for d in (await status(env, app)).debriefs]


async def send(env, task_queue: str, *events: CanonicalEvent) -> None:
    for event in events:
        assert await deliver_event(env.client, event, task_queue) == Delivery.DELIVERED


# --- taken as having happened ----------------------------------------------------------------


async def test_a_scheduled_interview_is_taken_as_having_happened_after_its_end_and_the_grace(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        now = await time_env.get_current_time()
        panel = [{"id": "u-1", "name": "Grace Hopper"}, {"id": "u-2", "name": "Alan Turing"}]
        await send(time_env, task_queue, scheduled(app, "gh-int-1", now + timedelta(hours=2), ends_at=now + timedelta(hours=3), interviewers=panel))
        # What interview.scheduled always did: the candidate is prepared, the recruiter briefs them.
        await eventually(lambda: kinds(store, app) == ["brief_candidate"], what="brief task")
        preparation = store.message(f"{app.workflow_id}/follow-up/1/preparation")
        assert preparation is not None and "Grace Hopper, Alan Turing" in preparation.body
        end = now + timedelta(hours=3, minutes=30)
        assert f"taken as having happened at {end:%Y-%m-%d %H:%M} UTC" in (await status(time_env, app)).waiting_for

        await time_env.sleep(timedelta(hours=3, minutes=20))  # over, but within the grace period
        assert "book_debrief" not in kinds(store, app)
        assert await rounds(time_env, app) == []

        await time_env.sleep(timedelta(minutes=15))  # end + 30 minutes passed
        await eventually(lambda: kinds(store, app) == ["book_debrief"], what="the debrief duty")
        assert "Ada Lovelace" in store.tasks(status="open", process_id=app.workflow_id)[0].title
        assert await rounds(time_env, app) == [1]
        assert "debrief/1/questions" in purposes(store, app)
        # The brief was for an interview that has now taken place.
        assert kinds(store, app, "done") == ["brief_candidate"]


async def test_an_interview_reported_after_it_began_is_not_prepared_for(time_env, task_queue):
    """A poller's look-back or a booking entered after the fact: no preparation message and no
    brief for a meeting that is over, only the debrief once its end and grace have passed."""
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        now = await time_env.get_current_time()
        await send(time_env, task_queue, scheduled(app, "gh-int-past", now - timedelta(hours=2), ends_at=now - timedelta(hours=1)))
        await eventually(lambda: kinds(store, app) == ["book_debrief"], what="the debrief duty")
        assert await rounds(time_env, app) == [1]
        assert "follow-up/1/preparation" not in purposes(store, app) and "debrief/1/questions" in purposes(store, app)
        assert kinds(store, app, None) == ["book_debrief"]  # no brief, not even a closed one

        # One that is under way now: taken as having happened at its end, never prepared for.
        other = Application()
        await send(time_env, task_queue, scheduled(other, "gh-int-now", now - timedelta(minutes=10), ends_at=now + timedelta(minutes=50)))
        await time_env.sleep(timedelta(minutes=30))
        assert kinds(store, other, None) == [] and purposes(store, other) == []
        await time_env.sleep(timedelta(minutes=60))
        await eventually(lambda: kinds(store, other) == ["book_debrief"], what="the debrief after its end")


async def test_the_end_is_its_start_plus_its_length_or_the_policy_default(time_env, task_queue):
    timed, untimed = Application(), Application()
    async with running_with_fakes(time_env, task_queue) as store:
        now = await time_env.get_current_time()
        await send(time_env, task_queue, scheduled(timed, "lv-1", now, duration_minutes=15), scheduled(untimed, "lv-2", now))
        await time_env.sleep(timedelta(minutes=50))  # 15 + 30 passed; 60 + 30 not yet
        await eventually(lambda: "book_debrief" in kinds(store, timed), what="the 15-minute interview's debrief")
        assert "book_debrief" not in kinds(store, untimed)
        await time_env.sleep(timedelta(minutes=45))
        await eventually(lambda: "book_debrief" in kinds(store, untimed), what="the default-length interview's debrief")


async def test_a_rescheduled_interview_is_watched_at_its_new_time(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        now = await time_env.get_current_time()
        await send(time_env, task_queue, scheduled(app, "ab-1", now + timedelta(hours=1)))
        await eventually(lambda: kinds(store, app) == ["brief_candidate"])
        await send(time_env, task_queue, scheduled(app, "ab-1", now + timedelta(days=2), "interview.rescheduled"))
        await time_env.sleep(timedelta(hours=6))  # the first time has long passed
        assert await rounds(time_env, app) == []
        assert "book_debrief" not in kinds(store, app)
        await time_env.sleep(timedelta(days=2))
        await eventually(lambda: "book_debrief" in kinds(store, app), what="the debrief after the new time")
        current = await status(time_env, app)
        assert [d.round for d in current.debriefs] == [1]
        assert current.debriefs[0].interview_at == now + timedelta(days=2)


async def test_a_cancelled_interview_never_starts_a_debrief_and_its_brief_is_cancelled(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        now = await time_env.get_current_time()
        await send(time_env, task_queue, scheduled(app, "gh-9", now + timedelta(days=1)))
        await eventually(lambda: kinds(store, app) == ["brief_candidate"])
        await send(time_env, task_queue, app.event("interview.cancelled", {"interview_id": "gh-9", "reason": "the hiring manager is ill"}))
        await eventually(lambda: kinds(store, app, "cancelled") == ["brief_candidate"], what="the brief cancelled")
        await time_env.sleep(timedelta(days=3))
        assert await rounds(time_env, app) == []
        assert kinds(store, app) == []
        messages_before = purposes(store, app)

        # A process that exists but whose interview never took place closes with nothing new.
        await send(time_env, task_queue, app.event("candidate.rejected", {"reason": "position filled"}))
        await eventually(lambda: status(time_env, app), what="the process")
        await eventually(lambda: _closed(time_env, app), what="the process to close")
        assert kinds(store, app) == []
        assert sorted(t.kind for t in store.tasks(process_id=app.workflow_id)) == ["brief_candidate"]
        assert purposes(store, app) == messages_before == ["follow-up/1/preparation"]
        assert not [t for t in store.tasks() if t.kind == "check_in"]


async def test_an_explicit_completion_wins_and_is_never_doubled(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        now = await time_env.get_current_time()
        # Reported completed before its schedule's end: the watch stands down.
        await send(time_env, task_queue, scheduled(app, "int-a", now + timedelta(minutes=10)))
        await time_env.sleep(timedelta(minutes=40))
        await send(time_env, task_queue, scheduled(app, "int-a", now + timedelta(minutes=10), "interview.completed"))
        await eventually(lambda: "book_debrief" in kinds(store, app))
        await time_env.sleep(timedelta(hours=2))
        assert await rounds(time_env, app) == [1]

        # Taken as having happened from its schedule, then reported completed late: one round.
        later = await time_env.get_current_time()
        await send(time_env, task_queue, scheduled(app, "int-b", later + timedelta(hours=1)))
        await time_env.sleep(timedelta(hours=3))
        await eventually(lambda: _rounds_are(time_env, app, [1, 2]), what="round 2 from the schedule")
        await send(time_env, task_queue, scheduled(app, "int-b", later + timedelta(hours=1), "interview.completed"))
        # ... and a reschedule after it took place (an ATS tidying up) re-arms nothing.
        await send(time_env, task_queue, scheduled(app, "int-b", later + timedelta(hours=5), "interview.rescheduled"))
        await time_env.sleep(timedelta(hours=6))
        await eventually(lambda: _events_seen(time_env, app, 5))
        assert await rounds(time_env, app) == [1, 2]
        debrief_tasks = [t.key for t in store.tasks(process_id=app.workflow_id) if t.kind == "book_debrief"]
        assert sorted(debrief_tasks) == [f"{app.workflow_id}/debrief/1/book-call", f"{app.workflow_id}/debrief/2/book-call"]


async def test_rounds_follow_the_order_interviews_take_place_and_an_explicit_round_is_respected(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        now = await time_env.get_current_time()
        # Reported out of order: the later interview first.
        await send(
            time_env,
            task_queue,
            scheduled(app, "onsite", now + timedelta(days=2)),
            scheduled(app, "phone-screen", now + timedelta(days=1)),
        )
        await time_env.sleep(timedelta(days=1, hours=2))
        await eventually(lambda: _rounds_are(time_env, app, [1]), what="round 1")
        assert (await status(time_env, app)).debriefs[0].interview_at == now + timedelta(days=1)
        await send(time_env, task_queue, app.event("candidate.debriefed", GOOD_DEBRIEF))
        await time_env.sleep(timedelta(days=1))
        await eventually(lambda: _rounds_are(time_env, app, [1, 2]), what="round 2")
        assert (await status(time_env, app)).debriefs[1].interview_at == now + timedelta(days=2)
        # The same interview reported with its own id again adds nothing; the ATS's round counts.
        await send(time_env, task_queue, scheduled(app, "final", now + timedelta(days=4), round=4))
        await time_env.sleep(timedelta(days=2))
        await eventually(lambda: _rounds_are(time_env, app, [1, 2, 4]), what="the ATS's round 4")
        titles = sorted(t.title for t in store.tasks(process_id=app.workflow_id) if t.kind == "book_debrief")
        assert [title.rsplit("(", 1)[1] for title in titles] == ["round 1)", "round 2)", "round 4)"]


# --- the close-out fits what happened ----------------------------------------------------------


async def test_after_an_interview_the_close_out_thanks_the_interviewers_by_name(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        now = await time_env.get_current_time()
        panel = [{"name": "Grace Hopper"}, {"name": "Alan Turing"}]
        await send(time_env, task_queue, scheduled(app, "i-1", now - timedelta(hours=3), ends_at=now - timedelta(hours=2), interviewers=panel))
        await eventually(lambda: "book_debrief" in kinds(store, app))
        await send(time_env, task_queue, app.event("candidate.rejected", {"reason": "client chose another", "met_in_person": True}))
        await eventually(lambda: _closed(time_env, app))
        # Met in person: no face-to-face; an interview took place: feedback, and the thank-you.
        assert sorted(t.kind for t in store.tasks(process_id=app.workflow_id) if "/close/" in t.key) == ["closure_feedback"]
        closing = store.message(f"{app.workflow_id}/close/next-steps")
        assert closing is not None and "Grace Hopper, Alan Turing" in closing.body


async def test_rejected_right_after_the_interview_ended_still_gets_the_close_out(time_env, task_queue):
    """Over, but within the grace period: the interview happened all the same."""
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        now = await time_env.get_current_time()
        await send(time_env, task_queue, scheduled(app, "i-1", now - timedelta(minutes=70)))  # ended 10 minutes ago
        await send(time_env, task_queue, app.event("candidate.rejected", {"reason": "not a fit"}))
        await eventually(lambda: _closed(time_env, app))
        assert sorted(t.kind for t in store.tasks(process_id=app.workflow_id) if "/close/" in t.key) == ["closure_feedback", "face_to_face"]
        assert "close/next-steps" in purposes(store, app)


async def test_a_candidate_who_must_not_be_emailed_gets_no_message_and_the_recruiter_still_gets_tasks(time_env, task_queue):
    app = Application()
    app.candidate["can_email"] = False
    async with running_with_fakes(time_env, task_queue) as store:
        now = await time_env.get_current_time()
        await send(time_env, task_queue, scheduled(app, "i-1", now + timedelta(hours=1)))
        await time_env.sleep(timedelta(hours=3))
        await eventually(lambda: kinds(store, app) == ["book_debrief"], what="the debrief task")
        # A later ids-only event (can_email omitted) keeps what is known.
        await send(time_env, task_queue, app.event("client.feedback_requested"))
        await send(time_env, task_queue, app.event("candidate.rejected", {"reason": "client chose another"}))
        await eventually(lambda: _closed(time_env, app))
        assert [m for m in store.messages(recipient_role="candidate") if m.process_id == app.workflow_id] == []
        assert {"brief_candidate", "urgent_debrief", "closure_feedback", "face_to_face"} <= {t.kind for t in store.tasks(process_id=app.workflow_id)}


# --- one debrief task per round; tasks take the names --------------------------------------------


async def test_names_known_later_move_the_open_tasks_and_an_urgent_debrief_replaces_the_booking(time_env, task_queue):
    app = Application(source="api")
    ids_only = app.event("interview.completed", {"interview_id": "as-1", "at": (await time_env.get_current_time()).isoformat()})
    ids_only = ids_only.model_copy(
        update={
            "candidate": ids_only.candidate.model_copy(update={"name": None, "email": None}),
            "recruiter": ids_only.recruiter.model_copy(update={"id": "recruiting-desk", "name": None, "email": None, "lead": None}),
            "assumed": ["recruiter"],
        }
    )
    async with running_with_fakes(time_env, task_queue) as store:
        await send(time_env, task_queue, ids_only)
        await eventually(lambda: kinds(store, app) == ["book_debrief"])
        first = store.tasks(process_id=app.workflow_id)[0]
        assert first.assignee_id == "recruiting-desk" and f"the candidate for application {app.application_id}" in first.title

        # The hiring team arrives with the client's request for feedback.
        await send(time_env, task_queue, app.event("client.feedback_requested"))
        await eventually(lambda: kinds(store, app) == ["send_feedback", "urgent_debrief"], what="one debrief task for round 1")
        booking = store.task(first.key)
        assert booking.status == "cancelled" or booking.assignee_id == "rec-1"
        urgent = next(t for t in store.tasks(status="open") if t.process_id == app.workflow_id and t.kind == "urgent_debrief")
        assert urgent.assignee_id == "rec-1"
        assert [t for t in store.tasks(status="open", process_id=app.workflow_id) if t.kind in ("book_debrief", "urgent_debrief")] == [urgent]
        # The process lists a task once its activity's result is back (a moment after the store has it).
        current = await eventually(lambda: _with_open_tasks(time_env, app, 2), what="the process's own list of both tasks")
        assert [t.assignee for t in current.open_tasks] == ["rec-1", "rec-1"]  # the urgent debrief, the feedback task


async def test_open_tasks_take_the_names_when_they_become_known(time_env, task_queue):
    app = Application(source="api")
    now = await time_env.get_current_time()
    ids_only = scheduled(app, "lv-1", now + timedelta(days=1))
    ids_only = ids_only.model_copy(
        update={
            "candidate": ids_only.candidate.model_copy(update={"name": None, "email": None}),
            "recruiter": ids_only.recruiter.model_copy(update={"id": "recruiting-desk", "name": None, "email": None, "lead": None}),
            "assumed": ["recruiter"],
        }
    )
    async with running_with_fakes(time_env, task_queue) as store:
        await send(time_env, task_queue, ids_only)
        await eventually(lambda: kinds(store, app) == ["brief_candidate"])
        assert store.tasks(process_id=app.workflow_id)[0].assignee_id == "recruiting-desk"
        named = scheduled(app, "lv-1", now + timedelta(days=1))  # the same schedule, names and all
        await send(time_env, task_queue, named)

        def moved() -> bool:
            task = store.tasks(process_id=app.workflow_id)[0]
            return task.assignee_id == "rec-1" and "Ada Lovelace" in task.title

        await eventually(moved, what="the brief moved to the recruiter, with the candidate's name")
        assert (await status(time_env, app)).open_tasks[0].assignee == "rec-1"


async def _rounds_are(env, app: Application, expected: list[int]) -> bool:
    return await rounds(env, app) == expected


async def _events_seen(env, app: Application, count: int) -> bool:
    return (await status(env, app)).events_seen >= count


async def _closed(env, app: Application) -> bool:
    description = await env.client.get_workflow_handle(app.workflow_id).describe()
    return description.status is not None and description.status.name == "COMPLETED"


async def test_an_interview_still_scheduled_when_the_application_closed_is_watched_again_after_a_reopening(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        now = await time_env.get_current_time()
        await send(time_env, task_queue, app.interview(1))
        await send(time_env, task_queue, scheduled(app, "onsite", now + timedelta(days=1)))
        await send(time_env, task_queue, app.event("candidate.rejected", {"reason": "client paused the role"}))
        await eventually(lambda: _closed(time_env, app))
        assert await deliver_event(time_env.client, app.event("application.reopened", {}), task_queue) == Delivery.REOPENED
        await time_env.sleep(timedelta(days=1, hours=2))
        await eventually(lambda: _rounds_are(time_env, app, [1, 2]), what="round 2 from the schedule, after the reopening")
        assert any(t.key == f"{app.workflow_id}/debrief/2/book-call" for t in store.tasks(status="open"))


async def test_a_candidate_who_must_not_be_emailed_is_not_asked_to_nudge_a_referee(time_env, task_queue):
    app = Application()
    app.candidate["can_email"] = False
    async with running_with_fakes(time_env, task_queue) as store:
        await send(time_env, task_queue, app.interview(1), app.references("ref-q"))
        await time_env.sleep(timedelta(days=2, minutes=5))  # no consent: the candidate would be asked to confirm it
        check = f"{app.workflow_id}-referee-ref-q"
        await eventually(lambda: any(t.kind == "referee_consent" for t in store.tasks(process_id=check)), what="the recruiter's consent task")
        assert [m.key for m in store.messages(recipient_role="candidate")] == []
        assert [m.key.removeprefix(check + "/") for m in store.messages(recipient_role="referee")] == ["consent-request"]


async def _with_open_tasks(env, app, count: int):
    current = await status(env, app)
    return current if len(current.open_tasks) >= count else None
