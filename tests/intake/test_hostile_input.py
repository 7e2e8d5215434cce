"""Issue 12, findings 1-3, as an attacker or a careless integrator tries them: over real HTTP
against the intake, with the vendors' documented example payloads, on SQLite and PostgreSQL.

- A captured Lever body is one delivery: its signature moved across the token/triggeredAt join,
  re-sent with another opportunity's data, or as text or a float, is a duplicate or a 401.
- A captured Greenhouse body is one delivery whatever Greenhouse-Event-ID it is sent under:
  one row, one set of signals.
- A placeholder date (0001-01-01, 9999-12-31) is a 400 naming the field, never accepted; a NUL in
  a name is refused on /events and cleaned from a vendor's payload, never a 5xx.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.events import Application
from tests.harness import eventually, running_engine
from tests.intake.test_service import (
    ASHBY_SECRET,
    EVENTS_SECRET,
    GREENHOUSE_SECRET,
    PAYLOADS,
    _signalled_types,
    config,
    forwarder_for,
    intake_service,
    signed_event,
)

LEVER_TOKEN = "lever-signature-token"


def lever_body(payload: dict[str, Any]) -> bytes:
    """Signed as Lever signs: the HMAC of token + triggeredAt, nothing else."""
    message = f"{payload['token']}{payload['triggeredAt']}".encode()
    return json.dumps({**payload, "signature": hmac.new(LEVER_TOKEN.encode(), message, hashlib.sha256).hexdigest()}).encode()


def greenhouse_signed(body: bytes, event_id: str) -> dict[str, str]:
    digest = hmac.new(GREENHOUSE_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "Signature": f"sha256 {digest}", "Greenhouse-Event-ID": event_id}


def ashby_signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(ASHBY_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "Ashby-Signature": f"sha256={digest}"}


def events_signed(payload: Any) -> tuple[bytes, dict[str, str]]:
    """A raw JSON body for /events (the test's own Application refuses what the intake must
    refuse), signed by the reference Standard Webhooks package."""
    text = json.dumps(payload)
    webhook_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    signature = Webhook(EVENTS_SECRET).sign(webhook_id, now, text)
    return text.encode(), {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def canonical(event: Any, **changes: Any) -> dict[str, Any]:
    """The event as JSON, with dotted paths changed: canonical(e, **{"data.at": ...})."""
    raw = json.loads(event.model_dump_json())
    for path, value in changes.items():
        node = raw
        *parents, last = path.split(".")
        for step in parents:
            node = node[step]
        node[last] = value
    return raw


def fixture(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / name).read_text())


@pytest.fixture(params=["sqlite", "postgresql"])
def intake_url(request: pytest.FixtureRequest, store_url: str) -> str:
    return store_url if request.param == "sqlite" else str(request.getfixturevalue("postgres_schema_url"))


# --- 1. Lever: one signature, one delivery -------------------------------------------------------


def captured_lever_rejection() -> dict[str, Any]:
    """A Lever archive (a rejection) as an eavesdropper or a log reader would hold it: signed,
    just sent. The token ends in a digit, so digits can move across the join."""
    payload = fixture("lever_candidate_archive_change.json")
    payload["token"] = "e1c6b0a6f8d34f3f9a1f1f0b6c2d7e97"
    payload["triggeredAt"] = int(time.time() * 1000)
    return payload


def spliced_variants(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What the issue did with one captured body: the same signature, four new deliveries that
    reject somebody else's opportunity."""
    victim = {**payload["data"], "opportunityId": "victim-opportunity", "candidateId": "victim", "contactId": "victim"}
    text = str(payload["triggeredAt"])
    return {
        "other data": {**payload, "data": victim},
        "a digit moved into the token": {**payload, "token": payload["token"] + text[0], "triggeredAt": int(text[1:]), "data": victim},
        "a digit moved into triggeredAt": {**payload, "token": payload["token"][:-1], "triggeredAt": int(payload["token"][-1] + text), "data": victim},
        "triggeredAt as text": {**payload, "triggeredAt": text, "data": victim},
    }


