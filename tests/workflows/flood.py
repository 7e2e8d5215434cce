"""Send many `event` signals fast, from a process of its own (as the intake would).

    python -m tests.workflows.flood ADDRESS EVENTS.jsonl [CONCURRENCY] [--open]

Each line of EVENTS.jsonl is a canonical event, signalled to its process in order, CONCURRENCY at
a time. Run apart from the worker under test: in the test's own process, the client's encoding
would compete with the worker's workflow thread for the interpreter, and starve it.

With `--open` the flood is open-loop: CONCURRENCY signals always in flight, never waiting for the
worker, so signals pile up on the server while a workflow task runs (a burst from a noisy ATS,
or many intakes at once).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from domain import contract
from domain.events import CanonicalEvent
from process_client import connect, signal_event


async def flood(address: str, path: Path, concurrency: int, open_loop: bool = False) -> int:
    client = await connect(address)
    events = [CanonicalEvent.model_validate_json(line) for line in path.read_text().splitlines() if line]
    if open_loop:
        slots = asyncio.Semaphore(concurrency)

        async def send(event: CanonicalEvent) -> None:
            async with slots:
                await signal_event(client, event)

        await asyncio.gather(*(send(event) for event in events))
        return len(events)
    for start in range(0, len(events), concurrency):
        batch = events[start : start + concurrency]
        await asyncio.gather(*(signal_event(client, event) for event in batch))
        # Closed loop, as the forwarder is (one application's events in order): a query is
        # answered only once the worker has taken every signal before it, so no workflow task
        # ever holds more than one batch.
        for workflow_id in dict.fromkeys(event.workflow_id for event in batch):
            await client.get_workflow_handle(workflow_id).query(contract.STATUS_QUERY)
    return len(events)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--open"]
    address, path = arguments[0], Path(arguments[1])
    sent = asyncio.run(flood(address, path, int(arguments[2]) if len(arguments) > 2 else 200, open_loop="--open" in sys.argv))
    print(sent, "signals sent", flush=True)
    # sdk-python#300 (as in tests/conftest.py): after the Temporal runtime has shut down the
    # interpreter can crash at exit (SIGABRT), and the test would take every signal sent for a
    # refused one. Every signal is sent by now: leave at once.
    sys.stderr.flush()
    os._exit(0)
