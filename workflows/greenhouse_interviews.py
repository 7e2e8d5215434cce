"""GreenhouseInterviewPoller: one per connected Greenhouse account, for as long as it is connected.

Every `interval_seconds` it reads Harvest's scheduled interviews updated since its cursor, page by
page (each page one activity, which stores the page's events in the intake table before it
returns), then looks for interviews that disappeared (cancelled). The cursor is the time the pass
started, less an overlap for the clocks' difference, and moves only once the whole pass is stored:
a crash, a restarted worker or Greenhouse being down resumes at the page it was on, and whatever
is read twice is stored once (the events' ids are stable, the intake de-duplicates by them).

A long-running workflow with timers; it continues as new every few hundred passes, carrying its
state (domain/greenhouse_interviews.py PollerState), so its history stays small. The worker
sends its settings at every start (signal `configure`, with signal-with-start): a changed interval
applies from the next wait.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain import names
    from domain.greenhouse_interviews import (
        CONFIGURE_SIGNAL,
        STATE_QUERY,
        WORKFLOW,
        PollerConfig,
        PollerState,
        PollPageRequest,
        PollPageResult,
        SweepRequest,
        SweepResult,
    )

# What the next pass reads again of the one before: Greenhouse's clock and ours may differ, and an
# interview updated while a pass read its pages must not fall between two cursors.
OVERLAP = timedelta(minutes=5)
# A page's activity: Temporal retries a rate-limited one after Greenhouse's Retry-After; a refused
# key is not retried (the poller records it and tries again at the next poll).
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5), maximum_attempts=8)
_TIMEOUT = timedelta(minutes=10)


@workflow.defn(name=WORKFLOW)
class GreenhouseInterviewPoller:
    @workflow.init
    def __init__(self, start: PollerState) -> None:
        self._state = start
        self._passes_this_run = 0

    @workflow.signal(name=CONFIGURE_SIGNAL)
    def configure(self, config: PollerConfig) -> None:
        # The account is the workflow's identity; the rest may change.
        self._state.config = config.model_copy(update={"account": self._state.config.account})

    @workflow.query(name=STATE_QUERY)
    def state(self) -> PollerState:
        return self._state

    @workflow.run
    async def run(self, start: PollerState) -> None:
        state = self._state
        if state.cursor is None:
            # First run: interviews untouched for longer than the look-back are history.
            state.cursor = workflow.now() - timedelta(hours=state.config.lookback_hours)
        while True:
            await self._poll()
            self._passes_this_run += 1
            if self._passes_this_run >= self._state.config.passes_per_run or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._state)
            await workflow.sleep(timedelta(seconds=self._state.config.interval_seconds), summary="until the next poll of Greenhouse")

    async def _poll(self) -> None:
        state = self._state
        assert state.cursor is not None
        if state.pass_started_at is None:
            state.pass_started_at = workflow.now()
        while True:
            try:
                page = await workflow.execute_activity(
                    names.POLL_GREENHOUSE_INTERVIEWS,
                    PollPageRequest(account=state.config.account, page_url=state.page_url, updated_after=state.cursor, per_page=state.config.per_page),
                    result_type=PollPageResult,
                    start_to_close_timeout=_TIMEOUT,
                    heartbeat_timeout=timedelta(minutes=2),
                    retry_policy=_RETRY,
                    summary=f"Read Greenhouse interviews of {state.config.account} updated since {state.cursor:%Y-%m-%d %H:%M:%S} UTC",
                )
            except ActivityError as error:
                self._failed(str(error.cause or error))
                return
            if page.unavailable:
                self._failed(page.unavailable)
                return
            state.events_stored += page.new_events
            if page.next_page_url is None:
                break
            state.page_url = page.next_page_url
            if page.pause_seconds:
                await workflow.sleep(timedelta(seconds=page.pause_seconds), summary="Greenhouse's rate limit: wait for its next window")
        try:
            swept = await workflow.execute_activity(
                names.SWEEP_GREENHOUSE_CANCELLATIONS,
                SweepRequest(account=state.config.account, per_page=state.config.per_page),
                result_type=SweepResult,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=_RETRY,
                summary=f"Look for cancelled Greenhouse interviews of {state.config.account}",
            )
        except ActivityError as error:
            swept = SweepResult(unavailable=str(error.cause or error))
        # The pass is stored: the next one reads from when this one started.
        state.cursor = max(state.cursor, state.pass_started_at - OVERLAP)
        state.pass_started_at = None
        state.page_url = None
        state.passes += 1
        state.last_pass_at = workflow.now()
        if swept.unavailable:
            # The updates are in; the cancellations are looked for again at the next pass.
            self._failed(swept.unavailable)
        else:
            state.events_stored += len(swept.cancelled)
            state.last_error = None
            state.last_error_at = None

    def _failed(self, error: str) -> None:
        if error != self._state.last_error:
            workflow.logger.warning("greenhouse interview poll failed", extra={"account": self._state.config.account, "error": error})
        self._state.last_error = error
        self._state.last_error_at = workflow.now()
