"""Poison in the intake table (issue 12, finding 4), with the real store on SQLite and PostgreSQL
and real Temporal dev servers: a delivery that keeps failing holds up its own application only,
however many of that application's deliveries queue behind it; it becomes `failed` (a dead
letter) after INTAKE_MAX_ATTEMPTS, or at once when Temporal refuses it for good (a run past its
signal limit); Temporal being unreachable counts for nothing; the metrics and
`postinterview deliveries` show the dead letters and bring them back.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import generate_latest
from temporalio.client import Client, Interceptor, OutboundInterceptor, StartWorkflowInput, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from intake.forwarder import Forwarder
from metrics.intake import IntakeMetrics
from store.intake_store import IntakeStore, NewDelivery
from tests.cli.conftest import run_cli
from tests.events import Application
from tests.harness import eventually, free_port, start_dev_server
from tests.intake.test_forwarder import _row, _stored, accept, signalled_event_ids
from tests.metrics.scrape import Scrape


BEHIND = 1000
MAX_ATTEMPTS = 4


def accept_all(store: IntakeStore, app: Application, count: int) -> list[str]:
    """`count` deliveries of `app` in one transaction; their event ids, in order."""
    events = [app.interview(2, type_="interview.scheduled") for _ in range(count)]
    store.accept_many(
        [
            NewDelivery(
                source="api",
                idempotency_key=f"msg_{uuid.uuid4().hex}",
                action="canonical",
                application_key=f"api:{app.application_id}",
                events=[_stored(event)],
                ignored_reason=None,
                received_at=datetime.now(UTC),
            )
            for event in events
        ]
    )
    return [event.event_id for event in events]


class ShardFault(Interceptor):
    """The server answers INTERNAL to one event's signal-with-start, as a sick history shard does
    for the workflows it owns, until `healed`. Its last attempt before the forwarder gives up is
    answered only once another application's delivery has reached the server, so the test knows,
    without timing anything, that the other application went by while this one still failed."""

    def __init__(self, store: IntakeStore, poisoned_event_id: str, poisoned_id: int, other_workflow_id: str) -> None:
        self.store = store
        self.poisoned_event_id = poisoned_event_id
        self.poisoned_id = poisoned_id
        self.other_workflow_id = other_workflow_id
        self.attempts = 0
        self.healed = False
        self.other_delivered = asyncio.Event()
        self.poisoned_when_other_delivered: dict[str, Any] | None = None
        self.other_late = False

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Faulty(next, self)


class _Faulty(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, fault: ShardFault) -> None:
        super().__init__(next)
        self.fault = fault

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        fault = self.fault
        if input.args[0].event_id == fault.poisoned_event_id and not fault.healed:
            fault.attempts += 1
            if fault.attempts == MAX_ATTEMPTS:
                try:
                    await asyncio.wait_for(fault.other_delivered.wait(), 60)
                except TimeoutError:
                    fault.other_late = True
            raise RPCError("shard 3 is not available on this host", RPCStatusCode.INTERNAL, b"")
        handle = await super().start_workflow(input)
        if input.id == fault.other_workflow_id and not fault.other_delivered.is_set():
            fault.poisoned_when_other_delivered = await asyncio.to_thread(_row, fault.store, fault.poisoned_id)
            fault.other_delivered.set()
        return handle


async def test_a_thousand_deliveries_behind_a_failing_one_never_hold_up_another_application(dev_env, database_url: str, task_queue):
    store = IntakeStore(database_url)
    poisoned_app, other = Application(source="api"), Application(source="api")
    poisoned_event = poisoned_app.interview(1)
    poisoned_id = accept(store, poisoned_event)
    behind = accept_all(store, poisoned_app, BEHIND)  # more than the forwarder holds (8 + 500)
    other_event = other.interview(1)
    accept(store, other_event)

    fault = ShardFault(store, poisoned_event.event_id, poisoned_id, other.workflow_id)
    client = Client(dev_env.client.service_client, namespace=dev_env.client.namespace, data_converter=dev_env.client.data_converter, interceptors=[fault])

    async def connect() -> Client:
        return client

    f = Forwarder(IntakeStore(database_url), connect, task_queue, concurrency=8, max_backoff=0.2, max_attempts=MAX_ATTEMPTS, max_retry_delay=0.2)
    metrics = IntakeMetrics(store)
    f.observer = metrics
    stop = asyncio.Event()
    running = asyncio.create_task(f.run(stop, poll_interval=0.1))
    try:
        await eventually(fault.other_delivered.is_set, timeout=60, what="the other application delivered while the poisoned one fails")
        failed = await eventually(
            lambda: (lambda row: row if row["status"] == "failed" else None)(_row(store, poisoned_id)), timeout=90, what="the poisoned delivery failed"
        )
        assert not fault.other_late, "the other application's delivery waited behind the failing one"
        # It was delivered while the poisoned one was still pending, attempts to go.
        seen = fault.poisoned_when_other_delivered
        assert seen is not None and seen["status"] == "pending" and seen["attempts"] < MAX_ATTEMPTS
        assert failed["attempts"] == MAX_ATTEMPTS == fault.attempts
        assert failed["last_error"] == "RPCError INTERNAL: shard 3 is not available on this host"

        scraped = Scrape(generate_latest(metrics.registry).decode())
        assert scraped.value("postinterview_intake_failed", vendor="events") == 1
        assert scraped.value("postinterview_intake_failed", vendor="greenhouse") == 0
        assert scraped.value("postinterview_forward_dead_letters_total", vendor="events") == 1

        # A dead letter never wedges its application: the thousand behind it go on, in order.
        await eventually(lambda: store.counts() == {"delivered": BEHIND + 1, "failed": 1}, timeout=180, what="everything else delivered")
        assert await signalled_event_ids(dev_env, poisoned_app.workflow_id) == behind
        assert await signalled_event_ids(dev_env, other.workflow_id) == [other_event.event_id]

        # The fault is over; the operator retries it and the running forwarder delivers it.
        fault.healed = True
        env = {"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "COLUMNS": "250"}
        listed = await run_cli("deliveries", "list", env=env)
        assert listed.code == 0, listed.output
        assert "1 failed deliveries" in listed.stdout and "RPCError INTERNAL: shard 3" in listed.stdout
        retried = await run_cli("deliveries", "retry", str(poisoned_id), "--by", "olga", "--note", "shard 3 back", env=env)
        assert retried.code == 0, retried.output
        delivered = await eventually(
            lambda: (lambda row: row if row["status"] == "delivered" else None)(_row(store, poisoned_id)), timeout=30, what="the retried one delivered"
        )
        assert delivered["operator"] == "olga" and delivered["operator_note"] == "shard 3 back"
        assert await signalled_event_ids(dev_env, poisoned_app.workflow_id) == [*behind, poisoned_event.event_id]
        assert Scrape(generate_latest(metrics.registry).decode()).value("postinterview_intake_failed", vendor="events") == 0
    finally:
        stop.set()
        await running
        store.close()


# --- a run past Temporal's signal limit: refused for good, a dead letter at once ---------------

SIGNAL_LIMIT = 3


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def limited_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server that takes at most SIGNAL_LIMIT signals per run (the default is 10,000)."""
    env = await start_dev_server(dev_server_extra_args=["--dynamic-config-value", f"history.maximumSignalsPerExecution={SIGNAL_LIMIT}"])
    try:
        yield env
    finally:
        await env.shutdown()


