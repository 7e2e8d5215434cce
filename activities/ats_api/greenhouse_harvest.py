"""Greenhouse Harvest's scheduled interviews: reading them, and what a change to one means.

`GET /v1/scheduled_interviews` (Harvest v1, Basic auth with the API key as user name, as every
Greenhouse call here) lists an organisation's scheduled interviews, filtered by `updated_after`
(at or after, ISO 8601) and paginated: `per_page` up to 500, then the `Link` header's rel="next"
URL, followed as given (Greenhouse asks integrations never to build page URLs themselves). Its
rate limit is per 10 seconds (`X-RateLimit-Limit`, `X-RateLimit-Remaining`); over it, 429 with
`Retry-After` in seconds. An interview (the documented object, only the fields used here):

    {"id": 9128481, "application_id": 4684156,
     "start": {"date_time": "2014-03-26T22:15:00.000Z"}, "end": {"date_time": "..."},
     "status": "scheduled" | "awaiting_feedback" | "complete",
     "created_at": "...", "updated_at": "...", "interview": {"id": 7001, "name": "Culture Fit"},
     "interviewers": [{"id": 4080, "name": "Kate Austen", "email": "kate.austen@example.com", ...}]}

An all-day interview has `{"date": "2017-08-22"}` instead of `date_time`. A cancelled interview
is deleted: it leaves the list (no status says so) and `GET /v1/scheduled_interviews/{id}` answers
404 (Greenhouse's `interview_deleted` webhook says the same).

Which interview: the process knows an interview by the id of its interview step, `interview.id`
(Greenhouse's job stage interview: `GET /v1/job_stages` lists it among its stage's `interviews`),
the same id Greenhouse's stage-change webhooks give `application.current_stage.interviews[].id`
(intake/adapters/greenhouse.py). So an interview reported by a webhook and by this poll, in
either order, is one interview in the process, one debrief. The scheduled interview's own `id`
stays this poll's key: what it has seen (harvest_interviews) and its events' ids. The id an
interview's events carry is kept with it (`reported_as`), so a cancellation names the interview
as its scheduling did; one without a step, and one first seen before steps were reported, carry
the scheduled id.

| Harvest | canonical event (id) |
|---|---|
| an interview first seen, `scheduled` | interview.scheduled (`greenhouse-harvest:{id}:scheduled`) with its start, end and panel |
| its start or end changed since last seen | interview.rescheduled (`greenhouse-harvest:{id}:rescheduled:{n}:{new start}`, n counting its moves) |
| `awaiting_feedback` or `complete` (first seen so, or changed to it) | interview.completed (`greenhouse-harvest:{id}:completed`, once) |
| gone from the list before its end, and 404 on its own URL | interview.cancelled (`greenhouse-harvest:{id}:cancelled:{n}`), unless another scheduled interview of the application stands for the same step (cancelled and booked anew) |
| seen again, nothing of the above changed | nothing |

A scheduled interview whose end has passed is not reported as done here: the process infers that
from the schedule (and an explicit `interview.completed` still wins). Greenhouse gives no round,
and none is given here: the process numbers an application's interviews by the time they take
place, among all it knows of, however they were reported (the poller sees only the interviews
updated since its look-back, so its own numbering could clash with the rounds the process had
already given interviews a webhook reported).

Harvest v3 (harvestdocs.greenhouse.io) replaces this API: OAuth 2.0 (client credentials for a
customer's own integration) instead of Basic auth, cursor pagination (only a rel="next" link, the
cursor alone in its query), renamed filters; Greenhouse has announced the end of v1/v2 (August
2026 in its partners' notes). Only the calls in this module and activities/ats_api/greenhouse.py
would change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from datetime import date as Day
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from temporalio.exceptions import ApplicationError

from activities.ats_api.vendor import one_line
from domain.bounds import check_moment
from domain.events import EventType, InterviewCancelledData, InterviewData, Interviewer
from domain.errors import error_path
from store.harvest_store import SeenInterview

SCHEDULED_INTERVIEWS = "/v1/scheduled_interviews"
DONE = ("awaiting_feedback", "complete")
SCHEDULED = "scheduled"
CANCELLED = "cancelled"
# The longest wait a Retry-After may ask for before we give up on this attempt and let Temporal
# retry later; Greenhouse's window is 10 seconds.
MAX_RETRY_AFTER = timedelta(minutes=10)


class HarvestUnavailable(Exception):
    """Harvest could not be asked (unreachable, or a server error): try again at the next poll."""


# --- the documented object, only the fields used ---------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


class _When(_Model):
    date_time: datetime | None = None
    date: Day | None = None

    def moment(self) -> datetime | None:
        if self.date_time is not None:
            moment = self.date_time if self.date_time.tzinfo else self.date_time.replace(tzinfo=UTC)
            return check_moment(moment.astimezone(UTC))
        if self.date is not None:
            return check_moment(datetime.combine(self.date, time(0, 0), UTC))
        return None


class _User(_Model):
    id: int | str | None = None
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


class _InterviewKind(_Model):
    id: int | str | None = None
    name: str | None = None


class HarvestInterview(_Model):
    id: int | str
    application_id: int | str
    start: _When
    end: _When | None = None
    status: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    interview: _InterviewKind | None = None
    interviewers: list[_User] | None = None

    @field_validator("id", "application_id")
    @classmethod
    def _text_id(cls, value: int | str) -> str:
        text = str(value).strip()
        if not text or len(text) > 128:
            raise ValueError("expected an id")
        return text

    @property
    def step_id(self) -> str | None:
        """The interview step this is a booking of (`interview.id`), if Greenhouse names one."""
        step = self.interview.id if self.interview is not None else None
        text = str(step).strip() if step is not None else ""
        return text if text and len(text) <= 128 else None

    @property
    def status_text(self) -> str:
        return (self.status or SCHEDULED).strip().lower()

    def starts_at(self) -> datetime:
        moment = self.start.moment()
        if moment is None:
            raise ValueError("start has neither date_time nor date")
        return moment

    def ends_at(self) -> datetime | None:
        end = self.end.moment() if self.end else None
        return end if end is None or end >= self.starts_at() else None


def parse_interview(raw: Any) -> HarvestInterview | str:
    """The interview, or why it cannot be used (field names only: the values may be PII)."""
    try:
        interview = HarvestInterview.model_validate(raw)
        interview.starts_at()
        interview.ends_at()
        return interview
    except ValidationError as error:
        where = ", ".join(f"{error_path(e['loc'])} ({e['type']})" for e in error.errors())
        ident = raw.get("id") if isinstance(raw, dict) else None
        return f"scheduled interview {ident}: {where}"
    except ValueError as error:
        ident = raw.get("id") if isinstance(raw, dict) else None
        return f"scheduled interview {ident}: {error}"


# --- what changed ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One canonical event an interview's change stands for, before the parties are known."""

    type: EventType
    event_id: str
    data: InterviewData | InterviewCancelledData
    occurred_at: datetime


