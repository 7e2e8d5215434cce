"""Business metrics from inside the workflows (names and meaning: domain/business_metrics.py).

Through `workflow.metric_meter()`, which records nothing while a run replays its history, so a
run moved to another worker, or evicted from the cache and rebuilt, does not count its past
again. Recording a metric adds no command to the history: calls can be added to a workflow
without a `workflow.patched` guard.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import business_metrics as business


def process_started(source: str) -> None:
    _counter(business.PROCESSES_STARTED, "Post-interview processes started").add(1, {"source": source})


def process_closed(source: str, outcome: str) -> None:
    _counter(business.PROCESSES_CLOSED, "Post-interview processes closed, by outcome").add(1, {"source": source, "outcome": outcome})


def debrief_recorded(source: str, interview_at: datetime, recorded_at: datetime) -> None:
    seconds = max((recorded_at - interview_at).total_seconds(), 0.0)
    workflow.metric_meter().create_histogram_float(
        business.DEBRIEF_LATENCY, "From the interview to the candidate's debrief recorded", "s"
    ).record(seconds, {"source": source})


def reference_received(requested_at: datetime, received_at: datetime, late: bool) -> None:
    seconds = max((received_at - requested_at).total_seconds(), 0.0)
    workflow.metric_meter().create_histogram_float(
        business.REFEREE_TURNAROUND, "From the reference request to the reference received", "s"
    ).record(seconds, {"late": "true" if late else "false"})


def reminder_sent(recipient: str) -> None:
    _counter(business.REMINDERS_SENT, "Reminders sent, by recipient").add(1, {"recipient": recipient})


def escalated(reason: str) -> None:
    _counter(business.ESCALATIONS, "Escalation tasks created, by reason").add(1, {"reason": reason})


def sla_breached(source: str) -> None:
    _counter(business.SLA_BREACHES, "Processes whose debrief SLA was breached").add(1, {"source": source})


def event_rejected(source: str, event_type: str, error: str) -> None:
    _counter(business.EVENTS_REJECTED, "Events a process could not act on and skipped").add(1, {"source": source, "type": event_type, "error": error})


def step_failed(workflow_type: str, error: str) -> None:
    _counter(business.STEPS_FAILED, "Steps that failed for good and were skipped").add(1, {"workflow": workflow_type, "error": error})


def _counter(name: str, description: str):  # type: ignore[no-untyped-def]
    return workflow.metric_meter().create_counter(name, description)
