"""Delivery channels: email over SMTP (with the debrief call as a calendar invite), a
Slack-compatible incoming webhook, and a note on the candidate's record in the ATS.

Each channel is an activity that sends one message or task once, however often Temporal runs it:

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

Configuration comes from the environment (ChannelSettings.from_env); a channel without its
settings is simply not used, and with none at all nothing is delivered: the inbox alone is used.
Logs carry keys and ids only, never an address or a name.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import httpx
import structlog
from icalendar import Calendar, Event, vCalAddress, vText
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.enrichment import VENDORS
from domain import names
from domain.delivery import Channel, NotificationOutcome, NotificationRequest, NotificationStatus, StoredNotification, SubjectKind
from domain.follow_through import StoredMessage, StoredTask
from store.notification_store import Claim, NotificationStore
from store.task_store import PENDING, TaskStore

log = structlog.get_logger()

SMTP_SECURITY = ("starttls", "tls", "none")
# The debrief call offered in the invite: this long, ending at the debrief's due time.
DEBRIEF_CALL = timedelta(minutes=30)
NOTE_SOURCES = tuple(VENDORS)


class ChannelSettingsError(ValueError):
    """A channel's settings are incomplete or invalid: the worker refuses to start."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    security: str = "starttls"

    @property
    def sender_domain(self) -> str:
        return self.sender.rpartition("@")[2].strip(">").strip() or "postinterview.invalid"


@dataclass(frozen=True)
class ChannelSettings:
    smtp: SmtpSettings | None = None
    slack_webhook_url: str | None = None
    # Sources (greenhouse, lever, ashby) whose processes get a note on the ATS record.
    ats_notes: frozenset[str] = frozenset()
    # The vendors' API keys and URLs (the enrichment settings) and who notes are written as.
    vendor_environ: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 10.0

    @property
    def configured(self) -> bool:
        return bool(self.smtp or self.slack_webhook_url or self.ats_notes)

    def describe(self) -> list[str]:
        return [c for c, on in (("email", self.smtp), ("slack", self.slack_webhook_url), ("ats_note", self.ats_notes)) if on]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ChannelSettings:
        env = {k: v for k, v in (os.environ if environ is None else environ).items()}

        def get(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        smtp = None
        if host := get("SMTP_HOST"):
            security = (get("SMTP_SECURITY") or "starttls").lower()
            if security not in SMTP_SECURITY:
                raise ChannelSettingsError(f"SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}, not {security!r}")
            default_port = {"starttls": 587, "tls": 465, "none": 25}[security]
            port_text = get("SMTP_PORT") or str(default_port)
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ChannelSettingsError(f"SMTP_PORT must be a port number, not {port_text!r}")
            sender = get("SMTP_FROM")
            if not sender or "@" not in sender:
                raise ChannelSettingsError("SMTP_HOST is set, so SMTP_FROM must be the sender's address (e.g. 'Talent Team <talent@agency.example>')")
            username, password = get("SMTP_USERNAME"), get("SMTP_PASSWORD")
            if bool(username) != bool(password):
                raise ChannelSettingsError("SMTP_USERNAME and SMTP_PASSWORD go together: set both or neither")
            smtp = SmtpSettings(host, int(port_text), sender, username, password, security)
        slack = get("SLACK_WEBHOOK_URL")
        if slack and not slack.startswith(("https://", "http://")):
            raise ChannelSettingsError("SLACK_WEBHOOK_URL must be an http(s) URL")
        notes = frozenset(s.strip().lower() for s in (get("ATS_NOTES") or "").split(",") if s.strip())
        for source in sorted(notes):
            if source not in VENDORS:
                raise ChannelSettingsError(f"ATS_NOTES names {source!r}; notes can be written to {', '.join(NOTE_SOURCES)}")
            if not get(VENDORS[source].key_setting):
                raise ChannelSettingsError(f"ATS_NOTES names {source}, but {VENDORS[source].key_setting} is not set")
        timeout_text = get("DELIVERY_TIMEOUT_SECONDS") or "10"
        try:
            timeout = float(timeout_text)
        except ValueError:
            raise ChannelSettingsError(f"DELIVERY_TIMEOUT_SECONDS must be a number of seconds, not {timeout_text!r}") from None
        return cls(smtp=smtp, slack_webhook_url=slack, ats_notes=notes, vendor_environ=env, timeout=timeout)

    def vendor(self, name: str) -> str | None:
        return (self.vendor_environ.get(name) or "").strip() or None


# --- what a send can end in ------------------------------------------------------------------


class NotSent(Exception):
    """Nothing reached the recipient: safe to send again (unless `permanent`: it never will)."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class InDoubt(Exception):
    """The send began and its end is unknown: it may have arrived."""


# --- the activities --------------------------------------------------------------------------


class DeliveryActivities:
    """The channel activities. Synchronous (smtplib, httpx, SQLAlchemy): they run in the worker's
    thread pool."""

    def __init__(self, store: TaskStore, settings: ChannelSettings) -> None:
        self._store = store
        self._notifications = NotificationStore(store.engine)
        self._settings = settings

    @activity.defn(name=names.DELIVER_EMAIL)
    def deliver_email(self, request: NotificationRequest) -> NotificationOutcome:
        smtp = self._settings.smtp
        if smtp is None:
            raise ApplicationError("email is not configured (SMTP_HOST)", type="ChannelNotConfigured", non_retryable=True)
        email = self._compose_email(request, smtp)
        return self._deliver(request, lambda: _send_email(smtp, email, self._settings.timeout))

    @activity.defn(name=names.POST_TO_SLACK)
    def post_to_slack(self, request: NotificationRequest) -> NotificationOutcome:
        url = self._settings.slack_webhook_url
        if url is None:
            raise ApplicationError("Slack is not configured (SLACK_WEBHOOK_URL)", type="ChannelNotConfigured", non_retryable=True)
        text = self._slack_text(request)
        return self._deliver(request, lambda: _post_slack(url, text, self._settings.timeout))

    @activity.defn(name=names.WRITE_ATS_NOTE)
    def write_ats_note(self, request: NotificationRequest) -> NotificationOutcome:
        task = self._task(request.subject_key)
        target = note_target(task, self._settings.ats_notes)
        if target is None:
            raise ApplicationError(f"task {task.key} has no record in a configured ATS", type="NoAtsRecord", non_retryable=True)
        return self._deliver(request, lambda: _write_note(self._settings, target, task))

    # The protocol every channel follows (see the module's docstring).

    def _deliver(self, request: NotificationRequest, send: Callable[[], str | None]) -> NotificationOutcome:
        key = request.key
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
            ) from None
        except InDoubt as error:
            self._notifications.mark_unknown(key, str(error))
            return self._in_doubt(request, str(error))
        self._notifications.mark_sent(key, provider_ref)
        _log("delivered", key=key, channel=request.channel, provider_ref=provider_ref)
        sent = self._notifications.notification(key)
        assert sent is not None
        return _outcome(sent, sent_now=True)

    def _in_doubt(self, request: NotificationRequest, reason: str) -> NotificationOutcome:
        self._notifications.mark_unknown(request.key, reason)
        log.warning("delivery outcome unknown: not sent again", key=request.key, channel=request.channel, **_activity_ids())
        raise ApplicationError(
            f"{request.channel} delivery of {request.subject_kind} {request.subject_key} may or may not have arrived; "
            "it is not sent again (status unknown: check with the recipient, `postinterview notifications --status unknown`)",
            type="DeliveryOutcomeUnknown",
            non_retryable=True,
        )

    # What each channel says.

    def _compose_email(self, request: NotificationRequest, smtp: SmtpSettings) -> EmailMessage:
        email = EmailMessage()
        if request.subject_kind is SubjectKind.MESSAGE:
            message = self._message(request.subject_key)
            to, subject, body = message.recipient_email, message.subject, message.body
            attendee = (None, message.recipient_email)
        else:
            task = self._task(request.subject_key)
            to = self._notifications.task_email(task.key)
            subject, body = f"Task: {task.title}", task_email_body(task)
            attendee = ((task.context or {}).get("recruiter"), to)
        if not to:
            raise ApplicationError(f"{request.subject_kind} {request.subject_key} has no email address", type="NoAddress", non_retryable=True)
        email["From"] = smtp.sender
        email["To"] = to
        email["Subject"] = subject
        email["Date"] = format_datetime(datetime.now(UTC))
        # The same Message-ID on every attempt: a receiving server or client that sees it twice
        # (an in-doubt send a person re-sent by hand) can tell it is the same message.
        email["Message-ID"] = f"<{hashlib.sha256(request.key.encode()).hexdigest()[:32]}@{smtp.sender_domain}>"
        email["Auto-Submitted"] = "auto-generated"
        email.set_content(body)
        if request.invite_task_key and (invite := self._debrief_invite(request, attendee, smtp)):
            email.add_alternative(invite, subtype="calendar", params={"method": "REQUEST", "name": "invite.ics"})
        return email

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
            organizer=(context.get("recruiter"), self._notifications.task_email(task.key) or _bare(smtp.sender)),
            candidate=(context.get("candidate"), candidate_email),
            now=datetime.now(UTC),
        )

    def _slack_text(self, request: NotificationRequest) -> str:
        if request.subject_kind is SubjectKind.MESSAGE:
            message = self._message(request.subject_key)
            return f"*{message.subject}*\n{message.body}"
        task = self._task(request.subject_key)
        who = (task.context or {}).get("recruiter") or task.assignee_id
        return f"*New task for {who}:* {task.title}\nDue {task.due_at:%a %d %b %Y %H:%M} UTC\n{task.instructions}"

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


def task_email_body(task: StoredTask) -> str:
    return f"{task.title}\n\n{task.instructions}\n\nDue: {task.due_at:%a %d %b %Y %H:%M} UTC\nTask: {task.key}\n"


def debrief_invite(
    book_call: StoredTask, organizer: tuple[str | None, str], candidate: tuple[str | None, str | None], now: datetime
) -> str | None:
    """The debrief call as an iCalendar REQUEST: a 30-minute call over by the debrief's due time.

    Its UID comes from the book-call task, so the candidate's invite and the recruiter's are the
    same meeting. None when that slot has already passed: an invite to the past helps nobody."""
    # A call on the quarter hour, over by the due time.
    due = book_call.due_at.astimezone(UTC)
    end = due.replace(minute=due.minute - due.minute % 15, second=0, microsecond=0)
    start = end - DEBRIEF_CALL
    if start <= now:
        return None
    context = book_call.context or {}
    calendar = Calendar()
    calendar.add("prodid", "-//post-interview-engine//debrief//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "REQUEST")
    event = Event()
    event.add("uid", f"{hashlib.sha256(book_call.key.encode()).hexdigest()[:32]}@postinterview")
    event.add("dtstamp", now)
    event.add("dtstart", start)
    event.add("dtend", end)
    people = " and ".join(name for name in (candidate[0], organizer[0]) if name)
    at_client = f" ({context['client']})" if context.get("client") else ""
    event.add("summary", f"Interview debrief: {people}{at_client}" if people else f"Interview debrief{at_client}")
    event.add(
        "description",
        "How did it go? Your interest (1-5), your concerns, your questions for the client and what the "
        "interviewers asked you to reflect on. Reply to move the call if this time does not suit you.",
    )
    event.add("sequence", 0)
    event.add("status", "CONFIRMED")
    organizer_address = vCalAddress(f"mailto:{organizer[1]}")
    if organizer[0]:
        organizer_address.params["cn"] = vText(organizer[0])
    event["organizer"] = organizer_address
    for name, email in (organizer, candidate):
        if not email:
            continue
        attendee = vCalAddress(f"mailto:{email}")
        if name:
            attendee.params["cn"] = vText(name)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        attendee.params["partstat"] = vText("NEEDS-ACTION")
        attendee.params["rsvp"] = vText("TRUE")
        event.add("attendee", attendee, encode=0)
    calendar.add_component(event)
    return calendar.to_ical().decode()


# --- email -----------------------------------------------------------------------------------


def _send_email(smtp: SmtpSettings, email: EmailMessage, timeout: float) -> str:
    """Send over SMTP; the Message-ID is the provider's reference."""
    try:
        if smtp.security == "tls":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout, context=ssl.create_default_context())
        else:
            connection = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
    except smtplib.SMTPResponseException as error:
        raise NotSent(f"SMTP server refused the connection: {error.smtp_code}", permanent=error.smtp_code >= 500) from None
    except OSError as error:
        raise NotSent(f"SMTP server unreachable: {type(error).__name__}") from None
    try:
        try:
            connection.ehlo()
            if smtp.security == "starttls":
                connection.starttls(context=ssl.create_default_context())
                connection.ehlo()
            if smtp.username:
                connection.login(smtp.username, smtp.password or "")
        except smtplib.SMTPResponseException as error:
            # Wrong credentials or no STARTTLS will not fix themselves.
            raise NotSent(f"SMTP session refused: {error.smtp_code}", permanent=error.smtp_code >= 500 or isinstance(error, smtplib.SMTPAuthenticationError)) from None
        except (smtplib.SMTPException, OSError) as error:
            raise NotSent(f"SMTP session failed before sending: {type(error).__name__}") from None
        try:
            connection.send_message(email)
        except smtplib.SMTPRecipientsRefused as error:
            codes = sorted({code for code, _ in error.recipients.values()})
            raise NotSent(f"SMTP server refused the recipient: {codes}", permanent=all(c >= 500 for c in codes)) from None
        except smtplib.SMTPResponseException as error:
            # The server answered with an error: it did not take the message.
            raise NotSent(f"SMTP server refused the message: {error.smtp_code}", permanent=error.smtp_code >= 500) from None
        except (smtplib.SMTPException, OSError) as error:
            # Dropped or timed out while the message was on its way: it may have been accepted.
            raise InDoubt(f"SMTP connection lost while sending: {type(error).__name__}") from None
    finally:
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()
    return str(email["Message-ID"])


def _bare(address: str) -> str:
    return address.rpartition("<")[2].rstrip(">").strip() if "<" in address else address.strip()


# --- HTTP (Slack, the ATSs) ------------------------------------------------------------------

# Failures that prove the request never reached the server (safe to send again).
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol, httpx.ProxyError)


def _request(client: httpx.Client, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
    try:
        response = client.request(method, url, **kwargs)
    except _NOT_SENT_ERRORS as error:
        raise NotSent(f"{what} unreachable: {type(error).__name__}") from None
    except httpx.TransportError as error:
        raise InDoubt(f"{what}: connection lost waiting for the answer ({type(error).__name__})") from None
    if response.status_code == 429 or response.status_code >= 500:
        raise NotSent(f"{what} answered {response.status_code}")
    if response.status_code >= 400:
        raise NotSent(f"{what} refused the request: {response.status_code}", permanent=True)
    return response


def _post_slack(url: str, text: str, timeout: float) -> str | None:
    with httpx.Client(timeout=timeout) as client:
        response = _request(client, "POST", url, "Slack webhook", json={"text": text})
    # Slack answers a plain "ok" and no id; compatible receivers (Mattermost, Rocket.Chat) may
    # answer JSON with one.
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body.get("ts") or body.get("id") or "") or None if isinstance(body, dict) else None


@dataclass(frozen=True)
class NoteTarget:
    source: str
    application_id: str | None
    candidate_id: str | None


def note_target(task: StoredTask, sources: frozenset[str]) -> NoteTarget | None:
    """The ATS record a task's note belongs on: the application's (a post-interview process or one
    of its referee checks), or the candidate's (a relationship check-in); None outside `sources`."""
    for source in sources:
        if task.process_id.startswith(f"post-interview-{source}-") and task.application_id:
            return NoteTarget(source, task.application_id, None)
        if task.process_id.startswith(f"relationship-{source}-") and source != "lever":
            # Greenhouse and Ashby keep notes on the candidate; Lever only on an opportunity.
            return NoteTarget(source, None, task.process_id.removeprefix(f"relationship-{source}-"))
    return None


def note_text(task: StoredTask) -> str:
    who = (task.context or {}).get("recruiter") or task.assignee_id
    return f"Post-interview follow-through: {who} was asked to \"{task.title}\" (due {task.due_at:%Y-%m-%d %H:%M} UTC).\n{task.instructions}"


def _write_note(settings: ChannelSettings, target: NoteTarget, task: StoredTask) -> str | None:
    vendor = VENDORS[target.source]
    key = settings.vendor(vendor.key_setting)
    if key is None:
        raise NotSent(f"{vendor.key_setting} is not set", permanent=True)
    base = (settings.vendor(vendor.url_setting) or vendor.default_url).rstrip("/")
    what = f"{target.source} API"
    with httpx.Client(base_url=base, auth=(key, ""), timeout=settings.timeout) as client:
        return _NOTE_WRITERS[target.source](client, settings, target, task, what)


