"""The tables of the store: the tasks the process gives recruiters, the messages it queues, and
the webhook deliveries the intake has accepted.

Plain SQLAlchemy Core tables, created with `metadata.create_all` until migrations arrive.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Column, DateTime, Dialect, Integer, MetaData, String, Table, Text, TypeDecorator, UniqueConstraint


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

# Every webhook delivery the intake accepted, written before it is acknowledged: the forwarder
# delivers the pending ones to Temporal in id order (per application), so nothing accepted is lost
# while Temporal is down.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String, nullable=False),
    # The sender's idempotency key: a re-delivery is acknowledged and stored once.
    Column("idempotency_key", String, nullable=False),
    Column("action", String, nullable=False),
    Column("application_key", String, index=True),
    Column("events", JSON, nullable=False),
    Column("status", String, nullable=False, index=True),
    Column("ignored_reason", Text),
    Column("received_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    UniqueConstraint("source", "idempotency_key", name="deliveries_once"),
)
