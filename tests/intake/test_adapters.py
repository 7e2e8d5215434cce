"""Vendor payloads -> canonical events: what each delivery means to the process.

Fixtures in payloads/ are shaped like the vendors' documented examples (our own values).
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.events import CanonicalEvent, Client, EventType, Recruiter
from intake.config import IntakeConfig, IntakeConfigError
from intake.senders import Delivery, PayloadError, senders
from service.settings import Settings

PAYLOADS = Path(__file__).parent / "payloads"
RECEIVED = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PROPERTY = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

LEVER_STAGE = "3b2f6d1e-9c8a-4e7b-a5d4-c3b2a1f0e9d8"
LEVER_WITHDREW = "63dd55b2-a99f-4e7b-985f-22c7bf80ab42"
ASHBY_ONSITE = "c5e3a7b9-4d6f-4b8c-8e2a-3f5b7d9f1c4e"

CONFIG = IntakeConfig(
    default_client=Client(id="acme-capital", name="Acme Capital"),
    default_recruiter=Recruiter(id="recruiting-desk", name="Recruiting desk", email="desk@agency.example"),
    greenhouse_stage_rounds={"Face to Face": 2},
    lever_stages={LEVER_STAGE: "interview_completed", "stage-offer": "offer", "stage-refs": "references", "stage-ignore": "ignore"},
    lever_stage_rounds={LEVER_STAGE: 2},
    lever_archive_reasons={LEVER_WITHDREW: "withdrew", "reason-hired": "hired"},
    ashby_stages={"Client Review": "client_feedback"},
    ashby_stage_rounds={ASHBY_ONSITE: 2},
)
SENDERS = senders(CONFIG)


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def parse(sender: str, payload: Any, headers: dict[str, str] | None = None, received_at: datetime = RECEIVED, config: IntakeConfig = CONFIG) -> Delivery:
    body = json.dumps(payload).encode()
    delivery = senders(config)[sender].parse(body, payload, headers or {}, received_at)
    for event in delivery.events:  # every event is a valid canonical event, as JSON too
        assert CanonicalEvent.model_validate_json(event.model_dump_json()) == event
    return delivery


def payload_error(sender: str, payload: Any, headers: dict[str, str] | None = None) -> str:
    with pytest.raises(PayloadError) as error:
        parse(sender, payload, headers)
    return str(error.value)


def gh(name: str, event_id: str = "3ce5180d-9119-4ddc-9ef6-21edb6e76f8a") -> tuple[Any, dict[str, str]]:
    return load(name), {"Greenhouse-Event-ID": event_id}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- Greenhouse --------------------------------------------------------------------------------


def test_greenhouse_stage_change_reports_the_stages_completed_and_scheduled_interviews():
    payload, headers = gh("greenhouse_candidate_stage_change.json")
    delivery = parse("greenhouse", payload, headers)
    body = json.dumps(payload).encode()  # what parse() signs and sends
    # Keyed on what Greenhouse signs, the body: never on the unsigned Greenhouse-Event-ID.
    assert (delivery.source, delivery.action, delivery.idempotency_key) == ("greenhouse", "candidate_stage_change", "sha256:" + hashlib.sha256(body).hexdigest())
    assert delivery.application_key == "greenhouse:90441207" and delivery.ignored_reason is None
    assert not delivery.needs_enrichment  # Greenhouse sends names and emails
    assert delivery.unmapped_stage is None  # "Face to Face" is in the round map
    completed, scheduled = delivery.events  # the third interview is still to be scheduled
    assert (completed.type, scheduled.type) == (EventType.INTERVIEW_COMPLETED, EventType.INTERVIEW_SCHEDULED)
    # Rounds: position in the stage offset by the configured first round of "Face to Face" (2).
    assert (completed.data.interview_id, completed.data.round) == ("4368101", 2)
    assert (scheduled.data.interview_id, scheduled.data.round) == ("4368102", 3)
    # The completed interview carries no time: the application's last activity stands in. The
    # scheduled one is booked with its start and end, which the process waits for.
    assert completed.data.at == completed.occurred_at == at("2026-11-24T16:05:12Z")
    assert (scheduled.data.at, scheduled.data.ends_at) == (at("2026-12-01T10:30:00Z"), at("2026-12-01T11:30:00Z"))
    # The panel, by the names Greenhouse shows.
    assert [(i.id, i.name) for i in completed.data.interviewers] == [("2622", "Priya Shah")]
    assert [(i.id, i.name) for i in scheduled.data.interviewers] == [("2630", "Tom Baker")]
    assert completed.application_id == "90441207"
    assert completed.candidate.model_dump(exclude_none=True) == {
        "id": "58213374",
        "name": "Amara Okafor",
        "email": "amara.okafor@example.com",  # the personal address, not the work one
        "phone": "+44 20 7946 0321",
    }
    assert completed.recruiter.model_dump(exclude_none=True) == {"id": "4102", "name": "Rita Reyes", "email": "rita.reyes@agency.example"}
    assert completed.client == Client(id="acme-capital", name="Acme Capital")
    assert (completed.job.id, completed.job.title) == ("50731", "Senior Compliance Analyst")
    assert completed.event_id != scheduled.event_id
    assert completed.workflow_id == "post-interview-greenhouse-90441207"


def test_greenhouse_a_scheduled_interview_without_a_time_yields_nothing():
    # Never assumed over, never prepared for at a made-up time: the Harvest poll has its time.
    payload, headers = gh("greenhouse_candidate_stage_change.json")
    scheduled = payload["payload"]["application"]["current_stage"]["interviews"][1]
    del scheduled["start"], scheduled["end"]
    (completed,) = parse("greenhouse", payload, headers).events
    assert completed.type == EventType.INTERVIEW_COMPLETED
    payload["payload"]["application"]["current_stage"]["interviews"][0]["status"] = "to_be_scheduled"
    delivery = parse("greenhouse", payload, headers)
    assert delivery.events == [] and "1 scheduled without one" in delivery.ignored_reason


def test_greenhouse_a_stage_not_in_the_round_map_leaves_the_round_to_the_process_and_is_reported():
    payload, headers = gh("greenhouse_candidate_stage_change.json")
    delivery = parse("greenhouse", payload, headers, config=IntakeConfig())
    # Never guessed as round 1: the process numbers interviews in the order they take place.
    assert [e.data.round for e in delivery.events] == [None, None]
    assert delivery.unmapped_stage == "Face to Face"
    assert delivery.events[0].recruiter.id == "4102" and delivery.events[0].client.id == "default-client"


def test_greenhouse_the_same_delivery_twice_yields_the_same_event_ids():
    payload, headers = gh("greenhouse_candidate_stage_change.json")
    first = parse("greenhouse", payload, headers)
    again = parse("greenhouse", copy.deepcopy(payload), dict(headers), received_at=RECEIVED + timedelta(hours=15))
    assert [e.event_id for e in first.events] == [e.event_id for e in again.events]
    assert first.idempotency_key == again.idempotency_key
    # The same signed body under a fresh (unsigned) header is the same delivery, not a new one.
    replayed = parse("greenhouse", payload, {"Greenhouse-Event-ID": "another-delivery"})
    assert replayed.idempotency_key == first.idempotency_key
    assert [e.event_id for e in replayed.events] == [e.event_id for e in first.events]
    # Another body (another delivery of Greenhouse's) is another key and other event ids.
    changed = copy.deepcopy(payload)
    changed["payload"]["application"]["last_activity_at"] = "2026-11-24T17:00:00Z"
    other = parse("greenhouse", changed, headers)
    assert other.idempotency_key != first.idempotency_key
    assert not {e.event_id for e in first.events} & {e.event_id for e in other.events}


def test_greenhouse_without_an_event_id_header_a_retry_is_still_recognised():
    payload, headers = gh("greenhouse_candidate_stage_change.json")
    assert parse("greenhouse", payload).idempotency_key == parse("greenhouse", payload, headers).idempotency_key
    assert parse("greenhouse", payload).idempotency_key == parse("greenhouse", payload).idempotency_key


def test_greenhouse_a_stage_without_interviews_to_report_is_ignored_with_a_reason():
    payload, headers = gh("greenhouse_candidate_stage_change.json")
    for interview in payload["payload"]["application"]["current_stage"]["interviews"]:
        interview["status"] = "to_be_scheduled"
    delivery = parse("greenhouse", payload, headers)
    assert delivery.events == [] and delivery.ignored_reason == "stage 'Face to Face' has no scheduled or completed interview"
    assert delivery.application_key == "greenhouse:90441207"


def test_greenhouse_a_hire_is_an_accepted_offer_with_its_start_date():
    delivery = parse("greenhouse", *gh("greenhouse_hire_candidate.json"))
    (event,) = delivery.events
    assert event.type == EventType.OFFER_ACCEPTED  # not candidate.started: the first day is not yet
    assert event.data.start_date == date(2027, 1, 11)
    assert event.occurred_at == at("2026-12-02T11:29:40Z")
    assert event.candidate.name == "Amara Okafor" and event.recruiter.id == "4102"


def test_greenhouse_a_rejection_of_type_they_rejected_us_is_a_withdrawal():
    payload, headers = gh("greenhouse_reject_candidate.json")
    (event,) = parse("greenhouse", payload, headers).events
    assert event.type == EventType.CANDIDATE_WITHDREW
    assert event.data.reason == "Accepted another offer (They rejected us)"
    assert event.occurred_at == at("2026-11-26T14:02:09Z")
    payload["payload"]["application"]["rejection_reason"] = {"id": 3, "name": "Too junior", "type": {"id": 1, "name": "We rejected them"}}
    (event,) = parse("greenhouse", payload, headers).events
    assert (event.type, event.data.reason) == (EventType.CANDIDATE_REJECTED, "Too junior (We rejected them)")
    payload["payload"]["application"]["rejection_reason"] = None
    (event,) = parse("greenhouse", payload, headers).events
    assert (event.type, event.data.reason) == (EventType.CANDIDATE_REJECTED, None)


def test_greenhouse_offers_map_by_status_and_drafts_are_ignored():
    payload, headers = gh("greenhouse_offer_created.json")
    draft = parse("greenhouse", payload, headers)
    assert draft.events == [] and draft.ignored_reason == "offer 770213 version 1 is a draft: not sent to the candidate yet"
    assert draft.application_key == "greenhouse:90441207"

    payload["payload"]["sent_on"] = "2026-11-29"
    sent = parse("greenhouse", payload, headers)
    (extended,) = sent.events
    assert (extended.type, extended.data.start_date) == (EventType.OFFER_EXTENDED, date(2027, 1, 11))  # from 01/11/2027
    # A flat offer names neither candidate nor recruiter: a placeholder, the default, enrichment.
    assert sent.needs_enrichment and extended.candidate.id == "unknown-candidate-90441207"
    assert extended.recruiter.id == "recruiting-desk" and extended.job.id == "50731"

    (accepted,) = parse("greenhouse", *gh("greenhouse_offer_updated.json")).events
    assert (accepted.type, accepted.occurred_at) == (EventType.OFFER_ACCEPTED, at("2026-12-02T11:29:40Z"))

    for status, reason in [("Deprecated", "superseded"), ("Rejected", "declined"), ("Pending review", "not used")]:
        payload["payload"]["offer_status"] = status
        ignored = parse("greenhouse", payload, headers)
        assert ignored.events == [] and reason in ignored.ignored_reason


@pytest.mark.parametrize(
    "fixture,reason",
    [
        ("greenhouse_interview_deleted.json", "action interview_deleted is not used"),
        ("greenhouse_ping.json", "ping"),
    ],
)
def test_greenhouse_actions_we_do_not_use_are_acknowledged_with_a_reason(fixture, reason):
    delivery = parse("greenhouse", *gh(fixture))
    assert (delivery.events, delivery.ignored_reason, delivery.application_key) == ([], reason, None)


def test_greenhouse_a_ping_of_any_shape_is_acknowledged():
    for payload in ({}, {"payload": {"web_hook": {"id": 1}}}, {"action": "web_hook_ping", "payload": None}):
        delivery = parse("greenhouse", payload, {"Greenhouse-Event-ID": "ping-1"})
        assert delivery.events == [] and delivery.ignored_reason


def test_greenhouse_a_malformed_email_is_dropped_and_enrichment_asked_for():
    payload, headers = gh("greenhouse_hire_candidate.json")
    payload["payload"]["application"]["candidate"]["email_addresses"] = [{"value": "amara at example dot com", "type": "personal"}]
    delivery = parse("greenhouse", payload, headers)
    assert delivery.events[0].candidate.email is None and delivery.needs_enrichment


def test_greenhouse_the_candidate_may_sit_beside_the_application():
    payload, headers = gh("greenhouse_hire_candidate.json")
    payload["payload"]["candidate"] = payload["payload"]["application"].pop("candidate")
    assert parse("greenhouse", payload, headers).events[0].candidate.id == "58213374"


def _without(payload: Any, path: str) -> Any:
    payload = copy.deepcopy(payload)
    *parents, last = path.split(".")
    node = payload
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    del node[int(last) if isinstance(node, list) else last]
    return payload


def _with(payload: Any, path: str, value: Any) -> Any:
    payload = copy.deepcopy(payload)
    *parents, last = path.split(".")
    node = payload
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value
    return payload


@pytest.mark.parametrize(
    "fixture,change,expected",
    [
        ("greenhouse_candidate_stage_change.json", ("del", "payload.application.id"), "payload.application.id: Field required"),
        ("greenhouse_candidate_stage_change.json", ("del", "payload.application"), "payload.application: Field required"),
        ("greenhouse_candidate_stage_change.json", ("del", "payload.application.current_stage.interviews.0.id"), "payload.application.current_stage.interviews.0.id: Field required"),
        ("greenhouse_candidate_stage_change.json", ("set", "payload.application.id", "not an id!"), "payload.application.id: String should match pattern"),
        ("greenhouse_candidate_stage_change.json", ("set", "payload.application.last_activity_at", "last tuesday"), "payload.application.last_activity_at: Input should be a valid datetime"),
        ("greenhouse_hire_candidate.json", ("del", "payload.application.candidate"), "payload.application.candidate: Field required"),
        ("greenhouse_hire_candidate.json", ("set", "payload.application.offer.starts_at", "next month"), "payload.application.offer.starts_at: Value error, expected a date"),
        ("greenhouse_reject_candidate.json", ("del", "payload.application.candidate.id"), "payload.application.candidate.id: Field required"),
        ("greenhouse_offer_created.json", ("del", "payload.application_id"), "payload.application_id: Field required"),
        ("greenhouse_offer_created.json", ("set", "payload", []), "payload: Input should be a valid dictionary"),
        ("greenhouse_offer_created.json", ("set", "action", 7), "action: Input should be a valid string"),
    ],
)
def test_greenhouse_malformed_payloads_name_the_field(fixture, change, expected):
    payload, headers = gh(fixture)
    payload = _without(payload, change[1]) if change[0] == "del" else _with(payload, change[1], change[2])
    assert payload_error("greenhouse", payload, headers).startswith(expected)


def test_a_body_that_is_not_an_object_is_a_payload_error():
    for sender in ("greenhouse", "lever", "ashby"):
        assert payload_error(sender, [1, 2]).startswith("body: expected a JSON object")


# --- Lever -------------------------------------------------------------------------------------


def test_lever_a_stage_change_maps_by_the_configured_stage_meaning():
    payload = load("lever_candidate_stage_change.json")
    delivery = parse("lever", payload)
    assert delivery.idempotency_key == "e1c6b0a6f8d34f3f9a1f1f0b6c2d7e901795693412345"  # token + triggeredAt: what Lever signs
    assert delivery.application_key == "lever:0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f"
    (event,) = delivery.events
    assert event.type == EventType.INTERVIEW_COMPLETED
    assert (event.data.interview_id, event.data.round) == (LEVER_STAGE, 2)
    assert event.occurred_at == event.data.at == datetime.fromtimestamp(1795693412.345, UTC)  # triggeredAt
    # Ids only: the candidate has no name or email, the recruiter is the default: enrich.
    assert event.candidate.model_dump(exclude_none=True) == {"id": "c7b1d4f2-3e5a-4b8c-9d0e-1f2a3b4c5d6e"}
    assert (event.recruiter.id, event.client.id) == ("recruiting-desk", "acme-capital")
    assert delivery.needs_enrichment


@pytest.mark.parametrize(
    "stage,outcome",
    [
        ("stage-offer", EventType.OFFER_EXTENDED),
        ("stage-refs", "a stage change does not name the referees"),
        ("stage-ignore", "configured to be ignored"),
        ("9a9a9a9a-0000-4000-8000-000000000000", "stage 9a9a9a9a-0000-4000-8000-000000000000 is not in the Lever stage map"),
    ],
)
def test_lever_other_stages(stage, outcome):
    payload = load("lever_candidate_stage_change.json")
    payload["data"]["toStageId"] = stage
    delivery = parse("lever", payload)
    if isinstance(outcome, EventType):
        assert [e.type for e in delivery.events] == [outcome]
    else:
        assert delivery.events == [] and outcome in delivery.ignored_reason
        assert delivery.application_key == "lever:0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f"


def test_lever_archiving_closes_the_application_as_the_reason_says():
    payload = load("lever_candidate_archive_change.json")
    (event,) = parse("lever", payload).events
    assert event.type == EventType.CANDIDATE_WITHDREW  # the reason is configured as a withdrawal
    # Without the names from Lever's API, the id is all there is (with them: test_vendor_names.py).
    assert event.data.reason == f"Lever archive reason: {LEVER_WITHDREW}"
    assert event.occurred_at == datetime.fromtimestamp(1795779812, UTC)  # toArchived.archivedAt

    payload["data"]["toArchived"]["reason"] = "0c0c0c0c-1111-4000-8000-000000000000"
    assert parse("lever", payload).events[0].type == EventType.CANDIDATE_REJECTED  # unlisted reasons

    payload["data"]["toArchived"]["reason"] = "reason-hired"
    hired = parse("lever", payload)
    assert hired.events == [] and "candidateHired reports the hire" in hired.ignored_reason

    # Unarchived: the rejection is taken back, the application is live again.
    payload["data"]["fromArchived"], payload["data"]["toArchived"] = payload["data"]["toArchived"], None
    (reopened,) = parse("lever", payload).events
    assert (reopened.type, reopened.data.reason) == (EventType.APPLICATION_REOPENED, "unarchived in Lever")
    payload["data"]["fromArchived"] = None
    neither = parse("lever", payload)
    assert neither.events == [] and neither.ignored_reason.startswith("neither archived nor unarchived")


def test_lever_a_hire_is_an_accepted_offer():
    (event,) = parse("lever", load("lever_candidate_hired.json")).events
    assert (event.type, event.data.start_date) == (EventType.OFFER_ACCEPTED, None)


def test_lever_interviews_created_updated_and_deleted_are_scheduled_rescheduled_and_cancelled():
    payload = load("lever_interview_created.json")
    payload["data"] |= {
        "date": 1796040000000,
        "duration": 45,
        "interviewers": [{"id": "2be9a3b5-0d2f-4b4c-8e8a-9f1b3d5f7c0e", "name": "Grace Lin", "email": "grace.lin@acme.example"}],
    }
    (event,) = parse("lever", payload).events
    assert event.type == EventType.INTERVIEW_SCHEDULED
    # Every interview, phone screens too, with no round: the process numbers them by time.
    assert (event.data.interview_id, event.data.round) == ("5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d", None)
    assert (event.data.at, event.data.ends_at) == (datetime.fromtimestamp(1796040000, UTC), datetime.fromtimestamp(1796040000 + 45 * 60, UTC))
    assert [(i.name, i.email) for i in event.data.interviewers] == [("Grace Lin", "grace.lin@acme.example")]
    payload["event"], payload["data"]["date"] = "interviewUpdated", 1796043600000
    (moved,) = parse("lever", payload).events
    assert (moved.type, moved.data.at) == (EventType.INTERVIEW_RESCHEDULED, datetime.fromtimestamp(1796043600, UTC))
    payload["event"] = "interviewDeleted"
    (cancelled,) = parse("lever", payload).events
    assert (cancelled.type, cancelled.data.interview_id) == (EventType.INTERVIEW_CANCELLED, "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d")


def test_lever_an_interview_without_its_time_asks_for_a_lookup_and_is_ignored_without_one():
    payload = load("lever_interview_created.json")  # ids only, as Lever sends it
    delivery = parse("lever", payload)
    assert delivery.events == [] and "comes without its time" in delivery.ignored_reason and "LEVER_API_KEY" in delivery.ignored_reason
    lookup = delivery.lookup
    assert (lookup.kind, lookup.ids) == ("lever_interview", ("0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f", "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"))
    # Lever's API answers the interview object: mapped again with its time, length and panel.
    found = {"id": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d", "date": 1796040000000, "duration": 30, "interviewers": [{"id": "u1", "name": "Grace Lin", "email": "grace.lin@acme.example"}], "canceledAt": None}
    (event,) = parse("lever", lookup.merge(payload, found)).events
    assert (event.type, event.data.at, event.data.ends_at) == (EventType.INTERVIEW_SCHEDULED, datetime.fromtimestamp(1796040000, UTC), datetime.fromtimestamp(1796040000 + 1800, UTC))
    assert event.data.interviewers[0].name == "Grace Lin"
    # Cancelled in Lever since; gone from Lever since.
    (cancelled,) = parse("lever", lookup.merge(payload, found | {"canceledAt": 1796000000000})).events
    assert cancelled.type == EventType.INTERVIEW_CANCELLED
    assert lookup.what == "interview 5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"  # named when Lever no longer has it


def test_lever_events_we_do_not_use_are_ignored_and_redeliveries_keep_their_ids():
    delivery = parse("lever", load("lever_application_created.json"))
    assert delivery.events == [] and delivery.ignored_reason == "event applicationCreated is not used"
    payload = load("lever_candidate_archive_change.json")
    assert parse("lever", payload).events[0].event_id == parse("lever", copy.deepcopy(payload), received_at=RECEIVED + timedelta(days=1)).events[0].event_id


@pytest.mark.parametrize(
    "fixture,change,expected",
    [
        ("lever_candidate_stage_change.json", ("del", "data.opportunityId"), "data.opportunityId: Field required"),
        ("lever_candidate_stage_change.json", ("del", "data.toStageId"), "data.toStageId: Field required"),
        ("lever_candidate_stage_change.json", ("del", "data"), "data: Field required"),
        ("lever_candidate_stage_change.json", ("del", "token"), "token: Field required"),
        ("lever_candidate_stage_change.json", ("set", "triggeredAt", "soon"), "triggeredAt: Value error, expected milliseconds since the epoch"),
        ("lever_candidate_archive_change.json", ("set", "data.toArchived.archivedAt", -5), "data.toArchived.archivedAt: Value error"),
        ("lever_interview_created.json", ("del", "data.interviewId"), "data.interviewId: Field required"),
    ],
)
def test_lever_malformed_payloads_name_the_field(fixture, change, expected):
    payload = load(fixture)
    payload = _without(payload, change[1]) if change[0] == "del" else _with(payload, change[1], change[2])
    assert payload_error("lever", payload).startswith(expected)


# --- Ashby -------------------------------------------------------------------------------------


def test_ashby_ping_is_acknowledged():
    delivery = parse("ashby", load("ashby_ping.json"))
    assert (delivery.events, delivery.ignored_reason, delivery.application_key, delivery.action) == ([], "ping", None, "ping")


def test_ashby_interview_schedules_created_and_updated():
    payload = load("ashby_interview_schedule_update.json")
    delivery = parse("ashby", payload)
    assert delivery.idempotency_key == "9b3c4d5e-6f7a-4b8c-8d9e-1f2a3b4c5d6e:interviewScheduleUpdate"
    assert delivery.application_key == "ashby:a3c1e5f7-2b4d-4f6a-8c0e-1d3f5a7b9c2e"
    (event,) = delivery.events
    # An update of a scheduled schedule: the times as they now are.
    assert event.type == EventType.INTERVIEW_RESCHEDULED
    # The schedule is the interview; its stage's configured round; its first event's start and
    # its last event's end; the interviewers Ashby names (by id).
    assert (event.data.interview_id, event.data.round, event.data.at) == ("4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a", 2, at("2026-12-03T14:00:00Z"))
    assert event.data.ends_at == at("2026-12-03T16:00:00Z")
    assert [i.id for i in event.data.interviewers] == ["2be9a3b5-0d2f-4b4c-8e8a-9f1b3d5f7c0e"]
    assert event.candidate.model_dump(exclude_none=True) == {"id": "b4d2f6a8-3c5e-4a7b-9d1f-2e4a6c8e0b3d"}
    assert delivery.needs_enrichment and delivery.unmapped_stage is None
    payload["action"] = "interviewScheduleCreate"
    (created,) = parse("ashby", payload).events
    assert created.type == EventType.INTERVIEW_SCHEDULED and created.data.ends_at == event.data.ends_at
    # A stage not in [ashby.stage_rounds]: no round guessed, the stage reported.
    payload["data"]["interviewSchedule"]["interviewStageId"] = "d0d0d0d0-0000-4000-8000-000000000000"
    unmapped = parse("ashby", payload)
    assert unmapped.events[0].data.round is None and unmapped.unmapped_stage == "d0d0d0d0-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    "status,outcome",
    [
        ("WaitingOnFeedback", EventType.INTERVIEW_COMPLETED),
        ("Complete", EventType.INTERVIEW_COMPLETED),
        ("Cancelled", EventType.INTERVIEW_CANCELLED),
        ("NeedsScheduling", "interview schedule status NeedsScheduling is not used"),
    ],
)
def test_ashby_interview_schedule_statuses(status, outcome):
    payload = _with(load("ashby_interview_schedule_update.json"), "data.interviewSchedule.status", status)
    delivery = parse("ashby", payload)
    if isinstance(outcome, EventType):
        assert [e.type for e in delivery.events] == [outcome]
    else:
        assert (delivery.events, delivery.ignored_reason) == ([], outcome)


def test_ashby_stage_changes_map_only_configured_stages():
    payload = load("ashby_candidate_stage_change.json")
    onsite = parse("ashby", payload)
    assert onsite.events == [] and onsite.ignored_reason == "stage 'Onsite' is not a meaning we track ([ashby.stages])"
    payload["data"]["application"]["currentInterviewStage"]["title"] = "Client Review"
    (event,) = parse("ashby", payload).events
    assert event.type == EventType.CLIENT_FEEDBACK_REQUESTED
    assert event.candidate.model_dump(exclude_none=True) == {
        "id": "b4d2f6a8-3c5e-4a7b-9d1f-2e4a6c8e0b3d",
        "name": "Jonas Lindqvist",
        "email": "jonas.lindqvist@example.com",
        "phone": "+46 8 123 456 78",
    }
    assert event.recruiter.model_dump(exclude_none=True) == {"id": "1ad8f2a4-9c1e-4a3b-9d7f-8e0a2c4e6b9d", "name": "Maya Fischer", "email": "maya.fischer@agency.example"}
    assert (event.job.id, event.job.title) == ("09c7e1f3-8b0d-4f2a-8c6e-7d9f1b3d5a8c", "Data Engineer")


def test_ashby_an_archival_seen_by_two_sibling_actions_is_one_event():
    update = load("ashby_application_update_archived.json")
    sibling = {**copy.deepcopy(update), "action": "candidateStageChange"}
    a, b = parse("ashby", update), parse("ashby", sibling)
    # Different deliveries (the store must keep both), one fact (the engine applies it once).
    assert a.idempotency_key != b.idempotency_key
    assert [e.event_id for e in a.events] == [e.event_id for e in b.events]
    (event,) = a.events
    assert (event.type, event.data.reason) == (EventType.CANDIDATE_REJECTED, "Not enough experience with Spark")
    assert event.occurred_at == at("2026-11-27T09:15:00Z")
    update["data"]["application"]["archiveReason"]["reasonType"] = "RejectedByCandidate"
    assert parse("ashby", update).events[0].type == EventType.CANDIDATE_WITHDREW


def test_ashby_an_application_update_that_is_no_archival_is_ignored():
    delivery = parse("ashby", {**load("ashby_candidate_stage_change.json"), "action": "applicationUpdate"})
    assert delivery.events == [] and delivery.ignored_reason == "applicationUpdate is used for archival only; status is Active"


def test_ashby_a_hire_is_an_accepted_offer_with_the_offers_start_date():
    delivery = parse("ashby", load("ashby_candidate_hire.json"))
    (event,) = delivery.events
    assert (event.type, event.data.start_date) == (EventType.OFFER_ACCEPTED, date(2027, 2, 1))
    assert event.occurred_at == at("2026-12-09T11:58:30Z")
    assert event.candidate.name == "Jonas Lindqvist" and event.recruiter.name == "Maya Fischer"
    assert not delivery.needs_enrichment
    without_offer = _without(load("ashby_candidate_hire.json"), "data.offer")
    assert parse("ashby", without_offer).events[0].data.start_date is None


def test_ashby_offers():
    payload = load("ashby_offer_create.json")
    # Created while it waits for approval inside the firm: not an offer the candidate has yet.
    waiting = parse("ashby", payload)
    assert waiting.events == [] and "waits for internal approval (WaitingOnOfferApproval)" in waiting.ignored_reason
    payload["data"]["offer"]["offerStatus"] = "WaitingOnApprovalStart"
    assert parse("ashby", payload).events == []
    payload["data"]["offer"]["offerStatus"] = "WaitingOnCandidateResponse"  # sent
    delivery = parse("ashby", payload)
    (event,) = delivery.events
    assert (event.type, event.data.start_date) == (EventType.OFFER_EXTENDED, date(2027, 2, 1))
    assert event.candidate.id == "unknown-candidate-a3c1e5f7-2b4d-4f6a-8c0e-1d3f5a7b9c2e" and delivery.needs_enrichment
    payload["action"] = "offerUpdate"
    payload["data"]["offer"]["offerStatus"] = "OfferCancelled"
    assert parse("ashby", payload).ignored_reason == "offer 0d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a status Pending is not used"
    payload["data"]["offer"]["acceptanceStatus"] = "Accepted"
    assert parse("ashby", payload).events[0].type == EventType.OFFER_ACCEPTED
    payload["data"]["offer"].update(acceptanceStatus="WaitingOnResponse", offerStatus="WaitingOnCandidateResponse")
    assert parse("ashby", payload).events[0].type == EventType.OFFER_EXTENDED


def test_ashby_redelivery_keeps_ids_and_a_missing_action_id_falls_back_to_the_body():
    payload = load("ashby_interview_schedule_update.json")
    assert parse("ashby", payload).events[0].event_id == parse("ashby", copy.deepcopy(payload), received_at=RECEIVED + timedelta(hours=2)).events[0].event_id
    del payload["webhookActionId"]
    assert parse("ashby", payload).idempotency_key.startswith("sha256:")
    assert parse("ashby", {"action": "surveySubmit", "data": {}}).ignored_reason == "action surveySubmit is not used"


@pytest.mark.parametrize(
    "fixture,change,expected",
    [
        ("ashby_interview_schedule_update.json", ("del", "data.interviewSchedule.applicationId"), "data.interviewSchedule.applicationId: Field required"),
        ("ashby_interview_schedule_update.json", ("set", "data.interviewSchedule.interviewEvents.0.startTime", "soon"), "data.interviewSchedule.interviewEvents.0.startTime: Input should be a valid datetime"),
        ("ashby_candidate_stage_change.json", ("del", "data.application.candidate"), "data.application.candidate: Field required"),
        ("ashby_candidate_hire.json", ("del", "data.application.id"), "data.application.id: Field required"),
        ("ashby_offer_create.json", ("del", "data.offer.applicationId"), "data.offer.applicationId: Field required"),
        ("ashby_offer_create.json", ("del", "action"), "action: Field required"),
    ],
)
def test_ashby_malformed_payloads_name_the_field(fixture, change, expected):
    payload = load(fixture)
    payload = _without(payload, change[1]) if change[0] == "del" else _with(payload, change[1], change[2])
    assert payload_error("ashby", payload).startswith(expected)


# --- /events: canonical events ------------------------------------------------------------------


def test_events_one_canonical_event_keeps_its_own_id():
    payload = load("events_interview_completed.json")
    delivery = parse("events", payload, {"webhook-id": "msg_2pAq9dKkZ3"})
    assert (delivery.source, delivery.action, delivery.idempotency_key) == ("api", "canonical", "msg_2pAq9dKkZ3")
    (event,) = delivery.events
    assert event == CanonicalEvent.model_validate(payload) and event.event_id == "crm-4411-interview-1"
    assert delivery.application_key == "bullhorn:JS-4411"  # the process the event goes to
    assert not delivery.needs_enrichment and delivery.ignored_reason is None


def test_events_a_batch_keeps_its_order():
    batch = load("events_batch.json")
    delivery = parse("events", batch, {"webhook-id": "msg_batch"})
    assert [e.event_id for e in delivery.events] == ["crm-4411-interview-1", "crm-4411-feedback-1"]
    assert delivery.application_key == "bullhorn:JS-4411"
    batch[1]["application_id"] = "JS-4412"
    assert parse("events", batch, {"webhook-id": "msg_batch"}).application_key is None


def test_events_validation_errors_list_every_field():
    payload = load("events_interview_completed.json")
    payload["candidate"]["email"] = "not-an-email"
    del payload["data"]["interview_id"]
    message = payload_error("events", payload, {"webhook-id": "m"})
    assert "candidate.email: String should match pattern" in message
    assert "data: Value error, does not fit interview.completed: interview_id: Field required" in message
    batch = load("events_batch.json")
    batch[1]["type"] = "interview.happened"
    assert payload_error("events", batch, {"webhook-id": "m"}).startswith("1.type: Input should be")


@pytest.mark.parametrize("payload", [[], "event", 42, None])
def test_events_the_body_must_be_an_event_or_a_non_empty_array(payload):
    assert payload_error("events", payload, {"webhook-id": "m"}).startswith("body:")


# --- configuration ---------------------------------------------------------------------------


def test_the_shipped_config_file_loads_and_the_environment_wins_for_secrets(tmp_path):
    config = Settings.from_env({"GREENHOUSE_WEBHOOK_SECRET": "new-one, old-one"}).intake.config(Path("config/intake.toml"))
    assert config.greenhouse_secrets == ["new-one", "old-one"] and config.default_client.id == "acme-capital"
    assert set(senders(config)) == {"greenhouse", "lever", "ashby", "events"}
    file = tmp_path / "intake.toml"
    file.write_text('[secrets]\nASHBY_WEBHOOK_SECRET = ["a", "b"]\nGREENHOUSE_WEBHOOK_SECRET = "from-file"\n')
    config = Settings.from_env({"GREENHOUSE_WEBHOOK_SECRET": "from-env"}).intake.config(file)
    assert (config.ashby_secrets, config.greenhouse_secrets) == (["a", "b"], ["from-env"])
    assert "from-env" not in repr(config)


def test_the_lever_freshness_window_defaults_to_an_hour_and_is_configurable(tmp_path):
    assert Settings.from_env({}).intake.config(Path("config/intake.toml")).lever_max_age_seconds == 3600
    file = tmp_path / "intake.toml"
    file.write_text("[lever]\nmax_age_seconds = 600\n")
    assert Settings.from_env({}).intake.config(file).lever_max_age_seconds == 600
    assert Settings.from_env({"LEVER_WEBHOOK_MAX_AGE_SECONDS": "300"}).intake.config(file).lever_max_age_seconds == 300
    with pytest.raises(IntakeConfigError, match="LEVER_WEBHOOK_MAX_AGE_SECONDS: expected a positive whole number"):
        Settings.from_env({"LEVER_WEBHOOK_MAX_AGE_SECONDS": "an hour"}).intake.config(file)


@pytest.mark.parametrize(
    "toml,expected",
    [
        ("[lever]\nmax_age_seconds = 0\n", "lever.max_age_seconds: Input should be greater than 0"),
        ('[lever.stages]\n"abc" = "interviewed"\n', "stage 'abc' has unknown meaning 'interviewed'"),
        ('[lever.archive_reasons]\n"abc" = "fired"\n', "lever.archive_reasons.abc: Input should be"),
        ("[greenhouse]\nstage_round = 2\n", "greenhouse.stage_round: Extra inputs are not permitted"),
        ('[secrets]\nGREENHOUSE_SECRET = "x"\n', "secrets.GREENHOUSE_SECRET"),
        ('[secrets]\nEVENTS_WEBHOOK_SECRET = "whsec_!!"\n', "EVENTS_WEBHOOK_SECRET entry 1 is malformed"),
    ],
)
def test_a_bad_config_file_names_the_key(tmp_path, toml, expected):
    file = tmp_path / "intake.toml"
    file.write_text(toml)
    with pytest.raises(IntakeConfigError) as error:
        Settings.from_env({}).intake.config(file)
    assert expected in str(error.value)
    with pytest.raises(IntakeConfigError, match="no such file"):
        Settings.from_env({"INTAKE_CONFIG": str(tmp_path / "missing.toml")}).intake.config()


# --- properties: any JSON in, a Delivery or a PayloadError out ---------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=15,
)
FIXTURES = {
    "greenhouse": [p.name for p in PAYLOADS.glob("greenhouse_*.json")],
    "lever": [p.name for p in PAYLOADS.glob("lever_*.json")],
    "ashby": [p.name for p in PAYLOADS.glob("ashby_*.json")],
    "events": [p.name for p in PAYLOADS.glob("events_*.json")],
}


def _mutated(draw: st.DrawFn, node: Any) -> Any:
    """A fixture with random leaves and branches replaced or dropped: deep paths get odd values too."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    if isinstance(node, dict):
        return {k: _mutated(draw, v) for k, v in node.items() if draw(st.integers(0, 14)) != 0}
    if isinstance(node, list):
        return [_mutated(draw, v) for v in node]
    return node


