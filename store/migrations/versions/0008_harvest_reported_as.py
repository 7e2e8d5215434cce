"""The interview id the Greenhouse poller's events carry (harvest_interviews.reported_as).

Harvest's scheduled interview has its own id and names its interview step (`interview.id`), the
id Greenhouse's webhooks give the stage's interview. The poller reports the step id so that an
interview both paths report is one interview in the process; it keeps the id it reported per
scheduled interview, so a cancellation names the same interview as the scheduling did. Rows from
before are left NULL: their events carried the scheduled id, and their later events still do.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("harvest_interviews") as batch:
        batch.add_column(sa.Column("reported_as", sa.String))


def downgrade() -> None:
    with op.batch_alter_table("harvest_interviews") as batch:
        batch.drop_column("reported_as")
