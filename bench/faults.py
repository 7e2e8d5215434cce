"""Faults, measured: with hundreds of events in flight, kill or restart each part of the engine
and count what was accepted, delivered, signalled, applied, created twice or lost.

    python bench/faults.py                          # 500 applications, 5 rounds of 500 events
    python bench/faults.py --applications 200 --keep

Everything runs on this machine, on loopback, as separate processes, the way a deployment runs
them:

- a Temporal dev server with its state in a SQLite file (so it can be stopped and started again
  and keep its workflows): `temporal server start-dev --db-filename ...`;
- a private PostgreSQL (initdb + pg_ctl from /usr/lib/postgresql/*/bin, in a temporary directory,
  on a free port, trust auth on 127.0.0.1 only; run as the `postgres` OS user when this script is
  root), holding both the intake table and the task store; the machine's own server is not used;
- `postinterview worker` and `postinterview intake`, configured by environment variables.

Each application is one process (`post-interview-api-<id>`); its life is sent as signed canonical
events to the intake's /events, one event per application per round, so that every round puts
`--applications` events in flight at once. Right after each round is posted (while the intake's
forwarder and the worker are still busy with it) one fault is injected:

  round 1 interview.completed   SIGKILL the worker, start a new one
  round 2 references.requested  stop the Temporal dev server (SIGTERM), start it again on its file
  round 3 referee.consented     restart PostgreSQL (pg_ctl stop -m fast, a pause, start)
  round 4 referee.responded     SIGKILL the intake half-way through the round's POSTs, start a new
                                one, and re-send (same webhook-id) every POST that got no answer
  round 5 offer / rejected / withdrew: no fault (the control)

A POST refused with 5xx or unanswered is re-sent, as a sender does, until the intake answers
(bounded). Then the script waits until the intake table has nothing pending and the task store
has stopped changing, and prints:

- accepted: events the intake answered 200 (accepted, or a duplicate of a stored one) for; delivered: intake rows marked
  delivered; pending/failed rows;
- per process, from its history (every run): `event` signals, and distinct event ids among them:
  "duplicate signals" are signals of an event id already signalled (the process ignores them by
  event_id); "lost" are accepted event ids with no signal at all, or not counted in the process's
  `events_seen` (the status query);
- tasks and messages created twice: rows sharing a key (the unique constraint makes this 0 by
  construction), and rows sharing what they say (process, kind/recipient, title/subject).

Bounded in count and time (`--timeout`); every child is stopped at the end (and dies with this
script); the exit code is 0 when nothing was lost or duplicated, 1 otherwise, 2 when it could not
run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

import httpx  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from bench.intake_throughput import RawPoster, free_port, start_subprocess, stop_subprocess  # noqa: E402
from cli.dev_server import DevServerConfig, binary_path, server_command  # noqa: E402
from domain.events import CanonicalEvent  # noqa: E402
from intake.signing import standard_webhook_headers  # noqa: E402
from store.schema import deliveries, messages, tasks  # noqa: E402
from tests.events import Application  # noqa: E402

PROCESS_TYPE = "PostInterviewProcess"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class SetupError(Exception):
    pass


# --- a private PostgreSQL ----------------------------------------------------------------------


class PrivatePostgres:
    """initdb + pg_ctl in a directory of its own, on a free loopback port."""

    def __init__(self, root: Path) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            raise SetupError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        self.bin = Path(found[-1]).parent
        self.dir = root / "pgdata"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres OS user
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise SetupError("running as root and there is no `postgres` OS user to run PostgreSQL as") from None
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(root, "postgres")
            os.chmod(root, 0o755)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        result = subprocess.run([*self.as_user, *argv], capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise SetupError(f"{' '.join(argv[:2])} failed: {result.stderr.strip() or result.stdout.strip()}")

    def init(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off -c max_connections=200"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.dir), "status"], capture_output=True).returncode == 0


# --- the engine's processes ----------------------------------------------------------------------


class Engine:
    def __init__(self, root: Path, postgres: PrivatePostgres, log_level: str) -> None:
        self.root = root
        self.postgres = postgres
        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.temporal_config = DevServerConfig(port=free_port(), ui_port=free_port(), data_dir=root, log_level="error")
        self.intake_port = free_port()
        self.temporal: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.intake: subprocess.Popen[bytes] | None = None
        self.log_level = log_level
        self.starts: Counter[str] = Counter()

    @property
    def address(self) -> str:
        return self.temporal_config.address

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            # TEMPORAL_*: the bench's own dev server is plaintext on loopback, whatever profile,
            # API key or certificate the caller's shell names for another server.
            if not key.endswith(("_SECRET", "_TOKEN", "_KEY", "_KEYS")) and not key.startswith("TEMPORAL_") and key not in ("DATABASE_URL", "TASK_QUEUE")
        }
        env.update(
            DATABASE_URL=self.postgres.url,
            TEMPORAL_ADDRESS=self.address,
            EVENTS_WEBHOOK_SECRET=self.secret,
            LINK_SIGNING_KEYS="faults-bench-link-key",
            PUBLIC_BASE_URL=f"http://127.0.0.1:{self.intake_port}",
            LOG_LEVEL=self.log_level,
            PYTHONPYCACHEPREFIX=str(self.root / "pycache"),
        )
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def _log(self, name: str) -> Path:
        self.starts[name] += 1
        return self.root / f"{name}.{self.starts[name]}.log"

    async def start_temporal(self) -> None:
        argv = server_command(binary_path(), self.temporal_config)
        self.temporal = start_subprocess(argv, self._log("temporal"))
        await self._wait_tcp(self.temporal_config.port, self.temporal, "the Temporal dev server", 60)
        from process_client import connect

        for _ in range(120):  # the frontend accepts connections a moment before it serves
            try:
                client = await connect(self.address)
                await client.count_workflows()
                return
            except Exception:
                await asyncio.sleep(0.25)
        raise SetupError("the Temporal dev server does not answer")

    async def start_worker(self, attempts: int = 5) -> None:
        """Start a worker and wait for its "worker started" line; a worker that exits first (it
        could not reach Temporal) is started again, as a supervisor would, up to `attempts`."""
        for _ in range(attempts):
            log_file = self._log("worker")
            self.worker = start_subprocess([sys.executable, "-m", "cli.main", "worker"], log_file, {**self.env(), "LOG_LEVEL": "info"})
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and self.worker.poll() is None:
                if b"worker started" in log_file.read_bytes():
                    return
                await asyncio.sleep(0.2)
            if self.worker.poll() is None:
                raise SetupError(f"the worker did not start within 90 s; see {log_file}")
            await asyncio.sleep(1)
        raise SetupError(f"the worker exited {attempts} times at start; see {self.root}/worker.*.log")

    async def supervise(self) -> list[str]:
        """Restart what died on its own (not by a fault of ours): what a process supervisor does."""
        restarted = []
        if self.worker is not None and self.worker.poll() is not None:
            restarted.append(f"worker (exit {self.worker.returncode})")
            await self.start_worker()
        if self.intake is not None and self.intake.poll() is not None:
            restarted.append(f"intake (exit {self.intake.returncode})")
            await self.start_intake()
        return restarted

    async def start_intake(self) -> None:
        argv = [sys.executable, "-m", "cli.main", "intake", "--port", str(self.intake_port)]
        self.intake = start_subprocess(argv, self._log("intake"), self.env())
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.intake_port}", timeout=2) as http:
            for _ in range(300):
                if self.intake.poll() is not None:
                    break
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise SetupError(f"the intake did not answer /healthz; see {self.root}/intake.*.log")

    async def _wait_tcp(self, port: int, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SetupError(f"{what} exited ({process.returncode}); see the logs in {self.root}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise SetupError(f"{what} did not listen within {timeout:.0f} s")

    def alive(self) -> dict[str, bool]:
        return {name: bool(p and p.poll() is None) for name, p in (("temporal", self.temporal), ("worker", self.worker), ("intake", self.intake))}

    def close(self) -> None:
        stop_subprocess(self.intake, grace=15)
        stop_subprocess(self.worker, grace=15)
        stop_subprocess(self.temporal, grace=15)


# --- the load ------------------------------------------------------------------------------------


@dataclass
class Post:
    event: CanonicalEvent
    body: bytes
    headers: dict[str, str]
    answers: list[str] = field(default_factory=list)  # "200", "503", "no answer", ...

    @property
    def accepted(self) -> bool:
        return any(answer in ("202", "200") for answer in self.answers)


def lifecycle(app: Application, round_: int, rng: int) -> CanonicalEvent:
    if round_ == 0:
        return app.interview(1)
    if round_ == 1:
        return app.references("ref-1", required=False)
    if round_ == 2:
        return app.event("referee.consented", {"referee_id": "ref-1"})
    if round_ == 3:
        return app.event("referee.responded", {"referee_id": "ref-1"})
    choice = rng % 4
    if choice < 2:
        return app.offer()
    if choice == 2:
        return app.event("candidate.rejected", {"reason": "another candidate"})
    return app.event("candidate.withdrew", {"reason": "took another offer"})


def signed(event: CanonicalEvent, secret: str) -> Post:
    body = event.model_dump_json().encode()
    return Post(event, body, {"content-type": "application/json", **standard_webhook_headers(body, secret)})


class Sender:
    """POSTs with a bounded number of attempts; what each attempt got is kept on the Post."""

    def __init__(self, engine: Engine, concurrency: int) -> None:
        self.engine = engine
        self.concurrency = concurrency
        self.poster = RawPoster(httpx.URL(f"http://127.0.0.1:{engine.intake_port}"), concurrency)

    def reset(self) -> None:
        self.poster = RawPoster(httpx.URL(f"http://127.0.0.1:{self.engine.intake_port}"), self.concurrency)

    async def send_once(self, post: Post) -> str:
        try:
            status = await asyncio.wait_for(self.poster.post(0, post.body, post.headers), 30)
            answer = str(status)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError):
            answer = "no answer"
        post.answers.append(answer)
        return answer

    async def send_all(self, posts: list[Post], on_progress: Any = None) -> None:
        queue = list(reversed(posts))

        async def one() -> None:
            while queue:
                post = queue.pop()
                await self.send_once(post)
                if on_progress:
                    await on_progress()

        await asyncio.gather(*(one() for _ in range(self.concurrency)))

    async def resend_unanswered(self, posts: list[Post], attempts: int = 20) -> int:
        """Re-send (same webhook-id) what got no 2xx/4xx, as a sender retries; returns re-sends."""
        resent = 0
        for _ in range(attempts):
            todo = [p for p in posts if not p.accepted and not any(a.startswith("4") for a in p.answers)]
            if not todo:
                break
            resent += len(todo)
            self.reset()
            await self.send_all(todo)
            if any(not p.accepted for p in todo):
                await asyncio.sleep(1)
        return resent


# --- observing ---------------------------------------------------------------------------------


class Store:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, pool_pre_ping=True, pool_size=2)

    def delivery_counts(self) -> Counter[str]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status)).all()
        return Counter({status: count for status, count in rows})

    def totals(self) -> tuple[int, int]:
        with self.engine.connect() as connection:
            return (
                connection.execute(select(func.count()).select_from(tasks)).scalar_one(),
                connection.execute(select(func.count()).select_from(messages)).scalar_one(),
            )

    def duplicates(self) -> dict[str, int]:
        queries = {
            "tasks sharing a key": "select count(*) from (select key from tasks group by key having count(*) > 1) d",
            "tasks sharing process, kind and title": (
                "select coalesce(sum(n - 1), 0) from (select count(*) n from tasks group by process_id, kind, title having count(*) > 1) d"
            ),
            "messages sharing a key": "select count(*) from (select key from messages group by key having count(*) > 1) d",
            "messages sharing process, recipient and subject": (
                "select coalesce(sum(n - 1), 0) from (select count(*) n from messages"
                " group by process_id, recipient_id, subject having count(*) > 1) d"
            ),
            "intake rows sharing an idempotency key": (
                "select count(*) from (select source, idempotency_key from deliveries group by source, idempotency_key having count(*) > 1) d"
            ),
        }
        with self.engine.connect() as connection:
            return {name: int(connection.execute(text(sql)).scalar_one()) for name, sql in queries.items()}

    def close(self) -> None:
        self.engine.dispose()


async def quiescent(engine: Engine, store: Store, timeout: float, unplanned: list[str], stable_for: float = 10.0) -> float | None:
    """Seconds until nothing is pending in the intake and the task store stopped changing."""
    started = time.monotonic()
    last, since = None, time.monotonic()
    while time.monotonic() - started < timeout:
        if died := await engine.supervise():
            say(f"  EXITED ON ITS OWN, restarted: {', '.join(died)}")
            unplanned += died
        try:
            counts = await asyncio.to_thread(store.delivery_counts)
            totals = await asyncio.to_thread(store.totals)
        except Exception:
            await asyncio.sleep(1)
            continue
        now = (counts.get("pending", 0), totals)
        if now != last:
            last, since = now, time.monotonic()
        elif counts.get("pending", 0) == 0 and time.monotonic() - since >= stable_for:
            return time.monotonic() - started - stable_for
        await asyncio.sleep(0.5)
    return None


async def histories(address: str) -> tuple[dict[str, list[str]], dict[str, int], int, Counter[str]]:
    """Per workflow id, the event ids of its `event` signals over all its runs; per workflow id,
    events_seen from the status query; the number of runs; and the duplicate signals by who sent
    the copy (the sender's identity is its pid@host: another one means a restarted intake)."""
    from process_client import connect

    client = await connect(address)
    signals: dict[str, list[str]] = defaultdict(list)
    senders: dict[tuple[str, str], str] = {}
    copies: Counter[str] = Counter()
    runs = [w async for w in client.list_workflows(f"WorkflowType = '{PROCESS_TYPE}'")]
    semaphore = asyncio.Semaphore(16)

    async def one(workflow_id: str, run_id: str) -> None:
        async with semaphore:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        for entry in history.events:
            if entry.HasField("workflow_execution_signaled_event_attributes"):
                attributes = entry.workflow_execution_signaled_event_attributes
                if attributes.signal_name == "event" and attributes.input.payloads:
                    event_id = json.loads(attributes.input.payloads[0].data)["event_id"]
                    signals[workflow_id].append(event_id)
                    first = senders.setdefault((workflow_id, event_id), attributes.identity)
                    if len(signals[workflow_id]) > len(set(signals[workflow_id])) and event_id in signals[workflow_id][:-1]:
                        copies["by a new intake (re-sent after a restart)" if attributes.identity != first else "by the same intake"] += 1

    await asyncio.gather(*(one(run.id, run.run_id) for run in runs))
    seen: dict[str, int] = {}

    async def status(workflow_id: str) -> None:
        async with semaphore:
            try:
                result = await client.get_workflow_handle(workflow_id).query("status")
                seen[workflow_id] = int(result["events_seen"] if isinstance(result, dict) else result.events_seen)
            except Exception:
                seen[workflow_id] = -1

    await asyncio.gather(*(status(workflow_id) for workflow_id in {run.id for run in runs}))
    return signals, seen, len(runs), copies


# --- the run -----------------------------------------------------------------------------------

FAULTS = ["SIGKILL the worker", "stop + start the Temporal dev server", "restart PostgreSQL", "SIGKILL the intake mid-round", "none (control)"]


async def inject(fault: str, engine: Engine, postgres: PrivatePostgres, pause: float) -> str:
    started = time.monotonic()
    if fault == "SIGKILL the worker":
        assert engine.worker is not None
        engine.worker.send_signal(signal.SIGKILL)
        engine.worker.wait(10)
        await asyncio.sleep(pause)
        await engine.start_worker()
    elif fault == "stop + start the Temporal dev server":
        stop_subprocess(engine.temporal, grace=30)
        await asyncio.sleep(pause)
        await engine.start_temporal()
    elif fault == "restart PostgreSQL":
        await asyncio.to_thread(postgres.stop, "fast")
        await asyncio.sleep(pause)
        await asyncio.to_thread(postgres.start)
    return f"{time.monotonic() - started:.1f} s"


async def run(args: argparse.Namespace) -> int:
    root = Path(tempfile.mkdtemp(prefix="faults-bench-"))
    postgres = PrivatePostgres(root)
    engine = Engine(root, postgres, args.log_level)
    store: Store | None = None
    try:
        say(f"PostgreSQL {postgres.bin.parent.name}: initdb in {postgres.dir}, port {postgres.port}")
        await asyncio.to_thread(postgres.init)
        await asyncio.to_thread(postgres.start)
        say(f"Temporal dev server on {engine.address}, state in {engine.temporal_config.db_file}")
        await engine.start_temporal()
        await engine.start_worker()
        await engine.start_intake()
        store = Store(postgres.url)
        sender = Sender(engine, args.concurrency)
        applications = [Application(source="api", application_id=f"faults-{uuid.uuid4().hex[:12]}") for _ in range(args.applications)]
        all_posts: list[Post] = []
        rounds: list[dict[str, Any]] = []
        unplanned: list[str] = []
        for round_, fault in enumerate(FAULTS[: args.rounds]):
            posts = [signed(lifecycle(app, round_, i), engine.secret) for i, app in enumerate(applications)]
            all_posts += posts
            say(f"round {round_ + 1}: {len(posts)} events ({posts[0].event.type}...), then: {fault}")
            began = time.monotonic()
            took = "-"
            if fault == "SIGKILL the intake mid-round":
                answered = 0
                killed = asyncio.Event()

                async def progress() -> None:
                    nonlocal answered
                    answered += 1
                    if answered == len(posts) // 2 and engine.intake and not killed.is_set():
                        killed.set()
                        engine.intake.send_signal(signal.SIGKILL)

                await sender.send_all(posts, progress)
                engine.intake.wait(10)  # type: ignore[union-attr]
                t0 = time.monotonic()
                await engine.start_intake()
                took = f"{time.monotonic() - t0:.1f} s"
            else:
                await sender.send_all(posts)
                pending = (await asyncio.to_thread(store.delivery_counts)).get("pending", 0)
                say(f"  posted in {time.monotonic() - began:.1f} s; {pending} deliveries pending in the intake table when the fault starts")
                if fault != "none (control)":
                    took = await inject(fault, engine, postgres, args.pause)
            if died := await engine.supervise():
                say(f"  EXITED ON ITS OWN, restarted: {', '.join(died)}")
                unplanned += died
            unanswered = sum(1 for p in posts if not p.accepted)
            resent = await sender.resend_unanswered(posts)
            answers = Counter(a for p in posts for a in p.answers)
            rounds.append({"fault": fault, "events": len(posts), "answers": dict(answers), "resent": resent, "unanswered_first": unanswered, "fault_took": took})
            say(f"  answers {dict(answers)}; re-sent {resent}; fault took {took}; alive {engine.alive()}")

        say("waiting for quiescence (nothing pending in the intake, the task store unchanged for 10 s) ...")
        settled = await quiescent(engine, store, args.timeout, unplanned)
        say(f"  {'settled after %.1f s' % settled if settled is not None else 'NOT settled within the timeout'}")
        await asyncio.sleep(2)
        signals, seen, runs, copies = await histories(engine.address)
        counts = await asyncio.to_thread(store.delivery_counts)
        dups = await asyncio.to_thread(store.duplicates)
        task_total, message_total = await asyncio.to_thread(store.totals)
        return report(args, rounds, all_posts, applications, signals, seen, runs, counts, dups, task_total, message_total, settled, engine, unplanned, copies)
    except SetupError as error:
        say(f"could not run: {error}")
        return 2
    finally:
        if store:
            store.close()
        engine.close()
        try:
            if postgres.running():
                postgres.stop("fast")
        except Exception as error:  # noqa: BLE001 - the report matters more than the cleanup
            say(f"stopping PostgreSQL: {error}")
        if args.keep:
            say(f"kept {root} (the logs of every start of every process, the data)")
        else:
            shutil.rmtree(root, ignore_errors=True)


def report(
    args: argparse.Namespace,
    rounds: list[dict[str, Any]],
    posts: list[Post],
    applications: list[Application],
    signals: dict[str, list[str]],
    seen: dict[str, int],
    runs: int,
    counts: Counter[str],
    dups: dict[str, int],
    task_total: int,
    message_total: int,
    settled: float | None,
    engine: Engine,
    unplanned: list[str],
    copies: Counter[str],
) -> int:
    accepted: dict[str, set[str]] = defaultdict(set)
    for post in posts:
        if post.accepted:
            accepted[f"post-interview-api-{post.event.application_id}"].add(post.event.event_id)
    never = [p for p in posts if not p.accepted]
    total_accepted = sum(len(ids) for ids in accepted.values())
    signal_total = sum(len(ids) for ids in signals.values())
    duplicate_signals = sum(len(ids) - len(set(ids)) for ids in signals.values())
    lost_signal = sum(len(ids - set(signals.get(wid, []))) for wid, ids in accepted.items())
    foreign = sum(len(set(ids) - accepted.get(wid, set())) for wid, ids in signals.items())
    not_applied = sum(1 for wid, ids in accepted.items() if seen.get(wid, -1) >= 0 and seen[wid] < len(ids))
    closed = sum(1 for wid in accepted if seen.get(wid, -1) < 0)
    round_of = {post.event.event_id: i // len(applications) for i, post in enumerate(posts)}
    duplicates_by_round: Counter[int] = Counter()
    for ids in signals.values():
        for event_id, n in Counter(ids).items():
            if n > 1:
                duplicates_by_round[round_of.get(event_id, -1) + 1] += n - 1
    exactly_once = sum(1 for wid, ids in accepted.items() if sorted(signals.get(wid, [])) == sorted(ids))

    print()
    print(f"Faults, measured: {len(applications)} applications, {len(rounds)} rounds of {len(applications)} events, {args.concurrency} POSTs in flight")
    print()
    print("| round | events | fault | down for | answers (first tries and re-sends) | re-sent | duplicate signals of this round's events |")
    print("|---|---|---|---|---|---|---|")
    for i, r in enumerate(rounds, 1):
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(r["answers"].items()))
        print(f"| {i} | {r['events']} | {r['fault']} | {r['fault_took']} | {answers} | {r['resent']} | {duplicates_by_round.get(i, 0)} |")
    print()
    lines = [
        ("events posted", len(posts)),
        ("accepted (200: accepted, or a duplicate of a stored one)", total_accepted),
        ("never accepted (after re-sends)", len(never)),
        ("intake rows: delivered / pending / failed / other", f"{counts.get('delivered', 0)} / {counts.get('pending', 0)} / {counts.get('failed', 0)} / {sum(v for k, v in counts.items() if k not in ('delivered', 'pending', 'failed'))}"),
        ("processes (runs)", f"{len(signals)} ({runs})"),
        ("`event` signals in the histories", signal_total),
        ("  distinct event ids signalled", signal_total - duplicate_signals),
        ("  duplicate signals (same event id again; ignored by the process)", duplicate_signals),
        *[(f"    sent {how}", n) for how, n in sorted(copies.items())],
        ("  signals of an event never accepted", foreign),
        ("processes whose signals are exactly their accepted events, once each", f"{exactly_once} of {len(accepted)}"),
        ("LOST: accepted, never signalled", lost_signal),
        ("LOST: accepted, signalled, not counted in events_seen", not_applied),
        ("processes that did not answer the status query (closed)", closed),
        ("tasks / messages in the store", f"{task_total} / {message_total}"),
        *[(f"created twice: {name}", value) for name, value in dups.items()],
        ("quiescent after the last round", f"{settled:.1f} s" if settled is not None else "NO (timeout)"),
        ("process starts (temporal, worker, intake)", f"{engine.starts['temporal']}, {engine.starts['worker']}, {engine.starts['intake']}"),
        ("exited on their own (restarted as a supervisor would)", ", ".join(unplanned) or "none"),
    ]
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        print(f"  {label:<{width}}  {value}")
    bad = lost_signal or not_applied or len(never) or dups["tasks sharing a key"] or dups["messages sharing a key"] or counts.get("pending", 0) or settled is None
    print()
    print("VERDICT:", "nothing accepted was lost, nothing created twice" if not bad else "LOSS OR DUPLICATION: see above")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--applications", type=int, default=500, help="applications, = events per round (default 500)")
    parser.add_argument("--rounds", type=int, default=len(FAULTS), choices=range(1, len(FAULTS) + 1))
    parser.add_argument("--concurrency", type=int, default=32, help="POSTs in flight (default 32)")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds a stopped part stays down (default 3)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for quiescence (default 600)")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (logs, data)")
    args = parser.parse_args(argv)
    if not 1 <= args.applications <= 5000:
        parser.error("--applications: 1..5000")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
