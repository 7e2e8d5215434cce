"""The Greenhouse interview poller's vocabulary: what it is told, what it keeps, what each poll
reports (workflows/greenhouse_interviews.py, activities/greenhouse_harvest_poll.py).

Greenhouse's webhooks never say that an interview took place or when it is; its Harvest API
lists scheduled interviews (`GET /v1/scheduled_interviews?updated_after=...`). One poller per
connected Greenhouse account reads that list on a timer and turns what changed into canonical
events, which go through the intake table like any webhook's.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

# The poller's workflow type and its id per account; its query and signal.
WORKFLOW = "GreenhouseInterviewPoller"
STATE_QUERY = "state"
CONFIGURE_SIGNAL = "configure"


def poller_workflow_id(account: str) -> str:
    return f"greenhouse-interviews-{account}"


class PollerConfig(BaseModel):
    """How an account is polled; the worker sends it at every start (signal-with-start), so a
    changed setting reaches a running poller. No secret here: the API key stays in the worker's
    settings and never enters a workflow's history."""

    account: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    interval_seconds: int = Field(default=300, ge=1, le=24 * 3600)
    # Harvest's own default: each page's interviews are looked up (their applications) in one activity.
    per_page: int = Field(default=100, ge=1, le=500)
    # The first poll reads interviews updated this long before the poller started: interviews
    # untouched since are history, not news.
    lookback_hours: int = Field(default=24, ge=0, le=24 * 365)
    # Passes per run before the poller continues as new, carrying its state: each pass adds a
    # handful of events to its history, so this keeps a history of a few thousand events.
    passes_per_run: int = Field(default=200, ge=1, le=1000)


class PollPageRequest(BaseModel):
    account: str
    # The Link header's rel="next" URL of the page before, or None for a pass's first page.
    page_url: str | None = None
    updated_after: datetime
    per_page: int = 100


class PollPageResult(BaseModel):
    next_page_url: str | None = None
    interviews: int = 0
    events: list[str] = Field(default_factory=list, description="The event ids stored (new or already there).")
    new_events: int = 0
    skipped: list[str] = Field(default_factory=list, description="Interviews left out, with why (ids and field names only).")
    # Seconds to wait before the next request: the account's rate limit is spent for this window.
    pause_seconds: float = 0
    # The account has no API key, or Harvest cannot be reached: nothing was read, the poll is over.
    unavailable: str | None = None


class SweepRequest(BaseModel):
    account: str
    per_page: int = 500


class SweepResult(BaseModel):
    checked: int = 0
    cancelled: list[str] = Field(default_factory=list)
    events: list[str] = Field(default_factory=list)
    unavailable: str | None = None


class PollerState(BaseModel):
    """What the poller keeps (and carries into its next run): the cursor and what the last
    passes did, for `postinterview greenhouse-interviews` and the UI."""

    config: PollerConfig
    # Interviews updated at or after this are read by the next pass; advanced only once a whole
    # pass is stored.
    cursor: datetime | None = None
    # The pass under way: when it started (the next cursor) and the page it is at.
    pass_started_at: datetime | None = None
    page_url: str | None = None
    passes: int = 0
    # New events stored, as the activities reported them (a page stored by an attempt that then
    # crashed is in the intake table, but not counted here).
    events_stored: int = 0
    last_pass_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
