"""`postinterview schema`: the contract integrators validate against; `postinterview intake
check-config`: the intake's stage map against the vendors' own stages."""

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


def check_config(
    vendor: Annotated[list[str] | None, typer.Option("--vendor", help="greenhouse, lever or ashby (repeatable); default: each whose API key is set.", show_default=False)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """List each vendor's stages and archive reasons from its API beside config/intake.toml's map,
    and say which stages are unmapped (their interviews' rounds would be left to the process,
    Lever's stage changes ignored). Exit code 1 when any is unmapped, 2 when nothing can be read.

    Reads GREENHOUSE_HARVEST_API_KEY, LEVER_API_KEY, ASHBY_API_KEY (and *_URL) and INTAKE_CONFIG.
    """
    import json

    import httpx

    from activities.ats_api import VENDORS
    from activities.ats_api.catalogs import NoApiKey, read_catalog
    from cli.common import fail, read_settings, run_async, say
    from intake import check
    from intake.config import IntakeConfigError

    settings = read_settings()
    try:
        config = settings.intake.config()
    except IntakeConfigError as error:
        fail(str(error), 2)
    vendor_settings = settings.ats.vendor_settings()
    chosen = vendor or [name for name, api in VENDORS.items() if (vendor_settings.get(api.key_setting) or "").strip()]
    unknown = [name for name in chosen if name not in VENDORS]
    if unknown:
        fail(f"unknown vendor {unknown[0]!r}: use greenhouse, lever or ashby", 2)
    if not chosen:
        fail("no vendor API key is set (GREENHOUSE_HARVEST_API_KEY, LEVER_API_KEY, ASHBY_API_KEY): nothing to compare the map with", 2)

    async def read_all() -> dict[str, object]:
        found: dict[str, object] = {}
        for name in chosen:
            try:
                found[name] = await read_catalog(name, vendor_settings)
            except NoApiKey as error:
                found[name] = str(error)
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
                found[name] = f"{name} API: {type(error).__name__}: {error}"
        return found

    catalogs = run_async(read_all())
    report: dict[str, dict[str, object]] = {}
    unmapped = 0
    readable = 0
    for name, catalog in catalogs.items():
        if isinstance(catalog, str):
            report[name] = {"error": catalog}
            continue
        readable += 1
        stage_rows = check.stages(name, config, [(s.id, s.name, s.kind) for s in catalog.stages])
        reason_rows = check.archive_reasons(name, config, [(r.id, r.name, r.kind) for r in catalog.archive_reasons])
        unmapped += sum(r.unmapped for r in stage_rows + reason_rows)
        report[name] = {"stages": stage_rows, "archive_reasons": reason_rows}
    if json_output:
        def plain(value: object) -> object:
            if isinstance(value, list):
                return [row.__dict__ for row in value]
            return value

        say(json.dumps({name: {k: plain(v) for k, v in parts.items()} for name, parts in report.items()}, indent=2))
    else:
        for name, parts in report.items():
            if "error" in parts:
                say(f"{name}: not read: {escape(str(parts['error']))}")
                continue
            for title, rows in (("stages", parts["stages"]), ("archive reasons", parts["archive_reasons"])):
                say(f"{name} {title}:")
                for row in rows:  # type: ignore[union-attr]
                    flag = "UNMAPPED" if row.unmapped else "ok      "
                    kind = f" [{row.kind}]" if row.kind else ""
                    say(f"  {flag} {escape(row.name)}{escape(kind)} ({row.id}) -> {escape(row.mapping)}")
        say(f"{unmapped} unmapped" + (": add them to config/intake.toml" if unmapped else ""))
    if not readable:
        raise typer.Exit(2)
    if unmapped:
        raise typer.Exit(1)
