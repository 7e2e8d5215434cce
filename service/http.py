"""The HTTP service: the webhook intake (its endpoints and the forwarder) and the recruiters' side
(task API, inbox pages, the answer links' pages) on one app, one port, in one asyncio task.

The intake and the inbox know nothing of each other; this module puts them side by side, behind
one limit on the size of every request body (HTTP_MAX_BODY_BYTES, service/body_limit.py).
`postinterview run` runs it beside the worker; `postinterview intake` runs it alone (the
production shape: as many instances as the traffic needs, one store, one Temporal).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI
from starlette.types import ASGIApp
from temporalio.client import Client

from activities.ats_api.catalogs import name_loader, resolver
from domain.policy import ReferenceReportPolicy, load_policy_book
from inbox import api, link_pages, pages
from inbox.desk import TaskDesk
from intake.app import create_app
from intake.config import IntakeConfig
from intake.forwarder import Forwarder
from intake.store_writer import StoreWriter
from service import tracing
from service.body_limit import BodyLimit
from service.embedded_http import serve_until
from service.settings import Settings
from store.access_store import AccessStore
from store.intake_store import IntakeStore
from store.link_store import LinkStore
from store.reference_store import ReferenceStore
from store.task_store import TaskStore

log = structlog.get_logger()


def temporal_connector(settings: Settings) -> Callable[[], Awaitable[Client]]:
    """How the service's parts reach Temporal when they first need it (they start without it).
    The options are built now, so a profile or certificate that cannot be used stops the service
    at start-up, naming it, rather than every request later."""
    options = settings.temporal_client_options()
    return lambda: Client.connect(**options)


def build_desk(settings: Settings) -> TaskDesk:
    tasks = TaskStore(settings.database_url)
    return TaskDesk(tasks, AccessStore(tasks.engine), temporal_connector(settings))


def reference_questionnaire(settings: Settings) -> ReferenceReportPolicy:
    """The policy file's `[reference_report]` (POLICY_FILE); an invalid file stops the service at start-up, naming it."""
    return load_policy_book(settings.policy_file).reference_report


def mount_inbox(app: FastAPI, settings: Settings, desk: TaskDesk | None = None) -> Callable[[], None]:
    """Mount the task API (and the inbox pages, and the signed links' pages) on `app`; returns what closes their store."""
    desk = desk or build_desk(settings)
    api.mount(app, desk, settings.links.public_base_url)
    pages.mount(app, desk, settings.inbox.temporal_ui_url, settings.temporal_connection().namespace, settings.links.public_base_url)
    links = link_pages.LinkService(
        settings.links.signer(),
        LinkStore(desk.tasks.engine),
        temporal_connector(settings),
        reports=ReferenceStore(desk.tasks.engine),
        questionnaire=reference_questionnaire(settings),
        note_sources=frozenset(s.strip().lower() for s in settings.delivery.ats_notes.split(",") if s.strip()),
        task_queue=settings.task_queue,
    )
    link_pages.mount(app, links, settings.links.public_base_url)
    return desk.tasks.close


def http_app(
    settings: Settings,
    config: IntakeConfig,
    store: IntakeStore,
    forwarder: Forwarder | None = None,
    writer: StoreWriter | None = None,
    desk: TaskDesk | None = None,
) -> tuple[ASGIApp, Callable[[], None]]:
    """The whole HTTP service: the intake's app with the recruiters' side mounted on it, every
    route behind the body limit. Returns the app and what closes the inbox's store."""
    limit = settings.http.body_limit()
    # With LEVER_API_KEY / ASHBY_API_KEY set, the intake keeps their stage and archive-reason names
    # loaded, so deliveries that send ids read "Lever archive reason: Underqualified".
    # With LEVER_API_KEY, a Lever interview webhook (ids only) is completed with the interview's
    # time and panel from Lever's API before it is stored.
    vendor_settings = settings.ats.vendor_settings()
    app = create_app(
        config, store, forwarder, writer, max_body_bytes=limit, load_names=name_loader(vendor_settings), resolve=resolver(vendor_settings)
    )
    tracing.instrument_app(app)  # the webhook requests start the traces (when OTEL_* asks for them)
    # The recruiters' side (task API, inbox, signed links) is served by the same service.
    close_inbox = mount_inbox(app, settings, desk)
    return BodyLimit(app, limit, on_refused=app.state.intake_metrics.refused_body), close_inbox


async def serve_http(
    settings: Settings,
    stop: asyncio.Event,
    host: str = "127.0.0.1",
    port: int = 8000,
    config: IntakeConfig | None = None,
    listening: asyncio.Event | None = None,
    with_forwarder: bool = True,
) -> None:
    """Serve until `stop` is set; `config` defaults to the one the settings describe (INTAKE_CONFIG
    and the secrets); `listening` is set once the port accepts requests. Without the forwarder
    (`postinterview intake --no-forwarder`) it only accepts: a `postinterview forwarder` delivers."""
    config = config or settings.intake.config()
    store = IntakeStore(settings.database_url)
    # One writer thread for the endpoints and the forwarder: they never contend for the table.
    writer = StoreWriter(store)
    forwarder = build_forwarder(settings, store, writer) if with_forwarder else None
    log.info(
        "intake listening",
        url=f"http://{host}:{port}",
        openapi=f"http://{host}:{port}/docs",
        forwarder=forwarder.name if forwarder else "none in this process (postinterview forwarder delivers)",
    )
    app, close_inbox = http_app(settings, config, store, forwarder, writer)
    try:
        await serve_until(app, stop, host, port, "webhook intake", listening, forwarded_allow_ips=settings.http.trusted_proxies())
    finally:
        close_inbox()
        await asyncio.to_thread(writer.close)
        store.close()


def build_forwarder(settings: Settings, store: IntakeStore, writer: StoreWriter | None = None) -> Forwarder:
    return Forwarder(
        store,
        tracing.traced_connector(temporal_connector(settings)),
        settings.task_queue,
        writer=writer,
        max_attempts=settings.intake.forwarder_max_attempts(),
        lease_seconds=settings.intake.forwarder_lease_seconds(),
        retention_days=settings.intake.retention_days(),
    )


async def serve_forwarder(settings: Settings, stop: asyncio.Event) -> None:
    """Only the forwarder (`postinterview forwarder`): delivers what the intake instances
    (`postinterview intake --no-forwarder`) accepted, until `stop` is set."""
    store = IntakeStore(settings.database_url)
    forwarder = build_forwarder(settings, store)
    log.info("forwarder started", forwarder=forwarder.name, temporal=settings.temporal_address, claims="leases" if store.claims else "the only reader of a SQLite file")
    try:
        await forwarder.run(stop)
    finally:
        store.close()