async def test_a_run_past_its_signal_limit_gives_dead_letters_at_once_and_others_go_on(limited_env, database_url: str, task_queue):
    store = IntakeStore(database_url)
    full, other = Application(source="api"), Application(source="api")
    taken = [accept(store, event) for event in (full.interview(1), full.references("ref-1"), full.offer())]
    refused = [accept(store, event) for event in (full.offer("offer.accepted"), full.event("candidate.withdrew"))]
    other_id = accept(store, other.interview(1))

    async def connect() -> Client:
        return limited_env.client

    f = Forwarder(IntakeStore(database_url), connect, task_queue, concurrency=8, max_backoff=0.2)  # 12 attempts by default
    stop = asyncio.Event()
    running = asyncio.create_task(f.run(stop, poll_interval=0.1))
    try:
        await eventually(lambda: store.counts() == {"delivered": 4, "failed": 2}, timeout=30, what="four delivered, two failed")
    finally:
        stop.set()
        await running
    for delivery_id in refused:
        row = _row(store, delivery_id)
        assert row["attempts"] == 1, "no retry can cure it"
        assert row["last_error"] == "RPCError INVALID_ARGUMENT: exceeded workflow execution limit for signal events"
    assert all(_row(store, delivery_id)["status"] == "delivered" for delivery_id in [*taken, other_id])
    assert f.stats.dead_lettered == 2
    store.close()


