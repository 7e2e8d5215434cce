"""The Greenhouse interview poller on the dev server, against the Harvest stand-in over real HTTP
on loopback (cli/harvest_stand_in.py: the documented shapes, pagination by the Link header, 429
with Retry-After): what it stores in the intake table, once each, whatever is retried or re-read.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from activities.greenhouse_harvest_poll import GreenhouseHarvestPoll
from cli.harvest_stand_in import HarvestStandIn, StandInServer
from codec.encryption import engine_data_converter
from domain import names
from domain.events import Client as HiringClient
from domain.events import Recruiter
from domain.greenhouse_interviews import PollerConfig, PollerState, PollPageRequest, PollPageResult, poller_workflow_id
from domain.policy import PolicyBook
from process_client.greenhouse_interviews import ensure_poller, poller_state
from store.intake_store import IntakeStore
from store.task_store import TaskStore
from tests.harness import CONTINUOUS, eventually
from worker import build_worker, workflow_runner
from workflows.greenhouse_interviews import GreenhouseInterviewPoller

KEY = "harvest-test-key"
CLIENT = HiringClient(id="acme-capital", name="Acme Capital")
DESK = Recruiter(id="recruiting-desk", name="Recruiting desk")


def harvest_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def interview(
    interview_id: int, application_id: int, start: datetime, minutes: int = 60, status: str = "scheduled", interviewers: list[dict] | None = None
) -> dict[str, Any]:
    """A scheduled interview in the shape of Harvest's documented example, a booking of its own
    interview step (`interview.id`: 7481 for 9128481)."""
    return {
        "id": interview_id,
        "application_id": application_id,
        "external_event_id": f"event{interview_id}",
        "start": {"date_time": harvest_time(start)},
        "end": {"date_time": harvest_time(start + timedelta(minutes=minutes))},
        "location": "Big Conference Room",
        "video_conferencing_url": "http://example.com",
        "status": status,
        "interview": {"id": 7000 + interview_id % 1000, "name": "Culture Fit"},
        "organizer": {"id": 2000, "first_name": "Jack", "last_name": "Shepard", "name": "Jack Shepard", "employee_id": "12345"},
        "interviewers": interviewers
        if interviewers is not None
        else [
            {
                "id": 4080,
                "employee_id": "employee123",
                "name": "Kate Austen",
                "email": "kate.austen@example.com",
                "response_status": "needs_action",
                "scorecard_id": None,
            }
        ],
    }


def application(stand_in: HarvestStandIn, application_id: int, candidate_id: int, first: str, last: str, recruiter: dict | None) -> None:
    stand_in.add_application(
        {"id": application_id, "candidate_id": candidate_id, "prospect": False, "status": "active", "jobs": [{"id": 87752, "name": "Compliance Analyst"}]}
    )
    stand_in.add_candidate(
        {
            "id": candidate_id,
            "first_name": first,
            "last_name": last,
            "email_addresses": [{"value": f"{first.lower()}@example.com", "type": "personal"}],
            "phone_numbers": [{"value": "+44 20 7946 0000", "type": "mobile"}],
            "recruiter": recruiter,
        }
    )


@asynccontextmanager
async def harvest() -> AsyncIterator[StandInServer]:
    server = StandInServer(HarvestStandIn(api_key=KEY))
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def poller_worker(client: Client, store_url: str, task_queue: str, url: str, poll: type[GreenhouseHarvestPoll] = GreenhouseHarvestPoll):
    activities = poll({"GREENHOUSE_HARVEST_API_KEY": KEY, "GREENHOUSE_HARVEST_URL": url}, store_url, CLIENT, DESK)
    store = TaskStore(store_url)
    try:
        async with build_worker(
            client, store, PolicyBook(default=CONTINUOUS), task_queue, activity_executor=ThreadPoolExecutor(16), greenhouse_poll=activities
        ):
            yield activities
    finally:
        activities.close()
        store.close()


def stored(store_url: str) -> dict[str, dict[str, Any]]:
    """The poller's deliveries in the intake table, by key."""
    intake = IntakeStore(store_url)
    try:
        rows = intake.deliveries(source="greenhouse", limit=1000)
        return {row["idempotency_key"]: {**row, "events": intake.delivery_by_id(row["id"])["events"]} for row in rows}
    finally:
        intake.close()


