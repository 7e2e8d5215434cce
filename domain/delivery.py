"""Delivery where people already work: what the delivery workflow and its channel activities take.

A queued message or a new task is delivered by one `Notify` workflow (workflows/delivery.py),
which waits for the end of the recipient's quiet hours and then runs one activity per channel.
Its input holds keys only, never a name or an address: the channel activities read the message or
task from the store, so no PII reaches Temporal's history on this path.

Each channel's outcome is a row of the `notifications` table, one per subject and channel, whose
status moves pending -> sending -> sent | failed, or to `unknown` when an attempt died in the
middle of sending (see activities/delivery.py for why that one is never sent again blindly).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Channel(StrEnum):
    EMAIL = "email"
    SLACK = "slack"
    # Microsoft Teams: an Adaptive Card posted to a channel's Workflows (or incoming) webhook.
    TEAMS = "teams"
    ATS_NOTE = "ats_note"
    # A recruiter task in the ATS's own task list (Bullhorn: a Task owned by the recruiter).
    ATS_TASK = "ats_task"


class SubjectKind(StrEnum):
    MESSAGE = "message"
    TASK = "task"
    # A referee's reference report (store/reference_store.py), noted on the ATS record once.
    REFERENCE_REPORT = "reference_report"
    # The candidate's debrief of a round, noted on the ATS record (write_debrief_note, no Notify).
    DEBRIEF = "debrief"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # An attempt died after it began to send: it may or may not have arrived.
    UNKNOWN = "unknown"
    # The channel is configured but cannot reach this recipient (no email address, no ATS record).
    SKIPPED = "skipped"
    # Not sent, never to be: the candidate opted out of contact, or the ATS says `can_email: false`
    # (checked when the message is about to go, domain/contact.py).
    SUPPRESSED = "suppressed"


def notification_key(subject_kind: str, subject_key: str, channel: str) -> str:
    return f"{subject_kind}:{subject_key}:{channel}"


class DeliveryRequest(BaseModel):
    """The `Notify` workflow's input: which message or task, by which channels, not before when."""

    subject_kind: SubjectKind
    subject_key: str
    channels: list[Channel]
    send_after: datetime | None = Field(default=None, description="The end of the recipient's quiet hours; None: at once.")
    invite_task_key: str | None = Field(
        default=None, description="The book-a-debrief task whose due time the email offers as a calendar invite."
    )


class NotificationRequest(BaseModel):
    """One channel activity's input."""

    subject_kind: SubjectKind
    subject_key: str
    channel: Channel
    invite_task_key: str | None = None

    @property
    def key(self) -> str:
        return notification_key(self.subject_kind, self.subject_key, self.channel)


class NotificationOutcome(BaseModel):
    key: str
    channel: Channel
    status: NotificationStatus
    provider_ref: str | None = None
    sent_now: bool = Field(description="False when an earlier attempt had already sent it.")


class StoredNotification(BaseModel):
    key: str
    subject_kind: str
    subject_key: str
    channel: str
    status: str
    attempts: int
    last_error: str | None = None
    provider_ref: str | None = None
    created_at: datetime
    sent_at: datetime | None = None
