"""The worker's Prometheus endpoint, scraped over HTTP after real processes ran on a real
Temporal server: the SDK's own metrics and the business metrics, with the right values.

The worker here reports through a runtime of its own (metrics.runtime.prometheus_runtime), as
`postinterview worker` does through the default runtime it installs; that wiring is covered by
tests/metrics/test_worker_operations.py, which runs the command itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.debrief import Debrief
from domain.policy import PolicyBook
from domain import business_metrics as business
from metrics.runtime import prometheus_runtime
from process_client import deliver_event, process_handle, process_status, record_debrief
from store.task_store import TaskStore
from tests.events import GOOD_DEBRIEF, Application
from tests.harness import CONTINUOUS, eventually, free_port
from tests.metrics.scrape import Scrape, scrape
from worker import build_worker

HOUR = 3600.0
DAY = 24 * HOUR


@asynccontextmanager
async def metered_engine(
    env: WorkflowEnvironment, store_url: str, task_queue: str, pool: ThreadPoolExecutor
) -> AsyncIterator[tuple[TaskStore, str]]:
    """The real worker, its client on a runtime that serves Prometheus metrics on a free port."""
    port = free_port()
    runtime = prometheus_runtime(f"127.0.0.1:{port}")
    client = await Client.connect(
        env.client.service_client.config.target_host,
        namespace=env.client.namespace,
        runtime=runtime,
        data_converter=env.client.data_converter,
    )
    store = TaskStore(store_url)
    async with build_worker(client, store, PolicyBook(default=CONTINUOUS), task_queue, activity_executor=pool):
        yield store, f"http://127.0.0.1:{port}/metrics"


def referee_state(current, referee: str) -> str | None:
    return next((r.state for r in current.referees if r.id == referee), None)


async def test_a_process_from_interview_to_rejection_shows_in_the_sdk_and_business_metrics(dev_env, store_url, task_queue, activity_pool):
    app = Application(source="api")
    interview_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    async with metered_engine(dev_env, store_url, task_queue, activity_pool) as (store, url):
        await deliver_event(dev_env.client, app.interview(1, at=interview_at), task_queue)
        await eventually(lambda: store.tasks(process_id=app.workflow_id), what="the book-the-call task")
        await record_debrief(dev_env.client, app.source, app.application_id, Debrief.model_validate(GOOD_DEBRIEF))
        await deliver_event(dev_env.client, app.references("ref-a"), task_queue)
        await deliver_event(dev_env.client, app.event("referee.consented", {"referee_id": "ref-a"}), task_queue)

        async def requested() -> bool:
            return referee_state(await process_status(dev_env.client, app.source, app.application_id), "ref-a") == "requested"

        await eventually(requested, what="the reference request")
        await deliver_event(dev_env.client, app.event("referee.responded", {"referee_id": "ref-a"}), task_queue)

        async def responded() -> bool:
            return referee_state(await process_status(dev_env.client, app.source, app.application_id), "ref-a") == "responded"

        await eventually(responded, what="the reference")
        await deliver_event(dev_env.client, app.event("candidate.rejected", {"reason": "client chose another", "met_in_person": True}), task_queue)
        final = await process_handle(dev_env.client, app.source, app.application_id).result()

        async def closed_counted() -> Scrape | None:
            found = await scrape(url)
            return found if found.value(business.PROCESSES_CLOSED) else None

        metrics = await eventually(closed_counted, what="the close-out in the metrics")

    # The SDK's own metrics, through the same endpoint.
    assert metrics.value("temporal_workflow_completed", workflow_type="PostInterviewProcess", task_queue=task_queue) == 1
    assert metrics.value("temporal_workflow_completed", workflow_type="RefereeCheck", task_queue=task_queue) == 1
    assert metrics.value("temporal_activity_execution_latency_count", activity_type="create_recruiter_task") >= 1
    assert metrics.has("temporal_worker_task_slots_available", worker_type="ActivityWorker")

    # The business metrics: one debrief, whose latency is exactly what the process recorded.
    debrief = final.debriefs[0]
    expected = (debrief.recorded_at - debrief.interview_at).total_seconds()
    assert 2 * HOUR <= expected < 2 * HOUR + 120
    latency = business.DEBRIEF_LATENCY
    assert metrics.value(f"{latency}_count", source="api", workflow_type="PostInterviewProcess") == 1
    assert abs(metrics.value(f"{latency}_sum", source="api") - expected) < 0.01
    assert metrics.value(f"{latency}_bucket", le="3600") == 0 and metrics.value(f"{latency}_bucket", le="14400") == 1

    turnaround = business.REFEREE_TURNAROUND
    assert metrics.value(f"{turnaround}_count", late="false", workflow_type="RefereeCheck") == 1
    assert 0 <= metrics.value(f"{turnaround}_sum") < 120  # answered within the test, well before the deadline
    assert metrics.value(f"{turnaround}_count", late="true") == 0

    assert metrics.value(business.PROCESSES_STARTED, source="api") == 1
    assert metrics.value(business.PROCESSES_CLOSED, source="api", outcome="rejected") == 1
    assert metrics.value(business.REMINDERS_SENT) == 0 and metrics.value(business.ESCALATIONS) == 0
    assert metrics.value(business.SLA_BREACHES) == 0

    # Identifiers of kinds and outcomes only: no person, no application in a label.
    for private in ("Ada", "ada@example.com", "Rita", app.application_id, "ref-a", "rec-1"):
        assert private not in metrics.text, f"{private!r} leaked into the metrics"


async def test_reminders_escalations_and_the_sla_breach_are_counted_once(time_env, store_url, task_queue, activity_pool):
    app = Application(source="api")
    async with metered_engine(time_env, store_url, task_queue, activity_pool) as (store, url):
        await deliver_event(time_env.client, app.interview(1), task_queue)
        await eventually(lambda: store.tasks(process_id=app.workflow_id), what="the book-the-call task")
        await time_env.sleep(timedelta(hours=4, minutes=5))
        await eventually(lambda: any(m.key.endswith("debrief/1/reminder") for m in store.messages()), what="the reminder")
        await time_env.sleep(timedelta(days=1))
        await eventually(lambda: any(t.kind == "escalation" for t in store.tasks(status="open")), what="the escalation")

        await deliver_event(time_env.client, app.references("ref-b"), task_queue)
        await deliver_event(time_env.client, app.event("referee.consented", {"referee_id": "ref-b"}), task_queue)
        await eventually(lambda: any(m.key.endswith("ref-b/request") for m in store.messages()), what="the reference request")
        for day in (1, 2):
            await time_env.sleep(timedelta(days=1, minutes=5) if day == 1 else timedelta(days=1))
            await eventually(lambda: any(m.key.endswith(f"ref-b/reminder/{day}") for m in store.messages()), what=f"reminder {day}")
        await time_env.sleep(timedelta(days=1))
        await eventually(lambda: any(t.kind == "referee_overdue" for t in store.tasks(status="open")), what="the overdue escalation")
        await deliver_event(time_env.client, app.event("referee.responded", {"referee_id": "ref-b"}), task_queue)

        async def turnaround_counted() -> Scrape | None:
            found = await scrape(url)
            return found if found.value(f"{business.REFEREE_TURNAROUND}_count") else None

        metrics = await eventually(turnaround_counted, what="the late reference in the metrics")
        current = await process_status(time_env.client, app.source, app.application_id)

    assert current.sla_breached and current.referees[0].reminders_sent == 2
    assert metrics.value(business.REMINDERS_SENT, recipient="recruiter") == 1
    assert metrics.value(business.REMINDERS_SENT, recipient="referee") == 2
    assert metrics.value(business.ESCALATIONS, reason="debrief_overdue") == 1
    assert metrics.value(business.ESCALATIONS, reason="referee_overdue") == 1
    assert metrics.value(business.ESCALATIONS, reason="referee_no_consent") == 0
    assert metrics.value(business.SLA_BREACHES, source="api") == 1
    assert metrics.value(f"{business.DEBRIEF_LATENCY}_count") == 0  # never debriefed
    turnaround = business.REFEREE_TURNAROUND
    assert metrics.value(f"{turnaround}_count", late="true") == 1
    assert 3 * DAY <= metrics.value(f"{turnaround}_sum", late="true") < 3 * DAY + HOUR
