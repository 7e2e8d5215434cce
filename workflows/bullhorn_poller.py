"""BullhornPoller: reads one connected Bullhorn account's event subscription for as long as the
account is connected, one workflow per account (id `bullhorn-poller-{account}`).

Each poll is one activity (activities/bullhorn.py): it stores the batch's events in the intake
table, from where the forwarder delivers them as it delivers webhooks. The workflow keeps the
subscription id and the `requestId` of the last batch stored; the activity fetches again any
batch handed out after that one, so a batch fetched and lost on the way is never lost. A full
batch is followed by the next at once (catching up after an outage, in order); after an empty
one the poller waits `idle_seconds` on a durable timer. The `poll_now` signal ends the wait.

An activity that fails (Bullhorn down, throttling, an account to connect again) is retried for
ever with a backoff up to 10 minutes: the events wait in Bullhorn's queue meanwhile. After
`polls_per_run` polls (or when Temporal suggests it) the poller continues as new with its state,
so its history stays small however long it runs.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain import names
    from domain.bullhorn import (
        BULLHORN_POLLER_WORKFLOW,
        BullhornPollerState,
        BullhornPollRequest,
        BullhornPollResult,
        BullhornSubscription,
    )
    from domain.bullhorn import subscription_id as default_subscription_id

# Bullhorn being away for hours is retried until it is back; never given up on.
FOREVER = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=10))


@workflow.defn(name=BULLHORN_POLLER_WORKFLOW)
class BullhornPoller:
    @workflow.init
    def __init__(self, state: BullhornPollerState) -> None:
        self._state = state
        self._poll_now = False
        self._stop = False

    @workflow.signal(name="poll_now")
    def poll_now(self) -> None:
        self._poll_now = True

    @workflow.signal(name="stop")
    def stop(self) -> None:
        """Disconnecting the account: finish after the current poll."""
        self._stop = True

    @workflow.query(name="status")
    def status(self) -> BullhornPollerState:
        return self._state

    @workflow.run
    async def run(self, state: BullhornPollerState) -> BullhornPollerState:
        if self._state.subscription_id is None or self._state.last_request_id is None:
            made: BullhornSubscription = await workflow.execute_activity(
                names.BULLHORN_SUBSCRIBE,
                args=[self._state.account_id, self._state.subscription_id or default_subscription_id(self._state.account_id)],
                result_type=BullhornSubscription,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=FOREVER,
                summary="subscribe to JobSubmission, Appointment, Placement changes",
            )
            self._state.subscription_id, self._state.last_request_id = made.subscription_id, made.last_request_id
        polls_this_run = 0
        while not self._stop:
            result: BullhornPollResult = await workflow.execute_activity(
                names.BULLHORN_POLL,
                BullhornPollRequest(
                    account_id=self._state.account_id,
                    subscription_id=self._state.subscription_id,
                    last_request_id=self._state.last_request_id,
                    max_events=self._state.max_events,
                ),
                result_type=BullhornPollResult,
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=FOREVER,
                summary=f"poll after batch {self._state.last_request_id}",
            )
            polls_this_run += 1
            self._state.polls += 1
            self._state.last_request_id = result.last_request_id
            self._state.events += result.events
            self._state.ignored += result.ignored
            workflow.set_current_details(
                f"**Bullhorn account** {self._state.account_id}: last batch {self._state.last_request_id}, "
                f"{self._state.events} events read ({self._state.ignored} ignored) in {self._state.polls} polls"
            )
            if polls_this_run >= self._state.polls_per_run or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(self._state)
            if result.more:
                continue
            self._poll_now = False
            try:
                await workflow.wait_condition(lambda: self._poll_now or self._stop, timeout=timedelta(seconds=self._state.idle_seconds))
            except asyncio.TimeoutError:
                pass  # the idle wait is over: poll again
        return self._state
