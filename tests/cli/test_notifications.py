"""`postinterview notifications`: where each message and task was delivered, read from the store."""

from __future__ import annotations

import json

from domain.follow_through import MessageRequest, Recipient
from store.notification_store import NotificationStore
from store.task_store import TaskStore
from tests.cli.conftest import run_cli

PROCESS = "post-interview-greenhouse-4410"


async def test_notifications_list_the_deliveries_and_single_out_the_unknown(store_url):
    store = TaskStore(store_url)
    store.add_message(
        MessageRequest(
            key=f"{PROCESS}/debrief/1/questions",
            process_id=PROCESS,
            recipient=Recipient(role="candidate", id="cand-1", email="ada@example.com"),
            template="debrief_questions",
        ),
        "How did it go?",
        "Hi Ada",
    )
    notes = NotificationStore(store.engine)
    sent = f"message:{PROCESS}/debrief/1/questions:email"
    notes.claim(sent, "message", f"{PROCESS}/debrief/1/questions", "email")
    notes.mark_sent(sent, "<abc@agency.example>")
    doubtful = f"task:{PROCESS}/debrief/1/book-call:slack"
    notes.claim(doubtful, "task", f"{PROCESS}/debrief/1/book-call", "slack")
    notes.mark_unknown(doubtful, "Slack webhook: connection lost waiting for the answer (ReadTimeout)")
    notes.record_skipped("task:post-interview-lever-9/x:email", "task", "post-interview-lever-9/x", "email", "the assignee has no email address")
    store.close()
    env = {"DATABASE_URL": store_url, "LOG_LEVEL": "WARNING", "COLUMNS": "250"}

    listing = await run_cli("notifications", "--process", PROCESS, env=env)
    assert listing.code == 0, listing.output
    assert "2 deliveries" in listing.stdout and "ReadTimeout" in listing.stdout and "lever" not in listing.stdout

    unknown = json.loads((await run_cli("notifications", "--status", "unknown", "--json", env=env)).stdout)
    assert [(n["key"], n["status"], n["attempts"]) for n in unknown] == [(doubtful, "unknown", 1)]

    # The message list says where each message went.
    messages = await run_cli("messages", env=env)
    assert "debrief/1/questions (email sent)" in messages.stdout, messages.output

    none_failed = await run_cli("notifications", "--status", "failed", env=env)
    assert none_failed.code == 0 and none_failed.stdout.startswith("No failed deliveries in ")


def test_an_incomplete_channel_setting_stops_the_engine_before_it_starts(tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()
    for command in (["worker"], ["run", "--data-dir", str(tmp_path / "data")]):
        result = runner.invoke(app, command, env={"SMTP_HOST": "smtp.example", "SMTP_FROM": "", "TEMPORAL_ADDRESS": "127.0.0.1:1"})
        assert result.exit_code == 2, result.output
        assert "cannot deliver: SMTP_HOST is set, so SMTP_FROM must be the sender's address" in result.stderr
    assert not (tmp_path / "data").exists()  # no dev server, no secrets: nothing was started
