"""Every HTTP route under generated input: webhooks of each vendor and /events, the task API, the
inbox's forms, the answer links, /metrics, /healthz, /readyz and whatever path a client makes up.

Whatever the method, path, headers, body (bytes, JSON of random shapes, huge numbers, bad
UTF-8, NULs, dates of year 1 and 9999) and credentials (none, garbage, a forger's, the real
ones), the service:

- never answers 5xx and never raises (the app runs in process through httpx.ASGITransport with
  raise_app_exceptions, so an unhandled exception fails the example; one test over real HTTP
  checks the server's log instead);
- never stores a delivery without a valid signature, and never talks to Temporal (no start, no
  signal, no update: a recording client interceptor) for a request without valid credentials;
- still answers /healthz at once afterwards.

tests/intake/test_properties.py goes deeper into the webhook signatures alone.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
)

from domain.follow_through import TaskKind
from inbox.api import SESSION_COOKIE
from inbox.desk import TaskDesk
from inbox.links import CANDIDATE_LINKS, SALT, LinkAction, LinkSigner
from inbox.pages import form_token
from intake.app import create_app
from intake.signing import ashby_signature, greenhouse_signature, lever_signature, standard_webhook_signature
import service.http as service_http
from service.embedded_http import embedded_server
from service.settings import LinkSection, Settings
from store.access_store import AccessStore
from store.intake_store import IntakeStore
from store.task_store import TaskStore
from tests.events import Application
from tests.harness import eventually, free_port
from tests.inbox.service import give_task
from tests.intake.test_properties import LEVER_TOKEN, intake_config
from tests.intake.test_service import ASHBY_SECRET, EVENTS_SECRET, GREENHOUSE_SECRET, PAYLOADS

LINK_KEY = "route-fuzz-link-key"
BASE = "http://testserver"
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


# --- what talks to Temporal is recorded ------------------------------------------------------------


class Recorder(Interceptor):
    """Records every start, signal and update a client sends (and sends nothing on: the calls
    fail as if Temporal were down, which every route must survive too)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        recorder = self

        class Outbound(OutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput) -> Any:
                recorder.calls.append(f"start {input.id}")
                return await super().start_workflow(input)

            async def signal_workflow(self, input: SignalWorkflowInput) -> None:
                recorder.calls.append(f"signal {input.id} {input.signal}")
                return await super().signal_workflow(input)

            async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> Any:
                recorder.calls.append(f"update {input.id} {input.update}")
                return await super().start_workflow_update(input)

            async def start_update_with_start_workflow(self, input: StartWorkflowUpdateWithStartInput) -> Any:
                recorder.calls.append("update-with-start")
                return await super().start_update_with_start_workflow(input)

        return Outbound(next)


@dataclass
class Service:
    app: Any
    intake: IntakeStore
    tasks: TaskStore
    access: AccessStore
    recorder: Recorder
    task_id: int
    debrief_task_id: int
    token: str  # an API token of the task's recruiter
    session: str  # an inbox session of the same recruiter


@contextlib.contextmanager
def service(store_url: str, temporal: Client | None) -> Iterator[Service]:
    """The app `postinterview intake` serves (webhooks, task API, inbox, links), without a
    forwarder (nothing stored is sent on), its Temporal calls recorded."""
    recorder = Recorder()

    async def connect() -> Client:
        if temporal is None:
            raise RuntimeError("no Temporal in this test")
        config = temporal.config()
        config["interceptors"] = [recorder]
        return Client(**config)

    intake = IntakeStore(store_url)
    tasks = TaskStore(store_url)
    desk = TaskDesk(tasks, AccessStore(tasks.engine), connect)
    app = create_app(intake_config(), intake, None)
    links = LinkSection(signing_keys=LINK_KEY, local_run="1")
    # The answer links reach Temporal the way the service's parts do: through `connect` here.
    with mock.patch.object(service_http, "temporal_connector", lambda _settings: connect):
        close = service_http.mount_inbox(app, Settings(database_url=store_url, links=links), desk)
    task_id = give_task(tasks, "rec-fuzz", lead="lead-fuzz")
    debrief_task_id = give_task(tasks, "rec-fuzz", lead="lead-fuzz", kind=TaskKind.BOOK_DEBRIEF, application_id="app-2")
    try:
        yield Service(
            app, intake, tasks, desk.access, recorder, task_id, debrief_task_id,
            desk.access.issue_token("rec-fuzz", "fuzz"), desk.access.issue_token("rec-fuzz", "inbox session"),
        )  # fmt: skip
    finally:
        close()
        intake.close()


