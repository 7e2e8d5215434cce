"""Record the `Notify` workflow's histories that tests/workflows/test_notify.py replays.

    .venv/bin/python -m tests.histories.record_notify

Kept apart from record.py (and one folder deeper, under notify/, so the main replay test's
`*/*.json` does not see them): a delivery runs beside the processes, with its own SMTP server and
HTTP receiver. Like record.py, each recording goes into a new dated folder and old folders stay:
they stand for deliveries still waiting out quiet hours when a change to workflows/delivery.py is
deployed. File names are the workflow ids with "/" quoted (`%2F`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from domain.contract import notify_workflow_id
from process_client import deliver_event
from activities.channel_settings import TeamsWebhooks
from tests.channel_servers import all_channels, http_receiver, smtp_server
from tests.events import Application
from tests.harness import eventually, running_engine, start_time_skipping_server
from tests.teams_webhook import teams_webhooks, webhook_url

HERE = Path(__file__).parent / "notify"


def default_folder() -> Path:
    today = __import__("datetime").date.today().isoformat()
    taken = {p.name for p in HERE.iterdir() if p.is_dir()} if HERE.exists() else set()
    suffix = next(letter for letter in "abcdefghijklmnopqrstuvwxyz" if f"{today}{letter}" not in taken)
    return HERE / f"{today}{suffix}"


def night_zone(now) -> str:
    offset = (2 - now.hour) % 24
    return f"Etc/GMT{-(offset - 24 if offset > 12 else offset):+d}"


async def record(out: Path | None = None) -> list[Path]:
    out = out or default_folder()
    out.mkdir(parents=True, exist_ok=True)
    env = await start_time_skipping_server()
    written = []
    try:
        task_queue = f"record-{uuid.uuid4()}"
        with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(8) as pool, smtp_server() as (_, port):
            async with http_receiver() as (receiver, url):
                async with running_engine(env, f"sqlite:///{tmp}/store.sqlite3", task_queue, pool, channels=all_channels(port, url)):
                    # A candidate interviewed at night: the recruiter's task goes out on every
                    # channel at once, the candidate's questions wait for their morning.
                    app = Application(application_id="rec-notify")
                    app.candidate["timezone"] = night_zone(await env.get_current_time())
                    await deliver_event(env.client, app.interview(1), task_queue)
                    task_id = notify_workflow_id("task", f"{app.workflow_id}/debrief/1/book-call")
                    message_id = notify_workflow_id("message", f"{app.workflow_id}/debrief/1/questions")
                    await _closed(env, task_id)
                    await env.sleep(timedelta(hours=7))
                    await _closed(env, message_id)
                    # A Slack webhook that was deleted (404): the task's delivery fails on it.
                    refused = Application(application_id="rec-notify-refused")
                    receiver.slack_failures.append(404)
                    await deliver_event(env.client, refused.interview(1), task_queue)
                    refused_id = notify_workflow_id("task", f"{refused.workflow_id}/debrief/1/book-call")
                    await _closed(env, refused_id)
                # A task delivered to Microsoft Teams too (the channel added by the teams-channel
                # branch), after Teams throttled the first post: its own worker, so the deliveries
                # above stay as they were recorded before.
                async with teams_webhooks() as (teams, base):
                    channels = dataclasses.replace(all_channels(port, url), teams=TeamsWebhooks(default=webhook_url(base, "agency")))
                    teams_queue = f"{task_queue}-teams"
                    async with running_engine(env, f"sqlite:///{tmp}/store.sqlite3", teams_queue, pool, channels=channels):
                        teams.fail("agency", 429, "1")
                        in_teams = Application(application_id="rec-notify-teams")
                        await deliver_event(env.client, in_teams.interview(1), teams_queue)
                        teams_id = notify_workflow_id("task", f"{in_teams.workflow_id}/debrief/1/book-call")
                        await _closed(env, teams_id)
                    for workflow_id in (task_id, message_id, refused_id, teams_id):
                        history = await env.client.get_workflow_handle(workflow_id).fetch_history()
                        path = out / f"{quote(workflow_id, safe='')}.json"
                        path.write_text(history.to_json())
                        written.append(path)
    finally:
        await env.shutdown()
    return written


async def _closed(env: WorkflowEnvironment, workflow_id: str) -> None:
    async def is_closed() -> bool:
        return (await env.client.get_workflow_handle(workflow_id).describe()).status != WorkflowExecutionStatus.RUNNING

    await eventually(is_closed, timeout=30, what=f"{workflow_id} to close")


if __name__ == "__main__":
    import sys

    for path in asyncio.run(record(HERE / sys.argv[1] if len(sys.argv) > 1 else None)):
        print(f"recorded {path}")
