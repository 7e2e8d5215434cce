"""The tables of the task store: the tasks the process gives recruiters and the messages it queues.

Plain SQLAlchemy Core tables, created with `metadata.create_all` until migrations arrive.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Dialect, Integer, MetaData, String, Table, Text, TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant that comes back aware whatever the backend.

    PostgreSQL keeps the zone (timestamptz); SQLite silently drops it. Storing UTC and
    reattaching UTC on the way out makes both return the same instant with the same zone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # A naive datetime is taken as UTC: local server time would depend on where the worker runs.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


metadata = MetaData()

tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True),
    # The request's idempotency key: a retried activity finds its task instead of adding one.
    Column("key", String, nullable=False, unique=True),
    Column("process_id", String, nullable=False, index=True),
    Column("application_id", String),
    Column("kind", String, nullable=False),
    Column("title", Text, nullable=False),
    Column("instructions", Text, nullable=False),
    Column("assignee_id", String, nullable=False, index=True),
    Column("assignee_email", String),
    Column("due_at", UtcDateTime, nullable=False),
    Column("status", String, nullable=False),
    Column("created_at", UtcDateTime, nullable=False, default=_now),
    Column("resolved_at", UtcDateTime),
    Column("outcome", Text),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String, nullable=False, unique=True),
    Column("process_id", String, nullable=False, index=True),
    Column("recipient_role", String, nullable=False),
    Column("recipient_id", String, nullable=False),
    Column("recipient_email", String),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    # Not before this instant: quiet hours in the recipient's time zone.
    Column("send_after", UtcDateTime),
    Column("status", String, nullable=False),
    Column("created_at", UtcDateTime, nullable=False, default=_now),
)
