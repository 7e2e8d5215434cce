"""The delivery channels against real servers on loopback and a real store (SQLite and PostgreSQL):
email to an SMTP server (aiosmtpd) with the debrief invite, a Slack-compatible webhook and notes
on the Greenhouse, Lever and Ashby records. A retried channel activity never sends twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import update
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.channel_settings import ChannelSettings, ChannelSettingsError
from activities.delivery import DeliveryActivities
from activities.follow_through import FollowThroughActivities
from domain.delivery import Channel, NotificationRequest, SubjectKind
from domain.follow_through import Assignee, MessageRequest, Recipient, TaskKind, TaskRequest
from service.settings import Settings
from store.notification_store import NotificationStore
from store.schema import notifications
from store.task_store import TaskStore
from tests.channel_servers import all_channels, http_receiver, smtp_server, smtp_settings
from tests.harness import free_port

PROCESS = "post-interview-greenhouse-4410"
CANDIDATE = "ada@example.com"
RECRUITER = "rita@agency.example"


def run(activity_fn, *args):
    """A synchronous activity, as the worker runs it: in a thread, beside the servers' event loop."""
    return asyncio.to_thread(ActivityEnvironment().run, activity_fn, *args)


def queue_debrief(store: TaskStore, due: datetime, process: str = PROCESS, application_id: str = "4410") -> tuple[str, str]:
    """What the process writes after an interview: the book-call task and the candidate's questions."""
    follow_through = FollowThroughActivities(store)
    env = ActivityEnvironment()
    context = {"candidate": "Ada Lovelace", "client": "Acme Capital", "recruiter": "Rita Recruiter", "round": "1"}
    task = env.run(
        follow_through.create_recruiter_task,
        TaskRequest(
            key=f"{process}/debrief/1/book-call",
            process_id=process,
            application_id=application_id,
            kind=TaskKind.BOOK_DEBRIEF,
            assignee=Assignee(id="92120", name="Rita Recruiter", email=RECRUITER),
            due_at=due,
            context=context,
        ),
    )
    message = env.run(
        follow_through.message_candidate,
        MessageRequest(
            key=f"{process}/debrief/1/questions",
            process_id=process,
            application_id=application_id,
            recipient=Recipient(role="candidate", id="cand-1", name="Ada Lovelace", email=CANDIDATE),
            template="debrief_questions",
            context=context,
        ),
    )
    return task.key, message.key


def email(key: str, invite: str | None = None) -> NotificationRequest:
    return NotificationRequest(subject_kind=SubjectKind.MESSAGE, subject_key=key, channel=Channel.EMAIL, invite_task_key=invite)


def task_request(key: str, channel: Channel, invite: str | None = None) -> NotificationRequest:
    return NotificationRequest(subject_kind=SubjectKind.TASK, subject_key=key, channel=channel, invite_task_key=invite)


async def test_the_candidates_email_goes_out_once_with_the_debrief_call_as_an_invite(store):
    due = datetime.now(UTC) + timedelta(hours=4)
    task_key, message_key = queue_debrief(store, due)
    with smtp_server() as (sink, port):
        delivery = DeliveryActivities(store, ChannelSettings(smtp=smtp_settings(port)))
        first = await run(delivery.deliver_email, email(message_key, task_key))
        again = await run(delivery.deliver_email, email(message_key, task_key))  # a retried activity

    assert (first.status, first.sent_now) == ("sent", True)
    assert (again.status, again.sent_now) == ("sent", False)
    [received] = sink.to(CANDIDATE)
    assert len(sink.received) == 1
    stored = store.message(message_key)
    assert received["To"] == CANDIDATE and received["From"] == "Talent Team <talent@agency.example>"
    assert received["Subject"] == stored.subject
    assert received["Message-ID"] == first.provider_ref and received["Message-ID"].endswith("@agency.example>")
    assert received.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == stored.body.strip()

    [invite_part] = [part for part in received.walk() if part.get_content_type() == "text/calendar"]
    assert invite_part.get_param("method") == "REQUEST"
    calendar = Calendar.from_ical(invite_part.get_content())
    assert calendar["method"] == "REQUEST"
    [event] = calendar.walk("VEVENT")
    assert due - timedelta(minutes=15) < event.decoded("dtend") <= due and event.decoded("dtend").minute % 15 == 0
    assert str(event["summary"]) == "Interview debrief: Ada Lovelace and Rita Recruiter (Acme Capital)"
    assert event.decoded("dtstart") == event.decoded("dtend") - timedelta(minutes=30)
    assert str(event["organizer"]) == f"mailto:{RECRUITER}"
    attendees = {str(a) for a in (event["attendee"] if isinstance(event["attendee"], list) else [event["attendee"]])}
    assert attendees == {f"mailto:{RECRUITER}", f"mailto:{CANDIDATE}"}

    row = NotificationStore(store.engine).notification(first.key)
    assert (row.status, row.attempts, row.provider_ref) == ("sent", 1, first.provider_ref)
    assert row.sent_at is not None and row.subject_kind == "message" and row.channel == "email"


