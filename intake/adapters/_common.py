"""What every sender shares: the Delivery it returns, its errors, and the helpers that turn a
vendor payload into valid canonical events.

Vendor payloads are validated with pydantic models of *only the fields we use* (extra fields are
ignored: vendors add fields all the time), so a `PayloadError` names exactly what is wrong, with
the path as the vendor's documentation spells it ("payload.application.id: Field required").
Optional contact details that do not fit the canonical shape (an email address the ATS let
through malformed) are dropped rather than refusing the whole delivery: a refused delivery is
retried and finally lost, a missing email is filled in by enrichment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from domain.bounds import RANGE_TEXT, check_date, check_moment, strip_control
from domain.errors import describe_validation_error
from domain.events import (
    Candidate,
    CanonicalEvent,
    Client,
    ClosureData,
    Email,
    EventType,
    InterviewData,
    Interviewer,
    Job,
    NoData,
    OfferData,
    Recruiter,
    StartedData,
)

__all__ = [
    "Delivery",
    "Lookup",
    "Draft",
    "PayloadError",
    "Sender",
    "VendorModel",
]

MAX_KEY_LENGTH = 200
IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:@-]{1,128}$"


class PayloadError(ValueError):
    """The body is JSON but does not fit the vendor's schema; the message names the field(s).
    Safe to show the sender (HTTP 400)."""


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery, mapped. Store it under (source, idempotency_key): a re-delivery has
    the same key and, being mapped the same way, the same event ids."""

    source: str  # "greenhouse" | "lever" | "ashby" | "api"
    idempotency_key: str
    action: str  # the vendor's action / event name; "canonical" for /events
    events: list[CanonicalEvent] = field(default_factory=list)  # in order; empty when ignored
    ignored_reason: str | None = None  # set when nothing in the delivery is used
    # f"{source}:{application_id}", the process the events go to: deliveries with the same key
    # are forwarded in order. None for pings and for an /events batch spanning applications.
    application_key: str | None = None
    # The payload lacked details the process needs (names, emails; with an offer, even the
    # candidate id, then a placeholder from `placeholder_candidate_id`): look them up in the
    # ATS before forwarding.
    needs_enrichment: bool = False
    # A stage the deployment's map (config/intake.toml) does not cover: the delivery was still
    # mapped (a round left to the process, or ignored), and the intake logs and counts it so an
    # operator adds the stage (`postinterview intake check-config`). The stage's name, else its id.
    unmapped_stage: str | None = None
    # What the delivery lacks and the vendor's API holds (a Lever interview's time): with a
    # lookup configured, the intake asks for it and maps the delivery again with the answer
    # (`Lookup.merge`); without one, the delivery stays as mapped (ignored, saying why).
    lookup: Lookup | None = None
    # The ATS asks for the candidate to be erased (Greenhouse's delete_candidate,
    # candidate_anonymized): stored as one erasure request instead of events, which the
    # forwarder carries out (privacy/erasure.py). {"source", "candidate_id", "application_ids", "via"}.
    erasure: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Lookup:
    """One thing to read from a vendor's API before a delivery can be mapped."""

    kind: str  # "lever_interview"
    ids: tuple[str, ...]  # (opportunity id, interview id)
    what: str  # what is looked up, for the reason when the vendor no longer has it: "interview 5a4b..."
    # (the payload, what the API answered) -> the payload to map instead.
    merge: Callable[[Any, Mapping[str, Any]], Any]


class Sender(Protocol):
    name: str  # the URL segment: greenhouse, lever, ashby, events
    secret_setting: str  # GREENHOUSE_WEBHOOK_SECRET, LEVER_WEBHOOK_SIGNATURE_TOKEN, ...

    def verify(self, body: bytes, payload: Any, headers: Mapping[str, str], now: datetime) -> None:
        """Raise SignatureError unless the delivery is signed by the configured sender."""
        ...

    def parse(self, body: bytes, payload: Any, headers: Mapping[str, str], received_at: datetime) -> Delivery:
        """Map the (verified) delivery; raise PayloadError when it does not fit the schema."""
        ...


# --- vendor models ---------------------------------------------------------------------------


