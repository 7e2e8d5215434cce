"""Feedback with substance (issue 14), on the time-skipping server.

The "send the candidate's feedback" task carries the candidate's debrief of its round: summary,
interest, concerns, questions for the client. When the client asks before the debrief is in, the
task is opened at once saying so, and the same task (never a second one) gets the debrief when it
comes, with a word to the recruiter. Each round's debrief is noted on the ATS record once. The
advice to thank the interviewers names them when the ATS gave their names.

The activities are the in-memory fakes (tests/workflows/fakes.py); one test runs the real worker
on a real SQLite store with email and the Greenhouse notes API on loopback (tests/channel_servers.py).
"""

from __future__ import annotations

from datetime import timedelta

from domain.debrief import feedback_debrief
from domain.policy import PolicyBook
from domain.status import ProcessStatus
from process_client import Delivery, deliver_event, process_handle, process_status
from tests.channel_servers import all_channels, http_receiver, smtp_server
from tests.events import GOOD_DEBRIEF, Application
from tests.harness import CONTINUOUS, eventually, running_engine
from tests.workflows.fakes import FakeStore, running_with_fakes

RECRUITER = "rita@agency.example"


def kinds(store: FakeStore, app: Application, status: str | None = "open") -> list[str]:
    return sorted(t.kind for t in store.tasks(status=status) if t.process_id.startswith(app.workflow_id))


def feedback_tasks(store, app: Application):
    return [t for t in store.tasks(status=None, process_id=app.workflow_id) if t.kind == "send_feedback"]


async def send(env, task_queue: str, *events) -> None:
    for event in events:
        assert await deliver_event(env.client, event, task_queue) == Delivery.DELIVERED


async def status(env, app: Application) -> ProcessStatus:
    return await process_status(env.client, app.source, app.application_id)


def carries_the_debrief(text: str, debrief: dict = GOOD_DEBRIEF) -> bool:
    return (
        debrief["summary"] in text
        and f"Interest: {debrief['interest']} out of 5" in text
        and debrief["concerns"] in text
        and all(f"- {q}" in text for q in debrief["questions_for_client"])
    )


