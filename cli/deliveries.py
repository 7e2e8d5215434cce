"""`postinterview deliveries ...`: the webhook deliveries in the intake table, and what an operator
does with the ones the forwarder gave up on (status `failed`: a non-retryable error, or
INTAKE_MAX_ATTEMPTS failed attempts).

`list` and `show` read them; `retry` puts a failed (or skipped) delivery back to pending, its
attempts from zero, and the forwarder of every running intake delivers it at its next sweep (a
few seconds); `skip` gives up on one for good, saying who and why. Nothing is ever deleted: a
skipped delivery stays in the table with its events, and `retry` brings it back.

A failed delivery does not hold up its application's later ones (they went on), so a retried one
reaches its process after them; the process takes events in any order and each event once.
"""

from __future__ import annotations

import getpass
import json
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from cli.common import fail, out, read_settings, safe_url, say, store_location
from cli.render import when
from domain import names

if TYPE_CHECKING:
    from store.intake_store import IntakeStore

app = typer.Typer(
    help="Webhook deliveries in the intake table: list them, show one, retry or skip the ones the forwarder gave up on.",
    no_args_is_help=True,
)


class DeliveryStatus(str, Enum):
    FAILED = names.INTAKE_FAILED
    PENDING = names.INTAKE_PENDING
    DELIVERED = names.INTAKE_DELIVERED
    SKIPPED = names.INTAKE_SKIPPED
    IGNORED = names.INTAKE_IGNORED
    ALL = "all"


_STYLE = {
    names.INTAKE_FAILED: "bold red",
    names.INTAKE_PENDING: "yellow",
    names.INTAKE_DELIVERED: "green",
    names.INTAKE_SKIPPED: "dim",
    names.INTAKE_IGNORED: "dim",
}
BY_HELP = "Who does it, recorded with the delivery (default: your login name)."


@app.command("list")
def list_(
    status_: Annotated[DeliveryStatus, typer.Option("--status", help="Which deliveries, by status.")] = DeliveryStatus.FAILED,
    source: Annotated[str | None, typer.Option(help="Only from this source (greenhouse, lever, ashby, api).", show_default=False)] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many, oldest first.", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the deliveries as a JSON array.")] = False,
) -> None:
    """List deliveries, oldest first (by default the failed ones: those the forwarder gave up on)."""
    store, url = _open()
    rows: list[dict[str, Any]] = []
    if store is not None:
        try:
            rows = store.deliveries(status=None if status_ == DeliveryStatus.ALL else status_.value, source=source, limit=limit)
        finally:
            store.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=_json_value))
        return
    which = "" if status_ == DeliveryStatus.ALL else f"{status_.value} "
    if not rows:
        where = f": the intake table {store_location(url)} does not exist yet" if store is None else f" in {store_location(url)}"
        say(f"No {which}deliveries{where}.")
        return
    more = f" (the first {limit}: use --limit for more)" if len(rows) >= limit else ""
    table = Table(title=f"{len(rows)} {which}deliveries{more}", title_justify="left", title_style="bold")
    for column in ("Id", "Received (UTC)", "Source", "Action", "Application", "Status", "Error"):
        table.add_column(column, overflow="fold", no_wrap=column in ("Id", "Status"))
    for row in rows:
        state = Text(row["status"], style=_STYLE.get(row["status"], ""))
        state.append(f"\n{row['attempts']} attempt(s)", style="dim")
        table.add_row(
            str(row["id"]),
            when(row["received_at"]),
            Text(row["source"]),
            Text(row["action"]),
            Text(row["application_key"] or "(several)"),
            state,
            Text(_first_line(row["last_error"] or row["ignored_reason"] or row["operator_note"] or "")),
        )
    out.print(table)


