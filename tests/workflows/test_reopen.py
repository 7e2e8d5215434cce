"""Reopen (issue 10): a rejection or withdrawal the ATS takes back (`application.reopened`), on
the dev server with the real worker and store.

A closed process is started again as a new run of the same workflow id that knows its history
(its debriefs, milestones, interviews: asked of the closed run by query), the relationship
process drops the check-ins it was handed for the application, and later events are handled,
not dropped as `process_closed`. What never ran is not reopened, and a reopening is taken once.
"""

from __future__ import annotations

from temporalio.client import WorkflowExecutionStatus

from domain.contract import relationship_workflow_id
from domain.status import RelationshipState
from process_client import Delivery, deliver_event, process_handle, process_status
from tests.events import GOOD_DEBRIEF, Application
from tests.harness import eventually, running_engine


async def _status_of(client, workflow_id: str) -> WorkflowExecutionStatus | None:
    return (await client.get_workflow_handle(workflow_id).describe()).status


async def _closed(client, workflow_id: str) -> bool:
    return await _status_of(client, workflow_id) == WorkflowExecutionStatus.COMPLETED


async def _relationship(client, app: Application) -> RelationshipState:
    handle = client.get_workflow_handle(relationship_workflow_id(app.source, app.candidate["id"]))
    return await handle.query("status", result_type=RelationshipState)