class VendorModel(BaseModel):
    """Only the fields we use; anything else the vendor sends is ignored."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


def _id_text(value: Any) -> Any:
    # Greenhouse ids are integers, Lever and Ashby ids strings: canonical ids are strings.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _bounded_moment(moment: datetime) -> datetime:
    # The engine's range (domain.bounds): a placeholder year (0001, 9999) is a 400 naming the
    # vendor's field, never a time a process would compute with.
    return check_moment(_aware(moment))


_LAST_MS = 253402300799999  # 9999-12-31T23:59:59.999Z


def _from_millis(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected milliseconds since the epoch")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if not 0 <= value <= _LAST_MS:
            raise ValueError(f"milliseconds since the epoch out of range: a time must be {RANGE_TEXT}")
        return check_moment(datetime.fromtimestamp(value / 1000, UTC))
    raise ValueError("expected milliseconds since the epoch")


def _loose_date(value: Any) -> Any:
    """Vendors write dates several ways: 2026-01-15, 2026-01-15T00:00:00Z, 01/15/2026 (Greenhouse)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10 and text[2] == "/" and text[5] == "/":
                month, day, year = text.split("/")
                parsed = date(int(year), int(month), int(day))
            elif len(text) > 10 and text[10] in "Tt ":
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")).date()
            else:
                parsed = date.fromisoformat(text)
        except ValueError:
            pass
        else:
            return check_date(parsed)
    raise ValueError("expected a date such as 2026-01-15 or 01/15/2026")


VendorId = Annotated[str, BeforeValidator(_id_text), StringConstraints(pattern=IDENTIFIER_PATTERN)]
Moment = Annotated[datetime, AfterValidator(_bounded_moment)]
EpochMillis = Annotated[datetime, BeforeValidator(_from_millis)]
LooseDate = Annotated[date | None, BeforeValidator(_loose_date)]

M = TypeVar("M", bound=BaseModel)


def problems(error: ValidationError, prefix: str = "") -> str:
    """The first ten problems, `prefix.path: message` (the whole body: `body`), and how many more."""
    return describe_validation_error(error, "body", prefix=prefix, limit=10)


def validate(model: type[M], payload: Any) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise PayloadError(problems(error)) from None


def require_object(payload: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise PayloadError(f"body: expected a JSON object ({what})")
    return payload


# --- people ----------------------------------------------------------------------------------

_EMAIL: TypeAdapter[str] = TypeAdapter(Email)


def email_or_none(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return _EMAIL.validate_python(value.strip())
    except ValidationError:
        return None


def text_or_none(*parts: str | None) -> str | None:
    """One line of text from a vendor's parts (first and last name, a title), control
    characters replaced by spaces: a stray NUL in a name must not cost the whole delivery."""
    cleaned = (" ".join(strip_control(p).split()) for p in parts if isinstance(p, str))
    joined = " ".join(part for part in cleaned if part)
    return joined or None


_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)])


def panel(members: list[tuple[Any, str | None, str | None]]) -> list[Interviewer]:
    """The interviewers a delivery names, as (id, name, email): an id that is no identifier or a
    malformed email is dropped rather than the delivery refused; nobody named twice; at most 50."""
    seen: set[tuple[str | None, str | None, str | None]] = set()
    result: list[Interviewer] = []
    for raw_id, name, email in members:
        try:
            identifier = _IDENTIFIER.validate_python(_id_text(raw_id)) if raw_id is not None else None
        except ValidationError:
            identifier = None
        person = (identifier, text_or_none(name), email_or_none(email))
        if person == (None, None, None) or person in seen:
            continue
        seen.add(person)
        result.append(Interviewer(id=person[0], name=person[1], email=person[2]))
    return result[:50]


def placeholder_candidate_id(application_id: str) -> str:
    """For payloads that name only the application (offers): enrichment replaces it."""
    candidate = f"unknown-candidate-{application_id}"
    return candidate if len(candidate) <= 128 else f"unknown-candidate-{hashlib.sha256(application_id.encode()).hexdigest()}"


def is_placeholder(candidate: Candidate) -> bool:
    return candidate.id.startswith("unknown-candidate-")


# --- keys and ids ----------------------------------------------------------------------------


def body_key(body: bytes) -> str:
    """When a sender omits its delivery id, a retry still sends the same bytes."""
    return "sha256:" + hashlib.sha256(bytes(body)).hexdigest()


def bounded_key(key: str) -> str:
    return key if len(key) <= MAX_KEY_LENGTH else "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def event_id(source: str, key: str, type_: EventType, position: int, count: int) -> str:
    """Deterministic: the same delivery maps to the same ids. `{source}:{key}:{type}`, and the
    event's 1-based position appended when one delivery yields several events."""
    suffix = f":{type_.value}" + (f":{position}" if count > 1 else "")
    base = f"{source}:{key}"
    if len(base) + len(suffix) > MAX_KEY_LENGTH:
        base = f"{source}:sha256-{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}"
    return base + suffix


# --- canonical events ------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """One canonical event before ids are assigned."""

    type: EventType
    data: BaseModel
    occurred_at: datetime


@dataclass(frozen=True)
class Parties:
    application_id: str
    candidate: Candidate
    recruiter: Recruiter
    client: Client
    job: Job | None = None
    # Parties filled with a configured default because the payload named none.
    assumed: frozenset[str] = frozenset()


