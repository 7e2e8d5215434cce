"""The tables of the store: the tasks the process gives recruiters (and what happened to each),
the messages it queues and where they were delivered, the people who use the inbox, and the
webhook deliveries the intake has accepted.

Plain SQLAlchemy Core tables. Their shape in a database is changed only by the Alembic
migrations in store/migrations/versions; a test checks that the migrations produce exactly these
tables, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, Column, DateTime, Dialect, ForeignKey, Index, Integer, MetaData, String, Table, Text, TypeDecorator, UniqueConstraint


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
    # The client the task is for, as the process names it (its context's "client"): the inbox
    # and the task API filter on it. None for a relationship's check-ins.
    Column("client", String),
    # A page of somebody's tasks (the inbox, GET /api/tasks) is read by keyset on these: a
    # person's pending tasks by due time, and everybody's for an operator.
    Index("ix_tasks_assignee_status_due", "assignee_id", "status", "due_at", "id"),
    Index("ix_tasks_status_due", "status", "due_at", "id"),
    Index("ix_tasks_client", "client"),
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
    # queued; suppressed when the candidate opted out (or the ATS said can_email false) before it went.
    Column("status", String, nullable=False),
    Column("created_at", UtcDateTime, nullable=False, default=_now),
    # A candidate's ATS source (with recipient_id, the key of their contact preference) and the
    # message's signed opt-out link, the email's List-Unsubscribe. NULL for other recipients, and
    # for messages queued before opt-out existed.
    Column("candidate_source", String),
    Column("list_unsubscribe", Text),
)

# Candidates' choices about being contacted, per ATS source and candidate id: their own opt-out
# (kept for good: the first time and how) and the ATS's latest `can_email` (the newest event wins).
# Every message to a candidate is checked against it when it is about to be sent.
contact_preferences = Table(
    "contact_preferences",
    metadata,
    Column("source", String, primary_key=True),
    Column("candidate_id", String, primary_key=True),
    Column("opted_out_at", UtcDateTime),
    Column("opted_out_via", String),
    Column("ats_can_email", Boolean),
    Column("ats_can_email_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False, default=_now),
    # The delivery activity's fallback for messages queued before their source was kept.
    Index("ix_contact_preferences_candidate", "candidate_id"),
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
    # The webhook request's trace context (W3C traceparent, tracestate) when tracing is on: the
    # forwarder continues that trace when it delivers the row (intake/tracing.py).
    Column("trace_context", JSON),
    # The forwarder instance that holds a pending delivery (on PostgreSQL, where several intake
    # instances share the table), until its lease ends: it renews the lease while it runs, so the
    # claims of an instance that died expire and another takes them. Kept once delivered: who did.
    Column("claimed_by", String),
    Column("lease_until", UtcDateTime),
    # When its payload (the mapped events, with the candidate's details) was dropped: by the
    # retention purge (INTAKE_PAYLOAD_RETENTION_DAYS) or a candidate's erasure. The row, its key
    # and status stay, so a re-delivery is still recognised as a duplicate.
    Column("payload_purged_at", UtcDateTime),
    UniqueConstraint("source", "idempotency_key", name="deliveries_once"),
)


# What the Greenhouse interview poller last saw of each scheduled interview (Harvest
# /v1/scheduled_interviews), per connected account: a later listing is compared with it to tell a
# reschedule, a cancellation or a completion from an interview seen again unchanged. Written in
# the transaction that stores the events it gave rise to in `deliveries`.
harvest_interviews = Table(
    "harvest_interviews",
    metadata,
    Column("account", String, primary_key=True),
    Column("interview_id", String, primary_key=True),
    Column("application_id", String, nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime),
    # Harvest's status (scheduled, awaiting_feedback, complete), or "cancelled" once it is gone.
    Column("status", String, nullable=False),
    # How often its time has changed since first seen: part of a reschedule's event id, so moving
    # it back to an earlier time is news again.
    Column("revision", Integer, nullable=False, default=0),
    Column("seen_at", UtcDateTime, nullable=False),
    # The interview id its events carry to the process: Greenhouse's interview step
    # (`interview.id`, the id its webhooks give the stage's interview), so that both paths name
    # one interview alike. NULL for rows seen before: their events carried the scheduled id.
    Column("reported_as", String),
)
# Connected Bullhorn accounts (`postinterview connect bullhorn`): where the account's data centre
# is and the OAuth refresh token that gets the poller its sessions. Bullhorn's refresh token
# works once and every use returns the next one, so this row is its only copy: it is replaced in
# the same statement that checks the one used (a compare-and-set), and kept sealed (AES-GCM with
# PAYLOAD_ENCRYPTION_KEYS, store/bullhorn_store.py), like the client secret.
bullhorn_accounts = Table(
    "bullhorn_accounts",
    metadata,
    Column("account_id", String, primary_key=True),
    Column("username", String, nullable=False),
    Column("client_id", String, nullable=False),
    Column("client_secret", Text, nullable=False),
    Column("oauth_url", String, nullable=False),
    Column("rest_services_url", String, nullable=False),
    Column("refresh_token", Text, nullable=False),
    Column("connected_at", UtcDateTime, nullable=False, default=_now),
    Column("refreshed_at", UtcDateTime),
)

# Bullhorn Tasks (the `ats_task` channel's) that are closed on both sides: a task done here marks
# its Bullhorn Task completed once, and one ticked off in Bullhorn is recorded here as it is
# completed, so neither side is told twice.
bullhorn_tasks_closed = Table(
    "bullhorn_tasks_closed",
    metadata,
    Column("bullhorn_task_id", String, primary_key=True),
    Column("task_key", String, nullable=False),
    Column("closed_by", String, nullable=False),  # bullhorn | engine
    Column("closed_at", UtcDateTime, nullable=False, default=_now),
)

# Tasks of Bullhorn applications whose outcome (a debrief recorded, a reference received, a task
# done) was noted on the Bullhorn candidate: claimed before the note is written, so a note is
# written at most once (`note_id` stays empty when its writing failed or is in doubt).
bullhorn_outcome_notes = Table(
    "bullhorn_outcome_notes",
    metadata,
    Column("task_key", String, primary_key=True),
    Column("note_id", String),
    Column("noted_at", UtcDateTime, nullable=False, default=_now),
)

# Privacy (privacy/, codec/data_keys.py). A data key per candidate encrypts what Temporal's
# histories hold about them; erasure destroys it (crypto-shredding). The key is stored wrapped
# (AES-GCM) by the master key of PAYLOAD_ENCRYPTION_KEYS named in `wrapping_key_id`; `subject` is
# a keyed digest of "source:candidate id", never the id itself. A destroyed key keeps its row
# (wrapped_key NULL, destroyed_at set) so a payload under it is refused as erased, not unknown.
data_keys = Table(
    "data_keys",
    metadata,
    Column("key_id", String, primary_key=True),
    Column("subject", String, nullable=False, unique=True),
    Column("wrapped_key", Text),
    Column("wrapping_key_id", String),
    Column("created_at", UtcDateTime, nullable=False, default=_now),
    Column("destroyed_at", UtcDateTime),
    Column("erasure_id", Integer),
)

# Which workflows' payloads a data key encrypts: a candidate's post-interview processes and their
# relationship process, registered before the first start (process_client.deliver_event).
data_key_workflows = Table(
    "data_key_workflows",
    metadata,
    Column("workflow_id", String, primary_key=True),
    Column("key_id", String, ForeignKey("data_keys.key_id"), nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False, default=_now),
)

# The audit record of erasure requests: who asked, through what, when, when it was carried out and
# what was erased (counts and workflow ids, which name applications, never a person). The subject
# is the same keyed digest as data_keys': a repeated request is recognised without naming anyone.
erasures = Table(
    "erasures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String, nullable=False, index=True),
    Column("source", String, nullable=False),
    Column("requested_by", String, nullable=False),
    Column("via", String, nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime),
    Column("report", JSON),
)

# Reference reports: what a referee answered on their signed link's questionnaire
# (domain/reference_report.py), one per referee of an application (the key is the referee check's
# workflow id), with the fraud signals computed when it was stored. Personal text: shown in the
# inbox to whoever reaches the application's tasks, noted on the ATS record, never in Temporal.
reference_reports = Table(
    "reference_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String, nullable=False, unique=True),
    Column("process_id", String, nullable=False, index=True),
    Column("source", String, nullable=False),
    Column("application_id", String, nullable=False, index=True),
    Column("referee_id", String, nullable=False),
    Column("referee_name", String),
    Column("referee_email", String),
    Column("recruiter_id", String),
    # The signed link it came through: its use is recorded in link_uses once the process has it.
    Column("link_id", String, nullable=False),
    Column("answers", JSON, nullable=False),
    Column("flags", JSON, nullable=False),
    Column("requested_at", UtcDateTime),
    Column("submitted_at", UtcDateTime, nullable=False, default=_now),
)

# Who opened a signed link (a candidate's debrief form): a digest of the client's address and
# User-Agent, never the address itself, so a reference sent from the browser that opened the
# candidate's own link can be flagged. One row per link and browser.
link_opens = Table(
    "link_opens",
    metadata,
    Column("link_id", String, primary_key=True),
    Column("fingerprint", String, primary_key=True),
    Column("action", String, nullable=False),
    Column("process_id", String, nullable=False, index=True),
    Column("opened_at", UtcDateTime, nullable=False, default=_now),
)