# --- strategies ------------------------------------------------------------------------------

FIXTURES = {path.name: json.loads(path.read_bytes()) for path in sorted(PAYLOADS.glob("*.json"))}
EVIL_TEXT = ["", "\x00", "a\x00b", "\ud800", "\u202e", "\x1b[31m", "x" * 5000, "<!channel>", "'; drop table tasks; --", "%00", "../../etc/passwd"]
EVIL_DATES = [
    "0001-01-01", "0001-01-01T00:00:00Z", "9999-12-31", "9999-12-31T23:59:59.999999+00:00", "1969-12-31T23:59:59Z",
    "2100-12-31T23:59:59-14:00", "2026-02-30T00:00:00Z", "2026-11-26T25:61:00Z", "2026-11-26T10:00:00", "-0001-01-01",
]  # fmt: skip
EVIL_NUMBERS = [0, -1, 2**31, 2**63, -(2**63) - 1, 10**30, 1e308, -1e308, 0.5]
evil_scalars = st.one_of(
    st.sampled_from(EVIL_TEXT),
    st.sampled_from(EVIL_DATES),
    st.sampled_from(EVIL_NUMBERS),
    st.none(),
    st.booleans(),
    st.text(max_size=30),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
)
json_values = st.recursive(
    evil_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document (containers included)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _replace(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """A real payload with one to three values (or whole objects) replaced by hostile ones."""
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(document)))
        document = _replace(document, path, draw(json_values))
    return document


def encode(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


raw_bodies = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=512).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.tuples(json_values, st.booleans()).map(lambda pair: encode(*pair)),
    st.sampled_from([b"1" * 5000, b"[" * 2000 + b"]" * 2000, b'{"a":' * 1500 + b"1" + b"}" * 1500, b"\xff\xfe\x00", b"NaN", b"-Infinity"]),
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    authenticated: bool  # carries credentials valid for this route (a signature, a token, a session)
    what: str


def _vendor_fixture(vendor: str) -> list[str]:
    return [name for name in FIXTURES if name.startswith(vendor)]


