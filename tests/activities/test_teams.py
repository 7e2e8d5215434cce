"""Microsoft Teams as a delivery channel, against a stand-in of Teams' Workflows webhooks on
loopback (real HTTP) and a real store (SQLite and PostgreSQL): a card per task or message, to the
recruiter's own channel, else their team's, else the agency's; posted once however often the
activity runs; throttling and outages retried (Retry-After honoured), a deleted webhook refused
for good; names shown as text, never as Markdown or mentions."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import teams
from activities.channel_settings import ChannelSettings, ChannelSettingsError, TeamsWebhooks
from activities.delivery import DeliveryActivities
from activities.follow_through import FollowThroughActivities
from activities.sending import retry_after
from domain.delivery import Channel, NotificationRequest, SubjectKind
from domain.follow_through import Assignee, MessageRequest, Recipient, TaskKind, TaskRequest
from service.settings import Settings
from store.notification_store import NotificationStore
from store.task_store import TaskStore
from tests.teams_webhook import connector_url, teams_webhooks, webhook_url

PROCESS = "post-interview-greenhouse-4410"


def run(activity_fn, *args):
    """A synchronous activity, as the worker runs it: in a thread, beside the server's event loop."""
    return asyncio.to_thread(ActivityEnvironment().run, activity_fn, *args)


def give_task(store: TaskStore, assignee: Assignee, candidate: str = "Ada Lovelace", recruiter: str = "Rita Recruiter") -> str:
    task = ActivityEnvironment().run(
        FollowThroughActivities(store).create_recruiter_task,
        TaskRequest(
            key=f"{PROCESS}/debrief/1/book-call",
            process_id=PROCESS,
            application_id="4410",
            kind=TaskKind.BOOK_DEBRIEF,
            assignee=assignee,
            due_at=datetime(2026, 12, 4, 15, 30, tzinfo=UTC),
            context={"candidate": candidate, "client": "Acme Capital", "recruiter": recruiter, "round": "1"},
        ),
    )
    return task.key


def task_request(key: str) -> NotificationRequest:
    return NotificationRequest(subject_kind=SubjectKind.TASK, subject_key=key, channel=Channel.TEAMS)


def texts(card: dict) -> list[str]:
    """Every text Teams renders from the card: TextBlocks, and the FactSet's titles and values."""
    found = []
    for element in card["body"]:
        if element["type"] == "TextBlock":
            found.append(element["text"])
        elif element["type"] == "FactSet":
            found += [part for fact in element["facts"] for part in (fact["title"], fact["value"])]
    return found


def channels_for(base: str, **routes: str) -> ChannelSettings:
    """Teams webhooks by channel name: `default`, a person's id, or `team_LEAD` for a lead's team."""
    people = {who: webhook_url(base, name) for who, name in routes.items() if who not in ("default",) and not who.startswith("team_")}
    team = {who.removeprefix("team_"): webhook_url(base, name) for who, name in routes.items() if who.startswith("team_")}
    default = webhook_url(base, routes["default"]) if "default" in routes else None
    return ChannelSettings(teams=TeamsWebhooks(default=default, people=people, teams=team), timeout=5.0)


