"""Bullhorn changes -> canonical events: what a JobSubmission, Appointment or Placement that changed
means for the post-interview process.

Bullhorn pushes nothing: the poller (workflows/bullhorn_poller.py) reads its event subscription,
each event naming an entity that changed (`entityName`, `entityId`, `entityEventType` INSERTED,
UPDATED or DELETED, `updatedProperties`, `eventTimestamp` in epoch milliseconds, a unique
`eventId`), and the activity (activities/bullhorn.py) fetches the entity with the fields below.
This module only maps: pure functions of the event, the fetched entities and config/bullhorn.toml.

The application is the JobSubmission (a candidate put forward for a job order): its id is the
canonical `application_id`, its `candidate`, its `sendingUser` (else the job order's `owner`) the
recruiter, the job order's `clientCorporation` the client.

| entity, change | canonical |
|---|---|
| JobSubmission INSERTED, or UPDATED with `status` among the changed properties | `[job_submission.statuses]`: client_feedback, offer (offer.extended), hired (offer.accepted), contract, vetting, started, rejected (candidate.rejected), withdrew, reopened (application.reopened), offer_withdrawn, vetting_failed, reneged (candidate.reneged), ignore; a status not listed is ignored, naming it |
| Appointment of an interview type (`[appointment] interview_types`), INSERTED | interview.scheduled: `dateBegin` as `at`, `dateEnd` as `ends_at` (the debrief follows the end), the client contact as the interviewer; no round (the process numbers interviews) |
| the same, UPDATED with `dateBegin`/`dateEnd` changed (or no properties named) | interview.rescheduled with the new times |
| the same, DELETED, or UPDATED to `isDeleted: true` | interview.cancelled |
| Placement (`[placement.statuses]`) | hired: offer.accepted with `dateBegin` as the start date; started: candidate.started |
| anything else | recorded as ignored, with the reason |

An appointment is linked to its application by its candidate and job order (Bullhorn's
Appointment names no JobSubmission); the invitees' copies of an appointment (`parentAppointment`
set) are skipped, the owner's copy stands for the interview. Nothing here raises on bad data: an
entity that cannot be mapped becomes a reason (`Mapped.ignored_reason`), which the intake table
keeps, and the poller goes on.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from domain.bounds import check_moment, strip_control
from domain.errors import describe_validation_error
from domain.events import (
    Candidate,
    CanonicalEvent,
    Client,
    ClosureData,
    EventType,
    InterviewCancelledData,
    InterviewData,
    Interviewer,
    Job,
    NoData,
    OfferData,
    Recruiter,
    ReopenedData,
    StartedData,
)

SOURCE = "bullhorn"
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "bullhorn.toml"
MAX_ID_LENGTH = 200

# The fields fetched per entity (Bullhorn's `fields=` syntax: a to-one association's own fields in
# parentheses). What the mapping reads and nothing more: a candidate's whole record is not ours.
PERSON = "id,firstName,lastName,email"
FIELDS = {
    "JobSubmission": f"id,status,isDeleted,dateLastModified,candidate(id,firstName,lastName,email,phone,mobile),jobOrder(id),sendingUser({PERSON})",
    "JobOrder": f"id,title,clientCorporation(id,name),clientContact({PERSON}),owner({PERSON})",
    "Appointment": f"id,type,dateBegin,dateEnd,isDeleted,candidateReference(id),jobOrder(id),clientContactReference({PERSON}),parentAppointment(id)",
    "Placement": "id,status,dateBegin,candidate(id),jobOrder(id),jobSubmission(id)",
    # A recruiter task mirrored in Bullhorn: whether it was ticked off there (activities/bullhorn.py).
    "Task": "id,isCompleted,isDeleted",
}

MEANINGS = {
    "client_feedback", "offer", "hired", "contract", "vetting", "started", "rejected", "withdrew", "reopened", "ignore",
    # The offer falling through: statuses each agency names itself (none in Bullhorn's defaults).
    "offer_withdrawn", "vetting_failed", "reneged",
}  # fmt: skip
PLACEMENT_MEANINGS = {"hired", "started"}


class BullhornConfigError(ValueError):
    """config/bullhorn.toml (or BULLHORN_CONFIG) cannot be used; the message names the key."""


@dataclass(frozen=True)
class BullhornConfig:
    submission_statuses: Mapping[str, str]
    interview_types: frozenset[str]
    placement_statuses: Mapping[str, str]
    max_events: int = 100
    idle_seconds: int = 30
    polls_per_run: int = 200

    @classmethod
    def load(cls, path: Path | None = None) -> BullhornConfig:
        path = path or DEFAULT_CONFIG
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise BullhornConfigError(f"{path}: {error}") from None
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: str = "bullhorn config") -> BullhornConfig:
        statuses = dict(raw.get("job_submission", {}).get("statuses", {}))
        for status, meaning in statuses.items():
            if meaning not in MEANINGS:
                raise BullhornConfigError(f"{where}: [job_submission.statuses] {status!r} = {meaning!r}: one of {sorted(MEANINGS)}")
        placements = dict(raw.get("placement", {}).get("statuses", {}))
        for status, meaning in placements.items():
            if meaning not in PLACEMENT_MEANINGS:
                raise BullhornConfigError(f"{where}: [placement.statuses] {status!r} = {meaning!r}: one of {sorted(PLACEMENT_MEANINGS)}")
        poller = raw.get("poller", {})
        max_events = int(poller.get("max_events", 100))
        if not 1 <= max_events <= 100:
            raise BullhornConfigError(f"{where}: [poller] max_events = {max_events}: Bullhorn returns 1 to 100 events per request")
        types = frozenset(str(t).casefold() for t in raw.get("appointment", {}).get("interview_types", ["Interview"]))
        return cls(
            submission_statuses={k.casefold(): v for k, v in statuses.items()},
            interview_types=types,
            placement_statuses={k.casefold(): v for k, v in placements.items()},
            max_events=max_events,
            idle_seconds=max(1, int(poller.get("idle_seconds", 30))),
            polls_per_run=max(1, int(poller.get("polls_per_run", 200))),
        )


@dataclass(frozen=True)
class BullhornEvent:
    """One event of the subscription, as Bullhorn sends it."""

    event_id: str
    entity_name: str
    entity_id: str
    change: str  # INSERTED | UPDATED | DELETED
    at: datetime
    updated: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> BullhornEvent:
        """Raises ValueError naming what is missing (the caller records it and goes on)."""
        try:
            event_id = str(raw["eventId"])
            entity_name = str(raw["entityName"])
            entity_id = str(raw["entityId"])
            change = str(raw["entityEventType"]).upper()
            at = millis(raw["eventTimestamp"], "eventTimestamp")
        except KeyError as missing:
            raise ValueError(f"event without {missing.args[0]}") from None
        return cls(event_id, entity_name, entity_id, change, at, frozenset(str(p) for p in raw.get("updatedProperties") or ()))


@dataclass(frozen=True)
class Found:
    """What the activity fetched for one event: the entity, and the application it belongs to."""

    entity: Mapping[str, Any] | None = None
    submission: Mapping[str, Any] | None = None
    job_order: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Mapped:
    """One event's outcome: canonical events (in order) for `application_id`, or why none."""

    events: list[CanonicalEvent] = field(default_factory=list)
    application_id: str | None = None
    ignored_reason: str | None = None


