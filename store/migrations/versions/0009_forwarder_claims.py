"""Intake instances that scale out: a pending delivery is claimed by one forwarder at a time,
for a lease that its forwarder renews while it runs and that expires when it dies.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.schema import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as deliveries:
        deliveries.add_column(sa.Column("claimed_by", sa.String))
        deliveries.add_column(sa.Column("lease_until", UtcDateTime))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as deliveries:
        for column in ("lease_until", "claimed_by"):
            deliveries.drop_column(column)
