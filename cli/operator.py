"""Operator commands behind `postinterview list` and `postinterview replay`.

- `list`: a visibility query over the processes, built from the contract's search attributes
  (`ProcessStage`, `SlaBreached`, `RecruiterId`, `AtsSource`) with `WorkflowType` and
  `ExecutionStatus`; the query itself is shown so an operator can paste it into the UI.
- `replay`: the pre-deploy check. The histories of recent executions (or recorded JSON
  histories, as in tests/histories) are replayed against the workflow code about to be deployed;
  a change that would break a running process fails here, with the nondeterminism message.

Values from the command line go into a query only quoted, and a value that could break out of
its quotes is refused (QueryError, exit code 2): nothing is sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from domain import contract, greenhouse_interviews
from domain.bullhorn import BULLHORN_POLLER_WORKFLOW

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowExecution, WorkflowHistory
    from temporalio.converter import PayloadCodec

STAGES = ("debrief", "awaiting_client", "follow_up", "references", "offer", "starting", "placed", "closed")
STATUSES = ("running", "closed", "all")
# The engine's workflow types: what `replay` checks unless told otherwise.
# Notify too: a delivery waiting out quiet hours replays its history on the new code like a process.
ENGINE_WORKFLOW_TYPES = (contract.POST_INTERVIEW_WORKFLOW, contract.REFEREE_CHECK_WORKFLOW, contract.RELATIONSHIP_WORKFLOW, contract.NOTIFY_WORKFLOW)
# And the Greenhouse interview poller, which runs for as long as its account is connected.
ENGINE_WORKFLOW_TYPES += (greenhouse_interviews.WORKFLOW,)
# And the Bullhorn pollers, which run for as long as their account is connected.
ENGINE_WORKFLOW_TYPES += (BULLHORN_POLLER_WORKFLOW,)

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


class QueryError(ValueError):
    """Invalid input for a query: nothing was sent (exit code 2)."""


# --- building queries -----------------------------------------------------------------------


def quote(value: str, what: str) -> str:
    """A value as a visibility query string literal; refused if it could break out of its quotes."""
    if not value:
        raise QueryError(f"{what} must not be empty.")
    bad = next((c for c in value if c in "'\"`\\" or ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise QueryError(f"{what} {value!r} contains {bad!r}: quotes, backslashes and control characters are not allowed in a query value.")
    return f"'{value}'"


def list_query(
    stage: str | None = None,
    sla_breached: bool = False,
    recruiter: str | None = None,
    source: str | None = None,
    status: str = "running",
) -> str:
    """The visibility query of `postinterview list`."""
    parts = [f"WorkflowType = {quote(contract.POST_INTERVIEW_WORKFLOW, 'the workflow type')}"]
    if stage is not None:
        if stage not in STAGES:
            raise QueryError(f"unknown stage {stage!r}: one of {', '.join(STAGES)}.")
        parts.append(f"{contract.PROCESS_STAGE.name} = {quote(stage, '--stage')}")
    if sla_breached:
        parts.append(f"{contract.SLA_BREACHED.name} = true")
    if recruiter is not None:
        parts.append(f"{contract.RECRUITER_ID.name} = {quote(recruiter, '--recruiter')}")
    if source is not None:
        parts.append(f"{contract.ATS_SOURCE.name} = {quote(source, '--source')}")
    if status == "running":
        parts.append("ExecutionStatus = 'Running'")
    elif status == "closed":
        parts.append("ExecutionStatus != 'Running'")
    elif status != "all":
        raise QueryError(f"unknown status {status!r}: one of {', '.join(STATUSES)}.")
    return " AND ".join(parts)


def parse_since(text: str) -> timedelta:
    """`30m`, `12h`, `7d`, `2w` (also `90s`)."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise QueryError(f"--since {text!r} is not a duration: a number and a unit, e.g. 30m, 12h, 7d, 2w.")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def replay_query(started_after: datetime, workflow_types: Sequence[str] = ENGINE_WORKFLOW_TYPES) -> str:
    """Running and closed executions of these types started after a moment."""
    if not workflow_types:
        raise QueryError("no workflow type to replay.")
    types = [quote(t, "--workflow-type") for t in workflow_types]
    type_clause = f"WorkflowType = {types[0]}" if len(types) == 1 else f"WorkflowType IN ({', '.join(types)})"
    moment = started_after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{type_clause} AND StartTime > '{moment}'"


