"""Erasing a candidate, on a real Temporal dev server with the real worker, a real store, the CLI
as a process of its own and the Greenhouse web hooks over real HTTP.

After `postinterview forget`, the candidate's processes are terminated, their rows are gone from
the store, and their history, fetched from Temporal, no longer decodes ("erased"), through the
codec or the codec server; another candidate's history still decodes and replays. Repeating it
is harmless and recorded; a late event starts nothing for them."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import pytest_asyncio
from google.protobuf import json_format
from sqlalchemy import select
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from codec.data_keys import CandidateErased, KeyringCodec
from codec.encryption import data_converter, generate_key, parse_keys
from domain import contract
from domain.reference_report import ReferenceAnswer, ReferenceReport
from intake.forwarder import Forwarder
from intake.signing import greenhouse_headers
from process_client import client_options, deliver_event
from service.codec_server import serve_codec
from store.data_key_store import DataKeyStore
from store.erasure_store import ErasureStore
from store.intake_store import IntakeStore
from store.contact_preferences import ContactPreferenceStore
from store.reference_store import ReferenceStore
from store.schema import erasures
from tests.cli.conftest import run_cli
from tests.events import Application
from tests.harness import eventually, free_port, running_engine, start_dev_server
from tests.intake.test_service import GREENHOUSE_SECRET, intake_service, signed_event
from worker import WORKFLOWS, workflow_runner

SPEC = f"2026:{generate_key()}"
EXAMPLES = Path(__file__).parent.parent / "intake" / "vendor_examples" / "greenhouse"


def keyring(store_url: str) -> KeyringCodec:
    """A codec as a process of its own would have it: nothing cached."""
    return KeyringCodec(parse_keys(SPEC), DataKeyStore(store_url))


@pytest_asyncio.fixture
async def server() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server()
    try:
        yield env
    finally:
        await env.shutdown()


async def engine_client(env: WorkflowEnvironment, store_url: str) -> Client:
    """A client (the worker's too) with the engine's codec: data keys in this test's store."""
    return await Client.connect(**client_options(env.client.service_client.config.target_host, env.client.namespace, keyring(store_url)))


async def raw_client(env: WorkflowEnvironment) -> Client:
    return await Client.connect(env.client.service_client.config.target_host, namespace=env.client.namespace)


async def started_input(raw: Client, workflow_id: str) -> Payloads:
    history = await raw.get_workflow_handle(workflow_id).fetch_history()
    started = next(e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    return started.workflow_execution_started_event_attributes.input


def key_label(payloads: Payloads) -> str:
    return payloads.payloads[0].metadata["encryption-key-id"].decode()


async def status_of(client: Client, workflow_id: str) -> WorkflowExecutionStatus | None:
    return (await client.get_workflow_handle(workflow_id).describe()).status


async def test_forget_ends_purges_and_shreds_one_candidate_and_no_other(server, store_url, task_queue, activity_pool):
    client = await engine_client(server, store_url)
    raw = await raw_client(server)
    ada, grace = Application(), Application()
    grace.candidate.update(name="Grace Hopper", email="grace@example.com")
    check = contract.referee_check_workflow_id(ada.workflow_id, "ref-1")
    async with running_engine(SimpleNamespace(client=client), store_url, task_queue, activity_pool) as store:
        await deliver_event(client, ada.interview(1), task_queue)
        await deliver_event(client, ada.references("ref-1"), task_queue)
        await deliver_event(client, grace.interview(1), task_queue)
        await eventually(lambda: store.messages(process_id=check), what="Ada's referee check's consent request")
        await eventually(lambda: store.tasks(process_id=grace.workflow_id), what="Grace's debrief task")
        assert store.tasks(process_id=ada.workflow_id)

        # Each candidate's history is under a data key of their own; the referee check under Ada's.
        ada_key, grace_key = key_label(await started_input(raw, ada.workflow_id)), key_label(await started_input(raw, grace.workflow_id))
        assert ada_key.startswith("dk-") and grace_key.startswith("dk-") and ada_key != grace_key
        assert key_label(await started_input(raw, check)) == ada_key

        # What a referee wrote about each, and who opened their debrief links (store/reference_store.py).
        references = ReferenceStore(store_url)
        for app, referee_check in ((ada, check), (grace, contract.referee_check_workflow_id(grace.workflow_id, "ref-1"))):
            references.add(_report(app, referee_check))
            references.record_open(f"link-{app.application_id}", "debrief", app.workflow_id, "203.0.113.7", "Firefox")
            # Each has opted out of contact (the relationship's "stop", an unsubscribe).
            ContactPreferenceStore(references.engine).opt_out(app.source, app.candidate["id"], "link:test")
        env = {
            "TEMPORAL_ADDRESS": server.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": server.client.namespace,
            "TASK_QUEUE": task_queue,
            "DATABASE_URL": store_url,
            "PAYLOAD_ENCRYPTION_KEYS": SPEC,
            "LOG_LEVEL": "WARNING",
        }
        # Without --yes it asks, and a "no" erases nothing.
        refused = await run_cli("forget", ada.candidate["id"], "--source", ada.source, env=env, stdin=b"n\n")
        assert refused.code == 1 and await status_of(client, ada.workflow_id) == WorkflowExecutionStatus.RUNNING
        done = await run_cli("forget", ada.candidate["id"], "--source", ada.source, "--by", "dpo@agency.example", env=env, stdin=b"y\n")
        assert done.code == 0, done.stderr
        assert "post-interview processes found: 1; workflows terminated: 2" in done.stdout, done.stdout
        assert "data keys destroyed: 1" in done.stdout and re.search(r"store rows: tasks [1-9]", done.stdout), done.stdout

        assert await status_of(client, ada.workflow_id) == WorkflowExecutionStatus.TERMINATED
        assert await status_of(client, check) == WorkflowExecutionStatus.TERMINATED
        assert await status_of(client, grace.workflow_id) == WorkflowExecutionStatus.RUNNING
        assert store.tasks(process_id=ada.workflow_id) == [] and store.messages(process_id=ada.workflow_id) == []
        assert store.messages(process_id=check) == []
        assert store.tasks(process_id=grace.workflow_id) and store.messages(process_id=grace.workflow_id)
        assert [r.key for r in references.reports(application_id=ada.application_id)] == []
        assert [r.key for r in references.reports(application_id=grace.application_id)] == [contract.referee_check_workflow_id(grace.workflow_id, "ref-1")]
        assert not references.opened_by(ada.workflow_id, "debrief", "203.0.113.7", "Firefox")
        assert references.opened_by(grace.workflow_id, "debrief", "203.0.113.7", "Firefox")
        preferences = ContactPreferenceStore(references.engine)
        assert preferences.preference(ada.source, ada.candidate["id"]).opted_out is False  # no row: the tombstone refuses them instead
        assert preferences.preference(grace.source, grace.candidate["id"]).opted_out is True

        # Ada's history no longer decodes, for anybody: a codec of its own, the codec server.
        reader = keyring(store_url)
        with pytest.raises(CandidateErased, match=f"^erased: .*{ada_key} was destroyed"):
            await data_converter(reader).decode((await started_input(raw, ada.workflow_id)).payloads)
        with pytest.raises(CandidateErased):
            await reader.decode((await started_input(raw, check)).payloads)
        (grace_event,) = await data_converter(reader).decode((await started_input(raw, grace.workflow_id)).payloads)
        assert grace_event["candidate"]["name"] == "Grace Hopper"
        await _the_codec_server_says_erased(reader, await started_input(raw, ada.workflow_id), await started_input(raw, grace.workflow_id))

        # Grace's history, fetched from Temporal, still replays on the workflow code.
        history = await raw.get_workflow_handle(grace.workflow_id).fetch_history()
        replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter(reader), workflow_runner=workflow_runner())
        result = await replayer.replay_workflow(WorkflowHistory(grace.workflow_id, history.events), raise_on_replay_failure=False)
        assert result.replay_failure is None

        # A late event for Ada starts nothing; a second request is harmless and recorded.
        later_client = await engine_client(server, store_url)
        with pytest.raises(CandidateErased):
            await deliver_event(later_client, ada.interview(2), task_queue)
        assert await status_of(later_client, ada.workflow_id) == WorkflowExecutionStatus.TERMINATED
        again = await run_cli("forget", ada.candidate["id"], "--source", ada.source, "--yes", env=env)
        assert again.code == 0 and "erased before: #" in again.stdout and "workflows terminated: 0" in again.stdout, again.stdout
        listed = await run_cli("erasures", env=env)
        assert listed.stdout.count("via cli") == 2 and "by dpo@agency.example" in listed.stdout

    # The audit record names nobody: a digest, who asked, how, when, counts.
    with ErasureStore(store_url).engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(select(erasures)).mappings()]
    assert len(rows) == 2 and all(row["completed_at"] for row in rows)
    text = json.dumps(rows, default=str)
    assert ada.candidate["id"] not in text and ada.application_id not in text and "Ada" not in text