def interview_data(interview: HarvestInterview, interview_id: str | None = None) -> InterviewData:
    """The canonical interview; `interview_id` is the id the process knows it by (its step's,
    see the module's docstring), by default the one a first sighting gives it."""
    interviewers = []
    for user in (interview.interviewers or [])[:50]:
        name = one_line(user.name) or one_line(user.first_name, user.last_name)
        email = (user.email or "").strip() or None
        try:
            interviewers.append(Interviewer(id=str(user.id) if user.id is not None else None, name=name, email=email))
        except ValidationError:
            # An address the ATS let through malformed (or an odd id): keep the name.
            interviewers.append(Interviewer(name=name))
    # No round: the process numbers interviews by time among all it knows (module docstring).
    return InterviewData(interview_id=interview_id or reported_id(interview), round=None, at=interview.starts_at(), ends_at=interview.ends_at(), interviewers=interviewers)


def reported_id(interview: HarvestInterview) -> str:
    """The id a newly seen interview's events carry: its step's, else its own."""
    return interview.step_id or interview.id


def changes(previous: SeenInterview | None, interview: HarvestInterview, now: datetime) -> tuple[list[Change], SeenInterview]:
    """What `interview` says that `previous` (the poller's last sight of it) did not, and the
    new state to keep. Deterministic: the same pair gives the same event ids."""
    status = interview.status_text
    starts_at, ends_at = interview.starts_at(), interview.ends_at()
    changed_at = _aware(interview.updated_at) or now
    # Once reported under an id, always under it: the process knows the interview by that id.
    reported_as = previous.reported_as if previous is not None else reported_id(interview)
    data = interview_data(interview, previous.process_interview_id if previous is not None else reported_as)
    found: list[Change] = []
    revision = previous.revision if previous else 0
    was_done = previous is not None and previous.status in DONE
    if previous is None:
        if status not in DONE:
            found.append(Change(EventType.INTERVIEW_SCHEDULED, f"greenhouse-harvest:{interview.id}:scheduled", data, _aware(interview.created_at) or changed_at))
    elif not was_done and (previous.starts_at != starts_at or previous.ends_at != ends_at or previous.status == CANCELLED):
        # (Once it has taken place, a changed time is a correction of the record, not news.)
        revision += 1
        found.append(
            Change(
                EventType.INTERVIEW_RESCHEDULED,
                f"greenhouse-harvest:{interview.id}:rescheduled:{revision}:{starts_at.strftime('%Y%m%dT%H%M%SZ')}",
                data,
                changed_at,
            )
        )
    if status in DONE and not was_done:
        # When it ended, if that is known and past; else when Greenhouse marked it.
        occurred = ends_at if ends_at is not None and ends_at <= now else changed_at
        found.append(Change(EventType.INTERVIEW_COMPLETED, f"greenhouse-harvest:{interview.id}:completed", data, min(occurred, now)))
    seen = SeenInterview(
        interview.id, interview.application_id, starts_at, ends_at, status if status in (*DONE, SCHEDULED) else SCHEDULED, revision, reported_as
    )
    return found, seen


