"""Record the Greenhouse interview poller's histories that the replay tests hold its code to.

    .venv/bin/python -m tests.histories.record_harvest_poller [FOLDER]

Runs the poller on a dev server against the Harvest stand-in (real HTTP on loopback): a first
pass over two pages with a 429 on the way, an interview moved, then deleted, and enough passes to
continue as new; writes each run's history as JSON into FOLDER (default
tests/histories/2026-12-03-harvest-poller/), named `<workflow id>.run<N>.json`. When you change
the poller, keep the old folders and record a new one beside them.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.greenhouse_interviews import PollerConfig, poller_workflow_id
from process_client.greenhouse_interviews import ensure_poller, poller_state
from tests.harness import eventually, start_dev_server
from tests.workflows.test_greenhouse_interviews import application, harvest, interview, poller_worker, stored

HERE = Path(__file__).parent
ACCOUNT = "recorded"


async def record(folder: Path) -> list[Path]:
    env = await start_dev_server()
    written: list[Path] = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            store_url = f"sqlite:///{Path(scratch) / 'store.sqlite3'}"
            now = datetime.now(UTC).replace(microsecond=0)
            async with harvest() as server:
                stand_in = server.stand_in
                application(stand_in, 4684156, 53883394, "Kwame", "Mensah", {"id": 4102, "name": "Rita Reyes"})
                stand_in.schedule(interview(9128481, 4684156, now + timedelta(days=2)))
                stand_in.schedule(interview(9128482, 4684156, now - timedelta(hours=2), status="awaiting_feedback"))
                stand_in.schedule(interview(9128483, 4684156, now + timedelta(days=5)))
                stand_in.throttle(1, retry_after=1)
                config = PollerConfig(account=ACCOUNT, interval_seconds=1, per_page=2, passes_per_run=3)
                async with poller_worker(env.client, store_url, "record-harvest-poller", server.url):
                    await ensure_poller(env.client, config, "record-harvest-poller")
                    await eventually(lambda: len(stored(store_url)) >= 3, timeout=30, what="the first pass")
                    stand_in.schedule(interview(9128481, 4684156, now + timedelta(days=3)))
                    await eventually(lambda: len(stored(store_url)) >= 4, timeout=30, what="the reschedule")
                    stand_in.delete("9128481")
                    await eventually(lambda: len(stored(store_url)) >= 5, timeout=30, what="the cancellation")
                    await eventually(lambda: _passes(env, 2), timeout=30, what="passes in the second run")
                    handle = env.client.get_workflow_handle(poller_workflow_id(ACCOUNT))
                    await handle.terminate("recorded")
            folder.mkdir(parents=True, exist_ok=True)
            runs = []
            run_id: str | None = (await env.client.get_workflow_handle(poller_workflow_id(ACCOUNT)).describe()).run_id
            while run_id:
                history = await env.client.get_workflow_handle(poller_workflow_id(ACCOUNT), run_id=run_id).fetch_history()
                runs.append(history.to_json())
                run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id or None
            for number, text in enumerate(reversed(runs), 1):
                path = folder / f"{poller_workflow_id(ACCOUNT)}.run{number}.json"
                path.write_text(text)
                written.append(path)
    finally:
        await env.shutdown()
    return written


async def _passes(env, in_second_run: int) -> bool:  # type: ignore[no-untyped-def]
    description = await env.client.get_workflow_handle(poller_workflow_id(ACCOUNT)).describe()
    first_run = description.raw_description.workflow_execution_info.first_run_id
    state = await poller_state(env.client, ACCOUNT)
    return description.run_id != first_run and state.passes >= 3 + in_second_run


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "2026-12-03-harvest-poller"
    for path in asyncio.run(record(target)):
        print(path)
