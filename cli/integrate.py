"""`postinterview schema`: the contract integrators validate against."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cli.common import note


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