@st.composite
def mangled(draw: st.DrawFn, fixture: str) -> Any:
    return _mutated(draw, load(fixture))


def _outcome(sender: str, payload: Any, headers: dict[str, str]) -> Delivery | None:
    body = json.dumps(payload).encode()
    try:
        delivery = SENDERS[sender].parse(body, payload, headers, RECEIVED)
    except PayloadError:
        return None
    assert isinstance(delivery, Delivery)
    assert delivery.events or delivery.ignored_reason
    for event in delivery.events:
        CanonicalEvent.model_validate_json(event.model_dump_json())
    return delivery


headers_strategy = st.dictionaries(
    st.sampled_from(["Greenhouse-Event-ID", "webhook-id", "X-Other"]) | st.text(max_size=10), st.text(max_size=300), max_size=3
)


@PROPERTY
@given(sender=st.sampled_from(sorted(SENDERS)), payload=json_values, headers=headers_strategy)
def test_property_arbitrary_json_yields_a_delivery_or_a_payload_error(sender, payload, headers):
    _outcome(sender, payload, headers)


@PROPERTY
@given(data=st.data(), sender=st.sampled_from(sorted(SENDERS)), headers=headers_strategy)
def test_property_mangled_vendor_payloads_yield_a_delivery_or_a_payload_error(data, sender, headers):
    fixture = data.draw(st.sampled_from(FIXTURES[sender]))
    payload = data.draw(mangled(fixture))
    delivery = _outcome(sender, payload, headers)
    if delivery is not None:  # and the same delivery maps to the same ids
        again = _outcome(sender, copy.deepcopy(payload), dict(headers))
        assert again is not None and [e.event_id for e in delivery.events] == [e.event_id for e in again.events]


