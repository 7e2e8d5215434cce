"""Lever webhooks -> canonical events.

Envelope `{"triggeredAt": <ms>, "event": ..., "signature": ..., "token": ..., "data": {...}}`,
signed inside the body (see intake.signatures.verify_lever). Lever gives no delivery id: the
idempotency key is the signed string itself, `token + triggeredAt` (`lever_signed_text`), so a
signature is one delivery however its digits are split between the two fields, and a replayed
signature carrying other `event` or `data` (which Lever does not sign) is a duplicate.
`triggeredAt` must be fresh (`verify_lever`).

Lever sends ids only (`opportunityId` is the application, `candidateId` / `contactId` the
person): every event carries the candidate id without name or email, the configured default
recruiter, and `needs_enrichment` is set so the forwarder looks them up.

| event | canonical |
|---|---|
| candidateStageChange | `data.toStageId` looked up in `[lever.stages]` (stage ids are account-specific): its meaning's event, round from `[lever.stage_rounds]` or left to the process; a stage not in the map is ignored and reported as unmapped (log, metric), named by its Lever name |
| candidateArchiveChange | archived (`toArchived`): candidate.rejected, or candidate.withdrew / nothing (hired) as `[lever.archive_reasons]` says for `data.toArchived.reason`; the reason reads "Lever archive reason: Underqualified" (its name from Lever's API); unarchived (`toArchived` null, `fromArchived` set) -> application.reopened |
| candidateHired | offer.accepted (a hire in the ATS is not the first day; Lever sends no start date) |
| any event with `data: {}` | ignored as a ping: Lever's "send test" posts `candidateHired` with empty data |
| interviewCreated / interviewUpdated | interview.scheduled / interview.rescheduled, interview id `data.interviewId`, at `date`, ends `date + duration` (minutes), panel `interviewers`; the round is left to the process (it numbers interviews in the order they take place: phone screens count too); `canceledAt` set -> interview.cancelled. Lever's webhook carries ids only: the intake reads the interview from Lever's API (`GET /opportunities/{id}/interviews/{id}`, with LEVER_API_KEY) before mapping; without a key, or when Lever no longer has the interview (the intake's lookup finds none), ignored saying so |
| interviewDeleted | interview.cancelled |
| anything else (applicationCreated, candidateDeleted, contactCreated, ...) | ignored with the reason |

Interview meanings from a stage change use the stage id as the interview id, the round from
`[lever.stage_rounds]` (else the process numbers it) and `triggeredAt` as the time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from domain.bounds import OneLineText
from domain.events import Candidate, ClosureData, EventType, InterviewCancelledData, InterviewData, OfferData, ReopenedData
from intake.adapters._common import (
    Delivery,
    Draft,
    EpochMillis,
    Lookup,
    Parties,
    VendorId,
    VendorModel,
    deliver,
    ignored,
    panel,
    placeholder_candidate_id,
    require_object,
    stage_meaning_draft,
    validate,
)
from intake.config import IntakeConfig
from intake.names import VendorNames
from intake.signatures import lever_signed_text, verify_lever

SOURCE = "lever"


class _Envelope(VendorModel):
    event: OneLineText
    triggeredAt: EpochMillis
    token: str


class _Ids(VendorModel):
    opportunityId: VendorId
    candidateId: VendorId | None = None
    contactId: VendorId | None = None


class _StageChange(_Ids):
    toStageId: VendorId
    fromStageId: VendorId | None = None


class _Archived(VendorModel):
    reason: VendorId | None = None
    archivedAt: EpochMillis | None = None


class _ArchiveChange(_Ids):
    toArchived: _Archived | None = None
    fromArchived: _Archived | None = None


class _LeverInterviewer(VendorModel):
    id: Any = None
    name: str | None = None
    email: str | None = None


class _Interview(_Ids):
    interviewId: VendorId
    date: EpochMillis | None = None
    duration: int | None = None
    interviewers: list[_LeverInterviewer] | None = None


class _StageChangeBody(VendorModel):
    data: _StageChange


class _ArchiveChangeBody(VendorModel):
    data: _ArchiveChange


class _HiredBody(VendorModel):
    data: _Ids


class _InterviewBody(VendorModel):
    data: _Interview


class _DeletedInterview(_Ids):
    interviewId: VendorId


class _DeletedInterviewBody(VendorModel):
    data: _DeletedInterview


class LeverSender:
    name = "lever"
    secret_setting = "LEVER_WEBHOOK_SIGNATURE_TOKEN"

    def __init__(self, config: IntakeConfig, names: VendorNames | None = None) -> None:
        self.config = config
        self.names = names or VendorNames()

    def verify(self, body: bytes, payload: Any, headers: Mapping[str, str], now: datetime) -> None:
        verify_lever(payload, self.config.lever_signature_tokens, now, self.config.lever_max_age_seconds)

    def parse(self, body: bytes, payload: Any, headers: Mapping[str, str], received_at: datetime) -> Delivery:
        require_object(payload, "Lever sends triggeredAt, event, signature, token and data")
        envelope = validate(_Envelope, payload)
        # The signature covers token + triggeredAt only, not the event or its data: keying on
        # exactly the signed string makes a replayed signature with altered content, or with its
        # digits moved across the join, a duplicate.
        key = lever_signed_text(envelope.token, payload["triggeredAt"])
        at = envelope.triggeredAt
        event = envelope.event
        if payload.get("data") == {}:
            # Lever's "send test" (settings > webhooks) posts candidateHired with empty data: answer
            # 200 so the customer sees the integration working, and record it as the ping it is.
            return ignored(SOURCE, key, "ping", f"Lever's test delivery ({event} with empty data): a ping")
        match event:
            case "candidateStageChange":
                change = validate(_StageChangeBody, payload).data
                stage = self.names.label(SOURCE, "stages", change.toStageId)
                meaning = self.config.lever_stages.get(change.toStageId)
                if meaning is None:
                    return ignored(
                        SOURCE,
                        key,
                        event,
                        f"stage {_named(stage, change.toStageId)} is not in the Lever stage map ([lever.stages])",
                        change.opportunityId,
                        unmapped_stage=stage,
                    )
                round_ = self.config.lever_stage_rounds.get(change.toStageId)
                draft = stage_meaning_draft(meaning, stage=_named(stage, change.toStageId), interview_id=change.toStageId, round_=round_, at=at)
                if isinstance(draft, str):
                    return ignored(SOURCE, key, event, draft, change.opportunityId)
                return self._deliver(key, event, change, [draft])
            case "candidateArchiveChange":
                change = validate(_ArchiveChangeBody, payload).data
                archived = change.toArchived
                if archived is None:
                    if change.fromArchived is None:
                        return ignored(SOURCE, key, event, "neither archived nor unarchived: nothing for the process", change.opportunityId)
                    # Unarchived: the rejection (or withdrawal) was taken back.
                    reopened = Draft(EventType.APPLICATION_REOPENED, ReopenedData(reason="unarchived in Lever"), at)
                    return self._deliver(key, event, change, [reopened])
                outcome = self.config.lever_archive_reasons.get(archived.reason or "", "rejected")
                if outcome == "hired":
                    return ignored(SOURCE, key, event, "archived as hired: candidateHired reports the hire", change.opportunityId)
                type_ = EventType.CANDIDATE_WITHDREW if outcome == "withdrew" else EventType.CANDIDATE_REJECTED
                reason = f"Lever archive reason: {self.names.label(SOURCE, 'archive_reasons', archived.reason)}" if archived.reason else None
                return self._deliver(key, event, change, [Draft(type_, ClosureData(reason=reason), archived.archivedAt or at)])
            case "candidateHired":
                # A hire in the ATS is an accepted offer; the role is the candidate's only from
                # their first day (process model), which candidate.started reports.
                hired = validate(_HiredBody, payload).data
                return self._deliver(key, event, hired, [Draft(EventType.OFFER_ACCEPTED, OfferData(), at)])
            case "interviewCreated" | "interviewUpdated":
                interview = validate(_InterviewBody, payload).data
                if payload["data"].get("canceledAt"):
                    # Lever cancels an interview by setting canceledAt (the API's interview object).
                    cancelled = InterviewCancelledData(interview_id=interview.interviewId, reason="cancelled in Lever")
                    return self._deliver(key, event, interview, [Draft(EventType.INTERVIEW_CANCELLED, cancelled, at)])
                if interview.date is None:
                    # Lever's interview webhooks carry ids only: the time is read from its API
                    # (GET /opportunities/{id}/interviews/{id}) when LEVER_API_KEY is set.
                    untimed = ignored(
                        SOURCE,
                        key,
                        event,
                        f"interview {interview.interviewId} comes without its time (data.date), and Lever's API was not asked "
                        "(LEVER_API_KEY is not set): it can be neither prepared for nor taken as over",
                        interview.opportunityId,
                    )
                    return replace(untimed, lookup=Lookup("lever_interview", (interview.opportunityId, interview.interviewId), f"interview {interview.interviewId}", _with_interview))
                ends = interview.date + timedelta(minutes=interview.duration) if interview.duration and 0 < interview.duration <= 24 * 60 else None
                data = InterviewData(
                    interview_id=interview.interviewId,
                    # Lever sends every interview, phone screens too, and names no round: the
                    # process numbers them in the order they take place.
                    round=None,
                    at=interview.date,
                    ends_at=ends,
                    interviewers=panel([(i.id, i.name, i.email) for i in interview.interviewers or []]),
                )
                type_ = EventType.INTERVIEW_SCHEDULED if event == "interviewCreated" else EventType.INTERVIEW_RESCHEDULED
                return self._deliver(key, event, interview, [Draft(type_, data, at)])
            case "interviewDeleted":
                deleted = validate(_DeletedInterviewBody, payload).data
                cancelled = Draft(EventType.INTERVIEW_CANCELLED, InterviewCancelledData(interview_id=deleted.interviewId, reason="deleted in Lever"), at)
                return self._deliver(key, event, deleted, [cancelled])
            case _:
                return ignored(SOURCE, key, event, f"event {event} is not used")

    def _deliver(self, key: str, event: str, ids: _Ids, drafts: list[Draft]) -> Delivery:
        parties = Parties(
            application_id=ids.opportunityId,
            # Lever sends ids only; the opportunity always names its contact (the candidate).
            candidate=Candidate(id=ids.candidateId or ids.contactId or placeholder_candidate_id(ids.opportunityId)),
            recruiter=self.config.recruiter_for(SOURCE),
            client=self.config.client_for(SOURCE),
            assumed=frozenset({"recruiter"}),
        )
        return deliver(source=SOURCE, idempotency_key=key, action=event, event_key=key, parties=parties, drafts=drafts, needs_enrichment=True)


def _with_interview(payload: Any, found: Mapping[str, Any]) -> Any:
    """The delivery's payload with the interview's time, length, panel and cancellation as
    Lever's API answered them (its interview object), for mapping again."""
    data = dict(payload["data"]) | {k: found[k] for k in ("date", "duration", "interviewers", "canceledAt") if found.get(k) is not None}
    return {**payload, "data": data}


def _named(label: str, identifier: str) -> str:
    """'Phone screen (3b2f...)' when the name is known, else the id alone."""
    return identifier if label == identifier else f"{label!r} ({identifier})"