@st.composite
def webhook_requests(draw: st.DrawFn) -> Request:
    vendor = draw(st.sampled_from(["greenhouse", "lever", "ashby", "events"]))
    signed = draw(st.booleans())
    ascii_only = draw(st.booleans())
    if vendor == "events":
        app = Application(source=draw(st.sampled_from(["api", "greenhouse", "lever", "ashby"])))
        base = json.loads(draw(st.sampled_from([app.interview(1), app.references("ref-1"), app.offer(), app.event("candidate.withdrew")])).model_dump_json())
        document = draw(st.one_of(mutated(base), st.just(base), json_values, st.lists(mutated(base), min_size=1, max_size=3)))
    elif vendor == "lever":
        stage = "00000000-0000-4000-8000-00000000a001"
        base = {"event": "candidateStageChange", "data": {"candidateId": "cand-1", "opportunityId": f"opp-{uuid.uuid4().hex}", "toStageId": stage}}
        document = draw(st.one_of(mutated(base), st.just(base)))
    else:
        names = _vendor_fixture(vendor)
        document = draw(st.one_of(mutated(FIXTURES[draw(st.sampled_from(names))]), json_values))
    headers = {"content-type": draw(st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain"]))}
    if vendor == "lever":
        triggered = int(time.time() * 1000)
        token = f"tok-{uuid.uuid4().hex}"
        key = LEVER_TOKEN.encode() if signed else draw(st.binary(min_size=1, max_size=20))
        envelope = document if isinstance(document, dict) else {"data": document}
        envelope = {**envelope, "token": token, "triggeredAt": triggered, "signature": lever_signature(token, triggered, key)}
        body = encode(envelope, ascii_only)
        return Request("POST", "/webhooks/lever", headers, body, signed, f"lever signed={signed}")
    body = encode(document, ascii_only) if draw(st.integers(0, 9)) else draw(raw_bodies)
    secret = {"greenhouse": GREENHOUSE_SECRET, "ashby": ASHBY_SECRET, "events": EVENTS_SECRET}[vendor]
    if not signed:
        secret = {"greenhouse": "forged", "ashby": "forged", "events": "whsec_" + base64.b64encode(b"forged-forged-forged-forged!").decode()}[vendor]
    if vendor == "greenhouse":
        headers["Signature"] = greenhouse_signature(body, secret)
        headers["Greenhouse-Event-ID"] = str(uuid.uuid4())
        path = "/webhooks/greenhouse"
    elif vendor == "ashby":
        headers["Ashby-Signature"] = ashby_signature(body, secret)
        path = "/webhooks/ashby"
    else:
        msg_id, at = f"msg_{uuid.uuid4().hex}", str(int(time.time()))
        headers.update({"webhook-id": msg_id, "webhook-timestamp": at, "webhook-signature": standard_webhook_signature(secret, msg_id, at, body)})
        path = "/events"
    return Request("POST", path, headers, body, signed, f"{vendor} signed={signed}")


def _credentials(draw: st.DrawFn, svc: Service, kind: str) -> tuple[dict[str, str], bool]:
    """Headers for a route of the task API (`bearer`) or the inbox (`session`), valid or not."""
    choice = draw(st.sampled_from(["valid", "valid", "none", "garbage", "revoked-looking"]))
    if choice == "none":
        return {}, False
    secret = {"valid": svc.token if kind == "bearer" else svc.session, "garbage": draw(st.text(max_size=60)), "revoked-looking": "pit_" + "0" * 40}[choice]
    secret = "".join(c for c in secret if " " < c < "\x7f")  # what a header can carry
    if kind == "bearer":
        return {"authorization": f"Bearer {secret}".strip()}, choice == "valid"
    return {"cookie": f"{SESSION_COOKIE}={secret}"}, choice == "valid"


task_ids = st.one_of(st.just("TASK"), st.just("DEBRIEF"), st.integers().map(str), st.sampled_from(["0", "-1", "2147483648", "9" * 40, "1e3", "abc", "%00", "1.5"]))


@st.composite
def api_requests(draw: st.DrawFn, svc: Service) -> Request:
    headers, valid = _credentials(draw, svc, "bearer")
    action = draw(st.sampled_from(["me", "list", "get", "complete", "snooze", "reassign"]))
    task = draw(task_ids).replace("TASK", str(svc.task_id)).replace("DEBRIEF", str(svc.debrief_task_id))
    if action == "me":
        return Request(draw(st.sampled_from(["GET", "POST"])), "/api/me", headers, b"", valid, "api me")
    if action == "list":
        params = draw(
            st.dictionaries(
                st.sampled_from(["status", "assignee", "due_before", "overdue", "kind", "client", "sort", "limit", "cursor", "x"]),
                st.one_of(
                    st.sampled_from(
                        EVIL_DATES + EVIL_TEXT[:6] + ["open", "done", "true", "rec-fuzz", "lead-fuzz", "-due", "resolved", "0", "501", "book_debrief"]
                        + ["WyJkdWUiLCIyMDI2LTEyLTAzVDAwOjAwOjAwKzAwOjAwIiwxLDBd", "WyItZHVlIiwiOTk5OS0xMi0zMSIsOTk5OTk5OTk5OTk5OSwxXQ"]
                    ),
                    st.text(max_size=20),
                ),
                max_size=4,
            )
        )
        query = httpx.QueryParams({k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for k, v in params.items()})
        return Request("GET", f"/api/tasks?{query}", headers, b"", valid, "api list")
    if action == "get":
        return Request("GET", f"/api/tasks/{task}", headers, b"", valid, "api get")
    bases = {
        "complete": {"outcome": "done", "note": "called them", "debrief": {"went_well": "x", "concerns": "y"}},
        "snooze": {"until": "2026-12-24T09:00:00+00:00"},
        "reassign": {"assignee_id": "lead-fuzz"},
    }
    document = draw(st.one_of(mutated(bases[action]), json_values, st.just(bases[action])))
    body = encode(document, draw(st.booleans())) if draw(st.integers(0, 9)) else draw(raw_bodies)
    headers["content-type"] = draw(st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]))
    return Request("POST", f"/api/tasks/{task}/{action}", headers, body, valid, f"api {action}")


