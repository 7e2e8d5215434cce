"""Many open processes on one machine: how fast they start, how soon each has its first task, and
what they cost the worker's memory and the Temporal server's storage.

    python bench/open_processes.py                    # 500 processes: a quick run (about a minute)
    python bench/open_processes.py --processes 10000  # the documented run (bench/README.md)

One run starts a Temporal dev server of its own (`temporal server start-dev`, the engine's search
attributes, its state in a SQLite file in a temp directory, so the storage is measurable) and the
real worker (`postinterview worker` in a subprocess: the shipped settings, the task store on a temp
SQLite file, WORKER_MAX_CACHED_WORKFLOWS = `--cache`), then:

  1. starts M PostInterviewProcesses, each a new application's `interview.completed`, by
     signal-with-start (`process_client.deliver_event`) with `--concurrency` in flight: the start
     rate (processes/s, the server's acknowledgement of each);
  2. waits until every one has its first task in the store (the book-a-debrief task: the process
     ran its first workflow task, loaded its policy, created the task): the time from the first
     start until the last process's task, and that rate;
  3. reads the worker's resident memory (VmRSS now, VmHWM its peak) with its cache bound, the
     dev server's storage (its SQLite file with WAL, before and after, per process) and the task
     store's per process, and the CPU seconds each of them spent.

Each process then waits on durable timers (its debrief reminder and escalation, days away): this
is the steady state of M open processes. Nothing here is asserted: it prints the figures; exit 0,
or 2 when it could not run. Every wait is bounded (`--timeout`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from sqlalchemy import create_engine, func, select  # noqa: E402

from bench.intake_throughput import free_port, start_subprocess, stop_subprocess  # noqa: E402
from cli.dev_server import DevServer, DevServerConfig  # noqa: E402
from process_client import deliver_event  # noqa: E402
from store.schema import tasks  # noqa: E402
from tests.events import Application  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def say(text: str) -> None:
    print(text, flush=True)


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident) of a process, in KiB; empty once it is gone."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    except OSError:
        pass
    return found


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / CLK_TCK


def storage_bytes(database: Path) -> int:
    """A SQLite database's size on disk, with its write-ahead log."""
    return sum(path.stat().st_size for path in database.parent.glob(database.name + "*") if path.is_file())


def mib(value: float) -> str:
    return f"{value / 1024 / 1024:.1f} MiB"


