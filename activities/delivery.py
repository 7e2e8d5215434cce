"""Starting a delivery: after the follow-through activities have written a message or a task,
they start its `Notify` workflow (workflows/delivery.py) through the worker's client.

The workflow id is derived from the message's or task's key and a duplicate id is refused, so a
retried activity (or a message found already queued) starts it once. Which channels it uses is
decided here, from the deployment's configuration and who the recipient is:

| what | channels |
|---|---|
| a message to a candidate or referee | email |
| a reminder to a recruiter, an escalation to a lead | email + Slack |
| a new recruiter task | email to the assignee + Slack + a note on the ATS record |

With no channel configured nothing is started: the inbox and `postinterview tasks|messages` alone
show what there is to do. A configured channel that cannot reach this recipient (no email address,
no ATS record) is recorded as `skipped` with the reason.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.channels import ChannelSettings, note_target
from domain.contract import APPLICATION_ID, NOTIFY_WORKFLOW, notify_workflow_id
from domain.delivery import Channel, DeliveryRequest, SubjectKind, notification_key
from domain.follow_through import MessageRequest, StoredMessage, StoredTask, TaskKind
from store.notification_store import NotificationStore

log = structlog.get_logger()

# How long a follow-through activity (a worker thread) waits for Temporal to take the start.
START_TIMEOUT = timedelta(seconds=20)
BOOK_CALL_SUFFIX = "/book-call"


class DeliveryStarter:
    def __init__(
        self,
        client: Client,
        task_queue: str,
        settings: ChannelSettings,
        notifications: NotificationStore,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._settings = settings
        self._notifications = notifications
        # The worker's event loop, which owns the client: the synchronous activities run in
        # threads and hand the start over to it.
        self._loop = loop

    def message_queued(self, message: StoredMessage, request: MessageRequest) -> None:
        channels = []
        if self._settings.smtp:
            channels.append(Channel.EMAIL)
        if self._settings.slack_webhook_url and message.recipient_role in ("recruiter", "lead"):
            channels.append(Channel.SLACK)
        if Channel.EMAIL in channels and not message.recipient_email:
            channels.remove(Channel.EMAIL)
            self._skip(SubjectKind.MESSAGE, message.key, Channel.EMAIL, f"the {message.recipient_role} has no email address")
        invite = None
        if request.template == "debrief_questions" and message.key.endswith("/questions"):
            invite = message.key.removesuffix("/questions") + BOOK_CALL_SUFFIX
        self._start(
            DeliveryRequest(subject_kind=SubjectKind.MESSAGE, subject_key=message.key, channels=channels, send_after=message.send_after, invite_task_key=invite),
            request.application_id,
        )

    def task_recorded(self, task: StoredTask) -> None:
        channels = []
        if self._settings.smtp:
            if self._notifications.task_email(task.key):
                channels.append(Channel.EMAIL)
            else:
                self._skip(SubjectKind.TASK, task.key, Channel.EMAIL, "the assignee has no email address")
        if self._settings.slack_webhook_url:
            channels.append(Channel.SLACK)
        if self._settings.ats_notes:
            if note_target(task, self._settings.ats_notes):
                channels.append(Channel.ATS_NOTE)
        invite = task.key if task.kind == TaskKind.BOOK_DEBRIEF and task.key.endswith(BOOK_CALL_SUFFIX) else None
        self._start(DeliveryRequest(subject_kind=SubjectKind.TASK, subject_key=task.key, channels=channels, invite_task_key=invite), task.application_id)

    def _skip(self, kind: SubjectKind, key: str, channel: Channel, reason: str) -> None:
        self._notifications.record_skipped(notification_key(kind, key, channel), kind, key, channel, reason)
        log.info("delivery skipped", subject_kind=kind.value, subject_key=key, channel=channel.value, reason=reason)

    def _start(self, request: DeliveryRequest, application_id: str | None) -> None:
        if not request.channels:
            return
        workflow_id = notify_workflow_id(request.subject_kind, request.subject_key)
        start = self._client.start_workflow(
            NOTIFY_WORKFLOW,
            request,
            id=workflow_id,
            task_queue=self._task_queue,
            # Once per message or task, ever: a completed delivery is not started again either.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            # `ApplicationId = '...'` in the UI lists an application's deliveries beside its process.
            search_attributes=TypedSearchAttributes([SearchAttributePair(APPLICATION_ID, application_id)] if application_id else []),
            static_summary=f"Deliver {request.subject_kind.value} {request.subject_key} by {', '.join(c.value for c in request.channels)}",
        )
        try:
            asyncio.run_coroutine_threadsafe(start, self._loop).result(START_TIMEOUT.total_seconds())
            started = True
        except WorkflowAlreadyStartedError:
            started = False
        log.info("delivery started" if started else "delivery already started", delivery_id=workflow_id, channels=[c.value for c in request.channels])
