"""The canonical event: what integrators send, and the errors they get when it is wrong."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from domain.contract import post_interview_workflow_id
from domain.errors import error_path
from domain.events import DATA_BY_TYPE, CanonicalEvent, EventType, InterviewData, NoData, event_json_schema
from tests.events import Application


def raw(**overrides):
    base = {
        "event_id": "gh-123",
        "type": "interview.completed",
        "occurred_at": "2026-11-26T10:00:00+00:00",
        "source": "greenhouse",
        "application_id": "123",
        "candidate": {"id": "c1", "name": "Ada", "email": "ada@example.com", "timezone": "Europe/London", "country": "GB"},
        "recruiter": {"id": "r1", "lead": {"id": "l1"}},
        "client": {"id": "acme"},
        "data": {"interview_id": "i1", "round": 1, "at": "2026-11-26T09:00:00Z"},
    }
    base.update(overrides)
    return base


def errors(**overrides) -> dict[str, str]:
    with pytest.raises(ValidationError) as failed:
        CanonicalEvent.model_validate(raw(**overrides))
    return {error_path(e["loc"]): e["msg"] for e in failed.value.errors()}


def test_a_valid_event_parses_its_data_by_type_and_names_its_process():
    event = CanonicalEvent.model_validate(raw())
    assert isinstance(event.data, InterviewData) and event.data.round == 1
    assert event.workflow_id == post_interview_workflow_id("greenhouse", "123") == "post-interview-greenhouse-123"
    assert CanonicalEvent.model_validate_json(event.model_dump_json()) == event


def test_every_type_in_the_catalogue_has_a_data_shape():
    assert set(DATA_BY_TYPE) == set(EventType)
    assert len(EventType) == 22  # the process model's catalogue, with reschedules, cancellations, reopening, the offer falling through, referees declined and added


def test_events_whose_fact_is_their_type_need_no_data():
    event = CanonicalEvent.model_validate(raw(type="contract.signed", data=None))
    assert event.data == NoData()


def test_errors_name_the_field_and_the_problem():
    found = errors(occurred_at="2026-11-26T10:00:00", candidate={"id": "c1", "timezone": "Mars/Olympus"}, data={"interview_id": "i1"})
    assert found["occurred_at"] == "Input should have timezone info"
    assert "unknown time zone 'Mars/Olympus'" in found["candidate.timezone"]
    assert "does not fit interview.completed: at: Field required" in found["data"]


def test_data_is_checked_against_the_shape_its_type_needs():
    assert "does not fit interview.completed" in errors(data=None)["data"]
    assert "referees: List should have at least 1 item" in errors(type="references.requested", data={"referees": []})["data"]
    assert "interest" in errors(type="candidate.debriefed", data={"summary": "x", "interest": 7})["data"]


@pytest.mark.parametrize(
    "field,value",
    [
        ("type", "interview.happened"),
        ("source", "Green House"),  # ids go into workflow ids: lower-case, no spaces
        ("application_id", "a b"),
        ("event_id", ""),
        ("candidate", {"id": "c1", "email": "not-an-email"}),
        ("candidate", {"id": "c1", "country": "gb"}),
    ],
)
def test_bad_fields_are_refused(field, value):
    assert errors(**{field: value})


def test_names_and_contact_details_may_be_missing_when_an_ats_sends_ids_only():
    event = CanonicalEvent.model_validate(raw(candidate={"id": "c1"}, recruiter={"id": "r1"}))
    assert event.candidate.name is None and event.candidate.timezone is None


def test_the_published_schema_describes_every_type_and_validates_real_events():
    jsonschema = pytest.importorskip("jsonschema")
    schema = event_json_schema()
    assert {rule["if"]["properties"]["type"]["const"] for rule in schema["allOf"]} == {t.value for t in EventType}
    validator = jsonschema.Draft202012Validator(schema)
    app = Application()
    for event in (app.interview(1), app.references("r1"), app.offer("offer.accepted"), app.event("candidate.withdrew")):
        validator.validate(json.loads(event.model_dump_json()))
    bad = json.loads(app.interview(1).model_dump_json())
    del bad["data"]["at"]
    assert not validator.is_valid(bad), "the schema checks data by type, as the engine does"
