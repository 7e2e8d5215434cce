"""The forwarder's pipeline against the real dev server: many applications at once, each one's
deliveries in the order they were accepted (an /events batch spanning two applications keeps
its place in both), and a stored event that no longer validates is given up on (failed) at once
without holding up its own application. tests/intake/test_dead_letters.py: poison, dead letters.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from domain.events import CanonicalEvent
from intake.forwarder import Forwarder
from store.intake_store import IntakeStore
from tests.events import Application
from tests.harness import eventually


def _stored(event: CanonicalEvent | dict) -> dict:
    return json.loads(event.model_dump_json()) if isinstance(event, CanonicalEvent) else event


def accept(store: IntakeStore, *events: CanonicalEvent | dict, application_key: str | None = "auto") -> int:
    if application_key == "auto":
        first = events[0]
        application_key = f"{first.source}:{first.application_id}" if isinstance(first, CanonicalEvent) else None
    return store.accept(
        source="api",
        idempotency_key=f"msg_{uuid.uuid4().hex}",
        action="canonical",
        application_key=application_key,
        events=[_stored(event) for event in events],
        ignored_reason=None,
        received_at=datetime.now(UTC),
    ).delivery_id


async def signalled_event_ids(env, workflow_id: str) -> list[str]:
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    found = []
    for event in history.events:
        if event.HasField("workflow_execution_signaled_event_attributes"):
            found.append(json.loads(event.workflow_execution_signaled_event_attributes.input.payloads[0].data)["event_id"])
    return found


def forwarder(env, store_url: str, task_queue: str, concurrency: int = 8) -> Forwarder:
    async def same_client():
        return env.client

    return Forwarder(IntakeStore(store_url), same_client, task_queue, concurrency=concurrency, max_backoff=0.2)


async def test_many_applications_at_once_each_in_the_order_accepted(dev_env, tmp_path: Path, task_queue):
    store_url = f"sqlite:///{tmp_path / 'intake.sqlite3'}"
    store = IntakeStore(store_url)
    apps = [Application(source="api") for _ in range(12)]
    expected: dict[str, list[str]] = {app.workflow_id: [] for app in apps}

    def sent(*events: CanonicalEvent) -> None:
        for event in events:
            expected[event.workflow_id].append(event.event_id)

    # Round-robin, as a busy ATS delivers them: every application's events interleaved.
    steps = [
        lambda app: app.interview(1),
        lambda app: app.references("ref-1"),
        lambda app: app.event("referee.consented", {"referee_id": "ref-1"}),
        lambda app: app.event("referee.responded", {"referee_id": "ref-1"}),
        lambda app: app.offer(),
    ]
    for number, step in enumerate(steps):
        for app in apps:
            event = step(app)
            accept(store, event)
            sent(event)
        if number == 2:
            # One /events batch spanning two applications, between their third and fourth.
            batch = [apps[0].interview(2, type_="interview.scheduled"), apps[1].interview(2, type_="interview.scheduled")]
            accept(store, *batch, application_key=None)
            sent(*batch)

    f = forwarder(dev_env, store_url, task_queue)
    stop = asyncio.Event()
    running = asyncio.create_task(f.run(stop, poll_interval=0.1))
    try:
        await eventually(lambda: store.counts() == {"delivered": 12 * 5 + 1}, timeout=60, what="every delivery marked")
    finally:
        stop.set()
        await running
    assert f.stats.delivered == 12 * 5 + 1 and f.stats.failed == 0
    for workflow_id, event_ids in expected.items():
        # The first event is also the start's input; its signal comes first all the same.
        assert await signalled_event_ids(dev_env, workflow_id) == event_ids, workflow_id
    assert sum(f.stats.marks) == 12 * 5 + 1 and len(f.stats.marks) < 12 * 5 + 1, "marks are written in groups"
    store.close()


async def test_a_stored_event_that_no_longer_validates_is_a_dead_letter_at_once_and_its_application_goes_on(dev_env, tmp_path: Path, task_queue):
    store_url = f"sqlite:///{tmp_path / 'intake.sqlite3'}"
    store = IntakeStore(store_url)
    stuck, other = Application(source="api"), Application(source="api")
    # Stored, but not an event the engine can deliver (say, written by an older version).
    broken = _stored(stuck.interview(1))
    del broken["candidate"]
    broken_id = accept(store, broken, application_key=f"api:{stuck.application_id}")
    behind = stuck.interview(1)
    behind_id = accept(store, behind)
    others = [other.interview(1), other.references("ref-1")]
    for event in others:
        accept(store, event)

    f = forwarder(dev_env, store_url, task_queue)
    stop = asyncio.Event()
    running = asyncio.create_task(f.run(stop, poll_interval=0.1))
    try:
        await eventually(lambda: store.counts() == {"delivered": 3, "failed": 1}, timeout=30, what="three delivered, one failed")
    finally:
        stop.set()
        await running
    row = _row(store, broken_id)
    # No retry can cure it: given up on at the first attempt, with the problem (never the values).
    assert row["attempts"] == 1 and row["failed_at"] is not None
    assert row["last_error"] == "ValidationError: the stored event no longer validates: candidate: Field required"
    assert _row(store, behind_id)["status"] == "delivered", "its application's later delivery went on"
    assert f.stats.dead_lettered == 1
    assert await signalled_event_ids(dev_env, stuck.workflow_id) == [behind.event_id]
    assert await signalled_event_ids(dev_env, other.workflow_id) == [event.event_id for event in others]
    store.close()


def _row(store: IntakeStore, delivery_id: int) -> dict:
    from sqlalchemy import select

    from store.schema import deliveries

    with store.engine.connect() as connection:
        return dict(connection.execute(select(deliveries).where(deliveries.c.id == delivery_id)).mappings().one())


async def test_a_reopening_while_no_worker_runs_waits_for_one_and_holds_up_nobody_else(dev_env, tmp_path: Path, task_queue, activity_pool):
    """Reopening a closed process asks the closed run for its state by query, which a worker
    answers. With none running (a deploy, a crash), that reopening waits, uncounted, for a worker
    to come back; every other application's deliveries go on meanwhile, and nothing is lost."""
    from temporalio.client import WorkflowExecutionStatus

    from tests.events import GOOD_DEBRIEF
    from tests.harness import running_engine

    store_url = f"sqlite:///{tmp_path / 'intake.sqlite3'}"
    store = IntakeStore(store_url)
    tasks_url = f"sqlite:///{tmp_path / 'tasks.sqlite3'}"
    closed, other = Application(source="api"), Application(source="api")
    handle = dev_env.client.get_workflow_handle(closed.workflow_id)
    async with running_engine(dev_env, tasks_url, task_queue, activity_pool):
        from process_client import deliver_event

        await deliver_event(dev_env.client, closed.interview(1), task_queue)
        await deliver_event(dev_env.client, closed.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
        await deliver_event(dev_env.client, closed.event("candidate.rejected", {"reason": "client chose another"}), task_queue)
        await eventually(lambda: _completed(handle), what="the process to close")
    first_run = (await handle.describe()).run_id

    # No worker now. The reopening, then another application's events.
    reopening = closed.event("application.reopened", {"reason": "unreject_candidate"})
    reopening_id = accept(store, reopening)
    others = [other.interview(1), other.references("ref-1")]
    for event in others:
        accept(store, event)
    f = forwarder(dev_env, store_url, task_queue)
    stop = asyncio.Event()
    running = asyncio.create_task(f.run(stop, poll_interval=0.1))
    try:
        await eventually(lambda: store.counts() == {"delivered": 2, "pending": 1}, timeout=60, what="the others delivered, the reopening pending")
        assert await signalled_event_ids(dev_env, other.workflow_id) == [event.event_id for event in others]
        row = _row(store, reopening_id)
        assert row["status"] == "pending" and row["attempts"] == 0, row
        await eventually(lambda: "no worker took the query" in (_row(store, reopening_id)["last_error"] or ""), timeout=90, what="the wait for a worker recorded")
        assert _row(store, reopening_id)["attempts"] == 0
        assert f.stats.dead_lettered == 0
        # A worker comes back: the reopening goes through, as a new run of the closed process.
        async with running_engine(dev_env, tasks_url, task_queue, activity_pool):
            await eventually(lambda: store.counts() == {"delivered": 3}, timeout=90, what="the reopening delivered")
            description = await handle.describe()
            assert description.status == WorkflowExecutionStatus.RUNNING and description.run_id != first_run
    finally:
        stop.set()
        await running
    store.close()


async def _completed(handle) -> bool:
    from temporalio.client import WorkflowExecutionStatus

    return (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
