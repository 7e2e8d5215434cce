"""Helpers for the CLI tests: run `python -m cli.main` as a subprocess against the test servers.

The CLI runs as its own process, the way a person or `make` runs it, while the test keeps a real
worker going in its own event loop: the subprocess is awaited (asyncio), never waited for with a
blocking call that would stall that worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


async def run_cli(*args: str, env: dict[str, str], stdin: bytes | None = None, timeout: float = 60.0) -> Result:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        *args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(stdin), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"postinterview {' '.join(args)} did not finish within {timeout} s") from None
    assert process.returncode is not None
    return Result(process.returncode, stdout.decode(), stderr.decode())


@pytest.fixture
def cli_env(dev_env: WorkflowEnvironment, store_url: str, task_queue: str) -> dict[str, str]:
    """What the CLI needs to reach this test's server, worker (by task queue) and store."""
    return {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": dev_env.client.namespace,
        "TASK_QUEUE": task_queue,
        "DATABASE_URL": store_url,
        "LOG_LEVEL": "WARNING",
        # Wide tables, so a title is on one line for the assertions.
        "COLUMNS": "250",
    }


def lifecycle_copies(directory: Path, application_id: str) -> dict[str, Path]:
    """The example events, for an application of the test's own (the dev server is shared)."""
    directory.mkdir(parents=True, exist_ok=True)
    copies = {}
    for example in sorted((EXAMPLES / "lifecycle").glob("*.json")):
        event = json.loads(example.read_text())
        event["application_id"] = application_id
        event["event_id"] = f"{application_id}-{example.stem}"
        copy = directory / example.name
        copy.write_text(json.dumps(event, indent=2))
        copies[example.stem[:2]] = copy
    return copies
