"""Helpers every process uses to act through activities and to wait on deadlines.

Workflow code only: deterministic, no I/O. Each helper names its activity and timer with a
summary, so a run reads in the Temporal UI as the process it is ("Task: book a debrief call,
round 1"), not as a list of activity type names.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain import names
    from domain.follow_through import (
        DebriefNote,
        Enrichment,
        EnrichmentRequest,
        MessageRequest,
        OpenTasksUpdate,
        ProcessTasksCancellation,
        StoredMessage,
        StoredTask,
        TaskRequest,
        TaskResolution,
        TaskUpdate,
    )
    from domain.policy import TimingPolicy

# Activities touch only the local store or the Temporal frontend: a few seconds is plenty, and a
# store that is down is retried with backoff for as long as it takes (the process waits, it does
# not fail: nothing is lost).
_ACTIVITY_TIMEOUT = timedelta(seconds=30)
# The farthest a process sets a timer; a deadline beyond it is waited for without one. Event
# dates are bounded (domain.business_time.check_schedulable), so this is a last guard.
FARTHEST_TIMER = timedelta(days=366 * 10)
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))


async def wait_until(condition: Callable[[], bool], until: datetime, summary: str) -> bool:
    """Wait for `condition` up to the instant `until`; True if it came true in time."""
    if condition():
        return True
    remaining = until - workflow.now()
    if remaining <= timedelta(0):
        return condition()
    if remaining > FARTHEST_TIMER and workflow.patched("no-timer-beyond-the-farthest"):
        # A deadline decades away is no deadline: wait for the condition alone, with no timer a
        # server might refuse (before this, such a timer was started as asked).
        await workflow.wait_condition(condition)
        return True
    try:
        await workflow.wait_condition(condition, timeout=remaining, timeout_summary=summary)
        return True
    except asyncio.TimeoutError:
        return condition()


async def load_policy(client_id: str) -> TimingPolicy:
    """The policy in force now, fixed into this process by the activity's result in history."""
    return await workflow.execute_activity(
        names.LOAD_TIMING_POLICY,
        client_id,
        result_type=TimingPolicy,
        start_to_close_timeout=_ACTIVITY_TIMEOUT,
        retry_policy=_RETRY,
        summary=f"Fix the timing policy for client {client_id}",
    )


async def create_task(request: TaskRequest, summary: str) -> StoredTask:
    return await workflow.execute_activity(
        names.CREATE_RECRUITER_TASK,
        request,
        result_type=StoredTask,
        start_to_close_timeout=_ACTIVITY_TIMEOUT,
        retry_policy=_RETRY,
        summary=summary,
    )


async def escalate(request: TaskRequest, summary: str) -> StoredTask:
    return await workflow.execute_activity(
        names.ESCALATE_TO_LEAD,
        request,
        result_type=StoredTask,
        start_to_close_timeout=_ACTIVITY_TIMEOUT,
        retry_policy=_RETRY,
        summary=summary,
    )


async def resolve_tasks(keys: list[str], status: str, outcome: str) -> None:
    if not keys:
        return
    await workflow.execute_activity(
        names.RESOLVE_TASKS,
        TaskResolution(keys=keys, status=status, outcome=outcome),  # type: ignore[arg-type]
        result_type=int,
        start_to_close_timeout=_ACTIVITY_TIMEOUT,
        retry_policy=_RETRY,
        summary=f"Mark {len(keys)} task(s) {status}: {outcome}",
    )


async def cancel_process_tasks(process_id: str, reason: str) -> None:
    await workflow.execute_activity(
        names.CANCEL_PROCESS_TASKS,
        ProcessTasksCancellation(process_id=process_id, reason=reason),
        result_type=int,
        start_to_close_timeout=_ACTIVITY_TIMEOUT,
        retry_policy=_RETRY,
        summary=f"Cancel open tasks: {reason}",
    )


async def send_message(activity: str, request: MessageRequest, summary: str) -> StoredMessage:
    """`activity` is names.MESSAGE_CANDIDATE, CONTACT_REFEREE or REMIND_RECRUITER."""
    return await workflow.execute_activity(
        activity,
        request,
        result_type=StoredMessage,
        start_to_close_timeout=_ACTIVITY_TIMEOUT,
        retry_policy=_RETRY,
        summary=summary,
    )


async def hand_over(handover: object, summary: str) -> None:
    await workflow.execute_activity(
        names.HAND_OVER_TO_RELATIONSHIP,
        handover,
        result_type=str,
        start_to_close_timeout=_ACTIVITY_TIMEOUT,
        retry_policy=_RETRY,
        summary=summary,
    )


async def update_open_tasks(update: OpenTasksUpdate, summary: str) -> None:
    await workflow.execute_activity(
        names.UPDATE_OPEN_TASKS,
        update,
        result_type=int,
        start_to_close_timeout=_ACTIVITY_TIMEOUT,
        retry_policy=_RETRY,
        summary=summary,
    )


async def update_task(update: TaskUpdate, summary: str) -> bool:
    """One open task takes new context entries; True when it changed (False: it said so already,
    or it is no longer pending)."""
    return await workflow.execute_activity(
        names.UPDATE_RECRUITER_TASK,
        update,
        result_type=bool,
        start_to_close_timeout=_ACTIVITY_TIMEOUT,
        retry_policy=_RETRY,
        summary=summary,
    )


# An ATS that is down is tried again for about a day (as the deliveries are); a refusal is not.
_NOTE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=10), backoff_coefficient=2.0, maximum_interval=timedelta(hours=1), maximum_attempts=30)


async def write_debrief_note(note: DebriefNote, summary: str) -> str:
    """The round's debrief as a note on the ATS record, once (the activity keeps its own record)."""
    return await workflow.execute_activity(
        names.WRITE_DEBRIEF_NOTE,
        note,
        result_type=str,
        start_to_close_timeout=timedelta(minutes=2),
        retry_policy=_NOTE_RETRY,
        summary=summary,
    )


async def reopen_relationship(reopening: object, summary: str) -> None:
    await workflow.execute_activity(
        names.REOPEN_RELATIONSHIP,
        reopening,
        result_type=bool,
        start_to_close_timeout=_ACTIVITY_TIMEOUT,
        retry_policy=_RETRY,
        summary=summary,
    )


async def enrich(request: EnrichmentRequest) -> Enrichment | None:
    """Ask the ATS for the names behind an ids-only application; None if it cannot say.

    Bounded retries: the process must not wait forever on a vendor's API, it already works with
    ids, and a later event may bring the names anyway."""
    try:
        return await workflow.execute_activity(
            names.ENRICH_APPLICATION,
            request,
            result_type=Enrichment,
            start_to_close_timeout=_ACTIVITY_TIMEOUT,
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=10), maximum_attempts=8),
            summary=f"Ask {request.source} who is behind application {request.application_id}",
        )
    except ActivityError as error:
        workflow.logger.warning("enrichment failed", extra={"application_id": request.application_id, "error": str(error.cause or error)})
        return None
