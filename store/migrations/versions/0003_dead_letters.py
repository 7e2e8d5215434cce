"""Dead letters in the intake table: when the forwarder gave up on a delivery, and the operator
who retried or skipped it, when and why.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as deliveries:
        deliveries.add_column(sa.Column("failed_at", UtcDateTime))
        deliveries.add_column(sa.Column("operator", sa.String))
        deliveries.add_column(sa.Column("operator_at", UtcDateTime))
        deliveries.add_column(sa.Column("operator_note", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as deliveries:
        for column in ("operator_note", "operator_at", "operator", "failed_at"):
            deliveries.drop_column(column)
