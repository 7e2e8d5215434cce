"""Running the intake service: the HTTP endpoints and the forwarder, in one asyncio task.

`postinterview run` runs it beside the worker; `postinterview intake` runs it alone (the
production shape: as many intake instances as the traffic needs, one store, one Temporal).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import structlog
import uvicorn

from intake.app import create_app
from intake.config import IntakeConfig
from intake.forwarder import Forwarder
from process_client import connect
from settings import Settings
from store.intake_store import IntakeStore

log = structlog.get_logger()


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the host process decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_intake(settings: Settings, stop: asyncio.Event, host: str = "127.0.0.1", port: int = 8000) -> None:
    config = IntakeConfig.from_env()
    store = IntakeStore(settings.database_url)
    forwarder = Forwarder(
        store, lambda: connect(settings.temporal_address, settings.temporal_namespace), settings.task_queue
    )
    server = _EmbeddedServer(
        uvicorn.Config(create_app(config, store, forwarder), host=host, port=port, log_config=None, access_log=False)
    )
    serving = asyncio.create_task(server.serve())
    log.info("intake listening", url=f"http://{host}:{port}", openapi=f"http://{host}:{port}/docs")
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([serving, stopped], return_when=asyncio.FIRST_COMPLETED)
    failed = serving.done() and not stop.is_set()
    server.should_exit = True
    stopped.cancel()
    try:
        await serving
    except SystemExit:  # uvicorn exits this way when it cannot bind
        failed = True
    finally:
        store.close()
    if failed:
        # Take whatever runs beside us (the worker in `postinterview run`) down too, and say why.
        stop.set()
        raise RuntimeError(f"the webhook intake could not serve on {host}:{port} (is the port in use?)")
