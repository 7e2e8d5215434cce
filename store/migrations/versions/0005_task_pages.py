"""Tasks a page at a time: the client each task is for (to filter on), and the indexes a page of
somebody's tasks is read by (store/task_pages.py).

The client is copied from the task's context, where the processes have always put it (the
client's name, or its id when the ATS sent none); existing rows get it the same way.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# At most 32 characters (Alembic's version table holds no longer ids), no hyphens (Alembic refuses them).
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as tasks:
        tasks.add_column(sa.Column("client", sa.String))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE tasks SET client = context::json ->> 'client' WHERE context IS NOT NULL")
    else:
        op.execute("UPDATE tasks SET client = json_extract(context, '$.client') WHERE context IS NOT NULL")
    op.create_index("ix_tasks_assignee_status_due", "tasks", ["assignee_id", "status", "due_at", "id"])
    op.create_index("ix_tasks_status_due", "tasks", ["status", "due_at", "id"])
    op.create_index("ix_tasks_client", "tasks", ["client"])


def downgrade() -> None:
    op.drop_index("ix_tasks_client", "tasks")
    op.drop_index("ix_tasks_status_due", "tasks")
    op.drop_index("ix_tasks_assignee_status_due", "tasks")
    with op.batch_alter_table("tasks") as tasks:
        tasks.drop_column("client")
