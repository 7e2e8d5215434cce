"""Ashby webhooks -> canonical events.

Envelope `{"webhookActionId": ..., "action": ..., "data": {...}}`, signed in `Ashby-Signature`.

Keys: Ashby fires *several* actions for one change with the same `webhookActionId` (a hire
also sends candidateStageChange and applicationUpdate). So the delivery's idempotency key is
`webhookActionId:action` (keyed on the id alone, the store would take the second sibling for a
re-delivery of the first and drop it), while event ids are derived from `webhookActionId` and
the event type alone: siblings that report the same fact (an archival seen by both
candidateStageChange and applicationUpdate) yield the same event id, and the engine applies it
once. A delivery without a `webhookActionId` (the ping has none) is keyed on its body hash.

| action | canonical |
|---|---|
| ping | ignored ("ping") |
| interviewScheduleUpdate | `data.interviewSchedule.status` Scheduled -> interview.scheduled; WaitingOnFeedback / Complete -> interview.completed; Cancelled and the rest -> ignored. Interview id: the schedule id; round: `[ashby.stage_rounds]` for its `interviewStageId` (default 1); time: the earliest `interviewEvents[].startTime`, else `updatedAt` |
| candidateStageChange | archived (application status Archived or an Archived stage) -> candidate.rejected, or candidate.withdrew when the archive reason's type is RejectedByCandidate; otherwise the stage title (or id) looked up in `[ashby.stages]`, unknown stages ignored |
| applicationUpdate | archival as above; anything else ignored (stage changes and hires have their own actions) |
| offerCreate | offer.extended (start date from `offer.latestVersion.startDate`) |
| offerUpdate | acceptanceStatus Accepted -> offer.accepted; offerStatus WaitingOnCandidateResponse -> offer.extended; otherwise ignored |
| candidateHire | offer.accepted, start date from `data.offer` when present (a hire is not the first day) |
| anything else | ignored with the reason |

Application payloads carry the candidate's name, email and phone, and the hiring team (the
member with role Recruiter is the recruiter). Interview schedules and offers carry ids only
(offers not even the candidate's): those events set `needs_enrichment`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.bounds import OneLineText
from domain.events import Candidate, ClosureData, EventType, InterviewData, Job, OfferData, Recruiter
from intake.adapters._common import (
    Delivery,
    Draft,
    LooseDate,
    Moment,
    Parties,
    VendorId,
    VendorModel,
    body_key,
    deliver,
    email_or_none,
    first,
    ignored,
    placeholder_candidate_id,
    require_object,
    stage_meaning_draft,
    text_or_none,
    validate,
)
from intake.config import IntakeConfig
from intake.signatures import verify_ashby

SOURCE = "ashby"


class _Envelope(VendorModel):
    action: OneLineText  # stored with the delivery, in its key: no NUL
    webhookActionId: OneLineText | None = None


class _Contact(VendorModel):
    value: str | None = None


class _Candidate(VendorModel):
    id: VendorId
    name: str | None = None
    primaryEmailAddress: _Contact | None = None
    primaryPhoneNumber: _Contact | None = None


class _Stage(VendorModel):
    id: VendorId | None = None
    title: str | None = None
    type: str | None = None


class _ArchiveReason(VendorModel):
    text: str | None = None
    reasonType: str | None = None


class _Job(VendorModel):
    id: VendorId
    title: str | None = None


class _Member(VendorModel):
    userId: VendorId | None = None
    firstName: str | None = None
    lastName: str | None = None
    email: str | None = None
    role: str | None = None


class _Application(VendorModel):
    id: VendorId
    status: str | None = None
    candidate: _Candidate
    currentInterviewStage: _Stage | None = None
    archiveReason: _ArchiveReason | None = None
    archivedAt: Moment | None = None
    updatedAt: Moment | None = None
    job: _Job | None = None
    hiringTeam: list[_Member] | None = None


class _Version(VendorModel):
    startDate: LooseDate = None


class _Offer(VendorModel):
    id: VendorId
    applicationId: VendorId
    acceptanceStatus: str | None = None
    offerStatus: str | None = None
    decidedAt: Moment | None = None
    latestVersion: _Version | None = None


class _HireOffer(VendorModel):
    decidedAt: Moment | None = None
    latestVersion: _Version | None = None


class _InterviewEvent(VendorModel):
    startTime: Moment | None = None


class _Schedule(VendorModel):
    id: VendorId
    status: str
    applicationId: VendorId
    interviewStageId: VendorId | None = None
    candidateId: VendorId | None = None
    interviewEvents: list[_InterviewEvent] | None = None
    updatedAt: Moment | None = None


class _ApplicationData(VendorModel):
    application: _Application


class _ApplicationBody(VendorModel):
    data: _ApplicationData


class _HireData(_ApplicationData):
    offer: _HireOffer | None = None


class _HireBody(VendorModel):
    data: _HireData


class _OfferData(VendorModel):
    offer: _Offer


class _OfferBody(VendorModel):
    data: _OfferData


class _ScheduleData(VendorModel):
    interviewSchedule: _Schedule


class _ScheduleBody(VendorModel):
    data: _ScheduleData


_SCHEDULE_STATUS = {
    "Scheduled": EventType.INTERVIEW_SCHEDULED,
    "WaitingOnFeedback": EventType.INTERVIEW_COMPLETED,
    "Complete": EventType.INTERVIEW_COMPLETED,
}


class AshbySender:
    name = "ashby"
    secret_setting = "ASHBY_WEBHOOK_SECRET"

    def __init__(self, config: IntakeConfig) -> None:
        self.config = config

    def verify(self, body: bytes, payload: Any, headers: Mapping[str, str], now: datetime) -> None:
        verify_ashby(body, headers, self.config.ashby_secrets)

    def parse(self, body: bytes, payload: Any, headers: Mapping[str, str], received_at: datetime) -> Delivery:
        require_object(payload, 'Ashby sends {"webhookActionId": ..., "action": ..., "data": {...}}')
        envelope = validate(_Envelope, payload)
        action = envelope.action
        action_id = (envelope.webhookActionId or "").strip() or body_key(body)
        key = f"{action_id}:{action}"
        match action:
            case "ping":
                return ignored(SOURCE, key, action, "ping")
            case "interviewScheduleUpdate":
                return self._schedule(key, action_id, action, validate(_ScheduleBody, payload).data.interviewSchedule, received_at)
            case "candidateStageChange":
                application = validate(_ApplicationBody, payload).data.application
                return self._stage_change(key, action_id, action, application, received_at)
            case "applicationUpdate":
                application = validate(_ApplicationBody, payload).data.application
                if _archived(application):
                    return self._closure(key, action_id, action, application, received_at)
                return ignored(
                    SOURCE, key, action, f"applicationUpdate is used for archival only; status is {application.status}", application.id
                )
            case "candidateHire":
                # A hire in the ATS is an accepted offer; the first day is candidate.started.
                data = validate(_HireBody, payload).data
                offer = data.offer or _HireOffer()
                start = offer.latestVersion.startDate if offer.latestVersion else None
                occurred = first(offer.decidedAt, data.application.updatedAt, received_at)
                draft = Draft(EventType.OFFER_ACCEPTED, OfferData(start_date=start), occurred)
                return self._deliver(key, action_id, action, self._application_parties(data.application), [draft])
            case "offerCreate" | "offerUpdate":
                return self._offer(key, action_id, action, validate(_OfferBody, payload).data.offer, received_at)
            case _:
                return ignored(SOURCE, key, action, f"action {action} is not used")

    # --- actions -----------------------------------------------------------------------------

    def _schedule(self, key: str, action_id: str, action: str, schedule: _Schedule, received_at: datetime) -> Delivery:
        type_ = _SCHEDULE_STATUS.get(schedule.status)
        if type_ is None:
            return ignored(SOURCE, key, action, f"interview schedule status {schedule.status} is not used", schedule.applicationId)
        starts = [e.startTime for e in schedule.interviewEvents or [] if e.startTime is not None]
        occurred = first(schedule.updatedAt, received_at)
        round_ = self.config.ashby_stage_rounds.get(schedule.interviewStageId or "", 1)
        data = InterviewData(interview_id=schedule.id, round=round_, at=min(starts) if starts else occurred)
        parties = Parties(
            application_id=schedule.applicationId,
            candidate=Candidate(id=schedule.candidateId or placeholder_candidate_id(schedule.applicationId)),
            recruiter=self.config.recruiter_for(SOURCE),
            client=self.config.client_for(SOURCE),
            assumed=frozenset({"recruiter"}),
        )
        return self._deliver(key, action_id, action, parties, [Draft(type_, data, occurred)])

    def _stage_change(self, key: str, action_id: str, action: str, application: _Application, received_at: datetime) -> Delivery:
        if _archived(application):
            return self._closure(key, action_id, action, application, received_at)
        stage = application.currentInterviewStage or _Stage()
        meaning = None
        for name in (stage.id, stage.title):
            if name is not None and name in self.config.ashby_stages:
                meaning = self.config.ashby_stages[name]
                break
        label = repr(stage.title or stage.id or "(unnamed)")
        if meaning is None:
            return ignored(SOURCE, key, action, f"stage {label} is not a meaning we track ([ashby.stages])", application.id)
        rounds = self.config.ashby_stage_rounds
        round_ = next((rounds[n] for n in (stage.id, stage.title) if n is not None and n in rounds), 1)
        occurred = first(application.updatedAt, received_at)
        draft = stage_meaning_draft(meaning, stage=label, interview_id=stage.id or application.id, round_=round_, at=occurred)
        if isinstance(draft, str):
            return ignored(SOURCE, key, action, draft, application.id)
        return self._deliver(key, action_id, action, self._application_parties(application), [draft])

    def _closure(self, key: str, action_id: str, action: str, application: _Application, received_at: datetime) -> Delivery:
        reason = application.archiveReason or _ArchiveReason()
        withdrew = (reason.reasonType or "").strip().lower() == "rejectedbycandidate"
        type_ = EventType.CANDIDATE_WITHDREW if withdrew else EventType.CANDIDATE_REJECTED
        occurred = first(application.archivedAt, application.updatedAt, received_at)
        draft = Draft(type_, ClosureData(reason=text_or_none(reason.text)), occurred)
        return self._deliver(key, action_id, action, self._application_parties(application), [draft])

    def _offer(self, key: str, action_id: str, action: str, offer: _Offer, received_at: datetime) -> Delivery:
        start = offer.latestVersion.startDate if offer.latestVersion else None
        if action == "offerCreate":
            type_ = EventType.OFFER_EXTENDED
        elif (offer.acceptanceStatus or "") == "Accepted":
            type_ = EventType.OFFER_ACCEPTED
        elif (offer.offerStatus or "") == "WaitingOnCandidateResponse":
            type_ = EventType.OFFER_EXTENDED
        else:
            status = offer.acceptanceStatus or offer.offerStatus
            return ignored(SOURCE, key, action, f"offer {offer.id} status {status} is not used", offer.applicationId)
        occurred = first(offer.decidedAt if type_ == EventType.OFFER_ACCEPTED else None, received_at)
        parties = Parties(
            application_id=offer.applicationId,
            candidate=Candidate(id=placeholder_candidate_id(offer.applicationId)),
            recruiter=self.config.recruiter_for(SOURCE),
            client=self.config.client_for(SOURCE),
            assumed=frozenset({"recruiter"}),
        )
        return self._deliver(key, action_id, action, parties, [Draft(type_, OfferData(start_date=start), occurred)])

    # --- helpers -----------------------------------------------------------------------------

    def _deliver(self, key: str, action_id: str, action: str, parties: Parties, drafts: list[Draft]) -> Delivery:
        return deliver(source=SOURCE, idempotency_key=key, action=action, event_key=action_id, parties=parties, drafts=drafts)

    def _application_parties(self, application: _Application) -> Parties:
        candidate = application.candidate
        recruiter = next(
            (m for m in application.hiringTeam or [] if (m.role or "").strip().lower() == "recruiter" and m.userId), None
        )
        return Parties(
            application_id=application.id,
            candidate=Candidate(
                id=candidate.id,
                name=text_or_none(candidate.name),
                email=email_or_none(candidate.primaryEmailAddress.value if candidate.primaryEmailAddress else None),
                phone=text_or_none(candidate.primaryPhoneNumber.value if candidate.primaryPhoneNumber else None),
            ),
            recruiter=(
                Recruiter(id=recruiter.userId, name=text_or_none(recruiter.firstName, recruiter.lastName), email=email_or_none(recruiter.email))
                if recruiter and recruiter.userId
                else self.config.recruiter_for(SOURCE)
            ),
            client=self.config.client_for(SOURCE),
            assumed=frozenset() if recruiter and recruiter.userId else frozenset({"recruiter"}),
            job=Job(id=application.job.id, title=text_or_none(application.job.title)) if application.job else None,
        )


def _archived(application: _Application) -> bool:
    stage_type = application.currentInterviewStage.type if application.currentInterviewStage else None
    return (application.status or "") == "Archived" or (stage_type or "") == "Archived"
