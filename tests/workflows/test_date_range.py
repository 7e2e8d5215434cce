"""The edges of the date range the intake lets through (domain/bounds.py: 1970-01-01 ..
2100-12-31) are dates a process can live with: an interview booked for the last evening of 2100,
an offer starting on the last day, an interview reported at the first moment of 1970. Each is
handled (tasks given, the status answers), none fails a workflow task."""

from __future__ import annotations

from datetime import UTC, date, datetime

from process_client import deliver_event, process_status
from tests.events import Application
from tests.harness import eventually, running_engine


async def _failed_workflow_tasks(env, workflow_id: str) -> list[str]:
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    return [e.workflow_task_failed_event_attributes.failure.message for e in history.events if e.HasField("workflow_task_failed_event_attributes")]


async def test_the_first_and_last_dates_of_the_range_are_handled(dev_env, store_url, task_queue, activity_pool):
    early, late = Application(), Application()
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as tasks:
        await deliver_event(dev_env.client, early.interview(1, at=datetime(1970, 1, 1, tzinfo=UTC)), task_queue)
        await deliver_event(dev_env.client, late.interview(1), task_queue)
        await deliver_event(dev_env.client, late.interview(2, type_="interview.scheduled", at=datetime(2100, 12, 31, 23, 0, tzinfo=UTC)), task_queue)
        await deliver_event(dev_env.client, late.offer("offer.accepted", start=date(2100, 12, 31)), task_queue)
        for app in (early, late):
            await eventually(lambda app=app: tasks.tasks(process_id=app.workflow_id), what=f"{app.application_id}'s tasks")
        status = await eventually(lambda: _events_seen(dev_env, late, 3), what="all three events handled")
        assert status.milestones  # the offer is recorded
        assert (await process_status(dev_env.client, early.source, early.application_id)).stage == "debrief"
        for app in (early, late):
            assert await _failed_workflow_tasks(dev_env, app.workflow_id) == []


async def _events_seen(env, app: Application, count: int):
    current = await process_status(env.client, app.source, app.application_id)
    return current if current.events_seen >= count else None
