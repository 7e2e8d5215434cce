"""The Bullhorn poller on the dev server against the Bullhorn stand-in (real HTTP on loopback), the
real store and the real forwarder: connect an account (loginInfo, 307 to the data centre, OAuth
code, REST login), subscribe, poll, map, store in the intake table, deliver to the processes; a
session that expires (re-login with the rotated refresh token), a 429, Bullhorn down for a while,
the worker crashing, a batch fetched and lost on the way (fetched again by its requestId)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.ats_api import bullhorn_api as api
from activities.ats_api.bullhorn_mapping import BullhornConfig
from cli.bullhorn import code_from, connect_account, start_poller
from cli.bullhorn_standin import BullhornStandIn, consent, seed_agency
from codec.sealing import SecretSealer
from domain.bullhorn import BullhornPollerState, subscription_id
from intake.forwarder import Forwarder
from process_client import process_status
from store.bullhorn_store import BullhornStore
from store.intake_store import IntakeStore
from tests.harness import eventually, running_engine

ACCOUNT = "acme"
# Quick polls and a small run: the test sees several runs (continue-as-new) in a few seconds.
CONFIG = BullhornConfig.from_dict({"poller": {"idle_seconds": 1, "polls_per_run": 5}})
DAY = 86_400_000


@pytest.fixture
def bullhorn() -> Any:
    with BullhornStandIn() as standin:
        seed_agency(standin)
        yield standin


def connect(bullhorn: BullhornStandIn, store_url: str, account: str = ACCOUNT) -> BullhornStore:
    """`postinterview connect bullhorn`, as an operator goes through it."""
    store = BullhornStore(store_url, SecretSealer(None))
    with httpx.Client() as http:
        oauth_url, rest_services_url = api.login_info(http, bullhorn.username, bullhorn.url)
        authorize = api.authorize_url(oauth_url, bullhorn.client_id, "https://agency.example/bullhorn/callback", "st4te")
        code = code_from(consent(bullhorn, authorize), "st4te")
        connect_account(
            store, http, account_id=account, username=bullhorn.username, client_id=bullhorn.client_id, client_secret=bullhorn.client_secret,
            oauth_url=oauth_url, rest_services_url=rest_services_url, code=code, redirect_uri="https://agency.example/bullhorn/callback",
        )
    return store


def bullhorn_deliveries(store_url: str) -> list[dict[str, Any]]:
    intake = IntakeStore(store_url)
    try:
        return [intake.delivery_by_id(row["id"]) for row in intake.deliveries(source="bullhorn", limit=1000)]  # type: ignore[misc]
    finally:
        intake.close()


def event_types(rows: list[dict[str, Any]], application_id: str) -> list[str]:
    return [event["type"] for row in rows if row["application_key"] == f"bullhorn:{application_id}" for event in row["events"]]


@asynccontextmanager
async def forwarding(store_url: str, env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[None]:
    """The intake's forwarder, as `postinterview intake` runs it beside the HTTP endpoints."""
    stop = asyncio.Event()

    async def client() -> Any:
        return env.client

    forwarder = Forwarder(IntakeStore(store_url), client, task_queue, max_backoff=0.5)
    running = asyncio.create_task(forwarder.run(stop, poll_interval=0.2))
    try:
        yield
    finally:
        stop.set()
        await running


def test_loginInfo_names_the_data_centre_and_the_global_host_redirects_there(bullhorn: BullhornStandIn):
    with httpx.Client() as http:
        oauth_url, rest_services_url = api.login_info(http, bullhorn.username, bullhorn.url)
        assert oauth_url.endswith("/dc9/oauth") and rest_services_url.endswith("/dc9/rest-services/")
        # A client that skipped loginInfo is sent on with a 307, which keeps the POST and its form.
        location = consent(bullhorn, api.authorize_url(oauth_url, bullhorn.client_id, None, "s"))
        tokens = api.exchange_code(http, f"{bullhorn.url}/oauth", bullhorn.client_id, bullhorn.client_secret, code_from(location, "s"), None)
        session = api.rest_login(http, f"{bullhorn.url}/rest-services/", tokens.access_token)
    calls = [(method, path) for method, path, _ in bullhorn.requests]
    assert ("POST", "/oauth/token") in calls and ("POST", "/dc9/oauth/token") in calls
    assert session.rest_url == bullhorn.rest_url
    assert "Tokens(<hidden>)" == repr(tokens) and tokens.refresh_token not in repr(session)


def test_a_code_used_twice_or_from_another_authorisation_is_refused(bullhorn: BullhornStandIn, store_url: str):
    with httpx.Client() as http:
        oauth_url, _ = api.login_info(http, bullhorn.username, bullhorn.url)
        location = consent(bullhorn, api.authorize_url(oauth_url, bullhorn.client_id, None, "mine"))
        with pytest.raises(ValueError, match="another state"):
            code_from(location, "theirs")
        api.exchange_code(http, oauth_url, bullhorn.client_id, bullhorn.client_secret, code_from(location, "mine"), None)
        with pytest.raises(api.BullhornDisconnected, match="authorization code"):
            api.exchange_code(http, oauth_url, bullhorn.client_id, bullhorn.client_secret, code_from(location, "mine"), None)


