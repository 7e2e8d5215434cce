"""Opt-out in every message to a candidate, honoured when the message is sent: against a real SMTP
server (aiosmtpd) and a real store (SQLite and PostgreSQL).

- every template a candidate can be sent ends with the opt-out link (or, without links, how to stop);
- the email carries it as List-Unsubscribe with List-Unsubscribe-Post (RFC 8058);
- a candidate who opted out, or whom the ATS marked can_email false, after the message was queued
  gets nothing: the notification is `suppressed`, the message too, and it is not retried.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import ActivityEnvironment

from activities.channel_settings import ChannelSettings
from activities.delivery import DeliveryActivities
from activities.follow_through import FollowThroughActivities
from domain.delivery import Channel, NotificationRequest, SubjectKind
from domain.follow_through import Assignee, MessageRequest, Recipient, TaskKind, TaskRequest
from inbox.links import LinkAction, LinkSigner
from store.contact_preferences import ContactPreferenceStore
from store.notification_store import NotificationStore
from store.task_store import TaskStore
from tests.activities.test_follow_through import TEMPLATE_RECIPIENTS
from tests.channel_servers import smtp_server, smtp_settings

KEY = "opt-out-test-key"
CANDIDATE = "ada@example.com"
PROCESS = "post-interview-greenhouse-4410"
LINK = re.compile(r"(http://\S+/r/(\S+))")


def run(activity_fn, *args):
    return asyncio.to_thread(ActivityEnvironment().run, activity_fn, *args)


def candidate_message(key: str, template: str = "debrief_questions", process: str = PROCESS, application_id: str | None = "4410") -> MessageRequest:
    return MessageRequest(
        key=key,
        process_id=process,
        application_id=application_id,
        recipient=Recipient(role="candidate", id="cand-1", name="Ada Lovelace", email=CANDIDATE),
        template=template,
        context={"client": "Acme Capital", "recruiter": "Rita Recruiter", "round": "1", "occasion": "90 days on", "check_in": "k"},
    )


def email(key: str) -> NotificationRequest:
    return NotificationRequest(subject_kind=SubjectKind.MESSAGE, subject_key=key, channel=Channel.EMAIL)


def test_every_candidate_template_ends_with_the_opt_out_link(store: TaskStore) -> None:
    # Who each template speaks to (a test there keeps the list complete).
    candidate_templates = sorted(t for t, role in TEMPLATE_RECIPIENTS.items() if role == "candidate")
    assert {"debrief_questions", "keep_searching", "nurture_check_in", "referee_nudge", "closure_next_steps"} <= set(candidate_templates)
    signer = LinkSigner([KEY])
    with_links = FollowThroughActivities(store, links=signer)
    without = FollowThroughActivities(store)
    for template in candidate_templates:
        process = "relationship-greenhouse-cand-1" if template == "nurture_check_in" else PROCESS
        message = ActivityEnvironment().run(with_links.message_candidate, candidate_message(f"{template}/links", template, process))
        *_, (url, token) = LINK.findall(message.body)
        claims = signer.verify(token)
        assert (claims.action, claims.source, claims.candidate_id) == (LinkAction.OPT_OUT, "greenhouse", "cand-1"), template
        assert message.body.rstrip().endswith(url) and "stop contacting you" in message.body
        assert message.list_unsubscribe == url and message.candidate_source == "greenhouse"
        plain = ActivityEnvironment().run(without.message_candidate, candidate_message(f"{template}/plain", template, process))
        assert plain.body.rstrip().endswith("Reply to this email and say so, and we will stop contacting you."), template
        assert plain.list_unsubscribe is None


def test_the_check_in_carries_three_signed_answers(store: TaskStore) -> None:
    signer = LinkSigner([KEY])
    message = ActivityEnvironment().run(
        FollowThroughActivities(store, links=signer).message_candidate,
        candidate_message("relationship-greenhouse-cand-1/check-in", "nurture_check_in", "relationship-greenhouse-cand-1", None),
    )
    actions = [signer.verify(token).action for _, token in LINK.findall(message.body)]
    assert actions == [LinkAction.NURTURE_OPEN, LinkAction.NURTURE_NOT_NOW, LinkAction.NURTURE_STOP, LinkAction.OPT_OUT]
    assert "I'm open to opportunities" in message.body and "Not now" in message.body and "Stop contacting me" in message.body
    claims = signer.verify(LINK.findall(message.body)[0][1])
    assert (claims.process_id, claims.check_in_key) == ("relationship-greenhouse-cand-1", "k")


async def test_the_email_offers_one_click_unsubscribe(store: TaskStore) -> None:
    message = ActivityEnvironment().run(FollowThroughActivities(store, links=LinkSigner([KEY])).message_candidate, candidate_message(f"{PROCESS}/questions"))
    with smtp_server() as (sink, port):
        await run(DeliveryActivities(store, ChannelSettings(smtp=smtp_settings(port))).deliver_email, email(message.key))
    [received] = sink.to(CANDIDATE)
    assert received["List-Unsubscribe"] == f"<{message.list_unsubscribe}>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.list_unsubscribe in received.get_body(("plain",)).get_content()


@pytest.mark.parametrize("why", ["opted_out", "can_email_false"])
async def test_a_message_to_a_candidate_who_said_stop_is_suppressed_at_send_time(store: TaskStore, why: str) -> None:
    follow_through = FollowThroughActivities(store, links=LinkSigner([KEY]))
    queued = ActivityEnvironment().run(follow_through.message_candidate, candidate_message(f"{PROCESS}/questions"))
    # Meanwhile (quiet hours, a retry): the candidate opts out, or the ATS marks them can_email false.
    preferences = ContactPreferenceStore(store.engine)
    if why == "opted_out":
        preferences.opt_out("greenhouse", "cand-1", "link:x")
    else:
        preferences.record_ats_can_email("greenhouse", "cand-1", False, queued.created_at)
    with smtp_server() as (sink, port):
        delivery = DeliveryActivities(store, ChannelSettings(smtp=smtp_settings(port)))
        outcome = await run(delivery.deliver_email, email(queued.key))
        again = await run(delivery.deliver_email, email(queued.key))  # a retried activity: still nothing
    assert sink.received == []
    assert (outcome.status, outcome.sent_now, again.status) == ("suppressed", False, "suppressed")
    row = NotificationStore(store.engine).notification(outcome.key)
    assert row is not None and row.attempts == 0 and row.last_error and ("opted out" in row.last_error or "can_email" in row.last_error)
    assert store.message(queued.key).status == "suppressed"  # type: ignore[union-attr]
    # Messages to other people are not the candidate's choice.
    other = ActivityEnvironment().run(
        follow_through.remind_recruiter,
        MessageRequest(key=f"{PROCESS}/reminder", process_id=PROCESS, application_id="4410", recipient=Recipient(role="recruiter", id="cand-1", email="rita@agency.example"), template="recruiter_reminder"),
    )
    with smtp_server() as (sink, port):
        sent = await run(DeliveryActivities(store, ChannelSettings(smtp=smtp_settings(port))).deliver_email, email(other.key))
    assert sent.status == "sent" and len(sink.received) == 1


def test_no_contact_task_for_a_candidate_who_opted_out(store: TaskStore) -> None:
    follow_through = FollowThroughActivities(store, links=LinkSigner([KEY]))
    env = ActivityEnvironment()
    env.run(follow_through.message_candidate, candidate_message(f"{PROCESS}/debrief/1/questions"))  # the process knows its candidate
    ContactPreferenceStore(store.engine).opt_out("greenhouse", "cand-1", "link:y")

    def task(kind: TaskKind, purpose: str):
        request = TaskRequest(
            key=f"{PROCESS}/{purpose}", process_id=PROCESS, application_id="4410", kind=kind,
            assignee=Assignee(id="rec-1", name="Rita Recruiter", email="rita@agency.example"), due_at=datetime.now(UTC) + timedelta(days=1),
            context={"candidate": "Ada Lovelace", "reason": "client chose another candidate"},
        )  # fmt: skip
        return env.run(follow_through.create_recruiter_task, request)

    closure, meeting = task(TaskKind.CLOSURE_FEEDBACK, "close/feedback"), task(TaskKind.FACE_TO_FACE, "close/face-to-face")
    assert (closure.status, closure.outcome) == ("cancelled", "the candidate asked not to be contacted")
    assert meeting.status == "cancelled"
    # The application's own work is not contact for its own sake: it stays.
    assert task(TaskKind.SEND_FEEDBACK, "feedback/1").status == "open"
    # Another candidate's process: nothing known against them.
    other = "post-interview-greenhouse-5510"
    env.run(follow_through.message_candidate, candidate_message(f"{other}/debrief/1/questions", process=other, application_id="5510").model_copy(update={"recipient": Recipient(role="candidate", id="cand-2", email="bo@example.com")}))
    request = TaskRequest(key=f"{other}/close/feedback", process_id=other, application_id="5510", kind=TaskKind.CLOSURE_FEEDBACK, assignee=Assignee(id="rec-1"), due_at=datetime.now(UTC) + timedelta(days=1))
    assert env.run(follow_through.create_recruiter_task, request).status == "open"
