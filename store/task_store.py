"""The task store: recruiter tasks and queued messages, written by the activities, read by the CLI.

Every write is idempotent on the request's key, because Temporal retries activities: the second
attempt must find what the first one wrote, never add a second task or message.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from domain.follow_through import MessageRequest, StoredMessage, StoredTask, TaskRequest
from store.migrations import upgrade_store
from store.schema import messages, tasks

DEFAULT_DATABASE_URL = "sqlite:///data/postinterview.sqlite3"

OPEN = "open"
CANCELLED = "cancelled"
QUEUED = "queued"

# How long a SQLite writer waits for the other's lock before failing (seconds).
SQLITE_BUSY_TIMEOUT = 30

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class TaskStore:
    def __init__(self, url: str) -> None:
        self.engine = create_store_engine(url)
        if self.engine.dialect.name not in _INSERTS:
            raise ValueError(f"the task store runs on SQLite or PostgreSQL, not {self.engine.dialect.name}")
        upgrade_store(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # Tasks

    def create_task(self, request: TaskRequest, title: str, instructions: str) -> StoredTask:
        """The task for this request's key: created now, or the one an earlier attempt created."""
        row = self._insert_once(
            tasks,
            key=request.key,
            process_id=request.process_id,
            application_id=request.application_id,
            kind=request.kind.value,
            title=title,
            instructions=instructions,
            assignee_id=request.assignee.id,
            assignee_email=request.assignee.email,
            due_at=request.due_at,
            status=OPEN,
        )
        return StoredTask.model_validate(row)

    def task(self, key: str) -> StoredTask | None:
        row = self._find(tasks, key)
        return StoredTask.model_validate(row) if row else None

    def resolve_tasks(self, keys: Iterable[str], status: str, outcome: str) -> int:
        """Close the open tasks among `keys`; a task already closed keeps its first outcome."""
        return self._close_open_tasks(tasks.c.key.in_(list(keys)), status, outcome)

    def cancel_process_tasks(self, process_id: str, reason: str) -> int:
        """Cancel the open tasks of a process and of its referee checks (child workflows)."""
        referee_checks = tasks.c.process_id.startswith(f"{process_id}-referee-", autoescape=True)
        return self._close_open_tasks(or_(tasks.c.process_id == process_id, referee_checks), CANCELLED, reason)

    def tasks(
        self, status: str | None = None, assignee_id: str | None = None, process_id: str | None = None
    ) -> list[StoredTask]:
        query = select(tasks).order_by(tasks.c.due_at, tasks.c.id)
        if status is not None:
            query = query.where(tasks.c.status == status)
        if assignee_id is not None:
            query = query.where(tasks.c.assignee_id == assignee_id)
        if process_id is not None:
            query = query.where(tasks.c.process_id == process_id)
        with self.engine.connect() as connection:
            return [StoredTask.model_validate(row) for row in connection.execute(query).mappings()]

    # Messages

    def add_message(self, request: MessageRequest, subject: str, body: str) -> StoredMessage:
        """Queue the message for this request's key, unless an earlier attempt already did."""
        row = self._insert_once(
            messages,
            key=request.key,
            process_id=request.process_id,
            recipient_role=request.recipient.role,
            recipient_id=request.recipient.id,
            recipient_email=request.recipient.email,
            subject=subject,
            body=body,
            send_after=request.send_after,
            status=QUEUED,
        )
        return StoredMessage.model_validate(row)

    def message(self, key: str) -> StoredMessage | None:
        row = self._find(messages, key)
        return StoredMessage.model_validate(row) if row else None

    def messages(self, process_id: str | None = None, recipient_role: str | None = None) -> list[StoredMessage]:
        query = select(messages).order_by(messages.c.created_at, messages.c.id)
        if process_id is not None:
            query = query.where(messages.c.process_id == process_id)
        if recipient_role is not None:
            query = query.where(messages.c.recipient_role == recipient_role)
        with self.engine.connect() as connection:
            return [StoredMessage.model_validate(row) for row in connection.execute(query).mappings()]

    # Shared

    def _insert_once(self, table: Table, **values: Any) -> dict[str, Any]:
        # ON CONFLICT DO NOTHING rather than read-then-insert: two attempts running at once
        # (a timed-out one still going) cannot both insert.
        insert = _INSERTS[self.engine.dialect.name](table).values(**values)
        with self.engine.begin() as connection:
            connection.execute(insert.on_conflict_do_nothing(index_elements=[table.c.key]))
            row = connection.execute(select(table).where(table.c.key == values["key"])).mappings().one()
        return dict(row)

    def _find(self, table: Table, key: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(table).where(table.c.key == key)).mappings().one_or_none()
        return dict(row) if row else None

    def _close_open_tasks(self, which: Any, status: str, outcome: str) -> int:
        statement = (
            update(tasks)
            .where(which, tasks.c.status == OPEN)
            .values(status=status, outcome=outcome, resolved_at=datetime.now(UTC))
        )
        with self.engine.begin() as connection:
            return connection.execute(statement).rowcount


def create_store_engine(url: str) -> Engine:
    """An engine for the store's database, SQLite tuned for a reader beside a writer."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
    event.listen(engine, "connect", _enable_wal)
    return engine


def _enable_wal(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the CLI read while the worker writes, instead of failing on a locked database.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