async def test_interviews_scheduled_moved_cancelled_and_done_become_events_once(dev_env, tmp_path: Path, task_queue: str):
    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    now = datetime.now(UTC).replace(microsecond=0)
    async with harvest() as server:
        stand_in = server.stand_in
        application(stand_in, 4684156, 53883394, "Kwame", "Mensah", {"id": 4102, "name": "Rita Reyes", "email": "rita@agency.example"})
        application(stand_in, 432905, 53883395, "Ana", "Novak", None)
        upcoming = now + timedelta(days=2)
        stand_in.schedule(interview(9128481, 4684156, upcoming))
        # Ended an hour ago and Greenhouse waits for its scorecards: done.
        stand_in.schedule(interview(9128482, 432905, now - timedelta(hours=2), status="awaiting_feedback"))
        stand_in.schedule(interview(9128483, 4684156, now + timedelta(days=5), minutes=45))
        # Untouched since before the look-back: history, never read.
        old = interview(9128400, 432905, now - timedelta(days=30), status="complete")
        stand_in.schedule(old)
        stand_in.interviews["9128400"]["updated_at"] = harvest_time(now - timedelta(days=20))
        # The first request is over the rate limit.
        stand_in.throttle(1, retry_after=1)
        config = PollerConfig(account="acme", interval_seconds=1, per_page=2, lookback_hours=24)
        async with poller_worker(dev_env.client, store_url, task_queue, server.url):
            await ensure_poller(dev_env.client, config, task_queue)
            await eventually(lambda: len(stored(store_url)) >= 3, timeout=30, what="the first pass stored")
            first = stored(store_url)
            assert set(first) == {
                "greenhouse-harvest:9128481:scheduled",
                "greenhouse-harvest:9128482:completed",
                "greenhouse-harvest:9128483:scheduled",
            }
            scheduled = first["greenhouse-harvest:9128481:scheduled"]
            assert scheduled["application_key"] == "greenhouse:4684156" and scheduled["status"] == "pending"
            event = scheduled["events"][0]
            assert event["type"] == "interview.scheduled" and event["source"] == "greenhouse"
            assert event["candidate"]["name"] == "Kwame Mensah" and event["candidate"]["email"] == "kwame@example.com"
            assert event["recruiter"]["id"] == "4102" and event["client"]["id"] == "acme-capital" and event["job"]["title"] == "Compliance Analyst"
            assert event["assumed"] == []
            data = event["data"]
            # Known by its interview step, as Greenhouse's webhooks name it; no round (Greenhouse
            # gives none: the process numbers the interviews it knows of by time).
            assert data["round"] is None and data["interview_id"] == "7481"
            assert first["greenhouse-harvest:9128483:scheduled"]["events"][0]["data"]["interview_id"] == "7483"
            assert datetime.fromisoformat(data["at"]) == upcoming
            assert datetime.fromisoformat(data["ends_at"]) == upcoming + timedelta(minutes=60)
            assert data["interviewers"] == [{"id": "4080", "name": "Kate Austen", "email": "kate.austen@example.com"}]
            done = first["greenhouse-harvest:9128482:completed"]["events"][0]
            # Greenhouse names no recruiter for Ana: the configured stand-in, marked assumed.
            assert done["type"] == "interview.completed" and done["recruiter"]["id"] == "recruiting-desk" and done["assumed"] == ["recruiter"]
            # Pagination followed the Link header; the 429 was waited out and asked again.
            assert any("page=2" in target for target in stand_in.requests)

            # Moved by a day: rescheduled, the new time in its id.
            moved = upcoming + timedelta(days=1)
            stand_in.schedule(interview(9128481, 4684156, moved))
            key = f"greenhouse-harvest:9128481:rescheduled:1:{moved:%Y%m%dT%H%M%SZ}"
            await eventually(lambda: key in stored(store_url), timeout=20, what="the reschedule")
            assert datetime.fromisoformat(stored(store_url)[key]["events"][0]["data"]["at"]) == moved
            assert stored(store_url)[key]["events"][0]["data"]["interview_id"] == "7481"

            # Deleted in Greenhouse: cancelled.
            stand_in.delete("9128481")
            await eventually(lambda: "greenhouse-harvest:9128481:cancelled:1" in stored(store_url), timeout=20, what="the cancellation")
            cancelled = stored(store_url)["greenhouse-harvest:9128481:cancelled:1"]["events"][0]
            # The same interview the scheduling named, or the process would not stand it down.
            assert cancelled["type"] == "interview.cancelled" and cancelled["data"]["interview_id"] == "7481"

            # Several more passes read the same interviews again: nothing new.
            passes = (await poller_state(dev_env.client, "acme")).passes
            await eventually(lambda: _passes_beyond(dev_env.client, passes + 3), timeout=30, what="three more passes")
            final = stored(store_url)
            assert len(final) == 5, sorted(final)
            state = await poller_state(dev_env.client, "acme")
            assert state.last_error is None and state.cursor is not None and state.cursor > now - timedelta(minutes=10)
            assert state.events_stored == 5
            # In the order stored, per application: scheduled, rescheduled, cancelled.
            order = [key for key in final if final[key]["application_key"] == "greenhouse:4684156"]
            assert [final[k]["events"][0]["type"] for k in sorted(order, key=lambda k: final[k]["id"])] == [
                "interview.scheduled",
                "interview.scheduled",
                "interview.rescheduled",
                "interview.cancelled",
            ]
        await dev_env.client.get_workflow_handle(poller_workflow_id("acme")).terminate("test over")