def millis(value: Any, name: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: expected epoch milliseconds")
    try:
        return check_moment(datetime.fromtimestamp(value / 1000, UTC))
    except (ValueError, OverflowError, OSError) as error:
        raise ValueError(f"{name}: {error}") from None


def _id(value: Any) -> str | None:
    """The id of a to-one association (`{"id": 12}`) or an id itself, as text."""
    if isinstance(value, Mapping):
        value = value.get("id")
    if value is None or isinstance(value, bool):
        return None
    return str(value)


def _text(*parts: Any) -> str | None:
    cleaned = (" ".join(strip_control(p).split()) for p in parts if isinstance(p, str))
    return " ".join(part for part in cleaned if part) or None


def _email(value: Any) -> str | None:
    text = _text(value)
    return text if text and "@" in text and " " not in text else None


def _person(raw: Any) -> tuple[str | None, str | None, str | None]:
    if not isinstance(raw, Mapping):
        return None, None, None
    return _id(raw), _text(raw.get("firstName"), raw.get("lastName")), _email(raw.get("email"))


def event_id(account: str, bullhorn_event_id: str, type_: EventType, position: int, count: int) -> str:
    """Stable: the same Bullhorn event (fetched again by its requestId) gives the same ids."""
    suffix = f":{type_.value}" + (f":{position}" if count > 1 else "")
    base = f"{SOURCE}:{account}:{bullhorn_event_id}"
    if len(base) + len(suffix) > MAX_ID_LENGTH:
        base = f"{SOURCE}:{account}:sha256-{hashlib.sha256(bullhorn_event_id.encode()).hexdigest()}"
    return base + suffix


def map_event(account: str, event: BullhornEvent, found: Found, config: BullhornConfig) -> Mapped:
    """The canonical events one Bullhorn event stands for; never raises on data."""
    try:
        match event.entity_name:
            case "JobSubmission":
                return _submission(account, event, found, config)
            case "Appointment":
                return _appointment(account, event, found, config)
            case "Placement":
                return _placement(account, event, found, config)
            case _:
                return Mapped(ignored_reason=f"{event.entity_name} changes are not used")
    except ValueError as error:  # a field out of range, a malformed value: record it, go on
        return Mapped(application_id=_id(found.submission), ignored_reason=f"{event.entity_name} {event.entity_id}: {error}")


def _submission(account: str, event: BullhornEvent, found: Found, config: BullhornConfig) -> Mapped:
    name = f"JobSubmission {event.entity_id}"
    if event.change == "DELETED":
        return Mapped(application_id=event.entity_id, ignored_reason=f"{name} was deleted: nothing for the process")
    if event.change == "UPDATED" and event.updated and "status" not in event.updated:
        return Mapped(application_id=event.entity_id, ignored_reason=f"{name}: {', '.join(sorted(event.updated))} changed, not its status")
    submission = found.submission or found.entity
    if submission is None:
        return Mapped(application_id=event.entity_id, ignored_reason=f"{name} is no longer in Bullhorn")
    status = _text(submission.get("status"))
    if status is None:
        return Mapped(application_id=event.entity_id, ignored_reason=f"{name} has no status")
    meaning = config.submission_statuses.get(status.casefold())
    if meaning is None:
        return Mapped(application_id=event.entity_id, ignored_reason=f"status {status!r} is not in [job_submission.statuses]")
    at = event.at
    reason = f"Bullhorn status {status}"
    match meaning:
        case "client_feedback":
            draft = (EventType.CLIENT_FEEDBACK_REQUESTED, NoData())
        case "offer":
            draft = (EventType.OFFER_EXTENDED, OfferData())
        case "hired":
            # A placement in the ATS is an accepted offer: the role is the candidate's only from
            # their first day (candidate.started).
            draft = (EventType.OFFER_ACCEPTED, OfferData())
        case "contract":
            draft = (EventType.CONTRACT_SIGNED, NoData())
        case "vetting":
            draft = (EventType.VETTING_PASSED, NoData())
        case "started":
            draft = (EventType.CANDIDATE_STARTED, StartedData())
        case "rejected":
            draft = (EventType.CANDIDATE_REJECTED, ClosureData(reason=reason))
        case "withdrew":
            draft = (EventType.CANDIDATE_WITHDREW, ClosureData(reason=reason))
        case "reopened":
            draft = (EventType.APPLICATION_REOPENED, ReopenedData(reason=reason))
        case "offer_withdrawn":
            draft = (EventType.OFFER_WITHDRAWN, ClosureData(reason=reason))
        case "vetting_failed":
            draft = (EventType.VETTING_FAILED, ClosureData(reason=reason))
        case "reneged":
            draft = (EventType.CANDIDATE_RENEGED, ClosureData(reason=reason))
        case _:
            return Mapped(application_id=event.entity_id, ignored_reason=f"status {status!r} is configured to be ignored")
    return _events(account, event, found, [(draft[0], draft[1], at)])


def _appointment(account: str, event: BullhornEvent, found: Found, config: BullhornConfig) -> Mapped:
    name = f"Appointment {event.entity_id}"
    appointment = found.entity
    if appointment is None:
        return Mapped(ignored_reason=f"{name} is no longer in Bullhorn: its application cannot be known")
    if _id(appointment.get("parentAppointment")):
        return Mapped(application_id=_id(found.submission), ignored_reason=f"{name} is an invitee's copy: the owner's appointment stands for the interview")
    kind = _text(appointment.get("type"))
    if kind is None or kind.casefold() not in config.interview_types:
        return Mapped(application_id=_id(found.submission), ignored_reason=f"{name} of type {kind!r} is not an interview ([appointment] interview_types)")
    if found.submission is None:
        return Mapped(
            ignored_reason=f"{name}: no JobSubmission of candidate {_id(appointment.get('candidateReference'))} "
            f"for job order {_id(appointment.get('jobOrder'))}"
        )
    interview_id = f"appointment-{event.entity_id}"
    if event.change == "DELETED" or appointment.get("isDeleted") is True:
        data = InterviewCancelledData(interview_id=interview_id, reason="the appointment was deleted in Bullhorn")
        return _events(account, event, found, [(EventType.INTERVIEW_CANCELLED, data, event.at)])
    if event.change == "UPDATED" and event.updated and not event.updated & {"dateBegin", "dateEnd", "type"}:
        return Mapped(application_id=_id(found.submission), ignored_reason=f"{name}: {', '.join(sorted(event.updated))} changed, not its time")
    begin = millis(appointment.get("dateBegin"), "dateBegin")
    end = millis(appointment.get("dateEnd"), "dateEnd") if appointment.get("dateEnd") is not None else None
    interviewers = []
    contact_id, contact_name, contact_email = _person(appointment.get("clientContactReference"))
    if contact_id or contact_name:
        interviewers.append(Interviewer(id=contact_id, name=contact_name, email=contact_email))
    data = InterviewData(interview_id=interview_id, at=begin, ends_at=end if end and end >= begin else None, interviewers=interviewers)
    type_ = EventType.INTERVIEW_SCHEDULED if event.change == "INSERTED" else EventType.INTERVIEW_RESCHEDULED
    return _events(account, event, found, [(type_, data, event.at)])


def _placement(account: str, event: BullhornEvent, found: Found, config: BullhornConfig) -> Mapped:
    name = f"Placement {event.entity_id}"
    placement = found.entity
    if event.change == "DELETED" or placement is None:
        return Mapped(application_id=_id(found.submission), ignored_reason=f"{name} was deleted: nothing for the process")
    if event.change == "UPDATED" and event.updated and not event.updated & {"status", "dateBegin"}:
        return Mapped(application_id=_id(found.submission), ignored_reason=f"{name}: {', '.join(sorted(event.updated))} changed, not its status or start")
    if found.submission is None:
        return Mapped(ignored_reason=f"{name}: its JobSubmission is not known (candidate {_id(placement.get('candidate'))}, job order {_id(placement.get('jobOrder'))})")
    status = _text(placement.get("status")) or ""
    meaning = config.placement_statuses.get(status.casefold())
    if meaning is None:
        return Mapped(application_id=_id(found.submission), ignored_reason=f"placement status {status!r} is not in [placement.statuses]")
    start: date | None = None
    if placement.get("dateBegin") is not None:
        # Bullhorn keeps the start as an instant (midnight where the placement was entered); its UTC day.
        start = millis(placement["dateBegin"], "dateBegin").date()
    if meaning == "started":
        return _events(account, event, found, [(EventType.CANDIDATE_STARTED, StartedData(start_date=start), event.at)])
    return _events(account, event, found, [(EventType.OFFER_ACCEPTED, OfferData(start_date=start), event.at)])


def _events(account: str, event: BullhornEvent, found: Found, drafts: list[tuple[EventType, Any, datetime]]) -> Mapped:
    submission = found.submission or {}
    application_id = _id(submission)
    if application_id is None:
        return Mapped(ignored_reason=f"{event.entity_name} {event.entity_id}: its JobSubmission is not known")
    assumed: set[str] = set()
    candidate_id, candidate_name, candidate_email = _person(submission.get("candidate"))
    if candidate_id is None:
        return Mapped(application_id=application_id, ignored_reason=f"JobSubmission {application_id} names no candidate")
    raw_candidate = submission.get("candidate") or {}
    phone = _text(raw_candidate.get("mobile")) or _text(raw_candidate.get("phone"))
    candidate = Candidate(id=candidate_id, name=candidate_name, email=candidate_email, phone=phone)
    job_order = found.job_order or {}
    recruiter_id, recruiter_name, recruiter_email = _person(submission.get("sendingUser"))
    if recruiter_id is None:
        recruiter_id, recruiter_name, recruiter_email = _person(job_order.get("owner"))
    if recruiter_id is None:
        recruiter_id, recruiter_name, recruiter_email = f"bullhorn-{account}-unassigned", None, None
        assumed.add("recruiter")
    corporation = job_order.get("clientCorporation") or {}
    client_id = _id(corporation)
    if client_id is None:
        client_id = f"bullhorn-{account}-unknown-client"
        assumed.add("client")
    job_id = _id(job_order) or _id(submission.get("jobOrder"))
    try:
        events = [
            CanonicalEvent(
                event_id=event_id(account, event.event_id, type_, position, len(drafts)),
                type=type_,
                occurred_at=at,
                source=SOURCE,
                application_id=application_id,
                candidate=candidate,
                recruiter=Recruiter(id=recruiter_id, name=recruiter_name, email=recruiter_email),
                client=Client(id=client_id, name=_text(corporation.get("name"))),
                job=Job(id=job_id, title=_text(job_order.get("title"))) if job_id else None,
                assumed=sorted(assumed),
                data=data,
            )
            for position, (type_, data, at) in enumerate(drafts, 1)
        ]
    except ValidationError as error:
        return Mapped(application_id=application_id, ignored_reason=describe_validation_error(error, "event", limit=5))
    return Mapped(events=events, application_id=application_id)
