"""Health as orchestrators probe it: liveness (the process is up) apart from readiness.

- The HTTP service (intake and inbox) is ready while its store takes deliveries, Temporal or not:
  a readiness probe must keep it in the load balancer exactly while Temporal is down, since
  storing and buffering then is its job. Its store going away makes it not ready.
- The worker serves /healthz and /readyz on WORKER_HEALTH_ADDRESS: ready once the Temporal
  frontend has seen this very worker (its identity) poll its task queue; not ready when it has
  stopped, or polls another queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from dataclasses import replace
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from intake.forwarder import Forwarder
from service.settings import Settings, SettingsError, WorkerOptions
from service.worker_health import WorkerHealth
from store.intake_store import IntakeStore
from tests.events import Application
from tests.harness import eventually, free_port, running_engine
from tests.intake.test_service import intake_service, signed_event
from worker import serve

# --- the intake --------------------------------------------------------------------------------


async def test_the_intake_stays_ready_and_accepts_while_temporal_is_down(tmp_path: Path):
    store_url = f"sqlite:///{tmp_path / 'intake.sqlite3'}"
    nowhere = f"127.0.0.1:{free_port()}"

    async def unreachable_temporal() -> Client:
        return await Client.connect(nowhere)

    forwarder = Forwarder(IntakeStore(store_url), unreachable_temporal, "post-interview", max_backoff=0.5)
    async with intake_service(store_url, forwarder) as (http, store):
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready" and body["checks"]["store"] == "ok"
        assert body["checks"]["temporal"].startswith("unreachable"), body
        # And it does what ready promises: a webhook is stored, to be delivered later.
        event_body, headers = signed_event(Application(source="api").interview(1))
        answer = await http.post("/events", content=event_body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert store.counts() == {"pending": 1}
        assert (await http.get("/healthz")).json() == {"status": "ok"}


class TcpProxy:
    """A loopback TCP proxy to the database, in threads of its own (the store's driver blocks the
    event loop while it connects); `cut()` drops every connection and refuses new ones, as a
    network partition does."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.cut_off = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_off:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            target.close()

    def cut(self) -> None:
        self.cut_off = True
        for connection in self.sockets:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def close(self) -> None:
        self.cut()
        self.listener.close()


async def test_the_intake_is_not_ready_without_its_store(postgres_schema_url: str):
    url = make_url(postgres_schema_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        store_url = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        async with intake_service(store_url) as (http, _):
            assert (await http.get("/readyz")).status_code == 200
            proxy.cut()
            answer = await eventually(lambda: _not_ready(http), timeout=30, what="readiness to fail once the database is cut off")
            assert answer["checks"]["store"].startswith("unreachable"), answer
            # Still alive: restarting it would not bring the database back.
            assert (await http.get("/healthz")).status_code == 200
    finally:
        proxy.close()


async def _not_ready(http: httpx.AsyncClient) -> dict | None:
    answer = await http.get("/readyz")
    return answer.json() if answer.status_code == 503 else None


# --- the worker --------------------------------------------------------------------------------


def test_worker_health_address_is_checked():
    assert Settings.from_env({"WORKER_HEALTH_ADDRESS": "0.0.0.0:8080"}).worker.options().health_address == "0.0.0.0:8080"
    assert Settings.from_env({}).worker.options().health_address is None
    try:
        Settings.from_env({"WORKER_HEALTH_ADDRESS": "8080"}).worker.options()
    except SettingsError as error:
        assert "WORKER_HEALTH_ADDRESS" in str(error)
    else:
        raise AssertionError("a bare port was taken as an address")


async def test_the_worker_serves_liveness_and_readiness_on_its_task_queue(dev_env: WorkflowEnvironment, store_url: str, task_queue: str):
    port = free_port()
    settings = Settings(database_url=store_url, task_queue=task_queue)
    options = replace(WorkerOptions(), health_address=f"127.0.0.1:{port}", max_concurrent_activities=2)
    stop = asyncio.Event()
    worker = asyncio.create_task(serve(settings, dev_env.client, stop, options))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

            async def ready() -> dict | None:
                answer = await http.get("/readyz")
                return answer.json() if answer.status_code == 200 else None

            body = await eventually(ready, timeout=30, interval=0.5, what="the worker's /readyz to say ready")
            assert body["status"] == "ready" and body["polling"] is True and body["task_queue"] == task_queue
            assert body["identity"] == dev_env.client.identity
            assert (await http.get("/healthz")).json() == {"status": "ok"}
    finally:
        stop.set()
        await worker


async def test_the_worker_is_not_ready_when_stopped_or_on_another_queue(dev_env: WorkflowEnvironment, store_url: str, task_queue: str, activity_pool):
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as _:
        # Polling is per task queue: a worker on another queue does not make this one ready.
        other = WorkerHealth(dev_env.client, f"{task_queue}-elsewhere", _Running(True))
        ready, details = await other.readiness()
        assert not ready and details["polling"] is False

        polling = WorkerHealth(dev_env.client, task_queue, _Running(True))
        await eventually(lambda: _ready(polling), timeout=30, interval=0.5, what="the poll to be seen")

    stopped = WorkerHealth(dev_env.client, task_queue, _Running(False))
    ready, details = await stopped.readiness()
    assert not ready and details["worker"] == "not running"


async def _ready(health: WorkerHealth) -> bool:
    health._cached = None  # look again now, not in CACHE_SECONDS
    ready, _ = await health.readiness()
    return ready


class _Running:
    """What WorkerHealth reads of a worker: whether it runs (the real one is checked above)."""

    def __init__(self, running: bool) -> None:
        self.is_running = running
