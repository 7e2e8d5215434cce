"""`postinterview contact show|opt-out`: a candidate's choice about being contacted.

What the answer links and the intake record (the candidate's opt-out, the ATS's `can_email`) in
`contact_preferences`, read here; and an opt-out a candidate gave some other way (on the phone, in
a reply) recorded by an operator, with the same effect as their link: every later message to them
is suppressed when it is about to be sent, and their relationship's check-ins stop at the next one.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from cli.common import read_settings
from store.contact_preferences import ContactPreferenceStore
from store.task_store import TaskStore

app = typer.Typer(help="Candidates' choices about being contacted (their opt-out, the ATS's can_email).", no_args_is_help=True)
out = Console(highlight=False)


def _preferences() -> tuple[TaskStore, ContactPreferenceStore]:
    store = TaskStore(read_settings().database_url)
    return store, ContactPreferenceStore(store.engine)


@app.command("show")
def show(
    source: Annotated[str, typer.Argument(help="The ATS source (greenhouse, lever, ashby, bullhorn, api, ...).")],
    candidate_id: Annotated[str, typer.Argument(help="The candidate's id in that ATS.")],
    as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
) -> None:
    """Whether the candidate may be contacted, and why not."""
    store, preferences = _preferences()
    try:
        preference = preferences.preference(source, candidate_id)
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps(preference.model_dump(mode="json") | {"suppression": preference.suppression}))
        return
    who = f"{escape(candidate_id)} ({escape(source)})"
    out.print(f"{who}: {escape(preference.suppression) if preference.suppression else 'may be contacted'}", soft_wrap=True)
    if preference.opted_out_at:
        out.print(f"  opted out {preference.opted_out_at:%Y-%m-%d %H:%M} UTC via {escape(preference.opted_out_via or '?')}", soft_wrap=True)
    if preference.ats_can_email is not None:
        out.print(f"  the ATS says can_email: {str(preference.ats_can_email).lower()} (as of {preference.ats_can_email_at:%Y-%m-%d %H:%M} UTC)", soft_wrap=True)


@app.command("opt-out")
def opt_out(
    source: Annotated[str, typer.Argument(help="The ATS source.")],
    candidate_id: Annotated[str, typer.Argument(help="The candidate's id in that ATS.")],
    by: Annotated[str, typer.Option(help="Who records it (your user id): kept as how they opted out.")] = "operator",
) -> None:
    """Record a candidate's opt-out they gave some other way (a call, a reply): no more messages, no more check-ins."""
    store, preferences = _preferences()
    try:
        preference, created = preferences.opt_out(source, candidate_id, f"operator:{by}")
    finally:
        store.close()
    when = f"{preference.opted_out_at:%Y-%m-%d %H:%M} UTC"
    out.print(
        f"{'Opted out' if created else 'Already opted out'}: {escape(candidate_id)} ({escape(source)}), {when} via {escape(preference.opted_out_via or '?')}.",
        soft_wrap=True,
    )
