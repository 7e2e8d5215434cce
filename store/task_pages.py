"""Tasks a page at a time: filters, sort orders and cursors for the task API and the inbox.

A person at an agency can have thousands of open tasks; the inbox and `GET /api/tasks` read one
page of them. Paging is by keyset, not offset: a cursor carries the sort key of the last (or first)
row shown, and the next page is the rows after it in that order, so a page costs the same on the
first page and the hundredth, and a task completed meanwhile does not shift the next page by one.
The count and the overdue count come from the same filter, without the cursor.

A cursor is opaque to callers (URL-safe base64 of JSON); it names the sort it was made for, so a
cursor from one order used with another is refused instead of skipping rows silently.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from domain import names
from domain.follow_through import StoredTask
from store.schema import MAX_INTEGER_ID, tasks

# The orders a page can be read in: name -> (the column, descending?). Every order breaks ties on
# the task's id, in the same direction, so the order is total and a cursor names one place in it.
SORTS: dict[str, tuple[ColumnElement[Any], bool]] = {
    "due": (tasks.c.due_at, False),
    "-due": (tasks.c.due_at, True),
    "created": (tasks.c.created_at, False),
    "-created": (tasks.c.created_at, True),
    # Done and cancelled tasks by when they closed; a pending task (never closed) by when it was made.
    "resolved": (func.coalesce(tasks.c.resolved_at, tasks.c.created_at), False),
    "-resolved": (func.coalesce(tasks.c.resolved_at, tasks.c.created_at), True),
}
SORT_FIELDS: dict[str, str] = {"due": "due_at", "created": "created_at", "resolved": "resolved_at"}

MAX_PAGE = 500
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class BadCursor(ValueError):
    """A cursor that is not one this store made, or made for another order."""


@dataclass(frozen=True)
class TaskFilter:
    """Which tasks: every field narrows; empty ones do not."""

    statuses: tuple[str, ...] = ()
    assignee_id: str | None = None
    # The people whose tasks the reader may see (a lead's team); None: everybody's.
    assignees: Collection[str] | None = None
    process_id: str | None = None
    kinds: tuple[str, ...] = ()
    client: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    overdue: bool = False

    def where(self, now: datetime) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.statuses:
            clauses.append(tasks.c.status.in_(list(self.statuses)))
        if self.assignee_id is not None:
            clauses.append(tasks.c.assignee_id == self.assignee_id)
        if self.assignees is not None:
            clauses.append(tasks.c.assignee_id.in_(sorted(self.assignees)))
        if self.process_id is not None:
            clauses.append(tasks.c.process_id == self.process_id)
        if self.kinds:
            clauses.append(tasks.c.kind.in_(list(self.kinds)))
        if self.client is not None:
            clauses.append(tasks.c.client == self.client)
        if self.due_before is not None:
            clauses.append(tasks.c.due_at < self.due_before)
        if self.due_after is not None:
            clauses.append(tasks.c.due_at >= self.due_after)
        if self.overdue:
            clauses.extend(_overdue(now))
        return clauses


@dataclass(frozen=True)
class Cursor:
    """A place in one order: the sort key and id of a row, and which way to read from it."""

    sort: str
    key: datetime
    id: int
    backwards: bool = False

    def encode(self) -> str:
        raw = json.dumps([self.sort, self.key.isoformat(), self.id, int(self.backwards)], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, sort: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            made_for, key, row_id, backwards = json.loads(raw)
            cursor = cls(str(made_for), datetime.fromisoformat(key).astimezone(UTC), int(row_id), bool(backwards))
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, OverflowError):
            raise BadCursor("not a cursor from this list: start from the first page (no cursor)") from None
        # Only what a row can hold: an id or an instant beyond them would overflow the driver.
        if not 0 < cursor.id <= MAX_INTEGER_ID or not EARLIEST <= cursor.key <= LATEST:
            raise BadCursor("not a cursor from this list: start from the first page (no cursor)")
        if cursor.sort != sort:
            raise BadCursor(f"this cursor belongs to sort {cursor.sort!r}, not {sort!r}: keep the sort, or start from the first page")
        return cursor


@dataclass
class TaskPage:
    tasks: list[StoredTask]
    total: int  # every task the filter selects, on all pages
    overdue: int  # of those, the pending ones past their due time
    next_cursor: str | None = None
    previous_cursor: str | None = None
    sort: str = "due"
    limit: int = 50


def read_page(connection: Connection, which: TaskFilter, sort: str = "due", limit: int = 50, cursor: str | None = None) -> TaskPage:
    if sort not in SORTS:
        raise BadCursor(f"sort by one of: {', '.join(SORTS)}")
    limit = max(1, min(limit, MAX_PAGE))
    now = datetime.now(UTC)
    where = which.where(now)
    column, descending = SORTS[sort]
    place = Cursor.decode(cursor, sort) if cursor else None
    backwards = bool(place and place.backwards)
    # Reading backwards (the previous page) is the forward query in the opposite order, reversed.
    ascending = descending == backwards
    query = select(tasks).where(*where)
    if place is not None:
        after = or_(column > place.key, and_(column == place.key, tasks.c.id > place.id))
        before = or_(column < place.key, and_(column == place.key, tasks.c.id < place.id))
        query = query.where(after if ascending else before)
    order = (column.asc(), tasks.c.id.asc()) if ascending else (column.desc(), tasks.c.id.desc())
    rows = list(connection.execute(query.order_by(*order).limit(limit + 1)).mappings())
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    found = [StoredTask.model_validate(row) for row in rows]
    total = connection.execute(select(func.count()).select_from(tasks).where(*where)).scalar_one()
    overdue = connection.execute(select(func.count()).select_from(tasks).where(*where, *_overdue(now))).scalar_one()

    def cursor_at(task: StoredTask, back: bool) -> str:
        key = _sort_key(task, sort)
        assert task.id is not None
        return Cursor(sort, key, task.id, back).encode()

    page = TaskPage(found, total, overdue, sort=sort, limit=limit)
    if found:
        # Forwards there is a next page when a row beyond this one was read; backwards, the page
        # we came from is always next. The same reasoning, mirrored, for the previous page.
        if (more and not backwards) or backwards:
            page.next_cursor = cursor_at(found[-1], False)
        if place is not None and (not backwards or more):
            page.previous_cursor = cursor_at(found[0], True)
    return page


def clients(connection: Connection, which: TaskFilter) -> list[str]:
    """The clients the filter's tasks are for (to filter by), by name."""
    query = select(tasks.c.client).where(*which.where(datetime.now(UTC)), tasks.c.client.is_not(None)).distinct().order_by(tasks.c.client)
    return [name for name in connection.execute(query).scalars()]


def _overdue(now: datetime) -> list[ColumnElement[bool]]:
    return [tasks.c.status.in_(names.TASK_PENDING), tasks.c.due_at < now]


def _sort_key(task: StoredTask, sort: str) -> datetime:
    name = sort.lstrip("-")
    if name == "resolved":
        return task.resolved_at or task.created_at
    value = getattr(task, SORT_FIELDS[name])
    assert isinstance(value, datetime)
    return value
