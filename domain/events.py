"""The canonical event: the one shape every ATS adapter, script or middleware sends the engine.

An event is a fact about one application ("the interview happened", "the referee responded").
`event_id` is its idempotency key: the same event delivered twice has one effect. `data` is
typed by `type`; `python -m cli.main schema` (or `postinterview schema`) prints the JSON Schema
that integrators validate against, and `schemas/canonical-event.schema.json` is its published copy.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from domain.bounds import MAX_EVENT_ID_LENGTH, BoundedDate, BoundedMoment, MultiLineText, OneLineText
from domain.debrief import Debrief
from domain.errors import describe_validation_error


class EventType(StrEnum):
    INTERVIEW_COMPLETED = "interview.completed"
    INTERVIEW_SCHEDULED = "interview.scheduled"
    # The ATS moved (or cancelled) a scheduled interview: the process waits for the new end, or
    # for no end at all, before it takes the interview as having happened.
    INTERVIEW_RESCHEDULED = "interview.rescheduled"
    INTERVIEW_CANCELLED = "interview.cancelled"
    CANDIDATE_DEBRIEFED = "candidate.debriefed"
    CLIENT_FEEDBACK_REQUESTED = "client.feedback_requested"
    REFERENCES_REQUESTED = "references.requested"
    REFEREE_CONSENTED = "referee.consented"
    REFEREE_RESPONDED = "referee.responded"
    # The referee can't (or won't) give a reference: their check ends without chasing, and the
    # candidate is asked for somebody else.
    REFEREE_DECLINED = "referee.declined"
    # A referee named after the references were requested (a replacement, or one more): their
    # own check starts; the others go on untouched.
    REFEREE_ADDED = "referee.added"
    OFFER_EXTENDED = "offer.extended"
    OFFER_ACCEPTED = "offer.accepted"
    CONTRACT_SIGNED = "contract.signed"
    VETTING_PASSED = "vetting.passed"
    CANDIDATE_STARTED = "candidate.started"
    CANDIDATE_REJECTED = "candidate.rejected"
    CANDIDATE_WITHDREW = "candidate.withdrew"
    # A rejection or withdrawal the ATS took back (Greenhouse unreject/unhire, Lever and Ashby
    # unarchive): the application is live again.
    APPLICATION_REOPENED = "application.reopened"
    # The search did not end at the offer (process model, duty 2): the client took the offer back,
    # the candidate failed the vetting, or the candidate backed out after accepting. Each closes
    # the process, with a close-out that fits (README, duty table).
    OFFER_WITHDRAWN = "offer.withdrawn"
    VETTING_FAILED = "vetting.failed"
    CANDIDATE_RENEGED = "candidate.reneged"


def _known_timezone(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/London'") from None
    return name


Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:@-]{1,128}$")]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
TimeZone = Annotated[str, AfterValidator(_known_timezone)]


class Person(BaseModel):
    """Someone the process acts for or with. Names and contact details may be missing when the
    ATS sends ids only; tasks then name the application, and enrichment fills them in."""

    id: Identifier
    name: OneLineText | None = None
    email: Email | None = None


class Lead(Person):
    """The recruiter's lead: receives escalations when a recruiter task is overdue."""


class Recruiter(Person):
    lead: Lead | None = None


class Candidate(Person):
    phone: OneLineText | None = None
    can_email: bool | None = Field(
        default=None,
        description="False when the ATS says the candidate must not be emailed (Greenhouse `can_email: false`, a "
        "private candidate): no message goes to them, the recruiter's tasks still do. Omitted: what the process "
        "already knows (emailable by default).",
    )
    timezone: TimeZone | None = Field(default=None, description="IANA time zone; the office's when omitted.")
    country: Country | None = Field(default=None, description="ISO 3166 alpha-2; whose public holidays count.")


class Client(BaseModel):
    """The hiring firm."""

    id: Identifier
    name: OneLineText | None = None


class Job(BaseModel):
    id: Identifier
    title: OneLineText | None = None


class Referee(Person):
    relationship: OneLineText = Field(description="How the referee knows the candidate, e.g. 'former manager'.")
    timezone: TimeZone | None = None
    country: Country | None = None


# --- data, one shape per event type -------------------------------------------------------


class NoData(BaseModel):
    """For events whose fact is all in their type (contract signed, vetting passed, ...)."""


class Interviewer(BaseModel):
    """Someone on the interview panel: named in the thank-you and preparation advice."""

    id: Identifier | None = None
    name: OneLineText | None = None
    email: Email | None = None


class InterviewData(BaseModel):
    interview_id: Identifier
    round: int | None = Field(
        default=None,
        ge=1,
        description="1 for the first interview, 2 for the first follow-up, ...; omitted when the ATS gives none: "
        "the process numbers an application's interviews in the order they take place.",
    )
    at: BoundedMoment = Field(description="When the interview took (or takes) place (between 1970 and 2100).")
    ends_at: BoundedMoment | None = Field(
        default=None,
        description="When it ends (a scheduled interview is taken as having happened once this, plus the policy's "
        "grace period, has passed, unless it is rescheduled or cancelled meanwhile).",
    )
    duration_minutes: int | None = Field(
        default=None, ge=1, le=24 * 60, description="Its length when the ATS gives no end; the policy's default otherwise."
    )
    interviewers: list[Interviewer] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _ends_after_start(self) -> "InterviewData":
        if self.ends_at is not None and self.ends_at < self.at:
            raise ValueError("ends_at is before at")
        return self