async def test_an_interview_cancelled_and_booked_anew_is_not_cancelled_in_the_process(dev_env, tmp_path: Path, task_queue: str):
    """Greenhouse reschedules by deleting the scheduled interview and booking the same step again
    (a new scheduled-interview id). Both are the step's interview in the process: the new booking
    is a reschedule of it, and the old one's disappearance must not stand it down."""
    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    now = datetime.now(UTC).replace(microsecond=0)
    async with harvest() as server:
        stand_in = server.stand_in
        application(stand_in, 4684156, 53883394, "Kwame", "Mensah", {"id": 4102, "name": "Rita Reyes"})
        stand_in.schedule({**interview(9128481, 4684156, now + timedelta(days=2)), "interview": {"id": 7001, "name": "Culture Fit"}})
        async with poller_worker(dev_env.client, store_url, task_queue, server.url) as poll:
            await ensure_poller(dev_env.client, PollerConfig(account="rebooked", interval_seconds=1), task_queue)
            await eventually(lambda: "greenhouse-harvest:9128481:scheduled" in stored(store_url), timeout=30, what="the first booking")
            # Booked anew, and the poller has seen it, before it sees the old booking gone. (Seen
            # the other way round, the step is cancelled, then scheduled again: the process takes
            # a cancelled interview scheduled again as scheduled.)
            stand_in.schedule({**interview(9128490, 4684156, now + timedelta(days=3)), "interview": {"id": 7001, "name": "Culture Fit"}})
            await eventually(lambda: "greenhouse-harvest:9128490:scheduled" in stored(store_url), timeout=30, what="the new booking")
            stand_in.delete("9128481")
            await eventually(lambda: poll.store().counts("rebooked").get("cancelled") == 1, timeout=30, what="the first booking gone")
            final = stored(store_url)
            assert set(final) == {"greenhouse-harvest:9128481:scheduled", "greenhouse-harvest:9128490:scheduled"}
            rebooked = final["greenhouse-harvest:9128490:scheduled"]["events"][0]["data"]
            assert rebooked["interview_id"] == "7001" and datetime.fromisoformat(rebooked["at"]) == now + timedelta(days=3)

            # The new booking deleted in its turn, with none standing for the step: cancelled.
            stand_in.delete("9128490")
            await eventually(lambda: "greenhouse-harvest:9128490:cancelled:0" in stored(store_url), timeout=30, what="the cancellation")
            assert stored(store_url)["greenhouse-harvest:9128490:cancelled:0"]["events"][0]["data"]["interview_id"] == "7001"
        await dev_env.client.get_workflow_handle(poller_workflow_id("rebooked")).terminate("test over")


async def _passes_beyond(client: Client, passes: int) -> bool:
    return (await poller_state(client, "acme")).passes >= passes


class CrashesAfterStoring(GreenhouseHarvestPoll):
    """The worker dies after a page is stored, before Temporal hears of it: the attempt fails."""

    crashed = False

    @activity.defn(name=names.POLL_GREENHOUSE_INTERVIEWS)
    async def poll_greenhouse_interviews(self, request: PollPageRequest) -> PollPageResult:
        result = await super().poll_greenhouse_interviews(request)
        if result.new_events and not CrashesAfterStoring.crashed:
            CrashesAfterStoring.crashed = True
            raise RuntimeError("worker lost after storing")
        return result


