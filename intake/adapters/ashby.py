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
| interviewScheduleCreate | interview.scheduled (the schedule's status Scheduled; WaitingOnFeedback / Complete -> interview.completed) |
| interviewScheduleUpdate | `data.interviewSchedule.status` Scheduled -> interview.rescheduled (with the times as they now are; the sibling of a create carries the same times); Cancelled -> interview.cancelled; WaitingOnFeedback / Complete -> interview.completed (Ashby says it happened); the rest -> ignored |
| (both) | interview id: the schedule id; round: `[ashby.stage_rounds]` for its `interviewStageId`, else left to the process (which numbers interviews in the order they take place) and the stage reported as unmapped (log, metric); time: the earliest `interviewEvents[].startTime`, else `updatedAt`; end: the latest `endTime`; panel: the events' interviewers |
| candidateStageChange | archived (application status Archived or an Archived stage) -> candidate.rejected, or candidate.withdrew when the archive reason's type is RejectedByCandidate; otherwise the stage title (or id) looked up in `[ashby.stages]`, unknown stages ignored |
| applicationUpdate | archival as above; anything else ignored (stage changes and hires have their own actions) |
| offerCreate, offerUpdate | acceptanceStatus Accepted -> offer.accepted; offerStatus WaitingOnCandidateResponse (sent, the candidate to answer) -> offer.extended, start date from `offer.latestVersion.startDate`; still waiting for internal approval (WaitingOnApprovalStart, WaitingOnOfferApproval, WaitingOnApprovalDefinition, ...) -> ignored until it is sent; other statuses -> ignored. An offerCreate without a status (an older payload) -> offer.extended |
| candidateHire | offer.accepted, start date from `data.offer` when present (a hire is not the first day) |
| anything else (applicationSubmit, candidateDelete, ...) | ignored with the reason |

Not done: Ashby un-archive. Ashby sends no event for it, and an applicationUpdate or
candidateStageChange of an active application does not say that it was archived before, so
application.reopened cannot be told from any other update.

Application payloads carry the candidate's name, email and phone, and the hiring team (the
member with role Recruiter is the recruiter). Interview schedules and offers carry ids only
(offers not even the candidate's): those events set `needs_enrichment`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.bounds import OneLineText
from domain.events import Candidate, ClosureData, EventType, InterviewCancelledData, InterviewData, Interviewer, Job, OfferData, Recruiter
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
    panel,
    placeholder_candidate_id,
    require_object,
    stage_meaning_draft,
    text_or_none,
    validate,
)
from intake.config import IntakeConfig
from intake.names import VendorNames
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


class _AshbyInterviewer(VendorModel):
    id: Any = None
    firstName: str | None = None
    lastName: str | None = None
    email: str | None = None


class _InterviewEvent(VendorModel):
    startTime: Moment | None = None
    endTime: Moment | None = None
    interviewerUserIds: list[Any] | None = None
    interviewers: list[_AshbyInterviewer] | None = None


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


# Ashby's offer statuses before the offer reaches the candidate (approvals inside the firm).
_APPROVAL_STATUSES = frozenset({"WaitingOnApprovalStart", "WaitingOnOfferApproval", "WaitingOnApprovalDefinition", "WaitingOnApprovals"})

_SCHEDULE_STATUS = {
    "Scheduled": EventType.INTERVIEW_SCHEDULED,
    "WaitingOnFeedback": EventType.INTERVIEW_COMPLETED,
    "Complete": EventType.INTERVIEW_COMPLETED,
}


class AshbySender:
    name = "ashby"
    secret_setting = "ASHBY_WEBHOOK_SECRET"

    def __init__(self, config: IntakeConfig, names: VendorNames | None = None) -> None:
        self.config = config
        self.names = names or VendorNames()

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
            case "interviewScheduleCreate" | "interviewScheduleUpdate":
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
        occurred = first(schedule.updatedAt, received_at)
        parties = Parties(
            application_id=schedule.applicationId,
            candidate=Candidate(id=schedule.candidateId or placeholder_candidate_id(schedule.applicationId)),
            recruiter=self.config.recruiter_for(SOURCE),
            client=self.config.client_for(SOURCE),
            assumed=frozenset({"recruiter"}),
        )
        if schedule.status == "Cancelled":
            cancelled = InterviewCancelledData(interview_id=schedule.id, reason="cancelled in Ashby")
            return self._deliver(key, action_id, action, parties, [Draft(EventType.INTERVIEW_CANCELLED, cancelled, occurred)])
        type_ = _SCHEDULE_STATUS.get(schedule.status)
        if type_ is None:
            return ignored(SOURCE, key, action, f"interview schedule status {schedule.status} is not used", schedule.applicationId)
        if type_ == EventType.INTERVIEW_SCHEDULED and action == "interviewScheduleUpdate":
            type_ = EventType.INTERVIEW_RESCHEDULED
        events = schedule.interviewEvents or []
        starts = [e.startTime for e in events if e.startTime is not None]
        ends = [e.endTime for e in events if e.endTime is not None]
        at = min(starts) if starts else occurred
        end = max(ends) if ends else None
        stage_id = schedule.interviewStageId
        round_ = self.config.ashby_stage_rounds.get(stage_id or "")
        unmapped = None
        if round_ is None and stage_id:
            stage_name = self.names.name(SOURCE, "stages", stage_id)
            round_ = self.config.ashby_stage_rounds.get(stage_name or "")
            unmapped = None if round_ is not None else (stage_name or stage_id)
        members: list[tuple[Any, str | None, str | None]] = []
        for event in events:
            members += [(i.id, text_or_none(i.firstName, i.lastName), i.email) for i in event.interviewers or []]
            members += [(user_id, None, None) for user_id in event.interviewerUserIds or []]
        data = InterviewData(
            interview_id=schedule.id,
            round=round_,
            at=at,
            ends_at=end if end is not None and end >= at else None,
            interviewers=_one_per_id(panel(members)),
        )
        return self._deliver(key, action_id, action, parties, [Draft(type_, data, occurred)], unmapped_stage=unmapped)

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
        round_ = next((rounds[n] for n in (stage.id, stage.title) if n is not None and n in rounds), None)
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
        status = offer.offerStatus or ""
        if (offer.acceptanceStatus or "") == "Accepted":
            type_ = EventType.OFFER_ACCEPTED
        elif status == "WaitingOnCandidateResponse" or (action == "offerCreate" and not status):
            type_ = EventType.OFFER_EXTENDED
        elif status.startswith("WaitingOnApproval") or status in _APPROVAL_STATUSES:
            # Still inside the firm: the candidate has no offer until it is sent (offerUpdate then
            # says WaitingOnCandidateResponse).
            return ignored(SOURCE, key, action, f"offer {offer.id} waits for internal approval ({status}): not sent to the candidate yet", offer.applicationId)
        else:
            shown = offer.acceptanceStatus or offer.offerStatus
            return ignored(SOURCE, key, action, f"offer {offer.id} status {shown} is not used", offer.applicationId)
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

    def _deliver(self, key: str, action_id: str, action: str, parties: Parties, drafts: list[Draft], unmapped_stage: str | None = None) -> Delivery:
        return deliver(
            source=SOURCE, idempotency_key=key, action=action, event_key=action_id, parties=parties, drafts=drafts, unmapped_stage=unmapped_stage
        )

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


def _one_per_id(members: list[Interviewer]) -> list[Interviewer]:
    """An interviewer named with details and also by id alone counts once (the detailed entry)."""
    named_ids = {m.id for m in members if m.id and (m.name or m.email)}
    return [m for m in members if not (m.id in named_ids and not (m.name or m.email))]