def _report(app: Application, check_id: str) -> ReferenceReport:
    return ReferenceReport(
        key=check_id,
        process_id=app.workflow_id,
        source=app.source,
        application_id=app.application_id,
        referee_id="ref-1",
        referee_name="Alan Turing",
        referee_email="alan@example.org",
        link_id=f"link-ref-{app.application_id}",
        answers=[ReferenceAnswer(id="comments", question="Comments", answer=f"{app.candidate['name']} was outstanding")],
        submitted_at=datetime.now(UTC),
    )


async def _the_codec_server_says_erased(codec: KeyringCodec, erased: Payloads, kept: Payloads) -> None:
    import asyncio

    stop = asyncio.Event()
    port = free_port()
    serving = asyncio.create_task(serve_codec(codec, stop, port=port))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            await eventually(lambda: http.get("/healthz"), what="the codec server")
            refused = await http.post("/decode", content=json_format.MessageToJson(erased), headers={"Content-Type": "application/json"})
            assert refused.status_code == 422 and "erased" in refused.json()["detail"] and "Ada" not in refused.text
            decoded = await http.post("/decode", content=json_format.MessageToJson(kept), headers={"Content-Type": "application/json"})
            assert decoded.status_code == 200
            assert json.loads(base64.b64decode(decoded.json()["payloads"][0]["data"]))["candidate"]["name"] == "Grace Hopper"
    finally:
        stop.set()
        await serving


