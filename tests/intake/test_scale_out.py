"""Intake instances that scale out, as real processes: three `postinterview intake` and two
`postinterview worker` on one PostgreSQL and the dev server, an application's events posted to
different instances in turn. Every event is one `event` signal in its process's history, in the
order it was accepted, and an instance SIGKILLed in the middle of a burst loses nothing: its
claimed rows pass to the others when its lease (3 s here) runs out.

On SQLite, one forwarder per file: a second waits as a standby and takes over (test below).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from contextlib import AsyncExitStack

import httpx
import structlog
from sqlalchemy import create_engine, func, select

from intake.forwarder import Forwarder
from intake.signing import standard_webhook_headers
from store.intake_store import IntakeStore
from store.schema import deliveries
from tests.events import Application
from tests.harness import eventually, free_port
from tests.intake.test_forwarder import accept, signalled_event_ids
from tests.intake.test_service import EVENTS_SECRET
from tests.service.test_faults import _env, _event_signals, _kill, _start, intake_process


async def _post(http: httpx.AsyncClient, event) -> None:  # type: ignore[no-untyped-def]
    body = event.model_dump_json().encode()
    answer = await http.post("/events", content=body, headers={"content-type": "application/json", **standard_webhook_headers(body, EVENTS_SECRET)})
    assert answer.status_code == 200, answer.text


async def test_three_intakes_and_two_workers_signal_every_event_once_in_order_and_a_killed_one_loses_nothing(
    dev_env, postgres_schema_url, task_queue, tmp_path
):
    env = _env(postgres_schema_url, dev_env.client.service_client.config.target_host, task_queue)
    env["INTAKE_LEASE_SECONDS"] = "3"
    apps = [Application(source="api") for _ in range(8)]
    steps = [
        lambda app: app.interview(1),
        lambda app: app.references("ref-1"),
        lambda app: app.event("referee.consented", {"referee_id": "ref-1"}),
        lambda app: app.event("referee.responded", {"referee_id": "ref-1"}),
        lambda app: app.offer(),
        lambda app: app.offer("offer.accepted"),
    ]
    sent: dict[str, list[str]] = {app.workflow_id: [] for app in apps}
    ports = [free_port() for _ in range(3)]
    async with AsyncExitStack() as stack:
        workers = [_start([sys.executable, "-m", "cli.main", "worker"], env, tmp_path / f"worker-{n}.log") for n in (1, 2)]
        for worker in workers:
            stack.callback(_kill, worker)
        intakes = [await stack.enter_async_context(intake_process(env, port, tmp_path / f"intake-{n}.log")) for n, port in enumerate(ports)]
        https = [await stack.enter_async_context(httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)) for port in ports]
        alive = [0, 1, 2]
        turn = 0
        for number, step in enumerate(steps):
            # Each application's next event to the next instance in turn: never the same twice running.
            for app in apps:
                event = step(app)
                await _post(https[alive[turn % len(alive)]], event)
                sent[app.workflow_id].append(event.event_id)
                turn += 1
            if number == 2:
                # A burst for the third instance, then SIGKILL while its forwarder is at it.
                for app in apps:
                    event = app.event("interview.scheduled", {"interview_id": "int-2", "round": 2, "at": "2030-01-07T10:00:00+00:00"})
                    await _post(https[2], event)
                    sent[app.workflow_id].append(event.event_id)
                intakes[2].send_signal(signal.SIGKILL)
                intakes[2].wait(timeout=10)
                alive = [0, 1]

        table = create_engine(postgres_schema_url)
        stack.callback(table.dispose)

        def undelivered() -> int:
            with table.connect() as connection:
                return connection.execute(select(func.count()).where(deliveries.c.status != "delivered")).scalar_one()

        await eventually(lambda: undelivered() == 0, timeout=60, what="every accepted delivery forwarded")
        for workflow_id, event_ids in sent.items():
            # Exactly once each, in the order accepted, whichever instance accepted or delivered it.
            assert await _event_signals(dev_env.client, workflow_id) == event_ids, workflow_id
        with table.connect() as connection:
            forwarders = {row.claimed_by for row in connection.execute(select(deliveries.c.claimed_by))}
        assert len(forwarders) >= 2, f"the deliveries were shared out: {forwarders}"
        for worker in workers:
            assert worker.poll() is None, "the workers ran throughout"


async def test_on_sqlite_a_second_forwarder_waits_as_a_standby_and_takes_over(dev_env, tmp_path, task_queue):
    store_url = f"sqlite:///{tmp_path / 'intake.sqlite3'}"
    store = IntakeStore(store_url)

    async def same_client():
        return dev_env.client

    first = Forwarder(IntakeStore(store_url), same_client, task_queue, max_backoff=0.2)
    second = Forwarder(IntakeStore(store_url), same_client, task_queue, max_backoff=0.2)
    app = Application(source="api")
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        running_first = asyncio.create_task(first.run(stop_first, poll_interval=0.1))
        await asyncio.sleep(0.3)
        running_second = asyncio.create_task(second.run(stop_second, poll_interval=0.1))
        await eventually(lambda: any("waits as a standby" in entry["event"] for entry in logs), timeout=10, what="the standby to say so")
        accept(store, app.interview(1))
        await eventually(lambda: store.counts() == {"delivered": 1}, timeout=20, what="the first forwarder delivered")
        assert (first.stats.delivered, second.stats.delivered) == (1, 0)

        stop_first.set()
        await running_first
        accept(store, app.references("ref-1"))
        await eventually(lambda: store.counts() == {"delivered": 2}, timeout=20, what="the standby took over")
        assert second.stats.delivered == 1
        assert any("takes over" in entry["event"] for entry in logs)
        stop_second.set()
        await running_second
    assert len(await signalled_event_ids(dev_env, app.workflow_id)) == 2
    store.close()


async def test_an_intake_without_forwarder_accepts_and_a_separate_forwarder_delivers(dev_env, tmp_path, task_queue):
    store_url = f"sqlite:///{tmp_path / 'intake.sqlite3'}"
    env = _env(store_url, dev_env.client.service_client.config.target_host, task_queue)
    port = free_port()
    intake = _start([sys.executable, "-m", "cli.main", "intake", "--no-forwarder", "--port", str(port)], env, tmp_path / "intake.log")
    forwarder = None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:

            async def healthy() -> bool:
                assert intake.poll() is None, (tmp_path / "intake.log").read_text()[-2000:]
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(healthy, timeout=30, what="the intake to answer /healthz")
            app = Application(source="api")
            first = app.interview(1)
            await _post(http, first)
            await asyncio.sleep(2)
            store = IntakeStore(store_url)
            assert store.counts() == {"pending": 1}, "nothing delivers in an intake without its forwarder"
            forwarder = _start([sys.executable, "-m", "cli.main", "forwarder"], env, tmp_path / "forwarder.log")
            await eventually(lambda: store.counts() == {"delivered": 1}, timeout=30, what="the separate forwarder delivered it")
            assert await _event_signals(dev_env.client, app.workflow_id) == [first.event_id]
            store.close()
    finally:
        _kill(intake)
        if forwarder is not None:
            _kill(forwarder)