def cancellation(previous: SeenInterview, now: datetime) -> tuple[Change, SeenInterview]:
    """An interview gone from Greenhouse before it ended: cancelled."""
    change = Change(
        EventType.INTERVIEW_CANCELLED,
        f"greenhouse-harvest:{previous.interview_id}:cancelled:{previous.revision}",
        # The id its scheduling carried, so the process stands that interview down.
        InterviewCancelledData(interview_id=previous.process_interview_id, reason="deleted in Greenhouse"),
        now,
    )
    return change, replace(previous, status=CANCELLED)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


# --- reading Harvest -------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    interviews: list[Any]
    next_url: str | None
    # Requests left in the current 10-second window (X-RateLimit-Remaining), if Harvest said.
    remaining: int | None


def harvest_time(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as Harvest writes its own timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.astimezone(UTC).microsecond // 1000:03d}Z"


async def list_page(http: httpx.AsyncClient, url: str | None, params: dict[str, str] | None = None) -> Page:
    """One page of scheduled interviews: the first (`url` None, with `params`) or the one a Link
    header named (followed as given)."""
    response = await _get(http, _on_our_host(url) if url else SCHEDULED_INTERVIEWS, params=None if url else params)
    body = response.json()
    if not isinstance(body, list):
        raise ApplicationError("Greenhouse Harvest answered the scheduled interviews with something other than a list", type="HarvestUnusable", non_retryable=True)
    next_link = response.links.get("next", {}).get("url")
    remaining = response.headers.get("x-ratelimit-remaining", "").strip()
    return Page(body, next_link or None, int(remaining) if remaining.isdigit() else None)


def _on_our_host(link: str) -> str:
    """A Link header's URL as a path on the configured Harvest host: the API key is never sent
    to another host a header names, and a poller resumed after its base URL changed still works."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def get_interview(http: httpx.AsyncClient, interview_id: str) -> Any | None:
    """One scheduled interview, or None when Greenhouse has none by that id (deleted)."""
    response = await _get(http, f"{SCHEDULED_INTERVIEWS}/{interview_id}", missing_ok=True)
    return None if response.status_code == 404 else response.json()


async def _get(http: httpx.AsyncClient, url: str, params: dict[str, str] | None = None, missing_ok: bool = False) -> httpx.Response:
    try:
        response = await http.get(url, params=params)
    except httpx.TransportError as error:
        raise HarvestUnavailable(f"Greenhouse Harvest cannot be reached: {type(error).__name__}") from None
    if response.status_code == 429:
        # Temporal retries the activity after the wait Greenhouse asks for, not on its own schedule.
        wait = retry_after(response.headers.get("retry-after"), datetime.now(UTC))
        raise ApplicationError(
            f"Greenhouse Harvest rate limit: retry after {wait.total_seconds():.0f} s",
            type="HarvestRateLimited",
            next_retry_delay=min(wait, MAX_RETRY_AFTER),
        )
    if response.status_code in (401, 403):
        raise ApplicationError(
            f"Greenhouse Harvest refused the API key ({response.status_code}): check GREENHOUSE_HARVEST_API_KEY and its "
            "permissions (GET: List Scheduled Interviews, Retrieve Scheduled Interview, Retrieve Application, Retrieve Candidate)",
            type="HarvestRefused",
            non_retryable=True,
        )
    if response.status_code == 404 and missing_ok:
        return response
    if response.status_code >= 500:
        raise HarvestUnavailable(f"Greenhouse Harvest answered {response.status_code}")
    if response.status_code >= 400:
        raise ApplicationError(f"Greenhouse Harvest answered {response.status_code} for {url.split('?')[0]}", type="HarvestRefused", non_retryable=True)
    return response


def retry_after(value: str | None, now: datetime) -> timedelta:
    """Retry-After as seconds or an HTTP date; Greenhouse's 10-second window when absent or odd."""
    text = (value or "").strip()
    if text.isdigit():
        return timedelta(seconds=max(1, int(text)))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return timedelta(seconds=10)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(timedelta(seconds=1), when - now)
