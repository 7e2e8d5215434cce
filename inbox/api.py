"""The task API: list, read, complete, snooze and reassign tasks, for the inbox page and for any
tool a team builds on top (a Slack bot, a dashboard).

Every call carries a token: `Authorization: Bearer <token>` (or the inbox's session cookie).
401 without a valid one, answered from the headers alone before any of the body is read
(TokenFirst); 403 for a task outside the caller's reach (inbox/desk.py).
"""

# No `from __future__ import annotations`: FastAPI must resolve the route signatures' Annotated
# dependencies, which are defined inside `router`.
import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, model_validator

from domain.bounds import BoundedMoment, MultiLineText
from domain.reference_report import ReferenceReport
from domain.follow_through import TASK_OUTCOMES, StoredTask, TaskEvent, TaskKind, TaskOutcome
from inbox.desk import DeskError, Principal, TaskDesk
from store.access_store import User
from store.task_pages import MAX_PAGE
from store.task_store import PENDING

SESSION_COOKIE = "postinterview_session"


class TaskView(StoredTask):
    overdue: bool = Field(description="Still waiting for somebody and past its due time.")
    outcomes: list[TaskOutcome] = Field(description="The outcomes this task can be completed with, the usual one first.")

    @classmethod
    def of(cls, task: StoredTask, now: datetime | None = None) -> "TaskView":
        now = now or datetime.now(UTC)
        return cls(
            **task.model_dump(),
            overdue=task.status in PENDING and task.due_at < now,
            outcomes=list(TASK_OUTCOMES.get(TaskKind(task.kind), ())) if task.kind in TaskKind._value2member_map_ else [],
        )


class TaskList(BaseModel):
    """One page of tasks. Ask for the next with `cursor=next_cursor` and the same filters and sort."""

    tasks: list[TaskView]
    total: int = Field(description="How many tasks the filters select, on every page.")
    overdue: int = Field(description="Of those, how many are still pending and past their due time.")
    limit: int = Field(description="The page size asked for (at most 500).")
    sort: str
    next_cursor: str | None = Field(description="The cursor of the next page; null on the last.")
    previous_cursor: str | None = Field(description="The cursor of the page before; null on the first.")


Sort = Literal["due", "-due", "created", "-created", "resolved", "-resolved"]


class TaskDetail(TaskView):
    history: list[TaskEvent]


class Completion(BaseModel):
    outcome: TaskOutcome | None = Field(default=None, description="Defaults to the task's usual outcome.")
    note: MultiLineText | None = Field(default=None, max_length=4000)  # tabs and line breaks, no other control characters
    debrief: dict[str, Any] | None = Field(default=None, description="The debrief, for a debrief task (see the Debrief schema).")


class Snooze(BaseModel):
    # Bounded like every date that enters (1970-2100): a year-9999 instant would overflow on its
    # way to UTC, and a snooze for centuries hides a task for good.
    until: BoundedMoment | None = None
    hours: float | None = Field(default=None, gt=0, le=24 * 90)

    @model_validator(mode="after")
    def _one_of(self) -> "Snooze":
        if (self.until is None) == (self.hours is None):
            raise ValueError("give either 'until' (an instant with an offset) or 'hours'")
        return self

    def instant(self) -> datetime:
        return self.until or datetime.now(UTC) + timedelta(hours=self.hours or 0)


class Reassignment(BaseModel):
    assignee_id: str = Field(min_length=1, max_length=128)