async def run(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="open-processes-"))
    config = DevServerConfig(port=free_port(), ui_port=free_port(), data_dir=tmp / "temporal", log_level="error")
    server = DevServer(config)
    worker: subprocess.Popen[bytes] | None = None
    store_path = tmp / "store.sqlite3"
    task_queue = f"bench-open-{uuid.uuid4().hex[:8]}"
    try:
        say(f"starting the Temporal dev server (state in {config.db_file}) ...")
        server.start()
        client = await server.wait_until_ready(timeout=120)
        assert server.pid is not None
        env = {
            **os.environ,
            "PYTHONPATH": str(PROJECT),
            "TEMPORAL_ADDRESS": config.address,
            "TASK_QUEUE": task_queue,
            "DATABASE_URL": f"sqlite:///{store_path}",
            "WORKER_MAX_CACHED_WORKFLOWS": str(args.cache),
            "LOG_LEVEL": "WARNING",
        }
        # Compiled modules, as an installed image has them (the sandbox otherwise compiles the
        # workflow modules for every new run), in a cache of the run's own.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        say(f"starting the worker (postinterview worker, cache bound {args.cache} runs) ...")
        worker = start_subprocess([sys.executable, "-m", "cli.main", "worker"], tmp / "worker.log", env)
        engine = create_engine(f"sqlite:///{store_path}")

        def first_tasks() -> int:
            try:
                with engine.connect() as connection:
                    query = select(func.count(func.distinct(tasks.c.process_id))).where(tasks.c.process_id.like("post-interview-%"))
                    return int(connection.execute(query).scalar_one())
            except Exception:  # noqa: BLE001 - the worker has not created the table yet
                return 0

        async def wait_for(count: int, deadline: float, what: str) -> float | None:
            while time.monotonic() < deadline:
                if await asyncio.to_thread(first_tasks) >= count:
                    return time.monotonic()
                if worker is not None and worker.poll() is not None:
                    raise RuntimeError(f"the worker exited ({worker.returncode}); see {tmp / 'worker.log'}")
                await asyncio.sleep(0.5)
            say(f"gave up waiting for {what} after {args.timeout:.0f} s")
            return None

        # Warm-up: the worker polls and has run one process end to end.
        await deliver_event(client, Application(source="api").interview(1), task_queue)
        if await wait_for(1, time.monotonic() + 120, "the warm-up process's first task") is None:
            return 2
        baseline_tasks = await asyncio.to_thread(first_tasks)
        storage_before = storage_bytes(config.db_file)
        store_before = storage_bytes(store_path)
        cpu_before = {"worker": cpu_seconds(worker.pid), "dev server": cpu_seconds(server.pid)}
        rss_idle = memory_kib(worker.pid).get("VmRSS", 0)  # the worker with one process run: its base

        say(f"starting {args.processes} processes, {args.concurrency} in flight ...")
        events = [Application(source="api").interview(1) for _ in range(args.processes)]
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(len(events)):
            queue.put_nowait(index)
        peak = {"VmRSS": 0, "VmHWM": 0}

        async def starter() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                await deliver_event(client, events[index], task_queue)

        async def sample_memory(stop: asyncio.Event) -> None:
            while not stop.is_set():
                now = memory_kib(worker.pid)
                peak["VmRSS"] = max(peak["VmRSS"], now.get("VmRSS", 0))
                await asyncio.sleep(1)

        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(sample_memory(stop_sampling))
        started = time.monotonic()
        await asyncio.gather(*(starter() for _ in range(args.concurrency)))
        all_started = time.monotonic()
        start_seconds = all_started - started
        say(f"  started in {start_seconds:.1f} s; waiting for every first task ...")
        done = await wait_for(baseline_tasks + args.processes, started + args.timeout, "every first task")
        stop_sampling.set()
        await sampler
        reached = await asyncio.to_thread(first_tasks) - baseline_tasks
        # Let the server settle (its last writes, the worker's idle cache) before reading sizes.
        await asyncio.sleep(5)
        memory = memory_kib(worker.pid)
        cpu = {"worker": cpu_seconds(worker.pid) - cpu_before["worker"], "dev server": cpu_seconds(server.pid) - cpu_before["dev server"]}
        storage = storage_bytes(config.db_file) - storage_before
        store = storage_bytes(store_path) - store_before

        # What one process's history holds at this point (a sample), for extrapolating storage.
        sample = [events[i] for i in range(0, len(events), max(1, len(events) // 20))]
        lengths, sizes = [], []
        for event in sample:
            history = await client.get_workflow_handle(f"post-interview-{event.source}-{event.application_id}").fetch_history()
            lengths.append(len(history.events))
            sizes.append(sum(each.ByteSize() for each in history.events))  # protobuf bytes, as the server keeps them

        say("")
        say(f"processes started:                 {args.processes} in {start_seconds:.1f} s = {args.processes / start_seconds:.0f} processes/s ({args.concurrency} in flight)")
        if done is not None:
            total = done - started
            say(f"every one with its first task:     {total:.1f} s after the first start = {args.processes / total:.0f} processes/s end to end")
        else:
            say(f"every one with its first task:     NOT REACHED within {args.timeout:.0f} s ({reached} of {args.processes})")
        cached = min(args.cache, args.processes + 1)
        grown = memory.get("VmRSS", 0) - rss_idle
        say(f"worker resident memory:            {mib(memory.get('VmRSS', 0) * 1024)} now, {mib(max(peak['VmRSS'], memory.get('VmHWM', 0)) * 1024)} peak (cache bound {args.cache} runs)")
        say(f"                                   {mib(rss_idle * 1024)} after the warm-up: {grown / cached:.0f} KiB more per cached run ({cached} cached)")
        say(f"dev server storage (SQLite + WAL): {mib(storage)} for {args.processes} = {storage / args.processes / 1024:.1f} KiB per process")
        say(f"history per process (sample of {len(sample)}): {sum(lengths) / len(lengths):.0f} events, {sum(sizes) / len(sizes) / 1024:.1f} KiB of protobuf events")
        say(f"task store (SQLite + WAL):         {mib(store)} = {store / args.processes / 1024:.1f} KiB per process")
        say(f"CPU: worker {cpu['worker']:.0f} s ({cpu['worker'] / args.processes * 1000:.1f} ms per process), dev server {cpu['dev server']:.0f} s ({cpu['dev server'] / args.processes * 1000:.1f} ms per process)")
        say(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
        engine.dispose()
        return 0
    finally:
        stop_subprocess(worker)
        server.stop()
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=500, help="processes to start (default 500; the documented run: 10000)")
    parser.add_argument("--concurrency", type=int, default=32, help="signal-with-starts in flight")
    parser.add_argument("--cache", type=int, default=1000, help="WORKER_MAX_CACHED_WORKFLOWS for the worker (default: the shipped 1000)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for every first task")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (the server's and the store's files, the worker's log)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))
    try:
        sys.exit(asyncio.run(run(args)))
    except KeyboardInterrupt:
        sys.exit(2)


if __name__ == "__main__":
    main()
