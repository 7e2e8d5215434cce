"""The tables of the store: the tasks the process gives recruiters (and what happened to each),
the messages it queues and where they were delivered, the people who use the inbox, and the
webhook deliveries the intake has accepted.

Plain SQLAlchemy Core tables. Their shape in a database is changed only by the Alembic
migrations in store/migrations/versions; a test checks that the migrations produce exactly these
tables, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Column, DateTime, Dialect, ForeignKey, Integer, MetaData, String, Table, Text, TypeDecorator, UniqueConstraint


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

# The largest value an Integer id column holds on every backend (PostgreSQL's INTEGER is 32-bit;
# SQLite's 64). An id from outside (a URL's task id) beyond it names no row: looking it up must
# find nothing, not make the driver overflow.
MAX_INTEGER_ID = 2**31 - 1

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
    # What the process knew when it asked (round, referee id, start date, ...): completing the
    # task hands its result back to the process with these.
    Column("context", JSON),
    # A snoozed task comes back as open at this instant.
    Column("snoozed_until", UtcDateTime),
    Column("resolved_by", String),
)

# A task's history: who did what to it, when. Written in the same transaction as the change.
task_events = Table(
    "task_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_key", String, ForeignKey("tasks.key"), nullable=False, index=True),
    Column("at", UtcDateTime, nullable=False, default=_now),
    # A user id, or "process" for what the workflow itself did.
    Column("actor", String, nullable=False),
    Column("action", String, nullable=False),
    Column("detail", JSON),
)

# The people who use the inbox. Recruiters and leads appear on their own when the process first
# gives them a task (their id is the ATS's); operators are added by hand (`postinterview users`).
users = Table(
    "users",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", String),
    Column("email", String),
    Column("role", String, nullable=False),
    # A recruiter's lead: the lead sees and acts on the team's tasks.
    Column("lead_id", String, index=True),
    Column("created_at", UtcDateTime, nullable=False, default=_now),
)

# API tokens, stored as SHA-256 hashes: a stolen database gives no usable token. Tokens are 256
# random bits, so a fast hash is enough (no password stretching needed).
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String, ForeignKey("users.id"), nullable=False, index=True),
    Column("token_hash", String, nullable=False, unique=True),
    Column("label", String),
    Column("created_at", UtcDateTime, nullable=False, default=_now),
    Column("last_used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
)

# Where a message or a task was delivered (email, Slack, a note on the ATS record), one row per
# subject and channel: a retried delivery activity finds its row and does not send again.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String, nullable=False, unique=True),
    Column("subject_kind", String, nullable=False),  # message | task
    Column("subject_key", String, nullable=False, index=True),
    Column("channel", String, nullable=False),  # email | slack | ats_note
    # pending -> sending -> sent | failed; "unknown" when an attempt died mid-send.
    Column("status", String, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("provider_ref", String),
    Column("created_at", UtcDateTime, nullable=False, default=_now),
    Column("sent_at", UtcDateTime),
)

# Signed links already used: a link acts once, however often it is clicked.
link_uses = Table(
    "link_uses",
    metadata,
    Column("link_id", String, primary_key=True),
    Column("action", String, nullable=False),
    Column("process_id", String, nullable=False),
    Column("used_at", UtcDateTime, nullable=False, default=_now),
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
    # Failed attempts that count towards the forwarder's limit (Temporal unreachable does not), plus
    # the one that delivered it.
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    # When the forwarder gave up on it (status failed).
    Column("failed_at", UtcDateTime),
    # The last operator action on it (`postinterview deliveries retry` or `skip`): who, when, why.
    Column("operator", String),
    Column("operator_at", UtcDateTime),
    Column("operator_note", Text),
    # The forwarder instance that holds a pending delivery (on PostgreSQL, where several intake
    # instances share the table), until its lease ends: it renews the lease while it runs, so the
    # claims of an instance that died expire and another takes them. Kept once delivered: who did.
    Column("claimed_by", String),
    Column("lease_until", UtcDateTime),
    UniqueConstraint("source", "idempotency_key", name="deliveries_once"),
)