async def test_changes_in_bullhorn_reach_the_processes_through_the_intake_table(
    dev_env: WorkflowEnvironment,
    bullhorn: BullhornStandIn,
    store_url: str,
    task_queue: str,
    activity_pool: Any,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
):
    accounts = connect(bullhorn, store_url)
    first_refresh_token = accounts.account(ACCOUNT).refresh_token  # type: ignore[union-attr]
    async with running_engine(dev_env, store_url, task_queue, activity_pool), forwarding(store_url, dev_env, task_queue):
        workflow_id = await start_poller(dev_env.client, task_queue, ACCOUNT, CONFIG)
        await eventually(lambda: subscription_id(ACCOUNT) in bullhorn.subscriptions, what="the subscription")
        handle = dev_env.client.get_workflow_handle(workflow_id)
        first_run = (await handle.describe()).run_id
        # A few empty polls first: nothing is stored for them.
        await eventually(lambda: _polls(handle, 2), what="two empty polls")
        assert bullhorn_deliveries(store_url) == []

        begin = bullhorn_now() + 2 * DAY
        bullhorn.change("Appointment", 8801, "INSERTED", type="Interview", dateBegin=begin, dateEnd=begin + 3_600_000, isDeleted=False,
                        candidateReference={"id": 301}, jobOrder={"id": 77}, clientContactReference={"id": 40}, parentAppointment=None)
        bullhorn.change("Appointment", 8802, "INSERTED", type="Interview", dateBegin=begin, dateEnd=begin + 3_600_000, isDeleted=False,
                        candidateReference={"id": 301}, jobOrder={"id": 77}, parentAppointment={"id": 8801})  # an invitee's copy
        bullhorn.change("Appointment", 8801, dateBegin=begin + DAY, dateEnd=begin + DAY + 3_600_000)
        bullhorn.change("JobSubmission", 5501, status="Offer Extended")
        # The session expires and Bullhorn throttles: a new login (refresh token rotated), a retry.
        bullhorn.expire_sessions()
        bullhorn.throttle(2)
        bullhorn.change("Placement", 9901, "INSERTED", status="Approved", dateBegin=begin + 30 * DAY, candidate={"id": 301}, jobOrder={"id": 77}, jobSubmission={"id": 5501})
        bullhorn.change("JobSubmission", 5502, status="Client Rejected")
        bullhorn.change("JobSubmission", 5502, comments="spoke to the client")

        rows = await eventually(lambda: _rows_when(store_url, 7), what="seven Bullhorn events in the intake table")
        assert event_types(rows, "5501") == ["interview.scheduled", "interview.rescheduled", "offer.extended", "offer.accepted"]
        assert event_types(rows, "5502") == ["candidate.rejected"]
        ignored = {row["action"]: row["ignored_reason"] for row in rows if row["status"] == "ignored"}
        assert "invitee's copy" in ignored["Appointment.INSERTED"] and "comments changed, not its status" in ignored["JobSubmission.UPDATED"]
        scheduled = next(e for row in rows for e in row["events"] if e["type"] == "interview.scheduled")
        assert scheduled["candidate"] == {"id": "301", "name": "Kwame Mensah", "email": "kwame.mensah@example.com", "phone": "+44 20 7946 0101", "can_email": None, "timezone": None, "country": None}
        assert scheduled["recruiter"]["name"] == "Rita Reyes" and scheduled["client"] == {"id": "900", "name": "Northwind Bank"}
        assert scheduled["data"]["interviewers"][0]["name"] == "Dana Fox"

        # The rotated refresh token is the stored one; the first no longer works at Bullhorn.
        assert accounts.account(ACCOUNT).refresh_token != first_refresh_token  # type: ignore[union-attr]
        assert first_refresh_token not in bullhorn.refresh_tokens

        # The forwarder delivered them, in order: the processes are where Bullhorn says.
        placed = await eventually(lambda: _status(dev_env, "5501", "offer.accepted"), what="5501's offer accepted")
        assert "offer.extended" in placed.milestones
        # 5502 was rejected by the client on its CV, never interviewed: its rejection starts no
        # process and creates nothing; the intake table says why.
        screened = await eventually(
            lambda: next((r for r in bullhorn_deliveries(store_url) if r["application_key"] == "bullhorn:5502" and r["status"] == "ignored" and r["events"]), None),
            what="5502's rejection recorded as ignored",
        )
        assert "never interviewed" in screened["ignored_reason"]
        assert [w async for w in dev_env.client.list_workflows("WorkflowId = 'post-interview-bullhorn-5502'")] == []

        # Several runs (polls_per_run 5): the state goes along from run to run.
        await eventually(lambda: _polls(handle, 7), what="seven polls")
        state = await handle.query("status", result_type=BullhornPollerState)
        assert state.polls > 5 and state.events == 7 and state.ignored == 2
        assert (await handle.describe()).run_id != first_run
        await handle.signal("stop")
        assert BullhornPollerState.model_validate(await handle.result()).account_id == ACCOUNT
    # Sessions were opened and renewed, polls failed and were retried: no secret in any log line.
    # The structured log lines (stderr) and the SDK's own warnings of the failed, retried polls
    # (standard logging: on stderr or in pytest's log capture, depending on the handlers set up).
    logged = "".join(capfd.readouterr()) + caplog.text
    assert "bullhorn session opened" in logged and "429" in logged
    secrets = [bullhorn.client_secret, first_refresh_token, *bullhorn.refresh_tokens, *bullhorn.sessions, *bullhorn.access_tokens]
    assert len(secrets) >= 4 and not [secret for secret in secrets if secret in logged]


