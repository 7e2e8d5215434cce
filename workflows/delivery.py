"""The `Notify` workflow: one per queued message or new task, started by the activity that
queued it (activities/delivery.py), id `notify-{message|task}-{key}`.

It waits for the end of the recipient's quiet hours on a durable timer (a worker restart or a
deploy in between changes nothing), then runs one activity per channel, side by side, each on
its channel's own task queue (domain.contract.channel_task_queue: rate-limited per channel, with
slots of its own, so a mail server that never answers holds only email's). A run from before
that change (on the processes' queue, with its activities there) schedules the ones it has not
yet scheduled on the channel queues too (patch `deliveries-own-queue`); those it had scheduled
stay where its history says. Every
channel activity is idempotent on its `notifications` row; this workflow only decides when, and
fails, visibly in the UI, when a channel refused for good or its outcome is unknown.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import names
    from domain.contract import NOTIFY_WORKFLOW, channel_task_queue
    from domain.delivery import Channel, DeliveryRequest, NotificationOutcome, NotificationRequest

# ATS_TASK is new: no recorded run asked for it, so adding it changes no running delivery.
CHANNEL_ACTIVITIES = {
    Channel.EMAIL: names.DELIVER_EMAIL,
    Channel.SLACK: names.POST_TO_SLACK,
    # New too: a running delivery asks only for the channels it was started with.
    Channel.TEAMS: names.POST_TO_TEAMS,
    Channel.ATS_NOTE: names.WRITE_ATS_NOTE,
    Channel.ATS_TASK: names.WRITE_ATS_TASK,
}

# A mail server or an API that is down is tried again with backoff for about a day; refusals and
# unknown outcomes are not retried (the activities raise them as non-retryable).
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=10), backoff_coefficient=2.0, maximum_interval=timedelta(hours=1), maximum_attempts=30)
_TIMEOUT = timedelta(minutes=2)
OWN_QUEUE_PATCH = "deliveries-own-queue"


@workflow.defn(name=NOTIFY_WORKFLOW)
class Notify:
    @workflow.run
    async def run(self, request: DeliveryRequest) -> list[NotificationOutcome]:
        if request.send_after is not None and request.send_after > workflow.now():
            await workflow.sleep(
                request.send_after - workflow.now(), summary=f"Quiet hours: not before {request.send_after:%Y-%m-%d %H:%M} UTC"
            )
        results = await asyncio.gather(*(self._send(request, channel) for channel in request.channels), return_exceptions=True)
        failed = [f"{channel}: {_reason(result)}" for channel, result in zip(request.channels, results) if isinstance(result, BaseException)]
        if failed:
            raise ApplicationError(f"{request.subject_kind} {request.subject_key} not delivered by " + "; ".join(failed), type="DeliveryFailed")
        return [r for r in results if isinstance(r, NotificationOutcome)]

    async def _send(self, request: DeliveryRequest, channel: Channel) -> NotificationOutcome:
        # Before the patch: the workflow's own queue (the processes', where it then ran).
        queue = channel_task_queue(workflow.info().task_queue, channel.value) if workflow.patched(OWN_QUEUE_PATCH) else None
        return await workflow.execute_activity(
            CHANNEL_ACTIVITIES[channel],
            NotificationRequest(
                subject_kind=request.subject_kind, subject_key=request.subject_key, channel=channel, invite_task_key=request.invite_task_key
            ),
            result_type=NotificationOutcome,
            task_queue=queue,
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
            summary=f"{channel.value.replace('_', ' ')}: {request.subject_kind.value} {request.subject_key}",
        )


def _reason(error: BaseException) -> str:
    if isinstance(error, ActivityError) and error.cause is not None:
        return str(error.cause)
    return str(error)