async def test_the_recruiters_task_email_carries_the_same_invite(store):
    due = datetime.now(UTC) + timedelta(hours=4)
    task_key, message_key = queue_debrief(store, due)
    with smtp_server() as (sink, port):
        delivery = DeliveryActivities(store, ChannelSettings(smtp=smtp_settings(port)))
        await run(delivery.deliver_email, email(message_key, task_key))
        await run(delivery.deliver_email, task_request(task_key, Channel.EMAIL, task_key))
    [to_candidate], [to_recruiter] = sink.to(CANDIDATE), sink.to(RECRUITER)
    assert to_recruiter["Subject"] == "Task: Book a debrief call with Ada Lovelace (round 1)"
    assert "record the debrief" in to_recruiter.get_body(("plain",)).get_content()

    def uid(message):
        [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        return str(Calendar.from_ical(part.get_content()).walk("VEVENT")[0]["uid"])

    assert uid(to_candidate) == uid(to_recruiter)
    assert to_candidate["Message-ID"] != to_recruiter["Message-ID"]


async def test_no_invite_for_a_slot_that_has_passed(store):
    task_key, message_key = queue_debrief(store, datetime.now(UTC) + timedelta(minutes=10))
    with smtp_server() as (sink, port):
        await run(DeliveryActivities(store, ChannelSettings(smtp=smtp_settings(port))).deliver_email, email(message_key, task_key))
    [received] = sink.to(CANDIDATE)
    assert not [p for p in received.walk() if p.get_content_type() == "text/calendar"]


async def test_an_attempt_that_died_mid_send_is_not_sent_again(store):
    _, message_key = queue_debrief(store, datetime.now(UTC) + timedelta(hours=4))
    notes = NotificationStore(store.engine)
    request = email(message_key)
    # The first attempt claimed the row and the worker died before it could say how the send ended.
    notes.claim(request.key, "message", message_key, "email")
    with smtp_server() as (sink, port), capture_logs() as logs:
        with pytest.raises(ApplicationError) as raised:
            await run(DeliveryActivities(store, ChannelSettings(smtp=smtp_settings(port))).deliver_email, request)
    assert raised.value.type == "DeliveryOutcomeUnknown" and raised.value.non_retryable
    assert sink.received == []
    row = notes.notification(request.key)
    assert (row.status, row.attempts) == ("unknown", 1)
    assert notes.notifications(status="unknown") == [row]
    assert any(entry["event"] == "delivery outcome unknown: not sent again" for entry in logs)
    assert CANDIDATE not in repr(logs)


async def test_a_server_that_is_down_fails_the_attempt_and_the_retry_sends(store):
    _, message_key = queue_debrief(store, datetime.now(UTC) + timedelta(hours=4))
    port = free_port()
    delivery = DeliveryActivities(store, ChannelSettings(smtp=smtp_settings(port), timeout=2))
    with pytest.raises(ApplicationError) as raised:
        await run(delivery.deliver_email, email(message_key))
    assert raised.value.type == "DeliveryFailed" and not raised.value.non_retryable
    notes = NotificationStore(store.engine)
    assert notes.notification(email(message_key).key).status == "failed"

    sink_ctx = smtp_server_on(port)
    with sink_ctx as sink:
        outcome = await run(delivery.deliver_email, email(message_key))
    assert outcome.sent_now and len(sink.to(CANDIDATE)) == 1
    row = notes.notification(outcome.key)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)


def smtp_server_on(port: int):
    from contextlib import contextmanager

    from aiosmtpd.controller import Controller

    from tests.channel_servers import SmtpSink

    @contextmanager
    def serving():
        sink = SmtpSink()
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            yield sink
        finally:
            controller.stop()

    return serving()


async def test_a_refused_recipient_is_not_retried(store):
    _, message_key = queue_debrief(store, datetime.now(UTC) + timedelta(hours=4))
    with smtp_server() as (sink, port):
        sink.refuse.add(CANDIDATE)
        with pytest.raises(ApplicationError) as raised:
            await run(DeliveryActivities(store, ChannelSettings(smtp=smtp_settings(port))).deliver_email, email(message_key))
    assert raised.value.type == "DeliveryRefused" and raised.value.non_retryable
    assert CANDIDATE not in str(raised.value)  # failure messages reach Temporal's history
    row = NotificationStore(store.engine).notification(email(message_key).key)
    assert row.status == "failed" and "550" in row.last_error


