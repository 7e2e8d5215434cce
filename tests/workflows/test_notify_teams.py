"""Microsoft Teams in the `Notify` workflow on the dev server: the process gives a task, its
delivery posts the card to the recruiter's Teams channel (a stand-in of Teams' Workflows webhooks
on loopback) once, beside the email, after Teams throttled it (429 with Retry-After) and was down
(503); a webhook that was deleted (404) ends the delivery, failed with the reason, without holding
up the email or the process."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import WorkflowFailureError

from activities.channel_settings import ChannelSettings, TeamsWebhooks
from domain.contract import notify_workflow_id
from domain.delivery import NotificationOutcome
from process_client import deliver_event
from store.notification_store import NotificationStore
from tests.channel_servers import smtp_server, smtp_settings
from tests.events import Application
from tests.harness import eventually, running_engine
from tests.teams_webhook import teams_webhooks, webhook_url

RECRUITER = "rita@agency.example"


async def test_the_task_reaches_the_recruiters_teams_channel_once_after_throttling_and_an_outage(dev_env, store_url, task_queue, activity_pool):
    app = Application(application_id=str(uuid.uuid4().int % 10**9))
    with smtp_server() as (sink, port):
        async with teams_webhooks() as (channels, base):
            # Teams throttles the first post and is down for the second; both say when to come back.
            channels.fail("rita", 429, "1")
            channels.fail("rita", 503, "1")
            settings = ChannelSettings(smtp=smtp_settings(port), teams=TeamsWebhooks(people={"rec-1": webhook_url(base, "rita")}), timeout=5.0)
            async with running_engine(dev_env, store_url, task_queue, activity_pool, channels=settings) as store:
                await deliver_event(dev_env.client, app.interview(1), task_queue)
                task_key = f"{app.workflow_id}/debrief/1/book-call"
                handle = dev_env.client.get_workflow_handle(notify_workflow_id("task", task_key), result_type=list[NotificationOutcome])
                outcomes = await eventually(handle.result, timeout=60, what="the task's delivery")
                assert sorted((o.channel, o.status) for o in outcomes) == [("email", "sent"), ("teams", "sent")]
                [card] = channels.cards["rita"]
                assert card["body"][0]["text"] == "New task for Rita Recruiter"
                assert card["body"][1]["text"] == "Book a debrief call with Ada Lovelace \\(round 1\\)"
                assert channels.posts == 3 and len(sink.to(RECRUITER)) == 1
                row = NotificationStore(store.engine).notification(f"task:{task_key}:teams")
                assert (row.status, row.attempts) == ("sent", 3)
                # The Notify run retried the activity, after at least the second Retry-After.
                history = await handle.fetch_history()
                [scheduled] = [e for e in history.events if e.HasField("activity_task_scheduled_event_attributes") and e.activity_task_scheduled_event_attributes.activity_type.name == "post_to_teams"]
                [started] = [e for e in history.events if e.HasField("activity_task_started_event_attributes") and e.activity_task_started_event_attributes.scheduled_event_id == scheduled.event_id]
                assert started.activity_task_started_event_attributes.attempt == 3


async def test_a_deleted_teams_webhook_ends_the_delivery_with_the_reason_and_holds_nothing_up(dev_env, store_url, task_queue, activity_pool):
    app = Application(application_id=str(uuid.uuid4().int % 10**9))
    with smtp_server() as (sink, port):
        async with teams_webhooks() as (channels, base):
            channels.deleted.add("agency")
            settings = ChannelSettings(smtp=smtp_settings(port), teams=TeamsWebhooks(default=webhook_url(base, "agency")), timeout=5.0)
            async with running_engine(dev_env, store_url, task_queue, activity_pool, channels=settings) as store:
                await deliver_event(dev_env.client, app.interview(1), task_queue)
                task_key = f"{app.workflow_id}/debrief/1/book-call"
                handle = dev_env.client.get_workflow_handle(notify_workflow_id("task", task_key))
                await eventually(handle.describe, what="the task's delivery to start")
                with pytest.raises(WorkflowFailureError) as failed:
                    await handle.result()
                reason = str(failed.value.cause)
                assert "not delivered by teams: " in reason and "refused the request: 404" in reason and "TEAMS_WEBHOOK_URL" in reason
                # Tried once: no retry cures a deleted webhook. The email went out all the same.
                assert channels.posts == 1 and channels.cards == {}
                assert len(sink.to(RECRUITER)) == 1
                notifications = NotificationStore(store.engine)
                assert notifications.notification(f"task:{task_key}:teams").status == "failed"
                assert notifications.notification(f"task:{task_key}:email").status == "sent"
                # The process goes on: it waits for the debrief, its task open in the inbox.
                assert store.task(task_key).status == "open"


async def test_a_teams_channel_per_team_and_none_for_a_recruiter_outside_it(dev_env, store_url, task_queue, activity_pool):
    """The delivery asks for Teams only when the recipient has a channel: their team's here (the
    lead the ATS named), none for a recruiter in no configured team (no agency-wide channel)."""
    in_team = Application(application_id=str(uuid.uuid4().int % 10**9))
    outside = Application(application_id=str(uuid.uuid4().int % 10**9), lead=False)
    outside.recruiter = {"id": "rec-2", "name": "Oscar Outside", "email": "oscar@agency.example"}
    with smtp_server() as (sink, port):
        async with teams_webhooks() as (channels, base):
            settings = ChannelSettings(smtp=smtp_settings(port), teams=TeamsWebhooks(teams={"lead-1": webhook_url(base, "leos-team")}), timeout=5.0)
            async with running_engine(dev_env, store_url, task_queue, activity_pool, channels=settings):
                for app in (in_team, outside):
                    await deliver_event(dev_env.client, app.interview(1), task_queue)
                results = {}
                for app in (in_team, outside):
                    handle = dev_env.client.get_workflow_handle(
                        notify_workflow_id("task", f"{app.workflow_id}/debrief/1/book-call"), result_type=list[NotificationOutcome]
                    )
                    outcomes = await eventually(handle.result, what="the task's delivery")
                    results[app.recruiter["id"]] = sorted(o.channel.value for o in outcomes)
    assert results == {"rec-1": ["email", "teams"], "rec-2": ["email"]}
    [card] = channels.cards["leos-team"]
    assert card["body"][0]["text"] == "New task for Rita Recruiter"
