"""The intake service end to end: real HTTP on loopback, a real store, the real dev server.

Webhooks are signed with intake/signing.py, written apart from the verifiers and checked on its
own in test_signing.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.events import CanonicalEvent
from intake.app import MAX_BODY_BYTES, create_app
from intake.config import IntakeConfig
from intake.forwarder import Forwarder
from intake.names import NameLoader, Resolver, VendorNames
from intake.signing import ashby_headers, greenhouse_headers, sign_lever, standard_webhook_headers, standard_webhook_signature
from process_client import connect, process_status
from service.embedded_http import embedded_server
from service.settings import Settings
from store.intake_store import IntakeStore
from tests.events import Application
from tests.harness import eventually, free_port, running_engine, start_dev_server, status_when

PROJECT = Path(__file__).resolve().parents[2]
PAYLOADS = Path(__file__).parent / "payloads"
EVENTS_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
GREENHOUSE_SECRET = "greenhouse-test-secret"
ASHBY_SECRET = "ashby-test-secret"


def config(**environ: str) -> IntakeConfig:
    secrets = {"EVENTS_WEBHOOK_SECRET": EVENTS_SECRET, "GREENHOUSE_WEBHOOK_SECRET": GREENHOUSE_SECRET, "ASHBY_WEBHOOK_SECRET": ASHBY_SECRET}
    return Settings.from_env({**secrets, **environ}).intake.config(PROJECT / "config" / "intake.toml")


@asynccontextmanager
async def intake_service(
    store_url: str,
    forwarder: Forwarder | None = None,
    intake_config: IntakeConfig | None = None,
    names: VendorNames | None = None,
    load_names: NameLoader | None = None,
    resolve: Resolver | None = None,
) -> AsyncIterator[tuple[httpx.AsyncClient, IntakeStore]]:
    store = IntakeStore(store_url)
    port = free_port()
    app = create_app(intake_config or config(), store, forwarder, names=names, load_names=load_names, resolve=resolve)
    server = embedded_server(app, "127.0.0.1", port)
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, what="the intake to listen")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield http, store
    finally:
        server.should_exit = True
        await serving
        store.close()


def signed_event(events: CanonicalEvent | list[CanonicalEvent], webhook_id: str | None = None, at: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        [json.loads(e.model_dump_json()) for e in events] if isinstance(events, list) else json.loads(events.model_dump_json())
    )
    return body.encode(), {"content-type": "application/json", **standard_webhook_headers(body.encode(), EVENTS_SECRET, webhook_id, at)}


def events_signature(headers: dict[str, str], body: bytes, secret: str = EVENTS_SECRET) -> str:
    """A signature of other bytes (or with another secret) for the id and timestamp of `headers`."""
    return standard_webhook_signature(secret, headers["webhook-id"], headers["webhook-timestamp"], body)


def signed_greenhouse(fixture: str, event_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    body = (PAYLOADS / fixture).read_bytes()
    return body, {"content-type": "application/json", **greenhouse_headers(body, GREENHOUSE_SECRET, event_id)}


def signed_ashby(fixture: str) -> tuple[bytes, dict[str, str]]:
    body = (PAYLOADS / fixture).read_bytes()
    return body, {"content-type": "application/json", **ashby_headers(body, ASHBY_SECRET)}


def forwarder_for(env: WorkflowEnvironment, store_url: str, task_queue: str) -> Forwarder:
    async def same_client():
        return env.client

    return Forwarder(IntakeStore(store_url), same_client, task_queue, max_backoff=0.5)


# --- accepted, delivered -------------------------------------------------------------------------


async def test_a_canonical_event_reaches_its_process(dev_env, store_url, task_queue, activity_pool):
    app = Application(source="api")
    async with running_engine(dev_env, store_url, task_queue, activity_pool):
        async with intake_service(store_url, forwarder_for(dev_env, store_url, task_queue)) as (http, store):
            body, headers = signed_event(app.interview(1))
            answer = await http.post("/events", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] == "accepted"
            current = await eventually(lambda: process_status(dev_env.client, "api", app.application_id), what="the process")
            assert current.stage == "debrief"
            await eventually(lambda: store.counts() == {"delivered": 1})


async def test_the_same_delivery_five_times_has_one_effect(dev_env, store_url, task_queue, activity_pool):
    app = Application(source="api")
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as tasks:
        async with intake_service(store_url, forwarder_for(dev_env, store_url, task_queue)) as (http, store):
            body, headers = signed_event(app.interview(1))
            answers = [await http.post("/events", content=body, headers=headers) for _ in range(5)]
            assert [a.json()["status"] for a in answers] == ["accepted"] + ["duplicate"] * 4
            assert [a.status_code for a in answers] == [200] * 5
            await eventually(lambda: tasks.tasks(process_id=app.workflow_id))
            await eventually(lambda: store.counts() == {"delivered": 1})
            current = await process_status(dev_env.client, "api", app.application_id)
            assert current.events_seen == 1 and len(tasks.tasks(process_id=app.workflow_id)) == 1


async def test_a_greenhouse_stage_change_starts_the_application_process(dev_env, store_url, task_queue, activity_pool):
    async with running_engine(dev_env, store_url, task_queue, activity_pool):
        async with intake_service(store_url, forwarder_for(dev_env, store_url, task_queue)) as (http, store):
            body, headers = signed_greenhouse("greenhouse_candidate_stage_change.json")
            answer = await http.post("/webhooks/greenhouse", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            event_ids = answer.json()["events"]
            assert event_ids
            application_id = json.loads(body)["payload"]["application"]["id"]
            current = await eventually(lambda: process_status(dev_env.client, "greenhouse", str(application_id)), what="the process")
            assert current.events_seen >= 1


async def test_pings_and_unused_actions_are_acknowledged_and_recorded_as_ignored(tmp_path: Path):
    async with intake_service(f"sqlite:///{tmp_path / 'intake.sqlite3'}") as (http, store):
        answer = await http.post("/webhooks/ashby", content=(b := signed_ashby("ashby_ping.json"))[0], headers=b[1])
        assert answer.status_code == 200 and answer.json()["status"] == "ignored" and "ping" in answer.json()["reason"]
        answer = await http.post("/webhooks/greenhouse", content=(b := signed_greenhouse("greenhouse_ping.json"))[0], headers=b[1])
        assert answer.status_code == 200 and answer.json()["status"] == "ignored"
        answer = await http.post("/webhooks/greenhouse", content=(b := signed_greenhouse("greenhouse_interview_deleted.json"))[0], headers=b[1])
        assert answer.status_code == 200 and "interview_deleted" in answer.json()["reason"]
        assert store.counts() == {"ignored": 3}


# --- refused, nothing stored ------------------------------------------------------------------------


async def test_bad_signatures_are_401_and_store_nothing(tmp_path: Path):
    app = Application(source="api")
    async with intake_service(f"sqlite:///{tmp_path / 'intake.sqlite3'}") as (http, store):
        body, headers = signed_event(app.interview(1))
        forged = {**headers, "webhook-signature": events_signature(headers, body, "whsec_" + base64.b64encode(os.urandom(32)).decode())}
        stale_body, stale = signed_event(app.interview(1), at=datetime.now(UTC) - timedelta(minutes=6))
        missing = {k: v for k, v in headers.items() if k != "webhook-signature"}
        for attempt_body, attempt_headers in ((body, forged), (stale_body, stale), (body, missing), (body + b" ", headers)):
            answer = await http.post("/events", content=attempt_body, headers=attempt_headers)
            assert answer.status_code == 401, answer.text
            assert answer.json()["error"] == "unauthorized" and answer.json()["message"]
        gh_body, gh_headers = signed_greenhouse("greenhouse_candidate_stage_change.json")
        answer = await http.post("/webhooks/greenhouse", content=gh_body, headers={**gh_headers, "Signature": "sha256 " + "0" * 64})
        assert answer.status_code == 401
        assert store.counts() == {}


async def test_an_endpoint_without_a_secret_says_which_setting_is_missing(tmp_path: Path):
    without_lever = config(LEVER_WEBHOOK_SIGNATURE_TOKEN="")
    async with intake_service(f"sqlite:///{tmp_path / 'intake.sqlite3'}", intake_config=without_lever) as (http, store):
        body = (PAYLOADS / "lever_candidate_stage_change.json").read_bytes()
        answer = await http.post("/webhooks/lever", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 401 and "LEVER_WEBHOOK_SIGNATURE_TOKEN" in answer.json()["message"]
        assert store.counts() == {}


async def test_malformed_oversized_and_non_json_bodies_get_clear_answers(tmp_path: Path):
    app = Application(source="api")
    async with intake_service(f"sqlite:///{tmp_path / 'intake.sqlite3'}") as (http, store):
        # Signed, but not JSON.
        garbage = b"{not json"
        _, headers = signed_event(app.interview(1))
        headers["webhook-signature"] = events_signature(headers, garbage)
        answer = await http.post("/events", content=garbage, headers=headers)
        assert answer.status_code == 400 and "not valid JSON" in answer.json()["message"]

        # Signed JSON that is not a canonical event: the field is named.
        bad = json.loads(app.interview(1).model_dump_json())
        del bad["data"]["interview_id"]  # (a round may be left out: the process numbers interviews)
        text = json.dumps(bad)
        _, headers = signed_event(app.interview(1))
        headers["webhook-signature"] = events_signature(headers, text.encode())
        answer = await http.post("/events", content=text.encode(), headers=headers)
        assert answer.status_code == 400 and "interview_id" in answer.json()["message"]

        answer = await http.post("/events", content=b"x" * (MAX_BODY_BYTES + 1), headers={"content-type": "application/json"})
        assert answer.status_code == 413

        body, headers = signed_event(app.interview(1))
        answer = await http.post("/events", content=body, headers={**headers, "content-type": "text/plain"})
        assert answer.status_code == 415 and "JSON" in answer.json()["message"]
        assert store.counts() == {}


async def test_health_readiness_and_openapi(tmp_path: Path):
    async with intake_service(f"sqlite:///{tmp_path / 'intake.sqlite3'}") as (http, _):
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.json()["checks"]["store"] == "ok"
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert {"/webhooks/greenhouse", "/webhooks/lever", "/webhooks/ashby", "/events", "/healthz", "/readyz"} <= set(paths)


# --- Temporal down: accepted input is never lost ---------------------------------------------------


async def test_events_accepted_while_temporal_is_down_are_all_delivered_once_in_order(tmp_path: Path, activity_pool):
    port = free_port()
    temporal_db = tmp_path / "temporal.sqlite"
    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    task_queue = f"test-{uuid.uuid4()}"

    async def start_server() -> WorkflowEnvironment:
        return await start_dev_server(port=port, dev_server_extra_args=["--db-filename", str(temporal_db)])

    env = await start_server()  # creates Temporal's database with the namespace...
    await env.shutdown()  # ...and Temporal goes down

    async def fresh_client():
        return await connect(f"127.0.0.1:{port}")

    applications = [Application(source="api") for _ in range(25)]
    async with intake_service(store_url, Forwarder(IntakeStore(store_url), fresh_client, task_queue, max_backoff=0.5)) as (http, store):
        for app in applications:  # 100 events, 4 per application, in the order a recruiter lives them
            for event in (app.interview(1), app.references("ref-1"), app.event("referee.consented", {"referee_id": "ref-1"}), app.offer()):
                body, headers = signed_event(event)
                answer = await http.post("/events", content=body, headers=headers)
                assert answer.status_code == 200, answer.text
        assert store.counts() == {"pending": 100}

        env = await start_server()
        try:
            async with running_engine(env, store_url, task_queue, activity_pool):
                await eventually(lambda: store.counts() == {"delivered": 100}, timeout=90, what="all 100 delivered")
                for app in applications:
                    current = await status_when(env.client, app.source, app.application_id, lambda s: s.stage == "offer", timeout=30, what=f"{app.application_id} handled")
                    assert current.events_seen == 4, "none twice"
                    assert await _signalled_types(env, app) == ["interview.completed", "references.requested", "referee.consented", "offer.extended"]
        finally:
            await env.shutdown()


async def _signalled_types(env: WorkflowEnvironment, app: Application) -> list[str]:
    """The event types in the order the process received them (signal-with-start included)."""
    history = await env.client.get_workflow_handle(app.workflow_id).fetch_history()
    types = []
    for event in history.events:
        signal = event.workflow_execution_signaled_event_attributes
        if event.HasField("workflow_execution_signaled_event_attributes") and signal.signal_name == "event":
            payload = signal.input.payloads[0]
            types.append(json.loads(payload.data)["type"])
    return types


LEVER_TOKEN = "lever-signature-token"


def signed_lever(fixture: str, **data: str) -> tuple[bytes, dict[str, str]]:
    payload = json.loads((PAYLOADS / fixture).read_text())
    payload["data"].update(data)
    payload["triggeredAt"] = int(time.time() * 1000)  # Lever sends it as it happens; a stale one is refused
    return json.dumps(sign_lever(payload, LEVER_TOKEN)).encode(), {"content-type": "application/json"}


async def test_lever_and_ashby_webhooks_reach_their_application_processes(dev_env, store_url, task_queue, activity_pool):
    intake_config = config(LEVER_WEBHOOK_SIGNATURE_TOKEN=LEVER_TOKEN)
    async with running_engine(dev_env, store_url, task_queue, activity_pool):
        async with intake_service(store_url, forwarder_for(dev_env, store_url, task_queue), intake_config) as (http, _):
            # A Lever stage the deployment maps to "interview completed" (config/intake.toml).
            body, headers = signed_lever("lever_candidate_stage_change.json", toStageId="00000000-0000-4000-8000-00000000a001")
            answer = await http.post("/webhooks/lever", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            opportunity = json.loads(body)["data"]["opportunityId"]
            lever = await status_when(dev_env.client, "lever", opportunity, lambda s: s.debriefs and s.open_tasks, what="the Lever process")
            assert lever.stage == "debrief" and lever.open_tasks[0].kind == "book_debrief"

            # An interview schedule created in Ashby: interview.scheduled (an update of a scheduled
            # one is interview.rescheduled).
            body = (PAYLOADS / "ashby_interview_schedule_update.json").read_bytes().replace(b'"interviewScheduleUpdate"', b'"interviewScheduleCreate"')
            headers = {"content-type": "application/json", **ashby_headers(body, ASHBY_SECRET)}
            answer = await http.post("/webhooks/ashby", content=body, headers=headers)
            assert (answer.status_code, answer.json()["status"]) == (200, "accepted"), answer.text
            application = json.loads(body)["data"]["interviewSchedule"]["applicationId"]
            # A scheduled interview is taken as having happened once its end and the grace period
            # (30 minutes) have passed: the fixture's schedule is on a fixed day.
            ends = max(datetime.fromisoformat(e["endTime"]) for e in json.loads(body)["data"]["interviewSchedule"]["interviewEvents"])
            expected = "debrief" if datetime.now(UTC) > ends + timedelta(minutes=30) else "follow_up"
            ashby = await status_when(dev_env.client, "ashby", application, lambda s: s.stage == expected, what="the Ashby process")
            assert ashby.stage == expected