def signed_as_captured(variant: dict[str, Any], captured: bytes) -> bytes:
    return json.dumps({**variant, "signature": json.loads(captured)["signature"]}).encode()


async def test_a_captured_lever_signature_gives_no_second_delivery(intake_url):
    captured = captured_lever_rejection()
    body = lever_body(captured)
    async with intake_service(intake_url, intake_config=config(LEVER_WEBHOOK_SIGNATURE_TOKEN=LEVER_TOKEN)) as (http, store):
        first = await http.post("/webhooks/lever", content=body, headers={"content-type": "application/json"})
        assert first.status_code == 200, first.text
        for what, variant in spliced_variants(captured).items():
            answer = await http.post("/webhooks/lever", content=signed_as_captured(variant, body), headers={"content-type": "application/json"})
            assert answer.status_code in (200, 401), f"{what}: {answer.status_code} {answer.text}"
            if answer.status_code == 200:
                assert answer.json()["status"] == "duplicate" and answer.json()["delivery_id"] == first.json()["delivery_id"], what
            else:
                assert answer.json()["message"].startswith(("triggeredAt", "malformed field triggeredAt", "signature does not match")), what
        assert store.counts() == {"pending": 1}


async def test_the_lever_key_is_the_signed_string_whatever_the_freshness_window(intake_url):
    # With a window wide enough for the splice's time to pass (1995 and 2026 both "fresh"), the
    # key alone makes the spliced delivery the one already stored.
    captured = captured_lever_rejection()
    body = lever_body(captured)
    wide = config(LEVER_WEBHOOK_SIGNATURE_TOKEN=LEVER_TOKEN, LEVER_WEBHOOK_MAX_AGE_SECONDS=str(100 * 365 * 86400))
    async with intake_service(intake_url, intake_config=wide) as (http, store):
        first = await http.post("/webhooks/lever", content=body, headers={"content-type": "application/json"})
        assert first.status_code == 200, first.text
        spliced = spliced_variants(captured)["a digit moved into the token"]
        answer = await http.post("/webhooks/lever", content=signed_as_captured(spliced, body), headers={"content-type": "application/json"})
        assert (answer.status_code, answer.json()["status"]) == (200, "duplicate"), answer.text
        assert store.counts() == {"pending": 1}


async def test_a_stale_lever_delivery_is_refused_with_the_reason(intake_url):
    payload = captured_lever_rejection()
    payload["triggeredAt"] -= 2 * 3600 * 1000  # two hours old; the default window is one
    async with intake_service(intake_url, intake_config=config(LEVER_WEBHOOK_SIGNATURE_TOKEN=LEVER_TOKEN)) as (http, store):
        answer = await http.post("/webhooks/lever", content=lever_body(payload), headers={"content-type": "application/json"})
        assert answer.status_code == 401 and "triggeredAt too old" in answer.json()["message"], answer.text
        assert "LEVER_WEBHOOK_MAX_AGE_SECONDS" in answer.json()["message"]
        assert store.counts() == {}


async def test_a_400_does_not_spend_the_lever_signature(intake_url):
    # A careless integrator's first try has a body that does not fit (an archive whose time is a
    # placeholder); Lever's retry of the same signed delivery, corrected, must still be taken:
    # only a delivery that is stored spends its key.
    payload = captured_lever_rejection()
    broken = copy.deepcopy(payload)
    broken["data"]["toArchived"]["archivedAt"] = 253402300799000  # 9999-12-31
    broken["data"]["opportunityId"] = {"not": "an id"}
    async with intake_service(intake_url, intake_config=config(LEVER_WEBHOOK_SIGNATURE_TOKEN=LEVER_TOKEN)) as (http, store):
        refused = await http.post("/webhooks/lever", content=lever_body(broken), headers={"content-type": "application/json"})
        assert refused.status_code == 400, refused.text
        assert store.counts() == {}
        corrected = await http.post("/webhooks/lever", content=lever_body(payload), headers={"content-type": "application/json"})
        assert (corrected.status_code, corrected.json()["status"]) == (200, "accepted"), corrected.text
        again = await http.post("/webhooks/lever", content=lever_body(payload), headers={"content-type": "application/json"})
        assert (again.status_code, again.json()["status"]) == (200, "duplicate"), again.text
        assert store.counts() == {"pending": 1}


