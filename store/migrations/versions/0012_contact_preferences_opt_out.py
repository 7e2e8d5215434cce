"""Candidates' choices: the contact_preferences table (their opt-out, the ATS's can_email), and on
each message the candidate's ATS source and its opt-out link (List-Unsubscribe).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.schema import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_preferences",
        sa.Column("source", sa.String, primary_key=True),
        sa.Column("candidate_id", sa.String, primary_key=True),
        sa.Column("opted_out_at", UtcDateTime),
        sa.Column("opted_out_via", sa.String),
        sa.Column("ats_can_email", sa.Boolean),
        sa.Column("ats_can_email_at", UtcDateTime),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_contact_preferences_candidate", "contact_preferences", ["candidate_id"])
    with op.batch_alter_table("messages") as messages:
        messages.add_column(sa.Column("candidate_source", sa.String))
        messages.add_column(sa.Column("list_unsubscribe", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("messages") as messages:
        for column in ("list_unsubscribe", "candidate_source"):
            messages.drop_column(column)
    op.drop_index("ix_contact_preferences_candidate", table_name="contact_preferences")
    op.drop_table("contact_preferences")