@app.command("show")
def show(
    delivery_id: Annotated[int, typer.Argument(help="The delivery's id (`postinterview deliveries list`).", metavar="ID", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the delivery as JSON.")] = False,
) -> None:
    """Show one delivery: where it stands, its last error, who retried or skipped it, and its events."""
    row = _one(delivery_id)
    if as_json:
        typer.echo(json.dumps(row, indent=2, default=_json_value))
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    grid.add_row("Delivery", str(row["id"]))
    grid.add_row("Status", Text(row["status"], style=_STYLE.get(row["status"], "")))
    grid.add_row("Source", Text(f"{row['source']} ({row['action']})"))
    grid.add_row("Idempotency key", Text(row["idempotency_key"]))
    grid.add_row("Application", Text(row["application_key"] or "several (an /events batch)"))
    grid.add_row("Received (UTC)", when(row["received_at"]))
    grid.add_row("Attempts", str(row["attempts"]))
    if row["delivered_at"]:
        grid.add_row("Delivered (UTC)", when(row["delivered_at"]))
    if row["failed_at"]:
        grid.add_row("Failed (UTC)", when(row["failed_at"]))
    if row.get("claimed_by"):
        # Pending: the intake instance delivering it, and until when; delivered: the one that did.
        until = f" until {when(row['lease_until'])} UTC" if row["status"] == "pending" and row.get("lease_until") else ""
        grid.add_row("Forwarder", Text(f"{row['claimed_by']}{until}"))
    if row["last_error"]:
        grid.add_row("Last error", Text(row["last_error"]))
    if row["ignored_reason"]:
        grid.add_row("Ignored", Text(row["ignored_reason"]))
    if row["operator"]:
        note = f": {row['operator_note']}" if row["operator_note"] else ""
        grid.add_row("Operator", Text(f"{row['operator']} at {when(row['operator_at'])} UTC{note}"))
    out.print(grid)
    say(f"[bold]Events[/] ({len(row['events'])}):")
    # The events as stored: what the ATS sent, mapped (the operator's own data; no secret is stored).
    out.print_json(json.dumps(row["events"], default=_json_value))


@app.command("retry")
def retry(
    delivery_ids: Annotated[list[int] | None, typer.Argument(help="Failed or skipped deliveries' ids.", metavar="ID...", show_default=False)] = None,
    all_failed: Annotated[bool, typer.Option("--all-failed", help="Every failed delivery (with --source: from that source).")] = False,
    source: Annotated[str | None, typer.Option(help="With --all-failed: only from this source.", show_default=False)] = None,
    by: Annotated[str | None, typer.Option(help=BY_HELP, show_default=False)] = None,
    note: Annotated[str | None, typer.Option(help="Why, recorded with the delivery (e.g. what was fixed).", show_default=False)] = None,
) -> None:
    """Put failed (or skipped) deliveries back to pending, their attempts from zero.

    The running intake's forwarder delivers them within seconds (at its next sweep), after
    whatever of their applications came later (that went on without them).
    """
    if bool(delivery_ids) == all_failed:
        fail("give the ids of the deliveries to retry, or --all-failed (not both). Nothing was changed.", 2)
    if source and not all_failed:
        fail("--source goes with --all-failed. Nothing was changed.", 2)
    operator = _operator(by)
    store = _require_store()
    try:
        if all_failed:
            ids = store.retry_failed(operator, source=source, note=note)
            which = f" from {source}" if source else ""
            say(f"{len(ids)} failed deliveries{which} pending again: {', '.join(map(str, ids)) or 'none'}.")
            return
        refused = []
        for delivery_id in delivery_ids or []:
            if store.retry(delivery_id, operator, note):
                say(f"Delivery {delivery_id} is pending again; the forwarder delivers it at its next sweep.")
            else:
                refused.append(_why_not(store, delivery_id, "retried", names.INTAKE_FAILED, names.INTAKE_SKIPPED))
    finally:
        store.close()
    if refused:
        fail("\n".join(refused))


@app.command("skip")
def skip(
    delivery_id: Annotated[int, typer.Argument(help="A failed (or pending) delivery's id.", metavar="ID", show_default=False)],
    reason: Annotated[str, typer.Option(help="Why it is given up on, recorded with it (required).", show_default=False)],
    by: Annotated[str | None, typer.Option(help=BY_HELP, show_default=False)] = None,
) -> None:
    """Give up on a delivery for good: it is never forwarded, and stays in the table with who and why.

    A pending one that a forwarder is retrying is let go at its next attempt (one already under
    way may still arrive). `postinterview deliveries retry ID` brings a skipped delivery back.
    """
    if not reason.strip():
        fail("--reason must say why the delivery is skipped. Nothing was changed.", 2)
    operator = _operator(by)
    store = _require_store()
    try:
        if store.skip(delivery_id, operator, reason.strip()):
            say(f"Delivery {delivery_id} skipped by {operator}: {reason.strip()}")
            return
        refusal = _why_not(store, delivery_id, "skipped", names.INTAKE_FAILED, names.INTAKE_PENDING)
    finally:
        store.close()
    fail(refusal)


# --- helpers -------------------------------------------------------------------------------------


def _open() -> tuple[IntakeStore | None, str]:
    """The intake store, or None when its SQLite file does not exist yet (reading must not create it)."""
    from sqlalchemy.engine import make_url

    from store.intake_store import IntakeStore

    url = read_settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).exists():
            return None, url
    try:
        return IntakeStore(url), url
    except Exception as error:  # noqa: BLE001 - a bad URL or an unreachable database
        fail(f"cannot open the intake table at {safe_url(url)}: {error}")


def _require_store() -> IntakeStore:
    store, url = _open()
    if store is None:
        fail(f"the intake table {store_location(url)} does not exist yet: there is no delivery to act on.")
    return store


def _one(delivery_id: int) -> dict[str, Any]:
    store = _require_store()
    try:
        row = store.delivery_by_id(delivery_id)
    finally:
        store.close()
    if row is None:
        fail(f"no delivery {delivery_id} in the intake table (`postinterview deliveries list --status all` lists them).")
    return row


def _why_not(store: IntakeStore, delivery_id: int, done: str, *allowed: str) -> str:
    row = store.delivery_by_id(delivery_id)
    if row is None:
        return f"no delivery {delivery_id} in the intake table; nothing was changed."
    return f"delivery {delivery_id} is {row['status']}: only a {' or '.join(allowed)} delivery can be {done}; nothing was changed."


def _operator(by: str | None) -> str:
    if by is not None and by.strip():
        return by.strip()
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        fail("cannot tell who you are: say it with --by NAME. Nothing was changed.", 2)


def _first_line(text: str, width: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def _json_value(value: object) -> str:
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return]
    return str(value)