async def test_greenhouse_delete_candidate_and_anonymized_erase_through_the_intake(server, store_url, task_queue, activity_pool):
    """Greenhouse's documented `delete_candidate` example (candidate 37031511, applications
    46196263 and 46196258), its bytes as they are, signed as Greenhouse signs: the intake stores the
    request, its forwarder erases the candidate; the delivery keeps no trace of whom it was about."""
    client = await engine_client(server, store_url)
    first, second = Application(application_id="46196263"), Application(application_id="46196258")
    other = Application()
    for app in (first, second):
        app.candidate["id"] = "37031511"

    async def same_client() -> Client:
        return client

    forwarder = Forwarder(IntakeStore(store_url), same_client, task_queue, max_backoff=0.5)
    async with running_engine(SimpleNamespace(client=client), store_url, task_queue, activity_pool) as store:
        async with intake_service(store_url, forwarder) as (http, intake):
            for app in (first, second, other):
                body, headers = signed_event(app.interview(1))
                assert (await http.post("/events", content=body, headers=headers)).json()["status"] == "accepted"
            for app in (first, second, other):
                await eventually(lambda app=app: store.tasks(process_id=app.workflow_id), what=f"the debrief task of {app.application_id}")

            body = (EXAMPLES / "candidate_deleted.json").read_bytes()
            answer = await http.post("/webhooks/greenhouse", content=body, headers={"content-type": "application/json"} | greenhouse_headers(body, GREENHOUSE_SECRET))
            assert answer.status_code == 200 and answer.json()["status"] == "accepted" and "erasure" in answer.json(), answer.text
            delivery_id = answer.json()["delivery_id"]

            def carried_out():  # type: ignore[no-untyped-def]
                row = intake.delivery_by_id(delivery_id)
                return row if row and row["status"] == "delivered" else None

            row = await eventually(carried_out, what="the erasure request carried out")
            assert row["events"] == [] and row["payload_purged_at"] is not None and "37031511" not in json.dumps(row, default=str)
            for app in (first, second):
                assert await status_of(client, app.workflow_id) == WorkflowExecutionStatus.TERMINATED
                assert store.tasks(process_id=app.workflow_id) == []
                # Their intake deliveries keep their row, not their payload.
                (delivered,) = [d for d in intake.deliveries(status=None, limit=100) if d["application_key"] == f"greenhouse:{app.application_id}"]
                assert intake.delivery_by_id(delivered["id"])["events"] == []
            assert await status_of(client, other.workflow_id) == WorkflowExecutionStatus.RUNNING and store.tasks(process_id=other.workflow_id)
            (record,) = ErasureStore(store_url).records()
            assert (record.via, record.requested_by, record.report["processes"], record.report["data_keys_destroyed"]) == (
                "greenhouse:delete_candidate", "greenhouse web hook", 2, 1,
            )

            # The same delivery again is a duplicate; the anonymisation afterwards finds nothing left.
            again = await http.post("/webhooks/greenhouse", content=body, headers={"content-type": "application/json"} | greenhouse_headers(body, GREENHOUSE_SECRET))
            assert again.json()["status"] == "duplicate"
            anonymized = (EXAMPLES / "candidate_anonymized.json").read_bytes()
            answer = await http.post("/webhooks/greenhouse", content=anonymized, headers={"content-type": "application/json"} | greenhouse_headers(anonymized, GREENHOUSE_SECRET))
            assert answer.json()["status"] == "accepted"
            await eventually(lambda: len(ErasureStore(store_url).records()) == 2 and ErasureStore(store_url).records()[0].completed_at, what="the second erasure")
            latest = ErasureStore(store_url).records()[0]
            assert latest.via == "greenhouse:candidate_anonymized" and latest.report["earlier_erasures"] == [record.id]
            assert latest.report["workflows_terminated"] == 0

            # A late event for the candidate is not delivered: the row says why.
            body, headers = signed_event(first.event("candidate.rejected", {"reason": "late"}))
            late = (await http.post("/events", content=body, headers=headers)).json()["delivery_id"]
            body, headers = signed_event(first.interview(2))
            later = (await http.post("/events", content=body, headers=headers)).json()["delivery_id"]
            settled = await eventually(
                lambda: (r := intake.delivery_by_id(later)) and r["status"] != "pending" and r, what="the late event settled"
            )
            assert settled["status"] == "ignored" and "erased" in settled["ignored_reason"], settled
            assert intake.delivery_by_id(late)["status"] in ("ignored", "delivered")
            assert await status_of(client, first.workflow_id) == WorkflowExecutionStatus.TERMINATED