# --- 2. Greenhouse: one signed body, one delivery --------------------------------------------------


async def test_a_greenhouse_body_replayed_under_fresh_event_ids_is_one_delivery(dev_env, intake_url, task_queue, activity_pool):
    # Greenhouse's example, under an application id of this test's own (the dev server is shared).
    payload = fixture("greenhouse_candidate_stage_change.json")
    application_id = f"{payload['payload']['application']['id']}-{task_queue[-8:]}"
    payload["payload"]["application"]["id"] = application_id
    body = json.dumps(payload).encode()
    app = Application(source="greenhouse", application_id=application_id)
    async with running_engine(dev_env, intake_url, task_queue, activity_pool):
        async with intake_service(intake_url, forwarder_for(dev_env, intake_url, task_queue)) as (http, store):
            answers = [await http.post("/webhooks/greenhouse", content=body, headers=greenhouse_signed(body, f"replay-{n}")) for n in range(5)]
            assert [(a.status_code, a.json()["status"]) for a in answers] == [(200, "accepted")] + [(200, "duplicate")] * 4
            assert {a.json()["delivery_id"] for a in answers} == {answers[0].json()["delivery_id"]}
            assert len(answers[0].json()["events"]) == 2
            await eventually(lambda: store.counts() == {"delivered": 1}, what="the one delivery forwarded")
            assert await _signalled_types(dev_env, app) == ["interview.completed", "interview.scheduled"], "one signal per event, once"


async def test_ashby_and_standard_webhooks_keys_come_from_what_they_sign(intake_url):
    # Ashby signs the body and its key (webhookActionId:action) is in the body; Standard Webhooks
    # signs webhook-id with the timestamp and body. Neither can be re-keyed by a replayer.
    body = (PAYLOADS / "ashby_interview_schedule_update.json").read_bytes()
    app = Application(source="api")
    async with intake_service(intake_url) as (http, store):
        first = await http.post("/webhooks/ashby", content=body, headers=ashby_signed(body))
        again = await http.post("/webhooks/ashby", content=body, headers={**ashby_signed(body), "Greenhouse-Event-ID": "x", "webhook-id": "y"})
        assert (first.status_code, again.status_code, again.json()["status"]) == (200, 200, "duplicate")
        event_body, headers = signed_event(app.interview(1))
        assert (await http.post("/events", content=event_body, headers=headers)).status_code == 200
        renamed = await http.post("/events", content=event_body, headers={**headers, "webhook-id": "msg_fresh"})
        assert renamed.status_code == 401, "a fresh webhook-id breaks the signature"
        assert store.counts() == {"pending": 2}


# --- 3. dates in range, text without control characters ----------------------------------------------


def greenhouse_with(path: list[str | int], value: Any, name: str = "greenhouse_offer_created.json") -> bytes:
    payload = fixture(name)
    node = payload
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return json.dumps(payload).encode()


