"""Privacy: per-candidate data keys (crypto-shredding of Temporal histories), the workflows each
key encrypts, the audit record of erasure requests, and when a delivery's payload was purged.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.schema import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("key_id", sa.String, primary_key=True),
        sa.Column("subject", sa.String, nullable=False, unique=True),
        sa.Column("wrapped_key", sa.Text),
        sa.Column("wrapping_key_id", sa.String),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("destroyed_at", UtcDateTime),
        sa.Column("erasure_id", sa.Integer),
    )
    op.create_table(
        "data_key_workflows",
        sa.Column("workflow_id", sa.String, primary_key=True),
        sa.Column("key_id", sa.String, sa.ForeignKey("data_keys.key_id"), nullable=False, index=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String, nullable=False, index=True),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("requested_by", sa.String, nullable=False),
        sa.Column("via", sa.String, nullable=False),
        sa.Column("requested_at", UtcDateTime, nullable=False),
        sa.Column("completed_at", UtcDateTime),
        sa.Column("report", sa.JSON),
    )
    with op.batch_alter_table("deliveries") as deliveries:
        deliveries.add_column(sa.Column("payload_purged_at", UtcDateTime))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as deliveries:
        deliveries.drop_column("payload_purged_at")
    op.drop_table("erasures")
    op.drop_table("data_key_workflows")
    op.drop_table("data_keys")