@st.composite
def inbox_requests(draw: st.DrawFn, svc: Service) -> Request:
    headers, valid = _credentials(draw, svc, "session")
    origin = draw(st.sampled_from([BASE, BASE, None, "https://evil.example", "null", BASE + ":80"]))
    if origin:
        headers["origin"] = origin
    action = draw(st.sampled_from(["list", "login-form", "login", "logout", "complete", "snooze", "reassign"]))
    if action in ("list", "login-form", "logout"):
        path = {"list": "/inbox", "login-form": "/inbox/login", "logout": "/inbox/logout"}[action]
        query = draw(st.sampled_from(["", "?person=lead-fuzz", "?person=%00", "?x=" + "y" * 3000]))
        if draw(st.booleans()):
            headers["cookie"] = headers.get("cookie", "") + "; postinterview_flash=" + draw(st.sampled_from(["%ff%fe", "hi", "%00", "%E2%82"]))
        return Request("GET", path + query, headers, b"", False, f"inbox {action}")
    fields: dict[str, str] = {}
    if action == "login":
        fields["token"] = draw(st.sampled_from([svc.token, "", "pis_" + "0" * 40, "\x00"])) if draw(st.booleans()) else draw(st.text(max_size=60))
        # A right token signs in: that talks to no process.
        path, valid = "/inbox/login", False
    else:
        task = draw(task_ids).replace("TASK", str(svc.task_id)).replace("DEBRIEF", str(svc.debrief_task_id))
        path = f"/inbox/tasks/{task}/{action}"
        csrf_valid = draw(st.booleans())
        fields["csrf"] = form_token(svc.session) if csrf_valid else draw(st.text(alphabet="0123456789abcdef", max_size=64))
        valid = valid and csrf_valid and origin == BASE
        names = {
            "complete": ["outcome", "note", "went_well", "concerns", "interest", "salary", "next_steps", "other_interviews"],
            "snooze": ["for"],
            "reassign": ["assignee_id"],
        }[action]
        values = st.one_of(st.sampled_from(EVIL_TEXT + EVIL_DATES + ["done", "1d", "1w", "lead-fuzz", "rec-fuzz", "no_answer"]), st.text(max_size=40))
        fields.update(draw(st.dictionaries(st.sampled_from(names), values, max_size=len(names))))
    encoded = httpx.QueryParams({k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for k, v in fields.items()})
    if draw(st.integers(0, 5)):
        body = str(encoded).encode()
        headers["content-type"] = "application/x-www-form-urlencoded"
    else:
        body = draw(raw_bodies)
        headers["content-type"] = draw(st.sampled_from(["multipart/form-data; boundary=x", "multipart/form-data", "application/x-www-form-urlencoded", "application/json"]))
    return Request("POST", path, headers, body, valid, f"inbox {action}")


