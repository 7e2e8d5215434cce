"""Payload encryption: the codec on its own, then a real dev server, the real worker and the
real codec endpoint over HTTP. With encryption on, Temporal's history holds no candidate or
referee name, email or phone in plain text, and the codec endpoint gives them back."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
from google.protobuf import json_format
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from codec import ENCODING, EncryptionCodec, EncryptionConfigError, UnknownKeyError, data_converter, generate_key
from service.codec_server import CodecServerExposed, is_loopback, serve_codec
from service.settings import Settings
from domain import contract
from process_client import deliver_event, process_handle
from tests.events import Application
from tests.cli.conftest import run_cli
from tests.harness import eventually, free_port, running_engine, start_dev_server

KEY_OLD = base64.b64decode(generate_key())
KEY_NEW = base64.b64decode(generate_key())
UI_ORIGIN = "http://localhost:8233"

CANDIDATE = {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0000"}
REFEREE = {"id": "ref-7", "name": "Grace Hopper", "email": "grace.hopper@navy.example", "relationship": "former manager"}
PII = [CANDIDATE["name"], CANDIDATE["email"], CANDIDATE["phone"], REFEREE["name"], REFEREE["email"]]


def _plain(data: bytes) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


# --- the codec on its own --------------------------------------------------------------------


async def test_round_trip_and_fresh_nonce_per_payload():
    codec = EncryptionCodec([("k1", KEY_OLD)])
    originals = [_plain(b'{"name": "Ada Lovelace"}'), _plain(b'{"name": "Ada Lovelace"}'), Payload(metadata={"encoding": b"binary/null"})]
    encoded = await codec.encode(originals)
    assert all(p.metadata["encoding"] == ENCODING and p.metadata["encryption-key-id"] == b"k1" for p in encoded)
    assert all(b"Ada" not in p.SerializeToString() for p in encoded)
    assert encoded[0].data != encoded[1].data  # a random 96-bit nonce each time
    assert await codec.decode(encoded) == originals
    # Payloads written before encryption was turned on still read.
    assert await codec.decode(originals) == originals


async def test_rotation_unknown_key_and_tampering():
    old = EncryptionCodec([("2025", KEY_OLD)])
    rotated = Settings.from_env({"PAYLOAD_ENCRYPTION_KEYS": f"2026:{base64.b64encode(KEY_NEW).decode()}, 2025:{base64.b64encode(KEY_OLD).decode()}"}).payload_codec()
    assert rotated is not None and rotated.key_id == "2026" and rotated.key_ids == ["2026", "2025"]
    written_before = await old.encode([_plain(b"before")])
    written_after = await rotated.encode([_plain(b"after")])
    assert written_after[0].metadata["encryption-key-id"] == b"2026"
    assert await rotated.decode(written_before + written_after) == [_plain(b"before"), _plain(b"after")]

    with pytest.raises(UnknownKeyError, match="unknown key id '2026'.*2025"):
        await old.decode(written_after)
    relabelled = Payload()
    relabelled.CopyFrom(written_before[0])
    relabelled.metadata["encryption-key-id"] = b"2026"  # the key id is authenticated data
    with pytest.raises(ValueError, match="does not decrypt"):
        await rotated.decode([relabelled])
    tampered = Payload()
    tampered.CopyFrom(written_before[0])
    tampered.data = tampered.data[:-1] + bytes([tampered.data[-1] ^ 1])
    with pytest.raises(ValueError, match="does not decrypt"):
        await rotated.decode([tampered])


def test_keys_from_the_environment():
    assert Settings.from_env({}).payload_codec() is None
    assert Settings.from_env({"PAYLOAD_ENCRYPTION_KEYS": "  "}).payload_codec() is None
    secret = base64.b64encode(KEY_OLD).decode()
    for bad, why in [
        ("k1", "key_id:base64key"),
        ("k1:not base64!", "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "AES-256 needs 32"),
        (f"k1:{secret},k1:{secret}", "given twice"),
    ]:
        with pytest.raises(EncryptionConfigError, match=why) as raised:
            Settings.from_env({"PAYLOAD_ENCRYPTION_KEYS": bad}).payload_codec()
        assert secret not in str(raised.value)
    assert Settings.from_env({}).codec_server.allowed_origins() == ("http://localhost:8233",)
    assert Settings.from_env({"CODEC_CORS_ORIGINS": "https://ui.example/, http://localhost:9000"}).codec_server.allowed_origins() == ("https://ui.example", "http://localhost:9000")
    assert Settings.from_env({}).codec_server.bearer_token() is None and Settings.from_env({"CODEC_SERVER_TOKEN": " "}).codec_server.bearer_token() is None
    assert Settings.from_env({"CODEC_SERVER_TOKEN": "s3cret"}).codec_server.bearer_token() == "s3cret"


async def test_the_converter_encrypts_failures_too():
    converter = data_converter(EncryptionCodec([("k1", KEY_OLD)]))
    assert data_converter(None).payload_codec is None
    try:
        raise ApplicationError("cannot render for ada@example.com", type="TemplateError")
    except ApplicationError as error:
        failure = Failure()
        await converter.encode_failure(error, failure)
    assert b"ada@example.com" not in failure.SerializeToString() and failure.message == "Encoded failure"
    decoded = await converter.decode_failure(failure)
    assert isinstance(decoded, ApplicationError) and decoded.message == "cannot render for ada@example.com"


# --- a real dev server, the real worker, the codec endpoint over HTTP ------------------------


@pytest.fixture(scope="module")
def codec() -> EncryptionCodec:
    return EncryptionCodec([("2026", KEY_NEW), ("2025", KEY_OLD)])


@pytest_asyncio.fixture(scope="module")
async def enc_env(codec: EncryptionCodec) -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server(data_converter(codec))
    try:
        yield env
    finally:
        await env.shutdown()


async def _raw_client(env: WorkflowEnvironment) -> Client:
    """What an operator without the key sees: the default converter, no codec."""
    return await Client.connect(env.client.service_client.config.target_host, namespace=env.client.namespace)


async def _raw_history(raw: Client, workflow_id: str) -> tuple[str, bytes]:
    history = await raw.get_workflow_handle(workflow_id).fetch_history()
    # to_json() shows payload data base64-encoded; the protobuf bytes hold it as is. Check both.
    return history.to_json(), b"".join(event.SerializeToString() for event in history.events)


def _assert_no_pii(workflow_id: str, text: str, raw: bytes) -> None:
    for value in PII:
        b64 = base64.b64encode(value.encode()).decode()
        assert value not in text and b64[:12] not in text, f"{value!r} in the history of {workflow_id} (JSON)"
        assert value.encode() not in raw, f"{value!r} in the history of {workflow_id} (protobuf)"


async def _codec_server(codec: EncryptionCodec, stop: asyncio.Event, token: str | None = None) -> tuple[str, asyncio.Task[None]]:
    port = free_port()
    task = asyncio.create_task(serve_codec(codec, stop, port=port, allowed_origins=[UI_ORIGIN], token=token))
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        await eventually(lambda: http.options(f"{url}/decode"), timeout=10, what="the codec server")
    return url, task


async def test_no_plaintext_pii_in_history_and_the_codec_endpoint_reads_it(enc_env, codec, store_url, task_queue, activity_pool):
    app = Application()
    app.candidate.update(CANDIDATE)
    raw = await _raw_client(enc_env)
    async with running_engine(enc_env, store_url, task_queue, activity_pool) as store:
        await deliver_event(enc_env.client, app.interview(1), task_queue)
        await deliver_event(
            enc_env.client, app.event("references.requested", {"referees": [REFEREE], "required_before_offer": True}), task_queue
        )
        child_id = contract.referee_check_workflow_id(app.workflow_id, REFEREE["id"])
        consent = await eventually(lambda: store.messages(process_id=child_id), what="the referee check's consent request")
        # The worker works on the plaintext (the store is not Temporal's history).
        assert consent[0].recipient_email == REFEREE["email"]
        await deliver_event(enc_env.client, app.event("candidate.rejected", {"reason": "role filled", "met_in_person": True}), task_queue)
        final = await process_handle(enc_env.client, app.source, app.application_id).result()
        assert final.stage == "closed"
        relationship_id = contract.relationship_workflow_id(app.source, app.candidate["id"])
        await eventually(lambda: enc_env.client.get_workflow_handle(relationship_id).describe(), what="the relationship")

    histories = {}
    for workflow_id in (app.workflow_id, child_id, relationship_id):
        text, raw_bytes = await _raw_history(raw, workflow_id)
        assert ENCODING in raw_bytes and base64.b64encode(ENCODING).decode() in text
        _assert_no_pii(workflow_id, text, raw_bytes)
        histories[workflow_id] = text
    await enc_env.client.get_workflow_handle(relationship_id).terminate("test finished")

    # The codec endpoint, as the UI calls it, gives the plaintext back.
    history = await raw.get_workflow_handle(app.workflow_id).fetch_history()
    started = next(e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    body = json_format.MessageToJson(started.workflow_execution_started_event_attributes.input)
    stop = asyncio.Event()
    url, serving = await _codec_server(codec, stop)
    try:
        async with httpx.AsyncClient() as http:
            decoded = await http.post(f"{url}/decode", content=body, headers={"Content-Type": "application/json", "X-Namespace": "default", "Origin": UI_ORIGIN})
            assert decoded.status_code == 200, decoded.text
            assert decoded.headers["access-control-allow-origin"] == UI_ORIGIN
            payloads = json_format.Parse(decoded.text, Payloads())
            plain = json.loads(payloads.payloads[0].data)
            assert plain["candidate"]["name"] == CANDIDATE["name"] and plain["candidate"]["email"] == CANDIDATE["email"]
            # Encode gives ciphertext the codec decodes again.
            encoded = await http.post(f"{url}/encode", content=decoded.text, headers={"Content-Type": "application/json"})
            again = json_format.Parse(encoded.text, Payloads())
            assert again.payloads[0].metadata["encoding"] == ENCODING and CANDIDATE["name"].encode() not in again.payloads[0].data
            assert await codec.decode(again.payloads) == list(payloads.payloads)

            preflight = await http.options(
                f"{url}/decode",
                headers={"Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace,authorization"},
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == UI_ORIGIN
            assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
            other = await http.options(f"{url}/decode", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
            assert "access-control-allow-origin" not in other.headers

            bad = await http.post(f"{url}/decode", content=b"not json", headers={"Content-Type": "application/json"})
            assert bad.status_code == 400
            foreign = (await EncryptionCodec([("other", os.urandom(32))]).encode([_plain(b"x")]))
            unknown = await http.post(f"{url}/decode", content=json_format.MessageToJson(Payloads(payloads=foreign)))
            assert unknown.status_code == 422 and "unknown key id 'other'" in unknown.text
    finally:
        stop.set()
        await serving


async def test_the_codec_endpoint_requires_its_token_when_set(codec):
    stop = asyncio.Event()
    url, serving = await _codec_server(codec, stop, token="s3cret")
    body = json_format.MessageToJson(Payloads(payloads=await codec.encode([_plain(b'"Ada Lovelace"')])))
    try:
        async with httpx.AsyncClient() as http:
            # The preflight carries no credentials and must pass.
            preflight = await http.options(f"{url}/decode", headers={"Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST"})
            assert preflight.status_code == 200
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
                refused = await http.post(f"{url}/decode", content=body, headers={"Origin": UI_ORIGIN, **headers})
                assert refused.status_code == 401 and "Ada" not in refused.text
                # Still with CORS headers, so the UI can show why.
                assert refused.headers["access-control-allow-origin"] == UI_ORIGIN
            allowed = await http.post(f"{url}/decode", content=body, headers={"Authorization": "Bearer s3cret"})
            assert allowed.status_code == 200 and "Ada Lovelace" in base64.b64decode(json.loads(allowed.text)["payloads"][0]["data"]).decode()
            # The container health check needs no token and learns nothing about the keys.
            health = await http.get(f"{url}/healthz")
            assert health.status_code == 200 and health.json() == {"status": "ok"}
    finally:
        stop.set()
        await serving


async def test_the_temporal_ui_decodes_through_a_codec_session_cookie(codec):
    """The UI cannot send CODEC_SERVER_TOKEN: its "Pass the user access token" sends the UI user's
    own OIDC token. Its "Include cross-origin credentials" sends the browser's cookies for the
    codec server (`credentials: 'include'`), so an operator signs in once at /login."""
    stop = asyncio.Event()
    url, serving = await _codec_server(codec, stop, token="s3cret")
    body = json_format.MessageToJson(Payloads(payloads=await codec.encode([_plain(b'"Ada Lovelace"')])))
    try:
        async with httpx.AsyncClient(base_url=url) as browser:
            assert 'name="token"' in (await browser.get("/login")).text
            # A sign-in posted from another page (login CSRF), or with a wrong token: no cookie.
            for headers, token, status in (({"Origin": "http://evil.example"}, "s3cret", 403), ({"Origin": url}, "wrong", 401)):
                refused = await browser.post("/login", data={"token": token}, headers=headers)
                assert refused.status_code == status and "set-cookie" not in refused.headers
            signed_in = await browser.post("/login", data={"token": "s3cret"}, headers={"Origin": url})
            assert signed_in.status_code == 303
            cookie = signed_in.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "s3cret" not in cookie
            assert "signed in" in (await browser.get("/login")).text

            # The UI's preflight, then its fetch with credentials, from its origin.
            preflight = await browser.options(
                "/decode", headers={"Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace"}
            )
            assert preflight.headers["access-control-allow-origin"] == UI_ORIGIN and preflight.headers["access-control-allow-credentials"] == "true"
            decoded = await browser.post("/decode", content=body, headers={"Origin": UI_ORIGIN, "Content-Type": "application/json", "X-Namespace": "default"})
            assert decoded.status_code == 200, decoded.text
            assert decoded.headers["access-control-allow-credentials"] == "true"
            assert "Ada Lovelace" in base64.b64decode(json.loads(decoded.text)["payloads"][0]["data"]).decode()
            # The same cookie on a request from another site (a simple POST needs no preflight).
            forged = await browser.post("/decode", content=body, headers={"Origin": "http://evil.example", "Content-Type": "text/plain"})
            assert forged.status_code == 403 and "Ada" not in forged.text
        async with httpx.AsyncClient(base_url=url) as stranger:
            forged_cookie = await stranger.post("/decode", content=body, headers={"Origin": UI_ORIGIN, "Cookie": "postinterview_codec_session=" + "0" * 64})
            assert forged_cookie.status_code == 401
    finally:
        stop.set()
        await serving


async def test_the_codec_server_refuses_a_body_over_its_limit_before_reading_it(codec):
    stop = asyncio.Event()
    url, serving = await _codec_server(codec, stop, token="s3cret")
    try:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        # Headers only, announcing 64 MiB, from nobody: the answer comes before any body is sent.
        writer.write(f"POST /decode HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {64 * 1024 * 1024}\r\n\r\n".encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
        assert b" 413 " in status_line, status_line
        assert b"payload_too_large" in await asyncio.wait_for(reader.read(4096), timeout=10)
        writer.close()
    finally:
        stop.set()
        await serving


def test_loopback_is_this_machine_only():
    for host in ("127.0.0.1", "127.0.0.53", "localhost", "::1", "[::1]"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.0.0.5", "codec-server", "example.com", ""):
        assert not is_loopback(host), host


async def test_the_codec_server_will_not_listen_beyond_loopback_without_a_token(codec):
    """Issue 12, finding 7: reachable by anyone on the network, it decrypted any history for them."""
    port = free_port()
    with pytest.raises(CodecServerExposed, match="CODEC_SERVER_TOKEN"):
        await serve_codec(codec, asyncio.Event(), host="0.0.0.0", port=port)
    keys = f"k1:{base64.b64encode(KEY_OLD).decode()}"
    refused = await run_cli("codec-server", "--host", "0.0.0.0", "--port", str(port), env={"PAYLOAD_ENCRYPTION_KEYS": keys, "CODEC_SERVER_TOKEN": ""}, timeout=30)
    assert refused.code == 2 and "CODEC_SERVER_TOKEN" in refused.output and "not started" in refused.output, refused.output
    # With a token it serves on every interface, and asks for the token.
    stop = asyncio.Event()
    serving = asyncio.create_task(serve_codec(codec, stop, host="0.0.0.0", port=port, token="s3cret"))
    try:
        async with httpx.AsyncClient() as http:
            await eventually(lambda: http.get(f"http://127.0.0.1:{port}/healthz"), timeout=10, what="the codec server")
            refused_call = await http.post(f"http://127.0.0.1:{port}/decode", content=b"{}")
            assert refused_call.status_code == 401
    finally:
        stop.set()
        await serving


# --- failures: messages and stack traces are encrypted too ------------------------------------


@activity.defn(name="render_with_pii")
async def render_with_pii(email: str) -> str:
    raise ApplicationError(f"template 'consent' failed for {email}: undefined variable 'phone'", type="TemplateError", non_retryable=True)


@workflow.defn(name="FailsWithPii")
class FailsWithPii:
    @workflow.run
    async def run(self, email: str) -> str:
        return await workflow.execute_activity(
            render_with_pii, email, start_to_close_timeout=timedelta(seconds=10), retry_policy=RetryPolicy(maximum_attempts=1)
        )


async def test_an_activity_failure_with_pii_is_encrypted(enc_env):
    task_queue = f"test-{uuid.uuid4()}"
    workflow_id = f"fails-{uuid.uuid4()}"
    async with Worker(enc_env.client, task_queue=task_queue, workflows=[FailsWithPii], activities=[render_with_pii], workflow_runner=UnsandboxedWorkflowRunner()):
        with pytest.raises(WorkflowFailureError) as raised:
            await enc_env.client.execute_workflow(FailsWithPii.run, CANDIDATE["email"], id=workflow_id, task_queue=task_queue)
    # With the key: the whole message, as the worker raised it.
    cause = raised.value.cause
    assert isinstance(cause, ActivityError) and CANDIDATE["email"] in str(cause.cause)
    # Without it: neither the input nor the failure's message or stack trace.
    text, raw_bytes = await _raw_history(await _raw_client(enc_env), workflow_id)
    assert "TemplateError" in text  # the failure type stays readable
    assert CANDIDATE["email"] not in text and CANDIDATE["email"].encode() not in raw_bytes
    assert "undefined variable" not in text