# --- list -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessRow:
    workflow_id: str
    run_id: str
    application_id: str | None
    stage: str | None
    sla_breached: bool | None
    recruiter_id: str | None
    source: str | None
    started_at: datetime | None
    closed_at: datetime | None
    status: str

    @classmethod
    def from_execution(cls, execution: WorkflowExecution) -> ProcessRow:
        attributes = execution.typed_search_attributes
        return cls(
            workflow_id=execution.id,
            run_id=execution.run_id,
            application_id=attributes.get(contract.APPLICATION_ID),
            stage=attributes.get(contract.PROCESS_STAGE),
            sla_breached=attributes.get(contract.SLA_BREACHED),
            recruiter_id=attributes.get(contract.RECRUITER_ID),
            source=attributes.get(contract.ATS_SOURCE),
            started_at=execution.start_time,
            closed_at=execution.close_time,
            status=execution.status.name.lower() if execution.status else "unknown",
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "application_id": self.application_id,
            "stage": self.stage,
            "sla_breached": self.sla_breached,
            "recruiter_id": self.recruiter_id,
            "source": self.source,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "status": self.status,
        }


async def list_processes(client: Client, query: str, limit: int) -> list[ProcessRow]:
    return [ProcessRow.from_execution(execution) async for execution in client.list_workflows(query, limit=limit)]


def rows_json(rows: Iterable[ProcessRow]) -> str:
    return json.dumps([row.as_json() for row in rows], indent=2)


def processes_table(rows: Iterable[ProcessRow], title: str) -> Table:
    from cli.render import when, yes_no

    table = Table(title=title, title_justify="left", title_style="bold", expand=False)
    for column in ("Workflow id", "Application", "Stage", "SLA breached", "Recruiter", "Source", "Started (UTC)", "Status"):
        table.add_column(column, overflow="fold", no_wrap=column in ("Stage", "Status"))
    for row in rows:
        table.add_row(
            Text(row.workflow_id),
            Text(row.application_id or "-"),
            Text(row.stage or "-", style="bold cyan" if row.stage else ""),
            yes_no(row.sla_breached) if row.sla_breached is not None else Text("-"),
            Text(row.recruiter_id or "-"),
            Text(row.source or "-"),
            when(row.started_at),
            Text(row.status, style="green" if row.status == "running" else "dim"),
        )
    return table


# --- replay ---------------------------------------------------------------------------------


@dataclass
class ReplayReport:
    replayed: int = 0
    failed: int = 0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def history_type(history: WorkflowHistory) -> str:
    return history.events[0].workflow_execution_started_event_attributes.workflow_type.name if history.events else "?"


def failure_message(failure: BaseException) -> str:
    """The failure in one line: its type and what differs (the core's message, without its debug dump)."""
    text = str(failure)
    inner = _CORE_MESSAGE.search(text)
    if inner:
        text = inner.group(1).replace('\\"', '"')
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(failure).__name__}: {' '.join(lines) if lines else '(no message)'}"


# The SDK core reports a nondeterminism failure as a Rust debug dump: `Failure { message: "...", ... }`.
_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