class InterviewCancelledData(BaseModel):
    interview_id: Identifier
    reason: MultiLineText | None = None


class ReopenedData(BaseModel):
    reason: MultiLineText | None = None


class ReferencesRequestedData(BaseModel):
    referees: list[Referee] = Field(min_length=1)
    required_before_offer: bool = Field(default=False, description="The client will not make an offer until every reference is in.")


class RefereeData(BaseModel):
    referee_id: Identifier
    reason: MultiLineText | None = Field(
        default=None, max_length=2000, description="referee.declined: why the referee can't give a reference, in their words (optional)."
    )


class RefereeAddedData(BaseModel):
    referee: Referee
    replaces: Identifier | None = Field(default=None, description="The referee this one replaces (one who declined), when the sender knows.")


class OfferData(BaseModel):
    start_date: BoundedDate | None = None


class ClosureData(BaseModel):
    reason: MultiLineText | None = None
    met_in_person: bool = Field(default=False, description="Whether the recruiter has met the candidate face to face.")


class StartedData(BaseModel):
    start_date: BoundedDate | None = None


EventData = Union[InterviewData, InterviewCancelledData, ReopenedData, ReferencesRequestedData, RefereeData, RefereeAddedData, OfferData, ClosureData, StartedData, Debrief, NoData]

DATA_BY_TYPE: dict[EventType, type[BaseModel]] = {
    EventType.INTERVIEW_COMPLETED: InterviewData,
    EventType.INTERVIEW_SCHEDULED: InterviewData,
    EventType.INTERVIEW_RESCHEDULED: InterviewData,
    EventType.INTERVIEW_CANCELLED: InterviewCancelledData,
    EventType.CANDIDATE_DEBRIEFED: Debrief,
    EventType.CLIENT_FEEDBACK_REQUESTED: NoData,
    EventType.REFERENCES_REQUESTED: ReferencesRequestedData,
    EventType.REFEREE_CONSENTED: RefereeData,
    EventType.REFEREE_RESPONDED: RefereeData,
    EventType.REFEREE_DECLINED: RefereeData,
    EventType.REFEREE_ADDED: RefereeAddedData,
    EventType.OFFER_EXTENDED: OfferData,
    EventType.OFFER_ACCEPTED: OfferData,
    EventType.CONTRACT_SIGNED: NoData,
    EventType.VETTING_PASSED: NoData,
    EventType.CANDIDATE_STARTED: StartedData,
    EventType.CANDIDATE_REJECTED: ClosureData,
    EventType.CANDIDATE_WITHDREW: ClosureData,
    EventType.APPLICATION_REOPENED: ReopenedData,
    EventType.OFFER_WITHDRAWN: ClosureData,
    EventType.VETTING_FAILED: ClosureData,
    EventType.CANDIDATE_RENEGED: ClosureData,
}


class CanonicalEvent(BaseModel):
    """One fact about one application, from any source."""

    event_id: Annotated[OneLineText, StringConstraints(min_length=1, max_length=MAX_EVENT_ID_LENGTH)] = Field(
        description="Idempotency key: a second event with the same id has no effect."
    )
    type: EventType
    occurred_at: BoundedMoment = Field(description="RFC 3339 with an offset, e.g. 2026-11-26T10:00:00+00:00 (between 1970 and 2100).")
    source: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = Field(
        description="Where the event comes from: greenhouse, lever, ashby, api, ..."
    )
    application_id: Identifier
    candidate: Candidate
    recruiter: Recruiter
    client: Client
    job: Job | None = None
    assumed: list[Literal["candidate", "recruiter", "client"]] = Field(
        default_factory=list,
        description="Parties the sender did not name and filled with a placeholder or a configured default "
        "(an ATS that sends ids only): the process keeps what it already knows about them instead.",
    )
    # validate_default: an event whose type needs data must not slip through without any.
    data: EventData = Field(default=None, validate_default=True)  # type: ignore[assignment]

    @field_validator("data", mode="before")
    @classmethod
    def _data_fits_type(cls, data: Any, info: ValidationInfo) -> Any:
        # Validate `data` against the one model its type names (declared before `data`, so it
        # is already parsed), so an error says "data: round: Field required" rather than
        # listing every shape in the union.
        model = DATA_BY_TYPE.get(info.data.get("type"))  # type: ignore[arg-type]
        if model is None or isinstance(data, model):
            return data
        try:
            return model.model_validate(data if data is not None else {})
        except ValidationError as error:
            raise ValueError(f"does not fit {info.data['type']}: {describe_validation_error(error, 'data')}") from None

    @property
    def workflow_id(self) -> str:
        from domain.contract import post_interview_workflow_id

        return post_interview_workflow_id(self.source, self.application_id)


def event_json_schema() -> dict[str, Any]:
    schema = CanonicalEvent.model_json_schema()
    # Say which data shape goes with which type, so a generic validator checks `data` as strictly
    # as the engine does.
    schema["allOf"] = [
        {
            "if": {"properties": {"type": {"const": event_type.value}}, "required": ["type"]},
            "then": {"properties": {"data": {"$ref": f"#/$defs/{model.__name__}"}}},
        }
        for event_type, model in DATA_BY_TYPE.items()
    ]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://post-interview.dev/schemas/canonical-event.schema.json"
    return schema


def event_json_schema_text() -> str:
    return json.dumps(event_json_schema(), indent=2, sort_keys=True) + "\n"
