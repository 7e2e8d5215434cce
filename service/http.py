"""Running the intake service: the HTTP endpoints and the forwarder, in one asyncio task.

`postinterview run` runs it beside the worker; `postinterview intake` runs it alone (the
production shape: as many intake instances as the traffic needs, one store, one Temporal).
"""

from __future__ import annotations

import asyncio

import structlog

from embedded_http import serve_until
from inbox.service import mount_inbox
from intake.app import create_app
from intake.config import IntakeConfig
from intake.forwarder import Forwarder
from intake.store_writer import StoreWriter
from process_client import connect
from settings import Settings
from store.intake_store import IntakeStore

log = structlog.get_logger()


async def serve_intake(settings: Settings, stop: asyncio.Event, host: str = "127.0.0.1", port: int = 8000) -> None:
    config = IntakeConfig.from_env()
    store = IntakeStore(settings.database_url)
    # One writer thread for the endpoints and the forwarder: they never contend for the table.
    writer = StoreWriter(store)
    forwarder = Forwarder(
        store, lambda: connect(settings.temporal_address, settings.temporal_namespace), settings.task_queue, writer=writer
    )
    log.info("intake listening", url=f"http://{host}:{port}", openapi=f"http://{host}:{port}/docs")
    app = create_app(config, store, forwarder, writer)
    # The recruiters' side (task API, inbox, signed links) is served by the same service.
    close_inbox = mount_inbox(app, settings)
    try:
        await serve_until(app, stop, host, port, "webhook intake")
    finally:
        close_inbox()
        await asyncio.to_thread(writer.close)
        store.close()
