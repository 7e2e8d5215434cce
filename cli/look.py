"""`postinterview status`, `tasks`, `messages`, `notifications` and `list`: looking at what the
processes did, by asking them (the `status` query, a visibility query) or reading the store.

The store listings read DATABASE_URL; a SQLite file that does not exist yet is reported, never
created.
"""

from __future__ import annotations

import asyncio
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from cli.common import CliError, connect_temporal, fail, note, out, read_settings, rpc_failure, run_async, safe_url, say, store_location
from domain.contract import post_interview_workflow_id
from domain.delivery import NotificationStatus
from service.settings import Settings

if TYPE_CHECKING:
    from store.task_store import TaskStore

# A query waits for a worker to answer; without one it would hang.
QUERY_TIMEOUT = 15.0


def status(
    source: Annotated[str, typer.Argument(help="The application's source, as in its events (api, greenhouse, ...).", metavar="SOURCE", show_default=False)],
    application_id: Annotated[str, typer.Argument(help="The application id, as in its events.", metavar="APPLICATION_ID", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the process's status model as JSON instead of tables.")] = False,
) -> None:
    """Ask a process where it stands (the `status` query): stage, what it waits for, tasks, referees, debriefs."""
    settings = read_settings()

    async def ask() -> None:
        from process_client import process_status

        client = await connect_temporal(settings)
        try:
            current = await asyncio.wait_for(process_status(client, source, application_id), QUERY_TIMEOUT)
        except TimeoutError:
            raise CliError(
                f"no worker answered within {QUERY_TIMEOUT:.0f} s: is one running on task queue "
                f"{settings.task_queue} (`postinterview run` or `postinterview worker`)?"
            ) from None
        except Exception as error:  # noqa: BLE001 - not found, server errors
            raise await rpc_failure(client, error, source, application_id) from None
        if as_json:
            typer.echo(current.model_dump_json(indent=2))
            return
        from cli.render import status_view

        workflow_id = post_interview_workflow_id(source, application_id)
        out.print(status_view(current, workflow_id, references=_reference_counts(settings, workflow_id)))

    run_async(ask())


def _reference_counts(settings: Settings, workflow_id: str) -> tuple[int, int] | None:
    """(reference reports, flagged ones) of the process, from the store; None without a store."""
    store = _open_store(settings.database_url)
    if store is None:
        return None
    from store.reference_store import ReferenceStore

    try:
        return ReferenceStore(store.engine).counts([workflow_id]).get(workflow_id, (0, 0))
    finally:
        store.close()


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

    settings = read_settings()
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

    settings = read_settings()
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


def notifications(
    status_: Annotated[NotificationStatus | None, typer.Option("--status", help="Only deliveries in this state (`unknown`: check with the recipient by hand).", show_default=False)] = None,
    process: Annotated[str | None, typer.Option(help=PROCESS_HELP, show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the deliveries as a JSON array.")] = False,
) -> None:
    """Where each message and task was delivered (email, Slack, ATS note), from DATABASE_URL."""
    from pydantic import TypeAdapter

    from cli.render import notifications_table
    from domain.delivery import StoredNotification
    from store.notification_store import NotificationStore

    settings = read_settings()
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
    settings = read_settings()

    async def ask() -> list[operator.ProcessRow]:
        client = await connect_temporal(settings)
        try:
            return await operator.list_processes(client, query, limit)
        except Exception as error:  # noqa: BLE001 - server errors, a query the server refuses
            raise CliError(f"the visibility query failed: {error}\nQuery: {query}") from None

    rows = run_async(ask())
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