@st.composite
def link_tokens(draw: st.DrawFn) -> tuple[str, bool]:
    kind = draw(st.sampled_from(["issued", "issued", "our-key-any-claims", "forged", "garbage"]))
    if kind == "issued":
        action = draw(st.sampled_from(list(LinkAction)))
        app_id = draw(st.sampled_from(["app-1", f"fuzz-{uuid.uuid4().hex[:8]}"]))
        signer = LinkSigner([LINK_KEY])
        if action in CANDIDATE_LINKS:
            # A candidate's own links (check-in answers, opt-out) name the candidate, not a referee.
            return signer.issue(action, f"relationship-api-cand-{app_id}", None, candidate=("api", f"cand-{app_id}"), check_in_key="k").token, True
        referee = "ref-1" if action != LinkAction.CANDIDATE_DEBRIEF else None
        round_ = 1 if action == LinkAction.CANDIDATE_DEBRIEF else None
        return signer.issue(action, f"post-interview-api-{app_id}", app_id, referee_id=referee, round_=round_).token, True
    if kind == "our-key-any-claims":
        claims = draw(
            st.fixed_dictionaries(
                {
                    "i": st.sampled_from(["x" * 16, uuid.uuid4().hex]),
                    "a": st.sampled_from([a.value for a in LinkAction] + ["delete"]),
                    "w": st.sampled_from(["post-interview-api-app-1", "post-interview--app-1", "x"]),
                    "p": st.sampled_from(["app-1", "app-1", "", "\x00"]),
                    "x": st.one_of(st.sampled_from(EVIL_NUMBERS + [4102444800, 253402300800, -62135596800, int(time.time()) + 3600]), evil_scalars),
                },
                optional={"r": evil_scalars, "n": evil_scalars},
            )
        )
        # itsdangerous signs UTF-8: a lone surrogate could not be in a token anybody signed.
        claims = {k: v.encode("utf-8", "replace").decode() if isinstance(v, str) else v for k, v in claims.items()}
        return URLSafeSerializer(LINK_KEY, salt=SALT).dumps(claims), False
    if kind == "forged":
        return LinkSigner(["someone-else"]).issue(LinkAction.REFEREE_CONSENT, "post-interview-api-app-1", "app-1", referee_id="ref-1").token, False
    return draw(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/?#%"), max_size=200)), False


@st.composite
def link_requests(draw: st.DrawFn) -> Request:
    token, valid = draw(link_tokens())
    method = draw(st.sampled_from(["GET", "POST", "POST"]))
    fields = draw(
        st.dictionaries(
            st.sampled_from(["went_well", "concerns", "interest", "salary", "next_steps", "other_interviews", "x"]),
            st.one_of(st.sampled_from(EVIL_TEXT), st.text(max_size=200)),
            max_size=6,
        )
    )
    encoded = httpx.QueryParams({k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for k, v in fields.items()})
    body = str(encoded).encode() if method == "POST" else b""
    headers = {"content-type": "application/x-www-form-urlencoded"} if method == "POST" else {}
    if method == "POST":
        # The link's own page posts with its origin; anything else is refused (CSRF) and acts on nothing.
        origin = draw(st.sampled_from([BASE, BASE, None, "https://evil.example", "null"]))
        if origin is not None:
            headers["origin"] = origin
        valid = valid and origin == BASE
    return Request(method, f"/r/{token}", headers, body, valid, f"link {method}")


@st.composite
def other_requests(draw: st.DrawFn) -> Request:
    path = draw(
        st.one_of(
            st.sampled_from(["/metrics", "/healthz", "/readyz", "/", "/docs", "/openapi.json", "/inbox/static/inbox.css", "/inbox/static/../../README.md", "/api", "/r/", "/webhooks/"]),
            st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#?"), max_size=60).map(lambda p: "/" + p.lstrip("/")),
        )
    )
    method = draw(st.sampled_from(["GET", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]))
    body = draw(raw_bodies) if method in ("POST", "PUT", "PATCH") else b""
    return Request(method, path, {}, body, False, f"{method} other")


def any_request(svc: Service) -> st.SearchStrategy[Request]:
    return st.one_of(webhook_requests(), api_requests(svc), inbox_requests(svc), link_requests(), other_requests())


def with_noise(request: Request, extra: dict[str, str], method: str | None) -> Request:
    """The request with made-up headers added and sometimes another method."""
    headers = {**extra, **request.headers}
    return Request(method or request.method, request.path, headers, request.body, request.authenticated and method is None, request.what)


header_noise = st.dictionaries(
    st.sampled_from(["x-forwarded-proto", "x-forwarded-for", "accept", "accept-encoding", "user-agent", "referer", "range", "if-none-match", "x-request-id"]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80),
    max_size=3,
)
other_methods = st.one_of(st.none(), st.none(), st.none(), st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]))