def deliver(
    *,
    source: str,
    idempotency_key: str,
    action: str,
    event_key: str,
    parties: Parties,
    drafts: list[Draft],
    ignored_reason: str | None = None,
    needs_enrichment: bool | None = None,
    unmapped_stage: str | None = None,
) -> Delivery:
    """Turn drafts into validated canonical events; no drafts means an ignored delivery."""
    events: list[CanonicalEvent] = []
    for position, draft in enumerate(drafts, 1):
        try:
            events.append(
                CanonicalEvent(
                    event_id=event_id(source, event_key, draft.type, position, len(drafts)),
                    type=draft.type,
                    occurred_at=_aware(draft.occurred_at),
                    source=source,
                    application_id=parties.application_id,
                    candidate=parties.candidate,
                    recruiter=parties.recruiter,
                    client=parties.client,
                    job=parties.job,
                    assumed=sorted(parties.assumed | ({"candidate"} if is_placeholder(parties.candidate) else set())),
                    data=draft.data,
                )
            )
        except ValidationError as error:
            raise PayloadError(problems(error, "event")) from None
    if not events and not ignored_reason:
        ignored_reason = f"action {action} carries nothing the process uses"
    if needs_enrichment is None:
        needs_enrichment = bool(events) and (
            is_placeholder(parties.candidate) or parties.candidate.name is None or parties.candidate.email is None
        )
    return Delivery(
        source=source,
        idempotency_key=bounded_key(idempotency_key),
        action=action,
        events=events,
        ignored_reason=None if events else ignored_reason,
        application_key=f"{source}:{parties.application_id}",
        needs_enrichment=needs_enrichment,
        unmapped_stage=unmapped_stage,
    )


def ignored(
    source: str, idempotency_key: str, action: str, reason: str, application_id: str | None = None, unmapped_stage: str | None = None
) -> Delivery:
    return Delivery(
        source=source,
        idempotency_key=bounded_key(idempotency_key),
        action=action,
        events=[],
        ignored_reason=reason,
        application_key=f"{source}:{application_id}" if application_id else None,
        unmapped_stage=unmapped_stage,
    )


def erasure_request(source: str, idempotency_key: str, action: str, candidate_id: str, application_ids: list[str]) -> Delivery:
    """The ATS asks for a candidate's erasure: one pending delivery whose only item is the request."""
    return Delivery(
        source=source,
        idempotency_key=bounded_key(idempotency_key),
        action=action,
        events=[],
        erasure={"source": source, "candidate_id": candidate_id, "application_ids": sorted(set(application_ids)), "via": f"{source}:{action}"},
    )


def at_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), UTC)


def first(*moments: datetime | None) -> datetime:
    """The first known moment (the last argument is always received_at)."""
    for moment in moments:
        if moment is not None:
            return _aware(moment)
    raise AssertionError("received_at is always known")


def stage_meaning_draft(
    meaning: str, *, stage: str, interview_id: str, round_: int | None, at: datetime, reason: str | None = None
) -> Draft | str:
    """A configured stage meaning -> the draft it stands for, or the reason it yields nothing."""
    match meaning:
        case "interview_scheduled" | "interview_completed":
            type_ = EventType.INTERVIEW_SCHEDULED if meaning == "interview_scheduled" else EventType.INTERVIEW_COMPLETED
            return Draft(type_, InterviewData(interview_id=interview_id, round=round_, at=_aware(at)), at)
        case "client_feedback":
            return Draft(EventType.CLIENT_FEEDBACK_REQUESTED, NoData(), at)
        case "offer":
            return Draft(EventType.OFFER_EXTENDED, OfferData(), at)
        case "hired":
            # A hire in the ATS is an accepted offer, not the first day (process model, duty 2).
            return Draft(EventType.OFFER_ACCEPTED, OfferData(), at)
        case "contract":
            return Draft(EventType.CONTRACT_SIGNED, NoData(), at)
        case "vetting":
            return Draft(EventType.VETTING_PASSED, NoData(), at)
        case "started":
            return Draft(EventType.CANDIDATE_STARTED, StartedData(), at)
        case "rejected":
            return Draft(EventType.CANDIDATE_REJECTED, ClosureData(reason=reason or f"moved to stage {stage}"), at)
        case "withdrew":
            return Draft(EventType.CANDIDATE_WITHDREW, ClosureData(reason=reason or f"moved to stage {stage}"), at)
        case "references":
            return (
                f"stage {stage} means references, but a stage change does not name the referees: "
                "send references.requested to /events"
            )
        case _:
            return f"stage {stage} is configured to be ignored"