async def test_slack_gets_the_task_once_and_a_webhook_that_is_down_is_retried(store):
    task_key, _ = queue_debrief(store, datetime.now(UTC) + timedelta(hours=4))
    async with http_receiver() as (receiver, url):
        delivery = DeliveryActivities(store, all_channels(free_port(), url))
        receiver.slack_failures.append(503)
        with pytest.raises(ApplicationError) as raised:
            await run(delivery.post_to_slack, task_request(task_key, Channel.SLACK))
        assert raised.value.type == "DeliveryFailed" and not raised.value.non_retryable
        first = await run(delivery.post_to_slack, task_request(task_key, Channel.SLACK))
        again = await run(delivery.post_to_slack, task_request(task_key, Channel.SLACK))
    assert (first.sent_now, again.sent_now) == (True, False)
    [post] = receiver.slack
    assert post["text"].startswith("*New task for Rita Recruiter:* Book a debrief call with Ada Lovelace (round 1)")
    row = NotificationStore(store.engine).notification(first.key)
    assert (row.status, row.attempts) == ("sent", 2)


async def test_slack_shows_names_as_text_never_as_markup(store):
    """A candidate or recruiter name is whatever an ATS sent: `<!channel>` in it must not ping a
    channel, nor `<@U123>` a person, nor `&` start an entity. Our own bold markup stays."""
    hostile = "<!channel> & <@U123>"
    follow_through = FollowThroughActivities(store)
    env = ActivityEnvironment()
    context = {"candidate": hostile, "client": "Acme <Capital>", "recruiter": hostile, "round": "1"}
    task = env.run(
        follow_through.create_recruiter_task,
        TaskRequest(
            key=f"{PROCESS}/debrief/1/book-call",
            process_id=PROCESS,
            application_id="4410",
            kind=TaskKind.BOOK_DEBRIEF,
            assignee=Assignee(id="92120", name=hostile, email=RECRUITER),
            due_at=datetime.now(UTC) + timedelta(hours=4),
            context=context,
        ),
    )
    reminder = env.run(
        follow_through.remind_recruiter,
        MessageRequest(
            key=f"{PROCESS}/debrief/1/reminder",
            process_id=PROCESS,
            application_id="4410",
            recipient=Recipient(role="recruiter", id="92120", name=hostile, email=RECRUITER),
            template="recruiter_reminder",
            context={"recruiter": hostile, "what": f"book a debrief call with {hostile}", "due_at": "today 15:00"},
        ),
    )
    async with http_receiver() as (receiver, url):
        delivery = DeliveryActivities(store, all_channels(free_port(), url))
        await run(delivery.post_to_slack, task_request(task.key, Channel.SLACK))
        await run(delivery.post_to_slack, NotificationRequest(subject_kind=SubjectKind.MESSAGE, subject_key=reminder.key, channel=Channel.SLACK))
    escaped = "&lt;!channel&gt; &amp; &lt;@U123&gt;"
    task_post, message_post = (post["text"] for post in receiver.slack)
    assert task_post.startswith(f"*New task for {escaped}:* Book a debrief call with {escaped} (round 1)\n")
    assert message_post.startswith("*") and escaped in message_post
    for text in (task_post, message_post):
        # Nothing left that Slack reads as markup: no `<` or `>` at all, every `&` an entity.
        assert "<" not in text and ">" not in text
        assert text.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").count("&") == 0


async def test_a_task_done_before_its_delivery_is_not_announced(store):
    """Quiet hours or a day of retries can pass before a task's delivery runs: a task completed or
    cancelled meanwhile is skipped, also after a failed attempt, and nothing reaches Slack."""
    task_key, _ = queue_debrief(store, datetime.now(UTC) + timedelta(hours=4))
    async with http_receiver() as (receiver, url):
        delivery = DeliveryActivities(store, all_channels(free_port(), url))
        receiver.slack_failures.append(503)
        with pytest.raises(ApplicationError):
            await run(delivery.post_to_slack, task_request(task_key, Channel.SLACK))
        store.complete(task_key, "debriefed", "92120")
        skipped = await run(delivery.post_to_slack, task_request(task_key, Channel.SLACK))
    assert skipped.sent_now is False and receiver.slack == []
    row = NotificationStore(store.engine).notification(skipped.key)
    assert (row.status, row.last_error) == ("skipped", "the task is done")


