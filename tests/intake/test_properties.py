"""Properties of the intake over real HTTP: what is refused is never a server error, never
stored and never starts a process; what is accepted out of order ends up where a recruiter
expects it.

The property tests run one uvicorn server per test in a background thread (its own event loop)
and drive it with a synchronous httpx client, so that each hypothesis example is one real HTTP
request on loopback. Signatures (with the right key or a forger's) come from intake/signing.py,
written independently of `intake.signatures` and checked on its own in test_signing.py; valid
/events signatures come from `signed_event` in test_service.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import event as label
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from temporalio.client import WorkflowExecutionStatus

import intake.forwarder
from domain.events import CanonicalEvent
from domain.status import ProcessStatus
from intake.app import create_app
from intake.config import IntakeConfig
from intake.signing import ashby_signature, greenhouse_signature, hex_hmac, lever_signature, standard_webhook_key, standard_webhook_signature
from process_client import process_handle, process_status
from service.embedded_http import EmbeddedServer
from store.intake_store import IntakeStore
from tests.events import Application
from tests.harness import eventually, eventually_sync, free_port, running_engine, status_when
from tests.intake.test_service import (
    ASHBY_SECRET,
    EVENTS_SECRET,
    GREENHOUSE_SECRET,
    PAYLOADS,
    config,
    forwarder_for,
    intake_service,
    signed_event,
    signed_greenhouse,
)

LEVER_TOKEN = "lever-test-signature-token"
LEVER_INTERVIEW_STAGE = "00000000-0000-4000-8000-00000000a001"  # interview_completed in config/intake.toml
EVENTS_KEY = standard_webhook_key(EVENTS_SECRET)
REAL_KEYS = {GREENHOUSE_SECRET.encode(), ASHBY_SECRET.encode(), LEVER_TOKEN.encode(), EVENTS_KEY}
ENDPOINTS = ("/webhooks/greenhouse", "/webhooks/lever", "/webhooks/ashby", "/events")
ERROR_NAMES = {400: "bad_request", 401: "unauthorized", 413: "payload_too_large", 415: "unsupported_media_type"}


def intake_config() -> IntakeConfig:
    """The test_service configuration, with a Lever token so that Lever signatures are checked
    (without one every Lever delivery is refused before its signature is looked at)."""
    return config(LEVER_WEBHOOK_SIGNATURE_TOKEN=LEVER_TOKEN)


@contextlib.contextmanager
def threaded_intake(store_url: str) -> Iterator[tuple[httpx.Client, IntakeStore]]:
    """The real app under uvicorn in a background thread (its own loop), a sync client to it."""
    store = IntakeStore(store_url)
    port = free_port()
    server = EmbeddedServer(
        uvicorn.Config(create_app(intake_config(), store), host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, name="intake-under-test", daemon=True)
    thread.start()
    try:
        eventually_sync(lambda: server.started or not thread.is_alive(), timeout=15, interval=0.01, what="the intake to listen")
    except AssertionError:
        pass
    if not server.started:
        server.should_exit = True
        raise RuntimeError("the intake did not start listening")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15) as http:
            yield http, store
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        store.close()


# --- independent signing (with whatever key: the right one or a forger's) -----------------------


def lever_body(token: str, triggered_at: int, signing_key: bytes, opportunity_id: str, stage: str = LEVER_INTERVIEW_STAGE) -> bytes:
    return json.dumps(
        {
            "triggeredAt": triggered_at,
            "event": "candidateStageChange",
            "signature": lever_signature(token, triggered_at, signing_key),
            "token": token,
            "data": {"candidateId": f"cand-{opportunity_id}", "opportunityId": opportunity_id, "fromStageId": "lead-new", "toStageId": stage},
        }
    ).encode()


def now_seconds() -> int:
    return int(time.time())


# --- strategies ------------------------------------------------------------------------------

FIXTURES = sorted(PAYLOADS.glob("*.json"))
FIXTURE_BODIES = [path.read_bytes() for path in FIXTURES]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=30,
)

# RFC 9110 token characters: what a header name may be made of.
TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Headers that frame the HTTP message (the client sets them; changing them tests h11, not us).
FRAMING = {"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade", "te", "trailer", "keep-alive", "content-type"}
header_names = st.text(alphabet=TCHAR, min_size=1, max_size=24).filter(lambda name: name.lower() not in FRAMING)
# Any visible byte, obs-text (0x80-0xff) included, with inner spaces and tabs; no CR/LF/NUL.
header_values = st.binary(max_size=120).map(lambda raw: _header_bytes(raw))
SIGNATURE_HEADERS = ("Signature", "Ashby-Signature", "webhook-id", "webhook-timestamp", "webhook-signature", "Greenhouse-Event-ID")
hex64 = st.text(alphabet="0123456789abcdefABCDEF", min_size=64, max_size=64)
b64_digest = st.binary(min_size=1, max_size=48).map(lambda raw: base64.b64encode(raw).decode())
timestamps = st.one_of(
    st.integers(min_value=-300, max_value=300).map(lambda skew: str(now_seconds() + skew)),  # inside the window
    st.integers(min_value=0, max_value=10**12).map(str),
    st.text(max_size=14),
)
# Plausible-looking but unsigned values for the real signature headers.
signature_garbage = {
    "Signature": st.one_of(hex64.map(lambda h: f"sha256 {h}"), st.text(max_size=80), hex64.map(lambda h: f"sha1 {h}")),
    "Ashby-Signature": st.one_of(hex64.map(lambda h: f"sha256={h}"), st.text(max_size=80), hex64),
    "webhook-id": st.one_of(st.text(min_size=1, max_size=40), st.uuids().map(lambda u: f"msg_{u.hex}")),
    "webhook-timestamp": timestamps,
    "webhook-signature": st.one_of(
        b64_digest.map(lambda d: f"v1,{d}"),
        st.lists(st.one_of(b64_digest.map(lambda d: f"v1,{d}"), b64_digest.map(lambda d: f"v1a,{d}"), st.text(max_size=10)), max_size=4).map(" ".join),
        st.text(max_size=80),
    ),
    "Greenhouse-Event-ID": st.text(max_size=40),
}
content_types = st.one_of(
    st.none(),
    st.sampled_from(["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.ats+json", "", ";"]),
    st.sampled_from(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "json", "application/jsonx"]),
    header_values,
)
wrong_keys = st.binary(min_size=1, max_size=40).filter(lambda key: key not in REAL_KEYS)


def _header_bytes(raw: bytes) -> bytes:
    """What HTTP/1.1 lets a client send as a header value: no CR, LF, NUL or other controls
    (tab aside), no whitespace at either end; obs-text (0x80-0xff) allowed."""
    return bytes(b for b in raw if b == 0x09 or 0x20 <= b <= 0x7E or b >= 0x80).strip(b" \t")


def _text(value: str | bytes) -> bytes:
    return _header_bytes(value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass"))


@st.composite
def real_bodies(draw: st.DrawFn) -> bytes:
    """What a sender really sends: the vendor fixtures, canonical events (any source)."""
    if draw(st.booleans()):
        return draw(st.sampled_from(FIXTURE_BODIES))
    app = Application(source=draw(st.sampled_from(["api", "greenhouse", "lever", "ashby"])))
    canonical = draw(st.sampled_from([app.interview(1), app.references("ref-1"), app.offer(), app.event("candidate.withdrew")]))
    return canonical.model_dump_json().encode()


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Anything a client could send, a few KB at most; real payloads half the time, so that a
    forged signature is usually over something that would be accepted if it were signed."""
    kind = draw(st.sampled_from(["real", "real", "real", "binary", "text", "json", "padded_json", "lever_shaped"]))
    match kind:
        case "binary":
            return draw(st.binary(max_size=4096))
        case "text":
            return draw(st.text(max_size=1024)).encode("utf-8", "surrogatepass")
        case "json":
            return json.dumps(draw(json_values), ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
        case "padded_json":
            return json.dumps({draw(st.text(max_size=10)): draw(st.text(min_size=500, max_size=3000)), "x": draw(json_values)}).encode(
                "utf-8", "surrogatepass"
            )
        case "real":
            return draw(real_bodies())
        case _:  # lever_shaped: a Lever envelope signed with a forger's key (or a made-up digest)
            token = draw(st.text(max_size=40))
            triggered_at = draw(st.one_of(st.integers(min_value=0, max_value=2**53), st.integers(min_value=0, max_value=2**53).map(str), st.text(max_size=14)))
            payload = {
                "triggeredAt": triggered_at,
                "event": draw(st.sampled_from(["candidateStageChange", "candidateHired", "candidateArchiveChange", "interviewCreated"])),
                "signature": draw(st.one_of(hex64, wrong_keys.map(lambda k: lever_signature(token, triggered_at, k)))),
                "token": token,
                "data": {"opportunityId": f"opp-{draw(st.uuids()).hex}", "toStageId": LEVER_INTERVIEW_STAGE},
            }
            return json.dumps(payload).encode()


@st.composite
def unsigned_requests(draw: st.DrawFn) -> tuple[str, bytes, dict[bytes, bytes]]:
    """(endpoint, body, headers) that no configured sender signed: no signature, garbage in the
    signature headers, a forger's key, a right key over other bytes, or a stale timestamp."""
    endpoint = draw(st.sampled_from(ENDPOINTS))
    body = draw(bodies())
    headers: dict[bytes, bytes] = {}
    for name, value in draw(st.dictionaries(header_names, header_values, max_size=6)).items():
        headers[name.encode()] = value
    for name in draw(st.lists(st.sampled_from(SIGNATURE_HEADERS), max_size=4, unique=True)):
        headers[draw(st.sampled_from([name, name.lower(), name.upper()])).encode()] = _text(draw(signature_garbage[name]))
    forgery = draw(st.sampled_from(["none", "wrong_key", "other_bytes", "stale"]))
    key = draw(wrong_keys)
    if forgery == "wrong_key":
        msg_id, ts = f"msg_{draw(st.uuids()).hex}", str(now_seconds())
        headers[b"Signature"] = greenhouse_signature(body, key).encode()
        headers[b"Ashby-Signature"] = ashby_signature(body, key).encode()
        headers.update({b"webhook-id": msg_id.encode(), b"webhook-timestamp": ts.encode(), b"webhook-signature": standard_webhook_signature(key, msg_id, ts, body).encode()})
    elif forgery == "other_bytes":
        # The right secrets, over bytes other than the body sent.
        signed = body + draw(st.binary(min_size=1, max_size=8))
        msg_id, ts = f"msg_{draw(st.uuids()).hex}", str(now_seconds())
        headers[b"Signature"] = greenhouse_signature(signed, GREENHOUSE_SECRET).encode()
        headers[b"Ashby-Signature"] = ashby_signature(signed, ASHBY_SECRET).encode()
        headers.update({b"webhook-id": msg_id.encode(), b"webhook-timestamp": ts.encode(), b"webhook-signature": standard_webhook_signature(EVENTS_KEY, msg_id, ts, signed).encode()})
    elif forgery == "stale":
        # The right events key over this very body, outside the 5-minute window (with a margin).
        skew = draw(st.integers(min_value=330, max_value=10**7)) * draw(st.sampled_from([-1, 1]))
        msg_id, ts = f"msg_{draw(st.uuids()).hex}", str(now_seconds() + skew)
        headers.update({b"webhook-id": msg_id.encode(), b"webhook-timestamp": ts.encode(), b"webhook-signature": standard_webhook_signature(EVENTS_KEY, msg_id, ts, body).encode()})
    content_type = draw(content_types)
    if content_type is not None:
        headers[b"content-type"] = _text(content_type)
    return endpoint, body, headers


def secrets_in(text: str, body: bytes) -> list[str]:
    """Secrets, or the digests the intake would have expected, showing in a response."""
    leaks = [GREENHOUSE_SECRET, ASHBY_SECRET, LEVER_TOKEN, EVENTS_SECRET, EVENTS_SECRET.removeprefix("whsec_")]
    leaks += [hex_hmac(GREENHOUSE_SECRET.encode(), body), hex_hmac(ASHBY_SECRET.encode(), body)]
    return [leak for leak in leaks if leak in text]


# --- 1. unsigned or forged: a clear 4xx, never a 5xx, never stored ----------------------------------


def test_no_unsigned_or_forged_request_is_a_server_error_or_stored(tmp_path):
    with threaded_intake(f"sqlite:///{tmp_path / 'intake.sqlite3'}") as (http, store):

        @settings(max_examples=800, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(unsigned_requests())
        def check(request: tuple[str, bytes, dict[bytes, bytes]]) -> None:
            endpoint, body, headers = request
            # A connection per example: no example depends on what an earlier one did to it.
            answer = http.post(endpoint, content=body, headers={**headers, b"connection": b"close"})
            assert answer.status_code < 500, f"{answer.status_code}: {answer.text[:300]}"
            document = answer.json()
            label(f"{endpoint} -> {answer.status_code} {str(document.get('message'))[:40]}")
            assert isinstance(document, dict) and ("error" in document or "status" in document), answer.text[:300]
            # Unsigned: refused, with the error that goes with the code and a message. A sender
            # that signs in headers is checked before the body is read as JSON, so only Lever
            # (signed inside the body) may answer 400 to an unsigned request.
            allowed = (400, 401, 415) if endpoint == "/webhooks/lever" else (401, 415)
            assert answer.status_code in allowed, f"{answer.status_code}: {answer.text[:300]}"
            assert document["error"] == ERROR_NAMES[answer.status_code] and document["message"]
            assert not secrets_in(answer.text, body)
            assert store.counts() == {}

        check()


# --- 2. signed, but not canonical events: 400, nothing stored ---------------------------------------

_ONE_OR_MANY = TypeAdapter(CanonicalEvent | list[CanonicalEvent])
_REQUIRED = ["event_id", "type", "occurred_at", "source", "application_id", "candidate", "recruiter", "client", "data"]


def is_canonical(value: Any) -> bool:
    if value == []:
        return False
    try:
        _ONE_OR_MANY.validate_python(value)
    except ValidationError:
        return False
    return True


@st.composite
def non_canonical_json(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["any", "mutated_event", "batch_with_a_bad_one"]))
    app = Application(source="api")
    good = json.loads(app.interview(1).model_dump_json())
    if kind == "any":
        return draw(json_values)
    mutated = dict(good)
    field = draw(st.sampled_from(_REQUIRED))
    if draw(st.booleans()):
        del mutated[field]
    else:
        mutated[field] = draw(json_values)
    if kind == "mutated_event":
        return mutated
    batch = [good, mutated]
    return draw(st.permutations(batch))


def test_a_signed_body_that_is_not_a_canonical_event_is_400_and_stores_nothing(tmp_path):
    with threaded_intake(f"sqlite:///{tmp_path / 'intake.sqlite3'}") as (http, store):

        @settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        @given(non_canonical_json(), st.booleans())
        def check(value: Any, ascii_only: bool) -> None:
            if is_canonical(value):
                label("skipped: still a canonical event")
                return  # e.g. a mutation that kept the event valid: not what this property is about
            text = json.dumps(value, ensure_ascii=ascii_only)
            msg_id, at = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
            signature = standard_webhook_signature(EVENTS_SECRET, msg_id, int(at.timestamp()), text.encode("utf-8", "surrogatepass"))
            headers = {"content-type": "application/json", "connection": "close", "webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}
            answer = http.post("/events", content=text.encode("utf-8", "surrogatepass"), headers=headers)
            assert answer.status_code == 400, f"{answer.status_code}: {answer.text[:300]}"
            label(f"400 {answer.json()['message'][:30]}")
            assert answer.json()["error"] == "bad_request" and answer.json()["message"]
            assert store.counts() == {}

        check()


# --- 1b. JSON the parser refuses on its own limits -------------------------------------------------


def test_json_beyond_the_parsers_limits_is_a_clear_4xx_not_a_server_error(tmp_path):
    """Bodies of a few KB that `json.loads` refuses with something other than JSONDecodeError.
    (The property above never draws them: its numbers are short and its nesting shallow.)"""
    shapes = {
        "a 4301-digit number": b"1" * 4301,
        "a Lever envelope with a 5000-digit triggeredAt": b'{"token": "t", "signature": "s", "triggeredAt": ' + b"9" * 5000 + b"}",
        "arrays nested 1000 deep": b"[" * 1000 + b"]" * 1000,
        "objects nested 2000 deep": b'{"a":' * 2000 + b"1" + b"}" * 2000,
    }
    with threaded_intake(f"sqlite:///{tmp_path / 'intake.sqlite3'}") as (http, store):
        failures = []
        for shape, body in shapes.items():
            for endpoint in ENDPOINTS:
                for content_type in ("application/json", None):
                    headers = {"connection": "close", **({"content-type": content_type} if content_type else {})}
                    answer = http.post(endpoint, content=body, headers=headers)
                    if answer.status_code >= 500 or "error" not in _json_or_none(answer):
                        failures.append(f"{endpoint} <- {shape} (content-type {content_type}): {answer.status_code} {answer.text[:40]!r}")
        assert store.counts() == {}
        assert not failures, "\n".join(failures)


def _json_or_none(answer: httpx.Response) -> dict[str, Any]:
    try:
        document = answer.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


# --- 3. never a process without a valid signature ------------------------------------------------


def _greenhouse_body(application_id: int) -> bytes:
    payload = json.loads((PAYLOADS / "greenhouse_candidate_stage_change.json").read_bytes())
    payload["payload"]["application"]["id"] = application_id
    return json.dumps(payload).encode()


def _ashby_body(application_id: str) -> bytes:
    payload = json.loads((PAYLOADS / "ashby_candidate_stage_change.json").read_bytes())
    payload["data"]["application"]["id"] = application_id
    return json.dumps(payload).encode()


async def _workflows_for(client: Any, application_id: str) -> list[Any]:
    return [execution async for execution in client.list_workflows(f"ApplicationId = '{application_id}'")]


async def test_no_process_is_ever_started_without_a_valid_signature(dev_env, store_url, task_queue, activity_pool):
    json_headers = {"content-type": "application/json"}
    forged: list[tuple[str, str, bytes, dict[str, str]]] = []  # (application id, endpoint, body, headers)

    def events_variant(make_headers: Any, at: datetime | None = None) -> None:
        app = Application(source="api")
        body, headers = signed_event(app.interview(1), at=at)
        forged.append((app.application_id, "/events", body, make_headers(body, headers)))

    stranger = "whsec_" + base64.b64encode(b"not-the-configured-key-012345678").decode()
    events_variant(lambda b, h: {**h, "webhook-signature": standard_webhook_signature(stranger, h["webhook-id"], h["webhook-timestamp"], b)})
    events_variant(lambda b, h: {k: v for k, v in h.items() if k != "webhook-signature"})
    events_variant(lambda b, h: json_headers)
    events_variant(lambda b, h: h, at=datetime.now(UTC) - timedelta(minutes=6))
    events_variant(lambda b, h: h, at=datetime.now(UTC) + timedelta(minutes=6))
    events_variant(lambda b, h: {**h, "webhook-id": h["webhook-id"] + "-replayed"})
    events_variant(lambda b, h: {**h, "webhook-signature": "v1," + base64.b64encode(b"\0" * 32).decode()})
    events_variant(lambda b, h: {**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v1a,")})
    # A signature over another application's event, sent with this one's body.
    victim, other = Application(source="api"), Application(source="api")
    _, other_headers = signed_event(other.interview(1))
    forged.append((victim.application_id, "/events", signed_event(victim.interview(1))[0], other_headers))
    # A batch for two applications, signed with a stranger's key.
    pair = [Application(source="api"), Application(source="api")]
    batch_body, batch_headers = signed_event([a.interview(1) for a in pair])
    batch_headers["webhook-signature"] = standard_webhook_signature(stranger, batch_headers["webhook-id"], batch_headers["webhook-timestamp"], batch_body)
    forged += [(a.application_id, "/events", batch_body, batch_headers) for a in pair]

    # Greenhouse: the stage-change fixture (as its own application) with wrong signatures.
    ids = iter(range(uuid.uuid4().int % 10**9 + 10**9, 10**12))
    gh = next(ids)
    forged.append((str(gh), "/webhooks/greenhouse", _greenhouse_body(gh), {**json_headers, "Signature": "sha256 " + "0" * 64}))
    gh = next(ids)
    forged.append((str(gh), "/webhooks/greenhouse", (b := _greenhouse_body(gh)), {**json_headers, "Signature": greenhouse_signature(b, b"wrong")}))
    gh = next(ids)
    _, fixture_headers = signed_greenhouse("greenhouse_candidate_stage_change.json")  # right key, other bytes
    forged.append((str(gh), "/webhooks/greenhouse", _greenhouse_body(gh), fixture_headers))
    gh = next(ids)
    forged.append((str(gh), "/webhooks/greenhouse", _greenhouse_body(gh), json_headers))
    # Ashby and Lever.
    ashby_id = f"ashby-{uuid.uuid4().hex}"
    forged.append((ashby_id, "/webhooks/ashby", (b := _ashby_body(ashby_id)), {**json_headers, "Ashby-Signature": ashby_signature(b, b"wrong")}))
    lever_id = f"opp-{uuid.uuid4().hex}"
    forged.append((lever_id, "/webhooks/lever", lever_body("tok", int(time.time() * 1000), b"wrong", lever_id), json_headers))
    # Signed with the right token, but two hours old: Lever signs no body, so a stale signature
    # is refused like a forged one.
    forged.append((lever_id, "/webhooks/lever", lever_body("tok", int(time.time() * 1000) - 2 * 3600 * 1000, LEVER_TOKEN.encode(), lever_id), json_headers))

    # Controls, validly signed, one per kind: they prove the forwarder, the worker and visibility
    # were live, so that the forged applications' absence means something.
    control_app = Application(source="api")
    control_gh = next(ids)
    control_lever = f"opp-{uuid.uuid4().hex}"
    gh_control_body = _greenhouse_body(control_gh)
    controls = [
        (control_app.application_id, "/events", *signed_event(control_app.interview(1))),
        (str(control_gh), "/webhooks/greenhouse", gh_control_body,
         {**json_headers, "Signature": greenhouse_signature(gh_control_body, GREENHOUSE_SECRET)}),
        (control_lever, "/webhooks/lever", lever_body("tok", int(time.time() * 1000), LEVER_TOKEN.encode(), control_lever), json_headers),
    ]

    async with running_engine(dev_env, store_url, task_queue, activity_pool):
        forwarder = forwarder_for(dev_env, store_url, task_queue)
        async with intake_service(store_url, forwarder, intake_config()) as (http, store):
            for application_id, endpoint, body, headers in forged:
                answer = await http.post(endpoint, content=body, headers=headers)
                assert answer.status_code == 401, f"{application_id} via {endpoint}: {answer.status_code} {answer.text}"
                assert answer.json()["error"] == "unauthorized"
            assert store.counts() == {}

            for application_id, endpoint, body, headers in controls:
                answer = await http.post(endpoint, content=body, headers=headers)
                assert answer.status_code == 200, f"control {endpoint}: {answer.text}"
            for application_id, *_ in controls:
                await eventually(
                    lambda application_id=application_id: _workflows_for(dev_env.client, application_id),
                    timeout=20,
                    what=f"control {application_id} visible",
                )
            await eventually(lambda: store.counts() == {"delivered": len(controls)}, timeout=10, what="controls delivered")

            for application_id, endpoint, *_ in forged:
                assert await _workflows_for(dev_env.client, application_id) == [], f"a process for forged {endpoint} {application_id}"
            assert store.counts() == {"delivered": len(controls)}  # the controls, and nothing else


# --- 4. out-of-order deliveries over HTTP ----------------------------------------------------------


class _ForwarderLog:
    """Stands in for intake.forwarder's logger: records what the forwarder reports, passes it on."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.records: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.records.append((event, fields))
        self.inner.info(event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.records.append((event, fields))
        self.inner.warning(event, **fields)

    def outcomes(self, event_id: str) -> list[str]:
        return [f["outcome"] for e, f in self.records if e == "event forwarded" and f.get("event_id") == event_id]


async def _stages_published(env: Any, workflow_id: str) -> list[str]:
    """Every ProcessStage the run published, in order (from its history)."""
    stages = []
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    for entry in history.events:
        if entry.HasField("upsert_workflow_search_attributes_event_attributes"):
            fields = entry.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            if "ProcessStage" in fields:
                stages.append(json.loads(fields["ProcessStage"].data))
    return stages


async def test_out_of_order_deliveries_end_where_a_recruiter_expects(dev_env, store_url, task_queue, activity_pool, monkeypatch):
    reports = _ForwarderLog(intake.forwarder.log)
    monkeypatch.setattr(intake.forwarder, "log", reports)
    hired, withdrawn, screened = Application(source="api"), Application(source="api"), Application(source="api")
    late_interview = withdrawn.interview(2)

    async def post(canonical: CanonicalEvent, webhook_id: str | None = None) -> httpx.Response:
        body, headers = signed_event(canonical, webhook_id=webhook_id)
        answer = await http.post("/events", content=body, headers=headers)
        assert answer.status_code == 200 and answer.json()["status"] == "accepted", answer.text
        return answer

    async with running_engine(dev_env, store_url, task_queue, activity_pool):
        async with intake_service(store_url, forwarder_for(dev_env, store_url, task_queue)) as (http, store):
            # Application 1: the reference before the request, the offer before the interview.
            await post(hired.event("referee.responded", {"referee_id": "ref-1"}))
            await post(hired.references("ref-1", "ref-2", required=True))
            await post(hired.offer())
            await post(hired.interview(1))
            # Application 2: interviewed, then withdrawn.
            await post(withdrawn.interview(1))
            await post(withdrawn.event("candidate.withdrew", {"reason": "took another offer"}))
            # Application 3: a withdrawal before anything else of it (an applicant never
            # interviewed): no process, the delivery ignored with the reason (issue 10).
            screened_out = screened.event("candidate.withdrew", {"reason": "found another job"})
            await post(screened_out)

            def all_handled(current: ProcessStatus) -> bool:
                return current.events_seen == 4 and "interview.completed.round_1" in current.milestones

            current = await status_when(dev_env.client, "api", hired.application_id, all_handled, timeout=20, what="application 1 has handled its four events")
            assert current.stage == "offer", current
            referees = {r.id: r.state for r in current.referees}
            assert referees["ref-1"] == "responded"
            assert referees["ref-2"] not in ("responded", "cancelled")
            assert current.offer_blocked is True
            stages = await _stages_published(dev_env, hired.workflow_id)
            assert "offer" in stages and all(s == "offer" for s in stages[stages.index("offer"):]), stages
            assert "debrief" not in stages[stages.index("references"):], stages

            # The withdrawal closed application 2's process: the run completes, closed.
            handle = process_handle(dev_env.client, "api", withdrawn.application_id)
            # The forwarder starts it asynchronously: wait until it exists before asking for its result.
            await eventually(handle.describe, timeout=20, what="application 2's process started")
            final = await asyncio.wait_for(handle.result(), 20)
            assert final.stage == "closed" and "candidate.withdrew" in final.milestones
            await eventually(lambda: reports.outcomes(screened_out.event_id) == ["no_process"], timeout=15, what="application 3's withdrawal forwarded")
            assert await _workflows_for(dev_env.client, screened.application_id) == []

            # The interview reported after the close does not open a new process.
            webhook_id = f"msg_late_{uuid.uuid4().hex}"
            await post(late_interview, webhook_id=webhook_id)
            await eventually(lambda: (store.delivery("api", webhook_id) or {}).get("status") == "delivered", timeout=15, what="the late delivery marked")
            assert reports.outcomes(late_interview.event_id) == ["process_closed"]

            async def one_completed_run() -> Any:
                runs = [w async for w in dev_env.client.list_workflows(f"WorkflowId = '{withdrawn.workflow_id}'")]
                return runs if runs and all(r.status == WorkflowExecutionStatus.COMPLETED for r in runs) else None

            runs = await eventually(one_completed_run, timeout=15, what="application 2's run visible as completed")
            assert len(runs) == 1, runs
            assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
            after = await process_status(dev_env.client, "api", withdrawn.application_id)
            assert after.stage == "closed" and "interview.completed.round_2" not in after.milestones
            assert store.counts() == {"delivered": 7, "ignored": 1}

