"""Bullhorn changes -> canonical events (activities/ats_api/bullhorn_mapping.py), with the shipped
config/bullhorn.toml: every JobSubmission status it names, every Appointment and Placement case,
and the changes that are recorded as ignored with their reason."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from activities.ats_api.bullhorn_mapping import BullhornConfig, BullhornConfigError, BullhornEvent, Found, map_event
from domain.events import EventType

CONFIG = BullhornConfig.load()
AT = 1_795_000_000_000  # 2026-11-18T...Z, epoch milliseconds as Bullhorn sends them
BEGIN = 1_795_600_000_000
END = BEGIN + 45 * 60 * 1000

SUBMISSION = {
    "id": 5501,
    "status": "Submitted",
    "candidate": {"id": 301, "firstName": "Kwame", "lastName": "Mensah", "email": "kwame@example.com", "phone": "555-0101", "mobile": None},
    "jobOrder": {"id": 77},
    "sendingUser": {"id": 12, "firstName": "Rita", "lastName": "Reyes", "email": "rita@agency.example"},
}
JOB_ORDER = {
    "id": 77,
    "title": "Compliance Analyst",
    "clientCorporation": {"id": 900, "name": "Northwind Bank"},
    "clientContact": {"id": 40, "firstName": "Dana", "lastName": "Fox", "email": "dana@northwind.example"},
    "owner": {"id": 13, "firstName": "Omar", "lastName": "Lee", "email": "omar@agency.example"},
}
APPOINTMENT = {
    "id": 8801,
    "type": "Interview",
    "dateBegin": BEGIN,
    "dateEnd": END,
    "isDeleted": False,
    "candidateReference": {"id": 301},
    "jobOrder": {"id": 77},
    "clientContactReference": {"id": 40, "firstName": "Dana", "lastName": "Fox", "email": "dana@northwind.example"},
    "parentAppointment": None,
}


def event(entity: str, entity_id: int, change: str = "UPDATED", updated: tuple[str, ...] = (), event_id: str = "ID:JBM-1") -> BullhornEvent:
    return BullhornEvent.parse(
        {
            "eventId": event_id,
            "eventType": "ENTITY",
            "entityName": entity,
            "entityId": entity_id,
            "entityEventType": change,
            "updatedProperties": list(updated),
            "eventTimestamp": AT,
            "eventMetadata": {},
        }
    )


def submission_with(status: str) -> Found:
    return Found(entity={**SUBMISSION, "status": status}, submission={**SUBMISSION, "status": status}, job_order=JOB_ORDER)


EXPECTED = {
    "Client Feedback Requested": EventType.CLIENT_FEEDBACK_REQUESTED,
    "Offer Extended": EventType.OFFER_EXTENDED,
    "Offer Accepted": EventType.OFFER_ACCEPTED,
    "Placed": EventType.OFFER_ACCEPTED,
    "Client Rejected": EventType.CANDIDATE_REJECTED,
    "Candidate Rejected": EventType.CANDIDATE_WITHDREW,
    "Offer Rejected": EventType.CANDIDATE_WITHDREW,
    "Candidate Withdrew": EventType.CANDIDATE_WITHDREW,
    "Reopened": EventType.APPLICATION_REOPENED,
}


@pytest.mark.parametrize("status", sorted(EXPECTED))
def test_each_configured_status_change_is_its_canonical_event_with_the_parties(status: str):
    mapped = map_event("acme", event("JobSubmission", 5501, updated=("status",)), submission_with(status), CONFIG)
    assert mapped.ignored_reason is None
    (canonical,) = mapped.events
    assert canonical.type == EXPECTED[status]
    assert canonical.source == "bullhorn" and canonical.application_id == "5501"
    assert canonical.event_id == f"bullhorn:acme:ID:JBM-1:{EXPECTED[status].value}"
    assert canonical.occurred_at == datetime.fromtimestamp(AT / 1000, UTC)
    assert (canonical.candidate.id, canonical.candidate.name, canonical.candidate.email, canonical.candidate.phone) == ("301", "Kwame Mensah", "kwame@example.com", "555-0101")
    assert (canonical.recruiter.id, canonical.recruiter.name, canonical.recruiter.email) == ("12", "Rita Reyes", "rita@agency.example")
    assert (canonical.client.id, canonical.client.name) == ("900", "Northwind Bank")
    assert canonical.job is not None and (canonical.job.id, canonical.job.title) == ("77", "Compliance Analyst")
    assert canonical.assumed == []
    if canonical.type in (EventType.CANDIDATE_REJECTED, EventType.CANDIDATE_WITHDREW):
        assert canonical.data.reason == f"Bullhorn status {status}"


@pytest.mark.parametrize("status", ["Submitted", "Client Submission", "Interview Scheduled"])
def test_statuses_configured_to_be_ignored_say_so(status: str):
    mapped = map_event("acme", event("JobSubmission", 5501, updated=("status",)), submission_with(status), CONFIG)
    assert mapped.events == [] and mapped.ignored_reason == f"status {status!r} is configured to be ignored"
    assert mapped.application_id == "5501"


@pytest.mark.parametrize(
    ("meaning", "expected"),
    [("offer_withdrawn", EventType.OFFER_WITHDRAWN), ("vetting_failed", EventType.VETTING_FAILED), ("reneged", EventType.CANDIDATE_RENEGED)],
)
def test_an_agency_status_for_an_offer_that_fell_through_is_its_closing_event(meaning: str, expected: EventType):
    config = BullhornConfig.from_dict({"job_submission": {"statuses": {"Fell Through": meaning}}})
    mapped = map_event("acme", event("JobSubmission", 5501, updated=("status",)), submission_with("Fell Through"), config)
    assert mapped.ignored_reason is None
    (canonical,) = mapped.events
    assert canonical.type == expected and canonical.data.reason == "Bullhorn status Fell Through"


def test_a_status_nobody_configured_is_ignored_naming_it():
    mapped = map_event("acme", event("JobSubmission", 5501, updated=("status",)), submission_with("Sent to Hiring Manager"), CONFIG)
    assert mapped.events == [] and "'Sent to Hiring Manager' is not in [job_submission.statuses]" in mapped.ignored_reason


def test_statuses_match_whatever_their_case():
    mapped = map_event("acme", event("JobSubmission", 5501, updated=("status",)), submission_with("offer extended"), CONFIG)
    assert [e.type for e in mapped.events] == [EventType.OFFER_EXTENDED]


def test_a_submission_update_without_a_status_change_is_ignored():
    mapped = map_event("acme", event("JobSubmission", 5501, updated=("comments",)), submission_with("Offer Extended"), CONFIG)
    assert mapped.events == [] and mapped.ignored_reason == "JobSubmission 5501: comments changed, not its status"


def test_an_inserted_submission_maps_its_current_status():
    mapped = map_event("acme", event("JobSubmission", 5501, change="INSERTED"), submission_with("Client Rejected"), CONFIG)
    assert [e.type for e in mapped.events] == [EventType.CANDIDATE_REJECTED]


def test_a_deleted_or_vanished_submission_is_recorded_not_mapped():
    deleted = map_event("acme", event("JobSubmission", 5501, change="DELETED"), Found(), CONFIG)
    assert deleted.events == [] and "was deleted" in deleted.ignored_reason
    gone = map_event("acme", event("JobSubmission", 5501, updated=("status",)), Found(), CONFIG)
    assert gone.events == [] and "no longer in Bullhorn" in gone.ignored_reason


def test_without_a_sending_user_the_job_orders_owner_is_the_recruiter_and_without_either_one_is_assumed():
    no_sender = {**SUBMISSION, "status": "Offer Extended", "sendingUser": None}
    mapped = map_event("acme", event("JobSubmission", 5501, updated=("status",)), Found(no_sender, no_sender, JOB_ORDER), CONFIG)
    assert (mapped.events[0].recruiter.id, mapped.events[0].recruiter.name) == ("13", "Omar Lee")
    bare = map_event("acme", event("JobSubmission", 5501, updated=("status",)), Found(no_sender, no_sender, None), CONFIG)
    assert bare.events[0].recruiter.id == "bullhorn-acme-unassigned"
    assert bare.events[0].assumed == ["client", "recruiter"]


def test_an_inserted_interview_appointment_is_scheduled_with_its_start_end_and_the_client_contact():
    found = Found(entity=APPOINTMENT, submission=SUBMISSION, job_order=JOB_ORDER)
    mapped = map_event("acme", event("Appointment", 8801, change="INSERTED"), found, CONFIG)
    (canonical,) = mapped.events
    assert canonical.type == EventType.INTERVIEW_SCHEDULED and canonical.application_id == "5501"
    assert canonical.data.interview_id == "appointment-8801"
    assert canonical.data.at == datetime.fromtimestamp(BEGIN / 1000, UTC)
    assert canonical.data.ends_at == datetime.fromtimestamp(END / 1000, UTC)
    assert canonical.data.round is None  # the process numbers the interviews
    assert [(i.id, i.name, i.email) for i in canonical.data.interviewers] == [("40", "Dana Fox", "dana@northwind.example")]


@pytest.mark.parametrize("updated", [("dateBegin",), ("dateEnd", "location"), ()])
def test_a_moved_appointment_is_rescheduled(updated: tuple[str, ...]):
    moved = {**APPOINTMENT, "dateBegin": BEGIN + 86_400_000, "dateEnd": END + 86_400_000}
    mapped = map_event("acme", event("Appointment", 8801, updated=updated), Found(moved, SUBMISSION, JOB_ORDER), CONFIG)
    (canonical,) = mapped.events
    assert canonical.type == EventType.INTERVIEW_RESCHEDULED
    assert canonical.data.at == datetime.fromtimestamp((BEGIN + 86_400_000) / 1000, UTC)


def test_an_appointment_update_that_moves_nothing_is_ignored():
    mapped = map_event("acme", event("Appointment", 8801, updated=("location",)), Found(APPOINTMENT, SUBMISSION, JOB_ORDER), CONFIG)
    assert mapped.events == [] and mapped.ignored_reason == "Appointment 8801: location changed, not its time"


def test_a_deleted_appointment_cancels_the_interview():
    deleted = {**APPOINTMENT, "isDeleted": True}
    for change, updated in (("DELETED", ()), ("UPDATED", ("isDeleted",))):
        mapped = map_event("acme", event("Appointment", 8801, change=change, updated=updated), Found(deleted, SUBMISSION, JOB_ORDER), CONFIG)
        (canonical,) = mapped.events
        assert canonical.type == EventType.INTERVIEW_CANCELLED and canonical.data.interview_id == "appointment-8801"


def test_appointments_that_are_not_interviews_or_are_invitee_copies_or_have_no_submission_are_ignored():
    call = map_event("acme", event("Appointment", 8801, change="INSERTED"), Found({**APPOINTMENT, "type": "Call"}, SUBMISSION, JOB_ORDER), CONFIG)
    assert call.events == [] and "of type 'Call' is not an interview" in call.ignored_reason
    child = map_event("acme", event("Appointment", 8802, change="INSERTED"), Found({**APPOINTMENT, "parentAppointment": {"id": 8801}}, None, None), CONFIG)
    assert child.events == [] and "invitee's copy" in child.ignored_reason
    orphan = map_event("acme", event("Appointment", 8801, change="INSERTED"), Found(APPOINTMENT, None, None), CONFIG)
    assert orphan.events == [] and "no JobSubmission of candidate 301 for job order 77" in orphan.ignored_reason


def test_an_appointment_with_a_placeholder_date_is_recorded_not_mapped():
    bad = {**APPOINTMENT, "dateBegin": 253402300799999}  # 9999-12-31
    mapped = map_event("acme", event("Appointment", 8801, change="INSERTED"), Found(bad, SUBMISSION, JOB_ORDER), CONFIG)
    assert mapped.events == [] and mapped.ignored_reason.startswith("Appointment 8801: dateBegin")


PLACEMENT = {"id": 9901, "status": "Submitted", "dateBegin": 1_798_761_600_000, "candidate": {"id": 301}, "jobOrder": {"id": 77}, "jobSubmission": {"id": 5501}}


@pytest.mark.parametrize("status", ["Submitted", "Approved", "Placed"])
def test_a_placement_is_an_accepted_offer_with_its_start_date(status: str):
    placement = {**PLACEMENT, "status": status}
    mapped = map_event("acme", event("Placement", 9901, change="INSERTED"), Found(placement, SUBMISSION, JOB_ORDER), CONFIG)
    (canonical,) = mapped.events
    assert canonical.type == EventType.OFFER_ACCEPTED and canonical.application_id == "5501"
    assert canonical.data.start_date == date(2027, 1, 1)


@pytest.mark.parametrize("status", ["Active", "Started"])
def test_an_active_placement_is_the_first_day(status: str):
    placement = {**PLACEMENT, "status": status}
    mapped = map_event("acme", event("Placement", 9901, updated=("status",)), Found(placement, SUBMISSION, JOB_ORDER), CONFIG)
    (canonical,) = mapped.events
    assert canonical.type == EventType.CANDIDATE_STARTED and canonical.data.start_date == date(2027, 1, 1)


def test_placements_in_other_statuses_or_deleted_or_without_submission_are_ignored():
    terminated = map_event("acme", event("Placement", 9901, updated=("status",)), Found({**PLACEMENT, "status": "Terminated"}, SUBMISSION, JOB_ORDER), CONFIG)
    assert terminated.events == [] and "'Terminated' is not in [placement.statuses]" in terminated.ignored_reason
    deleted = map_event("acme", event("Placement", 9901, change="DELETED"), Found(), CONFIG)
    assert deleted.events == [] and "was deleted" in deleted.ignored_reason
    orphan = map_event("acme", event("Placement", 9901, change="INSERTED"), Found(PLACEMENT, None, None), CONFIG)
    assert orphan.events == [] and "its JobSubmission is not known" in orphan.ignored_reason
    billing = map_event("acme", event("Placement", 9901, updated=("payRate",)), Found(PLACEMENT, SUBMISSION, JOB_ORDER), CONFIG)
    assert billing.events == [] and "payRate changed" in billing.ignored_reason


def test_other_entities_are_ignored_and_event_ids_are_stable_and_bounded():
    other = map_event("acme", event("Candidate", 301), Found(), CONFIG)
    assert other.events == [] and other.ignored_reason == "Candidate changes are not used"
    first = map_event("acme", event("JobSubmission", 5501, updated=("status",), event_id="ID:JBM-" + "9" * 250), submission_with("Placed"), CONFIG)
    again = map_event("acme", event("JobSubmission", 5501, updated=("status",), event_id="ID:JBM-" + "9" * 250), submission_with("Placed"), CONFIG)
    assert first.events[0].event_id == again.events[0].event_id and len(first.events[0].event_id) <= 200


def test_an_event_missing_its_fields_is_a_clear_error():
    with pytest.raises(ValueError, match="event without entityName"):
        BullhornEvent.parse({"eventId": "ID:JBM-1", "entityId": 1, "entityEventType": "UPDATED", "eventTimestamp": AT})


def test_a_config_with_an_unknown_meaning_is_refused_naming_it():
    with pytest.raises(BullhornConfigError, match=r"\[job_submission.statuses\] 'Placed' = 'celebrate'"):
        BullhornConfig.from_dict({"job_submission": {"statuses": {"Placed": "celebrate"}}})
    with pytest.raises(BullhornConfigError, match="max_events = 500"):
        BullhornConfig.from_dict({"poller": {"max_events": 500}})
