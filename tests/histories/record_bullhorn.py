"""Record the Bullhorn poller's histories that the replay tests hold it to.

    .venv/bin/python -m tests.histories.record_bullhorn [FOLDER]

Runs the poller on the dev server against the Bullhorn stand-in, through what a poller meets:
subscribing, empty polls on the idle timer, batches of changes, an expired session and a 429
(a failed attempt, then a retry), a batch lost on the way and fetched again by its requestId,
continue-as-new after `polls_per_run` polls, and a `stop`. Each run's history goes to
`tests/histories/2026-12-03-bullhorn/` (or FOLDER) as `<workflow id>.run<N>.json`. When you
change the poller, keep this folder (running pollers must still replay) and record into a new one.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from activities.ats_api.bullhorn_mapping import BullhornConfig
from cli.bullhorn import start_poller
from cli.bullhorn_standin import BullhornStandIn, seed_agency
from domain.bullhorn import BullhornPollerState, subscription_id
from tests.harness import eventually, running_engine, start_dev_server
from tests.histories.record import _histories
from tests.workflows.test_bullhorn_poller import ACCOUNT, _take_a_batch, connect

HERE = Path(__file__).parent
FOLDER = HERE / "2026-12-03-bullhorn"
CONFIG = BullhornConfig.from_dict({"poller": {"idle_seconds": 1, "polls_per_run": 4}})


async def _polls(handle, at_least: int) -> bool:  # type: ignore[no-untyped-def]
    return (await handle.query("status", result_type=BullhornPollerState)).polls >= at_least


async def record(out: Path = FOLDER) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    env = await start_dev_server()
    written = []
    try:
        with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(8) as pool, BullhornStandIn() as bullhorn:
            seed_agency(bullhorn)
            store_url = f"sqlite:///{tmp}/store.sqlite3"
            connect(bullhorn, store_url)
            task_queue = f"record-{uuid.uuid4()}"
            async with running_engine(env, store_url, task_queue, pool):
                workflow_id = await start_poller(env.client, task_queue, ACCOUNT, CONFIG)
                handle = env.client.get_workflow_handle(workflow_id)
                await eventually(lambda: _polls(handle, 2), what="empty polls")
                begin = int(time.time() * 1000) + 2 * 86_400_000
                bullhorn.change("Appointment", 8801, "INSERTED", type="Interview", dateBegin=begin, dateEnd=begin + 3_600_000, isDeleted=False,
                                candidateReference={"id": 301}, jobOrder={"id": 77}, parentAppointment=None)
                bullhorn.change("JobSubmission", 5502, status="Client Rejected")
                await eventually(lambda: bullhorn.pending_events(subscription_id(ACCOUNT)) == 0, what="the first batch taken")
                bullhorn.expire_sessions()
                bullhorn.throttle(1)
                bullhorn.change("JobSubmission", 5501, status="Offer Extended")
                await eventually(lambda: bullhorn.pending_events(subscription_id(ACCOUNT)) == 0, what="the second batch taken")
                await eventually(lambda: _polls(handle, 6), what="a second run")
            # The worker is gone; a batch is taken and lost before it was stored.
            bullhorn.change("Placement", 9901, "INSERTED", status="Approved", dateBegin=begin + 30 * 86_400_000,
                            candidate={"id": 301}, jobOrder={"id": 77}, jobSubmission={"id": 5501})
            _take_a_batch(bullhorn)
            async with running_engine(env, store_url, task_queue, pool):
                await eventually(lambda: _polls(handle, 9), what="the lost batch fetched again")
                await handle.signal("stop")
                await handle.result()
                for index, text in enumerate(await _histories(env.client, workflow_id)):
                    path = out / f"{workflow_id}.run{index + 1}.json"
                    path.write_text(text)
                    written.append(path)
    finally:
        await env.shutdown()
    return written


if __name__ == "__main__":
    for path in asyncio.run(record(Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER)):
        print(f"recorded {path}")
