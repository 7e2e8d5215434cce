"""Greenhouse web hooks -> canonical events.

Envelope `{"action": ..., "payload": {...}}`, signed in the `Signature` header (an HMAC of the
body, and of nothing else). The idempotency key is the body's SHA-256 digest: Greenhouse's
retries resend identical bytes, so a retry is a duplicate, and so is the same signed body
replayed under a fresh `Greenhouse-Event-ID`, a header the signature does not cover (keyed on
the header, one captured delivery could be replayed without limit, each time a new delivery).

| action | canonical |
|---|---|
| candidate_stage_change, application_updated | per interview of `application.current_stage.interviews[]`: `scheduled` with a `start` -> interview.scheduled (its `end` as `ends_at`, its interviewers as the panel); `awaiting_feedback` / `complete` -> interview.completed (Greenhouse says it happened); other statuses (to_be_scheduled, collect_feedback, skipped, ...) and a `scheduled` one without a time yield nothing |
| offer_created / offer_updated | `offer_status` Created and sent (`sent_on`) -> offer.extended; Created, not sent -> ignored (draft); Accepted -> offer.accepted; Rejected / Deprecated -> ignored |
| hire_candidate | offer.accepted, start date `application.offer.starts_at` |
| reject_candidate | candidate.rejected (candidate.withdrew when the rejection reason's type is configured as a withdrawal, by default Greenhouse's "They rejected us") |
| unreject_candidate, unhire_candidate | application.reopened: the rejection (or hire) was taken back |
| any of the above for a prospect (`application.prospect: true`), new_prospect_application | ignored: a prospect is not an applicant, no process starts for one |
| delete_candidate (`payload.person.id`, `deleted_application_ids`), candidate_anonymized (`payload.candidate_id`) | an erasure request, no canonical event: the intake stores it (the candidate's id and applications only) and its forwarder erases the candidate (privacy/erasure.py; README "Privacy"). An anonymisation of any fields counts as erasure: what the engine keeps is the candidate's follow-through, which is theirs whatever fields Greenhouse blanked |
| anything else (ping, new_candidate_application, interview_deleted, merge_candidate, ...) | ignored with the reason |

The candidate's `can_email: false` or `is_private: true` becomes `candidate.can_email = false`:
no message goes to them, the recruiter's tasks still do.

Interview round: Greenhouse says nothing about rounds. In a stage listed in
`[greenhouse.stage_rounds]` an interview's round is its 1-based position among its stage's
interviews (all of them, whatever their status, so the number stays put while statuses change)
plus the stage's first round (`"Face to Face" = 2` makes that stage's first interview round 2).
In a stage not listed the round is left out (the process numbers interviews in the order they
take place) and the delivery reports the stage as unmapped (log, metric, `intake check-config`),
never guessing round 1.

Interview id: the stage's interview's `id` is its interview step (Harvest's job stages list the
same), which Harvest's scheduled interview names as `interview.id`: the interview poller reports
its events under that id too (activities/ats_api/greenhouse_harvest.py), so an interview both
report is one interview in the process.

Interview time: the stage-change payload documents no interview time. We take `start.date_time`
(or `start.date`) and `end` when an interview carries them (the shape of Greenhouse's
scheduled-interview object). A scheduled interview without a time yields nothing (the Harvest
poll of `/v1/scheduled_interviews` reports it with its time); a completed one without a time
takes the application's `last_activity_at`, else the time we received the delivery.

Offers are flat (`id, application_id, job_id, version, start_date, offer_status`): they do not
name the candidate or recruiter, so their events carry a placeholder candidate id and the
default recruiter, and `needs_enrichment` is set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from domain.bounds import OneLineText
from domain.events import Candidate, ClosureData, EventType, InterviewData, Job, OfferData, Recruiter, ReopenedData
from intake.adapters._common import (
    Delivery,
    Draft,
    LooseDate,
    Moment,
    Parties,
    PayloadError,
    VendorId,
    VendorModel,
    at_midnight,
    body_key,
    deliver,
    email_or_none,
    erasure_request,
    first,
    ignored,
    panel,
    placeholder_candidate_id,
    require_object,
    text_or_none,
    validate,
)
from intake.config import IntakeConfig
from intake.signatures import verify_greenhouse

SOURCE = "greenhouse"


# --- the payload, only the fields we use -----------------------------------------------------


class _Value(VendorModel):
    value: str | None = None
    type: str | None = None


class _User(VendorModel):
    id: VendorId
    name: str | None = None
    email: str | None = None


class _Candidate(VendorModel):
    id: VendorId
    first_name: str | None = None
    last_name: str | None = None
    email_addresses: list[_Value] | None = None
    phone_numbers: list[_Value] | None = None
    recruiter: _User | None = None
    can_email: bool | None = None
    is_private: bool | None = None


class _Interviewer(VendorModel):
    id: Any = None
    display_name: str | None = None
    name: str | None = None
    email: str | None = None


class _Time(VendorModel):
    date_time: Moment | None = None
    date: LooseDate = None


class _Interview(VendorModel):
    id: VendorId
    name: str | None = None
    status: str | None = None
    start: _Time | None = None
    end: _Time | None = None
    interviewers: list[_Interviewer] | None = None


class _Stage(VendorModel):
    id: VendorId | None = None
    name: str | None = None
    interviews: list[_Interview] | None = None


class _Job(VendorModel):
    id: VendorId
    name: str | None = None


class _ReasonType(VendorModel):
    name: str | None = None


class _RejectionReason(VendorModel):
    name: str | None = None
    type: _ReasonType | None = None


class _HireOffer(VendorModel):
    starts_at: LooseDate = None
    resolved_at: Moment | None = None


class _Application(VendorModel):
    id: VendorId
    prospect: bool | None = None
    status: str | None = None
    last_activity_at: Moment | None = None
    rejected_at: Moment | None = None
    candidate: _Candidate | None = None
    current_stage: _Stage | None = None
    jobs: list[_Job] | None = None
    job: _Job | None = None
    rejection_reason: _RejectionReason | None = None
    offer: _HireOffer | None = None


class _ApplicationPayload(VendorModel):
    application: _Application
    candidate: _Candidate | None = None  # some deliveries put the candidate beside the application


class _ApplicationBody(VendorModel):
    action: str
    payload: _ApplicationPayload


class _Offer(VendorModel):
    id: VendorId
    application_id: VendorId
    job_id: VendorId | None = None
    version: int | None = None
    sent_on: LooseDate = None
    resolved_at: Moment | None = None
    start_date: LooseDate = None
    offer_status: str | None = None


class _OfferBody(VendorModel):
    action: str
    payload: _Offer


class _DeletedPerson(VendorModel):
    id: VendorId
    deleted_application_ids: list[VendorId] | None = None


class _DeletePayload(VendorModel):
    person: _DeletedPerson


class _DeleteBody(VendorModel):
    action: str
    payload: _DeletePayload


class _AnonymizedPayload(VendorModel):
    candidate_id: VendorId


class _AnonymizedBody(VendorModel):
    action: str
    payload: _AnonymizedPayload


class _Envelope(VendorModel):
    action: OneLineText | None = None  # stored with the delivery: no NUL


# --- the sender ------------------------------------------------------------------------------

_INTERVIEW_STATUS = {
    "scheduled": EventType.INTERVIEW_SCHEDULED,
    "awaiting_feedback": EventType.INTERVIEW_COMPLETED,
    "complete": EventType.INTERVIEW_COMPLETED,
}


class GreenhouseSender:
    name = "greenhouse"
    secret_setting = "GREENHOUSE_WEBHOOK_SECRET"

    def __init__(self, config: IntakeConfig) -> None:
        self.config = config

    def verify(self, body: bytes, payload: Any, headers: Mapping[str, str], now: datetime) -> None:
        verify_greenhouse(body, headers, self.config.greenhouse_secrets)

    def parse(self, body: bytes, payload: Any, headers: Mapping[str, str], received_at: datetime) -> Delivery:
        require_object(payload, 'Greenhouse sends {"action": ..., "payload": {...}}')
        # What is signed is the body: key on it, not on the unsigned Greenhouse-Event-ID.
        key = body_key(body)
        action = validate(_Envelope, payload).action
        if action is None:
            # Greenhouse pings a new web hook with an undocumented payload: acknowledge it.
            return ignored(SOURCE, key, "ping", "no action: taken as Greenhouse's ping")
        match action:
            case "candidate_stage_change" | "application_updated":
                return self._applicant(key, validate(_ApplicationBody, payload), received_at, self._stage_change)
            case "hire_candidate":
                return self._applicant(key, validate(_ApplicationBody, payload), received_at, self._hire)
            case "reject_candidate":
                return self._applicant(key, validate(_ApplicationBody, payload), received_at, self._reject)
            case "unreject_candidate" | "unhire_candidate":
                return self._applicant(key, validate(_ApplicationBody, payload), received_at, self._reopen)
            case "new_prospect_application":
                return ignored(SOURCE, key, action, "a prospect, not an applicant: no process starts for one")
            case "offer_created" | "offer_updated":
                return self._offer(key, validate(_OfferBody, payload), received_at)
            case "delete_candidate":
                person = validate(_DeleteBody, payload).payload.person
                return erasure_request(SOURCE, key, action, person.id, list(person.deleted_application_ids or []))
            case "candidate_anonymized":
                candidate_id = validate(_AnonymizedBody, payload).payload.candidate_id
                return erasure_request(SOURCE, key, action, candidate_id, [])
            case "ping":
                return ignored(SOURCE, key, action, "ping")
            case _:
                return ignored(SOURCE, key, action, f"action {action} is not used")

    # --- actions -----------------------------------------------------------------------------

    def _applicant(self, key: str, body: _ApplicationBody, received_at: datetime, action: Callable[[str, _ApplicationBody, datetime], Delivery]) -> Delivery:
        # A prospect (a sourced lead, not an applicant) never starts a process, whatever happens
        # to them: rejecting 200 prospects must not give a recruiter 400 tasks.
        if body.payload.application.prospect:
            return ignored(SOURCE, key, body.action, "a prospect, not an applicant: no process starts for one", body.payload.application.id)
        return action(key, body, received_at)

    def _stage_change(self, key: str, body: _ApplicationBody, received_at: datetime) -> Delivery:
        application = body.payload.application
        stage = application.current_stage or _Stage()
        stage_label = repr(stage.name or stage.id or "(unnamed)")
        base = self._first_round(stage)
        fallback = first(application.last_activity_at, received_at)
        drafts = []
        untimed = 0
        for position, interview in enumerate(stage.interviews or [], 1):
            type_ = _INTERVIEW_STATUS.get((interview.status or "").strip().lower())
            if type_ is None:
                continue
            start = _interview_time(interview.start)
            if type_ == EventType.INTERVIEW_SCHEDULED and start is None:
                # A booking without a time cannot be prepared for nor taken as over: the Harvest
                # poll reports it with its time.
                untimed += 1
                continue
            at = start or fallback
            end = _interview_time(interview.end)
            data = InterviewData(
                interview_id=interview.id,
                round=None if base is None else base + position - 1,
                at=at,
                ends_at=end if end is not None and end >= at else None,
                interviewers=panel([(i.id, i.display_name or i.name, i.email) for i in interview.interviewers or []]),
            )
            drafts.append(Draft(type_, data, fallback))
        reason = f"stage {stage_label} has no scheduled or completed interview"
        if untimed:
            reason += f" with a time ({untimed} scheduled without one: the Harvest poll reports those)"
        return deliver(
            source=SOURCE,
            idempotency_key=key,
            action=body.action,
            event_key=key,
            parties=self._parties(body),
            drafts=drafts,
            ignored_reason=reason,
            unmapped_stage=(stage.name or stage.id) if drafts and base is None else None,
        )

    def _reopen(self, key: str, body: _ApplicationBody, received_at: datetime) -> Delivery:
        application = body.payload.application
        what = "the hire was undone" if body.action == "unhire_candidate" else "the rejection was taken back"
        draft = Draft(EventType.APPLICATION_REOPENED, ReopenedData(reason=f"Greenhouse: {what}"), first(application.last_activity_at, received_at))
        return deliver(source=SOURCE, idempotency_key=key, action=body.action, event_key=key, parties=self._parties(body), drafts=[draft])

    def _hire(self, key: str, body: _ApplicationBody, received_at: datetime) -> Delivery:
        # A hire in Greenhouse ("Accept Offer") is an accepted offer, not the first day: the
        # process model says the role is not the candidate's until they have walked in, so this
        # maps to offer.accepted, and candidate.started comes from whoever confirms the start.
        application = body.payload.application
        offer = application.offer or _HireOffer()
        occurred = first(offer.resolved_at, application.last_activity_at, received_at)
        draft = Draft(EventType.OFFER_ACCEPTED, OfferData(start_date=offer.starts_at), occurred)
        return deliver(source=SOURCE, idempotency_key=key, action=body.action, event_key=key, parties=self._parties(body), drafts=[draft])

    def _reject(self, key: str, body: _ApplicationBody, received_at: datetime) -> Delivery:
        application = body.payload.application
        reason = application.rejection_reason or _RejectionReason()
        reason_type = (reason.type.name if reason.type else None) or ""
        withdrew = reason_type.strip().lower() in {t.strip().lower() for t in self.config.greenhouse_withdrawal_reason_types}
        text = text_or_none(reason.name) if not reason_type else text_or_none(f"{reason.name or reason_type} ({reason_type})")
        type_ = EventType.CANDIDATE_WITHDREW if withdrew else EventType.CANDIDATE_REJECTED
        occurred = first(application.rejected_at, application.last_activity_at, received_at)
        draft = Draft(type_, ClosureData(reason=text), occurred)
        return deliver(source=SOURCE, idempotency_key=key, action=body.action, event_key=key, parties=self._parties(body), drafts=[draft])

    def _offer(self, key: str, body: _OfferBody, received_at: datetime) -> Delivery:
        offer = body.payload
        status = (offer.offer_status or "").strip().lower()
        label = f"offer {offer.id}" + (f" version {offer.version}" if offer.version is not None else "")
        data = OfferData(start_date=offer.start_date)
        match status:
            case "accepted":
                drafts = [Draft(EventType.OFFER_ACCEPTED, data, first(offer.resolved_at, received_at))]
            case "created" if offer.sent_on is not None:
                drafts = [Draft(EventType.OFFER_EXTENDED, data, received_at)]
            case "created":
                return ignored(SOURCE, key, body.action, f"{label} is a draft: not sent to the candidate yet", offer.application_id)
            case "rejected":
                return ignored(
                    SOURCE, key, body.action, f"{label} was declined: the application's rejection closes the process", offer.application_id
                )
            case "deprecated":
                return ignored(SOURCE, key, body.action, f"{label} was superseded by a new version", offer.application_id)
            case _:
                return ignored(SOURCE, key, body.action, f"{label} has status {offer.offer_status!r}, which is not used", offer.application_id)
        parties = Parties(
            application_id=offer.application_id,
            candidate=Candidate(id=placeholder_candidate_id(offer.application_id)),
            recruiter=self.config.recruiter_for(SOURCE),
            client=self.config.client_for(SOURCE),
            assumed=frozenset({"recruiter"}),
            job=Job(id=offer.job_id) if offer.job_id else None,
        )
        return deliver(source=SOURCE, idempotency_key=key, action=body.action, event_key=key, parties=parties, drafts=drafts)

    # --- helpers -----------------------------------------------------------------------------

    def _first_round(self, stage: _Stage) -> int | None:
        """The round of the stage's first interview, or None when the stage is not configured."""
        rounds = self.config.greenhouse_stage_rounds
        for name in (stage.name, stage.id):
            if name is not None and name in rounds:
                return rounds[name]
        return None

    def _parties(self, body: _ApplicationBody) -> Parties:
        application = body.payload.application
        candidate = application.candidate or body.payload.candidate
        if candidate is None:
            raise PayloadError("payload.application.candidate: Field required")
        jobs = application.jobs or ([application.job] if application.job else [])
        return Parties(
            application_id=application.id,
            candidate=Candidate(
                id=candidate.id,
                name=text_or_none(candidate.first_name, candidate.last_name),
                email=_primary_email(candidate.email_addresses or []),
                phone=next((phone for p in candidate.phone_numbers or [] if (phone := text_or_none(p.value))), None),
                can_email=_can_email(candidate),
            ),
            recruiter=_recruiter(candidate.recruiter) if candidate.recruiter else self.config.recruiter_for(SOURCE),
            client=self.config.client_for(SOURCE),
            assumed=frozenset() if candidate.recruiter else frozenset({"recruiter"}),
            job=Job(id=jobs[0].id, title=text_or_none(jobs[0].name)) if jobs else None,
        )


def _primary_email(addresses: list[_Value]) -> str | None:
    # Greenhouse marks no address primary: prefer a personal one (the candidate's own inbox).
    ordered = sorted(addresses, key=lambda a: (a.type or "").strip().lower() != "personal")
    return next((e for e in (email_or_none(a.value) for a in ordered) if e), None)


def _recruiter(user: _User) -> Recruiter:
    return Recruiter(id=user.id, name=text_or_none(user.name), email=email_or_none(user.email))


def _can_email(candidate: _Candidate) -> bool | None:
    # Greenhouse's "do not email" flag, and a private candidate, both mean: no message to them.
    if candidate.can_email is False or candidate.is_private is True:
        return False
    return True if candidate.can_email is True else None


def _interview_time(moment: _Time | None) -> datetime | None:
    if moment is None:
        return None
    if moment.date_time is not None:
        return moment.date_time
    day: date | None = moment.date
    return at_midnight(day) if day else None
