"""The candidate's debrief of a round as a note on the ATS record (`write_debrief_note`), against
the loopback stand-ins the task notes use (tests/channel_servers.py for Greenhouse, Lever and
Ashby; cli/bullhorn_standin.py for Bullhorn) and a real store (SQLite and PostgreSQL): written
once per round however often the activity is retried, nowhere when ATS_NOTES does not name the ATS."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from activities.ats_api.bullhorn_mapping import BullhornConfig
from activities.bullhorn import BullhornActivities
from activities.channel_settings import ChannelSettings
from activities.delivery import DeliveryActivities
from cli.bullhorn_standin import BullhornStandIn, seed_agency
from codec.sealing import SecretSealer
from domain.debrief import Debrief, feedback_context
from domain.follow_through import DebriefNote
from store.bullhorn_store import BullhornStore
from store.intake_store import IntakeStore
from store.notification_store import NotificationStore
from store.task_store import TaskStore
from tests.activities.test_channels import run
from tests.channel_servers import all_channels, http_receiver
from tests.events import GOOD_DEBRIEF
from tests.harness import free_port
from tests.workflows.test_bullhorn_poller import connect


def debrief_note(process: str, application_id: str, source: str, round_: int = 1) -> DebriefNote:
    debrief = Debrief.model_validate(GOOD_DEBRIEF)
    context = {"candidate": "Ada Lovelace", "client": "Acme Capital", "recruiter": "Rita Recruiter", "round": str(round_)}
    return DebriefNote(
        key=f"{process}/debrief/{round_}/ats-note",
        process_id=process,
        source=source,
        application_id=application_id,
        round=round_,
        author_id="92120",
        context=context | feedback_context(debrief, round_),
    )


def says_the_debrief(text: str) -> bool:
    return (
        text.startswith("Post-interview debrief (round 1), recorded by Rita Recruiter.\nThe candidate's debrief of round 1, in Ada Lovelace's words:")
        and f"Summary: {GOOD_DEBRIEF['summary']}" in text
        and "Interest: 4 out of 5" in text
        and f"Concerns: {GOOD_DEBRIEF['concerns']}" in text
        and "Questions for Acme Capital:\n- How large is the reporting backlog?\n- Is there budget for tooling?" in text
        and f"Reflections: {GOOD_DEBRIEF['reflections']}" in text
    )


@pytest.mark.parametrize(
    "process,application_id,endpoint",
    [
        ("post-interview-greenhouse-4410", "4410", "greenhouse"),
        ("post-interview-lever-opp-1", "opp-1", "lever"),
        ("post-interview-ashby-ash-app-1", "ash-app-1", "ashby"),
    ],
)
async def test_each_ats_gets_the_rounds_debrief_once(store: TaskStore, process, application_id, endpoint):
    note = debrief_note(process, application_id, endpoint)
    async with http_receiver() as (receiver, url):
        delivery = DeliveryActivities(store, all_channels(free_port(), url))
        first = await run(delivery.write_debrief_note, note)
        again = await run(delivery.write_debrief_note, note)  # a retried activity
        round_two = await run(delivery.write_debrief_note, debrief_note(process, application_id, endpoint, round_=2))
    assert (first, again, round_two) == ("sent", "sent", "sent")
    notes = {"greenhouse": receiver.greenhouse_notes, "lever": receiver.lever_notes, "ashby": receiver.ashby_notes}
    assert [len(n) for n in notes.values()] == [2 if name == endpoint else 0 for name in notes]
    written = notes[endpoint][0]
    text = {"greenhouse": "body", "lever": "value", "ashby": "note"}[endpoint]
    assert says_the_debrief(written[text])
    if endpoint == "greenhouse":
        assert (written["candidate_id"], written["on_behalf_of"], written["visibility"]) == ("5501", "92120", "private")
    elif endpoint == "lever":
        assert (written["opportunity_id"], written["perform_as"]) == ("opp-1", "92120")
    else:
        assert written["candidateId"] == "ash-cand-1"
    row = NotificationStore(store.engine).notification(f"debrief:{note.key}:ats_note")
    assert (row.status, row.attempts, row.subject_kind) == ("sent", 1, "debrief")


async def test_no_note_where_ats_notes_does_not_name_the_ats(store: TaskStore):
    note = debrief_note("post-interview-greenhouse-4410", "4410", "greenhouse")
    async with http_receiver() as (receiver, url):
        delivery = DeliveryActivities(store, all_channels(free_port(), url, notes="lever"))
        assert await run(delivery.write_debrief_note, note) == "not configured"
        assert await run(DeliveryActivities(store, ChannelSettings()).write_debrief_note, note) == "not configured"
    assert receiver.greenhouse_notes == [] and NotificationStore(store.engine).notification(f"debrief:{note.key}:ats_note") is None


async def test_a_refused_api_key_is_not_retried_and_nothing_is_written(store: TaskStore):
    note = debrief_note("post-interview-greenhouse-4410", "4410", "greenhouse")
    async with http_receiver() as (receiver, url):
        settings = all_channels(free_port(), url)
        settings = ChannelSettings(ats_notes=settings.ats_notes, vendor_settings={**settings.vendor_settings, "GREENHOUSE_HARVEST_API_KEY": "wrong"})
        with pytest.raises(ApplicationError) as raised:
            await run(DeliveryActivities(store, settings).write_debrief_note, note)
    assert raised.value.type == "DeliveryRefused" and raised.value.non_retryable
    assert receiver.greenhouse_notes == []


async def test_bullhorn_notes_the_debrief_on_the_candidate_once(store: TaskStore, database_url: str):
    with BullhornStandIn() as bullhorn:
        seed_agency(bullhorn)
        connect(bullhorn, database_url)
        activities = BullhornActivities(BullhornStore(database_url, SecretSealer(None)), IntakeStore(database_url), BullhornConfig.load())
        delivery = DeliveryActivities(store, ChannelSettings(ats_notes=frozenset({"bullhorn"})), text_note_writers={"bullhorn": activities.write_text_note})
        note = debrief_note("post-interview-bullhorn-5501", "5501", "bullhorn")
        try:
            assert await run(delivery.write_debrief_note, note) == "sent"
            assert await run(delivery.write_debrief_note, note) == "sent"
        finally:
            activities.close()
        [written] = bullhorn.notes
    assert written["personReference"] == {"id": 301} and written["jobOrder"] == {"id": 77} and written["commentingPerson"] == {"id": 92120}
    assert says_the_debrief(written["comments"])


def test_every_channel_of_a_feedback_task_carries_the_debrief():
    """Email, Slack, Teams and the ATS (note and Bullhorn task) all send the task's instructions,
    where a feedback task has the debrief."""
    import json
    from datetime import UTC, datetime

    from activities import slack, teams
    from activities.ats_api.notes import note_text
    from activities.email import task_email_body
    from activities.follow_through import task_text
    from domain.follow_through import Assignee, StoredTask, TaskKind, TaskRequest

    context = debrief_note("post-interview-greenhouse-4410", "4410", "greenhouse").context
    request = TaskRequest(
        key="post-interview-greenhouse-4410/feedback/1/send",
        process_id="post-interview-greenhouse-4410",
        application_id="4410",
        kind=TaskKind.SEND_FEEDBACK,
        assignee=Assignee(id="92120"),
        due_at=datetime.now(UTC),
        context=context,
    )
    title, instructions = task_text(request)
    task = StoredTask(
        key=request.key, process_id=request.process_id, application_id="4410", kind="send_feedback", title=title, instructions=instructions,
        assignee_id="92120", due_at=request.due_at, status="open", created_at=request.due_at, context=context,
    )  # fmt: skip
    question = "How large is the reporting backlog?"
    assert GOOD_DEBRIEF["summary"] in task_email_body(task) and question in task_email_body(task)
    assert GOOD_DEBRIEF["summary"] in note_text(task) and question in note_text(task)
    assert slack.escape(GOOD_DEBRIEF["summary"]) in slack.task_text(task) and "Interest: 4 out of 5" in slack.task_text(task)
    card = json.dumps(teams.task_card(task))
    assert json.dumps(teams.escape(f"Summary: {GOOD_DEBRIEF['summary']}"))[1:-1] in card and json.dumps(teams.escape(f"- {question}"))[1:-1] in card
