"""`postinterview demo-webhooks` end to end: a real `postinterview run` (dev server, worker, intake)
generates its local webhook secrets, the demo signs a few candidates' ATS webhooks with them, and
the processes end up at the stages the webhooks mean. Plus the secrets' rules, without servers.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from cli.local_secrets import ensure_local_secrets, read_secrets_file
from domain import contract
from domain.contract import TASK_QUEUE
from domain.status import ProcessStatus
from intake.config import SECRET_SETTINGS
from process_client import connect
from tests.cli.conftest import run_cli
from tests.cli.test_run import Engine
from tests.harness import free_port

# " 5/18  greenhouse hire_candidate            200 duplicate the same Greenhouse-Event-ID as #4: ..."
WEBHOOK_LINE = re.compile(
    r"^\s*(?P<number>\d+)/(?P<total>\d+)\s+(?P<vendor>greenhouse|lever|ashby|events)\s+(?P<action>\S+)\s+"
    r"(?P<code>\d{3})\s+(?P<status>\S+)\s+(?P<detail>.*)$",
    re.MULTILINE,
)
PROCESS_LINE = re.compile(r"^\s+(?P<workflow_id>post-interview-\S+)\s+(?P<stage>[a-z_]+)\s", re.MULTILINE)


@pytest.fixture
def no_secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine and the demo must find no secret but the ones `run` generates."""
    for name in (*SECRET_SETTINGS, "INTAKE_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.asyncio(loop_scope="session")
async def test_demo_webhooks_against_a_running_engine(tmp_path: Path, no_secrets_in_env: None):
    port, ui_port, intake_port = free_port(), free_port(), free_port()
    data_dir = tmp_path / "data"
    secrets_path = data_dir / "intake-secrets.env"
    engine = Engine(port, ui_port, data_dir, tmp_path / "run.stderr", intake_port)
    try:
        await engine.start()
        # The local secrets: generated once, private, named in the output but never shown.
        assert stat.S_IMODE(secrets_path.stat().st_mode) == 0o600
        local = read_secrets_file(secrets_path)
        assert set(local) == set(SECRET_SETTINGS)
        assert local["EVENTS_WEBHOOK_SECRET"].startswith("whsec_")
        assert str(secrets_path) in "\n".join(engine.output), engine.log()

        env = {"TEMPORAL_ADDRESS": f"127.0.0.1:{port}", "TASK_QUEUE": TASK_QUEUE, "COLUMNS": "250", "LOG_LEVEL": "WARNING"}
        shown = await run_cli(
            "demo-webhooks", "--url", f"http://127.0.0.1:{intake_port}", "--data-dir", str(data_dir), "--pause", "0", env=env
        )
        assert shown.code == 0, shown.output + engine.log()

        webhooks = list(WEBHOOK_LINE.finditer(shown.stdout))
        assert webhooks, shown.output
        total = int(webhooks[0]["total"])
        assert [int(w["number"]) for w in webhooks] == list(range(1, total + 1)), shown.stdout
        assert {w["vendor"] for w in webhooks} == {"greenhouse", "lever", "ashby", "events"}
        assert all(200 <= int(w["code"]) < 300 for w in webhooks), shown.stdout
        statuses = [w["status"] for w in webhooks]
        assert set(statuses) == {"accepted", "ignored", "duplicate"}, shown.stdout
        # The delivery sent twice on purpose: acknowledged (200), not applied again.
        duplicate = next(w for w in webhooks if w["status"] == "duplicate")
        assert duplicate["code"] == "200" and "same Greenhouse-Event-ID as #" in duplicate["detail"]
        assert f"All {total} webhooks acknowledged (2xx)." in shown.stdout

        # Every process the demo lists exists, at the stage its webhooks mean (asked independently).
        listed = {m["workflow_id"]: m["stage"] for m in PROCESS_LINE.finditer(shown.stdout)}
        assert len(listed) >= 4, shown.stdout
        client = await connect(f"127.0.0.1:{port}")
        stages: dict[str, list[str]] = {}
        for workflow_id, stage in listed.items():
            handle = client.get_workflow_handle(workflow_id, result_type=ProcessStatus)
            status = await handle.query(contract.STATUS_QUERY, result_type=ProcessStatus)
            assert status.stage.value == stage
            stages.setdefault(status.source, []).append(stage)
        assert {source: sorted(found) for source, found in stages.items()} == {
            # The third Greenhouse application's debrief comes from its interview in the Harvest
            # stand-in `run` serves, through the interview poller: no webhook at all.
            "greenhouse": ["debrief", "debrief", "offer"],
            "lever": ["closed"],
            "ashby": ["offer"],
            "api": ["references"],
        }, shown.stdout

        harvest_line = next(line for line in shown.stdout.splitlines() if line.strip().startswith("harvest "))
        assert "still scheduled -> the engine's interview poller makes it interview.scheduled with its end" in harvest_line, shown.stdout
        from_harvest = _harvest_story(shown.stdout)
        assert listed.get(from_harvest) == "debrief", shown.stdout
        status = await client.get_workflow_handle(from_harvest).query(contract.STATUS_QUERY, result_type=ProcessStatus)
        assert [task.kind for task in status.open_tasks] == ["book_debrief"] and status.open_tasks[0].assignee == "4102"
        assert [d.round for d in status.debriefs] == [1]
        # The poller's own view: the stand-in's account, its interview seen, nothing wrong.
        pollers = await run_cli("greenhouse-interviews", env={**env, "DATABASE_URL": f"sqlite:///{data_dir / 'postinterview.sqlite3'}"})
        assert pollers.code == 0, pollers.output
        assert "account local-stand-in" in pollers.stdout and "1 scheduled" in pollers.stdout and "Last error" not in pollers.stdout
        # The applicant screened out before any interview: accepted, and nothing started.
        screened = re.search(r"^\s+Sam Doe \(greenhouse (\d+)\): no process, nothing created: never interviewed", shown.stdout, re.MULTILINE)
        assert screened, shown.stdout
        assert [w async for w in client.list_workflows(f"WorkflowId = '{contract.post_interview_workflow_id('greenhouse', screened[1])}'")] == []

        for value in local.values():
            assert value not in shown.output and value not in engine.log()
        assert await engine.interrupt() == 0, engine.log()
        assert engine.output[-1] == "Temporal dev server stopped (exit code 0)."
    finally:
        engine.kill_leftovers()


def _harvest_story(stdout: str) -> str:
    """The workflow id of the story whose interview is only in Harvest ("Nadia Rahman (greenhouse application N)")."""
    found = re.search(r"Nadia Rahman \(greenhouse application (\d+)\)", stdout)
    assert found, stdout
    return f"post-interview-greenhouse-{found[1]}"


def test_run_keeps_a_secret_only_for_what_is_configured_nowhere(tmp_path: Path):
    config = tmp_path / "intake.toml"
    config.write_text('[secrets]\nASHBY_WEBHOOK_SECRET = "from-the-config-file"\n')
    environ = {"INTAKE_CONFIG": str(config), "GREENHOUSE_WEBHOOK_SECRET": "from-the-environment"}

    first = ensure_local_secrets(tmp_path / "data", environ)
    assert first is not None
    path = tmp_path / "data" / "intake-secrets.env"
    assert first.path == path and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.generated == first.exported == ("LEVER_WEBHOOK_SIGNATURE_TOKEN", "EVENTS_WEBHOOK_SECRET")
    written = read_secrets_file(path)
    assert set(written) == {"LEVER_WEBHOOK_SIGNATURE_TOKEN", "EVENTS_WEBHOOK_SECRET"}  # configured ones are not written
    assert environ["GREENHOUSE_WEBHOOK_SECRET"] == "from-the-environment" and "ASHBY_WEBHOOK_SECRET" not in environ
    assert {name: environ[name] for name in written} == written
    assert str(path) in first.describe() and not any(value in first.describe() for value in written.values())

    # Once only: the next start takes them from the file.
    again: dict[str, str] = {"INTAKE_CONFIG": str(config)}
    second = ensure_local_secrets(tmp_path / "data", again)
    assert second is not None and second.generated == ("GREENHOUSE_WEBHOOK_SECRET",)
    assert {name: again[name] for name in written} == written
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    everything = {name: "set" for name in SECRET_SETTINGS}
    assert ensure_local_secrets(tmp_path / "elsewhere", {**everything, "INTAKE_CONFIG": str(config)}) is None
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.asyncio(loop_scope="session")
async def test_demo_webhooks_without_secrets_says_where_they_come_from(tmp_path: Path, no_secrets_in_env: None):
    shown = await run_cli("demo-webhooks", "--data-dir", str(tmp_path / "nowhere"), env={"COLUMNS": "250"})
    assert shown.code == 1, shown.output
    assert str(tmp_path / "nowhere" / "intake-secrets.env") in shown.stderr
    assert "make run" in shown.stderr and "GREENHOUSE_WEBHOOK_SECRET" in shown.stderr
