"""The recruiter desk: task context, snoozing and history; users and API tokens; where each
message and task was delivered; used signed links.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as tasks:
        tasks.add_column(sa.Column("context", sa.JSON))
        tasks.add_column(sa.Column("snoozed_until", UtcDateTime))
        tasks.add_column(sa.Column("resolved_by", sa.String))
    op.create_table(
        "task_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_key", sa.String, sa.ForeignKey("tasks.key"), nullable=False, index=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("actor", sa.String, nullable=False),
        sa.Column("action", sa.String, nullable=False),
        sa.Column("detail", sa.JSON),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("name", sa.String),
        sa.Column("email", sa.String),
        sa.Column("role", sa.String, nullable=False),
        sa.Column("lead_id", sa.String, index=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("token_hash", sa.String, nullable=False, unique=True),
        sa.Column("label", sa.String),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("last_used_at", UtcDateTime),
        sa.Column("revoked_at", UtcDateTime),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String, nullable=False, unique=True),
        sa.Column("subject_kind", sa.String, nullable=False),
        sa.Column("subject_key", sa.String, nullable=False, index=True),
        sa.Column("channel", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("provider_ref", sa.String),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("sent_at", UtcDateTime),
    )
    op.create_table(
        "link_uses",
        sa.Column("link_id", sa.String, primary_key=True),
        sa.Column("action", sa.String, nullable=False),
        sa.Column("process_id", sa.String, nullable=False),
        sa.Column("used_at", UtcDateTime, nullable=False),
        sa.Column("outcome", sa.Text),
    )


def downgrade() -> None:
    for table in ("link_uses", "notifications", "api_tokens", "users", "task_events"):
        op.drop_table(table)
    with op.batch_alter_table("tasks") as tasks:
        tasks.drop_column("resolved_by")
        tasks.drop_column("snoozed_until")
        tasks.drop_column("context")
