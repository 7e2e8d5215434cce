"""The Greenhouse interview poller's activities: read a page of Harvest's scheduled interviews,
or look for interviews that disappeared, and store what changed as canonical events in the
intake table, where the forwarder delivers them like any webhook's (in order per application,
once each).

Idempotent by construction: the events' ids are stable (activities/ats_api/greenhouse_harvest.py),
each is stored as a delivery keyed by its id, and the interviews' new state is written in the same
transaction (store/harvest_store.py). A retry, or a crash between reading and storing, stores
nothing twice and loses nothing: the workflow advances its cursor only after the activity returns.

The calls go to the Greenhouse account of the enrichment (GREENHOUSE_HARVEST_API_KEY, _URL) with
the same client code (activities/ats_api/greenhouse.py fills in who is behind the application).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.ats_api import greenhouse
from activities.ats_api.greenhouse_harvest import (
    CANCELLED,
    Change,
    HarvestInterview,
    HarvestUnavailable,
    cancellation,
    changes,
    get_interview,
    harvest_time,
    list_page,
    parse_interview,
    retry_after,
)
from domain import names
from domain.events import Candidate, CanonicalEvent, Client, Job, Recruiter
from domain.greenhouse_interviews import PollPageRequest, PollPageResult, SweepRequest, SweepResult
from store.harvest_store import HarvestInterviewStore, SeenInterview
from store.intake_store import IntakeStore, NewDelivery

log = structlog.get_logger()

SOURCE = "greenhouse"
# The intake table's `action` of the deliveries the poller stores (`postinterview deliveries`).
ACTION = "harvest_scheduled_interview"
# How long, and for how many applications, who is behind an application is remembered.
PARTIES_TTL_SECONDS = 15 * 60
PARTIES_CACHED = 10_000


class GreenhouseHarvestPoll:
    def __init__(
        self, vendor_settings: Mapping[str, str], database_url: str, client: Client, recruiter: Recruiter, timeout: float = 10.0
    ) -> None:
        """`vendor_settings` as for the enrichment (GREENHOUSE_HARVEST_API_KEY, _URL); the client an
        account's applications belong to and the recruiter who stands in when Greenhouse names none
        (config/intake.toml's, as for the webhooks)."""
        api = greenhouse.API
        self._key = vendor_settings.get(api.key_setting, "").strip()
        self._base = (vendor_settings.get(api.url_setting, "").strip() or api.default_url).rstrip("/")
        self._database_url = database_url
        self._client = client
        self._recruiter = recruiter
        self._timeout = timeout
        self._store: HarvestInterviewStore | None = None
        # Who is behind an application, for a while: a page of a busy account names hundreds of
        # applications, two Harvest calls each, and an attempt cut short by Greenhouse's rate
        # limit must not ask again for those it already has when Temporal retries it.
        self._parties_cache: dict[str, tuple[float, tuple[Candidate, Recruiter, Job | None, list[str]]]] = {}

    def store(self) -> HarvestInterviewStore:
        # Opened on first use: a worker that polls nothing never connects for it.
        if self._store is None:
            self._store = HarvestInterviewStore(IntakeStore(self._database_url))
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.intake.close()

    def _http(self) -> httpx.AsyncClient:
        # The API key is the basic-auth user name, with no password (as for the enrichment).
        return httpx.AsyncClient(base_url=self._base, auth=(self._key, ""), timeout=self._timeout)

    @activity.defn(name=names.POLL_GREENHOUSE_INTERVIEWS)
    async def poll_greenhouse_interviews(self, request: PollPageRequest) -> PollPageResult:
        if not self._key:
            return PollPageResult(unavailable=f"{greenhouse.API.key_setting} is not set")
        now = datetime.now(UTC)
        async with self._http() as http:
            try:
                page = await list_page(
                    http, request.page_url, {"updated_after": harvest_time(request.updated_after), "per_page": str(request.per_page)}
                )
                stored, new, skipped = await self._store_changes(http, request.account, page.interviews, now)
            except HarvestUnavailable as error:
                # Not retried here: the poller keeps its place and asks again at its next poll.
                return PollPageResult(unavailable=str(error))
        # Quiet when nothing was new: a poll every few minutes must not fill the log.
        (log.info if new or skipped else log.debug)(
            "greenhouse interviews polled",
            account=request.account,
            interviews=len(page.interviews),
            events=len(stored),
            new_events=new,
            skipped=len(skipped),
            more=page.next_url is not None,
        )
        return PollPageResult(
            next_page_url=page.next_url,
            interviews=len(page.interviews),
            events=stored,
            new_events=new,
            skipped=skipped,
            # Greenhouse counts requests per 10 seconds: none left, wait for the next window.
            pause_seconds=10.0 if page.remaining == 0 and page.next_url else 0.0,
        )

    @activity.defn(name=names.SWEEP_GREENHOUSE_CANCELLATIONS)
    async def sweep_greenhouse_cancellations(self, request: SweepRequest) -> SweepResult:
        """A cancelled interview is deleted in Greenhouse: no listing by update shows it. Every
        interview we know as still to come is looked for among those Harvest lists as ending
        after now; one that is missing is asked for by id, and a 404 is its cancellation."""
        if not self._key:
            return SweepResult(unavailable=f"{greenhouse.API.key_setting} is not set")
        now = datetime.now(UTC)
        store = self.store()
        upcoming = await asyncio.to_thread(store.upcoming, request.account, now)
        if not upcoming:
            return SweepResult()
        async with self._http() as http:
            try:
                listed: set[str] = set()
                url: str | None = None
                params = {"ends_after": harvest_time(now), "per_page": str(request.per_page)}
                while True:
                    page = await list_page(http, url, params)
                    listed |= {str(raw.get("id")) for raw in page.interviews if isinstance(raw, dict)}
                    activity.heartbeat(len(listed))
                    if page.next_url is None:
                        break
                    url = page.next_url
                    if page.remaining == 0:
                        await asyncio.sleep(10)
                found: list[tuple[str, Change]] = []
                states: list[SeenInterview] = []
                cancelled: list[str] = []
                gone: list[SeenInterview] = []
                for previous in upcoming:
                    if previous.interview_id in listed:
                        continue
                    raw = await get_interview(http, previous.interview_id)
                    if raw is None:
                        gone.append(previous)
                        continue
                    # Still there, but moved to end before now: an ordinary change.
                    interview = parse_interview(raw)
                    if isinstance(interview, HarvestInterview):
                        moved, state = changes(previous, interview, now)
                        found.extend((interview.application_id, change) for change in moved)
                        states.append(state)
                for previous, change, state in await self._cancellations(request.account, gone, states, now):
                    if change is not None:
                        found.append((previous.application_id, change))
                    states.append(state)
                    cancelled.append(previous.interview_id)
                stored, _ = await self._record(http, request.account, found, states, now)
            except HarvestUnavailable as error:
                return SweepResult(checked=len(upcoming), unavailable=str(error))
        if cancelled:
            log.info("greenhouse interviews cancelled", account=request.account, interviews=cancelled)
        return SweepResult(checked=len(upcoming), cancelled=cancelled, events=stored)

    async def _cancellations(
        self, account: str, gone: list[SeenInterview], updated: list[SeenInterview], now: datetime
    ) -> list[tuple[SeenInterview, Change | None, SeenInterview]]:
        """What each interview gone from Greenhouse means. Its events named its step; when the
        application has another scheduled interview of the same step standing (cancelled and
        booked anew, in whichever order the poller saw it), the step is still to take place:
        the process is told nothing, or it would stand the new booking down."""
        if not gone:
            return []
        known = await asyncio.to_thread(self.store().of_applications, account, {previous.application_id for previous in gone})
        gone_ids = {previous.interview_id for previous in gone}
        fresh = {state.interview_id: state for state in updated}
        result: list[tuple[SeenInterview, Change | None, SeenInterview]] = []
        for previous in gone:
            change, state = cancellation(previous, now)
            standing = [
                fresh.get(other.interview_id, other)
                for other in known.get(previous.application_id, [])
                if other.interview_id not in gone_ids
            ]
            if any(other.status != CANCELLED and other.process_interview_id == previous.process_interview_id for other in standing):
                log.info("greenhouse interview rebooked", account=account, interview=previous.interview_id, step=previous.process_interview_id)
                result.append((previous, None, state))
            else:
                result.append((previous, change, state))
        return result

    # --- storing ---------------------------------------------------------------------------------

    async def _store_changes(self, http: httpx.AsyncClient, account: str, raw: list[Any], now: datetime) -> tuple[list[str], int, list[str]]:
        parsed = [parse_interview(item) for item in raw]
        skipped = [item for item in parsed if isinstance(item, str)]
        for problem in skipped:
            log.warning("greenhouse interview skipped", account=account, problem=problem)
        interviews = [item for item in parsed if isinstance(item, HarvestInterview)]
        seen = await asyncio.to_thread(self.store().seen, account, [interview.id for interview in interviews])
        found: list[tuple[str, Change]] = []
        states: list[SeenInterview] = []
        for interview in interviews:
            previous = seen.get(interview.id)
            moved, state = changes(previous, interview, now)
            found.extend((interview.application_id, change) for change in moved)
            if state != previous:
                states.append(state)
        stored, new = await self._record(http, account, found, states, now)
        return stored, new, skipped

    async def _record(
        self, http: httpx.AsyncClient, account: str, found: list[tuple[str, Change]], states: list[SeenInterview], now: datetime
    ) -> tuple[list[str], int]:
        # No round: the process numbers interviews among all it knows of (webhooks' too).
        parties: dict[str, tuple[Candidate, Recruiter, Job | None, list[str]]] = {}
        for application_id, _ in found:
            if application_id not in parties:
                parties[application_id] = await self._cached_parties(http, application_id)
                activity.heartbeat(len(parties))
        deliveries = []
        for application_id, change in found:
            candidate, recruiter, job, assumed = parties[application_id]
            try:
                event = CanonicalEvent(
                    event_id=change.event_id,
                    type=change.type,
                    occurred_at=change.occurred_at,
                    source=SOURCE,
                    application_id=application_id,
                    candidate=candidate,
                    recruiter=recruiter,
                    client=self._client,
                    job=job,
                    assumed=assumed,
                    data=change.data,
                )
            except ValidationError as error:
                # An id Greenhouse gave that no process can be named by: retrying would not help,
                # and the rest of the page must not wait for it. Field names only.
                where = ", ".join(str(e["loc"][0]) for e in error.errors())
                log.warning("greenhouse interview event unusable", account=account, event_id=change.event_id, fields=where)
                continue
            deliveries.append(
                NewDelivery(
                    source=SOURCE,
                    idempotency_key=change.event_id,
                    action=ACTION,
                    application_key=f"{SOURCE}:{application_id}",
                    events=[event.model_dump(mode="json")],
                    ignored_reason=None,
                    received_at=now,
                )
            )
        accepted = await asyncio.to_thread(self.store().record, account, deliveries, states, now)
        return [delivery.idempotency_key for delivery in deliveries], sum(1 for outcome in accepted if not outcome.duplicate)

    async def _cached_parties(self, http: httpx.AsyncClient, application_id: str) -> tuple[Candidate, Recruiter, Job | None, list[str]]:
        now = time.monotonic()
        cached = self._parties_cache.get(application_id)
        if cached is not None and now - cached[0] < PARTIES_TTL_SECONDS:
            return cached[1]
        found = await self._parties(http, application_id)
        if len(self._parties_cache) >= PARTIES_CACHED:
            self._parties_cache = {key: value for key, value in self._parties_cache.items() if now - value[0] < PARTIES_TTL_SECONDS}
            if len(self._parties_cache) >= PARTIES_CACHED:
                self._parties_cache.clear()
        self._parties_cache[application_id] = (now, found)
        return found

    async def _parties(self, http: httpx.AsyncClient, application_id: str) -> tuple[Candidate, Recruiter, Job | None, list[str]]:
        """Who is behind the application (Harvest's application and candidate); what Greenhouse
        does not say is a placeholder marked assumed, which the process fills in later."""
        try:
            enrichment, job = await greenhouse.lookup_application(http, application_id)
        except httpx.TransportError as error:
            raise HarvestUnavailable(f"Greenhouse Harvest cannot be reached: {type(error).__name__}") from None
        except httpx.HTTPStatusError as error:
            status = error.response.status_code
            if status == 429:
                wait = retry_after(error.response.headers.get("retry-after"), datetime.now(UTC))
                raise ApplicationError(f"Greenhouse Harvest rate limit: retry after {wait.total_seconds():.0f} s", type="HarvestRateLimited", next_retry_delay=wait) from None
            if status >= 500:
                raise HarvestUnavailable(f"Greenhouse Harvest answered {status}") from None
            if status in (401, 403):
                raise ApplicationError(f"Greenhouse Harvest refused the API key ({status})", type="HarvestRefused", non_retryable=True) from None
            log.warning("greenhouse application not found for its interview", application_id=application_id, status=status)
            enrichment, job = None, None
        except (ValidationError, KeyError, TypeError, ValueError):
            # Greenhouse answered in a shape we cannot use (an invalid email, no id): ids only.
            log.warning("greenhouse application unusable for its interview", application_id=application_id)
            enrichment, job = None, None
        assumed = []
        candidate = enrichment.candidate if enrichment else None
        if candidate is None:
            candidate = Candidate(id=f"unknown-candidate-{application_id}")
            assumed.append("candidate")
        recruiter = enrichment.recruiter if enrichment else None
        if recruiter is None:
            recruiter = self._recruiter
            assumed.append("recruiter")
        return candidate, recruiter, job, assumed
