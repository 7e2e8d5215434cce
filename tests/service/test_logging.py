"""Worker and activity logs: JSON lines an operator can follow to a run, with no PII."""

from __future__ import annotations

import io
import json
import logging

import pytest

from service.log_setup import configure_logging
from process_client import deliver_event
from tests.events import Application
from tests.harness import eventually, running_engine


@pytest.fixture
def log_stream(monkeypatch: pytest.MonkeyPatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("INFO")
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