async def test_a_task_is_posted_once_as_a_card_in_the_recruiters_own_channel(store):
    task_key = give_task(store, Assignee(id="92120", name="Rita Recruiter", email="rita@agency.example", lead_id="lead-7"))
    async with teams_webhooks() as (channels, base):
        delivery = DeliveryActivities(store, channels_for(base, default="agency", **{"92120": "rita", "team_lead-7": "risk-team"}))
        first = await run(delivery.post_to_teams, task_request(task_key))
        # Temporal runs the activity again (a lost answer, a worker restart after it finished).
        again = await run(delivery.post_to_teams, task_request(task_key))
    assert (first.sent_now, again.sent_now, first.status) == (True, False, "sent")
    assert set(channels.cards) == {"rita"} and channels.posts == 1
    [card] = channels.cards["rita"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    heading, title, facts, *instructions = card["body"]
    assert heading == {"type": "TextBlock", "text": "New task for Rita Recruiter", "wrap": True, "weight": "Bolder", "size": "Medium"}
    assert title["text"] == "Book a debrief call with Ada Lovelace \\(round 1\\)"
    assert {f["title"]: f["value"] for f in facts["facts"]} == {"Due": "Fri 04 Dec 2026 15:30 UTC", "Candidate": "Ada Lovelace", "Client": "Acme Capital"}
    task = store.task(task_key)
    assert instructions and all(block["type"] == "TextBlock" and block["wrap"] for block in instructions)
    # The instructions line by line, shown as written (escaping undone, as Teams renders it).
    shown = [re.sub(r"\\(.)", r"\1", block["text"]) for block in instructions]
    assert shown == [line for line in task.instructions.splitlines() if line.strip()]
    row = NotificationStore(store.engine).notification(first.key)
    assert (row.status, row.attempts, row.provider_ref) == ("sent", 1, "0858400001")


async def test_a_recruiter_without_a_channel_gets_their_teams_else_the_agencys(store):
    """Per team: a lead's team is named by the lead's id, known from the tasks the process gave."""
    async with teams_webhooks() as (channels, base):
        settings = channels_for(base, default="agency", **{"team_lead-7": "risk-team"})
        task_key = give_task(store, Assignee(id="92121", name="Sam Recruiter", email="sam@agency.example", lead_id="lead-7"), recruiter="Sam Recruiter")
        await run(DeliveryActivities(store, settings).post_to_teams, task_request(task_key))
        # The lead's own tasks (an escalation) go to their team's channel too; a reminder to the
        # recruiter is a message, and goes there as well.
        escalation = ActivityEnvironment().run(
            FollowThroughActivities(store).create_recruiter_task,
            TaskRequest(
                key=f"{PROCESS}/debrief/1/escalation",
                process_id=PROCESS,
                application_id="4410",
                kind=TaskKind.ESCALATION,
                assignee=Assignee(id="lead-7", name="Leo Lead", email="leo@agency.example"),
                due_at=datetime(2026, 12, 5, 9, 0, tzinfo=UTC),
                context={"candidate": "Ada Lovelace", "client": "Acme Capital", "recruiter": "Leo Lead", "round": "1"},
            ),
        )
        await run(DeliveryActivities(store, settings).post_to_teams, task_request(escalation.key))
        reminder = ActivityEnvironment().run(
            FollowThroughActivities(store).remind_recruiter,
            MessageRequest(
                key=f"{PROCESS}/debrief/1/reminder",
                process_id=PROCESS,
                application_id="4410",
                recipient=Recipient(role="recruiter", id="92121", name="Sam Recruiter", email="sam@agency.example"),
                template="recruiter_reminder",
                context={"recruiter": "Sam Recruiter", "what": "book a debrief call with Ada Lovelace", "due_at": "today 15:00"},
            ),
        )
        message = NotificationRequest(subject_kind=SubjectKind.MESSAGE, subject_key=reminder.key, channel=Channel.TEAMS)
        await run(DeliveryActivities(store, settings).post_to_teams, message)
    assert [len(channels.cards.get(c, [])) for c in ("risk-team", "agency")] == [3, 0]
    [task_card, escalation_card, reminder_card] = channels.cards["risk-team"]
    assert task_card["body"][0]["text"] == "New task for Sam Recruiter"
    assert escalation_card["body"][0]["text"] == "New task for Leo Lead"
    assert re.sub(r"\\(.)", r"\1", reminder_card["body"][0]["text"]) == reminder.subject
    webhooks = settings.teams
    notifications = NotificationStore(store.engine)
    assert notifications.team_lead("92121") == "lead-7" and notifications.team_lead("lead-7") == "lead-7"
    # Somebody in no configured team, or not known yet: the agency's channel.
    assert webhooks.url_for("92199", notifications.team_lead("92199")) == webhook_url(base, "agency")


async def test_throttling_and_an_outage_are_retried_and_the_card_is_posted_once(store):
    task_key = give_task(store, Assignee(id="92120", name="Rita Recruiter", email="rita@agency.example"))
    async with teams_webhooks() as (channels, base):
        delivery = DeliveryActivities(store, channels_for(base, default="agency"))
        channels.fail("agency", 429, "7")
        channels.fail("agency", 503, None)
        with pytest.raises(ApplicationError) as throttled:
            await run(delivery.post_to_teams, task_request(task_key))
        with pytest.raises(ApplicationError) as down:
            await run(delivery.post_to_teams, task_request(task_key))
        sent = await run(delivery.post_to_teams, task_request(task_key))
        again = await run(delivery.post_to_teams, task_request(task_key))
    # Temporal retries both, the throttled one after the Retry-After Teams asked for.
    assert (throttled.value.type, throttled.value.non_retryable, throttled.value.next_retry_delay) == ("DeliveryFailed", False, timedelta(seconds=7))
    assert "429" in str(throttled.value)
    assert (down.value.type, down.value.non_retryable, down.value.next_retry_delay) == ("DeliveryFailed", False, None)
    assert (sent.sent_now, again.sent_now) == (True, False)
    assert len(channels.cards["agency"]) == 1 and channels.posts == 3
    row = NotificationStore(store.engine).notification(sent.key)
    assert (row.status, row.attempts) == ("sent", 3)


async def test_a_deleted_webhook_is_refused_for_good_without_leaking_its_url(store):
    task_key = give_task(store, Assignee(id="92120", name="Rita Recruiter", email="rita@agency.example"))
    async with teams_webhooks() as (channels, base):
        channels.deleted.add("agency")
        delivery = DeliveryActivities(store, channels_for(base, default="agency"))
        with capture_logs() as logs, pytest.raises(ApplicationError) as refused:
            await run(delivery.post_to_teams, task_request(task_key))
    assert (refused.value.type, refused.value.non_retryable) == ("DeliveryRefused", True)
    assert refused.value.message == f"teams delivery of task {task_key} failed: Teams webhook refused the request: 404 ({teams.GONE})"
    row = NotificationStore(store.engine).notification(task_request(task_key).key)
    assert row.status == "failed" and "404" in row.last_error
    # The URL is the webhook's credential, the names are the candidate's: in no log line, no error.
    for text in (str(refused.value), row.last_error, json.dumps(logs, default=str)):
        assert "sig=" not in text and "127.0.0.1" not in text and "Ada" not in text and "Rita" not in text


async def test_a_card_the_webhook_refuses_is_not_retried(store):
    task_key = give_task(store, Assignee(id="92120", name="Rita Recruiter", email="rita@agency.example"))
    async with teams_webhooks() as (channels, base):
        channels.fail("agency", 400)
        with pytest.raises(ApplicationError) as refused:
            await run(DeliveryActivities(store, channels_for(base, default="agency")).post_to_teams, task_request(task_key))
    assert (refused.value.type, refused.value.non_retryable) == ("DeliveryRefused", True)
    assert refused.value.message.endswith("Teams webhook refused the request: 400")


async def test_a_connectors_incoming_webhook_takes_the_same_card_and_its_200_failures_are_retried(store):
    """A connector's incoming webhook still running: posted once; a failure it answers with 200 and
    a sentence (throttled) is not taken for a post, and is retried."""
    task_key = give_task(store, Assignee(id="92120", name="Rita Recruiter", email="rita@agency.example"))
    async with teams_webhooks() as (channels, base):
        channels.fail("old", 429)
        settings = ChannelSettings(teams=TeamsWebhooks(default=connector_url(base, "old")), timeout=5.0)
        with pytest.raises(ApplicationError) as throttled:
            await run(DeliveryActivities(store, settings).post_to_teams, task_request(task_key))
        sent = await run(DeliveryActivities(store, settings).post_to_teams, task_request(task_key))
        again = await run(DeliveryActivities(store, settings).post_to_teams, task_request(task_key))
    assert (throttled.value.type, throttled.value.non_retryable) == ("DeliveryFailed", False)
    assert "delivery failure (429)" in throttled.value.message
    assert (sent.sent_now, sent.status, sent.provider_ref, again.sent_now) == (True, "sent", None, False)
    assert len(channels.cards["old"]) == 1 and channels.posts == 2


def test_retry_after_in_seconds_or_as_a_date_and_never_beyond_an_hour():
    assert retry_after("30") == timedelta(seconds=30)
    in_two_minutes = (datetime.now(UTC) + timedelta(minutes=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert timedelta(seconds=100) < retry_after(in_two_minutes) <= timedelta(minutes=2)
    assert retry_after("86400") == timedelta(hours=1)
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == timedelta(0)  # already past: at once
    assert retry_after(None) is None and retry_after("soon") is None


async def test_no_webhook_for_the_recipient_is_a_clear_refusal(store):
    task_key = give_task(store, Assignee(id="92120", name="Rita Recruiter", email="rita@agency.example"))
    settings = ChannelSettings(teams=TeamsWebhooks(people={"someone-else": "https://example.invalid/x"}))
    with pytest.raises(ApplicationError) as refused:
        await run(DeliveryActivities(store, settings).post_to_teams, task_request(task_key))
    assert (refused.value.type, refused.value.non_retryable) == ("ChannelNotConfigured", True)
    assert "TEAMS_WEBHOOK_URL" in str(refused.value)


HOSTILE = "**Boss** <at>Everyone</at> [click](https://evil.example) _x_ {{DATE(2017-02-14T06:00:00Z, SHORT)}} `c` # h"


async def test_names_are_text_in_the_card_never_markdown_or_mentions(store):
    """A name is whatever an ATS sent: it must not format the card, link elsewhere, call a card
    function or mention anybody; a line break in it must not start a list."""
    task_key = give_task(store, Assignee(id="92120", name=HOSTILE, email="rita@agency.example"), candidate=HOSTILE + "\n- item\n1. one", recruiter=HOSTILE)
    async with teams_webhooks() as (channels, base):
        await run(DeliveryActivities(store, channels_for(base, default="agency")).post_to_teams, task_request(task_key))
    [card] = channels.cards["agency"]
    assert "msteams" in card and "entities" not in card["msteams"]  # no mention is ever declared
    for text in texts(card):
        # Every character Markdown could read is escaped (preceded by an odd run of backslashes).
        for match in re.finditer(r"[*_\[\]()<>{}`#~|!]", text):
            backslashes = len(text[: match.start()]) - len(text[: match.start()].rstrip("\\"))
            assert backslashes % 2 == 1, f"{text!r} leaves {match.group()!r} at {match.start()} as markup"
        for line in text.split("\n"):
            assert not re.match(r"\s*([-+]\s|\d+[.)]\s)", line), f"{text!r} starts a list"
    heading = card["body"][0]["text"]
    assert re.sub(r"\\(.)", r"\1", heading) == f"New task for {HOSTILE}"
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    # A name's line breaks are spaces (it stays one line) and it reads as written.
    assert re.sub(r"\\(.)", r"\1", facts["Candidate"]) == f"{HOSTILE} - item 1. one"


def test_escaping_leaves_plain_text_alone():
    assert teams.escape("Anne-Marie O'Brien, 3.5 years at Acme & Co") == "Anne-Marie O'Brien, 3.5 years at Acme & Co"
    assert teams.escape("- a\n 2) b\n+ c") == "\\- a\n 2\\) b\n\\+ c"
    assert teams.escape("back\\slash") == "back\\\\slash"


def test_settings_name_the_agency_channel_and_channels_per_recruiter_or_team():
    settings = Settings.from_env(
        {
            "TEAMS_WEBHOOK_URL": "https://prod-01.westeurope.logic.azure.com:443/workflows/a/triggers/manual/paths/invoke?api-version=2016-06-01&sig=A",
            "TEAMS_WEBHOOK_URLS": "92120=https://x.environment.api.powerplatform.com/b?sig=B,\n team:lead-7=https://agency.webhook.office.com/webhookb2/c",
        }
    ).channels()
    assert settings.describe() == ["teams"]
    assert settings.teams.people == {"92120": "https://x.environment.api.powerplatform.com/b?sig=B"}
    assert settings.teams.teams == {"lead-7": "https://agency.webhook.office.com/webhookb2/c"}
    assert settings.teams.url_for("92120", "lead-7").endswith("sig=B")
    assert settings.teams.url_for("92121", "lead-7").endswith("webhookb2/c")
    assert settings.teams.url_for("92122", None).endswith("sig=A")
    assert Settings.from_env({}).channels().teams is None


@pytest.mark.parametrize(
    "environ,named",
    [
        ({"TEAMS_WEBHOOK_URL": "prod-01.logic.azure.com/workflows/a"}, "TEAMS_WEBHOOK_URL must be an http(s) URL"),
        ({"TEAMS_WEBHOOK_URLS": "92120 https://x/y?sig=SECRET"}, "TEAMS_WEBHOOK_URLS entry 1"),
        ({"TEAMS_WEBHOOK_URLS": "team:=https://x/y?sig=SECRET"}, "TEAMS_WEBHOOK_URLS entry 1"),
        ({"TEAMS_WEBHOOK_URLS": "a=https://x/1 a=https://x/2"}, "names 'a' twice"),
    ],
)
def test_a_bad_teams_setting_stops_the_worker_naming_it_not_its_url(environ, named):
    with pytest.raises(ChannelSettingsError) as refused:
        Settings.from_env(environ).channels()
    assert named in str(refused.value) and "SECRET" not in str(refused.value)
