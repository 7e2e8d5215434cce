"""The intake's /metrics, scraped over HTTP after signed webhooks were posted to it: deliveries
by vendor and outcome, what the forwarder delivered to a real Temporal server, and the backlog."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from intake.forwarder import Forwarder
from intake.signing import standard_webhook_signature
from metrics.intake import IntakeMetrics
from store.intake_store import IntakeStore
from tests.events import Application
from tests.harness import eventually, free_port, running_engine
from tests.intake.test_service import (
    EVENTS_SECRET,
    forwarder_for,
    intake_service,
    signed_ashby,
    signed_event,
    signed_greenhouse,
)
from tests.metrics.scrape import Scrape

DELIVERIES = "postinterview_webhook_deliveries_total"


async def scrape(http) -> Scrape:
    answer = await http.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return Scrape(answer.text)


async def test_every_answer_is_counted_by_vendor_and_outcome_and_forwarded_events_too(dev_env, store_url, task_queue, activity_pool):
    app = Application(source="api")
    async with running_engine(dev_env, store_url, task_queue, activity_pool):
        async with intake_service(store_url, forwarder_for(dev_env, store_url, task_queue)) as (http, store):
            body, headers = signed_event(app.interview(1))
            assert (await http.post("/events", content=body, headers=headers)).status_code == 200
            assert (await http.post("/events", content=body, headers=headers)).json()["status"] == "duplicate"
            garbage = b"{not json"
            _, signed = signed_event(app.interview(1))
            signed["webhook-signature"] = standard_webhook_signature(EVENTS_SECRET, signed["webhook-id"], signed["webhook-timestamp"], garbage)
            assert (await http.post("/events", content=garbage, headers=signed)).status_code == 400
            ping, ping_headers = signed_ashby("ashby_ping.json")
            assert (await http.post("/webhooks/ashby", content=ping, headers=ping_headers)).json()["status"] == "ignored"
            gh_body, gh_headers = signed_greenhouse("greenhouse_candidate_stage_change.json")
            forged = {**gh_headers, "Signature": "sha256 " + "0" * 64}
            assert (await http.post("/webhooks/greenhouse", content=gh_body, headers=forged)).status_code == 401
            assert (await http.post("/webhooks/greenhouse", content=gh_body, headers={**gh_headers, "content-type": "text/plain"})).status_code == 415
            await eventually(lambda: store.counts().get("delivered") == 1, what="the event forwarded")
            metrics = await scrape(http)

    assert metrics.value(DELIVERIES, vendor="events", outcome="accepted") == 1
    assert metrics.value(DELIVERIES, vendor="events", outcome="duplicate") == 1
    assert metrics.value(DELIVERIES, vendor="events", outcome="bad_request") == 1
    assert metrics.value(DELIVERIES, vendor="ashby", outcome="ignored") == 1
    assert metrics.value(DELIVERIES, vendor="greenhouse", outcome="rejected_signature") == 1
    assert metrics.value(DELIVERIES, vendor="greenhouse", outcome="unsupported_media_type") == 1
    assert metrics.value(DELIVERIES) == 6
    # Series exist from the start, at zero, so a rate() sees the first of each kind.
    assert metrics.has(DELIVERIES, vendor="lever", outcome="accepted") and metrics.value(DELIVERIES, vendor="lever") == 0
    assert metrics.value("postinterview_webhook_acknowledgement_seconds_count", vendor="events") == 3
    assert metrics.value("postinterview_forwarded_events_total", outcome="delivered") == 1
    assert metrics.value("postinterview_forward_failures_total") == 0
    assert metrics.value("postinterview_intake_backlog") == 0
    assert metrics.value("postinterview_intake_oldest_pending_seconds") == 0
    assert metrics.has("process_resident_memory_bytes")
    for private in ("Ada", "ada@example.com", app.application_id):
        assert private not in metrics.text


async def test_the_backlog_and_failures_show_while_temporal_is_unreachable(tmp_path: Path):
    store_url = f"sqlite:///{tmp_path / 'intake.sqlite3'}"

    async def nowhere() -> Client:
        # Connects on first use, to a port nobody listens on: every delivery fails.
        return await Client.connect(f"127.0.0.1:{free_port()}", lazy=True, data_converter=pydantic_data_converter)

    app = Application(source="api")
    async with intake_service(store_url, Forwarder(IntakeStore(store_url), nowhere, max_backoff=0.2)) as (http, store):
        for event in (app.interview(1), app.references("ref-1")):
            body, headers = signed_event(event)
            assert (await http.post("/events", content=body, headers=headers)).status_code == 200

        async def failing() -> Scrape | None:
            found = await scrape(http)
            return found if found.value("postinterview_forward_failures_total") >= 1 else None

        metrics = await eventually(failing, what="a failed delivery counted")
        assert metrics.value("postinterview_intake_backlog") == 2
        assert 0 <= metrics.value("postinterview_intake_oldest_pending_seconds") < 60
        assert metrics.value("postinterview_forwarded_events_total") == 0
        assert json.loads((await http.get("/healthz")).text) == {"status": "ok"}


# --- the backlog query, on both databases ------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def intake_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IntakeStore]:
    url = f"sqlite:///{tmp_path / 'intake.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("postgres_schema_url")
    store = IntakeStore(url)
    yield store
    store.close()


def test_the_backlog_counts_pending_deliveries_and_ages_the_oldest(intake_store: IntakeStore):
    assert intake_store.backlog() == (0, None)
    received = [datetime(2026, 11, 26, 9, minute, tzinfo=UTC) for minute in (0, 5, 10)]
    ids = [
        intake_store.accept(
            source="api", idempotency_key=f"key-{i}", action="a", application_key=f"app-{i}",
            events=[{"event_id": f"e-{i}"}], ignored_reason=None, received_at=at,
        ).delivery_id
        for i, at in enumerate(received)
    ]  # fmt: skip
    intake_store.accept(
        source="api", idempotency_key="ping", action="ping", application_key=None, events=[], ignored_reason="ping", received_at=received[0]
    )  # ignored: never forwarded, never in the backlog
    intake_store.mark_delivered(ids[:1])
    count, oldest = intake_store.backlog()
    assert count == 2 and oldest == received[1] and oldest.tzinfo is not None

    metrics = Scrape(generate_latest(IntakeMetrics(intake_store).registry).decode())
    assert metrics.value("postinterview_intake_backlog") == 2
    age = (datetime.now(UTC) - received[1]).total_seconds()
    assert age - 60 < metrics.value("postinterview_intake_oldest_pending_seconds") <= age + 60