async def test_without_encryption_forget_still_ends_and_purges_and_late_events_start_nothing(dev_env, store_url, task_queue, activity_pool):
    """No PAYLOAD_ENCRYPTION_KEYS: nothing to shred (and `forget` says so), but the processes end,
    the rows go, and the forwarder refuses the candidate's later events from the erasure record."""
    from tests.intake.test_service import forwarder_for

    app = Application()
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as store:
        async with intake_service(store_url, forwarder_for(dev_env, store_url, task_queue)) as (http, intake):
            body, headers = signed_event(app.interview(1))
            await http.post("/events", content=body, headers=headers)
            await eventually(lambda: store.tasks(process_id=app.workflow_id), what="the debrief task")
            env = {
                "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
                "TEMPORAL_NAMESPACE": dev_env.client.namespace,
                "DATABASE_URL": store_url,
                "LOG_LEVEL": "WARNING",
                "PAYLOAD_ENCRYPTION_KEYS": "",
            }
            done = await run_cli("forget", app.candidate["id"], "--source", app.source, "--yes", env=env)
            assert done.code == 0 and "data keys destroyed: 0" in done.stdout and "never encrypted" in done.stdout, done
            assert await status_of(dev_env.client, app.workflow_id) == WorkflowExecutionStatus.TERMINATED
            assert store.tasks(process_id=app.workflow_id) == [] and store.messages(process_id=app.workflow_id) == []

            body, headers = signed_event(app.interview(2))
            late = (await http.post("/events", content=body, headers=headers)).json()["delivery_id"]
            settled = await eventually(lambda: (r := intake.delivery_by_id(late)) and r["status"] != "pending" and r, what="the late event settled")
            assert settled["status"] == "ignored" and "erased" in settled["ignored_reason"], (settled["status"], settled["ignored_reason"], settled["last_error"])
            assert await status_of(dev_env.client, app.workflow_id) == WorkflowExecutionStatus.TERMINATED
