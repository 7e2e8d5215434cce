"""The store as session 1 shipped it: tasks, messages, webhook deliveries.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String, nullable=False, unique=True),
        sa.Column("process_id", sa.String, nullable=False, index=True),
        sa.Column("application_id", sa.String),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("instructions", sa.Text, nullable=False),
        sa.Column("assignee_id", sa.String, nullable=False, index=True),
        sa.Column("assignee_email", sa.String),
        sa.Column("due_at", UtcDateTime, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("resolved_at", UtcDateTime),
        sa.Column("outcome", sa.Text),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String, nullable=False, unique=True),
        sa.Column("process_id", sa.String, nullable=False, index=True),
        sa.Column("recipient_role", sa.String, nullable=False),
        sa.Column("recipient_id", sa.String, nullable=False),
        sa.Column("recipient_email", sa.String),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("send_after", UtcDateTime),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("idempotency_key", sa.String, nullable=False),
        sa.Column("action", sa.String, nullable=False),
        sa.Column("application_key", sa.String, index=True),
        sa.Column("events", sa.JSON, nullable=False),
        sa.Column("status", sa.String, nullable=False, index=True),
        sa.Column("ignored_reason", sa.Text),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("delivered_at", UtcDateTime),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.UniqueConstraint("source", "idempotency_key", name="deliveries_once"),
    )


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("messages")
    op.drop_table("tasks")
