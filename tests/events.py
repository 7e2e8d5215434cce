"""Canonical events for tests, shaped as an ATS adapter would send them."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime, timezone
from typing import Any

from domain.events import CanonicalEvent

_counter = itertools.count(1)


class Application:
    """One candidate's application; `event(...)` builds its next canonical event."""

    def __init__(self, source: str = "greenhouse", application_id: str | None = None, client_id: str = "acme", lead: bool = True) -> None:
        self.source = source
        self.application_id = application_id or f"app-{uuid.uuid4().hex[:10]}"
        self.candidate = {
            "id": f"cand-{self.application_id}",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "phone": "+44 20 7946 0000",
            "timezone": "Europe/London",
            "country": "GB",
        }
        self.recruiter: dict[str, Any] = {"id": "rec-1", "name": "Rita Recruiter", "email": "rita@agency.example"}
        if lead:
            self.recruiter["lead"] = {"id": "lead-1", "name": "Leo Lead", "email": "leo@agency.example"}
        self.client = {"id": client_id, "name": "Acme Capital"}
        self.job = {"id": "job-7", "title": "Compliance Analyst"}

    @property
    def workflow_id(self) -> str:
        return f"post-interview-{self.source}-{self.application_id}"

    def event(self, type_: str, data: dict[str, Any] | None = None, *, at: datetime | None = None, event_id: str | None = None) -> CanonicalEvent:
        return CanonicalEvent.model_validate(
            {
                "event_id": event_id or f"evt-{next(_counter)}-{uuid.uuid4().hex[:6]}",
                "type": type_,
                "occurred_at": (at or datetime.now(timezone.utc)).isoformat(),
                "source": self.source,
                "application_id": self.application_id,
                "candidate": self.candidate,
                "recruiter": self.recruiter,
                "client": self.client,
                "job": self.job,
                "data": data or {},
            }
        )

    def interview(self, round_: int = 1, type_: str = "interview.completed", at: datetime | None = None) -> CanonicalEvent:
        return self.event(type_, {"interview_id": f"int-{round_}", "round": round_, "at": (at or datetime.now(timezone.utc)).isoformat()})

    def references(self, *referee_ids: str, required: bool = True) -> CanonicalEvent:
        return self.event(
            "references.requested",
            {
                "referees": [
                    {"id": rid, "name": f"Referee {rid}", "email": f"{rid}@example.org", "relationship": "former manager", "timezone": "Europe/London", "country": "GB"}
                    for rid in referee_ids
                ],
                "required_before_offer": required,
            },
        )

    def offer(self, type_: str = "offer.extended", start: date | None = None) -> CanonicalEvent:
        return self.event(type_, {"start_date": start.isoformat() if start else None})


GOOD_DEBRIEF = {
    "summary": "Met the head of compliance and two analysts; we went deep on the MiFID reporting backlog and "
    "they liked my remediation plan, but the team lead seemed unsure about my asset management exposure.",
    "interest": 4,
    "concerns": "The role may be more operational than advertised.",
    "questions_for_client": ["How large is the reporting backlog?", "Is there budget for tooling?"],
    "reflections": "They asked me to think about how I would prioritise the first 90 days.",
}