async def test_feedback_asked_after_the_debrief_gets_a_task_that_carries_it(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await send(time_env, task_queue, app.interview(1), app.event("candidate.debriefed", GOOD_DEBRIEF))
        await eventually(lambda: kinds(store, app, "done") == ["book_debrief"], what="the debrief recorded")
        await send(time_env, task_queue, app.event("client.feedback_requested"))
        [task] = await eventually(lambda: feedback_tasks(store, app), what="the feedback task")
        assert task.title == "Send Ada Lovelace's debrief to Acme Capital"
        assert "never generic" in task.instructions and carries_the_debrief(task.instructions)
        carried = feedback_debrief(task.context)
        assert carried is not None and carried.status == "in" and carried.round == 1
        assert (carried.summary, carried.interest, carried.questions_for_client) == (
            GOOD_DEBRIEF["summary"],
            4,
            GOOD_DEBRIEF["questions_for_client"],
        )
        # The task came with the debrief: nobody needs telling that it is in.
        assert store.message(f"{app.workflow_id}/feedback/1/debrief-in") is None


async def test_feedback_asked_before_the_debrief_opens_the_task_at_once_and_the_same_task_gets_it(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await send(time_env, task_queue, app.interview(1))
        await eventually(lambda: kinds(store, app) == ["book_debrief"])
        await send(time_env, task_queue, app.event("client.feedback_requested"))
        await eventually(lambda: kinds(store, app) == ["send_feedback", "urgent_debrief"], what="feedback and urgent debrief tasks")
        [waiting] = feedback_tasks(store, app)
        assert "is not in yet" in waiting.instructions and "Summary:" not in waiting.instructions
        assert feedback_debrief(waiting.context).status == "not_in_yet"
        urgent = next(t for t in store.tasks(process_id=app.workflow_id) if t.kind == "urgent_debrief")
        assert waiting.due_at > urgent.due_at  # due after the debrief it waits for
        assert store.debrief_notes == {}

        await send(time_env, task_queue, app.event("candidate.debriefed", GOOD_DEBRIEF))
        # The same task, updated: no second feedback task.
        [updated] = await eventually(
            lambda: [t for t in feedback_tasks(store, app) if carries_the_debrief(t.instructions)] or None, what="the task gets the debrief"
        )
        assert updated.id == waiting.id and updated.key == waiting.key and updated.status == "open"
        assert "is not in yet" not in updated.instructions
        assert kinds(store, app) == ["send_feedback"] and kinds(store, app, "done") == ["urgent_debrief"]
        # The recruiter hears it is in, with the debrief itself.
        told = await eventually(lambda: store.message(f"{app.workflow_id}/feedback/1/debrief-in"), what="the recruiter told")
        assert told.recipient_role == "recruiter" and told.recipient_id == "rec-1"
        assert told.subject == "Ada Lovelace's debrief is in: send it to Acme Capital" and carries_the_debrief(told.body)
        # And the debrief is noted on the ATS record, once.
        note = await eventually(lambda: store.debrief_notes.get(f"{app.workflow_id}/debrief/1/ats-note"), what="the debrief note")
        assert (note.source, note.application_id, note.round, note.author_id) == ("greenhouse", app.application_id, 1, "rec-1")
        assert feedback_debrief(note.context).summary == GOOD_DEBRIEF["summary"]
        current = await status(time_env, app)
        assert [t.key for t in current.open_tasks] == [updated.key]


async def test_the_waiting_feedback_task_gets_the_debrief_in_the_next_run_after_continue_as_new(time_env, task_queue):
    app = Application(client_id="noisy")
    book = PolicyBook(default=CONTINUOUS, clients={"noisy": {"signals_per_run": 10}})
    async with running_with_fakes(time_env, task_queue, policy=book) as store:
        await send(time_env, task_queue, app.interview(1), app.event("client.feedback_requested"))
        [waiting] = await eventually(lambda: feedback_tasks(store, app), what="the waiting feedback task")
        first_run = (await process_handle(time_env.client, app.source, app.application_id).describe()).run_id
        for _ in range(10):  # the same interview reported again: the run continues as new
            await send(time_env, task_queue, app.interview(1))

        async def continued() -> bool:
            return (await process_handle(time_env.client, app.source, app.application_id).describe()).run_id != first_run

        await eventually(continued, what="a new run")
        await send(time_env, task_queue, app.event("candidate.debriefed", GOOD_DEBRIEF))
        [updated] = await eventually(lambda: [t for t in feedback_tasks(store, app) if carries_the_debrief(t.instructions)] or None)
        assert updated.id == waiting.id and len(feedback_tasks(store, app)) == 1
        await eventually(lambda: store.message(f"{app.workflow_id}/feedback/1/debrief-in"), what="the recruiter told, in the new run")
        await eventually(lambda: list(store.debrief_notes) == [f"{app.workflow_id}/debrief/1/ats-note"])


async def test_a_better_debrief_after_the_feedback_task_updates_it_and_notes_the_round_once(time_env, task_queue):
    app = Application()
    better = {**GOOD_DEBRIEF, "summary": GOOD_DEBRIEF["summary"] + " On reflection the hiring manager's questions on controls went best.", "interest": 5}
    async with running_with_fakes(time_env, task_queue) as store:
        await send(time_env, task_queue, app.interview(1), app.event("candidate.debriefed", GOOD_DEBRIEF), app.event("client.feedback_requested"))
        await eventually(lambda: [t for t in feedback_tasks(store, app) if carries_the_debrief(t.instructions)] or None)
        await eventually(lambda: store.debrief_notes)
        await send(time_env, task_queue, app.event("candidate.debriefed", better))
        [task] = await eventually(lambda: [t for t in feedback_tasks(store, app) if carries_the_debrief(t.instructions, better)] or None)
        assert feedback_debrief(task.context).interest == 5 and len(feedback_tasks(store, app)) == 1
        # Once per round: the first debrief's note stands, no second one.
        assert list(store.debrief_notes) == [f"{app.workflow_id}/debrief/1/ats-note"]
        assert store.message(f"{app.workflow_id}/feedback/1/debrief-in") is None


async def test_each_rounds_debrief_is_noted_once(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await send(time_env, task_queue, app.interview(1), app.event("candidate.debriefed", GOOD_DEBRIEF))
        await eventually(lambda: len(store.debrief_notes) == 1)
        await send(time_env, task_queue, app.interview(2), app.event("candidate.debriefed", {**GOOD_DEBRIEF, "round": 2}))
        await eventually(lambda: len(store.debrief_notes) == 2)
        await send(time_env, task_queue, app.event("candidate.rejected", {"reason": "client chose another", "met_in_person": True}))
        await eventually(lambda: kinds(store, app) == ["closure_feedback"])
        assert sorted(store.debrief_notes) == [f"{app.workflow_id}/debrief/{r}/ats-note" for r in (1, 2)]
        assert [n.round for n in sorted(store.debrief_notes.values(), key=lambda n: n.round)] == [1, 2]


async def test_the_thank_you_advice_names_the_interviewers(time_env, task_queue):
    app = Application()
    panel = [{"id": "u-1", "name": "Grace Hopper"}, {"id": "u-2", "name": "Alan Turing"}]
    async with running_with_fakes(time_env, task_queue) as store:
        now = await time_env.get_current_time()
        await send(time_env, task_queue, app.event("interview.completed", {"interview_id": "int-1", "round": 1, "at": now.isoformat(), "interviewers": panel}))
        questions = await eventually(lambda: store.message(f"{app.workflow_id}/debrief/1/questions"), what="the debrief questions")
        assert "thank-you note to the people who interviewed you, Grace Hopper, Alan Turing, and connect with them on LinkedIn" in questions.body
        await send(time_env, task_queue, app.event("candidate.rejected", {"reason": "client chose another", "met_in_person": True}))
        [closing] = await eventually(lambda: [t for t in store.tasks(process_id=app.workflow_id) if t.kind == "closure_feedback"] or None)
        assert "thank-you notes to Grace Hopper, Alan Turing" in closing.instructions


async def test_without_names_the_advice_still_stands(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await send(time_env, task_queue, app.interview(1))
        questions = await eventually(lambda: store.message(f"{app.workflow_id}/debrief/1/questions"))
        assert "send a short thank-you note to the people who interviewed you, and connect with them on LinkedIn" in questions.body
        await send(time_env, task_queue, app.event("candidate.rejected", {"reason": "not a fit", "met_in_person": True}))
        [closing] = await eventually(lambda: [t for t in store.tasks(process_id=app.workflow_id) if t.kind == "closure_feedback"] or None)
        assert "thank-you notes to the interviewers" in closing.instructions


async def test_end_to_end_the_email_carries_the_debrief_and_greenhouse_gets_one_note(time_env, store_url, task_queue, activity_pool):
    """The real worker and store: the feedback task's email (sent when it was opened, saying the
    debrief is not in yet), the recruiter's email when it is in, and one debrief note on the
    Greenhouse candidate."""
    app = Application(application_id="4410")
    with smtp_server() as (sink, port):
        async with http_receiver() as (receiver, url):
            channels = all_channels(port, url, notes="greenhouse")
            async with running_engine(time_env, store_url, task_queue, activity_pool, channels=channels) as store:
                await send(time_env, task_queue, app.interview(1), app.event("client.feedback_requested"))
                key = f"{app.workflow_id}/feedback/1/send"
                waiting = await eventually(lambda: store.task(key), what="the feedback task")
                assert "is not in yet" in waiting.instructions
                await eventually(lambda: [m for m in sink.to(RECRUITER) if m["Subject"].startswith("Task: Send Ada Lovelace's debrief")], what="its email")

                await send(time_env, task_queue, app.event("candidate.debriefed", GOOD_DEBRIEF))
                updated = await eventually(lambda: (t := store.task(key)) and carries_the_debrief(t.instructions) and t, what="the task updated")
                assert updated.id == waiting.id
                assert [e.action for e in store.history(key)][-1] == "debrief added"
                told = await eventually(
                    lambda: [m for m in sink.to(RECRUITER) if "debrief is in" in m["Subject"]], what="the recruiter's email: the debrief is in"
                )
                assert len(told) == 1 and carries_the_debrief(told[0].get_content())
                debrief_notes = await eventually(
                    lambda: [n for n in receiver.greenhouse_notes if "Post-interview debrief (round 1)" in n["body"]], what="the debrief note"
                )
                assert len(debrief_notes) == 1 and carries_the_debrief(debrief_notes[0]["body"])
                assert (debrief_notes[0]["candidate_id"], debrief_notes[0]["on_behalf_of"]) == ("5501", "rec-1")
                current = await status(time_env, app)
                assert [t.key for t in current.open_tasks] == [key] and current.failed_steps == []