async def replay_histories(
    histories: AsyncIterator[WorkflowHistory],
    workflows: Sequence[type] | None = None,
    say: Callable[[str], None] = print,
    label: Callable[[WorkflowHistory], str] | None = None,
    codec: PayloadCodec | None = None,
) -> ReplayReport:
    """Replay each history on `workflows` (default: the worker's), one line each, then a summary line."""
    from temporalio.worker import Replayer

    import worker
    from codec.encryption import data_converter

    replayer = Replayer(
        workflows=list(workflows if workflows is not None else worker.WORKFLOWS),
        # Encrypted histories need the keys (`codec`); unencrypted ones (recorded, older) pass through.
        data_converter=data_converter(codec),
        workflow_runner=worker.workflow_runner(),
        runtime=_quiet_runtime(),
    )
    report = ReplayReport()
    async with replayer.workflow_replay_iterator(histories) as results:
        async for result in results:
            report.replayed += 1
            name = label(result.history) if label else result.history.workflow_id
            where = f"{name}  {history_type(result.history)}"
            if result.replay_failure is None:
                say(f"ok      {where}")
            elif "erased: " in failure_message(result.replay_failure):
                # A candidate's erasure destroyed the key of this history (README, Privacy): not the code's fault.
                say(f"erased  {where}: its candidate was erased, the history cannot be decoded (not replayed)")
            else:
                report.failed += 1
                say(f"FAILED  {where}: {failure_message(result.replay_failure)}")
    return report


_runtime: list[Any] = []


def _quiet_runtime() -> Any:
    """A runtime for replaying whose core does not log every failing workflow task on standard
    output: the failure is reported once, on its history's line."""
    if not _runtime:
        from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

        _runtime.append(Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")))))
    return _runtime[0]


def _summary(report: ReplayReport, what: str, say: Callable[[str], None]) -> None:
    if report.failed:
        say(
            f"{report.failed} of {report.replayed} {what} FAILED to replay on this code: the change would break them. "
            "Guard it with workflow.patched (README, \"Changing a workflow\")."
        )
    else:
        say(f"All {report.replayed} {what} replay on this code.")


async def replay_recent(
    client: Client,
    since: timedelta,
    limit: int = 100,
    workflow_types: Sequence[str] = ENGINE_WORKFLOW_TYPES,
    workflows: Sequence[type] | None = None,
    say: Callable[[str], None] = print,
    now: datetime | None = None,
) -> int:
    """Replay the histories of the executions started within `since`; the exit code (1 if any failed)."""
    query = replay_query((now or datetime.now(UTC)) - since, workflow_types)
    say(f"Replaying up to {limit} execution(s) matching: {query}")
    # The client's codec: the keys it was connected with decrypt the histories it fetches.
    report = await replay_histories(client.list_workflows(query, limit=limit).map_histories(), workflows, say, codec=client.data_converter.payload_codec)
    if report.replayed == 0:
        say("No executions matched: nothing to replay.")
        return 0
    _summary(report, "histories", say)
    return report.exit_code


def history_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*.json") if path.is_file())


def load_history(path: Path) -> WorkflowHistory:
    """A recorded history, `<workflow id>.run<N>.json` (tests/histories)."""
    from temporalio.client import WorkflowHistory

    workflow_id = path.name.rsplit(".run", 1)[0] if ".run" in path.name else path.stem
    return WorkflowHistory.from_json(workflow_id, json.loads(path.read_text(encoding="utf-8")))


async def replay_directory(
    directory: Path,
    workflows: Sequence[type] | None = None,
    say: Callable[[str], None] = print,
    codec: PayloadCodec | None = None,
) -> int:
    """Replay every JSON history under `directory` (recursively), decrypting with `codec`; the exit code (1 if any failed)."""
    if not directory.is_dir():
        raise QueryError(f"--histories-dir {directory} is not a directory.")
    paths = history_files(directory)
    if not paths:
        say(f"No JSON histories under {directory}: nothing to replay.")
        return 0
    loaded: list[tuple[Path, WorkflowHistory]] = []
    for path in paths:
        try:
            loaded.append((path, load_history(path)))
        except Exception as error:  # noqa: BLE001 - not a history: a failure of the check, not a crash
            raise QueryError(f"{path} is not a workflow history: {error}") from None
    names = {id(history): str(path.relative_to(directory)) for path, history in loaded}

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for _, history in loaded:
            yield history

    say(f"Replaying {len(loaded)} recorded histories under {directory}")
    report = await replay_histories(histories(), workflows, say, label=lambda h: names.get(id(h), h.workflow_id), codec=codec)
    _summary(report, "histories", say)
    return report.exit_code
