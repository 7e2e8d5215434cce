"""Connected Bullhorn accounts: data centre, OAuth client and the (sealed) rotating refresh token;
Bullhorn Tasks closed on both sides; task outcomes noted in Bullhorn.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.schema import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bullhorn_accounts",
        sa.Column("account_id", sa.String, primary_key=True),
        sa.Column("username", sa.String, nullable=False),
        sa.Column("client_id", sa.String, nullable=False),
        sa.Column("client_secret", sa.Text, nullable=False),
        sa.Column("oauth_url", sa.String, nullable=False),
        sa.Column("rest_services_url", sa.String, nullable=False),
        sa.Column("refresh_token", sa.Text, nullable=False),
        sa.Column("connected_at", UtcDateTime, nullable=False),
        sa.Column("refreshed_at", UtcDateTime),
    )
    op.create_table(
        "bullhorn_tasks_closed",
        sa.Column("bullhorn_task_id", sa.String, primary_key=True),
        sa.Column("task_key", sa.String, nullable=False),
        sa.Column("closed_by", sa.String, nullable=False),
        sa.Column("closed_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "bullhorn_outcome_notes",
        sa.Column("task_key", sa.String, primary_key=True),
        sa.Column("note_id", sa.String),
        sa.Column("noted_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bullhorn_outcome_notes")
    op.drop_table("bullhorn_tasks_closed")
    op.drop_table("bullhorn_accounts")
