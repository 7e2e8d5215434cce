"""`postinterview greenhouse-interviews`: where each Greenhouse interview poller stands (its
cursor, its last pass and error, what it has seen), from its `state` query and its table."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import CliError, connect_temporal, out, read_settings, run_async
from domain.greenhouse_interviews import WORKFLOW, PollerState, poller_workflow_id

QUERY_TIMEOUT = 10.0


def greenhouse_interviews(
    account: Annotated[
        str | None, typer.Argument(help="The poller's account (GREENHOUSE_ACCOUNT); every running poller when omitted.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print each poller's state as JSON.")] = False,
) -> None:
    """Where the Greenhouse interview pollers stand: cursor, passes, events stored, the last error,
    and the interviews each has seen by status."""
    settings = read_settings()

    async def ask() -> None:
        from process_client import ProcessError
        from process_client.greenhouse_interviews import poller_state

        client = await connect_temporal(settings)
        if account is not None:
            accounts = [account]
        else:
            query = f"WorkflowType = '{WORKFLOW}' AND ExecutionStatus = 'Running'"
            accounts = sorted({w.id.removeprefix(poller_workflow_id("")) async for w in client.list_workflows(query)})
            if not accounts:
                raise CliError(
                    "no Greenhouse interview poller is running: set GREENHOUSE_INTERVIEW_POLL_SECONDS (and GREENHOUSE_HARVEST_API_KEY) "
                    "for the worker, or run `make run` without a Greenhouse key for its local stand-in"
                )
        states: dict[str, PollerState] = {}
        for name in accounts:
            try:
                states[name] = await asyncio.wait_for(poller_state(client, name), QUERY_TIMEOUT)
            except TimeoutError:
                raise CliError(f"no worker answered within {QUERY_TIMEOUT:.0f} s: is one running on task queue {settings.task_queue}?") from None
            except ProcessError as error:
                raise CliError(f"no poller {poller_workflow_id(name)}: {error}") from None
        seen = await asyncio.to_thread(_seen_by_status, settings.database_url, list(states))
        if as_json:
            typer.echo(json.dumps({name: {**json.loads(state.model_dump_json()), "interviews_seen": seen.get(name, {})} for name, state in states.items()}, indent=2))
            return
        for name, state in states.items():
            out.print(_view(name, state, seen.get(name, {})))

    run_async(ask())


def _seen_by_status(database_url: str, accounts: list[str]) -> dict[str, dict[str, int]]:
    from store.harvest_store import HarvestInterviewStore
    from store.intake_store import IntakeStore

    intake = IntakeStore(database_url)
    try:
        store = HarvestInterviewStore(intake)
        return {name: store.counts(name) for name in accounts}
    finally:
        intake.close()


def _view(account: str, state: PollerState, seen: dict[str, int]) -> Table:
    table = Table(title=f"Greenhouse interviews of account {escape(account)} ({poller_workflow_id(account)})", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    config = state.config
    table.add_row("Polls", f"every {config.interval_seconds} s, {config.per_page} per page")
    table.add_row("Cursor", f"interviews updated since {state.cursor:%Y-%m-%d %H:%M:%S} UTC" if state.cursor else "not started")
    if state.pass_started_at is not None:
        table.add_row("Pass under way", f"since {state.pass_started_at:%H:%M:%S} UTC" + (f", at {escape(state.page_url)}" if state.page_url else ""))
    table.add_row("Passes", f"{state.passes}" + (f", the last at {state.last_pass_at:%Y-%m-%d %H:%M:%S} UTC" if state.last_pass_at else ""))
    table.add_row("Events stored", str(state.events_stored))
    table.add_row("Interviews seen", ", ".join(f"{count} {status}" for status, count in sorted(seen.items())) or "none")
    if state.last_error:
        table.add_row("[red]Last error[/]", f"{escape(state.last_error)} ({state.last_error_at:%Y-%m-%d %H:%M:%S} UTC)" if state.last_error_at else escape(state.last_error))
    return table