class CrashesBeforeStoring(GreenhouseHarvestPoll):
    """The database goes away between reading Harvest and storing: nothing of the page is kept."""

    failed = False

    def store(self):  # type: ignore[no-untyped-def]
        store = super().store()
        if not CrashesBeforeStoring.failed:
            original = store.record

            def record_once(*args, **kwargs):  # type: ignore[no-untyped-def]
                if not CrashesBeforeStoring.failed:
                    CrashesBeforeStoring.failed = True
                    raise ConnectionError("database gone")
                return original(*args, **kwargs)

            store.record = record_once  # type: ignore[method-assign]
        return store


@pytest.mark.parametrize("poll", [CrashesAfterStoring, CrashesBeforeStoring], ids=["after-storing", "before-storing"])
async def test_a_crashed_poll_is_retried_and_stores_each_event_once(dev_env, tmp_path: Path, task_queue: str, poll):
    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    now = datetime.now(UTC).replace(microsecond=0)
    async with harvest() as server:
        application(server.stand_in, 4684156, 53883394, "Kwame", "Mensah", {"id": 4102, "name": "Rita Reyes"})
        server.stand_in.schedule(interview(9128481, 4684156, now - timedelta(hours=2), status="awaiting_feedback"))
        server.stand_in.schedule(interview(9128483, 4684156, now + timedelta(days=5)))
        async with poller_worker(dev_env.client, store_url, task_queue, server.url, poll):
            account = f"crash-{poll.__name__.lower()}"
            await ensure_poller(dev_env.client, PollerConfig(account=account, interval_seconds=1, per_page=500), task_queue)
            await eventually(lambda: _state_passes(dev_env.client, account, 3), timeout=40, what="three passes")
            found = stored(store_url)
            assert set(found) == {"greenhouse-harvest:9128481:completed", "greenhouse-harvest:9128483:scheduled"}
            # The page read again after the crash finds what it stored: no event is new twice.
            state = await poller_state(dev_env.client, account)
            assert state.events_stored <= 2 and state.last_error is None
        await dev_env.client.get_workflow_handle(poller_workflow_id(account)).terminate("test over")
    assert CrashesAfterStoring.crashed or CrashesBeforeStoring.failed


async def _state_passes(client: Client, account: str, passes: int) -> PollerState | None:
    state = await poller_state(client, account)
    return state if state.passes >= passes else None


async def test_a_refused_key_is_recorded_and_the_poller_keeps_waiting(dev_env, tmp_path: Path, task_queue: str):
    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    async with harvest() as server:
        activities = GreenhouseHarvestPoll({"GREENHOUSE_HARVEST_API_KEY": "wrong", "GREENHOUSE_HARVEST_URL": server.url}, store_url, CLIENT, DESK)
        store = TaskStore(store_url)
        try:
            async with build_worker(dev_env.client, store, PolicyBook(default=CONTINUOUS), task_queue, greenhouse_poll=activities):
                await ensure_poller(dev_env.client, PollerConfig(account="refused", interval_seconds=1), task_queue)
                state = await eventually(lambda: _errored(dev_env.client, "refused"), timeout=20, what="the error recorded")
                assert "refused the API key (401)" in state.last_error and state.passes == 0
                description = await dev_env.client.get_workflow_handle(poller_workflow_id("refused")).describe()
                assert description.status is not None and description.status.name == "RUNNING"
        finally:
            activities.close()
            store.close()
        await dev_env.client.get_workflow_handle(poller_workflow_id("refused")).terminate("test over")


async def _errored(client: Client, account: str) -> PollerState | None:
    state = await poller_state(client, account)
    return state if state.last_error else None


RECORDED = sorted((Path(__file__).parent.parent / "histories").glob("*harvest-poller/*.json"))


async def test_the_recorded_poller_replays_across_its_continue_as_new():
    histories = [WorkflowHistory.from_json(path.name.rsplit(".run", 1)[0], json.loads(path.read_text())) for path in RECORDED]
    assert len(histories) >= 2, "record them with python -m tests.histories.record_harvest_poller"
    assert any(event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW for event in histories[0].events)
    replayer = Replayer(workflows=[GreenhouseInterviewPoller], data_converter=engine_data_converter, workflow_runner=workflow_runner())
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure
