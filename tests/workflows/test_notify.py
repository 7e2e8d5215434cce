"""Delivery on real Temporal servers: the process queues a message or gives a task, its `Notify`
workflow waits out the recipient's quiet hours and delivers it by email (aiosmtpd), Slack and an
ATS note (a local HTTP server), once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import json
from pathlib import Path
from urllib.parse import unquote

import pytest
from icalendar import Calendar
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer

from codec.encryption import engine_data_converter
from activities.channel_settings import ChannelSettings
from activities.delivery import DeliveryStarter
from activities.follow_through import FollowThroughActivities
from domain.contract import notify_workflow_id
from domain.delivery import NotificationOutcome
from domain.follow_through import Assignee, TaskKind, TaskRequest
from process_client import deliver_event
from store.notification_store import NotificationStore
from tests.channel_servers import all_channels, http_receiver, smtp_server, smtp_settings
from tests.events import Application
from tests.harness import eventually, running_engine
from worker import workflow_runner
from workflows.delivery import Notify

CANDIDATE = "ada@example.com"
RECRUITER = "rita@agency.example"


def zone_where_it_is(hour: int, now: datetime) -> str:
    """A fixed-offset IANA zone in which it is `hour` o'clock now (Etc/GMT-10 is UTC+10)."""
    offset = (hour - now.astimezone(UTC).hour) % 24
    if offset > 12:
        offset -= 24
    return f"Etc/GMT{-offset:+d}"


def invite_uid(message) -> str | None:
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    if not parts:
        return None
    return str(Calendar.from_ical(parts[0].get_content()).walk("VEVENT")[0]["uid"])


async def test_a_message_queued_at_night_is_emailed_when_the_recipients_morning_comes(time_env, store_url, task_queue, activity_pool):
    app = Application()
    app.candidate["timezone"] = zone_where_it_is(2, await time_env.get_current_time())
    with smtp_server() as (sink, port):
        async with running_engine(time_env, store_url, task_queue, activity_pool, channels=ChannelSettings(smtp=smtp_settings(port))) as store:
            await deliver_event(time_env.client, app.interview(1), task_queue)
            # The recruiter's task is emailed at once (the office is not in quiet hours)...
            await eventually(lambda: sink.to(RECRUITER), what="the recruiter's task email")
            message = await eventually(lambda: store.message(f"{app.workflow_id}/debrief/1/questions"))
            morning = message.send_after.astimezone(ZoneInfo(app.candidate["timezone"]))
            assert (morning.hour, morning.minute) == (8, 0)
            # ...the candidate's questions wait for their morning.
            await time_env.sleep(message.send_after - await time_env.get_current_time() - timedelta(minutes=5))
            await asyncio.sleep(1)
            assert sink.to(CANDIDATE) == []
            await time_env.sleep(timedelta(minutes=10))
            [questions] = await eventually(lambda: sink.to(CANDIDATE), what="the candidate's email after quiet hours")
            assert questions["Subject"] == message.subject
            notifications = NotificationStore(store.engine)
            row = await eventually(lambda: (n := notifications.notification(f"message:{message.key}:email")) and n.status == "sent" and n)
            assert row.attempts == 1


