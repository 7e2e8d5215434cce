"""Worker and activity logs: JSON lines an operator can follow to a run, with no PII."""

from __future__ import annotations

import io
import json
import logging

import pytest

from datetime import UTC, datetime

from service.log_setup import configure_logging
from process_client import deliver_event
from tests.events import Application
from tests.harness import eventually, running_engine, status_when
from tests.intake.test_service import forwarder_for, intake_service, signed_event


@pytest.fixture
def log_level() -> str:
    return "INFO"


@pytest.fixture
def log_stream(monkeypatch: pytest.MonkeyPatch, log_level: str):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging(log_level)
    yield stream
    root.handlers[:], level = saved[0], saved[1]
    root.setLevel(level)


async def test_logs_are_json_with_workflow_and_activity_ids_and_no_pii(time_env, store_url, task_queue, activity_pool, log_stream):
    app = Application()
    async with running_engine(time_env, store_url, task_queue, activity_pool) as store:
        await deliver_event(time_env.client, app.interview(1), task_queue)
        await deliver_event(time_env.client, app.event("candidate.withdrew", {"reason": "took another offer"}), task_queue)
        await eventually(lambda: [t for t in store.tasks() if t.kind == "closure_feedback"])

    lines = [json.loads(line) for line in log_stream.getvalue().splitlines() if line.startswith("{")]
    assert lines, "the worker logged JSON lines"
    task_lines = [line for line in lines if line.get("activity_type") == "create_recruiter_task"]
    assert task_lines and all(line["workflow_id"] == app.workflow_id and line["activity_id"] for line in task_lines)
    workflow_lines = [line for line in lines if line.get("event") == "event" and line.get("workflow_type") == "PostInterviewProcess"]
    assert {line["type"] for line in workflow_lines} >= {"interview.completed", "candidate.withdrew"}
    assert all(line["workflow_id"] == app.workflow_id for line in workflow_lines)

    text = log_stream.getvalue()
    for pii in (app.candidate["name"], app.candidate["email"], app.candidate["phone"], "Rita Recruiter", "rita@agency.example"):
        assert pii not in text


@pytest.mark.parametrize("log_level", ["DEBUG"])
async def test_a_whole_scenario_with_a_failing_write_leaves_no_name_or_email_in_logs_or_failures(
    time_env, postgres_schema_url, task_queue, activity_pool, log_stream, capfd, log_level
):
    """Issue 12, finding 6. From interview to first day and the first check-in, on PostgreSQL,
    with a referee whose name has a NUL byte, so every write about her is refused: every line the
    worker and the intake log at DEBUG (ours, the SDK's with its activations and activity
    results, its core's on the file descriptors, SQLAlchemy's) and every failure in the histories
    (whose payloads are encoded, so names show only where a message quotes them) is free of the
    people's names and addresses. The first events come through the intake's /events, one of
    them refused (400) with the names in it."""
    from datetime import timedelta

    from domain.contract import referee_check_workflow_id, relationship_workflow_id
    from domain.events import Referee
    from tests.events import GOOD_DEBRIEF

    app = Application()
    referee = Referee.model_construct(id="ref-g", name="Grace\x00Hopper", email="grace@example.org", relationship="former manager", timezone="Europe/London", country="GB")
    references = app.references("ref-g")
    references = references.model_copy(update={"data": references.data.model_copy(update={"referees": [referee]})})
    start = (await time_env.get_current_time()).date() + timedelta(days=7)
    forwarder = forwarder_for(time_env, postgres_schema_url, task_queue)
    async with running_engine(time_env, postgres_schema_url, task_queue, activity_pool) as store, intake_service(
        postgres_schema_url, forwarder
    ) as (http, _):
        for event in (app.interview(1), app.event("candidate.debriefed", GOOD_DEBRIEF)):
            answer = await http.post("/events", content=(signed := signed_event(event))[0], headers=signed[1])
            assert answer.status_code == 200, answer.text
        stale = app.event("offer.extended").model_copy(update={"occurred_at": datetime(1969, 12, 31, tzinfo=UTC)})
        answer = await http.post("/events", content=(signed := signed_event(stale))[0], headers=signed[1])
        assert answer.status_code == 400, answer.text
        await status_when(time_env.client, app.source, app.application_id, lambda s: s.events_seen >= 2, what="the intake's events")
        for event in (
            references,
            app.event("referee.consented", {"referee_id": "ref-g"}),
        ):
            await deliver_event(time_env.client, event, task_queue)
        await time_env.sleep(timedelta(hours=2))
        for event in (
            app.event("referee.responded", {"referee_id": "ref-g"}),
            app.offer("offer.accepted", start=start),
            app.event("contract.signed"),
            app.event("vetting.passed"),
            app.event("candidate.started", {"start_date": start.isoformat()}),
        ):
            await deliver_event(time_env.client, event, task_queue)
        relationship = relationship_workflow_id(app.source, app.candidate["id"])
        await eventually(lambda: time_env.client.get_workflow_handle(relationship).describe(), what="the hand-over")
        await time_env.sleep(timedelta(days=20))  # the first week's check-in
        await eventually(lambda: [t for t in store.tasks() if t.kind == "check_in"], what="a check-in task")
        assert any("Ada Lovelace" in t.title for t in store.tasks()), "the names were in the data all along"
        histories = [
            (await time_env.client.get_workflow_handle(workflow_id).fetch_history()).to_json()
            for workflow_id in (app.workflow_id, referee_check_workflow_id(app.workflow_id, "ref-g"), relationship)
        ]

    logs = log_stream.getvalue() + "".join(capfd.readouterr())
    refused = [json.loads(line) for line in logs.splitlines() if line.startswith("{") and "StoreRefused" in line]
    assert any(line["event"] == "step failed for good: skipped" for line in refused), "a write was refused and logged"
    assert any("activityTaskFailedEventAttributes" in history and "StoreRefused" in history for history in histories)
    pii = [
        app.candidate["name"], app.candidate["email"], app.candidate["phone"], "Rita Recruiter", "rita@agency.example",
        "Leo Lead", "leo@agency.example", "Grace", "Hopper", "grace@example.org",
    ]
    for text in (logs, *histories):
        assert [p for p in pii if p in text] == []