async def test_placeholder_dates_are_400_naming_the_field(intake_url):
    app = Application(source="api")
    lever_interview = fixture("lever_interview_created.json") | {"triggeredAt": int(time.time() * 1000)}
    lever_interview["data"] = {**lever_interview["data"], "date": 253402300799000}  # 9999-12-31T23:59:59Z
    ashby = fixture("ashby_interview_schedule_update.json")
    ashby["data"]["interviewSchedule"]["interviewEvents"][0]["startTime"] = "0001-01-01T00:00:00.000Z"
    ashby_body = json.dumps(ashby).encode()
    cases: list[tuple[str, str, bytes, dict[str, str], str]] = [
        (
            "an interview scheduled at 0001-01-01",
            "/events",
            *events_signed(canonical(app.interview(1, type_="interview.scheduled"), **{"data.at": "0001-01-01T00:00:00+00:00"})),
            "data",
        ),
        ("an offer starting 9999-12-31", "/events", *events_signed(canonical(app.offer(), **{"data.start_date": "9999-12-31"})), "data"),
        ("an event that occurred in 1969", "/events", *events_signed(canonical(app.offer(), occurred_at="1969-12-31T23:59:59Z")), "occurred_at"),
        (
            "a Greenhouse offer starting 12/31/9999",
            "/webhooks/greenhouse",
            (b := greenhouse_with(["payload", "start_date"], "12/31/9999")),
            greenhouse_signed(b, "d1"),
            "payload.start_date",
        ),
        (
            "a Greenhouse hire starting 0001-01-01",
            "/webhooks/greenhouse",
            (b := greenhouse_with(["payload", "application", "offer", "starts_at"], "0001-01-01", "greenhouse_hire_candidate.json")),
            greenhouse_signed(b, "d2"),
            "payload.application.offer.starts_at",
        ),
        ("a Lever interview on 9999-12-31", "/webhooks/lever", lever_body(lever_interview), {"content-type": "application/json"}, "data.date"),
        ("an Ashby interview at 0001-01-01", "/webhooks/ashby", ashby_body, ashby_signed(ashby_body), "startTime"),
    ]
    async with intake_service(intake_url, intake_config=config(LEVER_WEBHOOK_SIGNATURE_TOKEN=LEVER_TOKEN)) as (http, store):
        for what, path, body, headers, field in cases:
            answer = await http.post(path, content=body, headers=headers)
            assert answer.status_code == 400, f"{what}: {answer.status_code} {answer.text}"
            message = answer.json()["message"]
            assert field in message and "out of range" in message and "1970-01-01 and 2100-12-31" in message, f"{what}: {message}"
        assert store.counts() == {}


async def test_a_nul_in_a_name_is_refused_on_events_and_cleaned_from_a_vendor_payload(intake_url):
    app = Application(source="api")
    nul_body, headers = events_signed(canonical(app.interview(1), **{"candidate.name": "Ada\x00Lovelace"}))
    greenhouse = fixture("greenhouse_candidate_stage_change.json")
    greenhouse["payload"]["application"]["candidate"]["first_name"] = "Am\x00ara"
    greenhouse["payload"]["application"]["candidate"]["last_name"] = "Oka\x1bfor\x7f"
    greenhouse_body = json.dumps(greenhouse).encode()
    async with intake_service(intake_url) as (http, store):
        refused = await http.post("/events", content=nul_body, headers=headers)
        assert refused.status_code == 400 and "candidate.name" in refused.json()["message"], refused.text
        assert "control character" in refused.json()["message"]
        cleaned = await http.post("/webhooks/greenhouse", content=greenhouse_body, headers=greenhouse_signed(greenhouse_body, "nul-1"))
        assert cleaned.status_code == 200, cleaned.text
        (row,) = store.pending()
        assert {event.get("candidate", {}).get("name") for event in row.events} == {"Am ara Oka for"}


def test_the_variants_above_are_what_the_issue_describes():
    captured = captured_lever_rejection()
    variants = spliced_variants(copy.deepcopy(captured))
    # Each of the four keeps token + triggeredAt, the signed text, as it was (the text one too).
    assert {f"{v['token']}{v['triggeredAt']}" for v in variants.values()} == {f"{captured['token']}{captured['triggeredAt']}"}
