"""What every `postinterview` command shares: its settings (read once per command), its output,
its errors and exit codes, its connection to Temporal, and how it names a store.

The short commands talk to a person and print with Rich: `say` for what a script would parse
(standard output), `note` for progress and errors (standard error). A command fails with `fail`
(message and exit code); the async part of a command raises `CliError`, which `run_async` turns
into the same. Exit codes: 0 done, 1 failed, 2 invalid input (nothing sent).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from domain.contract import post_interview_workflow_id
from service.settings import Settings, SettingsError

if TYPE_CHECKING:
    from temporalio.client import Client

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def say(text: str) -> None:
    """One line of output, never wrapped by Rich (the terminal wraps it), so it greps as one line."""
    out.print(text, soft_wrap=True)


def note(text: str) -> None:
    """One line on standard error: progress and errors, apart from what a script would parse."""
    err.print(text, soft_wrap=True)


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 1) -> NoReturn:
    note(f"[bold red]Error:[/] {escape(message)}")
    raise typer.Exit(code)


def run_async(coroutine: Any) -> Any:
    """Run one command's async part; its CliError becomes a message and an exit code."""
    from store.migrations import StoreNotMigrated

    try:
        return asyncio.run(coroutine)
    except CliError as error:
        fail(str(error), error.code)
    except StoreNotMigrated as error:
        fail(str(error))


def read_settings() -> Settings:
    """The command's settings, read from the environment once; exit 2 when a secret is given
    both as NAME and NAME_FILE, or its file cannot be read, or DATABASE_AUTO_MIGRATE is neither
    true nor false."""
    from store.migrations import set_automatic_upgrade

    try:
        settings = Settings.from_env()
        # Every store this command opens upgrades its schema, or only checks it (DATABASE_AUTO_MIGRATE).
        set_automatic_upgrade(settings.auto_migrate())
    except SettingsError as error:
        fail(str(error), 2)
    return settings


async def connect_temporal(
    settings: Settings, hint: str = "Is the engine running (`postinterview run`)? Otherwise set TEMPORAL_ADDRESS."
) -> Client:
    from temporalio.client import Client

    from codec.encryption import EncryptionConfigError

    try:
        connection = settings.temporal_connection()
        options = settings.temporal_client_options()
    except EncryptionConfigError as error:
        raise CliError(f"cannot use PAYLOAD_ENCRYPTION_KEYS: {error}", 2) from None
    except SettingsError as error:
        raise CliError(str(error), 2) from None
    try:
        return await Client.connect(**options)
    except RuntimeError as error:
        raise CliError(
            f"cannot reach Temporal at {connection.address} (namespace {connection.namespace}, {connection.security()}): {error}. {hint}"
        ) from None


async def rpc_failure(client: Client, error: Exception, source: str, application_id: str) -> CliError:
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