async def test_a_rejection_taken_back_reopens_the_process_with_its_history(dev_env, store_url, task_queue, activity_pool):
    app = Application()
    client = dev_env.client
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as store:
        await deliver_event(client, app.interview(1), task_queue)
        await deliver_event(client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
        await deliver_event(client, app.event("candidate.rejected", {"reason": "client chose another"}), task_queue)
        await eventually(lambda: _closed(client, app.workflow_id), what="the process to close")
        first_run = (await client.get_workflow_handle(app.workflow_id).describe()).run_id
        relationship = await eventually(lambda: _relationship(client, app), what="the relationship")
        assert [c.key for c in relationship.pending] == [f"{app.workflow_id}/check-in/90", f"{app.workflow_id}/check-in/365"]
        # Closed and not reopened: a late event is dropped, as before.
        assert await deliver_event(client, app.offer("offer.extended"), task_queue) == Delivery.PROCESS_CLOSED

        reopened = app.event("application.reopened", {"reason": "unreject_candidate"})
        assert await deliver_event(client, reopened, task_queue) == Delivery.REOPENED
        current = await eventually(lambda: process_status(client, app.source, app.application_id), what="the reopened process")
        description = await client.get_workflow_handle(app.workflow_id).describe()
        assert description.status == WorkflowExecutionStatus.RUNNING and description.run_id != first_run
        # It knows its history: round 1 debriefed, the stage it was in, the rejection taken back.
        current = await eventually(lambda: _reopened_status(client, app), what="the reopening handled")
        assert current.stage == "awaiting_client"
        assert [d.round for d in current.debriefs] == [1] and current.debriefs[0].interest == 4
        assert "candidate.rejected" not in current.milestones
        # The relationship hears the application is live again: its check-ins for it are dropped.
        await eventually(lambda: _no_check_ins(client, app), what="the check-ins dropped")

        # Later events are handled, not dropped as process_closed.
        assert await deliver_event(client, app.interview(2), task_queue) == Delivery.DELIVERED
        await eventually(lambda: any(t.key == f"{app.workflow_id}/debrief/2/book-call" for t in store.tasks(status="open")), what="round 2")
        # The same reopening again is a duplicate of the running run's event.
        assert await deliver_event(client, reopened, task_queue) == Delivery.DELIVERED

        # Closed a second time: a close-out of its own, and the candidate handed over again.
        await deliver_event(client, app.event("candidate.withdrew", {"reason": "took another offer"}), task_queue)
        await eventually(lambda: _closed(client, app.workflow_id), what="the second close")
        final = await process_handle(client, app.source, app.application_id).result()
        assert final.stage == "closed"
        close_outs = sorted(t.key.removeprefix(app.workflow_id + "/") for t in store.tasks(process_id=app.workflow_id) if "/close/" in t.key)
        assert close_outs == ["close/face-to-face", "close/face-to-face/reopened-1", "close/feedback", "close/feedback/reopened-1"]
        # The first close-out's tasks were for a rejection that was taken back.
        assert {store.task(f"{app.workflow_id}/close/feedback").status, store.task(f"{app.workflow_id}/close/face-to-face").status} == {"cancelled"}
        relationship = await eventually(lambda: _relationship(client, app))
        assert [c.key for c in relationship.pending] == [f"{app.workflow_id}/check-in/90/reopened-1", f"{app.workflow_id}/check-in/365/reopened-1"]
        # A re-delivery of the old reopening does not open it a third time: the closed run either
        # says it is closed, or (it had this very signal request, see signal_request_id) takes it
        # as the duplicate it is; either way no new run starts.
        assert await deliver_event(client, reopened, task_queue) in (Delivery.PROCESS_CLOSED, Delivery.DELIVERED)
        assert await _closed(client, app.workflow_id)  # the latest run: had one started, it would run


async def test_a_reopening_that_reaches_a_closing_run_is_not_lost(dev_env, store_url, task_queue, activity_pool):
    """Rejected and reopened back to back: whether the reopening finds the run still closing (it
    continues as new) or closed (process_client starts it again), the process is live after."""
    app = Application()
    client = dev_env.client
    async with running_engine(dev_env, store_url, task_queue, activity_pool):
        await deliver_event(client, app.interview(1), task_queue)
        await deliver_event(client, app.event("candidate.rejected", {"reason": "client chose another"}), task_queue)
        outcome = await deliver_event(client, app.event("application.reopened", {}), task_queue)
        assert outcome in (Delivery.DELIVERED, Delivery.REOPENED)
        current = await eventually(lambda: _reopened_status(client, app), what="the process live again")
        assert current.stage == "debrief"
        assert await deliver_event(client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue) == Delivery.DELIVERED
        await eventually(lambda: _stage_is(client, app, "awaiting_client"), what="the debrief taken")


async def test_a_reopening_taken_while_closing_continues_the_run_as_new(dev_env, store_url, task_queue, activity_pool):
    """All three events wait for the worker: the run closes out with the reopening already in
    its inbox, and continues as new instead of completing."""
    app = Application()
    client = dev_env.client
    assert await deliver_event(client, app.interview(1), task_queue) == Delivery.DELIVERED
    assert await deliver_event(client, app.event("candidate.rejected", {"reason": "client chose another"}), task_queue) == Delivery.DELIVERED
    assert await deliver_event(client, app.event("application.reopened", {}), task_queue) == Delivery.DELIVERED
    first_run = (await client.get_workflow_handle(app.workflow_id).describe()).run_id
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as store:
        current = await eventually(lambda: _reopened_status(client, app), what="the process live again")
        assert current.stage == "debrief"
        history = await client.get_workflow_handle(app.workflow_id, run_id=first_run).fetch_history()
        assert history.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
        await eventually(lambda: store.task(f"{app.workflow_id}/close/feedback") is not None and store.task(f"{app.workflow_id}/close/feedback").status == "cancelled")


async def test_nothing_to_reopen_and_no_process_for_a_rejection_of_an_applicant_never_interviewed(dev_env, store_url, task_queue, activity_pool):
    screened_out = Application()
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as store:
        client = dev_env.client
        assert await deliver_event(client, screened_out.event("candidate.rejected", {"reason": "not qualified"}), task_queue) == Delivery.NO_PROCESS
        assert await deliver_event(client, screened_out.event("candidate.withdrew", {}), task_queue) == Delivery.NO_PROCESS
        assert await deliver_event(client, screened_out.event("application.reopened", {}), task_queue) == Delivery.NO_PROCESS
        count = await client.count_workflows(f"WorkflowId = '{screened_out.workflow_id}'")
        assert count.count == 0
        assert store.tasks() == [] and store.messages() == []


async def _reopened_status(client, app: Application):
    current = await process_status(client, app.source, app.application_id)
    return current if "application.reopened" in current.milestones and current.stage != "closed" else None


async def _stage_is(client, app: Application, stage: str) -> bool:
    return (await process_status(client, app.source, app.application_id)).stage == stage


async def _no_check_ins(client, app: Application) -> bool:
    try:
        state = await _relationship(client, app)
    except Exception:  # noqa: BLE001 - it ran its course with nothing left: no check-ins either
        return await _status_of(client, relationship_workflow_id(app.source, app.candidate["id"])) == WorkflowExecutionStatus.COMPLETED
    return not state.pending
