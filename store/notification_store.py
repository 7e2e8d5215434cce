"""Where each message and task was delivered: the `notifications` table, one row per subject and
channel, written by the channel activities around every send.

The claim is a single conditional UPDATE, so two attempts of one activity (a timed-out attempt
still running beside its retry) can never both own the send: only the one that moved the row from
pending/failed to sending goes on to send.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from domain.delivery import NotificationStatus, StoredNotification
from store.schema import notifications, tasks, users

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
S = NotificationStatus
# Statuses from which an attempt may (re)send: nothing left the building yet.
_SENDABLE = (S.PENDING, S.FAILED)


class Claim(StrEnum):
    CLAIMED = "claimed"  # this attempt owns the send
    ALREADY_SENT = "already_sent"
    IN_DOUBT = "in_doubt"  # an earlier attempt began to send and never said how it ended
    SKIPPED = "skipped"


class NotificationStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, key: str, subject_kind: str, subject_key: str, channel: str) -> tuple[Claim, StoredNotification]:
        """Make this attempt the one that sends, if nothing was sent or begun before it."""
        now = datetime.now(UTC)
        insert = _INSERTS[self.engine.dialect.name](notifications).values(
            key=key, subject_kind=subject_kind, subject_key=subject_key, channel=channel, status=S.PENDING, attempts=0, created_at=now
        )
        with self.engine.begin() as connection:
            connection.execute(insert.on_conflict_do_nothing(index_elements=[notifications.c.key]))
            claimed = connection.execute(
                update(notifications)
                .where(notifications.c.key == key, notifications.c.status.in_(_SENDABLE))
                .values(status=S.SENDING, attempts=notifications.c.attempts + 1)
            ).rowcount
        row = self.notification(key)
        assert row is not None
        if claimed:
            return Claim.CLAIMED, row
        if row.status == S.SENT:
            return Claim.ALREADY_SENT, row
        if row.status in (S.SKIPPED, S.SUPPRESSED):
            return Claim.SKIPPED, row
        return Claim.IN_DOUBT, row  # sending (an attempt died mid-send) or unknown already

    def mark_sent(self, key: str, provider_ref: str | None) -> None:
        # From `unknown` too: an attempt that was given up for lost did finish after all.
        self._set(key, (S.SENDING, S.UNKNOWN), status=S.SENT, provider_ref=provider_ref, sent_at=datetime.now(UTC), last_error=None)

    def mark_failed(self, key: str, error: str) -> None:
        """Nothing was sent: a retry may claim the row again."""
        self._set(key, (S.SENDING,), status=S.FAILED, last_error=error)

    def mark_unknown(self, key: str, reason: str) -> None:
        self._set(key, (S.SENDING, S.UNKNOWN), status=S.UNKNOWN, last_error=reason)

    def record_skipped(self, key: str, subject_kind: str, subject_key: str, channel: str, reason: str) -> None:
        insert = _INSERTS[self.engine.dialect.name](notifications).values(
            key=key,
            subject_kind=subject_kind,
            subject_key=subject_key,
            channel=channel,
            status=S.SKIPPED,
            attempts=0,
            last_error=reason,
            created_at=datetime.now(UTC),
        )
        with self.engine.begin() as connection:
            connection.execute(insert.on_conflict_do_nothing(index_elements=[notifications.c.key]))

    def skip_unsent(self, key: str, subject_kind: str, subject_key: str, channel: str, reason: str) -> None:
        """Not to be sent any more (its subject is obsolete): a new row, or one that nothing was
        sent for yet (pending, failed), becomes skipped; a sent or in-doubt one stays as it is."""
        self.record_skipped(key, subject_kind, subject_key, channel, reason)
        self._set(key, _SENDABLE, status=S.SKIPPED, last_error=reason)

    def suppress(self, key: str, subject_kind: str, subject_key: str, channel: str, reason: str) -> None:
        """Never to be sent: the candidate is not to be contacted. A new row, or one nothing was
        sent for yet, becomes suppressed (with the reason); a sent or in-doubt one stays."""
        insert = _INSERTS[self.engine.dialect.name](notifications).values(
            key=key, subject_kind=subject_kind, subject_key=subject_key, channel=channel, status=S.SUPPRESSED, attempts=0, last_error=reason, created_at=datetime.now(UTC)
        )
        with self.engine.begin() as connection:
            connection.execute(insert.on_conflict_do_nothing(index_elements=[notifications.c.key]))
        self._set(key, _SENDABLE, status=S.SUPPRESSED, last_error=reason)

    def notification(self, key: str) -> StoredNotification | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(notifications).where(notifications.c.key == key)).mappings().one_or_none()
        return StoredNotification.model_validate(dict(row)) if row else None

    def notifications(
        self, subject_keys: Collection[str] | None = None, status: str | None = None, subject_prefix: str | None = None
    ) -> list[StoredNotification]:
        query = select(notifications).order_by(notifications.c.created_at, notifications.c.id)
        if subject_keys is not None:
            query = query.where(notifications.c.subject_key.in_(list(subject_keys)))
        if status is not None:
            query = query.where(notifications.c.status == status)
        if subject_prefix is not None:
            query = query.where(notifications.c.subject_key.startswith(subject_prefix, autoescape=True))
        with self.engine.connect() as connection:
            return [StoredNotification.model_validate(dict(row)) for row in connection.execute(query).mappings()]

    def task_email(self, task_key: str) -> str | None:
        """The task's current assignee's address (read at send time: a task may be reassigned)."""
        with self.engine.connect() as connection:
            return connection.execute(select(tasks.c.assignee_email).where(tasks.c.key == task_key)).scalar_one_or_none()

    def team_lead(self, person_id: str) -> str | None:
        """The lead whose team a person is in: a lead's own, else their lead's (read at send time:
        a recruiter moves between teams); None for somebody the inbox does not know yet."""
        with self.engine.connect() as connection:
            row = connection.execute(select(users.c.role, users.c.lead_id).where(users.c.id == person_id)).one_or_none()
        if row is None:
            return None
        return person_id if row.role == "lead" else row.lead_id

    def _set(self, key: str, only_from: tuple[str, ...], **values: object) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(notifications).where(notifications.c.key == key, notifications.c.status.in_(only_from)).values(**values))
