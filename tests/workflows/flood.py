"""Send many `event` signals fast, from a process of its own (as the intake would).

    python -m tests.workflows.flood ADDRESS EVENTS.jsonl [CONCURRENCY]

Each line of EVENTS.jsonl is a canonical event, signalled to its process in order, CONCURRENCY at
a time. Run apart from the worker under test: in the test's own process, the client's encoding
would compete with the worker's workflow thread for the interpreter, and starve it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from domain import contract
from domain.events import CanonicalEvent
from process_client import connect, signal_event


async def flood(address: str, path: Path, concurrency: int) -> int:
    client = await connect(address)
    events = [CanonicalEvent.model_validate_json(line) for line in path.read_text().splitlines() if line]
    for start in range(0, len(events), concurrency):
        batch = events[start : start + concurrency]
        await asyncio.gather(*(signal_event(client, event) for event in batch))
        # Closed loop, as the forwarder is (one application's events in order): a query is
        # answered only once the worker has taken every signal before it, so no workflow task
        # ever holds more than one batch. An open-loop flood on a busy machine piles thousands
        # of signals into one task, past the SDK's 2 s deadlock limit (noted on issue 12).
        for workflow_id in dict.fromkeys(event.workflow_id for event in batch):
            await client.get_workflow_handle(workflow_id).query(contract.STATUS_QUERY)
    return len(events)


if __name__ == "__main__":
    address, path = sys.argv[1], Path(sys.argv[2])
    print(asyncio.run(flood(address, path, int(sys.argv[3]) if len(sys.argv) > 3 else 200)), "signals sent")
