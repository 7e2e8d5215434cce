"""Reference reports (a referee's questionnaire answers and their fraud signals) and the opens of
signed links (a digest of who opened a candidate's link), for the signal "sent from the
candidate's own browser".

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.schema import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String, nullable=False, unique=True),
        sa.Column("process_id", sa.String, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("application_id", sa.String, nullable=False),
        sa.Column("referee_id", sa.String, nullable=False),
        sa.Column("referee_name", sa.String),
        sa.Column("referee_email", sa.String),
        sa.Column("recruiter_id", sa.String),
        sa.Column("link_id", sa.String, nullable=False),
        sa.Column("answers", sa.JSON, nullable=False),
        sa.Column("flags", sa.JSON, nullable=False),
        sa.Column("requested_at", UtcDateTime),
        sa.Column("submitted_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_reference_reports_process_id", "reference_reports", ["process_id"])
    op.create_index("ix_reference_reports_application_id", "reference_reports", ["application_id"])
    op.create_table(
        "link_opens",
        sa.Column("link_id", sa.String, primary_key=True),
        sa.Column("fingerprint", sa.String, primary_key=True),
        sa.Column("action", sa.String, nullable=False),
        sa.Column("process_id", sa.String, nullable=False),
        sa.Column("opened_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_link_opens_process_id", "link_opens", ["process_id"])


def downgrade() -> None:
    op.drop_index("ix_link_opens_process_id", "link_opens")
    op.drop_table("link_opens")
    op.drop_index("ix_reference_reports_application_id", "reference_reports")
    op.drop_index("ix_reference_reports_process_id", "reference_reports")
    op.drop_table("reference_reports")