def bearer_or_cookie(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(SESSION_COOKIE)


def router(desk: TaskDesk) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["tasks"])

    def signed_in(request: Request) -> Principal:
        # TokenFirst has checked the token before the body was read; without it (the router
        # mounted on its own), check it here.
        who = getattr(request.state, PRINCIPAL, None) or desk.authenticate(bearer_or_cookie(request))
        if who is None:
            raise Unauthenticated()
        return who

    Who = Annotated[Principal, Depends(signed_in)]

    @api.get("/me", summary="Who the token belongs to")
    def me(who: Who) -> User:
        return who.user

    @api.get("/tasks", summary="Tasks, a page at a time, filtered and sorted")
    def list_tasks(
        who: Who,
        status: Annotated[list[Literal["open", "snoozed", "done", "cancelled"]] | None, Query(description="Repeat for several.")] = None,
        assignee: str | None = None,
        kind: Annotated[list[TaskKind] | None, Query(description="Repeat for several.")] = None,
        client: Annotated[str | None, Query(max_length=500, description="The client's name, as on the task.")] = None,
        due_before: BoundedMoment | None = None,
        due_after: BoundedMoment | None = None,
        overdue: bool = False,
        sort: Annotated[Sort, Query(description="A field, soonest or oldest first; '-' for the latest first.")] = "due",
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        cursor: Annotated[str | None, Query(max_length=500, description="next_cursor or previous_cursor of a page.")] = None,
    ) -> TaskList:
        page = desk.page(
            who,
            tuple(status or ()),
            assignee,
            kinds=tuple(k.value for k in kind or ()),
            client=client,
            due_before=due_before,
            due_after=due_after,
            overdue=overdue,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        now = datetime.now(UTC)
        return TaskList(
            tasks=[TaskView.of(t, now) for t in page.tasks],
            total=page.total,
            overdue=page.overdue,
            limit=page.limit,
            sort=page.sort,
            next_cursor=page.next_cursor,
            previous_cursor=page.previous_cursor,
        )

    @api.get("/tasks/{task_id}", summary="One task, with its history")
    def read_task(who: Who, task_id: int) -> TaskDetail:
        task = desk.get(who, task_id)
        return TaskDetail(**TaskView.of(task).model_dump(), history=desk.tasks.history(task.key))

    @api.get("/applications/{application_id}/references", summary="An application's reference reports, with their fraud signals")
    def references(
        who: Who,
        application_id: str,
        source: Annotated[str | None, Query(max_length=100, description="The ATS (greenhouse, lever, ...), when ids may clash across them.")] = None,
    ) -> list[ReferenceReport]:
        return desk.references(who, application_id, source)

    @api.post("/tasks/{task_id}/complete", summary="Complete a task with an outcome")
    async def complete(who: Who, task_id: int, body: Completion) -> TaskView:
        return TaskView.of(await desk.complete(who, task_id, body.outcome, body.note, body.debrief))

    @api.post("/tasks/{task_id}/snooze", summary="Put a task off until later")
    def snooze(who: Who, task_id: int, body: Snooze) -> TaskView:
        return TaskView.of(desk.snooze(who, task_id, body.instant()))

    @api.post("/tasks/{task_id}/reassign", summary="Give a task to somebody else")
    def reassign(who: Who, task_id: int, body: Reassignment) -> TaskView:
        return TaskView.of(desk.reassign(who, task_id, body.assignee_id))

    return api


class Unauthenticated(DeskError):
    status, code = 401, "unauthorized"

    def __init__(self) -> None:
        super().__init__("a valid token is required: Authorization: Bearer <token> (postinterview users token USER)")


PRINCIPAL = "principal"  # where TokenFirst leaves the caller, in the request's state
ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class TokenFirst:
    """ASGI middleware: a request under /api/ without a valid token gets 401 from its headers alone.

    FastAPI reads and parses a route's body before it resolves the route's dependencies, so the
    `signed_in` dependency alone would make an anonymous caller's body be read (and a stalled
    one waited for) before the 401. This checks first and hands the caller on to `signed_in`."""

    def __init__(self, app: ASGIApp, desk: TaskDesk, public_url: str | None = None) -> None:
        self.app = app
        self.desk = desk
        # Imported here: the inbox pages import this module (SESSION_COOKIE).
        from inbox.pages import public_origin, same_origin

        self.public = public_origin(public_url)
        self.same_origin = same_origin

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http" or not (scope["path"] == "/api" or scope["path"].startswith("/api/")):
            await self.app(scope, receive, send)
            return
        who = await asyncio.to_thread(self.desk.authenticate, bearer_or_cookie(Request(scope)))
        if who is None:
            error = Unauthenticated()
            await _answer(send, 401, {"error": error.code, "message": error.message}, [(b"www-authenticate", b"Bearer")])
            return
        request = Request(scope)
        if scope["method"] not in _SAFE_METHODS and not _bearer(request) and not self.same_origin(request, self.public):
            # The session cookie rides along with any request the browser makes to this site:
            # a change made with it must come from the inbox's own pages (CSRF), as the inbox's
            # forms must. A bearer token is never sent by a browser on its own: no such check.
            await _answer(send, 403, {"error": "forbidden", "message": "a request signed in by the session cookie must come from the inbox's own origin"})
            return
        scope.setdefault("state", {})[PRINCIPAL] = who
        await self.app(scope, receive, send)


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _bearer(request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


async def _answer(send: Callable[[Any], Awaitable[None]], status: int, answer: dict[str, str], headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(answer).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])],
    })
    await send({"type": "http.response.body", "body": body})


def mount(app: FastAPI, desk: TaskDesk, public_url: str | None = None) -> None:
    """Add the task API to an app (the intake's), with JSON errors like the webhook endpoints'.
    `public_url` (PUBLIC_BASE_URL): the origin cookie-signed changes must come from, as the inbox's forms."""
    app.include_router(router(desk))
    app.add_middleware(TokenFirst, desk=desk, public_url=public_url)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> Response:
        # FastAPI's own 422, but written as ASCII JSON, and bytes quoted as text with
        # replacements: the errors quote the input, which may be a JSON string with a lone
        # surrogate ("\ud800", no UTF-8 form) or a body that is not UTF-8 at all (b"\x80").
        # FastAPI's default answer failed to render either: a 500.
        quoted = jsonable_encoder(error.errors(), custom_encoder={bytes: lambda raw: raw.decode("utf-8", "replace")})
        body = json.dumps({"detail": quoted}, ensure_ascii=True)
        return Response(body, status_code=422, media_type="application/json")

    @app.exception_handler(DeskError)
    async def _desk_error(_: Request, error: DeskError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse({"error": error.code, "message": error.message, **error.detail}, status_code=error.status, headers=headers)