@pytest.mark.parametrize(
    "process,application_id,endpoint",
    [
        ("post-interview-greenhouse-4410", "4410", "greenhouse"),
        ("post-interview-lever-opp-1", "opp-1", "lever"),
        ("post-interview-ashby-ash-app-1", "ash-app-1", "ashby"),
    ],
)
async def test_each_ats_gets_one_note_on_the_candidates_record(store, process, application_id, endpoint):
    task_key, _ = queue_debrief(store, datetime.now(UTC) + timedelta(hours=4), process, application_id)
    async with http_receiver() as (receiver, url):
        delivery = DeliveryActivities(store, all_channels(free_port(), url))
        first = await run(delivery.write_ats_note, task_request(task_key, Channel.ATS_NOTE))
        again = await run(delivery.write_ats_note, task_request(task_key, Channel.ATS_NOTE))
    assert (first.sent_now, again.sent_now) == (True, False)
    notes = {"greenhouse": receiver.greenhouse_notes, "lever": receiver.lever_notes, "ashby": receiver.ashby_notes}
    assert [len(n) for n in notes.values()] == [1 if name == endpoint else 0 for name in notes]
    [note] = notes[endpoint]
    text = {"greenhouse": "body", "lever": "value", "ashby": "note"}[endpoint]
    assert 'asked to "Book a debrief call with Ada Lovelace (round 1)"' in note[text]
    if endpoint == "greenhouse":
        assert (note["candidate_id"], note["on_behalf_of"], note["user_id"], note["visibility"]) == ("5501", "92120", "92120", "private")
        assert first.provider_ref == "9001"
    elif endpoint == "lever":
        assert (note["opportunity_id"], note["perform_as"]) == ("opp-1", "92120")
        assert first.provider_ref == "lever-note-1"
    else:
        assert (note["candidateId"], note["sendNotifications"]) == ("ash-cand-1", False)
        assert first.provider_ref == "ashby-note-1"


async def test_a_refused_api_key_is_not_retried(store):
    task_key, _ = queue_debrief(store, datetime.now(UTC) + timedelta(hours=4))
    async with http_receiver() as (receiver, url):
        settings = all_channels(free_port(), url)
        settings = ChannelSettings(ats_notes=settings.ats_notes, vendor_settings={**settings.vendor_settings, "GREENHOUSE_HARVEST_API_KEY": "wrong"})
        with pytest.raises(ApplicationError) as raised:
            await run(DeliveryActivities(store, settings).write_ats_note, task_request(task_key, Channel.ATS_NOTE))
    assert raised.value.type == "DeliveryRefused" and raised.value.non_retryable
    assert receiver.greenhouse_notes == []


def test_settings_from_the_environment():
    assert not Settings.from_env({}).channels().configured
    settings = Settings.from_env(
        {
            "SMTP_HOST": "smtp.example",
            "SMTP_FROM": "Talent <talent@agency.example>",
            "SMTP_USERNAME": "u",
            "SMTP_PASSWORD": "p",
            "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X",
            "ATS_NOTES": "Greenhouse, lever",
            "GREENHOUSE_HARVEST_API_KEY": "k",
            "LEVER_API_KEY": "k",
        }
    ).channels()
    assert settings.smtp is not None and (settings.smtp.port, settings.smtp.security, settings.smtp.sender_domain) == (587, "starttls", "agency.example")
    assert settings.ats_notes == {"greenhouse", "lever"} and settings.describe() == ["email", "slack", "ats_note"]
    assert Settings.from_env({"SMTP_HOST": "h", "SMTP_FROM": "a@b", "SMTP_SECURITY": "tls"}).channels().smtp.port == 465


@pytest.mark.parametrize(
    "environ,named",
    [
        ({"SMTP_HOST": "smtp.example"}, "SMTP_FROM"),
        ({"SMTP_HOST": "h", "SMTP_FROM": "a@b", "SMTP_PORT": "smtp"}, "SMTP_PORT"),
        ({"SMTP_HOST": "h", "SMTP_FROM": "a@b", "SMTP_SECURITY": "ssl3"}, "SMTP_SECURITY"),
        ({"SMTP_HOST": "h", "SMTP_FROM": "a@b", "SMTP_USERNAME": "u"}, "SMTP_PASSWORD"),
        ({"SLACK_WEBHOOK_URL": "hooks.slack.com/x"}, "SLACK_WEBHOOK_URL"),
        ({"ATS_NOTES": "workday"}, "ATS_NOTES"),
        ({"ATS_NOTES": "ashby"}, "ASHBY_API_KEY"),
    ],
)
def test_incomplete_settings_stop_the_worker_naming_the_variable(environ, named):
    with pytest.raises(ChannelSettingsError, match=named):
        Settings.from_env(environ).channels()


def test_a_concurrent_attempt_cannot_claim_a_row_being_sent(store):
    notes = NotificationStore(store.engine)
    first, _ = notes.claim("message:k:email", "message", "k", "email")
    second, _ = notes.claim("message:k:email", "message", "k", "email")
    assert (first, second) == ("claimed", "in_doubt")
    # The first attempt finishes after all: sent wins over the retry's doubt.
    notes.mark_unknown("message:k:email", "doubt")
    notes.mark_sent("message:k:email", "ref")
    assert notes.notification("message:k:email").status == "sent"
    with store.engine.begin() as connection:
        connection.execute(update(notifications).values(status="failed"))
    assert notes.claim("message:k:email", "message", "k", "email")[0] == "claimed"
