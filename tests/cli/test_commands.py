"""The CLI against a real Temporal dev server and a real worker (tests.harness.running_engine).

Each command runs as `python -m cli.main` with TEMPORAL_ADDRESS, TASK_QUEUE and DATABASE_URL
pointing at the test's server, worker and store; the assertions read what a person would read.
Every test uses an application id of its own: the dev server is shared by the whole session.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from temporalio.service import RPCError, RPCStatusCode

from domain.contract import post_interview_workflow_id
from process_client import process_status
from store.task_store import TaskStore
from tests.cli.conftest import EXAMPLES, lifecycle_copies, run_cli
from tests.harness import eventually, running_engine

pytestmark = pytest.mark.asyncio(loop_scope="session")


def new_app() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}"


def kinds(store: TaskStore, workflow_id: str, status: str | None = "open") -> list[str]:
    return sorted(t.kind for t in store.tasks(status=status, process_id=workflow_id))


async def test_send_event_delivers_status_shows_the_stage_and_a_resend_is_harmless(dev_env, store_url, task_queue, activity_pool, cli_env, tmp_path: Path):
    app_id = new_app()
    workflow_id = post_interview_workflow_id("api", app_id)
    interview = lifecycle_copies(tmp_path, app_id)["01"]
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as store:
        sent = await run_cli("send-event", str(interview), env=cli_env)
        assert sent.code == 0, sent.output
        assert sent.stdout.splitlines() == [
            f"delivered      {workflow_id}  interview.completed  event_id={app_id}-01-interview-completed  ({interview})"
        ]
        await eventually(lambda: kinds(store, workflow_id) == ["book_debrief"], what="the book-debrief task")

        shown = await run_cli("status", "api", app_id, env=cli_env)
        assert shown.code == 0, shown.output
        assert "Stage          debrief" in shown.stdout
        assert "Waiting for    the debrief of round 1" in shown.stdout
        assert "book_debrief" in shown.stdout and "rec-17" in shown.stdout
        assert "interview.completed.round_1" in shown.stdout

        again = await run_cli("send-event", str(interview), env=cli_env)
        assert again.code == 0, again.output
        assert again.stdout.startswith(f"delivered      {workflow_id}")

        raw = await run_cli("status", "api", app_id, "--json", env=cli_env)
        assert raw.code == 0, raw.output
        status = json.loads(raw.stdout)
        assert status["stage"] == "debrief" and status["events_seen"] == 1
        assert [t["kind"] for t in status["open_tasks"]] == ["book_debrief"]
        assert kinds(store, workflow_id, status=None) == ["book_debrief"]  # the second copy did nothing


async def test_an_invalid_file_sends_nothing_not_even_the_valid_ones(dev_env, cli_env, tmp_path: Path):
    app_id = new_app()
    copies = lifecycle_copies(tmp_path, app_id)
    invalid = json.loads(copies["02"].read_text())
    invalid["data"]["referees"][0]["timezone"] = "Mars/Olympus_Mons"
    bad = tmp_path / "bad-references.json"
    bad.write_text(json.dumps(invalid))

    result = await run_cli("send-event", str(copies["01"]), str(bad), env=cli_env)
    assert result.code == 2
    assert str(bad) in result.stderr
    assert "data: Value error, does not fit references.requested: referees.0.timezone: Value error, unknown time zone 'Mars/Olympus_Mons'" in result.stderr
    assert "Nothing was sent." in result.stderr
    assert result.stdout == ""
    with pytest.raises(RPCError) as missing:
        await dev_env.client.get_workflow_handle(post_interview_workflow_id("api", app_id)).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def test_debrief_example_is_accepted_and_the_empty_one_rejected_with_the_reason(dev_env, store_url, task_queue, activity_pool, cli_env, tmp_path: Path):
    app_id = new_app()
    workflow_id = post_interview_workflow_id("api", app_id)
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as store:
        nothing_yet = await run_cli("debrief", "api", app_id, "--file", str(EXAMPLES / "debrief.json"), env=cli_env)
        assert nothing_yet.code == 1
        assert f"no process for application {app_id} from api" in nothing_yet.stderr

        assert (await run_cli("send-event", str(lifecycle_copies(tmp_path, app_id)["01"]), env=cli_env)).code == 0
        await eventually(lambda: kinds(store, workflow_id) == ["book_debrief"], what="the book-debrief task")

        empty = await run_cli("debrief", "api", app_id, "--file", str(EXAMPLES / "empty-debrief.json"), env=cli_env)
        assert empty.code == 1, empty.output
        assert "the process rejected the debrief: A debrief must tell the client something:" in empty.stderr
        assert "The summary is mostly generic" in empty.stderr

        terse = await run_cli("debrief", "api", app_id, "--summary", "Went well.", "--interest", "5", env=cli_env)
        assert terse.code == 1, terse.output
        assert "The summary has 2 words" in terse.stderr

        good = await run_cli("debrief", "api", app_id, "--file", str(EXAMPLES / "debrief.json"), env=cli_env)
        assert good.code == 0, good.output
        assert good.stdout.strip() == f"Debrief of round 1 recorded, interest 4/5 ({workflow_id})."

        status = await process_status(dev_env.client, "api", app_id)
        assert status.stage == "awaiting_client"
        assert status.debriefs[0].interest == 4
        await eventually(lambda: kinds(store, workflow_id, "done") == ["book_debrief"], what="the task done")


async def test_tasks_and_messages_list_what_the_process_created(dev_env, store_url, task_queue, activity_pool, cli_env, tmp_path: Path):
    app_id = new_app()
    workflow_id = post_interview_workflow_id("api", app_id)
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as store:
        assert (await run_cli("send-event", str(lifecycle_copies(tmp_path, app_id)["01"]), env=cli_env)).code == 0
        await eventually(lambda: kinds(store, workflow_id) and store.messages(process_id=workflow_id), what="a task and a message")

    tasks = await run_cli("tasks", "--process", workflow_id, env=cli_env)
    assert tasks.code == 0, tasks.output
    assert "1 open task(s)" in tasks.stdout
    assert "book_debrief" in tasks.stdout
    assert "Book a debrief call with Priya Shah (round 1)" in tasks.stdout

    as_json = json.loads((await run_cli("tasks", "--json", "--assignee", "rec-17", env=cli_env)).stdout)
    assert [(t["kind"], t["process_id"], t["status"]) for t in as_json] == [("book_debrief", workflow_id, "open")]

    none_done = await run_cli("tasks", "--status", "done", "--process", workflow_id, env=cli_env)
    assert none_done.code == 0 and none_done.stdout.startswith("No done tasks in ")

    messages = await run_cli("messages", "--process", workflow_id, env=cli_env)
    assert messages.code == 0, messages.output
    assert "How did it go with Northbridge Asset Management?" in messages.stdout
    assert "debrief/1/questions" in messages.stdout

    to_candidate = json.loads((await run_cli("messages", "--role", "candidate", "--json", env=cli_env)).stdout)
    assert [m["key"] for m in to_candidate] == [f"{workflow_id}/debrief/1/questions"]

    full = await run_cli("messages", "--process", workflow_id, "--body", env=cli_env)
    assert '"I think it went well" does nothing for you' in full.stdout

    to_referees = await run_cli("messages", "--role", "referee", env=cli_env)
    assert to_referees.code == 0 and to_referees.stdout.startswith("No messages in ")


async def test_store_listings_say_when_there_is_no_store_yet(cli_env, tmp_path: Path):
    env = {**cli_env, "DATABASE_URL": f"sqlite:///{tmp_path / 'absent' / 'store.sqlite3'}"}
    result = await run_cli("tasks", env=env)
    assert result.code == 0 and "does not exist yet" in result.stdout
    assert json.loads((await run_cli("messages", "--json", env=env)).stdout) == []
    assert not (tmp_path / "absent").exists()


async def test_demo_drives_one_application_to_placed(dev_env, store_url, task_queue, activity_pool, cli_env):
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as store:
        result = await run_cli("demo", "--pause", "0", env=cli_env)
        assert result.code == 0, result.output
        lines = result.stdout.splitlines()
        app_id = lines[0].split()[2]
        assert app_id.startswith("demo-") and app_id != "demo-1001"
        steps = [line for line in lines if "-> stage" in line]
        assert [line.split("-> stage ")[1].split(":")[0] for line in steps] == [
            "debrief", "awaiting_client", "references", "references", "references",
            "offer", "offer", "starting", "starting", "placed",
        ]  # fmt: skip
        assert "round 1 accepted" in steps[1]
        assert f"Done: post-interview-api-{app_id} is placed." in result.stdout

        final = await dev_env.client.get_workflow_handle(post_interview_workflow_id("api", app_id)).describe()
        assert final.status is not None and final.status.name == "COMPLETED"
        assert kinds(store, post_interview_workflow_id("api", app_id)) == []  # nothing left open

        ended = await run_cli("demo", "--pause", "0", "--application-id", app_id, env=cli_env)
        assert ended.code == 1 and f"post-interview-api-{app_id} has already ended" in ended.stderr
        late = await run_cli("debrief", "api", app_id, "--file", str(EXAMPLES / "debrief.json"), env=cli_env)
        assert late.code == 1 and f"post-interview-api-{app_id} has ended (completed)" in late.stderr
        placed = await run_cli("status", "api", app_id, env=cli_env)
        assert "Stage          placed" in placed.stdout and "ref-301" in placed.stdout and "responded" in placed.stdout

        rerun = await run_cli("demo", "--pause", "0", env=cli_env)
        assert rerun.code == 0, rerun.output
        assert rerun.stdout.splitlines()[0].split()[2] != app_id  # a new process each run


async def test_status_counts_the_reference_reports_and_never_shows_their_text(dev_env, store_url, task_queue, activity_pool, cli_env, tmp_path: Path):
    from datetime import UTC, datetime

    from domain.reference_report import FraudSignal, ReferenceAnswer, ReferenceFlag, ReferenceReport
    from store.reference_store import ReferenceStore

    app_id = new_app()
    workflow_id = post_interview_workflow_id("api", app_id)
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as store:
        assert (await run_cli("send-event", str(lifecycle_copies(tmp_path, app_id)["01"]), env=cli_env)).code == 0
        await eventually(lambda: kinds(store, workflow_id) == ["book_debrief"], what="the book-debrief task")
        assert "Reference reports" not in (await run_cli("status", "api", app_id, env=cli_env)).stdout
        reports = ReferenceStore(store.engine)
        for referee, flags in (("ref-1", [ReferenceFlag(code=FraudSignal.QUICK_ANSWER, text="Answered 9 seconds after")]), ("ref-2", [])):
            reports.add(ReferenceReport(
                key=f"{workflow_id}-referee-{referee}", process_id=workflow_id, source="api", application_id=app_id, referee_id=referee,
                link_id=f"link-{referee}-xxxxxxxxxxxx", answers=[ReferenceAnswer(id="strengths", question="Strengths?", answer="Secret praise")],
                flags=flags, submitted_at=datetime.now(UTC),
            ))
        shown = await run_cli("status", "api", app_id, env=cli_env)
        assert shown.code == 0, shown.output
        assert "Reference reports" in shown.stdout and "2 received, 1 flagged (see the inbox)" in shown.stdout
        assert "Secret praise" not in shown.stdout
