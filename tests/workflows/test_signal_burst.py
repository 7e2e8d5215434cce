"""An open-loop burst of thousands of signals to one process, on a worker with little CPU to
spare, is caught up with: every event applied once, the process still answering.

Before, a burst piled thousands of signals into one workflow task; decoding and handling them all
in one activation held the workflow thread past the SDK's 2 s deadlock limit ("Potential deadlock
detected"), the task failed, and its retry carried still more signals: the process never caught
up. Now the signal handler only appends to an inbox, and the process works the inbox off a batch
per activation (workflows/_arrivals.py, `workflow.patched("bounded-activations")`). The burst is
2000 signals by default (SIGNAL_BURST, BUSY_THREADS: the figures in bench/README.md, "Signal bursts").
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from domain import contract
from domain.status import RefereeState
from process_client import deliver_event
from tests.events import Application
from tests.harness import running_engine, status_when

# Override with SIGNAL_BURST to find the largest burst a machine catches up with (bench/README.md).
BURST = int(os.environ.get("SIGNAL_BURST", "2000"))


def _busy(stop: threading.Event) -> None:
    """Pure-Python work in the worker's own process: it competes with the workflow thread for the
    interpreter, as other workflows, activities and the SDK's own threads do on a loaded worker."""
    while not stop.is_set():
        sum(i * i for i in range(20_000))


@pytest.fixture
def busy_worker():
    stop = threading.Event()
    threads = [threading.Thread(target=_busy, args=(stop,), daemon=True) for _ in range(int(os.environ.get("BUSY_THREADS", "1")))]
    for thread in threads:
        thread.start()
    yield
    stop.set()
    for thread in threads:
        thread.join()


async def test_an_open_loop_burst_on_a_busy_worker_is_caught_up_with(dev_env, store_url, task_queue, activity_pool, tmp_path, busy_worker):
    app = Application()
    client = dev_env.client
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as store:
        await deliver_event(client, app.interview(1), task_queue)
        await deliver_event(client, app.references("ref-1"), task_queue)
        before = await status_when(client, app.source, app.application_id, lambda s: s.open_tasks and s.referees, what="the application's state")

        # The same interview reported again and again under new ids (a known round: no effect),
        # every one sent at once from a process of its own, never waiting for the worker.
        noise = [app.interview(1) for _ in range(BURST)]
        path = tmp_path / "burst.jsonl"
        path.write_text("".join(event.model_dump_json() + "\n" for event in noise))
        address = dev_env.client.service_client.config.target_host
        root = Path(__file__).parents[2]
        started = time.monotonic()
        sender = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.workflows.flood", address, str(path), "200", "--open", cwd=root, env={**os.environ, "PYTHONPATH": str(root)}
        )
        assert await sender.wait() == 0, "the burst failed: a signal was refused"

        # Every event taken, each once, and the process goes on: the next event is applied.
        sent = time.monotonic()

        def caught_up(status) -> bool:
            print(f"{time.monotonic() - started:6.1f} s: {status.events_seen - 2} of {BURST} events taken", file=sys.stderr)
            return status.events_seen == 2 + BURST

        after = await status_when(client, app.source, app.application_id, caught_up, timeout=600, what="every event")
        print(f"{BURST} signals sent in {sent - started:.1f} s, all taken {time.monotonic() - started:.1f} s after the first", file=sys.stderr)
        assert after.open_tasks == before.open_tasks and not after.rejected_events
        await deliver_event(client, app.event("referee.consented", {"referee_id": "ref-1"}), task_queue)
        await status_when(client, app.source, app.application_id, lambda s: s.referees[0].state != RefereeState.AWAITING_CONSENT and s.events_seen == 3 + BURST)


async def test_a_signal_that_is_not_an_event_is_dropped_and_the_process_goes_on(dev_env, store_url, task_queue, activity_pool):
    # The handler no longer decodes (the SDK used to drop what it could not): the process decodes
    # each payload later, and one that is not a canonical event must neither wedge it nor count.
    app = Application()
    client = dev_env.client
    async with running_engine(dev_env, store_url, task_queue, activity_pool):
        await deliver_event(client, app.interview(1), task_queue)
        await status_when(client, app.source, app.application_id, lambda s: s.open_tasks, what="the first task")
        handle = client.get_workflow_handle(app.workflow_id)
        for junk in ({"not": "an event"}, "text", 42, {**app.interview(1).model_dump(mode="json"), "occurred_at": "yesterday"}):
            await handle.signal(contract.EVENT_SIGNAL, junk)
        await deliver_event(client, app.references("ref-1"), task_queue)
        after = await status_when(client, app.source, app.application_id, lambda s: s.referees, what="the next event applied")
        assert after.events_seen == 2 and not after.rejected_events