# --- the properties -------------------------------------------------------------------------------


async def _send(http: httpx.AsyncClient, request: Request) -> httpx.Response:
    return await http.request(request.method, request.path, headers=request.headers, content=request.body or None)


def _check(request: Request, answer: httpx.Response, deliveries_before: int, deliveries_after: int, calls: list[str]) -> None:
    if request.path.startswith("/readyz") and answer.status_code == 503:
        # A readiness probe's "not ready" is its answer, not a failure (its store unreachable;
        # Temporal, or no forwarder at all, never makes it so).
        assert answer.json()["status"] == "not ready", answer.text
        return
    assert answer.status_code < 500, f"{request.what}: {request.method} {request.path[:120]} -> {answer.status_code} {answer.text[:300]}"
    if not request.authenticated:
        assert deliveries_after == deliveries_before, f"{request.what}: a delivery stored without a valid signature ({answer.status_code})"
        assert not calls, f"{request.what}: {calls} without valid credentials ({answer.status_code} {answer.text[:200]})"


def _deliveries(store: IntakeStore) -> int:
    return sum(store.counts().values())


async def test_no_route_answers_a_server_error_or_acts_without_credentials(database_url, dev_env):
    with service(database_url, dev_env.client) as svc:
        transport = httpx.ASGITransport(app=svc.app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=30) as http:
            seen: list[Request] = []

            @FUZZ
            @given(st.data(), header_noise, other_methods)
            @example(data=None, noise={}, method=None)
            def check(data: Any, noise: dict[str, str], method: str | None) -> None:
                if data is None:  # the regressions this test found, replayed first
                    for request in regressions(svc):
                        run(request)
                    return
                run(with_noise(data.draw(any_request(svc)), noise, method))

            def run(request: Request) -> None:
                seen.append(request)
                before = _deliveries(svc.intake)
                svc.recorder.calls.clear()
                answer = _run_async(_send(http, request))
                _check(request, answer, before, _deliveries(svc.intake), list(svc.recorder.calls))

            await asyncio.to_thread(check)
            answer = await http.get("/healthz")
            assert answer.status_code == 200
            assert len(seen) > 100


_MAIN_LOOP: asyncio.AbstractEventLoop | None = None


def _run_async(coroutine: Any) -> Any:
    """Run a coroutine on the test's event loop from hypothesis's thread."""
    assert _MAIN_LOOP is not None
    return asyncio.run_coroutine_threadsafe(coroutine, _MAIN_LOOP).result(timeout=60)


@pytest.fixture(autouse=True)
async def _main_loop() -> AsyncIterator[None]:
    global _MAIN_LOOP
    _MAIN_LOOP = asyncio.get_running_loop()
    yield
    _MAIN_LOOP = None


