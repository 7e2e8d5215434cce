"""Rich tables for what the CLI shows a person: a process's status, tasks and messages.

Times are shown in UTC (as the engine stores them), to the minute; the column headers say so. Every value that comes from
outside (names, titles, subjects) goes in as plain text, never as Rich markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from domain.delivery import StoredNotification
from domain.follow_through import StoredMessage, StoredTask
from domain.status import ProcessStatus


def when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M}"


def yes_no(flag: bool, alarming: bool = True) -> Text:
    return Text("yes", style="bold red" if alarming else "green") if flag else Text("no")


def status_view(status: ProcessStatus, workflow_id: str, references: tuple[int, int] | None = None) -> RenderableType:
    """`references`: the process's reference reports and how many are flagged (from the store: a
    count here, the reports themselves in the inbox)."""
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("Process", Text(workflow_id))
    summary.add_row("Application", Text(f"{status.application_id} (from {status.source})"))
    summary.add_row("Stage", Text(status.stage.value, style="bold cyan"))
    summary.add_row("Waiting for", Text(status.waiting_for))
    summary.add_row("SLA breached", yes_no(status.sla_breached))
    summary.add_row("Offer blocked", yes_no(status.offer_blocked))
    if status.references is not None:
        summary.add_row("References", Text(status.references.text))
    summary.add_row("Events seen", str(status.events_seen))
    if references is not None and references[0]:
        reports = Text(f"{references[0]} received")
        if references[1]:
            reports.append(f", {references[1]} flagged (see the inbox)", style="bold red")
        summary.add_row("Reference reports", reports)
    parts: list[RenderableType] = [summary]

    tasks = _table("Open tasks", ["Kind", "Assignee", "Due (UTC)", "Key"])
    for task in status.open_tasks:
        tasks.add_row(task.kind.value, Text(task.assignee), when(task.due_at), Text(purpose(task.key, workflow_id)))
    parts.append(_or_none(tasks, status.open_tasks, "Open tasks: none"))

    referees = _table("Referees", ["Referee", "State", "Deadline (UTC)", "Reminders"])
    for referee in status.referees:
        referees.add_row(Text(referee.id), referee.state.value, when(referee.deadline), str(referee.reminders_sent))
    parts.append(_or_none(referees, status.referees, "Referees: none requested"))

    debriefs = _table("Debrief rounds (times in UTC)", ["Round", "Interview", "Due", "Recorded", "Interest", "Escalated"])
    for round_ in status.debriefs:
        debriefs.add_row(
            str(round_.round),
            when(round_.interview_at),
            when(round_.due_at),
            when(round_.recorded_at) if round_.recorded_at else Text("not yet", style="yellow"),
            f"{round_.interest}/5" if round_.interest else "-",
            yes_no(round_.escalated),
        )
    parts.append(_or_none(debriefs, status.debriefs, "Debrief rounds: none"))

    milestones = _table("Milestones", ["Milestone", "When (UTC)"])
    for name, moment in sorted(status.milestones.items(), key=lambda item: item[1]):
        milestones.add_row(Text(name), when(moment))
    parts.append(_or_none(milestones, status.milestones, "Milestones: none yet"))

    # Only when there are any: what the process could not act on and skipped.
    if status.rejected_events:
        rejected = _table("Rejected events (skipped)", ["When (UTC)", "Event", "Type", "Reason"])
        for event in status.rejected_events:
            rejected.add_row(when(event.at), Text(event.event_id), Text(event.type), Text(event.reason, style="red"))
        parts.append(rejected)
    if status.failed_steps:
        failed = _table("Failed steps (skipped)", ["When (UTC)", "Step", "Reason"])
        for step in status.failed_steps:
            failed.add_row(when(step.at), Text(step.what), Text(step.reason, style="red"))
        parts.append(failed)
    return Group(*parts)


def tasks_table(tasks: Iterable[StoredTask], title: str, with_application: bool = True) -> Table:
    """One row per task: the title a recruiter reads first, its kind and status under it in
    grey, so the table keeps its width in an 80-column terminal."""
    table = _table(title, ["Due (UTC)", "Task", "Assignee", *(["Application"] if with_application else [])])
    for task in tasks:
        status_style = {"open": "yellow", "done": "green"}.get(task.status, "dim")
        what = Text(task.title)
        what.append(f"\n{task.kind}, ", style="dim")
        what.append(task.status, style=status_style)
        row: list[str | Text] = [when(task.due_at), what, Text(task.assignee_id)]
        if with_application:
            row.append(Text(task.application_id or task.process_id))
        table.add_row(*row)
    return table


def messages_table(messages: Iterable[StoredMessage], title: str, delivered: dict[str, list[str]] | None = None) -> Table:
    """`delivered`: each message's deliveries ("email sent"), shown after its purpose."""
    table = _table(title, ["Send after (UTC)", "To", "Subject"])
    for message in messages:
        to = Text(message.recipient_role)
        to.append(f"\n{message.recipient_id}", style="dim")
        subject = Text(message.subject)
        subject.append(f"\n{purpose(message.key, message.process_id)}", style="dim")
        if deliveries := (delivered or {}).get(message.key):
            subject.append(f" ({', '.join(deliveries)})", style="dim")
        table.add_row(when(message.send_after), to, subject)
    return table


def notifications_table(rows: Iterable[StoredNotification], title: str) -> Table:
    table = _table(title, ["Channel", "State", "Subject", "Sent (UTC)"])
    for row in rows:
        state = Text(row.status, style={"sent": "green", "failed": "red", "unknown": "bold red", "sending": "yellow"}.get(row.status, "dim"))
        state.append(f"\n{row.attempts} attempt(s)", style="dim")
        subject = Text(f"{row.subject_kind} {row.subject_key}")
        if row.last_error:
            subject.append(f"\n{row.last_error}", style="dim")
        table.add_row(Text(row.channel), state, subject, when(row.sent_at))
    return table


def message_panel(message: StoredMessage) -> Panel:
    heading = f"To {message.recipient_role} {message.recipient_id}"
    if message.recipient_email:
        heading += f" <{message.recipient_email}>"
    body = Text(f"Subject: {message.subject}\n\n", style="bold")
    body.append(message.body, style="not bold")
    subtitle = Text(f"{purpose(message.key, message.process_id)}, not before {when(message.send_after)} UTC")
    return Panel(body, title=Text(heading), subtitle=subtitle, title_align="left", subtitle_align="left")


def purpose(key: str, process_id: str) -> str:
    """What a key says beyond its process: `debrief/1/questions`, `referee-ref-301/request`."""
    return key.removeprefix(process_id).lstrip("/-") or key


# Short codes keep to one line; times wrap at their space in a narrow terminal, and free text
# (titles, subjects) keeps enough width to be read.
_ONE_LINE = {"Kind", "State"}
_FREE_TEXT = {"Task", "Subject"}


def _table(title: str, columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", expand=False)
    for column in columns:
        table.add_column(
            column,
            overflow="fold",
            no_wrap=column in _ONE_LINE,
            min_width=20 if column in _FREE_TEXT else None,
        )
    return table


def _or_none(table: Table, rows: object, empty: str) -> RenderableType:
    return table if rows else Text(empty, style="dim")
