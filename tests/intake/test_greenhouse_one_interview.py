"""One Greenhouse interview is one interview in the process, whichever path reports it first
(issue: an interview both a webhook and the Harvest poll reported became two debrief rounds).

End to end on the dev server: Greenhouse's signed `application_updated` webhook (its documented
example, the stage's interview now complete) over real HTTP into the intake; the interview
poller reading the Harvest stand-in over loopback (the same interview `awaiting_feedback`, as
Harvest lists it: its own scheduled-interview id, its step in `interview.id`); the forwarder
delivering both from the intake table; the real worker with its store. In either order, and with
the stage's round mapped (`[greenhouse.stage_rounds]`: the webhook says round 2, the poll no
round) or not: one debrief round, one book-a-call task. And an interview only the poll reports,
after one a webhook reported, is the next round (the poll leaves rounds to the process).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from activities.channel_settings import ChannelSettings
from activities.greenhouse_harvest_poll import GreenhouseHarvestPoll
from cli.harvest_stand_in import HarvestStandIn, StandInServer
from domain.contract import post_interview_workflow_id
from domain.events import Client as HiringClient
from domain.events import Recruiter
from domain.greenhouse_interviews import PollerConfig, poller_workflow_id
from domain.policy import PolicyBook
from intake.signing import greenhouse_headers
from process_client import process_status
from process_client.greenhouse_interviews import ensure_poller
from store.task_store import TaskStore
from tests.harness import CONTINUOUS, eventually
from tests.intake.test_service import GREENHOUSE_SECRET, forwarder_for, intake_service
from worker import build_worker

DOCUMENTED_UPDATE = Path(__file__).parent / "vendor_examples" / "greenhouse" / "application_updated.json"
KEY = "harvest-test-key"
# The interview step: the id the webhook's stage interview carries and Harvest's `interview.id`.
STEP = 1063686
SCHEDULED_INTERVIEW = 9128481


def harvest_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def the_interview_complete(application_id: int, stage: str, start: datetime, end: datetime) -> tuple[bytes, dict[str, str]]:
    """Greenhouse's documented application_updated, the application moved on to a stage whose
    interview took place (`complete`, with its time, as the scheduled interview's)."""
    payload = json.loads(DOCUMENTED_UPDATE.read_text())
    application = payload["payload"]["application"]
    application["id"] = application_id
    application["current_stage"] = {
        "id": 711021,
        "name": stage,
        "interviews": [
            {
                "id": STEP,
                "name": "Culture Fit",
                "status": "complete",
                "start": {"date_time": harvest_time(start)},
                "end": {"date_time": harvest_time(end)},
                "interview_kit": {"url": "http://app.greenhouse.io/guides/1063860/people/13857579", "content": "", "questions": []},
                "interviewers": [{"id": 4080, "display_name": "Kate Austen", "email": "kate.austen@example.com"}],
            }
        ],
    }
    body = json.dumps(payload).encode()
    return body, {"content-type": "application/json", **greenhouse_headers(body, GREENHOUSE_SECRET)}


def awaiting_feedback(application_id: int, start: datetime, end: datetime) -> dict[str, Any]:
    """The same interview as Harvest lists it (the documented scheduled interview's shape)."""
    return {
        "id": SCHEDULED_INTERVIEW,
        "application_id": application_id,
        "external_event_id": "event123",
        "start": {"date_time": harvest_time(start)},
        "end": {"date_time": harvest_time(end)},
        "location": "Big Conference Room",
        "status": "awaiting_feedback",
        "interview": {"id": STEP, "name": "Culture Fit"},
        "organizer": {"id": 2000, "first_name": "Jack", "last_name": "Shepard", "name": "Jack Shepard", "employee_id": "12345"},
        "interviewers": [{"id": 4080, "employee_id": "employee123", "name": "Kate Austen", "email": "kate.austen@example.com", "response_status": "accepted"}],
    }


@asynccontextmanager
async def engine_with_poller(dev_env, store_url: str, task_queue: str, pool, harvest_url: str) -> AsyncIterator[TaskStore]:
    """The worker as `postinterview worker` runs it with a Greenhouse key: the process, the
    enrichment and the interview poller's activities, all against the stand-in."""
    settings = {"GREENHOUSE_HARVEST_API_KEY": KEY, "GREENHOUSE_HARVEST_URL": harvest_url}
    poll = GreenhouseHarvestPoll(settings, store_url, HiringClient(id="acme-capital", name="Acme Capital"), Recruiter(id="recruiting-desk"))
    store = TaskStore(store_url)
    try:
        async with build_worker(
            dev_env.client,
            store,
            PolicyBook(default=CONTINUOUS),
            task_queue,
            activity_executor=pool,
            channels=ChannelSettings(),
            vendor_settings=settings,
            greenhouse_poll=poll,
        ):
            yield store
    finally:
        poll.close()
        store.close()


@pytest.mark.parametrize("stage", ["Face to Face", "Onsite"], ids=["stage-round-mapped", "stage-unmapped"])
@pytest.mark.parametrize("first", ["webhook", "harvest"])
async def test_an_interview_from_the_webhook_and_from_harvest_is_one_debrief(dev_env, store_url, task_queue, activity_pool, first, stage):
    application_id = 22202940 + (1 if first == "harvest" else 0) + (10 if stage == "Onsite" else 0)
    process_id = post_interview_workflow_id("greenhouse", str(application_id))
    account = f"one-interview-{application_id}"
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    start = end - timedelta(hours=1)
    server = StandInServer(HarvestStandIn(api_key=KEY))
    try:
        stand_in = server.stand_in
        stand_in.add_application({"id": application_id, "candidate_id": 13857579, "prospect": False, "status": "active", "jobs": [{"id": 87752, "name": "Compliance Analyst"}]})
        stand_in.add_candidate(
            {"id": 13857579, "first_name": "Hank", "last_name": "Von Diablo", "email_addresses": [{"value": "hank@example.com", "type": "personal"}], "recruiter": None}
        )
        async with engine_with_poller(dev_env, store_url, task_queue, activity_pool, server.url) as tasks:
            async with intake_service(store_url, forwarder_for(dev_env, store_url, task_queue)) as (http, intake):

                async def webhook() -> None:
                    body, headers = the_interview_complete(application_id, stage, start, end)
                    answer = await http.post("/webhooks/greenhouse", content=body, headers=headers)
                    assert answer.status_code == 200 and answer.json()["status"] == "accepted", answer.text
                    events = intake.delivery_by_id(answer.json()["delivery_id"])["events"]
                    assert [(e["type"], e["data"]["interview_id"]) for e in events] == [("interview.completed", str(STEP))]

                async def harvest() -> None:
                    stand_in.schedule(awaiting_feedback(application_id, start, end))
                    await ensure_poller(dev_env.client, PollerConfig(account=account, interval_seconds=1), task_queue)
                    stored = await eventually(lambda: intake.delivery("greenhouse", f"greenhouse-harvest:{SCHEDULED_INTERVIEW}:completed"), what="the poll")
                    assert [(e["type"], e["data"]["interview_id"], e["data"]["round"]) for e in stored["events"]] == [("interview.completed", str(STEP), None)]

                async def handled(events: int) -> None:
                    await eventually(lambda: intake.counts().get("delivered") == events, what=f"{events} deliveries delivered")
                    await eventually(lambda: _events_seen(dev_env.client, application_id, events), what=f"the process to take {events} events")

                for n, report in enumerate([webhook, harvest] if first == "webhook" else [harvest, webhook], 1):
                    await report()
                    await handled(n)
                    # The first report starts the debrief at once; the second changes nothing.
                    await eventually(lambda: [t.kind for t in tasks.tasks(process_id=process_id)] == ["book_debrief"], what="the debrief task")

                status = await process_status(dev_env.client, "greenhouse", str(application_id))
                assert len(status.debriefs) == 1, status.debriefs
                # The webhook's mapped round when it came first; else the process's numbering.
                expected = 2 if (first, stage) == ("webhook", "Face to Face") else 1
                assert status.debriefs[0].round == expected and status.stage == "debrief"
                book = [t for t in tasks.tasks(process_id=process_id) if t.kind == "book_debrief"]
                assert len(book) == 1 and f"(round {expected})" in book[0].title
                assert status.rejected_events == [] and status.failed_steps == []
        await dev_env.client.get_workflow_handle(poller_workflow_id(account)).terminate("test over")
    finally:
        server.stop()


async def _events_seen(client, application_id: int, events: int) -> bool:
    return (await process_status(client, "greenhouse", str(application_id))).events_seen >= events


async def test_a_later_interview_only_harvest_reports_is_the_next_round(dev_env, store_url, task_queue, activity_pool):
    """The poller sees only what changed since its look-back: it does not know the phone screen a
    webhook reported last week. Its own numbering made the onsite round 1 again, a round already
    taken, and the onsite had no debrief; it leaves the round to the process now, which knows both."""
    application_id = 22202990
    process_id = post_interview_workflow_id("greenhouse", str(application_id))
    account = f"next-round-{application_id}"
    now = datetime.now(UTC).replace(microsecond=0)
    server = StandInServer(HarvestStandIn(api_key=KEY))
    try:
        stand_in = server.stand_in
        stand_in.add_application({"id": application_id, "candidate_id": 13857579, "prospect": False, "status": "active", "jobs": [{"id": 87752, "name": "Compliance Analyst"}]})
        stand_in.add_candidate({"id": 13857579, "first_name": "Hank", "last_name": "Von Diablo", "recruiter": None})
        async with engine_with_poller(dev_env, store_url, task_queue, activity_pool, server.url) as tasks:
            async with intake_service(store_url, forwarder_for(dev_env, store_url, task_queue)) as (http, intake):
                # The phone screen, three days ago, in a stage with no round configured.
                body, headers = the_interview_complete(application_id, "Phone Screen", now - timedelta(days=3, hours=1), now - timedelta(days=3))
                answer = await http.post("/webhooks/greenhouse", content=body, headers=headers)
                assert answer.status_code == 200 and answer.json()["status"] == "accepted", answer.text
                await eventually(lambda: _events_seen(dev_env.client, application_id, 1), what="the phone screen taken")

                # The onsite (another step) only Harvest lists: it ended an hour ago.
                onsite = {**awaiting_feedback(application_id, now - timedelta(hours=2), now - timedelta(hours=1)), "id": 9128499}
                stand_in.schedule({**onsite, "interview": {"id": STEP + 1, "name": "Executive Interview"}})
                await ensure_poller(dev_env.client, PollerConfig(account=account, interval_seconds=1), task_queue)
                await eventually(lambda: intake.counts().get("delivered") == 2, what="both delivered")
                await eventually(lambda: _events_seen(dev_env.client, application_id, 2), what="the onsite taken")

                status = await eventually(lambda: _with_rounds(dev_env.client, application_id, 2), what="two debrief rounds")
                assert [d.round for d in status.debriefs] == [1, 2]
                book = sorted(t.title for t in tasks.tasks(process_id=process_id) if t.kind == "book_debrief")
                assert len(book) == 2 and "(round 2)" in book[1]
        await dev_env.client.get_workflow_handle(poller_workflow_id(account)).terminate("test over")
    finally:
        server.stop()


async def _with_rounds(client, application_id: int, rounds: int):
    status = await process_status(client, "greenhouse", str(application_id))
    return status if len(status.debriefs) >= rounds else None