def regressions(svc: Service) -> list[Request]:
    """What fuzzing found, kept as explicit examples (each a 5xx before its fix)."""
    bearer = {"authorization": f"Bearer {svc.token}", "content-type": "application/json"}
    form = {"content-type": "application/x-www-form-urlencoded"}
    claims = {"i": "x" * 16, "a": "candidate_debrief", "w": "post-interview-api-app-1", "p": "app-1", "n": 1}
    return [
        # A task id past the id column's range made the driver overflow (SQLite: > 2**63;
        # PostgreSQL's INTEGER: > 2**31 - 1).
        Request("GET", "/api/tasks/" + "9" * 23, bearer, b"", True, "api get, huge id"),
        Request("GET", "/api/tasks/2147483648", bearer, b"", True, "api get, id past INTEGER"),
        Request("POST", "/api/tasks/" + "9" * 23 + "/complete", bearer, b"{}", True, "api complete, huge id"),
        # An instant of year 9999 west of UTC overflowed on its way to UTC; year 1 or 9999 is now
        # refused like every date outside 1970-2100.
        Request("POST", f"/api/tasks/{svc.task_id}/snooze", bearer, b'{"until": "9999-12-31T23:59:59-14:00"}', True, "api snooze, year 9999"),
        Request("GET", "/api/tasks?due_before=9999-12-31T23%3A59%3A59-14%3A00", bearer, b"", True, "api list, year 9999"),
        # A lone surrogate escaped in JSON ("\ud800": valid JSON, not Unicode text): FastAPI's 422
        # quoted it back and could not encode the answer; a note took it in.
        Request("POST", f"/api/tasks/{svc.task_id}/reassign", bearer, b'{"assignee_id": "\\ud800"}', True, "api reassign, lone surrogate"),
        Request("POST", f"/api/tasks/{svc.task_id}/complete", bearer, b'{"outcome": "done", "note": "a\\udfff"}', True, "api complete, lone surrogate"),
        # A body that is not UTF-8: the 422 quoted its bytes and could not encode them.
        Request("POST", f"/api/tasks/{svc.task_id}/complete", {**bearer, "content-type": "text/plain"}, b"\x80", True, "api complete, not UTF-8"),
        # A link signed with our key whose expiry is past year 9999 (or before year 1): the page
        # could not tell when it expired.
        *(
            Request(method, f"/r/{URLSafeSerializer(LINK_KEY, salt=SALT).dumps({**claims, 'x': expiry})}", form, b"went_well=a", False, "link, expiry out of range")
            for expiry in (10**20, -(10**20), 253402300800)
            for method in ("GET", "POST")
        ),
    ]


# --- one pass over real HTTP, the server's own log read ---------------------------------------------


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(self.format(record))


async def test_over_real_http_no_server_error_and_no_exception_in_the_log(tmp_path, dev_env):
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    try:
        with service(f"sqlite:///{tmp_path / 'fuzz.sqlite3'}", dev_env.client) as svc:
            port = free_port()
            server = embedded_server(svc.app, "127.0.0.1", port)
            serving = asyncio.create_task(server.serve())
            await eventually(lambda: server.started, what="the service to listen")
            base = f"http://127.0.0.1:{port}"
            try:
                async with httpx.AsyncClient(base_url=base, timeout=15) as http:

                    @settings(FUZZ, max_examples=120)
                    @given(st.data())
                    def check(data: Any) -> None:
                        request = data.draw(any_request(svc))
                        headers = {k: (base if k == "origin" and v == BASE else v) for k, v in request.headers.items()}
                        before = _deliveries(svc.intake)
                        svc.recorder.calls.clear()
                        answer = _run_async(http.request(request.method, request.path, headers=headers, content=request.body or None))
                        _check(request, answer, before, _deliveries(svc.intake), list(svc.recorder.calls))

                    await asyncio.to_thread(check)
                    started = time.monotonic()
                    assert (await http.get("/healthz")).status_code == 200
                    assert time.monotonic() - started < 2, "the service is slow to answer after the fuzzing"
            finally:
                server.should_exit = True
                await serving
    finally:
        logging.getLogger().removeHandler(errors)
    assert not errors.records, "\n".join(errors.records[:5])