# --- properties: dates in the engine's range, text without control characters ------------------


@PROPERTY
@given(day=st.dates(), written=st.sampled_from(["iso", "us", "datetime"]))
def test_property_a_vendor_date_is_used_in_range_and_a_400_naming_the_field_outside(day, written):
    payload, headers = gh("greenhouse_offer_created.json")
    payload["payload"]["offer_status"] = "Accepted"
    text = {"iso": day.isoformat(), "us": f"{day.month:02}/{day.day:02}/{day.year:04}", "datetime": f"{day.isoformat()}T00:00:00Z"}[written]
    payload["payload"]["start_date"] = text
    if date(1970, 1, 1) <= day <= date(2100, 12, 31):
        (event,) = parse("greenhouse", payload, headers).events
        assert event.data.start_date == day
    else:
        assert "payload.start_date" in payload_error("greenhouse", payload, headers)


@PROPERTY
@given(moment=st.datetimes(timezones=st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))), interview=st.booleans())
def test_property_a_canonical_time_outside_1970_2100_is_refused_naming_the_field(moment, interview):
    from tests.events import Application

    raw = json.loads(Application(source="api").interview(1).model_dump_json())
    field = "data.at" if interview else "occurred_at"
    if interview:
        raw["data"]["at"] = moment.isoformat()
    else:
        raw["occurred_at"] = moment.isoformat()
    try:
        in_range = date(1970, 1, 1) <= moment.astimezone(UTC).date() <= date(2100, 12, 31)
    except OverflowError:
        in_range = False
    if in_range:
        CanonicalEvent.model_validate(raw)
    else:
        with pytest.raises(ValueError) as error:
            CanonicalEvent.model_validate(raw)
        assert field.split(".")[-1] in str(error.value) and "out of range" in str(error.value)


@PROPERTY
@given(first=st.text(max_size=20), last=st.text(max_size=20))
def test_property_vendor_names_reach_the_event_without_control_characters(first, last):
    payload, headers = gh("greenhouse_candidate_stage_change.json")
    candidate = payload["payload"]["application"]["candidate"]
    candidate["first_name"], candidate["last_name"] = first, last
    try:
        delivery = parse("greenhouse", payload, headers)
    except PayloadError as error:  # only text that is not Unicode at all (a lone surrogate) may be refused
        assert "candidate" not in str(error)
        return
    name = delivery.events[0].candidate.name
    assert name is None or not any(ord(c) < 32 or ord(c) == 127 for c in name)
