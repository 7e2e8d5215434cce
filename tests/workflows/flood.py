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

from domain.events import CanonicalEvent
from process_client import connect, signal_event


async def flood(address: str, path: Path, concurrency: int) -> int:
    client = await connect(address)
    events = [CanonicalEvent.model_validate_json(line) for line in path.read_text().splitlines() if line]
    for start in range(0, len(events), concurrency):
        await asyncio.gather(*(signal_event(client, event) for event in events[start : start + concurrency]))
    return len(events)


if __name__ == "__main__":
    address, path = sys.argv[1], Path(sys.argv[2])
    print(asyncio.run(flood(address, path, int(sys.argv[3]) if len(sys.argv) > 3 else 200)), "signals sent")
