"""Candidates' choices: whether the engine may contact a candidate, and their answers to a check-in.

A candidate's contact preference is kept per ATS source and candidate id (the `contact_preferences`
table, store/contact_preferences.py): their own opt-out (a "stop contacting me" link, the opt-out
link in every message to them, or their mail client's one-click unsubscribe, RFC 8058), and what
the ATS last said about emailing them (`candidate.can_email`). Either one stops every message to
them, checked when the message is about to be sent, so processes already running stop too.

A relationship check-in sends the candidate three signed answers (inbox/links.py): "I'm open to
opportunities", "not now", "stop contacting me"; each reaches the RelationshipProcess as the
`nurture_answer` signal, once by its link id.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class NurtureAnswerKind(StrEnum):
    OPEN = "open"
    NOT_NOW = "not_now"
    STOP = "stop"


class NurtureAnswer(BaseModel):
    """A candidate's answer to a check-in, from its signed link. Ids only."""

    answer_id: str = Field(description="The link's id: the relationship takes each answer once.")
    answer: NurtureAnswerKind
    check_in_key: str | None = Field(default=None, description="The check-in whose message carried the link.")
    at: datetime


class ContactPreferenceRequest(BaseModel):
    """The check_contact_preference activity's input."""

    source: str
    candidate_id: str


class ContactPreference(BaseModel):
    """What is known of a candidate's wish to be contacted; the defaults: nothing against it."""

    source: str
    candidate_id: str
    opted_out_at: datetime | None = Field(default=None, description="When the candidate asked not to be contacted (first time).")
    opted_out_via: str | None = Field(default=None, description="How: link:<id>, list-unsubscribe:<id>, nurture:<id>.")
    ats_can_email: bool | None = Field(default=None, description="The ATS's latest `can_email`; None: it never said.")
    ats_can_email_at: datetime | None = None

    @property
    def opted_out(self) -> bool:
        return self.opted_out_at is not None

    @property
    def suppression(self) -> str | None:
        """Why nothing may be sent to the candidate; None when messages may go."""
        if self.opted_out_at is not None:
            return f"the candidate opted out of contact on {self.opted_out_at:%Y-%m-%d}"
        if self.ats_can_email is False:
            return "the ATS says the candidate must not be emailed (can_email: false)"
        return None


def candidate_source(process_id: str, application_id: str | None, candidate_id: str) -> str | None:
    """The ATS source of a candidate message's candidate, from the ids of the process that sent it:
    `relationship-{source}-{candidate}`, `post-interview-{source}-{application}` or a referee check
    of one. None when the ids do not say (a source may itself hold hyphens, so it is never guessed)."""
    prefix, suffix = "relationship-", f"-{candidate_id}"
    if process_id.startswith(prefix) and process_id.endswith(suffix) and len(process_id) > len(prefix + suffix):
        return process_id[len(prefix) : -len(suffix)]
    parent, found, _ = process_id.rpartition("-referee-")
    process = parent if found and parent.startswith("post-interview-") else process_id
    prefix, suffix = "post-interview-", f"-{application_id}"
    if application_id and process.startswith(prefix) and process.endswith(suffix) and len(process) > len(prefix + suffix):
        return process[len(prefix) : -len(suffix)]
    return None
