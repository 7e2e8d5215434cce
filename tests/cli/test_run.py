"""`postinterview run`, end to end: its own dev server and worker, an event through `send-event`,
the process's `status`, Ctrl-C, and a restart on the same data directory.

This starts real processes on free ports; whatever happens, the `finally` kills what is left, so
a failing test never leaves a server behind for the next one.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.contract import TASK_QUEUE
from tests.cli.conftest import ROOT, lifecycle_copies, run_cli
from tests.harness import eventually, free_port

pytestmark = pytest.mark.asyncio(loop_scope="session")

READY = "Post-interview engine ready."
LAST_READY_LINE = "Ctrl-C stops the worker, then the dev server."


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead, merely not reaped (by whoever adopted it)
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


async def _get(url: str) -> Any:
    async with httpx.AsyncClient(timeout=5) as http:
        return (await http.get(url)).json()


async def _worker_started(metrics_port: int) -> bool:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    return any(line.startswith("temporal_worker_start{") and f'task_queue="{TASK_QUEUE}"' in line for line in text.splitlines())


async def _status_once(app_id: str, showing: str, env: dict[str, str]) -> Any:
    shown = await run_cli("status", "api", app_id, env=env)
    return shown if showing in shown.stdout else None


class Engine:
    """One `postinterview run` subprocess."""

    def __init__(self, port: int, ui_port: int, data_dir: Path, stderr: Path, intake_port: int = 0, metrics_port: int = 0) -> None:
        self.args = ["run", "--port", str(port), "--ui-port", str(ui_port), "--data-dir", str(data_dir), "--intake-port", str(intake_port)]
        # Never the default 9464: other runs on this machine may serve it.
        self.args += ["--metrics-port", str(metrics_port)]
        self.stderr_path = stderr
        self.process: asyncio.subprocess.Process | None = None
        self.server_pid: int | None = None
        self.output: list[str] = []

    async def start(self, timeout: float = 45.0) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE")}
        env.update(LOG_LEVEL="WARNING", TASK_QUEUE=TASK_QUEUE, PYTHONUNBUFFERED="1", COLUMNS="250")
        with open(self.stderr_path, "ab") as stderr:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cli.main", *self.args,
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
            )  # fmt: skip
        assert self.process.stdout is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while LAST_READY_LINE not in self.output:
            try:
                line = await asyncio.wait_for(self.process.stdout.readline(), max(deadline - loop.time(), 0.01))
            except TimeoutError:
                raise AssertionError(f"not ready within {timeout} s:\n{self.log()}") from None
            if not line:
                raise AssertionError(f"exited with {await self.process.wait()} before it was ready:\n{self.log()}")
            self.output.append(line.decode().strip())
        assert READY in self.output, self.log()
        pid = re.search(r"Temporal dev server .* \(pid (\d+)\)", "\n".join(self.output))
        assert pid, self.log()
        self.server_pid = int(pid.group(1))

    async def interrupt(self, timeout: float = 10.0) -> int:
        """Ctrl-C, as a terminal sends it to `make run`; the exit code."""
        assert self.process is not None and self.process.stdout is not None
        self.process.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(self.process.stdout.read(), timeout)
        self.output += rest.decode().splitlines()
        return await asyncio.wait_for(self.process.wait(), timeout)

    def kill_leftovers(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
        if self.server_pid is not None and alive(self.server_pid):
            os.kill(self.server_pid, signal.SIGKILL)

    def log(self) -> str:
        return "\n".join(self.output) + "\n--- stderr ---\n" + self.stderr_path.read_text(errors="replace")


async def test_run_serves_events_stops_cleanly_on_ctrl_c_and_restarts_on_its_data(tmp_path: Path):
    port, ui_port, intake_port, metrics_port = free_port(), free_port(), free_port(), free_port()
    data_dir = tmp_path / "data"
    app_id = "run-1001"
    event = lifecycle_copies(tmp_path / "events", app_id)["01"]
    env = {"TEMPORAL_ADDRESS": f"127.0.0.1:{port}", "TASK_QUEUE": TASK_QUEUE, "DATABASE_URL": f"sqlite:///{data_dir / 'postinterview.sqlite3'}", "COLUMNS": "250"}

    engine = Engine(port, ui_port, data_dir, tmp_path / "run.stderr", intake_port, metrics_port)
    try:
        await engine.start()
        ready = "\n".join(engine.output)
        assert f"Webhook intake       http://127.0.0.1:{intake_port}" in ready
        assert f"Worker metrics       http://127.0.0.1:{metrics_port}/metrics" in ready
        await eventually(lambda: _worker_started(metrics_port), what="the worker's metrics")
        health = await eventually(lambda: _get(f"http://127.0.0.1:{intake_port}/healthz"), what="the intake to answer")
        assert health == {"status": "ok"}
        assert f"http://localhost:{ui_port}" in ready
        assert "ProcessStage = 'references' AND SlaBreached = true" in ready
        assert f"Task store           {data_dir / 'postinterview.sqlite3'}" in ready
        assert f"export TEMPORAL_ADDRESS=127.0.0.1:{port} DATABASE_URL=sqlite:///{data_dir / 'postinterview.sqlite3'}" in ready
        assert "postinterview demo" in ready and "postinterview tasks" in ready
        assert (data_dir / "temporal.sqlite").exists()

        sent = await run_cli("send-event", str(event), env=env)
        assert sent.code == 0, sent.output
        assert sent.stdout.startswith(f"delivered      post-interview-api-{app_id}")
        shown = await eventually(lambda: _status_once(app_id, "book_debrief", env), timeout=60, what="the worker to handle the event")
        assert "Stage          debrief" in shown.stdout, shown.output

        server_pid = engine.server_pid
        assert server_pid is not None and alive(server_pid)
        loop = asyncio.get_running_loop()
        stopping = loop.time()
        assert await engine.interrupt() == 0, engine.log()
        assert loop.time() - stopping < 10
        assert not alive(server_pid), "the dev server outlived `postinterview run`"
        assert engine.output[-3:] == ["Worker and intake stopped.", f"Stopping the Temporal dev server (pid {server_pid}) ...", "Temporal dev server stopped (exit code 0)."]

        # Same flags, same database: the server starts again and the process is still there.
        engine = Engine(port, ui_port, data_dir, tmp_path / "restart.stderr")
        await engine.start()
        again = await run_cli("status", "api", app_id, "--json", env=env)
        assert again.code == 0, again.output + engine.log()
        assert '"stage": "debrief"' in again.stdout
        assert await engine.interrupt() == 0, engine.log()
        assert engine.server_pid is not None and not alive(engine.server_pid)
    finally:
        engine.kill_leftovers()