# --- Temporal unreachable: retried for ever, counted for nothing ---------------------------------


async def test_temporal_unreachable_never_counts_towards_the_limit_and_a_skipped_delivery_is_let_go(tmp_path: Path):
    store_url = f"sqlite:///{tmp_path / 'intake.sqlite3'}"
    store = IntakeStore(store_url)

    async def nowhere() -> Client:
        return await Client.connect(f"127.0.0.1:{free_port()}", lazy=True, data_converter=pydantic_data_converter)

    app = Application(source="api")
    head_id, next_id = accept(store, app.interview(1)), accept(store, app.references("ref-1"))
    f = Forwarder(IntakeStore(store_url), nowhere, max_backoff=0.05, max_attempts=2)
    stop = asyncio.Event()
    running = asyncio.create_task(f.run(stop, poll_interval=0.05))
    try:
        await eventually(lambda: f.stats.failed >= 6, timeout=30, what="six failed attempts")
        head = _row(store, head_id)
        assert head["status"] == "pending" and head["attempts"] == 0, "Temporal down is not the delivery's fault"
        assert "Failed client connect" in head["last_error"]
        assert _row(store, next_id)["last_error"] is None, "its application's next one waits behind it"
        assert f.stats.dead_lettered == 0

        # An operator gives up on the head: the forwarder lets it go and goes on to the next.
        assert store.skip(head_id, "olga", "sent by mistake")
        await eventually(lambda: _row(store, next_id)["last_error"] is not None, timeout=30, what="the next one tried")
    finally:
        stop.set()
        await running
    head = _row(store, head_id)
    assert (head["status"], head["operator"], head["operator_note"]) == ("skipped", "olga", "sent by mistake")
    store.close()


def test_the_failed_gauge_counts_by_vendor_until_retried_or_skipped(database_url: str):
    store = IntakeStore(database_url)
    ids = [
        store.accept(
            source=source, idempotency_key=f"key-{i}", action="a", application_key=f"{source}:app-{i}",
            events=[{"event_id": f"e-{i}"}], ignored_reason=None, received_at=datetime.now(UTC),
        ).delivery_id
        for i, source in enumerate(("greenhouse", "greenhouse", "api", "lever"))
    ]  # fmt: skip
    store.settle([ids[3]], [(ids[0], "RPCError INVALID_ARGUMENT: too big"), (ids[1], "x"), (ids[2], "y")])
    gauge = "postinterview_intake_failed"
    scraped = Scrape(generate_latest(IntakeMetrics(store).registry).decode())
    assert {vendor: scraped.value(gauge, vendor=vendor) for vendor in ("greenhouse", "lever", "ashby", "events")} == {
        "greenhouse": 2, "lever": 0, "ashby": 0, "events": 1,
    }  # fmt: skip
    assert store.retry(ids[0], "olga") and store.skip(ids[2], "olga", "test data")
    assert not store.retry(ids[3], "olga"), "a delivered one is not retried"
    scraped = Scrape(generate_latest(IntakeMetrics(store).registry).decode())
    assert scraped.value(gauge, vendor="greenhouse") == 1 and scraped.value(gauge, vendor="events") == 0
    assert _row(store, ids[0])["attempts"] == 0 and _row(store, ids[0])["status"] == "pending"
    assert json.dumps(store.counts(), sort_keys=True) == json.dumps({"delivered": 1, "failed": 1, "pending": 1, "skipped": 1}, sort_keys=True)
    store.close()
