"""Webhook intake throughput and acknowledgement latency, against one Temporal dev server.

    python bench/intake_throughput.py                      # SQLite intake store (a temp file)
    python bench/intake_throughput.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

One run starts a Temporal dev server (in memory, the engine's search attributes registered) and
the real worker (`worker.build_worker`, task store on a temp SQLite file, in a subprocess of its
own so its CPU is accounted apart), then measures:

  (a) raw client:  `process_client.deliver_event` (signal-with-start), N events, each a new
      application's `interview.completed`, `--concurrency` in flight: events/s.
  (b) intake:      the same kind of events as signed Standard Webhooks, POSTed to /events of the
      real intake (`python -m cli.main intake` in a subprocess) with `--concurrency` in flight,
      timed from the first POST until the intake table shows every row `delivered` (the largest
      delivered_at): end-to-end events/s, and the POSTs' acknowledgement latency.
      Target: (b) / (a) >= 0.8.
      The load generator is a minimal asyncio HTTP/1.1 client (about 0.2 ms of CPU per POST);
      `--client httpx` uses httpx.AsyncClient instead, spread over several clients of 8
      connections (one httpx pool of 64 costs more CPU per request than the intake does, and on
      2 cores the load generator then measures itself).
  (a) and (b) run in `--rounds` rounds each (default 2), in the order a b b a (then a b ...):
      the dev server slows down as it holds more processes, so a fixed order would favour
      whichever phase ran first; alternating gives both the same mean server age. Each rate is
      over all its rounds (events summed, seconds summed); each round is printed too.
  (c) paced:       open-loop POSTs at 0.5 x the end-to-end rate of (b), each sent at its scheduled
      time whatever the earlier ones are doing; latency counted from the scheduled time.
      Target: acknowledgement p99 < 50 ms.

Before each phase a few warm-up events go the same way and are waited for; after each phase the
worker is waited for (every process has created its first task and message) so a phase never
pays for the previous one's backlog. CPU seconds of every process involved are read from /proc
per phase, and so is the CPU the rest of the machine used meanwhile (a noisy neighbour shows).

Diagnostics (see bench/README.md): `--client httpx` (a common but costly load generator),
`--no-worker` (nothing competes with the intake for the two cores), `--paced-rate`, `--profile
DIR` (py-spy, CPU samples of the intake, this client and the worker), `--keep`.

Every loop is bounded in count and in time (`--timeout` per wait); traffic stays on 127.0.0.1.
The exit code is 0 whether the targets are met or missed; 2 when the benchmark could not run.
A PostgreSQL store gets a schema of its own for the run (dropped at the end), like the tests do.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

import httpx  # noqa: E402
from sqlalchemy import create_engine, func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.schema import CreateSchema, DropSchema  # noqa: E402

from domain.events import CanonicalEvent  # noqa: E402
from intake.signing import standard_webhook_headers  # noqa: E402
from store.schema import deliveries, messages, tasks  # noqa: E402
from tests.events import Application  # noqa: E402

ACK_RATIO_TARGET = 0.8
PACED_P99_TARGET_MS = 50.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- small helpers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


async def bounded_wait(check: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """Call `check` (sync) every `interval` until it returns something truthy; None at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(interval)


def event_for(app: Application) -> CanonicalEvent:
    return app.interview(1)


# --- CPU accounting --------------------------------------------------------------------------------


def _proc_cpu(pid: int) -> float:
    """utime + stime of a process and its reaped children, in seconds (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is state (field 3); utime, stime, cutime, cstime are fields 14..17.
    return sum(int(value) for value in fields[11:15]) / CLK_TCK


def _machine() -> dict[str, float]:
    """CPU seconds since boot, all cores: busy (not idle), kernel interrupt work, stolen by the host."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    return {
        "busy": (user + nice + system + irq + softirq + steal) / CLK_TCK,
        "irq": (irq + softirq) / CLK_TCK,
        "steal": steal / CLK_TCK,
    }


def _threads(pid: int) -> Counter[str]:
    """CPU seconds per thread name (digits folded: asyncio_0..5 -> asyncio_#) of a live process."""
    found: Counter[str] = Counter()
    try:
        tids = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tids:
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = re.sub(r"\d+", "#", stat[stat.index("(") + 1 : stat.rindex(")")])
        fields = stat.rsplit(")", 1)[1].split()
        found[name] += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return found


