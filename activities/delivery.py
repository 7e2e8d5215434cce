"""Delivery: every message the processes queue and every task they give, also sent where people
already work (email, Slack, Microsoft Teams, a note on the ATS record): which channels, starting the `Notify`
workflow, and the channel activities it runs, each sending once.

Starting a delivery: after the follow-through activities have written a message or a task,
they start its `Notify` workflow (workflows/delivery.py) through the worker's client.

The workflow id is derived from the message's or task's key and a duplicate id is refused, so a
retried activity (or a message found already queued) starts it once. Which channels it uses is
decided here, from the deployment's configuration and who the recipient is:

| what | channels |
|---|---|
| a message to a candidate or referee | email |
| a reminder to a recruiter, an escalation to a lead | email + Slack + Teams |
| a new recruiter task | email to the assignee + Slack + Teams + a note on the ATS record |
| a round's debrief (written by the process itself: `write_debrief_note`) | a note on the ATS record |

Teams goes to the recipient's own channel, else their team's, else the agency's
(TeamsWebhooks): only when one of them is configured for this recipient.

With no channel configured nothing is started: the inbox and `postinterview tasks|messages` alone
show what there is to do. A configured channel that cannot reach this recipient (no email address,
no ATS record) is recorded as `skipped` with the reason.

The channel activities the `Notify` workflow runs (DeliveryActivities: email, activities/email.py;
Slack, activities/slack.py; Teams, activities/teams.py; a note on the ATS record, activities/ats_api/notes.py) each send one
message or task once, however often Temporal runs them:

1. it claims the `notifications` row (status `sending`, attempts + 1) in one conditional UPDATE;
2. it sends, then marks the row `sent` with the provider's id;
3. a failure that proves nothing left (connection refused, the server answered with an error)
   marks it `failed`: a retry claims it again and sends. A permanent refusal (SMTP 5xx, HTTP 4xx)
   is not retried;
4. a retry that finds `sent` returns without sending;
5. a retry that finds `sending` means an attempt died *after it began to send* (the worker was
   killed, the connection dropped while the server was answering): the message may have arrived.
   Sending again could give the candidate the same email twice, or the ATS two notes; not sending
   could lose it. We choose never to send twice: the row becomes `unknown`, the activity fails
   without retry (the delivery workflow fails, visible in the UI), it is logged, and
   `postinterview notifications --status unknown` lists it for a person to check. The same goes for
   an error in the middle of a send (a timeout waiting for the server's answer).

Configuration is a ChannelSettings (activities/channel_settings.py), built from the environment by
the service's settings (service/settings.py).
Logs carry keys and ids only, never an address or a name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import structlog
from temporalio import activity
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from activities import slack, teams
from activities.ats_api.notes import debrief_note_target, note_target, reference_note_text, write_note, write_text_note
from activities.ats_api.vendor import NoteTarget
from activities.channel_settings import ChannelSettings, SmtpSettings
from activities.ats_api import VENDORS
from activities.follow_through import debrief_text
from activities.email import bare_address, compose_email, debrief_invite, send_email, task_email_body
from activities.sending import InDoubt, NotSent
from activities.store_failures import reports_store_failures
from domain import names
from domain.contract import APPLICATION_ID, NOTIFY_WORKFLOW, delivery_task_queue, notify_workflow_id
from domain.delivery import (
    Channel,
    DeliveryRequest,
    NotificationOutcome,
    NotificationRequest,
    NotificationStatus,
    StoredNotification,
    SubjectKind,
    notification_key,
)
from domain.debrief import feedback_debrief
from domain.follow_through import DebriefNote, MessageRequest, StoredMessage, StoredTask, TaskKind
from store.contact_preferences import ContactPreferenceStore
from store.notification_store import Claim, NotificationStore
from store.reference_store import ReferenceStore
from store.task_store import PENDING, TaskStore

# Writes a task's note on a target outside the API-key vendors (Bullhorn); its id in the ATS.
NoteWriter = Callable[[NoteTarget, StoredTask], str | None]
# Writes a note of the given text, as the given author, on such a target (the debrief note).
TextNoteWriter = Callable[[NoteTarget, str, str], str | None]
# The ATSs whose own task list mirrors the recruiter's tasks (with ATS_NOTES naming them).
ATS_TASK_SOURCES = frozenset({"bullhorn"})

log = structlog.get_logger()

# How long a follow-through activity (a worker thread) waits for Temporal to take the start.
START_TIMEOUT = timedelta(seconds=20)
BOOK_CALL_SUFFIX = "/book-call"


# --- starting a delivery ---------------------------------------------------------------------


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
        if message.recipient_role in ("recruiter", "lead") and self._teams_url(message.recipient_id):
            channels.append(Channel.TEAMS)
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
        if self._teams_url(task.assignee_id):
            channels.append(Channel.TEAMS)
        if self._settings.ats_notes:
            target = note_target(task, self._settings.ats_notes)
            if target:
                channels.append(Channel.ATS_NOTE)
                if target.source in ATS_TASK_SOURCES and target.application_id:
                    channels.append(Channel.ATS_TASK)
        invite = task.key if task.kind == TaskKind.BOOK_DEBRIEF and task.key.endswith(BOOK_CALL_SUFFIX) else None
        self._start(DeliveryRequest(subject_kind=SubjectKind.TASK, subject_key=task.key, channels=channels, invite_task_key=invite), task.application_id)

    def _teams_url(self, person_id: str) -> str | None:
        webhooks = self._settings.teams
        return webhooks.url_for(person_id, self._notifications.team_lead(person_id)) if webhooks else None

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
            # Its own queue, not the processes': its activities never take the processes' slots.
            task_queue=delivery_task_queue(self._task_queue),
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


# --- the channel activities ------------------------------------------------------------------


class DeliveryActivities:
    """The channel activities. Synchronous (smtplib, httpx, SQLAlchemy): they run in the worker's
    thread pool."""

    def __init__(
        self,
        store: TaskStore,
        settings: ChannelSettings,
        note_writers: Mapping[str, NoteWriter] | None = None,
        task_writers: Mapping[str, NoteWriter] | None = None,
        text_note_writers: Mapping[str, TextNoteWriter] | None = None,
    ) -> None:
        """`note_writers`: the ATSs whose notes are not written with an API key, by source (Bullhorn:
        its connected account's session, activities/bullhorn.py); `task_writers`: the ATSs whose
        own task list gets the recruiter's tasks (Bullhorn)."""
        self._store = store
        self._notifications = NotificationStore(store.engine)
        self._preferences = ContactPreferenceStore(store.engine)
        self._settings = settings
        self._note_writers = dict(note_writers or {})
        self._task_writers = dict(task_writers or {})
        self._text_note_writers = dict(text_note_writers or {})

    @activity.defn(name=names.DELIVER_EMAIL)
    @reports_store_failures
    def deliver_email(self, request: NotificationRequest) -> NotificationOutcome:
        smtp = self._settings.smtp
        if smtp is None:
            raise ApplicationError("email is not configured (SMTP_HOST)", type="ChannelNotConfigured", non_retryable=True)
        email = self._compose_email(request, smtp)
        return self._deliver(request, lambda: send_email(smtp, email, self._settings.timeout))

    @activity.defn(name=names.POST_TO_SLACK)
    @reports_store_failures
    def post_to_slack(self, request: NotificationRequest) -> NotificationOutcome:
        url = self._settings.slack_webhook_url
        if url is None:
            raise ApplicationError("Slack is not configured (SLACK_WEBHOOK_URL)", type="ChannelNotConfigured", non_retryable=True)
        text = self._slack_text(request)
        return self._deliver(request, lambda: slack.post(url, text, self._settings.timeout))

    @activity.defn(name=names.POST_TO_TEAMS)
    @reports_store_failures
    def post_to_teams(self, request: NotificationRequest) -> NotificationOutcome:
        if request.subject_kind is SubjectKind.MESSAGE:
            message = self._message(request.subject_key)
            person, card = message.recipient_id, teams.message_card(message)
        else:
            task = self._task(request.subject_key)
            # The current assignee: a task given to somebody else goes to their channel.
            person, card = task.assignee_id, teams.task_card(task)
        webhooks = self._settings.teams
        url = webhooks.url_for(person, self._notifications.team_lead(person)) if webhooks else None
        if url is None:
            raise ApplicationError(
                f"Microsoft Teams has no webhook for the recipient of {request.subject_kind} {request.subject_key} (TEAMS_WEBHOOK_URL, TEAMS_WEBHOOK_URLS)",
                type="ChannelNotConfigured",
                non_retryable=True,
            )
        return self._deliver(request, lambda: teams.post(url, card, self._settings.timeout))

    @activity.defn(name=names.WRITE_ATS_NOTE)
    @reports_store_failures
    def write_ats_note(self, request: NotificationRequest) -> NotificationOutcome:
        if request.subject_kind is SubjectKind.REFERENCE_REPORT:
            return self._write_report_note(request)
        task = self._task(request.subject_key)
        target = note_target(task, self._settings.ats_notes)
        if target is None:
            raise ApplicationError(f"task {task.key} has no record in a configured ATS", type="NoAtsRecord", non_retryable=True)
        writer = self._note_writers.get(target.source)
        if writer is not None:
            return self._deliver(request, lambda: writer(target, task))
        return self._deliver(request, lambda: write_note(self._settings, target, task))

    @activity.defn(name=names.WRITE_DEBRIEF_NOTE)
    @reports_store_failures
    def write_debrief_note(self, note: DebriefNote) -> str:
        """The candidate's debrief of a round as a note on the application's ATS record, where
        ATS_NOTES names its ATS; sent once per `note.key` however often it is retried (the
        `notifications` row, as every channel). Called by the process itself, not by `Notify`: the
        debrief is in its input and nowhere in the store. Its status: sent, skipped, ..., or
        `not configured` when ATS_NOTES does not name the application's ATS."""
        target = debrief_note_target(note.process_id, note.application_id, self._settings.ats_notes)
        if target is None:
            _log("debrief note not written: ATS_NOTES does not name the ATS", key=note.key, source=note.source)
            return "not configured"
        text = debrief_note_text(note)
        request = NotificationRequest(subject_kind=SubjectKind.DEBRIEF, subject_key=note.key, channel=Channel.ATS_NOTE)
        writer = self._text_note_writers.get(target.source)
        if writer is None and target.source not in VENDORS:
            raise ApplicationError(f"no way to write a note in {target.source}", type="NoAtsRecord", non_retryable=True)
        send = (lambda: writer(target, text, note.author_id)) if writer is not None else (lambda: write_text_note(self._settings, target, text, note.author_id))
        return self._deliver(request, send).status.value

    @activity.defn(name=names.WRITE_ATS_TASK)
    @reports_store_failures
    def write_ats_task(self, request: NotificationRequest) -> NotificationOutcome:
        task = self._task(request.subject_key)
        target = note_target(task, self._settings.ats_notes)
        writer = self._task_writers.get(target.source) if target else None
        if target is None or writer is None:
            raise ApplicationError(f"task {task.key} has no task list in a configured ATS", type="NoAtsRecord", non_retryable=True)
        return self._deliver(request, lambda: writer(target, task))

    def _write_report_note(self, request: NotificationRequest) -> NotificationOutcome:
        """A referee's reference report, answers and fraud signals, as a note on the application's
        ATS record; once, like every channel (its `notifications` row)."""
        report = ReferenceStore(self._store.engine).report(request.subject_key)
        if report is None:
            raise ApplicationError(f"no reference report {request.subject_key} in the store", type="UnknownSubject", non_retryable=True)
        if report.source not in self._settings.ats_notes or report.source not in VENDORS:
            raise ApplicationError(f"reference report {report.key} has no record in a configured ATS", type="NoAtsRecord", non_retryable=True)
        target = NoteTarget(report.source, report.application_id, None)
        text = reference_note_text(report)
        return self._deliver(request, lambda: write_text_note(self._settings, target, text, report.recruiter_id or ""))

    # The protocol every channel follows (see the module's docstring).

    def _deliver(self, request: NotificationRequest, send: Callable[[], str | None]) -> NotificationOutcome:
        key = request.key
        if request.subject_kind == "message":
            # Checked now, not when it was queued: a candidate who opted out (or whom the ATS
            # marked can_email false) since then hears nothing, from processes already running too.
            message = self._message(request.subject_key)
            reason = self._suppression(message)
            if reason is not None:
                self._notifications.suppress(key, request.subject_kind, request.subject_key, request.channel, reason)
                self._preferences.mark_message_suppressed(message.key)
                _log("delivery suppressed: the candidate is not to be contacted", key=key, channel=request.channel)
        if request.subject_kind == "task":
            # A task can wait out quiet hours or a day of retries before it is delivered: one the
            # recruiter completed, or the process cancelled, meanwhile is not announced any more.
            task = self._store.task(request.subject_key)
            if task is not None and task.status not in PENDING:
                self._notifications.skip_unsent(key, request.subject_kind, request.subject_key, request.channel, f"the task is {task.status}")
                _log("delivery skipped: the task is no longer pending", key=key, channel=request.channel, status=task.status)
        claim, row = self._notifications.claim(key, request.subject_kind, request.subject_key, request.channel)
        if claim is Claim.ALREADY_SENT:
            _log("delivery already sent: not sent again", key=key, channel=request.channel)
            return _outcome(row, sent_now=False)
        if claim is Claim.SKIPPED:
            return _outcome(row, sent_now=False)
        if claim is Claim.IN_DOUBT:
            return self._in_doubt(request, "an earlier attempt began to send and did not finish: it may have arrived")
        try:
            provider_ref = send()
        except NotSent as error:
            self._notifications.mark_failed(key, str(error))
            _log("delivery failed: nothing sent", key=key, channel=request.channel, permanent=error.permanent, error=_kind(error))
            raise ApplicationError(
                f"{request.channel} delivery of {request.subject_kind} {request.subject_key} failed: {_kind(error)}",
                type="DeliveryRefused" if error.permanent else "DeliveryFailed",
                non_retryable=error.permanent,
                # A receiver that said when to come back (429 or 503 with Retry-After) is asked then.
                next_retry_delay=None if error.permanent else error.retry_after,
            ) from None
        except InDoubt as error:
            self._notifications.mark_unknown(key, str(error))
            return self._in_doubt(request, str(error))
        self._notifications.mark_sent(key, provider_ref)
        _log("delivered", key=key, channel=request.channel, provider_ref=provider_ref)
        sent = self._notifications.notification(key)
        assert sent is not None
        return _outcome(sent, sent_now=True)

    def _suppression(self, message: StoredMessage) -> str | None:
        if message.recipient_role != "candidate":
            return None
        return self._preferences.suppression(message.recipient_id, message.candidate_source, message.process_id)

    def _in_doubt(self, request: NotificationRequest, reason: str) -> NotificationOutcome:
        self._notifications.mark_unknown(request.key, reason)
        log.warning("delivery outcome unknown: not sent again", key=request.key, channel=request.channel, **_activity_ids())
        raise ApplicationError(
            f"{request.channel} delivery of {request.subject_kind} {request.subject_key} may or may not have arrived; "
            "it is not sent again (status unknown: check with the recipient, `postinterview notifications --status unknown`)",
            type="DeliveryOutcomeUnknown",
            non_retryable=True,
        )

    # What each channel says, from the store.

    def _compose_email(self, request: NotificationRequest, smtp: SmtpSettings) -> EmailMessage:
        if request.subject_kind is SubjectKind.MESSAGE:
            message = self._message(request.subject_key)
            to, subject, body = message.recipient_email, message.subject, message.body
            attendee = (None, message.recipient_email)
            unsubscribe = message.list_unsubscribe
        else:
            task = self._task(request.subject_key)
            to = self._notifications.task_email(task.key)
            subject, body = f"Task: {task.title}", task_email_body(task)
            attendee = ((task.context or {}).get("recruiter"), to)
            unsubscribe = None
        if not to:
            raise ApplicationError(f"{request.subject_kind} {request.subject_key} has no email address", type="NoAddress", non_retryable=True)
        invite = self._debrief_invite(request, attendee, smtp) if request.invite_task_key else None
        return compose_email(smtp, request.key, to, subject, body, invite, list_unsubscribe=unsubscribe)

    def _debrief_invite(self, request: NotificationRequest, attendee: tuple[str | None, str | None], smtp: SmtpSettings) -> str | None:
        task = self._store.task(request.invite_task_key or "")
        if task is None:
            return None
        context = task.context or {}
        candidate_email = attendee[1]
        if request.subject_kind is SubjectKind.TASK:
            # The recruiter's copy invites the candidate too, when their questions were queued.
            questions = self._store.message(task.key.removesuffix("/book-call") + "/questions")
            candidate_email = questions.recipient_email if questions else None
        return debrief_invite(
            task,
            organizer=(context.get("recruiter"), self._notifications.task_email(task.key) or bare_address(smtp.sender)),
            candidate=(context.get("candidate"), candidate_email),
            now=datetime.now(UTC),
        )

    def _slack_text(self, request: NotificationRequest) -> str:
        if request.subject_kind is SubjectKind.MESSAGE:
            return slack.message_text(self._message(request.subject_key))
        return slack.task_text(self._task(request.subject_key))

    def _message(self, key: str) -> StoredMessage:
        message = self._store.message(key)
        if message is None:
            raise ApplicationError(f"no message {key} in the store", type="UnknownSubject", non_retryable=True)
        return message

    def _task(self, key: str) -> StoredTask:
        task = self._store.task(key)
        if task is None:
            raise ApplicationError(f"no task {key} in the store", type="UnknownSubject", non_retryable=True)
        return task


def debrief_note_text(note: DebriefNote) -> str:
    """What the ATS note of a round's debrief says (activities/templates/blocks/feedback_debrief.txt.j2)."""
    debrief = feedback_debrief(note.context)
    if debrief is None or debrief.status != "in":
        raise ApplicationError(f"debrief note {note.key} carries no debrief", type="NoDebrief", non_retryable=True)
    who = note.context.get("recruiter") or note.author_id
    return f"Post-interview debrief (round {note.round}), recorded by {who}.\n" + debrief_text(debrief, note.context)


def _outcome(row: StoredNotification, sent_now: bool) -> NotificationOutcome:
    return NotificationOutcome(key=row.key, channel=Channel(row.channel), status=NotificationStatus(row.status), provider_ref=row.provider_ref, sent_now=sent_now)


def _kind(error: Exception) -> str:
    # Our own reasons name codes and exception types, never an address.
    return str(error)


def _activity_ids() -> dict[str, str]:
    try:
        info = activity.info()
    except RuntimeError:
        return {}
    return {"workflow_id": info.workflow_id, "activity_id": info.activity_id, "activity_type": info.activity_type}


def _log(event: str, **fields: Any) -> None:
    log.info(event, **_activity_ids(), **fields)
