"""`postinterview forget CANDIDATE --source ATS`: erase a candidate (privacy/erasure.py says how);
`postinterview erasures`: the audit record of erasure requests; `postinterview intake purge`:
drop the payloads of deliveries older than the retention period now (the forwarder does it every
hour by itself)."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from cli.common import CliError, connect_temporal, fail, read_settings, run_async, say, store_location
from cli.render import when

FORGET_EPILOG = (
    "Terminates the candidate's post-interview processes, referee checks and relationship; deletes their tasks, messages, "
    "deliveries and used links from the store; drops the payloads of their intake deliveries; destroys their data key, so "
    "what Temporal's histories hold about them can no longer be decoded. Safe to repeat. Records who asked and when "
    "(`postinterview erasures`), never whom it was about."
)


def forget(
    candidate: Annotated[str, typer.Argument(help="The candidate's id in the ATS (the events' `candidate.id`).", show_default=False)],
    source: Annotated[str, typer.Option(help="The ATS the id is from: greenhouse, lever, ashby, bullhorn, api, ...", show_default=False)],
    application: Annotated[
        list[str] | None,
        typer.Option("--application", help="An application of theirs you know of (repeat); the rest are found by the CandidateId search attribute.", show_default=False),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    by: Annotated[str | None, typer.Option(help="Who asks, recorded with the erasure (default: your login name).", show_default=False)] = None,
) -> None:
    """Erase a candidate: their processes ended, their rows purged, their Temporal history made unreadable."""
    settings = read_settings()
    if not source.strip() or not candidate.strip():
        fail("give the candidate's id and --source", 2)
    if not yes:
        typer.confirm(
            f"Erase candidate {candidate} from {source}: end their processes, delete their tasks and messages, and destroy the key "
            "of their Temporal history? This cannot be undone",
            abort=True,
        )
    requested_by = (by or getpass.getuser() or "operator").strip()
    report = run_async(_forget(settings, source.strip(), candidate.strip(), tuple(application or ()), requested_by))
    for line in report.lines():
        say(line)
    if settings.payload_codec() is None:
        say("  note: PAYLOAD_ENCRYPTION_KEYS is not set, so Temporal's histories were never encrypted: the candidate's data in "
            "closed histories stays until the namespace's retention removes it")


async def _forget(settings, source: str, candidate_id: str, applications: tuple[str, ...], requested_by: str):  # type: ignore[no-untyped-def]
    import logging
    import sys

    import structlog

    from privacy.erasure import ErasureRequest, erase
    from store.erasure_store import ErasureStore

    # The erasure logs what it does for an engine's log collector; here the report says it.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING), logger_factory=structlog.PrintLoggerFactory(sys.stderr))

    client = await connect_temporal(settings)
    store = ErasureStore(settings.database_url)
    try:
        return await erase(
            client, store, ErasureRequest(source=source, candidate_id=candidate_id, application_ids=applications, requested_by=requested_by, via="cli")
        )
    except Exception as error:
        if isinstance(error, CliError):
            raise
        raise CliError(f"the erasure stopped half-way ({type(error).__name__}: {error}); run the same command again to finish it") from None
    finally:
        store.close()


def erasures(limit: Annotated[int, typer.Option(help="Show at most this many, newest first.", min=1)] = 50) -> None:
    """The erasure requests: who asked, through what, when, when carried out and what was erased (never whom)."""
    from store.erasure_store import ErasureStore

    settings = read_settings()
    store = ErasureStore(settings.database_url)
    try:
        records = store.records(limit)
    finally:
        store.close()
    if not records:
        say(f"No erasure requests in {store_location(settings.database_url)}.")
        return
    for record in records:
        done = f"done {when(record.completed_at)}" if record.completed_at else "NOT FINISHED: run it again"
        what = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in (record.report or {}).items() if k != "earlier_erasures")
        say(f"#{record.id}  {when(record.requested_at)}  {record.source}  by {record.requested_by} via {record.via}  {done}  {what}")


def purge(
    days: Annotated[int | None, typer.Option(help="Keep this many days (default: INTAKE_PAYLOAD_RETENTION_DAYS, 30).", min=1, show_default=False)] = None,
) -> None:
    """Drop the payloads of deliveries done with (delivered, ignored, skipped) before the retention period; the rows stay."""
    from store.intake_store import IntakeStore

    settings = read_settings()
    try:
        keep = days or settings.intake.retention_days()
    except ValueError as error:
        fail(str(error), 2)
    store = IntakeStore(settings.database_url)
    cutoff = datetime.now(UTC) - timedelta(days=keep)
    total = 0
    try:
        while purged := store.purge_payloads(cutoff):
            total += purged
    finally:
        store.close()
    say(f"Purged the payloads of {total} deliveries received before {cutoff:%Y-%m-%d %H:%M} UTC (kept {keep} days); their rows stay.")
