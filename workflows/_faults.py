"""What a process does with a failure that no retry can mend: record it, skip it, go on.

Before this, an exception in event handling (a deadline counted from year 1, a write the store
refused for good) failed the workflow task, which Temporal retries for ever: the application got
no more tasks, escalations or close-out. Now the event, or the step, is recorded (status, log,
metric) and skipped.

Two kinds of failure are never skipped: nondeterminism (the code does not match the history: a
deploy fixes it, and the retried task then succeeds) and continue-as-new (not a failure).

Replay: an exception that is not a Temporal failure (OverflowError, a ValidationError) failed the
workflow task under the old code, so no completed history holds one: skipping it needs no patch,
and a process wedged by one gets past its poison event on the first workflow task after the
deploy. A Temporal failure (an activity's, a child's) failed the whole run under the old code;
skipping it is new behaviour, behind `workflow.patched(SKIP_FAILURES)`, asked only when such a
failure is in hand, so histories without one replay untouched.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, FailureError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from domain.business_time import UnschedulableDate
    from domain.errors import validation_problems
    from workflows import _metrics as metrics

SKIP_FAILURES = "skip-what-fails-for-good"


def skipping(error: BaseException) -> bool:
    """Whether this failure is recorded and skipped (True) or re-raised as before (False)."""
    if isinstance(error, (workflow.NondeterminismError, workflow.ContinueAsNewError)):
        return False
    if not isinstance(error, FailureError):
        return True  # it failed the workflow task before: in no completed history (see above)
    return workflow.patched(SKIP_FAILURES)


async def attempt(what: str, step: Coroutine[Any, Any, Any]) -> bool:
    """Run one side effect; True if it happened. One whose activity failed for good (a write the
    store cannot take) is logged, counted and skipped: the caller goes on without it."""
    try:
        await step
        return True
    except ActivityError as error:
        if not skipping(error):
            raise
        step_failed(what, error)
        return False


def step_failed(what: str, error: BaseException) -> str:
    """Log and count a step skipped for good; its reason, for a status."""
    why = reason(error)
    workflow.logger.warning("step failed for good: skipped", extra={"what": what, "error": kind(error), "reason": why})
    metrics.step_failed(workflow.info().workflow_type, kind(error))
    return why


def kind(error: BaseException) -> str:
    """A short, bounded name for the failure: the metric's label, the log's `error` field."""
    root = _root(error)
    if isinstance(root, ApplicationError) and root.type:
        return root.type  # e.g. StoreRefused, the activities' own types
    return type(root).__name__


def reason(error: BaseException) -> str:
    """Why, in words an operator can act on, without the data it was about.

    Activity failures carry the activities' own messages, which never quote a person
    (activities/store_failures.py); our own errors say which field and which date; anything else
    is named by its class and its first line, cut short."""
    root = _root(error)
    if isinstance(root, ValidationError):
        # Pydantic's own text quotes the input value; the formatter names the fields only.
        return "invalid data: " + "; ".join(validation_problems(root, "data"))[:300]
    if isinstance(root, UnschedulableDate):
        return str(root)
    message = root.message if isinstance(root, FailureError) else str(root)
    text = message.split("\n", 1)[0][:300]
    if isinstance(error, FailureError) and root is not error:
        prefix = "a child process failed" if isinstance(error, ChildWorkflowError) else "a step failed for good"
        return f"{prefix}: {kind(error)}: {text}"
    return f"{type(root).__name__}: {text}" if text else type(root).__name__


def _root(error: BaseException) -> BaseException:
    """The failure underneath Temporal's wrappers (an activity's or a child's own error)."""
    while isinstance(error, (ActivityError, ChildWorkflowError)) and error.cause is not None:
        error = error.cause
    return error
