"""What the Greenhouse interview poller last saw of each scheduled interview (harvest_interviews).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.schema import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "harvest_interviews",
        sa.Column("account", sa.String, primary_key=True),
        sa.Column("interview_id", sa.String, primary_key=True),
        sa.Column("application_id", sa.String, nullable=False),
        sa.Column("starts_at", UtcDateTime, nullable=False),
        sa.Column("ends_at", UtcDateTime),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("seen_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("harvest_interviews")
