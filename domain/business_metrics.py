"""The business metrics, as the workflows emit them (workflows/_metrics.py) and the worker's
Prometheus endpoint exports them (metrics/runtime.py). A catalogue of names and meanings, in the
domain so that the workflows, which may import only the domain, read the same names.

Durations are in seconds, the unit Prometheus queries expect; the buckets span what the
timing policy deals in: hours for a debrief, business days for a reference. Besides the labels
below, the SDK adds `namespace`, `task_queue` and `workflow_type` to every workflow metric.
"""

from __future__ import annotations

HOUR = 3600.0
DAY = 24 * HOUR

DEBRIEF_LATENCY = "postinterview_debrief_latency_seconds"
"""Histogram {source}: from the interview (its time in interview.completed) to the debrief recorded."""

REFEREE_TURNAROUND = "postinterview_referee_turnaround_seconds"
"""Histogram {late}: from the reference request sent to the reference received; late="true" after the deadline."""

REMINDERS_SENT = "postinterview_reminders_sent_total"
"""Counter {recipient}: reminders sent, recipient="recruiter" (a debrief due) or "referee" (a reference due)."""

ESCALATIONS = "postinterview_escalations_total"
"""Counter {reason}: escalation tasks created: "debrief_overdue" (to the recruiter's lead),
"referee_overdue" and "referee_no_consent" (to the recruiter)."""

SLA_BREACHES = "postinterview_sla_breaches_total"
"""Counter {source}: processes whose SlaBreached search attribute turned true (once per process)."""

PROCESSES_STARTED = "postinterview_processes_started_total"
"""Counter {source}: post-interview processes started."""

PROCESSES_CLOSED = "postinterview_processes_closed_total"
"""Counter {source, outcome}: processes closed, outcome "placed", "rejected" or "withdrew"."""

EVENTS_REJECTED = "postinterview_events_rejected_total"
"""Counter {source, type, error}: events a process could not act on and skipped (error: the
exception's class, e.g. "UnschedulableDate", "ActivityError"); each also in the process's status."""

STEPS_FAILED = "postinterview_steps_failed_total"
"""Counter {workflow, error}: steps of a duty, a close-out, a reference check or a check-in that
failed for good (a write the store refused) and were skipped."""

HISTOGRAM_BUCKETS: dict[str, list[float]] = {
    DEBRIEF_LATENCY: [h * HOUR for h in (1, 2, 4, 8, 24, 48, 72, 168)],
    REFEREE_TURNAROUND: [d * DAY for d in (0.25, 0.5, 1, 2, 3, 5, 7, 14)],
}

ALL = (
    DEBRIEF_LATENCY,
    REFEREE_TURNAROUND,
    REMINDERS_SENT,
    ESCALATIONS,
    SLA_BREACHES,
    PROCESSES_STARTED,
    PROCESSES_CLOSED,
    EVENTS_REJECTED,
    STEPS_FAILED,
)
