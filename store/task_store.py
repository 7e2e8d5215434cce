"""The task store: recruiter tasks and queued messages, written by the activities, read by the CLI.

Every write is idempotent on the request's key, because Temporal retries activities: the second
attempt must find what the first one wrote, never add a second task or message.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Connection, Engine, Table, event, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from domain import names
from domain.follow_through import MessageRequest, StoredMessage, StoredTask, TaskEvent, TaskKind, TaskRequest
from store.migrations import upgrade_store
from store.schema import MAX_INTEGER_ID, messages, task_events, tasks, users
from store.task_pages import TaskFilter, TaskPage, read_page
from store.task_pages import clients as clients_of

# The statuses (domain.names), under the short names the store's readers use.
OPEN = names.TASK_OPEN
DONE = names.TASK_DONE
SNOOZED = names.TASK_SNOOZED
CANCELLED = names.TASK_CANCELLED
QUEUED = names.MESSAGE_QUEUED
# Statuses in which a task still waits for somebody: the process may still close it.
PENDING = names.TASK_PENDING

PROCESS = "process"  # the actor of what the workflow itself does to a task

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
        """The task for this request's key: created now, or the one an earlier attempt created.

        Its assignee becomes a user of the inbox (a recruiter, or a lead for an escalation) the
        first time they get a task, so a token can be issued to them without typing them in."""
        self._register_assignee(request)
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
            context=request.context,
            client=request.context.get("client"),
        )
        return StoredTask.model_validate(row)

    def task(self, key: str) -> StoredTask | None:
        row = self._find(tasks, key)
        return StoredTask.model_validate(row) if row else None

    def task_by_id(self, task_id: int) -> StoredTask | None:
        if not 0 < task_id <= MAX_INTEGER_ID:
            return None  # no row has it (a URL's id of any size reaches here: never a driver overflow)
        self._wake_snoozed()
        with self.engine.connect() as connection:
            row = connection.execute(select(tasks).where(tasks.c.id == task_id)).mappings().one_or_none()
        return StoredTask.model_validate(row) if row else None

    def resolve_tasks(self, keys: Iterable[str], status: str, outcome: str) -> int:
        """Close the pending tasks among `keys`; a task already closed keeps its first outcome."""
        return self._close_pending_tasks(tasks.c.key.in_(list(keys)), status, outcome, PROCESS)

    def cancel_process_tasks(self, process_id: str, reason: str) -> int:
        """Cancel the pending tasks of a process and of its referee checks (child workflows)."""
        referee_checks = tasks.c.process_id.startswith(f"{process_id}-referee-", autoescape=True)
        return self._close_pending_tasks(or_(tasks.c.process_id == process_id, referee_checks), CANCELLED, reason, PROCESS)

    def tasks(
        self,
        status: str | None = None,
        assignee_id: str | None = None,
        process_id: str | None = None,
        assignees: Collection[str] | None = None,
        due_before: datetime | None = None,
        overdue: bool = False,
    ) -> list[StoredTask]:
        """Tasks by due time. `assignees` limits them to a set of people (a lead's team);
        `overdue` to pending tasks whose due time has passed."""
        self._wake_snoozed()
        query = select(tasks).order_by(tasks.c.due_at, tasks.c.id)
        if status is not None:
            query = query.where(tasks.c.status == status)
        if assignee_id is not None:
            query = query.where(tasks.c.assignee_id == assignee_id)
        if assignees is not None:
            query = query.where(tasks.c.assignee_id.in_(list(assignees)))
        if process_id is not None:
            query = query.where(tasks.c.process_id == process_id)
        if due_before is not None:
            query = query.where(tasks.c.due_at < due_before)
        if overdue:
            query = query.where(tasks.c.status.in_(PENDING), tasks.c.due_at < datetime.now(UTC))
        with self.engine.connect() as connection:
            return [StoredTask.model_validate(row) for row in connection.execute(query).mappings()]

    def page(self, which: TaskFilter, sort: str = "due", limit: int = 50, cursor: str | None = None) -> TaskPage:
        """One page of the tasks `which` selects, with their count (store/task_pages.py);
        BadCursor for a cursor this store did not make for `sort`."""
        self._wake_snoozed()
        with self.engine.connect() as connection:
            return read_page(connection, which, sort, limit, cursor)

    def clients(self, which: TaskFilter) -> list[str]:
        """The clients of the tasks `which` selects, by name: the choices of a client filter."""
        with self.engine.connect() as connection:
            return clients_of(connection, which)

    def history(self, key: str) -> list[TaskEvent]:
        query = select(task_events).where(task_events.c.task_key == key).order_by(task_events.c.id)
        with self.engine.connect() as connection:
            return [TaskEvent.model_validate(row) for row in connection.execute(query).mappings()]

    # What people do to a task (the inbox and the task API). Each returns the task as it is now,
    # or None when it was no longer pending (somebody, or the process, got there first).

    def complete(self, key: str, outcome: str, actor: str, detail: dict[str, Any] | None = None) -> StoredTask | None:
        changed = self._close_pending_tasks(tasks.c.key == key, DONE, outcome, actor, detail)
        return self.task(key) if changed else None

    def snooze(self, key: str, until: datetime, actor: str) -> StoredTask | None:
        return self._change_pending(key, actor, "snoozed", {"until": until.isoformat()}, status=SNOOZED, snoozed_until=until)

    def reassign(self, key: str, assignee_id: str, assignee_email: str | None, actor: str) -> StoredTask | None:
        before = self.task(key)
        detail = {"from": before.assignee_id if before else None, "to": assignee_id}
        return self._change_pending(key, actor, "reassigned", detail, assignee_id=assignee_id, assignee_email=assignee_email)

    def retitle(
        self,
        key: str,
        *,
        title: str,
        instructions: str,
        context: dict[str, str],
        assignee_id: str | None = None,
        assignee_email: str | None = None,
        action: str = "renamed",
    ) -> bool:
        """A pending task takes the people its process now knows: its title, text and context,
        and, with `assignee_id`, a new assignee. Idempotent: a task that already says this is left
        alone, with no second history line. False when nothing changed (already so, or the task is
        no longer pending)."""
        values: dict[str, Any] = {"title": title, "instructions": instructions, "context": context}
        if assignee_id is not None:
            values |= {"assignee_id": assignee_id, "assignee_email": assignee_email}
        with self.engine.begin() as connection:
            row = connection.execute(select(tasks).where(tasks.c.key == key, tasks.c.status.in_(PENDING))).mappings().one_or_none()
            if row is None or all(row[name] == value for name, value in values.items()):
                return False
            connection.execute(update(tasks).where(tasks.c.key == key, tasks.c.status.in_(PENDING)).values(**values))
            moved = assignee_id is not None and row["assignee_id"] != assignee_id
            _record(connection, key, PROCESS, "reassigned" if moved else action, {"from": row["assignee_id"], "to": assignee_id} if moved else None)
        return True

    # Messages

    def add_message(
        self, request: MessageRequest, subject: str, body: str, *, candidate_source: str | None = None, list_unsubscribe: str | None = None
    ) -> StoredMessage:
        """Queue the message for this request's key, unless an earlier attempt already did.
        `candidate_source`: a candidate's ATS source (their contact preference is looked up by it
        when the message is sent); `list_unsubscribe`: the message's opt-out link (its email's
        List-Unsubscribe header)."""
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
            candidate_source=candidate_source,
            list_unsubscribe=list_unsubscribe,
        )
        return StoredMessage.model_validate(row)

    def candidate_of(self, process_id: str) -> tuple[str, str] | None:
        """(source, candidate id) of the candidate this process has messaged, from the messages
        that keep their source; None when it has messaged none (or only before sources were kept)."""
        query = (
            select(messages.c.candidate_source, messages.c.recipient_id)
            .where(messages.c.process_id == process_id, messages.c.recipient_role == "candidate", messages.c.candidate_source.is_not(None))
            .limit(1)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return (row.candidate_source, row.recipient_id) if row else None

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
        statement = _INSERTS[self.engine.dialect.name](table).values(**values)
        with self.engine.begin() as connection:
            # RETURNING, not rowcount: with psycopg an INSERT ... ON CONFLICT DO NOTHING reports -1
            # rows whether or not it inserted, which would log a second "created" for a retry.
            created = connection.execute(
                statement.on_conflict_do_nothing(index_elements=[table.c.key]).returning(table.c.id)
            ).first() is not None
            if created and table is tasks:
                _record(connection, values["key"], PROCESS, "created", {"assignee": values["assignee_id"]})
            row = connection.execute(select(table).where(table.c.key == values["key"])).mappings().one()
        return dict(row)

    def _find(self, table: Table, key: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(table).where(table.c.key == key)).mappings().one_or_none()
        return dict(row) if row else None

    def _close_pending_tasks(self, which: Any, status: str, outcome: str, actor: str, detail: dict[str, Any] | None = None) -> int:
        """Close the pending tasks `which` selects, each with a line in its history, in one
        transaction; a task closed meanwhile by somebody else is left as they closed it."""
        now = datetime.now(UTC)
        closed = 0
        with self.engine.begin() as connection:
            keys = list(connection.execute(select(tasks.c.key).where(which, tasks.c.status.in_(PENDING))).scalars())
            for key in keys:
                statement = (
                    update(tasks)
                    .where(tasks.c.key == key, tasks.c.status.in_(PENDING))
                    .values(status=status, outcome=outcome, resolved_at=now, resolved_by=actor, snoozed_until=None)
                )
                if connection.execute(statement).rowcount:
                    closed += 1
                    _record(connection, key, actor, "completed" if status == DONE else status, {"outcome": outcome, **(detail or {})})
        return closed

    def _change_pending(self, key: str, actor: str, action: str, detail: dict[str, Any], **values: Any) -> StoredTask | None:
        with self.engine.begin() as connection:
            statement = update(tasks).where(tasks.c.key == key, tasks.c.status.in_(PENDING)).values(**values)
            if not connection.execute(statement).rowcount:
                return None
            _record(connection, key, actor, action, detail)
        return self.task(key)

    def _wake_snoozed(self) -> None:
        """Snoozed tasks whose time has come are open again (checked whenever tasks are read)."""
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            keys = list(
                connection.execute(
                    select(tasks.c.key).where(tasks.c.status == SNOOZED, tasks.c.snoozed_until <= now)
                ).scalars()
            )
            for key in keys:
                woken = update(tasks).where(tasks.c.key == key, tasks.c.status == SNOOZED).values(status=OPEN, snoozed_until=None)
                if connection.execute(woken).rowcount:
                    _record(connection, key, PROCESS, "snooze ended", None)

    def register_assignee(self, request: TaskRequest) -> None:
        """The assignee of a task given another way than `create_task` (moved to them) becomes a user."""
        self._register_assignee(request)

    def _register_assignee(self, request: TaskRequest) -> None:
        """The assignee, and their lead, become users of the inbox. Whoever receives escalations
        or is named as somebody's lead is a lead (a recruiter promoted on the way; an operator
        keeps their role), so their team's tasks are theirs to see."""
        person = request.assignee
        is_lead = request.kind is TaskKind.ESCALATION
        now = datetime.now(UTC)
        insert_user = _INSERTS[self.engine.dialect.name](users)
        with self.engine.begin() as connection:
            connection.execute(
                insert_user.values(
                    id=person.id, name=person.name, email=person.email, role="lead" if is_lead else "recruiter", lead_id=person.lead_id, created_at=now
                ).on_conflict_do_nothing(index_elements=[users.c.id])
            )
            leads = [person.id] if is_lead else []
            if person.lead_id and person.lead_id != person.id:
                connection.execute(
                    insert_user.values(id=person.lead_id, role="lead", created_at=now).on_conflict_do_nothing(index_elements=[users.c.id])
                )
                leads.append(person.lead_id)
                # A recruiter moves between teams in the ATS: the latest task says whose team.
                connection.execute(update(users).where(users.c.id == person.id, users.c.lead_id.is_distinct_from(person.lead_id)).values(lead_id=person.lead_id))
            if leads:
                connection.execute(update(users).where(users.c.id.in_(leads), users.c.role == "recruiter").values(role="lead"))


def _record(connection: Connection, key: str, actor: str, action: str, detail: dict[str, Any] | None) -> None:
    connection.execute(insert(task_events).values(task_key=key, at=datetime.now(UTC), actor=actor, action=action, detail=detail))


def create_store_engine(url: str) -> Engine:
    """An engine for the store's database, SQLite tuned for a reader beside a writer.

    hide_parameters: a database error's text never carries the statement's parameters (task
    titles with names, email addresses), so neither do the logs and activity failures it reaches.
    The driver's own message may still quote a value (PostgreSQL's DETAIL); activities report
    store errors through activities/store_failures.py, which drops it."""
    parsed = make_url(url)
    # Called through the module, not a name bound at import: OpenTelemetry's SQLAlchemy
    # instrumentation (service/tracing.py, when tracing is on) wraps sqlalchemy.create_engine.
    create_engine = sqlalchemy.create_engine
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT}, hide_parameters=True)
    event.listen(engine, "connect", _enable_wal)
    return engine


def _enable_wal(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the CLI read while the worker writes, instead of failing on a locked database.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
