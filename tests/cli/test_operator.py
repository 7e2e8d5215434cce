"""`postinterview list` and `postinterview replay` against a real dev server and a real worker.

The dev server is shared by the whole session, so every `list` assertion is scoped to this test's
own recruiter id (`--recruiter`), and visibility being eventually consistent, the test first
waits until the server's index shows what it drove, then reads what the CLI prints.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli import operator
from domain.policy import TimingPolicy
from process_client import deliver_event, process_status
from tests.cli.conftest import ROOT, run_cli
from tests.events import Application
from tests.harness import eventually, running_engine
from tests.workflows.test_replay import UnguardedChange
from workflows.referee_check import RefereeCheck
from workflows.relationship import RelationshipProcess

session_loop = pytest.mark.asyncio(loop_scope="session")

# PostInterviewProcess replaced by a change that would break every running process.
BROKEN = [UnguardedChange, RefereeCheck, RelationshipProcess]


def application(recruiter_id: str) -> Application:
    app = Application()
    app.recruiter["id"] = recruiter_id
    return app


async def listed(client, query: str) -> list[str]:
    return sorted([w.id async for w in client.list_workflows(query)])


# --- the query, without a server ------------------------------------------------------------


def test_list_query_is_built_from_the_options_and_quoted():
    assert operator.list_query() == "WorkflowType = 'PostInterviewProcess' AND ExecutionStatus = 'Running'"
    assert operator.list_query("references", True, "rec-1", "greenhouse", "closed") == (
        "WorkflowType = 'PostInterviewProcess' AND ProcessStage = 'references' AND SlaBreached = true "
        "AND RecruiterId = 'rec-1' AND AtsSource = 'greenhouse' AND ExecutionStatus != 'Running'"
    )
    assert operator.list_query(status="all") == "WorkflowType = 'PostInterviewProcess'"
    for bad in ("rec' OR '1'='1", 'rec"1', "rec\\1", "rec\n1"):
        with pytest.raises(operator.QueryError, match="not allowed in a query value"):
            operator.list_query(recruiter=bad)
    with pytest.raises(operator.QueryError, match="unknown stage 'nowhere'"):
        operator.list_query(stage="nowhere")


def test_since_and_the_replay_query():
    assert operator.parse_since("7d") == timedelta(days=7)
    assert operator.parse_since("90m") == timedelta(minutes=90)
    with pytest.raises(operator.QueryError):
        operator.parse_since("soon")
    from datetime import UTC, datetime

    moment = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert operator.replay_query(moment) == (
        "WorkflowType IN ('PostInterviewProcess', 'RefereeCheck', 'RelationshipProcess', 'Notify', 'GreenhouseInterviewPoller', 'BullhornPoller') AND StartTime > '2026-11-26T12:00:00Z'"
    )
    assert operator.replay_query(moment, ["RefereeCheck"]) == "WorkflowType = 'RefereeCheck' AND StartTime > '2026-11-26T12:00:00Z'"


# --- list -----------------------------------------------------------------------------------


@session_loop
async def test_list_filters_by_stage_sla_and_recruiter(dev_env, store_url, task_queue, activity_pool, cli_env):
    recruiter = f"rec-list-{uuid.uuid4().hex[:8]}"
    other_recruiter = f"rec-other-{uuid.uuid4().hex[:8]}"
    debriefing, referencing, breached = application(recruiter), application(recruiter), application(recruiter)
    elsewhere = application(other_recruiter)
    client = dev_env.client
    # A debrief due within a couple of seconds, so the SLA can be breached on a real clock.
    quick = TimingPolicy(calendar="continuous", debrief_due_business_hours=0.0005)
    async with running_engine(dev_env, store_url, task_queue, activity_pool, policy=quick):
        for app in (debriefing, referencing, breached, elsewhere):
            await deliver_event(client, app.interview(1), task_queue)
        await deliver_event(client, referencing.references("ref-1"), task_queue)
        # Past the debrief's due time as the process counts it (from when it handled the
        # interview, which a loaded machine can delay), not merely two seconds after sending.
        async def overdue() -> bool:
            rounds = (await process_status(client, breached.source, breached.application_id)).debriefs
            return bool(rounds) and rounds[0].due_at < datetime.now(UTC)

        await eventually(overdue, what="the debrief to be overdue")
        await deliver_event(client, breached.event("client.feedback_requested"), task_queue)
        mine = f"RecruiterId = '{recruiter}'"
        await eventually(
            lambda: _visible(client, mine, referencing.workflow_id, breached.workflow_id), what="stage and SLA breach visible"
        )

    result = await run_cli("list", "--stage", "references", "--recruiter", recruiter, env=cli_env)
    assert result.code == 0, result.output
    assert referencing.workflow_id in result.stdout
    assert debriefing.workflow_id not in result.stdout and breached.workflow_id not in result.stdout
    assert "1 process(es)" in result.stdout
    row = next(line for line in result.stdout.splitlines() if referencing.workflow_id in line)
    for cell in (referencing.application_id, "references", "no", recruiter, "greenhouse", "running"):
        assert cell in row, row
    assert (
        f"Query: WorkflowType = 'PostInterviewProcess' AND ProcessStage = 'references' AND RecruiterId = '{recruiter}' "
        "AND ExecutionStatus = 'Running'"
    ) in result.stdout

    result = await run_cli("list", "--sla-breached", "--recruiter", recruiter, env=cli_env)
    assert result.code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if breached.workflow_id in line)
    assert "yes" in row and "debrief" in row
    assert debriefing.workflow_id not in result.stdout and referencing.workflow_id not in result.stdout
    assert "SlaBreached = true" in result.stdout

    result = await run_cli("list", "--recruiter", recruiter, "--json", env=cli_env)
    assert result.code == 0, result.output
    rows = json.loads(result.stdout)
    by_id = {row["workflow_id"]: row for row in rows}
    assert set(by_id) == {debriefing.workflow_id, referencing.workflow_id, breached.workflow_id}  # not the other recruiter's
    assert by_id[referencing.workflow_id]["stage"] == "references"
    assert by_id[breached.workflow_id]["sla_breached"] is True
    assert by_id[debriefing.workflow_id] | {"run_id": None, "started_at": None} == {
        "workflow_id": debriefing.workflow_id,
        "run_id": None,
        "application_id": debriefing.application_id,
        "stage": "debrief",
        "sla_breached": False,
        "recruiter_id": recruiter,
        "source": "greenhouse",
        "started_at": None,
        "closed_at": None,
        "status": "running",
    }
    assert "Query: " in result.stderr

    result = await run_cli("list", "--recruiter", recruiter, "--status", "closed", env=cli_env)
    assert result.code == 0, result.output
    assert "No processes match." in result.stdout

    refused = await run_cli("list", "--recruiter", "x' OR RecruiterId != 'x", env=cli_env)
    assert refused.code == 2
    assert "not allowed in a query value" in refused.stderr and "Nothing was sent." in refused.stderr
    assert refused.stdout == ""


async def _visible(client, mine: str, referencing_id: str, breached_id: str) -> bool:
    in_references = await listed(client, f"{mine} AND ProcessStage = 'references'")
    breached = await listed(client, f"{mine} AND SlaBreached = true")
    debrief = await listed(client, f"{mine} AND ProcessStage = 'debrief'")
    return in_references == [referencing_id] and breached == [breached_id] and len(debrief) == 2


# --- replay ---------------------------------------------------------------------------------


@session_loop
async def test_replay_passes_on_the_current_code_and_fails_on_an_unguarded_change(dev_env, store_url, task_queue, activity_pool, cli_env):
    app = application(f"rec-replay-{uuid.uuid4().hex[:8]}")
    client = dev_env.client
    async with running_engine(dev_env, store_url, task_queue, activity_pool):
        await deliver_event(client, app.interview(1), task_queue)
        await deliver_event(client, app.references("ref-1"), task_queue)
        await eventually(lambda: _at_stage(client, app, "references"), what="the process in references")
        referee_check = f"{app.workflow_id}-referee-ref-1"
        await eventually(
            lambda: _contains(client, "StartTime > '2000-01-01T00:00:00Z'", app.workflow_id, referee_check), what="both listed"
        )

    result = await run_cli("replay", "--since", "1h", env=cli_env)
    assert result.code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"ok      {app.workflow_id}  PostInterviewProcess" in lines
    assert f"ok      {referee_check}  RefereeCheck" in lines
    assert not any(line.startswith("FAILED") for line in lines)
    assert lines[-1].startswith("All ") and lines[-1].endswith(" histories replay on this code.")

    said: list[str] = []
    code = await operator.replay_recent(client, timedelta(hours=1), workflows=BROKEN, say=said.append)
    assert code == 1
    failed = next(line for line in said if line.startswith(f"FAILED  {app.workflow_id}  PostInterviewProcess: "))
    assert "Nondeterminism" in failed
    assert f"ok      {referee_check}  RefereeCheck" in said  # the unchanged workflow still replays
    assert "FAILED to replay on this code" in said[-1]

    said.clear()
    code = await operator.replay_recent(client, timedelta(hours=1), workflow_types=["NoSuchWorkflow"], say=said.append)
    assert code == 0
    assert said[-1] == "No executions matched: nothing to replay."


async def _at_stage(client, app: Application, stage: str) -> bool:
    return (await process_status(client, app.source, app.application_id)).stage == stage


async def _contains(client, query: str, *workflow_ids: str) -> bool:
    return set(workflow_ids) <= set(await listed(client, query))


@session_loop
async def test_replay_of_recorded_histories(tmp_path: Path):
    histories = ROOT / "tests" / "histories"
    result = await run_cli("replay", "--histories-dir", str(histories), env={"LOG_LEVEL": "WARNING", "COLUMNS": "250"})
    assert result.code == 0, result.output
    count = len(operator.history_files(histories))
    assert count >= 7
    lines = result.stdout.splitlines()
    assert sum(line.startswith("ok      ") for line in lines) == count
    assert "ok      2026-11-26a/post-interview-greenhouse-rec-placed.run1.json  PostInterviewProcess" in lines
    assert lines[-1] == f"All {count} histories replay on this code."

    said: list[str] = []
    assert await operator.replay_directory(histories, workflows=BROKEN, say=said.append) == 1
    assert any(line.startswith("FAILED  2026-11-26a/post-interview-greenhouse-rec-placed.run1.json") and "Nondeterminism" in line for line in said)

    assert await operator.replay_directory(tmp_path, say=said.append) == 0
    assert said[-1] == f"No JSON histories under {tmp_path}: nothing to replay."
