"""`postinterview users ...`: who may use the inbox and the task API, and their tokens.

Recruiters and leads appear by themselves the first time a process gives them a task (with the
ids the ATS uses); an operator, or anyone the ATS never names, is added here. A token is printed
once, when issued: only its hash is stored.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.common import read_settings
from store.access_store import SIGN_IN_CODE_LIFETIME, AccessStore, UnknownUser, User

app = typer.Typer(help="Users of the inbox and the task API (recruiters, leads, operators) and their API tokens.", no_args_is_help=True)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _store() -> AccessStore:
    return AccessStore(read_settings().database_url)


@app.command("add")
def add(
    user_id: Annotated[str, typer.Argument(help="Their id: for a recruiter or lead, the ATS's user id the events carry.")],
    role: Annotated[str, typer.Option(help="recruiter (their own tasks), lead (their team's), operator (everybody's).")] = "recruiter",
    name: Annotated[str | None, typer.Option(show_default=False)] = None,
    email: Annotated[str | None, typer.Option(show_default=False)] = None,
    lead: Annotated[str | None, typer.Option(help="A recruiter's lead (who sees their tasks too).", show_default=False)] = None,
) -> None:
    """Add a user, or change one (role, name, email, lead)."""
    if role not in ("recruiter", "lead", "operator"):
        err.print(f"[bold red]Error:[/] role must be recruiter, lead or operator, not {escape(role)!r}")
        raise typer.Exit(2)
    store = _store()
    try:
        known = store.user(user_id)
        user = User(
            id=user_id,
            role=role,  # type: ignore[arg-type]
            name=name if name is not None else (known.name if known else None),
            email=email if email is not None else (known.email if known else None),
            lead_id=lead if lead is not None else (known.lead_id if known else None),
        )
        store.save_user(user)
    finally:
        store.close()
    out.print(f"{'Changed' if known else 'Added'} {escape(user_id)} ({role}).", soft_wrap=True)


@app.command("list")
def list_users() -> None:
    """Everybody who can sign in, by role."""
    store = _store()
    try:
        users = store.users()
    finally:
        store.close()
    if not users:
        out.print("No users yet: they appear when a process gives them a task, or with `postinterview users add`.")
        return
    table = Table(title=f"{len(users)} user(s)")
    for column in ("id", "role", "lead", "name", "email"):
        table.add_column(column)
    for user in users:
        table.add_row(user.id, user.role, user.lead_id or "", user.name or "", user.email or "")
    out.print(table)


@app.command("token")
def token(
    user_id: Annotated[str, typer.Argument(help="The user the token is for.")],
    label: Annotated[str | None, typer.Option(help="What the token is for, e.g. 'laptop' or 'slack-bot'.", show_default=False)] = None,
) -> None:
    """Issue an API token (printed once; only its hash is kept). Use it as `Authorization: Bearer <token>`, or sign in to the inbox with it."""
    store = _store()
    try:
        issued = store.issue_token(user_id, label)
    except UnknownUser:
        err.print(f"[bold red]Error:[/] no user {escape(user_id)!r}: `postinterview users list` shows who there is.")
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(issued)


@app.command("revoke")
def revoke(user_id: Annotated[str, typer.Argument(help="Whose tokens to revoke.")]) -> None:
    """Revoke every token of a user (they are signed out everywhere at their next request)."""
    store = _store()
    try:
        count = store.revoke_tokens(user_id)
    finally:
        store.close()
    out.print(f"Revoked {count} token(s) of {escape(user_id)}.")


def inbox_link(
    user_id: Annotated[str, typer.Argument(help="Who signs in: a recruiter's or lead's ATS user id (`postinterview users list`).")],
    url: Annotated[str, typer.Option(help="Where the inbox is served (the intake's address).")] = "http://127.0.0.1:8000",
) -> None:
    """Print a sign-in link to the inbox for USER: it works once, within 15 minutes.

    The one-time code rides after '#', so it never reaches a server log; the sign-in page shows
    whose account it opens and signs in (a session of its own) when they press the button. For
    local use: open it on this machine."""
    store = _store()
    try:
        code = store.issue_sign_in_code(user_id)
    except UnknownUser:
        err.print(
            f"[bold red]Error:[/] no user {escape(user_id)!r}: recruiters appear when a process gives them a task; "
            "`postinterview users list` shows who there is."
        )
        raise typer.Exit(1) from None
    finally:
        store.close()
    minutes = int(SIGN_IN_CODE_LIFETIME.total_seconds() // 60)
    err.print(f"Open this link to sign in to the inbox as {escape(user_id)} (once, within {minutes} minutes):")
    typer.echo(f"{url.rstrip('/')}/inbox/login#code={code}")
