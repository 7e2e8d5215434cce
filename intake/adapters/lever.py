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
| candidateStageChange | `data.toStageId` looked up in `[lever.stages]` (stage ids are account-specific): its meaning's event; an unknown stage is ignored, naming the stage id |
| candidateArchiveChange | archived: candidate.rejected, or candidate.withdrew / nothing (hired) as `[lever.archive_reasons]` says for `data.toArchived.reason`; unarchived: ignored |
| candidateHired | offer.accepted (a hire in the ATS is not the first day; Lever sends no start date) |
| interviewCreated / interviewUpdated | interview.scheduled, interview id `data.interviewId`, round `[lever] interview_round` (the payload names no stage; default 2, the first follow-up), time `data.date` when present, else `triggeredAt` |
| anything else (applicationCreated, interviewDeleted, candidateDeleted, ...) | ignored with the reason |

Interview meanings from a stage change use the stage id as the interview id, the round from
`[lever.stage_rounds]` (default 1) and `triggeredAt` as the time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.bounds import OneLineText
from domain.events import Candidate, ClosureData, EventType, InterviewData, OfferData
from intake.adapters._common import (
    Delivery,
    Draft,
    EpochMillis,
    Parties,
    VendorId,
    VendorModel,
    deliver,
    ignored,
    placeholder_candidate_id,
    require_object,
    stage_meaning_draft,
    validate,
)
from intake.config import IntakeConfig
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


class _Interview(_Ids):
    interviewId: VendorId
    date: EpochMillis | None = None


class _StageChangeBody(VendorModel):
    data: _StageChange


class _ArchiveChangeBody(VendorModel):
    data: _ArchiveChange


class _HiredBody(VendorModel):
    data: _Ids


class _InterviewBody(VendorModel):
    data: _Interview


class LeverSender:
    name = "lever"
    secret_setting = "LEVER_WEBHOOK_SIGNATURE_TOKEN"

    def __init__(self, config: IntakeConfig) -> None:
        self.config = config

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
        match event:
            case "candidateStageChange":
                change = validate(_StageChangeBody, payload).data
                meaning = self.config.lever_stages.get(change.toStageId)
                if meaning is None:
                    return ignored(
                        SOURCE, key, event, f"stage {change.toStageId} is not in the Lever stage map ([lever.stages])", change.opportunityId
                    )
                round_ = self.config.lever_stage_rounds.get(change.toStageId, 1)
                draft = stage_meaning_draft(meaning, stage=change.toStageId, interview_id=change.toStageId, round_=round_, at=at)
                if isinstance(draft, str):
                    return ignored(SOURCE, key, event, draft, change.opportunityId)
                return self._deliver(key, event, change, [draft])
            case "candidateArchiveChange":
                change = validate(_ArchiveChangeBody, payload).data
                archived = change.toArchived
                if archived is None:
                    return ignored(SOURCE, key, event, "unarchived: nothing for the process", change.opportunityId)
                outcome = self.config.lever_archive_reasons.get(archived.reason or "", "rejected")
                if outcome == "hired":
                    return ignored(SOURCE, key, event, "archived as hired: candidateHired reports the hire", change.opportunityId)
                type_ = EventType.CANDIDATE_WITHDREW if outcome == "withdrew" else EventType.CANDIDATE_REJECTED
                reason = f"Lever archive reason {archived.reason}" if archived.reason else None
                return self._deliver(key, event, change, [Draft(type_, ClosureData(reason=reason), archived.archivedAt or at)])
            case "candidateHired":
                # A hire in the ATS is an accepted offer; the role is the candidate's only from
                # their first day (process model), which candidate.started reports.
                hired = validate(_HiredBody, payload).data
                return self._deliver(key, event, hired, [Draft(EventType.OFFER_ACCEPTED, OfferData(), at)])
            case "interviewCreated" | "interviewUpdated":
                interview = validate(_InterviewBody, payload).data
                data = InterviewData(interview_id=interview.interviewId, round=self.config.lever_interview_round, at=interview.date or at)
                return self._deliver(key, event, interview, [Draft(EventType.INTERVIEW_SCHEDULED, data, at)])
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
