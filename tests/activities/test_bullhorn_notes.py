"""Recruiter tasks of Bullhorn processes noted on the Bullhorn candidate (with the job order)
through the ATS-note channel, once, against the Bullhorn stand-in on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError

from activities.ats_api.bullhorn_mapping import BullhornConfig
from activities.bullhorn import BullhornActivities
from activities.channel_settings import ChannelSettings
from activities.delivery import DeliveryActivities
from cli.bullhorn_standin import BullhornStandIn, seed_agency
from codec.sealing import SecretSealer
from domain.delivery import Channel
from service.settings import Settings
from store.bullhorn_store import BullhornStore
from store.intake_store import IntakeStore
from store.task_store import TaskStore
from tests.activities.test_channels import queue_debrief, run, task_request
from tests.workflows.test_bullhorn_poller import connect


@pytest.fixture
def bullhorn():
    with BullhornStandIn() as standin:
        seed_agency(standin)
        yield standin


def channel(store: TaskStore, database_url: str) -> tuple[DeliveryActivities, BullhornActivities]:
    activities = BullhornActivities(BullhornStore(database_url, SecretSealer(None)), IntakeStore(database_url), BullhornConfig.load())
    delivery = DeliveryActivities(store, ChannelSettings(ats_notes=frozenset({"bullhorn"})), note_writers={"bullhorn": activities.write_note})
    return delivery, activities


async def test_a_task_is_noted_once_on_the_candidate_with_the_job_order(store: TaskStore, database_url: str, bullhorn: BullhornStandIn):
    connect(bullhorn, database_url)
    task_key, _ = queue_debrief(store, datetime.now(UTC) + timedelta(hours=4), "post-interview-bullhorn-5501", "5501")
    delivery, activities = channel(store, database_url)
    first = await run(delivery.write_ats_note, task_request(task_key, Channel.ATS_NOTE))
    again = await run(delivery.write_ats_note, task_request(task_key, Channel.ATS_NOTE))
    activities.close()
    assert (first.sent_now, again.sent_now) == (True, False)
    [note] = bullhorn.notes
    assert note["personReference"] == {"id": 301} and note["jobOrder"] == {"id": 77} and note["action"] == "Post-interview"
    assert 'asked to "Book a debrief call with Ada Lovelace (round 1)"' in note["comments"]
    assert note["commentingPerson"] == {"id": 92120}  # the recruiter, a Bullhorn user
    assert first.provider_ref == "1"


async def test_a_relationship_check_in_is_noted_on_the_candidate(store: TaskStore, database_url: str, bullhorn: BullhornStandIn):
    connect(bullhorn, database_url)
    task_key, _ = queue_debrief(store, datetime.now(UTC) + timedelta(hours=4), "relationship-bullhorn-302", None)  # type: ignore[arg-type]
    delivery, activities = channel(store, database_url)
    await run(delivery.write_ats_note, task_request(task_key, Channel.ATS_NOTE))
    activities.close()
    [note] = bullhorn.notes
    assert note["personReference"] == {"id": 302} and "jobOrder" not in note


async def test_without_a_connected_account_the_note_is_refused_for_good(store: TaskStore, database_url: str, bullhorn: BullhornStandIn):
    task_key, _ = queue_debrief(store, datetime.now(UTC) + timedelta(hours=4), "post-interview-bullhorn-5501", "5501")
    delivery, activities = channel(store, database_url)
    with pytest.raises(ApplicationError) as raised:
        await run(delivery.write_ats_note, task_request(task_key, Channel.ATS_NOTE))
    activities.close()
    assert raised.value.non_retryable and "0 Bullhorn accounts are connected" in str(raised.value)
    assert bullhorn.notes == []


def test_ats_notes_may_name_bullhorn_without_an_api_key():
    assert Settings.from_env({"ATS_NOTES": "bullhorn"}).channels().ats_notes == {"bullhorn"}


def test_an_event_the_database_cannot_hold_is_recorded_without_it_and_the_poll_goes_on(database_url: str):
    """A NUL in Bullhorn's eventId: PostgreSQL refuses the row; a trace of it is kept instead,
    and the batch's other events are stored."""
    from datetime import UTC, datetime

    from domain.bullhorn import BullhornPollResult

    activities = BullhornActivities(BullhornStore(database_url, SecretSealer(None)), IntakeStore(database_url), BullhornConfig.load())
    now = int(datetime.now(UTC).timestamp() * 1000)
    raw = [
        {"eventId": "ID:JBM-1\x00", "entityName": "Candidate", "entityId": 301, "entityEventType": "UPDATED", "eventTimestamp": now},
        {"eventId": "ID:JBM-2", "entityName": "Candidate", "entityId": 302, "entityEventType": "UPDATED", "eventTimestamp": now},
    ]
    result = BullhornPollResult(last_request_id=0)
    activities._store(None, "acme", raw, result)  # type: ignore[arg-type] - no entity is fetched for Candidate events
    rows = {row["idempotency_key"]: row for row in IntakeStore(database_url).deliveries(source="bullhorn")}
    assert result.events == 2 and result.ignored == 2
    assert rows["acme:ID:JBM-2"]["ignored_reason"] == "Candidate changes are not used"
    nul = [row for key, row in rows.items() if key != "acme:ID:JBM-2"]
    assert len(nul) == 1
    if database_url.startswith("postgresql"):
        assert nul[0]["action"] == "unstorable" and nul[0]["ignored_reason"].startswith("could not be stored")


async def test_a_recorded_debrief_is_noted_on_the_candidate_once(store: TaskStore, database_url: str, bullhorn: BullhornStandIn):
    """The process closes the book-call task when the debrief is recorded (by the candidate's link,
    the inbox or an event): the next poll notes that on the Bullhorn candidate, once."""
    connect(bullhorn, database_url)
    task_key, _ = queue_debrief(store, datetime.now(UTC) + timedelta(hours=4), "post-interview-bullhorn-5501", "5501")
    delivery, activities = channel(store, database_url)
    await run(delivery.write_ats_note, task_request(task_key, Channel.ATS_NOTE))  # the task's own note, when given
    store.resolve_tasks([task_key], "done", "debrief of round 1 recorded")
    activities.outcome_notes = True
    activities._note_outcomes()
    activities._note_outcomes()  # the next poll: nothing more
    activities.close()
    outcome_notes = [note for note in bullhorn.notes if "is done" in note["comments"]]
    assert [note["comments"] for note in outcome_notes] == ['Post-interview follow-through: "Book a debrief call with Ada Lovelace (round 1)" is done: debrief of round 1 recorded']
    assert outcome_notes[0]["personReference"] == {"id": 301} and outcome_notes[0]["jobOrder"] == {"id": 77}
