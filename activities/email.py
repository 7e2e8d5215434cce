"""Email over SMTP: the message (with the same Message-ID on every attempt), the debrief call as a
calendar invite (iCalendar REQUEST), and sending it, saying whether a failed send may have arrived
(activities/sending.py)."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from icalendar import Calendar, Event, vCalAddress, vText
from opentelemetry import trace

from activities.channel_settings import SmtpSettings
from activities.sending import InDoubt, NotSent
from domain.follow_through import StoredTask

tracer = trace.get_tracer("postinterview.email")

# The debrief call offered in the invite: this long, ending at the debrief's due time.
DEBRIEF_CALL = timedelta(minutes=30)


def compose_email(
    smtp: SmtpSettings, key: str, to: str, subject: str, body: str, invite: str | None, list_unsubscribe: str | None = None
) -> EmailMessage:
    """The email of the notification `key`, with `invite` (an iCalendar text) as an alternative.
    `list_unsubscribe`: the message's signed opt-out link, offered to the recipient's mail client
    as a one-click unsubscribe (RFC 2369 List-Unsubscribe, RFC 8058 List-Unsubscribe-Post: the
    client POSTs `List-Unsubscribe=One-Click` to it)."""
    email = EmailMessage()
    email["From"] = smtp.sender
    email["To"] = to
    email["Subject"] = subject
    email["Date"] = format_datetime(datetime.now(UTC))
    # The same Message-ID on every attempt: a receiving server or client that sees it twice
    # (an in-doubt send a person re-sent by hand) can tell it is the same message.
    email["Message-ID"] = f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{smtp.sender_domain}>"
    email["Auto-Submitted"] = "auto-generated"
    if list_unsubscribe:
        email["List-Unsubscribe"] = f"<{list_unsubscribe}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(body)
    if invite:
        email.add_alternative(invite, subtype="calendar", params={"method": "REQUEST", "name": "invite.ics"})
    return email


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


def send_email(smtp: SmtpSettings, email: EmailMessage, timeout: float) -> str:
    """Send over SMTP; the Message-ID is the provider's reference.

    One client span per send (OpenTelemetry; a no-op unless tracing is on): the last hop of the
    trace that began with the webhook. Its attributes name the server and the message, never a
    recipient (no personal data in traces)."""
    attributes = {"server.address": smtp.host, "server.port": smtp.port, "smtp.security": smtp.security, "smtp.message_id": str(email["Message-ID"])}
    with tracer.start_as_current_span("smtp send", kind=trace.SpanKind.CLIENT, attributes=attributes) as span:
        try:
            return _send_email(smtp, email, timeout)
        except (NotSent, InDoubt) as error:
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(error)))
            raise


def _send_email(smtp: SmtpSettings, email: EmailMessage, timeout: float) -> str:
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


def bare_address(address: str) -> str:
    """`talent@agency.example` of `Talent Team <talent@agency.example>`."""
    return address.rpartition("<")[2].rstrip(">").strip() if "<" in address else address.strip()
