"""The recruiter inbox: server-rendered pages over the task desk, for people in a browser.

One page lists the signed-in person's tasks (a lead's team's, an operator's everybody's) by due
time, overdue ones marked, each with what can be done with it: the debrief form, the outcomes
its kind allows, snooze, reassign. Plain HTML forms (POST, then a redirect to the list, with a
flash message); a refused debrief is shown next to its form with what was typed kept. No
JavaScript is needed, except to hand a sign-in link's code to the sign-in form (which then says
whose account the link opens, and signs in only when the person presses the button).

Sign-in: paste an API token (`postinterview users token USER`) or open a one-time link
(`postinterview inbox-link USER`); either is exchanged for a session token of its own in the
`postinterview_session` cookie (HttpOnly, SameSite=Strict, Secure over https), which sign-out
revokes. Forms are protected against cross-site posts three ways: the SameSite=Strict cookie, a
form token derived from the session, and the Origin (or Referer) header checked on every POST.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from dataclasses import dataclass, replace

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from domain.bounds import strip_control
from domain.debrief import feedback_debrief, why_without_debrief
from domain.follow_through import TASK_OUTCOMES, StoredTask, TaskKind, TaskOutcome
from inbox.api import SESSION_COOKIE
from inbox.desk import DeskError, Forbidden, NotPending, Principal, TaskDesk, TaskNotFound, process_of
from store.reference_store import ReferenceStore
from store.access_store import INBOX_SESSION_LABEL, INBOX_SESSION_LIFETIME, SIGN_IN_CODE_LIFETIME, SIGN_IN_CODE_PREFIX, User
from store.task_store import CANCELLED, DONE, PENDING

log = structlog.get_logger()

HERE = Path(__file__).parent
FLASH_COOKIE = "postinterview_flash"

DEBRIEF_KINDS = frozenset({TaskKind.BOOK_DEBRIEF.value, TaskKind.URGENT_DEBRIEF.value})
SNOOZES: dict[str, tuple[str, timedelta]] = {
    "1d": ("1 day", timedelta(days=1)),
    "1w": ("1 week", timedelta(weeks=1)),
}
OUTCOME_LABELS: dict[TaskOutcome, str] = {
    TaskOutcome.DEBRIEFED: "Debrief recorded",
    TaskOutcome.CONSENTED: "The referee agreed",
    TaskOutcome.REFERENCE_RECEIVED: "Reference received",
    TaskOutcome.CHASED: "Chased the referee",
    TaskOutcome.STARTED: "They started",
    TaskOutcome.DID_NOT_START: "They did not start",
    TaskOutcome.DONE: "Done",
    TaskOutcome.REFEREE_DECLINED: "The referee can't give a reference",
}
# How a recruiter would say it; the value is the Debrief's `interest`.
INTEREST_CHOICES: tuple[tuple[int, str], ...] = (
    (5, "5: very keen, would accept an offer"),
    (4, "4: keen"),
    (3, "3: open, still deciding"),
    (2, "2: lukewarm"),
    (1, "1: not interested"),
)
DEBRIEF_FIELDS: dict[str, str] = {
    "summary": "How did it go? Who did they meet, what was discussed, what landed and what did not",
    "interest": "How keen is the candidate on the role?",
    "concerns": "Their concerns about the role or the firm",
    "questions_for_client": "Their questions for the client (one per line)",
    "reflections": "What the interviewers asked them to think about, and their thoughts on it",
}
# The list's choices. Pages are read by keyset (store/task_pages.py): a cursor, not a page number.
TODO_SORTS: dict[str, str] = {"due": "Soonest due first", "-due": "Latest due first", "-created": "Newest first", "created": "Oldest first"}
DONE_SORTS: dict[str, str] = {"-resolved": "Latest closed first", "resolved": "Earliest closed first"}
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
# How far back the to-do list's "recent reference reports" go.
RECENT_REPORTS = timedelta(days=30)
KIND_LABELS: dict[str, str] = {kind.value: kind.value.replace("_", " ").capitalize() for kind in TaskKind}


@dataclass(frozen=True)
class ListView:
    """What the list shows, from its query string: which tab, filters, order, page and the task
    opened. Anything unusable in it (a mangled link) falls back to the default, never an error;
    only a cursor the store did not make is refused, since it would silently show another page."""

    show_done: bool = False
    assignee: str | None = None
    kind: str | None = None
    client: str | None = None
    overdue: bool = False
    sort: str = "due"
    limit: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None
    open: int | None = None

    @classmethod
    def of(cls, params: Mapping[str, str]) -> ListView:
        show_done = params.get("show") == "done"
        sorts = DONE_SORTS if show_done else TODO_SORTS
        sort = params.get("sort") or ""
        limit = params.get("limit") or ""
        opened = params.get("open") or ""
        kind = params.get("kind") or None
        return cls(
            show_done=show_done,
            assignee=_line(params.get("assignee")),
            kind=kind if kind in KIND_LABELS else None,
            client=_line(params.get("client")),
            overdue=params.get("overdue") in ("1", "true", "on") and not show_done,
            sort=sort if sort in sorts else next(iter(sorts)),
            limit=int(limit) if limit.isdigit() and int(limit) in PAGE_SIZES else DEFAULT_PAGE_SIZE,
            cursor=_line(params.get("cursor")),
            open=int(opened) if opened.isdigit() and len(opened) < 12 else None,
        )

    def query(self, **changes: Any) -> dict[str, str]:
        """The query string of this view with `changes` (None drops a parameter), defaults left out."""
        view = replace(self, **changes)
        default_sort = next(iter(DONE_SORTS if view.show_done else TODO_SORTS))
        pairs = {
            "show": "done" if view.show_done else None,
            "assignee": view.assignee,
            "kind": view.kind,
            "client": view.client,
            "overdue": "1" if view.overdue else None,
            "sort": view.sort if view.sort != default_sort else None,
            "limit": str(view.limit) if view.limit != DEFAULT_PAGE_SIZE else None,
            "cursor": view.cursor,
            "open": str(view.open) if view.open is not None else None,
        }
        return {key: value for key, value in pairs.items() if value}

    def url(self, **changes: Any) -> str:
        query = self.query(**changes)
        return "/inbox" + (f"?{urlencode(query)}" if query else "")

    @property
    def filtered(self) -> bool:
        return bool(self.assignee or self.kind or self.client or self.overdue)


def _line(value: str | None) -> str | None:
    value = strip_control(value or "").strip()[:500]
    return value or None


# Every page is the signed-in person's own: never cached, framed or leaking its URL elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def form_token(session: str) -> str:
    """The form token of a session: unguessable without the session cookie, nothing to store."""
    return hmac.new(session.encode(), b"postinterview inbox form", hashlib.sha256).hexdigest()


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def public_origin(public_url: str | None) -> str | None:
    """The origin browsers reach the inbox at, from PUBLIC_BASE_URL (`https://inbox.agency.example`):
    behind a TLS-terminating proxy the request itself says http and an inside host, so only the
    configured URL knows. None when unset or on this machine (`make run` sets it to
    http://localhost:PORT, and a browser may as well open 127.0.0.1): then the request's own
    scheme and host are the site's."""
    if not public_url or not public_url.strip():
        return None
    parts = urlsplit(public_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"PUBLIC_BASE_URL={public_url!r}: expected an http(s) URL such as https://inbox.agency.example")
    if parts.hostname.lower() in LOOPBACK_HOSTS:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def site_origin(request: Request, public: str | None = None) -> str:
    """The origin of the inbox's own pages: the public one when configured, else the request's."""
    return public or f"{request.url.scheme}://{request.url.netloc}"


def secure_cookies(request: Request, public: str | None = None) -> bool:
    """Cookies carry Secure when browsers reach us over https: the public URL says so behind a
    proxy, the request itself when served over TLS directly."""
    return site_origin(request, public).startswith("https://") or request.url.scheme == "https"


def same_origin(request: Request, public: str | None = None) -> bool:
    """Whether a POST comes from a page of this site: its Origin, or else its Referer, must be
    the site's origin (see site_origin). A post with neither is refused (every current browser
    sends Origin)."""
    here = site_origin(request, public)
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.lower() == here.lower()
    referer = urlsplit(request.headers.get("referer", ""))
    return bool(referer.netloc) and f"{referer.scheme}://{referer.netloc}".lower() == here.lower()


def debrief_from_form(form: Mapping[str, Any]) -> dict[str, Any]:
    """The Debrief the form describes, as the process takes it. Nothing is judged here: the
    process's validator decides, and its reason is shown next to the form."""
    debrief: dict[str, Any] = {
        "summary": str(form.get("summary", "")),
        "concerns": str(form.get("concerns", "")),
        "reflections": str(form.get("reflections", "")),
        "questions_for_client": [line.strip() for line in str(form.get("questions_for_client", "")).splitlines() if line.strip()],
    }
    interest = str(form.get("interest", "")).strip()
    if interest:
        debrief["interest"] = int(interest) if interest.isascii() and interest.isdigit() else interest
    return debrief


def when(moment: datetime | None, now: datetime) -> str:
    """A due time as a recruiter reads it: the instant (UTC) and how far off it is."""
    if moment is None:
        return ""
    moment = moment.astimezone(UTC)
    return f"{moment:%a %d %b %H:%M} UTC ({_distance(moment - now)})"


def _distance(delta: timedelta) -> str:
    seconds = abs(delta.total_seconds())
    if seconds < 60:
        return "now"
    if seconds < 3600:
        amount = f"{int(seconds // 60)} min"
    elif seconds < 2 * 86400:
        hours, minutes = divmod(int(seconds // 60), 60)
        amount = f"{hours} h {minutes} min" if minutes else f"{hours} h"
    else:
        amount = f"{int(seconds // 86400)} days"
    return f"in {amount}" if delta.total_seconds() > 0 else f"{amount} ago"


class InboxPages:
    def __init__(self, desk: TaskDesk, temporal_ui: str | None = None, namespace: str = "default", public_url: str | None = None) -> None:
        self.desk = desk
        # The referees' reports of the tasks' applications (shown with the task, flags first).
        self.references = ReferenceStore(desk.tasks.engine)
        self.public_origin = public_origin(public_url)
        self.temporal_ui = temporal_ui.rstrip("/") if temporal_ui else None
        self.namespace = namespace
        environment = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True, default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        environment.globals.update(debrief_fields=DEBRIEF_FIELDS, interest_choices=INTEREST_CHOICES, snoozes=SNOOZES)
        self.templates = Jinja2Templates(env=environment)

    # rendering

    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        response = self.templates.TemplateResponse(request, template, context, status_code=status)
        response.headers.update(SECURITY_HEADERS)
        return response

    def problem(self, request: Request, status: int, title: str, message: str, who: Principal | None = None) -> HTMLResponse:
        return self.page(request, "problem.html.j2", status, title=title, message=message, who=who)

    def process_link(self, task: StoredTask) -> str | None:
        if self.temporal_ui is None:
            return None
        return f"{self.temporal_ui}/namespaces/{quote(self.namespace)}/workflows/{quote(task.process_id)}"

    def inbox(
        self,
        request: Request,
        who: Principal,
        session: str,
        status: int = 200,
        errors: Mapping[int, str] | None = None,
        kept: Mapping[int, Mapping[str, Any]] | None = None,
        flash: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """One page of the list, filtered and sorted by the store; only the opened task (`open`)
        carries its forms, so a page of thousands costs what a page of 50 does."""
        now = datetime.now(UTC)
        view = ListView.of(request.query_params if params is None else params)
        statuses = (DONE, CANCELLED) if view.show_done else tuple(PENDING)
        page = self.desk.page(
            who,
            statuses,
            view.assignee,
            kinds=(view.kind,) if view.kind else (),
            client=view.client,
            overdue=view.overdue,
            sort=view.sort,
            limit=view.limit,
            cursor=view.cursor,
        )
        tasks = list(page.tasks)
        opened: StoredTask | None = None
        if view.open is not None:
            opened = next((task for task in tasks if task.id == view.open), None)
            if opened is None:
                # Opened from elsewhere (a link, or a task the filters leave out): shown above the list.
                opened = self.desk.get(who, view.open)
                tasks.insert(0, opened)
        shown = {t.assignee_id for t in tasks} | {t.resolved_by for t in tasks if t.resolved_by}
        people = {user.id: user for user in self.desk.access.users_by_id(frozenset(shown))}
        team_view = who.reach is None or len(who.reach) > 1
        processes = {p for p in (process_of(task) for task in tasks) if p}
        report_counts = self.references.counts(processes)
        opened_process = process_of(opened) if opened is not None else None
        return self.page(
            request,
            "inbox.html.j2",
            status,
            who=who,
            team_view=team_view,
            show_done=view.show_done,
            view=view,
            page=page,
            people=people,
            filterable=sorted(self.desk.access.users_by_id(who.reach), key=lambda u: u.id) if team_view else [],
            kinds=KIND_LABELS,
            clients=self.desk.clients(who, statuses, view.assignee),
            sorts=DONE_SORTS if view.show_done else TODO_SORTS,
            page_sizes=PAGE_SIZES,
            # Only the people this person may give a task to (desk.reassign's rule), never the
            # directory; and only for the opened task, the one with forms.
            reassignable=self.desk.reassignable(who) if opened is not None and opened.status in PENDING else [],
            tasks=[self._card(task, now, opened=task is opened, references=report_counts.get(process_of(task) or "")) for task in tasks],
            reports=self.references.reports(process_ids=[opened_process]) if opened_process else [],
            # Above the first page of the to-do list: the reports that came in lately, flags first.
            recent_reports=self.references.recent(who.reach, now - RECENT_REPORTS, 10) if not view.show_done and not view.cursor else [],
            history=self.desk.tasks.history(opened.key) if opened is not None else [],
            errors=errors or {},
            kept=kept or {},
            flash=flash,
            csrf=form_token(session),
        )

    def _card(self, task: StoredTask, now: datetime, opened: bool = False, references: tuple[int, int] | None = None) -> dict[str, Any]:
        kind = TaskKind(task.kind) if task.kind in TaskKind._value2member_map_ else None
        outcomes = TASK_OUTCOMES.get(kind, ()) if kind else ()
        # A feedback task's debrief: its why in the list, the debrief itself once it is opened.
        carried = feedback_debrief(task.context) if kind is TaskKind.SEND_FEEDBACK else None
        return {
            "task": task,
            "why": why_without_debrief(task.instructions) if carried is not None else task.instructions,
            "feedback_debrief": carried if opened else None,
            "pending": task.status in PENDING,
            "overdue": task.status in PENDING and task.due_at < now,
            "due": when(task.due_at, now),
            "snoozed_until": when(task.snoozed_until, now) if task.status == "snoozed" else "",
            "resolved": when(task.resolved_at, now),
            "debrief": task.kind in DEBRIEF_KINDS,
            "outcomes": [(o.value, OUTCOME_LABELS.get(o, o.value)) for o in outcomes],
            "process_link": self.process_link(task),
            "opened": opened,
            # (reports, flagged) of the application's referees: a count on the card, the reports when opened.
            "references": references,
        }


def router(pages: InboxPages) -> APIRouter:
    desk = pages.desk
    inbox = APIRouter(prefix="/inbox", include_in_schema=False)

    def signed_in(request: Request) -> tuple[Principal, str] | None:
        session = request.cookies.get(SESSION_COOKIE)
        who = desk.authenticate(session)
        return (who, session) if who is not None and session else None

    def to_login(request: Request) -> RedirectResponse:
        response = RedirectResponse("/inbox/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=secure_cookies(request, pages.public_origin), httponly=True, samesite="strict")
        return response

    def back_to_inbox(request: Request, message: str, query: Mapping[str, str] | None = None) -> RedirectResponse:
        target = "/inbox" + (f"?{urlencode(query)}" if query else "")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            FLASH_COOKIE, quote(message), max_age=60, path="/inbox", httponly=True, samesite="strict", secure=secure_cookies(request, pages.public_origin)
        )
        return response

    def cross_site(request: Request) -> HTMLResponse:
        log.warning("inbox post refused: not from this site", path=request.url.path)
        return pages.problem(
            request,
            403,
            "This form did not come from the inbox",
            "The request came from another site, or its form token is out of date (you may have signed in again "
            "elsewhere). Nothing was changed. Reload the inbox and try again.",
        )

    async def checked_post(request: Request) -> tuple[Principal, str, Any] | Response:
        """The signed-in person, their session and the form of a POST that passes the checks."""
        if not same_origin(request, pages.public_origin):
            return cross_site(request)
        current = await asyncio.to_thread(signed_in, request)
        if current is None:
            return to_login(request)
        form = await request.form()
        if not hmac.compare_digest(str(form.get("csrf", "")), form_token(current[1])):
            return cross_site(request)
        return current[0], current[1], form

    def came_from(form: Any) -> dict[str, str]:
        """The list the form was posted from (its `back` field: the list's query string), to go
        back to; rebuilt from what it says, so it can only ever lead to the inbox."""
        return ListView.of(dict(parse_qsl(str(form.get("back", ""))))).query(open=None)

    def desk_problem(request: Request, who: Principal, error: DeskError) -> HTMLResponse:
        titles = {403: "Not one of your tasks", 404: "No such task"}
        return pages.problem(request, error.status, titles.get(error.status, "That did not work"), error.message, who)

    # signing in and out

    @inbox.get("/login")
    def login_form(request: Request) -> Response:
        # Shown even when signed in: a sign-in link for somebody else must still work (it
        # switches the session), and a redirect would carry the link's code along.
        current = signed_in(request)
        return pages.page(request, "login.html.j2", signed_in_as=current[0].user if current else None)

    @inbox.post("/login")
    async def login(request: Request) -> Response:
        if not same_origin(request, pages.public_origin):
            return cross_site(request)
        form = await request.form()
        secret = str(form.get("token", "")).strip()
        # A code from a link's fragment (sign-in.js marks it): anybody can send a link that
        # signs into their own account, so show whose it is and sign in only on the click.
        from_link = bool(form.get("from_link"))
        user = await asyncio.to_thread(_user_for_secret, desk, secret, not from_link)
        if user is None:
            log.info("inbox sign-in refused")
            message = (
                "That sign-in link has been used or has expired: ask for a new one (postinterview inbox-link YOUR-ID)."
                if secret.startswith(SIGN_IN_CODE_PREFIX)
                else "That token is not valid: it may be mistyped or revoked. `postinterview users token YOUR-ID` issues a new one."
            )
            return pages.page(request, "login.html.j2", 401, error=message)
        if from_link:
            current = await asyncio.to_thread(signed_in, request)
            return pages.page(
                request, "login.html.j2", signed_in_as=current[0].user if current else None, link_user=user, link_token=secret
            )
        if previous := request.cookies.get(SESSION_COOKIE):
            await asyncio.to_thread(desk.access.revoke_token, previous)  # a browser holds one session
        session = await asyncio.to_thread(desk.access.issue_token, user.id, INBOX_SESSION_LABEL)
        log.info("inbox signed in", user_id=user.id)
        response = RedirectResponse("/inbox", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session,
            max_age=int(INBOX_SESSION_LIFETIME.total_seconds()),
            path="/",
            httponly=True,
            samesite="strict",
            secure=secure_cookies(request, pages.public_origin),
        )
        return response

    @inbox.get("/logout")
    def logout(request: Request) -> Response:
        # A GET, so that a plain link signs out; the worst a forged one can do is sign you out.
        session = request.cookies.get(SESSION_COOKIE)
        if session and desk.access.revoke_token(session):
            log.info("inbox signed out")
        return to_login(request)

    # the list

    @inbox.get("")
    def list_tasks(request: Request) -> Response:
        current = signed_in(request)
        if current is None:
            return to_login(request)
        flash = request.cookies.get(FLASH_COOKIE)
        try:
            response = pages.inbox(request, *current, flash=unquote(flash) if flash else None)
        except DeskError as error:
            return desk_problem(request, current[0], error)
        if flash:
            response.delete_cookie(FLASH_COOKIE, path="/inbox")
        return response

    # what people do

    @inbox.post("/tasks/{task_id}/complete")
    async def complete(request: Request, task_id: int) -> Response:
        checked = await checked_post(request)
        if isinstance(checked, Response):
            return checked
        who, session, form = checked
        try:
            task = await asyncio.to_thread(desk.get, who, task_id)
            outcome_code = str(form.get("outcome", "")) or None
            outcome = TaskOutcome(outcome_code) if outcome_code in TaskOutcome._value2member_map_ else None
            if outcome_code and outcome is None:
                raise DeskError(f"{outcome_code!r} is not an outcome")
            debrief = debrief_from_form(form) if task.kind in DEBRIEF_KINDS else None
            note = strip_control(str(form.get("note", "")), multi_line=True).strip() or None
            done = await desk.complete(who, task_id, outcome, note, debrief)
        except (Forbidden, TaskNotFound) as error:
            return desk_problem(request, who, error)
        except NotPending as error:
            return back_to_inbox(request, f"Nothing changed: {error.message}.", came_from(form))
        except DeskError as error:
            # Refused by the process (its reason, e.g. a debrief that says nothing), or Temporal
            # unreachable: the page again with the task open, the reason beside the form, what
            # was typed kept.
            kept = {task_id: {key: str(value) for key, value in form.items() if key not in ("csrf", "back")}}
            params = {**came_from(form), "open": str(task_id)}
            return await asyncio.to_thread(pages.inbox, request, who, session, error.status, {task_id: error.message}, kept, None, params)
        chosen = outcome or TASK_OUTCOMES[TaskKind(task.kind)][0]
        return back_to_inbox(request, f"{OUTCOME_LABELS.get(chosen, chosen.value)}: {done.title}.", came_from(form))

    @inbox.post("/tasks/{task_id}/snooze")
    async def snooze(request: Request, task_id: int) -> Response:
        checked = await checked_post(request)
        if isinstance(checked, Response):
            return checked
        who, _, form = checked
        choice = SNOOZES.get(str(form.get("for", "")))
        if choice is None:
            return desk_problem(request, who, DeskError(f"snooze for one of: {', '.join(label for label, _ in SNOOZES.values())}"))
        label, delay = choice
        try:
            task = await asyncio.to_thread(desk.snooze, who, task_id, datetime.now(UTC) + delay)
        except NotPending as error:
            return back_to_inbox(request, f"Nothing changed: {error.message}.", came_from(form))
        except DeskError as error:
            return desk_problem(request, who, error)
        return back_to_inbox(request, f"Snoozed for {label}: {task.title}.", came_from(form))

    @inbox.post("/tasks/{task_id}/reassign")
    async def reassign(request: Request, task_id: int) -> Response:
        checked = await checked_post(request)
        if isinstance(checked, Response):
            return checked
        who, _, form = checked
        try:
            task = await asyncio.to_thread(desk.reassign, who, task_id, str(form.get("assignee_id", "")).strip())
        except NotPending as error:
            return back_to_inbox(request, f"Nothing changed: {error.message}.", came_from(form))
        except DeskError as error:
            return desk_problem(request, who, error)
        return back_to_inbox(request, f"Given to {task.assignee_id}: {task.title}.", came_from(form))

    return inbox


def _user_for_secret(desk: TaskDesk, secret: str, use: bool = True) -> User | None:
    """Whose token or sign-in code `secret` is; a code is used up only when `use`."""
    if not secret:
        return None
    if secret.startswith(SIGN_IN_CODE_PREFIX):
        if not use:
            return desk.access.sign_in_code_user(secret, SIGN_IN_CODE_LIFETIME)
        return desk.access.redeem_sign_in_code(secret, SIGN_IN_CODE_LIFETIME)
    return desk.access.user_for_token(secret)


def mount(app: FastAPI, desk: TaskDesk, temporal_ui: str | None = None, namespace: str = "default", public_url: str | None = None) -> None:
    """Add the inbox pages (and their stylesheet and script) to an app, the intake's.

    `public_url` (PUBLIC_BASE_URL) is where browsers reach the service: the origin forms must
    come from, and whether cookies are Secure, when a proxy in front terminates TLS."""
    pages = InboxPages(desk, temporal_ui, namespace, public_url)
    app.include_router(router(pages))
    app.mount("/inbox/static", StaticFiles(directory=HERE / "static"), name="inbox-static")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/inbox", status_code=307)