async def test_a_batch_lost_on_the_way_a_worker_crash_and_an_outage_lose_nothing(
    dev_env: WorkflowEnvironment, bullhorn: BullhornStandIn, store_url: str, task_queue: str, activity_pool: Any
):
    connect(bullhorn, store_url)
    async with running_engine(dev_env, store_url, task_queue, activity_pool):
        workflow_id = await start_poller(dev_env.client, task_queue, ACCOUNT, CONFIG)
        handle = dev_env.client.get_workflow_handle(workflow_id)
        await eventually(lambda: _polls(handle, 1), what="a first poll")
    # The worker is gone (crashed). Meanwhile a batch is taken from Bullhorn and lost before it was
    # stored: Bullhorn's queue no longer holds it, only its requestId does.
    bullhorn.change("JobSubmission", 5501, status="Offer Extended")
    bullhorn.change("JobSubmission", 5502, status="Candidate Rejected")
    lost = _take_a_batch(bullhorn)
    assert [e["entityId"] for e in lost["events"]] == [5501, 5502] and bullhorn.pending_events(subscription_id(ACCOUNT)) == 0
    # Then Bullhorn is down for a while, and changes keep happening there.
    port = int(bullhorn.url.rsplit(":", 1)[1])
    bullhorn.stop()
    bullhorn.change("Placement", 9901, "INSERTED", status="Approved", dateBegin=bullhorn_now() + 30 * DAY, candidate={"id": 301}, jobOrder={"id": 77}, jobSubmission={"id": 5501})
    async with running_engine(dev_env, store_url, task_queue, activity_pool):
        await asyncio.sleep(2)  # polls fail: Bullhorn unreachable, retried
        assert bullhorn_deliveries(store_url) == []
        bullhorn.start(port)
        rows = await eventually(lambda: _rows_when(store_url, 3), timeout=30, what="the lost batch and the later change")
        # In Bullhorn's order: the lost batch first (fetched again by its requestId), then the rest.
        assert [(row["application_key"], row["events"][0]["type"]) for row in rows] == [
            ("bullhorn:5501", "offer.extended"),
            ("bullhorn:5502", "candidate.withdrew"),
            ("bullhorn:5501", "offer.accepted"),
        ]
        assert [query["requestId"] for _, _, query in bullhorn.requests if "requestId" in query] == ["1"]
        # The rows are stored before the poll's result reaches the workflow: wait for its state.
        state = await eventually(lambda: _state_with(handle, events=3), what="the poller's state after the stored batches")
        assert state.last_request_id == 2
        await handle.signal("stop")
        await handle.result()
    # Each Bullhorn event is one delivery however often it was fetched.
    assert len({row["idempotency_key"] for row in bullhorn_deliveries(store_url)}) == 3


def _take_a_batch(bullhorn: BullhornStandIn) -> dict[str, Any]:
    status, _, body = bullhorn.answer(
        "GET", f"/dc9/rest-services/corp7/event/subscription/{subscription_id(ACCOUNT)}", {"maxEvents": "100"}, b"", {"BhRestToken": _session(bullhorn)}
    )
    assert status == 200
    return json.loads(body)


def _session(bullhorn: BullhornStandIn) -> str:
    token = "test-session"
    bullhorn.sessions[token] = float("inf")
    return token


def bullhorn_now() -> int:
    import time

    return int(time.time() * 1000)


async def _polls(handle: Any, at_least: int) -> bool:
    state = await handle.query("status", result_type=BullhornPollerState)
    return state.polls >= at_least


async def _state_with(handle: Any, events: int) -> BullhornPollerState | None:
    state = await handle.query("status", result_type=BullhornPollerState)
    return state if state.events >= events else None


def _rows_when(store_url: str, count: int) -> list[dict[str, Any]] | None:
    rows = bullhorn_deliveries(store_url)
    return rows if len(rows) >= count else None


async def _status(env: WorkflowEnvironment, application_id: str, milestone: str) -> Any:
    try:
        status = await process_status(env.client, "bullhorn", application_id)
    except Exception:  # noqa: BLE001 - not started yet
        return None
    return status if milestone in status.milestones else None