def _main_thread_cpu(pid: int) -> float:
    """CPU seconds of a process's main thread (its asyncio event loop): /proc/PID/task/PID."""
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _every_process() -> dict[int, tuple[str, float]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat.rsplit(")", 1)[1].split()
            found[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return found


def child_pids(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(entry.name))
    return found


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


@dataclass
class CpuMeter:
    """CPU seconds per named process, and the machine's, between start() and stop()."""

    pids: dict[str, int]
    used: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0
    others: str = ""  # the busiest processes not ours
    threads: dict[str, str] = field(default_factory=dict)  # per process, its busiest threads

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._before = {name: _proc_cpu(pid) for name, pid in self.pids.items()}
        self._machine0 = _machine()
        self._all0 = _every_process()
        self._threads0 = {name: _threads(pid) for name, pid in self.pids.items()}

    def stop(self) -> None:
        self.wall = time.monotonic() - self._t0
        self.used = {name: _proc_cpu(pid) - self._before[name] for name, pid in self.pids.items()}
        self.threads = {}
        for name, pid in self.pids.items():
            after = _threads(pid)
            after.subtract(self._threads0[name])
            self.threads[name] = ", ".join(f"{thread} {cpu:.1f}" for thread, cpu in after.most_common(4) if cpu >= 0.05)
        machine = {key: value - self._machine0[key] for key, value in _machine().items()}
        ours = set(self.pids.values())
        by_name: Counter[str] = Counter()
        for pid, (name, cpu) in _every_process().items():
            if pid not in ours:
                by_name[name] += cpu - self._all0.get(pid, (name, 0.0))[1]
        if by_name.get("postgres"):
            self.used["postgresql server"] = by_name.pop("postgres")
        self.others = ", ".join(f"{name} {cpu:.2f} s" for name, cpu in by_name.most_common(3) if cpu >= 0.05)
        self.used["kernel irq/softirq"] = machine["irq"]
        self.used["stolen by the host"] = machine["steal"]
        self.used["other processes"] = max(0.0, machine["busy"] - sum(self.used.values()))
        self.used["machine total"] = machine["busy"]


# --- the processes: Temporal, worker, intake --------------------------------------------------------


async def serve_worker(address: str, task_queue: str, store_path: str, log_level: str) -> None:
    """--serve-worker: the real worker until SIGTERM; prints `ready` once it polls."""
    from domain.policy import load_policy_book
    from process_client import connect
    from service.log_setup import configure_logging
    from store.task_store import TaskStore
    from worker import build_worker

    configure_logging(log_level)
    client = await connect(address)
    store = TaskStore(f"sqlite:///{store_path}")
    book = load_policy_book(PROJECT / "config" / "policy.toml")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with build_worker(client, store, book, task_queue):
        print("ready", flush=True)
        await stop.wait()
    store.close()


def _die_with_parent() -> None:
    """In the child: SIGTERM when the benchmark dies, however it dies (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


def start_subprocess(argv: list[str], log_file: Path, env: dict[str, str] | None = None, pipe: bool = False) -> subprocess.Popen[bytes]:
    """`pipe`: its stdout is read here (the worker's `ready`); otherwise it goes to the log too."""
    with log_file.open("wb") as log:
        return subprocess.Popen(
            argv, cwd=PROJECT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if pipe else log, stderr=log,
            start_new_session=True, preexec_fn=_die_with_parent,
        )


def stop_subprocess(process: subprocess.Popen[bytes] | None, grace: float = 40.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


async def wait_for_line(process: subprocess.Popen[bytes], expected: bytes, timeout: float) -> bool:
    assert process.stdout is not None
    stdout = process.stdout

    def read() -> bool:
        for _ in range(1000):  # bounded: the worker prints one line
            line = stdout.readline()
            if not line:
                return False
            if line.strip() == expected:
                return True
        return False

    try:
        return await asyncio.wait_for(asyncio.to_thread(read), timeout)
    except TimeoutError:
        return False


# --- the intake table and the task store, read from here -------------------------------------------


class Observer:
    """Reads the intake table (rows after `baseline`) and the worker's task store."""

    def __init__(self, intake_url: str, task_store_path: Path) -> None:
        self.intake = create_engine(intake_url, pool_size=2, hide_parameters=True) if not intake_url.startswith("sqlite") else create_engine(intake_url, hide_parameters=True)
        self.tasks = create_engine(f"sqlite:///{task_store_path}", hide_parameters=True)

    def close(self) -> None:
        self.intake.dispose()
        self.tasks.dispose()

    def last_id(self) -> int:
        try:
            with self.intake.connect() as connection:
                return connection.execute(select(func.coalesce(func.max(deliveries.c.id), 0))).scalar_one()
        except Exception:  # noqa: BLE001 - the intake has not created its table yet
            return 0

    def statuses(self, after: int) -> dict[str, int]:
        with self.intake.connect() as connection:
            rows = connection.execute(
                select(deliveries.c.status, func.count()).where(deliveries.c.id > after).group_by(deliveries.c.status)
            ).all()
        return {status: count for status, count in rows}

    def delivered(self, after: int, expected: int) -> bool:
        return self.statuses(after).get("delivered", 0) >= expected

    def times(self, after: int) -> list[tuple[datetime, datetime | None]]:
        with self.intake.connect() as connection:
            rows = connection.execute(
                select(deliveries.c.received_at, deliveries.c.delivered_at).where(deliveries.c.id > after)
            ).all()
        # The dialect-neutral column type gives aware datetimes on both backends.
        return [(_aware(r.received_at), _aware(r.delivered_at) if r.delivered_at else None) for r in rows]

    def worker_progress(self) -> tuple[int, int]:
        try:
            with self.tasks.connect() as connection:
                task_count = connection.execute(select(func.count()).select_from(tasks)).scalar_one()
                message_count = connection.execute(select(func.count()).select_from(messages)).scalar_one()
        except Exception:  # noqa: BLE001 - no activity has created the tables' first row yet
            return 0, 0
        return task_count, message_count


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- load generation ---------------------------------------------------------------------------------


@dataclass
class LoadResult:
    n: int
    wall_start: float  # time.time() of the first request
    elapsed: float  # first request to last response (s)
    latencies: list[float]  # per request, seconds
    statuses: Counter[Any]
    send_lag: list[float] = field(default_factory=list)  # open loop: actual send - scheduled send
    service: list[float] = field(default_factory=list)  # open loop: response - actual send

    @property
    def rate(self) -> float:
        return self.n / self.elapsed if self.elapsed > 0 else float("nan")


async def closed_loop(n: int, concurrency: int, call: Callable[[int], Awaitable[Any]], timeout: float) -> LoadResult:
    """`concurrency` callers, each taking the next index until all n are done."""
    latencies = [float("nan")] * n
    statuses: Counter[Any] = Counter()
    indices = iter(range(n))

    async def caller() -> None:
        for i in indices:
            started = time.perf_counter()
            try:
                statuses[await call(i)] += 1
            except Exception as error:  # noqa: BLE001 - counted, reported
                statuses[type(error).__name__] += 1
            latencies[i] = time.perf_counter() - started

    wall_start, t0 = time.time(), time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(caller() for _ in range(concurrency))), timeout)
    except TimeoutError:
        statuses["timed out"] += sum(1 for value in latencies if value != value)
    return LoadResult(n, wall_start, time.perf_counter() - t0, [v for v in latencies if v == v], statuses)


async def open_loop(n: int, rate: float, call: Callable[[int], Awaitable[Any]], timeout: float) -> LoadResult:
    """Request i is sent at start + i / rate, whether or not earlier ones have been answered."""
    latencies = [float("nan")] * n
    service = [float("nan")] * n
    lag = [float("nan")] * n
    statuses: Counter[Any] = Counter()

    async def one(i: int, scheduled: float) -> None:
        sent = time.perf_counter()
        lag[i] = sent - scheduled
        try:
            statuses[await call(i)] += 1
        except Exception as error:  # noqa: BLE001 - counted, reported
            statuses[type(error).__name__] += 1
        done = time.perf_counter()
        latencies[i] = done - scheduled
        service[i] = done - sent

    start = time.perf_counter() + 0.05
    wall_start = time.time() + 0.05
    running = []
    for i in range(n):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        running.append(asyncio.create_task(one(i, scheduled)))
    try:
        await asyncio.wait_for(asyncio.gather(*running), timeout)
    except TimeoutError:
        for task in running:
            task.cancel()
        statuses["timed out"] += sum(1 for value in latencies if value != value)
    elapsed = time.perf_counter() - start
    keep = [i for i in range(n) if latencies[i] == latencies[i]]
    return LoadResult(
        n, wall_start, elapsed, [latencies[i] for i in keep], statuses, [lag[i] for i in keep], [service[i] for i in keep]
    )


def signed_posts(count: int, secret: str) -> list[tuple[bytes, dict[str, str]]]:
    """Canonical interview.completed events of new applications, signed as Standard Webhooks."""
    posts = []
    for _ in range(count):
        body = event_for(Application(source="api")).model_dump_json().encode()
        posts.append((body, {"content-type": "application/json", **standard_webhook_headers(body, secret)}))
    return posts


class HttpxPoster:
    """httpx.AsyncClient, split into `shards` clients sharing the connections round-robin.

    One httpx pool scans all of its connections for every request it assigns (httpcore's
    `_assign_requests_to_connections`); with 64 connections in one pool that scan, not the
    intake, is what a 2-core machine runs out of. Several small pools send the same traffic.
    """

    name = "httpx"

    def __init__(self, base: httpx.URL, connections: int, shards: int) -> None:
        shards = max(1, min(shards, connections))
        per = -(-connections // shards)
        limits = httpx.Limits(max_connections=per, max_keepalive_connections=per)
        self.clients = [httpx.AsyncClient(base_url=base, timeout=30, limits=limits) for _ in range(shards)]
        self.describe = f"httpx.AsyncClient x {shards} ({per} connections each)"

    async def post(self, i: int, body: bytes, headers: dict[str, str]) -> int:
        return (await self.clients[i % len(self.clients)].post("/events", content=body, headers=headers)).status_code

    async def health(self, i: int) -> int:
        return (await self.clients[i % len(self.clients)].get("/healthz")).status_code

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


class RawPoster:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: the control for the load
    generator's own cost (`--client raw`). Content-Length bodies only, which is what uvicorn sends."""

    name = "raw"
    KEEP_ALIVE = 4.0  # seconds a connection may stay idle and still be reused (uvicorn's limit is 5)

    def __init__(self, base: httpx.URL, connections: int) -> None:
        self.host, self.port = base.host, base.port or 80
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.slots = asyncio.Semaphore(connections)
        self.describe = f"raw asyncio HTTP/1.1 client ({connections} connections)"

    async def _exchange(self, request: bytes) -> int:
        async with self.slots:
            for _ in range(4):
                reader = writer = None
                while self.idle:
                    reader, writer, last_used = self.idle.pop()
                    if time.monotonic() - last_used < self.KEEP_ALIVE:
                        break
                    writer.close()  # uvicorn drops a connection idle for 5 s: don't race it
                    reader = writer = None
                reused = writer is not None
                if reader is None or writer is None:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                try:
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    lines = head.split(b"\r\n")
                    status = int(lines[0].split()[1])
                    length, close = 0, False
                    for line in lines[1:]:
                        name, _, value = line.partition(b":")
                        name = name.strip().lower()
                        if name == b"content-length":
                            length = int(value)
                        elif name == b"connection" and value.strip().lower() == b"close":
                            close = True
                    await reader.readexactly(length)
                except (ConnectionError, asyncio.IncompleteReadError):
                    writer.close()
                    if reused:
                        continue  # the server had closed that idle connection: take another
                    raise
                if close:
                    writer.close()
                else:
                    self.idle.append((reader, writer, time.monotonic()))
                return status
        raise ConnectionError("no connection to the intake would take the request")

    async def post(self, i: int, body: bytes, headers: dict[str, str]) -> int:
        lines = ["POST /events HTTP/1.1", f"host: {self.host}:{self.port}", f"content-length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return await self._exchange(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    async def health(self, i: int) -> int:
        return await self._exchange(f"GET /healthz HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n\r\n".encode())

    async def aclose(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()
        self.idle.clear()


Poster = HttpxPoster | RawPoster


def post_caller(poster: Poster, posts: list[tuple[bytes, dict[str, str]]]) -> Callable[[int], Awaitable[int]]:
    async def call(i: int) -> int:
        body, headers = posts[i]
        return await poster.post(i, body, headers)

    return call


# --- the benchmark -------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    load: LoadResult
    cpu: CpuMeter
    end_to_end: float | None = None  # s, first request to the last row delivered
    delivered: int = 0
    delivery_lag: list[float] = field(default_factory=list)  # s, received_at -> delivered_at per row
    worker_caught_up: float | None = None  # s after the last response
    batches: list[int] = field(default_factory=list)  # rows per forwarder batch, in order
    loop_busy: dict[str, tuple[float, float]] = field(default_factory=dict)  # event-loop thread CPU share: answering, after
    forwarded: list[float] = field(default_factory=list)  # wall time of each signal-with-start's return (from the log)
    rounds: list[Phase] = field(default_factory=list)  # a phase combined from rounds: its rounds

    @property
    def e2e_rate(self) -> float | None:
        return self.delivered / self.end_to_end if self.end_to_end else None


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="intake-bench-"))
        self.task_store_path = self.tmp / "tasks.sqlite3"
        self.task_queue = f"bench-{uuid.uuid4().hex[:8]}"
        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.workflows_started = 0
        self.env: Any = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.intake: subprocess.Popen[bytes] | None = None
        self.schema: str | None = None
        self.intake_url = ""
        self.observer: Observer | None = None
        self.pids: dict[str, int] = {}
        self.notes: list[str] = []
        self.client_used = ""

    # set-up and tear-down

    def intake_database(self) -> str:
        url = self.args.database_url
        if not url:
            return f"sqlite:///{self.tmp / 'intake.sqlite3'}"
        if make_url(url).get_backend_name() == "postgresql":
            self.schema = f"bench_{uuid.uuid4().hex[:12]}"
            admin = create_engine(url, hide_parameters=True)
            with admin.begin() as connection:
                connection.execute(CreateSchema(self.schema))
            admin.dispose()
            return make_url(url).update_query_dict({"options": f"-csearch_path={self.schema}"}).render_as_string(hide_password=False)
        return url

    async def start(self) -> None:
        from temporalio.contrib.pydantic import pydantic_data_converter
        from temporalio.testing import WorkflowEnvironment

        from domain.contract import SEARCH_ATTRIBUTES

        say(f"starting the Temporal dev server ({self.args.temporal_bin}) ...")
        before = set(child_pids(os.getpid()))
        self.env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(self.args.temporal_bin),
            search_attributes=SEARCH_ATTRIBUTES,
            data_converter=pydantic_data_converter,
            ui=False,
            dev_server_log_level="error",
        )
        self.address = self.env.client.service_client.config.target_host
        servers = [pid for pid in child_pids(os.getpid()) if pid not in before and process_name(pid).startswith("temporal")]
        if servers:
            self.pids["temporal dev server"] = servers[0]
        say(f"  Temporal at {self.address}; task queue {self.task_queue}")

        self.intake_url = self.intake_database()
        self.observer = Observer(self.intake_url, self.task_store_path)
        if not self.args.worker:
            say("NO WORKER (--no-worker, a diagnostic): processes are started but nothing runs them")
            return
        say("starting the worker (worker.build_worker, task store on a temp SQLite file) ...")
        self.worker = start_subprocess(
            [sys.executable, str(Path(__file__).resolve()), "--serve-worker", self.address, self.task_queue,
             str(self.task_store_path), self.args.log_level],
            self.tmp / "worker.log",
            self.subprocess_env(),
            pipe=True,
        )
        if not await wait_for_line(self.worker, b"ready", 90):
            raise SetupError(f"the worker did not start; see {self.tmp / 'worker.log'}")
        self.pids["worker"] = self.worker.pid

    def subprocess_env(self) -> dict[str, str]:
        """The worker's and the intake's environment. A deployed image has its modules compiled
        (pip compiles what it installs); a shell with PYTHONDONTWRITEBYTECODE=1 running from the
        sources has not, and the workflow sandbox then compiles the workflow modules from source
        for every new workflow run. By default the bytecode goes to a cache in the temp directory
        (never into the repository), as deployed; --no-bytecode-cache keeps the caller's setting."""
        # The bench's own dev server is plaintext on loopback: a Temporal profile, API key or
        # certificate in the caller's shell is for another server.
        env = {key: value for key, value in os.environ.items() if not key.startswith("TEMPORAL_")}
        if self.args.bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(self.tmp / "pycache")
        return env

    async def start_intake(self) -> httpx.URL:
        port = free_port()
        env = {
            **self.subprocess_env(),
            "DATABASE_URL": self.intake_url,
            "TEMPORAL_ADDRESS": self.address,
            "EVENTS_WEBHOOK_SECRET": self.secret,
            "TASK_QUEUE": self.task_queue,
            "LOG_LEVEL": self.args.log_level,
        }
        say(f"starting the intake: python -m cli.main intake --port {port} (LOG_LEVEL={self.args.log_level}) ...")
        self.intake = start_subprocess([sys.executable, "-m", "cli.main", "intake", "--port", str(port)], self.tmp / "intake.log", env)
        base = httpx.URL(f"http://127.0.0.1:{port}")
        async with httpx.AsyncClient(base_url=base, timeout=2) as http:
            for _ in range(300):  # 30 s at most
                if self.intake.poll() is not None:
                    break
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        self.pids["intake"] = self.intake.pid
                        return base
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise SetupError(f"the intake did not answer /healthz; see {self.tmp / 'intake.log'}")

    async def close(self) -> None:
        stop_subprocess(self.intake)
        stop_subprocess(self.worker)
        if self.observer:
            self.observer.close()
        if self.env is not None:
            await self.env.shutdown()
        if self.schema:
            admin = create_engine(self.args.database_url, hide_parameters=True)
            with admin.begin() as connection:
                connection.execute(DropSchema(self.schema, cascade=True))
            admin.dispose()
        if self.args.keep:
            say(f"kept {self.tmp} (worker.log, intake.log, the SQLite files)")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # waiting

    async def worker_drained(self, since: float | None = None) -> float | None:
        """Wait until every process started so far has created its first task and message."""
        assert self.observer
        if not self.args.worker:
            return None
        expected = self.workflows_started
        done = await bounded_wait(
            lambda: (lambda t, m: t >= expected and m >= expected)(*self.observer.worker_progress()), self.args.timeout, 0.1
        )
        if not done:
            tasks_, messages_ = self.observer.worker_progress()
            self.notes.append(f"the worker had not caught up after {self.args.timeout:.0f} s ({tasks_} tasks, {messages_} messages of {expected})")
            return None
        caught_up = time.perf_counter() - since if since is not None else None
        await asyncio.sleep(1.0)  # the workflow task that follows the last activity
        return caught_up

    # phases

    async def phase_raw(self, name: str, n: int) -> Phase:
        from process_client import connect, deliver_event

        # The forwarder's own kind of client (process_client.connect: the same data converter,
        # and the same payload encryption if PAYLOAD_ENCRYPTION_KEYS is set).
        client = await connect(self.address)
        warmup = self.args.warmup

        async def send(events: list[CanonicalEvent], i: int) -> str:
            return (await deliver_event(client, events[i], self.task_queue)).value

        warm = [event_for(Application(source="api")) for _ in range(warmup)]
        await closed_loop(warmup, min(self.args.concurrency, warmup), lambda i: send(warm, i), self.args.timeout)
        self.workflows_started += warmup
        await self.worker_drained()

        events = [event_for(Application(source="api")) for _ in range(n)]
        say(f"{name}: {n} signal-with-starts, {self.args.concurrency} in flight ...")
        cpu = CpuMeter({"bench (client)": os.getpid(), **self.pids})
        cpu.start()
        load = await closed_loop(n, self.args.concurrency, lambda i: send(events, i), self.args.timeout)
        cpu.stop()
        responded = time.perf_counter()
        self.workflows_started += n
        phase = Phase(name, load, cpu, delivered=load.statuses.get("delivered", 0))
        phase.end_to_end = load.elapsed
        phase.worker_caught_up = await self.worker_drained(responded)
        return phase

    async def _intake_phase(self, name: str, http: Poster, n: int, run: Callable[[Callable[[int], Awaitable[int]]], Awaitable[LoadResult]]) -> Phase:
        assert self.observer
        posts = signed_posts(n, self.secret)
        baseline = self.observer.last_id()
        profiler = self.start_profiler(name)
        loops = {who: self.pids[who] for who in ("intake",) if who in self.pids}
        loop_cpu = [{who: _main_thread_cpu(pid) for who, pid in loops.items()}]
        cpu = CpuMeter({"bench (HTTP client)": os.getpid(), **self.pids})
        cpu.start()
        load = await run(post_caller(http, posts))
        responded = time.perf_counter()
        loop_cpu.append({who: _main_thread_cpu(pid) for who, pid in loops.items()})
        accepted = load.statuses.get(200, 0)
        if accepted < n:
            self.notes.append(f"{name}: {n - accepted} of {n} POSTs not accepted: {dict(load.statuses)}")
        done = await bounded_wait(lambda: self.observer.delivered(baseline, accepted), self.args.timeout, 0.05)
        cpu.stop()
        loop_cpu.append({who: _main_thread_cpu(pid) for who, pid in loops.items()})
        answering, after = load.elapsed, max(1e-6, time.perf_counter() - responded)
        self.workflows_started += accepted
        phase = Phase(name, load, cpu)
        phase.loop_busy = {
            who: ((loop_cpu[1][who] - loop_cpu[0][who]) / answering, (loop_cpu[2][who] - loop_cpu[1][who]) / after) for who in loops
        }
        times = self.observer.times(baseline)
        delivered_at = [d for _, d in times if d is not None]
        phase.delivered = len(delivered_at)
        if not done:
            self.notes.append(f"{name}: only {phase.delivered} of {accepted} rows delivered after {self.args.timeout:.0f} s: {self.observer.statuses(baseline)}")
        if delivered_at:
            phase.end_to_end = max(delivered_at).timestamp() - load.wall_start
        phase.delivery_lag = [(d - r).total_seconds() for r, d in times if d is not None]
        # The forwarder marks a whole batch delivered at once: one delivered_at per batch.
        by_batch = Counter(delivered_at)
        phase.batches = [by_batch[moment] for moment in sorted(by_batch)]
        self.stop_profiler(profiler)
        phase.forwarded = self.forwarded_times(baseline)
        phase.worker_caught_up = await self.worker_drained(responded)
        return phase

    def forwarded_times(self, after: int) -> list[float]:
        """When each signal-with-start of the rows after `after` returned, from the forwarder's
        INFO log line `event forwarded` (a row is marked delivered only with its whole batch)."""
        found = []
        for log_name in ("intake.log",):
            path = self.tmp / log_name
            if not path.exists():
                continue
            with path.open(encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    if '"event forwarded"' not in line:
                        continue
                    try:
                        record = json.loads(line)
                        if int(record["delivery_id"]) > after:
                            found.append(datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp())
                    except (ValueError, KeyError, TypeError):
                        continue
        return sorted(found)

    def start_profiler(self, phase: str) -> list[subprocess.Popen[bytes]]:
        """--profile DIR: py-spy samples the intake, this process (the HTTP client) and the worker
        during the phase: every thread, idle ones too, as collapsed stacks."""
        if not self.args.profile:
            return []
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        directory = Path(self.args.profile)
        directory.mkdir(parents=True, exist_ok=True)
        tag = phase.split()[0].strip("()")
        spies = []
        for name, pid in (("intake", self.pids.get("intake")), ("client", os.getpid()), ("worker", self.pids.get("worker"))):
            if pid is None:
                continue
            out = directory / f"{name}-{tag}.txt"
            argv = [spy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw", "--threads", "--nonblocking", "--output", str(out)]
            spies.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent))
        say(f"  py-spy records the intake, the client and the worker into {directory}/*-{tag}.txt")
        return spies

    def stop_profiler(self, spies: list[subprocess.Popen[bytes]]) -> None:
        for spy in spies:
            if spy.poll() is None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for spy in spies:
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait(timeout=10)

    async def warm_up(self, http: Poster, posts: list[tuple[bytes, dict[str, str]]], concurrency: int, baseline: int) -> None:
        assert self.observer
        load = await closed_loop(len(posts), concurrency, post_caller(http, posts), self.args.timeout)
        accepted = load.statuses.get(200, 0)
        if accepted < len(posts):
            self.notes.append(f"warm-up: {len(posts) - accepted} of {len(posts)} POSTs not accepted: {dict(load.statuses)}")
        self.workflows_started += accepted
        await bounded_wait(lambda: self.observer.delivered(baseline, accepted), self.args.timeout)
        await self.worker_drained()

    async def reopen_connections(self, http: Poster, count: int) -> None:
        """uvicorn closes a keep-alive connection after 5 s idle: open `count` again right before a phase."""
        answers = await asyncio.gather(*(http.health(i) for i in range(count)), return_exceptions=True)
        failed = [a for a in answers if isinstance(a, BaseException)]
        if failed:
            # A connection the server had just closed; a second round finds fresh ones.
            await asyncio.gather(*(http.health(i) for i in range(len(failed))), return_exceptions=True)

    def poster(self, base: httpx.URL, connections: int) -> Poster:
        if self.args.client == "raw":
            return RawPoster(base, connections)
        return HttpxPoster(base, connections, max(1, connections // self.args.connections_per_client))

    async def phase_burst(self, base: httpx.URL, name: str, n: int) -> Phase:
        """(b): `n` signed POSTs, `--concurrency` in flight, timed until every row is delivered."""
        args = self.args
        http = self.poster(base, args.concurrency)
        self.client_used = http.describe
        try:
            warm = signed_posts(args.warmup, self.secret)
            baseline = self.observer.last_id() if self.observer else 0
            await self.warm_up(http, warm, min(args.concurrency, args.warmup), baseline)
            await self.reopen_connections(http, args.concurrency)
            say(f"{name}: {n} signed POST /events, {args.concurrency} in flight ({http.describe}), until all delivered ...")
            return await self._intake_phase(name, http, n, lambda call: closed_loop(n, args.concurrency, call, args.timeout))
        finally:
            await http.aclose()

    async def phase_paced(self, base: httpx.URL, rate: float) -> Phase:
        """(c): open-loop POSTs at `rate`, latency counted from each one's scheduled time."""
        args = self.args
        n = max(1, min(args.paced_events, int(rate * args.paced_seconds)))
        # Open loop: enough connections that a slow answer never holds back the next send.
        http = self.poster(base, args.paced_connections)
        why = "--paced-rate" if args.paced_rate else "0.5 x the end-to-end peak"
        say(f"(c) intake, paced: {n} POSTs open-loop at {rate:.1f}/s ({why}; {http.describe}) ...")
        try:
            # Open a handful of keep-alive connections first, so (c) measures answers, not handshakes.
            warm = signed_posts(min(args.warmup, 16), self.secret)
            baseline = self.observer.last_id() if self.observer else 0
            await self.warm_up(http, warm, len(warm), baseline)
            await self.reopen_connections(http, len(warm))
            paced = await self._intake_phase("(c) intake, paced", http, n, lambda call: open_loop(n, rate, call, args.timeout + n / rate))
        finally:
            await http.aclose()
        paced.target_rate = rate  # type: ignore[attr-defined]
        return paced


def round_order(rounds: int) -> list[str]:
    """Which phase goes when: a b, then b a, then a b ... ("ABBA"). The dev server gets slower
    as it holds more processes (the same raw client went at 105 and then at 61 events/s, before
    and after the intake's phases, on one server), so whichever phase ran first would look
    faster. Alternating the order gives (a) and (b) the same mean server age: a drift that is
    linear in the processes held cancels out of the ratio exactly."""
    order: list[str] = []
    for r in range(rounds):
        order += ["a", "b"] if r % 2 == 0 else ["b", "a"]
    return order


def combined(name: str, phases: list[Phase]) -> Phase:
    """The rounds of one kind as one phase: events and seconds summed (a rate over all of them),
    latencies pooled, CPU summed."""
    first = phases[0]
    load = LoadResult(
        n=sum(p.load.n for p in phases),
        wall_start=first.load.wall_start,
        elapsed=sum(p.load.elapsed for p in phases),
        latencies=[v for p in phases for v in p.load.latencies],
        statuses=sum((p.load.statuses for p in phases), Counter()),
    )
    cpu = CpuMeter(first.cpu.pids)
    cpu.wall = sum(p.cpu.wall for p in phases)
    for p in phases:
        for key, value in p.cpu.used.items():
            cpu.used[key] = cpu.used.get(key, 0.0) + value
    cpu.others = "; ".join(p.cpu.others for p in phases if p.cpu.others)
    cpu.threads = phases[-1].cpu.threads
    merged = Phase(name, load, cpu, delivered=sum(p.delivered for p in phases))
    if all(p.end_to_end for p in phases):
        merged.end_to_end = sum(p.end_to_end or 0.0 for p in phases)
    merged.delivery_lag = [v for p in phases for v in p.delivery_lag]
    merged.batches = [b for p in phases for b in p.batches]
    merged.rounds = phases
    caught = [p.worker_caught_up for p in phases if p.worker_caught_up is not None]
    merged.worker_caught_up = max(caught) if caught else None
    return merged


class SetupError(Exception):
    pass


def say(message: str) -> None:
    print(message, flush=True)


# --- the report --------------------------------------------------------------------------------------


def report(args: argparse.Namespace, raw: Phase, burst: Phase, paced: Phase | None, bench: Bench, backend: str) -> dict[str, Any]:
    rows = []

    def line(label: str, value: str, target: str = "", verdict: str = "") -> None:
        rows.append((label, value, target, verdict))

    raw_rate = raw.load.rate
    e2e = burst.e2e_rate
    accept_rate = burst.load.rate
    ratio = e2e / raw_rate if e2e and raw_rate else float("nan")
    raws, bursts = raw.rounds or [raw], burst.rounds or [burst]
    order = " ".join(p.name.split()[0] for p in sorted([*raws, *bursts], key=lambda p: p.load.wall_start))
    line(f"rounds (in this order: {order})", f"{len(raws)} x {raws[0].load.n} events each kind")
    line("(a) raw signal-with-start, all rounds", f"{raw_rate:8.1f} events/s", "", "")
    line("    call latency p50 / p99", f"{ms(percentile(raw.load.latencies, 50))} / {ms(percentile(raw.load.latencies, 99))} ms")
    for i, (a, b) in enumerate(zip(raws, bursts, strict=True), 1):
        line(f"    round {i}: (a) / (b) end to end", f"{a.load.rate:.1f} / {b.e2e_rate or float('nan'):.1f} events/s")
    line("(b) intake end to end, all rounds", f"{e2e or float('nan'):8.1f} events/s", "", "")
    line("    POSTs answered (acceptance only)", f"{accept_rate:8.1f} events/s")
    line("    ack latency p50 / p99", f"{ms(percentile(burst.load.latencies, 50))} / {ms(percentile(burst.load.latencies, 99))} ms")
    line("    accepted -> delivered p50 / p99", f"{percentile(burst.delivery_lag, 50):.2f} / {percentile(burst.delivery_lag, 99):.2f} s")
    sizes = ", ".join(str(size) for size in burst.batches[:8]) + (", ..." if len(burst.batches) > 8 else "")
    line("    forwarder batches (rows each)", f"{len(burst.batches)}: {sizes}")
    for i, b in enumerate(bursts, 1):
        if b.forwarded:
            last_answer = b.load.wall_start + b.load.elapsed
            during = sum(1 for moment in b.forwarded if moment <= last_answer)
            rest = len(b.forwarded) - during
            after = f", then {rest} at {rest / max(1e-6, b.forwarded[-1] - last_answer):.1f}/s" if rest else ""
            line(f"    round {i}: signal-with-starts while answering", f"{during} at {during / b.load.elapsed:.1f}/s{after}")
        for who, (answering, after_share) in b.loop_busy.items():
            line(f"    round {i}: {who} event-loop thread busy", f"{100 * answering:.0f}% while answering, {100 * after_share:.0f}% after")
    line("(b) / (a)", f"{ratio:8.2f}", f">= {ACK_RATIO_TARGET}", "PASS" if ratio >= ACK_RATIO_TARGET else "MISS")
    if paced is not None:
        p99 = percentile(paced.load.latencies, 99) * 1000
        line("(c) paced, open loop" + (" (--paced-rate)" if args.paced_rate else ""), f"{paced.target_rate:8.1f} /s offered, {paced.e2e_rate or float('nan'):.1f} /s delivered")  # type: ignore[attr-defined]
        line("    ack latency p50 / p99", f"{ms(percentile(paced.load.latencies, 50))} / {p99:.1f} ms", f"p99 < {PACED_P99_TARGET_MS:.0f} ms", "PASS" if p99 < PACED_P99_TARGET_MS else "MISS")
        line("    ack latency max", f"{ms(max(paced.load.latencies, default=float('nan')))} ms")
        line("    (from actual send) p50 / p99", f"{ms(percentile(paced.load.service, 50))} / {ms(percentile(paced.load.service, 99))} ms")
        for who, (answering, _) in paced.loop_busy.items():
            line(f"    {who} event-loop thread busy", f"{100 * answering:.0f}%")
        line("    client send lag p99", f"{ms(percentile(paced.load.send_lag, 99))} ms")
        line("    accepted -> delivered p50 / p99", f"{percentile(paced.delivery_lag, 50):.2f} / {percentile(paced.delivery_lag, 99):.2f} s")
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    say("")
    say(f"Intake throughput, {backend} intake store, {args.events} events, concurrency {args.concurrency}, HTTP client {bench.client_used}")
    say("-" * (width + vwidth + 30))
    say(f"{'':{width}}  {'measured':{vwidth}}  {'target':12} verdict")
    for label, value, target, verdict in rows:
        say(f"{label:{width}}  {value:{vwidth}}  {target:12} {verdict}")
    say("")

    phases = [p for p in (raw, burst, paced) if p is not None]
    tail = ("postgresql server", "kernel irq/softirq", "stolen by the host", "other processes", "machine total")
    names = sorted({name for p in phases for name in p.cpu.used}, key=lambda n: (tail.index(n) if n in tail else -1, n))
    say("CPU seconds per phase (share of one core over the phase's wall time; the machine has %d cores)" % os.cpu_count())
    head = f"{'process':22}" + "".join(f"{p.name:>26}" for p in phases)
    say(head)
    for name in names:
        cells = []
        for p in phases:
            used = p.cpu.used.get(name)
            cells.append(f"{used:8.2f} s ({100 * used / p.cpu.wall:4.0f}%)" if used is not None and p.cpu.wall else "")
        say(f"{name:22}" + "".join(f"{c:>26}" for c in cells))
    say(f"{'wall':22}" + "".join(f"{p.cpu.wall:>24.2f} s" for p in phases))
    # Robust to a busy machine, unlike the rates: what each of our processes spent per event.
    for p in phases:
        per = ", ".join(
            f"{name} {1000 * used / p.load.n:.2f}" for name, used in p.cpu.used.items() if name not in tail and p.load.n
        )
        say(f"{p.name}: CPU ms per event: {per}")
    for p in phases:
        bad = {k: v for k, v in p.load.statuses.items() if k not in (200, "delivered")}
        if bad:
            say(f"{p.name}: unexpected answers {dict(bad)}")
        for name, threads in p.cpu.threads.items():
            if threads:
                say(f"{p.name}: {name} threads (CPU s): {threads}")
        if p.cpu.others:
            say(f"{p.name}: busiest other processes: {p.cpu.others}")
        if p.worker_caught_up is not None:
            say(f"{p.name}: the worker had handled every process {p.worker_caught_up:.1f} s after the last answer")
    for note in bench.notes:
        say(f"note: {note}")
    say("")
    return {
        "backend": backend,
        "events": args.events,
        "concurrency": args.concurrency,
        "client": bench.client_used,
        "raw_rate": raw_rate,
        "raw_latency_ms": [percentile(raw.load.latencies, q) * 1000 for q in (50, 99)],
        "intake_e2e_rate": e2e,
        "intake_accept_rate": accept_rate,
        "ratio": ratio,
        "rounds": [{"raw_rate": a.load.rate, "intake_e2e_rate": b.e2e_rate} for a, b in zip(raws, bursts, strict=True)],
        "burst_ack_ms": [percentile(burst.load.latencies, q) * 1000 for q in (50, 99)],
        "burst_delivery_lag_s": [percentile(burst.delivery_lag, q) for q in (50, 99)],
        "burst_batches": burst.batches,
        "burst_loop_busy": [b.loop_busy for b in bursts],
        "worker": args.worker,
        "paced": None
        if paced is None
        else {
            "offered_rate": paced.target_rate,  # type: ignore[attr-defined]
            "events": paced.load.n,
            "delivered_rate": paced.e2e_rate,
            "ack_ms": [percentile(paced.load.latencies, q) * 1000 for q in (50, 99)],
            "ack_max_ms": max(paced.load.latencies, default=float("nan")) * 1000,
            "service_ms": [percentile(paced.load.service, q) * 1000 for q in (50, 99)],
            "send_lag_p99_ms": percentile(paced.load.send_lag, 99) * 1000,
            "delivery_lag_s": [percentile(paced.delivery_lag, q) for q in (50, 99)],
        },
        "cpu": {p.name: {"wall": p.cpu.wall, "events": p.load.n, **p.cpu.used, "others": p.cpu.others, "threads": p.cpu.threads} for p in phases},
        "notes": bench.notes,
    }


async def run(args: argparse.Namespace) -> int:
    bench = Bench(args)
    backend = "SQLite"
    if args.database_url:
        backend = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(make_url(args.database_url).get_backend_name(), "?")
    # SIGTERM or Ctrl-C: stop the phase and tear everything down (the `finally` below).
    main_task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main_task.cancel)  # type: ignore[union-attr]
    try:
        say(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} before the run; python {sys.version.split()[0]}")
        await bench.start()
        # Started first, so both kinds of phase run beside it (idle, it costs nothing).
        base = await bench.start_intake()
        per_round = -(-args.events // args.rounds)
        raws: list[Phase] = []
        bursts: list[Phase] = []
        for kind in round_order(args.rounds):
            if kind == "a":
                raws.append(await bench.phase_raw(f"(a{len(raws) + 1}) raw client", per_round))
            else:
                bursts.append(await bench.phase_burst(base, f"(b{len(bursts) + 1}) intake, peak", per_round))
        raw, burst = combined("(a) raw client", raws), combined("(b) intake, peak", bursts)
        paced = None
        if burst.e2e_rate and args.paced_events > 0:
            paced = await bench.phase_paced(base, args.paced_rate or 0.5 * burst.e2e_rate)
        result = report(args, raw, burst, paced, bench, backend)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2, default=str))
        return 0
    except SetupError as error:
        say(f"error: {error}")
        return 2
    except asyncio.CancelledError:
        say("interrupted: stopping the intake, the worker and the dev server")
        return 130
    finally:
        await bench.close()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-worker"]:
        address, task_queue, store_path, log_level = argv[1:5]
        asyncio.run(serve_worker(address, task_queue, store_path, log_level))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000, help="events in (a) and in (b), each over all its rounds (default 2000)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight in (a) and (b) (default 64)")
    parser.add_argument("--database-url", default="", help="the intake store (default: a temp SQLite file); a PostgreSQL URL gets a schema of its own")
    parser.add_argument(
        "--client", choices=("httpx", "raw"), default="raw",
        help="the HTTP load generator: a minimal asyncio HTTP/1.1 client (default: about 0.2 ms of CPU per POST), "
        "or httpx.AsyncClient (about 4 ms, more than the intake itself: on 2 cores the load generator then measures itself)",
    )
    parser.add_argument(
        "--connections-per-client", type=int, default=8,
        help="httpx: connections per AsyncClient, the concurrency spread over concurrency/this clients (default 8; 64: one client)",
    )
    parser.add_argument(
        "--no-bytecode-cache", dest="bytecode_cache", action="store_false",
        help="run the worker and the intake with the caller's PYTHONDONTWRITEBYTECODE (default: compiled modules cached in the temp dir, as deployed)",
    )
    parser.add_argument(
        "--no-worker", dest="worker", action="store_false",
        help="diagnostic only: run no worker, so (a) and (b) do not share the machine and the server with one",
    )
    parser.add_argument(
        "--rounds", type=int, default=2,
        help="(a) and (b) each run in this many rounds of events/rounds, in the order a b b a a b ... so that both "
        "see the same mean server age (default 2; 1: (a) on a fresh server, then (b))",
    )
    parser.add_argument("--paced-events", type=int, default=2000, help="at most this many POSTs in (c); 0 skips (c) (default 2000)")
    parser.add_argument("--paced-seconds", type=float, default=60.0, help="at most this long a (c) (default 60 s)")
    parser.add_argument("--paced-rate", type=float, default=0.0, help="POSTs per second in (c) (default: 0.5 x the end-to-end rate of (b))")
    parser.add_argument("--paced-connections", type=int, default=256, help="connection pool of the open-loop client in (c)")
    parser.add_argument("--warmup", type=int, default=50, help="warm-up events before each phase (default 50)")
    parser.add_argument("--timeout", type=float, default=300.0, help="bound of every wait, seconds (default 300)")
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL of the intake and the worker (default INFO, as deployed)")
    parser.add_argument("--temporal-bin", type=Path, default=Path(sys.executable).parent / "temporal", help="the temporal CLI (default: beside this python)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--profile", metavar="DIR", help="py-spy records the intake, this process and the worker during (b) and (c) (collapsed stacks in DIR; perturbs the figures)")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (logs, SQLite files)")
    args = parser.parse_args(argv)
    if args.events < 1 or args.concurrency < 1 or args.warmup < 1 or args.rounds < 1:
        parser.error("--events, --concurrency, --warmup and --rounds must be at least 1")
    code = asyncio.run(run(args))
    # sdk-python#300: after a Temporal runtime shuts down the interpreter can crash at exit.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
