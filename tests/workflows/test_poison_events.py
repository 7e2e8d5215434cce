"""A process never wedges on data (issue 12, finding 3).

Events that passed no edge (signal-with-start straight through process_client, the way a script
or a careless integration would): a placeholder date of year 1 or 9999, a NUL character the
PostgreSQL store cannot hold. Before, the first raised OverflowError in the workflow and its
workflow task was retried for ever; the second failed its activity, retried for ever. Now each
is recorded in the status and skipped, and the next event is handled as usual.

The poisoned events are built with `model_construct`, so they reach the process whatever the
edge's own validation refuses.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from temporalio.api.enums.v1 import EventType as HistoryEventType
from temporalio import workflow
from temporalio.client import WorkflowHandle

from domain.events import CanonicalEvent, Candidate, InterviewData, OfferData
from domain.names import STORE_REFUSED
from domain.process_state import CarriedProcess
from domain.status import ProcessStatus
from process_client import deliver_event, process_status
from store.task_store import TaskStore
from tests.events import Application
from tests.harness import eventually, running_engine
from workflows.post_interview import PostInterviewProcess


@workflow.defn(name="PostInterviewProcess", sandboxed=False)
class BeforeThisChange(PostInterviewProcess):
    """The process as it handled an exception before: the workflow task fails, retried for ever."""

    @workflow.run
    async def run(self, start: CanonicalEvent | CarriedProcess) -> ProcessStatus:
        return await super().run(start)

    def _reject(self, event: CanonicalEvent, error: Exception) -> None:
        raise error


def kinds(store: TaskStore, app: Application) -> list[str]:
    return sorted(t.kind for t in store.tasks(status="open") if t.process_id.startswith(app.workflow_id))


def poisoned(event: CanonicalEvent, **fields: object) -> CanonicalEvent:
    """The event with fields set as given, unvalidated."""
    return event.model_copy(update=fields)


async def workflow_task_failures(handle: WorkflowHandle) -> list[str]:
    return [
        e.workflow_task_failed_event_attributes.failure.message
        async for e in handle.fetch_history_events()
        if e.event_type == HistoryEventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]


async def test_a_date_no_deadline_can_be_counted_from_is_rejected_and_the_next_event_still_works(
    time_env, store_url, task_queue, activity_pool
):
    app = Application()
    async with running_engine(time_env, store_url, task_queue, activity_pool) as store:
        await deliver_event(time_env.client, app.interview(1), task_queue)
        await eventually(lambda: kinds(store, app) == ["book_debrief"], what="book-debrief task")

        year_one = poisoned(
            app.interview(2, "interview.scheduled"),
            data=InterviewData.model_construct(interview_id="int-2", round=2, at=datetime(1, 1, 1, tzinfo=UTC)),
        )
        year_9999 = poisoned(app.offer("offer.extended"), data=OfferData.model_construct(start_date=date(9999, 12, 31)))
        await deliver_event(time_env.client, year_one, task_queue)
        await deliver_event(time_env.client, year_9999, task_queue)

        async def rejected():
            status = await process_status(time_env.client, app.source, app.application_id)
            return status if len(status.rejected_events) == 2 else None

        status = await eventually(rejected, what="both events rejected")
        assert [r.event_id for r in status.rejected_events] == [year_one.event_id, year_9999.event_id]
        assert [r.type for r in status.rejected_events] == ["interview.scheduled", "offer.extended"]
        assert "data.at 0001-01-01" in status.rejected_events[0].reason
        assert "data.start_date 9999-12-31" in status.rejected_events[1].reason
        assert all("outside the dates a process can schedule" in r.reason for r in status.rejected_events)
        # Skipped before anything changed: no offer milestone, no follow-up stage.
        assert status.stage == "debrief" and "offer.extended" not in status.milestones

        # The process goes on: a proper follow-up round gets its briefing task.
        at = await time_env.get_current_time() + timedelta(days=3)
        await deliver_event(time_env.client, app.interview(2, "interview.scheduled", at=at), task_queue)
        await eventually(lambda: kinds(store, app) == ["book_debrief", "brief_candidate"], what="brief task")
        assert (await process_status(time_env.client, app.source, app.application_id)).stage == "follow_up"

        # And its duties still run: the debrief of round 1 is reminded and escalated on time.
        await time_env.sleep(timedelta(days=2))
        await eventually(lambda: "escalation" in kinds(store, app), what="escalation")
        assert await workflow_task_failures(time_env.client.get_workflow_handle(app.workflow_id)) == []


async def test_a_write_the_store_refuses_fails_once_and_the_process_goes_on(time_env, postgres_schema_url, task_queue, activity_pool):
    """A NUL in the candidate's name: PostgreSQL refuses every task and message naming them.
    The activity fails non-retryably at its first attempt; the process records the step and
    goes on; an event with the name put right is acted on."""
    app = Application()
    first = app.interview(1)
    nul_name = Candidate.model_construct(**{**first.candidate.model_dump(), "name": "Ada\x00Lovelace"})
    async with running_engine(time_env, postgres_schema_url, task_queue, activity_pool) as store:
        await deliver_event(time_env.client, poisoned(first, candidate=nul_name), task_queue)

        async def failed_steps():
            status = await process_status(time_env.client, app.source, app.application_id)
            return status.failed_steps if len(status.failed_steps) == 2 else None

        steps = await eventually(failed_steps, what="the task and the message recorded as failed")
        assert [s.what for s in steps] == [f"task {app.workflow_id}/debrief/1/book-call", f"message {app.workflow_id}/debrief/1/questions"]
        assert all(STORE_REFUSED in s.reason and "NUL" in s.reason for s in steps)
        assert kinds(store, app) == []

        # Each write was tried once: a non-retryable failure, with no name in its message.
        handle = time_env.client.get_workflow_handle(app.workflow_id)
        failures = [
            e.activity_task_failed_event_attributes.failure
            async for e in handle.fetch_history_events()
            if e.event_type == HistoryEventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
        ]
        assert len(failures) == 2
        for failure in failures:
            assert failure.application_failure_info.non_retryable and failure.application_failure_info.type == STORE_REFUSED
            assert "Ada" not in failure.message and not failure.HasField("cause")

        # The process goes on: the next event, with the name put right, gets its task.
        at = await time_env.get_current_time() + timedelta(days=3)
        await deliver_event(time_env.client, app.interview(2, "interview.scheduled", at=at), task_queue)
        await eventually(lambda: kinds(store, app) == ["brief_candidate"], what="brief task")
        assert "Ada Lovelace" in store.tasks(process_id=app.workflow_id)[0].title
        assert await workflow_task_failures(handle) == []


async def test_task_completions_with_long_ids_or_a_bad_date_never_fail_the_workflow_task(dev_env, store_url, task_queue, activity_pool):
    """Long but allowed ids (128 characters each) made the fact a completion becomes longer than
    an event id may be, and the update's handler raised: the workflow task failed for ever. A
    completion whose start date cannot be read did the same. Now the first is acted on (its id
    hashed) and the second refused by the validator with its reason."""
    from domain.follow_through import TaskCompletion, TaskKind, TaskOutcome
    from process_client import ProcessRefused, complete_task

    app = Application(application_id="a" * 128)
    app.candidate["id"] = "cand-long"
    referee_id = "r" * 128
    wf = app.workflow_id
    async with running_engine(dev_env, store_url, task_queue, activity_pool):
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        await deliver_event(dev_env.client, app.references(referee_id), task_queue)

        async def referee_known():
            return referee_id in {r.id for r in (await process_status(dev_env.client, app.source, app.application_id)).referees}

        await eventually(referee_known, what="the referee check")
        consent = TaskCompletion(key=f"{wf}-referee-{referee_id}/consent", kind=TaskKind.REFEREE_CONSENT, outcome=TaskOutcome.CONSENTED, completed_by="rec-1")
        assert len(f"task:{consent.key}:consented") > 200
        result = await complete_task(dev_env.client, wf, consent, timeout=15)
        assert result.message == "referee_consent task accepted as consented"

        bad_start = TaskCompletion(
            key=f"{wf}/start/2027-01-04/confirm", kind=TaskKind.CONFIRM_START, outcome=TaskOutcome.STARTED, completed_by="rec-1", context={"start_date": "next monday"}
        )
        try:
            await complete_task(dev_env.client, wf, bad_start, timeout=15)
            raise AssertionError("a start date that cannot be read was accepted")
        except ProcessRefused as refused:
            assert "next monday" in str(refused)

        async def consented():
            status = await process_status(dev_env.client, app.source, app.application_id)
            return status.events_seen >= 3 and status.referees[0].state == "requested"

        await eventually(consented, what="the consent acted on")
        assert await workflow_task_failures(dev_env.client.get_workflow_handle(wf)) == []


async def test_a_process_wedged_by_the_old_code_gets_past_its_poison_event_on_deploy(time_env, store_url, task_queue, activity_pool, monkeypatch):
    """The old code failed the workflow task on an exception, so no completed history holds one:
    skipping it needs no patch, and a running process that the old code wedged recovers on the
    first workflow task the new code runs."""
    import worker

    app = Application()
    year_one = poisoned(
        app.interview(2, "interview.scheduled"),
        data=InterviewData.model_construct(interview_id="int-2", round=2, at=datetime(1, 1, 1, tzinfo=UTC)),
    )
    handle = time_env.client.get_workflow_handle(app.workflow_id)
    with monkeypatch.context() as old_code:
        old_code.setattr(worker, "WORKFLOWS", [BeforeThisChange, *worker.WORKFLOWS[1:]])
        async with running_engine(time_env, store_url, task_queue, activity_pool) as store:
            await deliver_event(time_env.client, app.interview(1), task_queue)
            await eventually(lambda: kinds(store, app) == ["book_debrief"], what="book-debrief task")
            await deliver_event(time_env.client, year_one, task_queue)
            await eventually(lambda: workflow_task_failures(handle), what="the old code wedged")

    async with running_engine(time_env, store_url, task_queue, activity_pool) as store:
        async def rejected():
            return (await process_status(time_env.client, app.source, app.application_id)).rejected_events

        assert [r.event_id for r in await eventually(rejected, timeout=30, what="the poison event skipped")] == [year_one.event_id]
        at = await time_env.get_current_time() + timedelta(days=3)
        await deliver_event(time_env.client, app.interview(2, "interview.scheduled", at=at), task_queue)
        await eventually(lambda: kinds(store, app) == ["book_debrief", "brief_candidate"], what="brief task")