async def test_the_whole_path_on_the_dev_server_delivers_each_channel_once(dev_env, store_url, task_queue, activity_pool):
    app = Application(application_id=str(uuid.uuid4().int % 10**9))
    app.candidate["timezone"] = zone_where_it_is(12, datetime.now(UTC))
    with smtp_server() as (sink, port):
        async with http_receiver() as (receiver, url):
            channels = all_channels(port, url, notes="greenhouse")
            async with running_engine(dev_env, store_url, task_queue, activity_pool, channels=channels) as store:
                await deliver_event(dev_env.client, app.interview(1), task_queue)
                task_key = f"{app.workflow_id}/debrief/1/book-call"
                message_key = f"{app.workflow_id}/debrief/1/questions"
                handle = dev_env.client.get_workflow_handle(notify_workflow_id("task", task_key), result_type=list[NotificationOutcome])
                outcomes = await eventually(handle.result, what="the task's delivery")
                assert sorted((o.channel, o.status) for o in outcomes) == [("ats_note", "sent"), ("email", "sent"), ("slack", "sent")]
                [to_recruiter] = sink.to(RECRUITER)
                [to_candidate] = await eventually(lambda: sink.to(CANDIDATE), what="the candidate's email")
                assert to_candidate["Subject"] == store.message(message_key).subject
                # One debrief call, offered to both in the same invite.
                assert invite_uid(to_candidate) is not None and invite_uid(to_candidate) == invite_uid(to_recruiter)
                [post] = receiver.slack
                assert "Book a debrief call with Ada Lovelace (round 1)" in post["text"]
                [note] = receiver.greenhouse_notes
                assert (note["candidate_id"], note["on_behalf_of"]) == ("5501", "rec-1")

                notifications = NotificationStore(store.engine)
                rows = await eventually(lambda: [n for n in notifications.notifications(subject_prefix=app.workflow_id) if n.status == "sent"] if len(notifications.notifications(subject_prefix=app.workflow_id, status="sent")) == 4 else None)
                assert {(r.subject_kind, r.channel, r.attempts) for r in rows} == {
                    ("task", "email", 1),
                    ("task", "slack", 1),
                    ("task", "ats_note", 1),
                    ("message", "email", 1),
                }

                async def deliveries_in_the_ui() -> set[str]:
                    query = f"WorkflowType = 'Notify' AND ApplicationId = '{app.application_id}'"
                    return {w.id async for w in dev_env.client.list_workflows(query)}

                expected = {notify_workflow_id("task", task_key), notify_workflow_id("message", message_key)}
                await eventually(lambda: _equal(deliveries_in_the_ui(), expected), what="the deliveries by ApplicationId")

                # The follow-through activity retried after it had started the delivery: no second one.
                starter = DeliveryStarter(dev_env.client, task_queue, channels, notifications, asyncio.get_running_loop())
                retried = FollowThroughActivities(store, deliveries=starter)
                task = store.task(task_key)
                request = TaskRequest(
                    key=task_key,
                    process_id=app.workflow_id,
                    application_id=app.application_id,
                    kind=TaskKind.BOOK_DEBRIEF,
                    assignee=Assignee(id="rec-1", email=RECRUITER),
                    due_at=task.due_at,
                    context=task.context or {},
                )
                await asyncio.to_thread(ActivityEnvironment().run, retried.create_recruiter_task, request)
                await asyncio.sleep(1)
                assert (len(sink.to(RECRUITER)), len(receiver.slack), len(receiver.greenhouse_notes)) == (1, 1, 1)


async def _equal(found, expected) -> bool:
    return await found == expected


# --- replay: deliveries waiting out quiet hours survive a deploy --------------------------------
# Recorded by `python -m tests.histories.record_notify` (a task on three channels, a message after
# quiet hours, a delivery refused by Slack).

HISTORIES = sorted((Path(__file__).parent.parent / "histories" / "notify").glob("*/*.json"))


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(unquote(path.stem), json.loads(path.read_text()))


def test_there_are_recorded_deliveries_to_replay():
    assert len(HISTORIES) >= 3


@pytest.mark.parametrize("path", HISTORIES, ids=[unquote(p.stem)[-60:] for p in HISTORIES])
async def test_recorded_delivery_replays_on_current_code(path: Path):
    replayer = Replayer(workflows=[Notify], data_converter=engine_data_converter, workflow_runner=workflow_runner())
    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


@workflow.defn(name="Notify", sandboxed=False)
class NotifyWithoutQuietHours(Notify):
    @workflow.run
    async def run(self, request):  # type: ignore[override]
        return await asyncio.gather(*(self._send(request, channel) for channel in request.channels))


async def test_an_unguarded_change_to_the_delivery_is_caught():
    [quiet] = [p for p in HISTORIES if "questions" in p.name][:1]
    result = await Replayer(workflows=[NotifyWithoutQuietHours], data_converter=engine_data_converter).replay_workflow(
        _history(quiet), raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
