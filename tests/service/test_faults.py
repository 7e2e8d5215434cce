"""Faults in the suite: the intake and the worker are SIGKILLed as real processes (`postinterview
intake`, `postinterview worker`), at the moment that matters, and nothing is lost or done twice.

bench/faults.py does the same with hundreds of events in flight and also restarts Temporal and
PostgreSQL; these are the cases that are fast and deterministic enough for every run:

- the intake dies holding accepted deliveries it has not forwarded (Temporal was unreachable,
  so none could have been): a new intake on the same table delivers each exactly once;
- the worker dies inside an activity: test_worker_kill.py (a file of its own: it waits 30 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from intake.signing import standard_webhook_headers
from process_client import deliver_event, process_status
from store.schema import deliveries, tasks
from tests.events import Application
from tests.harness import eventually, free_port, running_engine
from tests.intake.test_service import EVENTS_SECRET

ROOT = Path(__file__).resolve().parents[2]


def _env(database_url: str, temporal_address: str, task_queue: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_SECRET", "_TOKEN", "_KEYS")) and k not in ("DATABASE_URL", "TEMPORAL_ADDRESS")}
    env.update(
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=temporal_address,
        TASK_QUEUE=task_queue,
        EVENTS_WEBHOOK_SECRET=EVENTS_SECRET,
        LINK_SIGNING_KEYS="faults-test-link-key",
        POSTINTERVIEW_LOCAL_RUN="1",
        LOG_LEVEL="info",
        PYTHONUNBUFFERED="1",
        # On PostgreSQL a killed intake's claims on the rows it held last until their lease ends
        # (INTAKE_LEASE_SECONDS): short here, so the next intake takes them over well within the
        # tests' waits, also on a loaded machine.
        INTAKE_LEASE_SECONDS="3",
    )
    return env


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


@asynccontextmanager
async def intake_process(env: dict[str, str], port: int, log: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    process = _start([sys.executable, "-m", "cli.main", "intake", "--port", str(port)], env, log)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as http:

            async def healthy() -> bool:
                assert process.poll() is None, log.read_text()[-2000:]
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(healthy, timeout=30, what="the intake to answer /healthz")
        yield process
    finally:
        _kill(process)


async def _event_signals(client: Client, workflow_id: str) -> list[str]:
    """The event ids of the `event` signals in the process's history."""
    found = []
    async for entry in client.get_workflow_handle(workflow_id).fetch_history_events():
        if entry.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attributes = entry.workflow_execution_signaled_event_attributes
            if attributes.signal_name == "event":
                found.append(json.loads(attributes.input.payloads[0].data)["event_id"])
    return found


async def test_an_intake_killed_with_accepted_deliveries_unsent_delivers_each_once_after_restart(
    dev_env, database_url, task_queue, activity_pool, tmp_path
):
    apps = [Application(source="api") for _ in range(4)]
    events = [app.interview(1) for app in apps] + [app.references("ref-1") for app in apps[:2]]
    port = free_port()
    unreachable = f"127.0.0.1:{free_port()}"  # nothing listens: the forwarder can deliver nothing
    async with intake_process(_env(database_url, unreachable, task_queue), port, tmp_path / "intake-1.log") as first:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for event in events:
                body = event.model_dump_json().encode()
                answer = await http.post("/events", content=body, headers={"content-type": "application/json", **standard_webhook_headers(body, EVENTS_SECRET)})
                assert answer.status_code == 200, answer.text
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    table = create_engine(database_url)
    try:
        with table.connect() as connection:
            statuses = Counter(dict(connection.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status)).all()))
        assert statuses == {"pending": len(events)}, statuses  # accepted, none forwarded, the intake dead

        async with running_engine(dev_env, database_url, task_queue, activity_pool):
            async with intake_process(_env(database_url, dev_env.client.service_client.config.target_host, task_queue), port, tmp_path / "intake-2.log"):

                def all_delivered() -> bool:
                    with table.connect() as connection:
                        return connection.execute(select(func.count()).where(deliveries.c.status != "delivered")).scalar_one() == 0

                await eventually(lambda: all_delivered(), timeout=30, what="every accepted delivery forwarded by the new intake")
                for app in apps:
                    expected = sorted(e.event_id for e in events if e.application_id == app.application_id)
                    status = await eventually(
                        lambda app=app, n=len(expected): _status_if(dev_env.client, app, n), timeout=20, what=f"{app.application_id} applied its events"
                    )
                    assert status.events_seen == len(expected)
                    assert sorted(await _event_signals(dev_env.client, app.workflow_id)) == expected  # each signalled once
    finally:
        table.dispose()


async def _status_if(client: Client, app: Application, events_seen: int):  # noqa: ANN202
    status = await process_status(client, app.source, app.application_id)
    return status if status.events_seen >= events_seen else None