def _greenhouse_note(client: httpx.Client, settings: ChannelSettings, target: NoteTarget, task: StoredTask, what: str) -> str | None:
    candidate_id = target.candidate_id
    if candidate_id is None:
        application = _request(client, "GET", f"/v1/applications/{target.application_id}", what).json()
        candidate_id = str(application.get("candidate_id") or "")
        if not candidate_id:
            raise NotSent(f"{what}: application {target.application_id} names no candidate", permanent=True)
    # Harvest writes need a user to act as (On-Behalf-Of): the deployment's, or the assignee's id.
    author = settings.vendor("GREENHOUSE_NOTES_USER_ID") or task.assignee_id
    response = _request(
        client,
        "POST",
        f"/v1/candidates/{candidate_id}/activity_feed/notes",
        what,
        headers={"On-Behalf-Of": author},
        json={"user_id": author, "body": note_text(task), "visibility": "private"},
    )
    return str(response.json().get("id") or "") or None


def _lever_note(client: httpx.Client, settings: ChannelSettings, target: NoteTarget, task: StoredTask, what: str) -> str | None:
    params = {"perform_as": author} if (author := settings.vendor("LEVER_NOTES_USER_ID") or task.assignee_id) else {}
    response = _request(
        client, "POST", f"/v1/opportunities/{target.application_id}/notes", what, params=params, json={"value": note_text(task), "notifyFollowers": False}
    )
    data = response.json().get("data") or {}
    return str(data.get("noteId") or data.get("id") or "") or None


def _ashby_note(client: httpx.Client, settings: ChannelSettings, target: NoteTarget, task: StoredTask, what: str) -> str | None:
    candidate_id = target.candidate_id
    if candidate_id is None:
        info = _ashby_results(_request(client, "POST", "/application.info", what, json={"applicationId": target.application_id}), what)
        candidate_id = str((info.get("candidate") or {}).get("id") or "")
        if not candidate_id:
            raise NotSent(f"{what}: application {target.application_id} names no candidate", permanent=True)
    response = _request(client, "POST", "/candidate.createNote", what, json={"candidateId": candidate_id, "note": note_text(task), "sendNotifications": False})
    return str(_ashby_results(response, what).get("id") or "") or None


def _ashby_results(response: httpx.Response, what: str) -> dict[str, Any]:
    # Ashby answers 200 with success false for a request it refuses.
    body = response.json()
    if not body.get("success"):
        raise NotSent(f"{what} refused the request: {body.get('errors')}", permanent=True)
    return body.get("results") or {}


_NOTE_WRITERS = {"greenhouse": _greenhouse_note, "lever": _lever_note, "ashby": _ashby_note}


# --- small helpers ---------------------------------------------------------------------------


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

