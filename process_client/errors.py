"""What can go wrong when something outside a workflow asks a process to act, as typed errors
its callers (the inbox, the answer links, the CLI, the demo, the simulation) turn into their own
answers: a form's reason, an HTTP status, an exit code.

Translated here once, from the SDK's errors:

- ProcessRefused    the process's validator or handler refused (WorkflowUpdateFailedError): its
                    reason, in the process's own words, ready for a form;
- ProcessNotFound   no running process by that id: it has completed, or never existed (NOT_FOUND);
- NoWorker          the update was not taken in time: Temporal is up, no worker polls the queue;
- EngineUnavailable Temporal answered with another error (UNAVAILABLE, DEADLINE_EXCEEDED...).

Failing to connect at all stays what `connect` raises (RuntimeError, OSError): the callers that
keep a client tell that apart, to connect again next time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from domain import contract


class ProcessError(Exception):
    """A process could not be asked, or did not agree; `str()` says why.

    Each is also the SDK error it translates (WorkflowUpdateFailedError, RPCError), so code
    written against the SDK, the contract tests among it, reads them as before."""


class ProcessRefused(ProcessError, WorkflowUpdateFailedError):
    """The process refused the update. `reason` is its own words (the ApplicationError its
    validator or handler raised), `reason_type` that error's type (e.g. "InvalidDebrief"),
    `details` its details (the reasons one by one, for a form), and `stated` is False when the
    failure was not one the process raised itself (then `reason` is the SDK's text, which a form
    may prefer to replace with its own). As a WorkflowUpdateFailedError its `cause` is the
    process's failure."""

    def __init__(self, reason: str, reason_type: str | None = None, stated: bool = True, details: Sequence[Any] = ()) -> None:
        Exception.__init__(self, reason)
        self.reason = reason
        self.reason_type = reason_type
        self.stated = stated
        self.details = tuple(details)

    @property
    def closed(self) -> bool:
        """Refused because the process has closed: nothing waits for this any more."""
        return self.reason_type == contract.PROCESS_CLOSED_REFUSAL

    @classmethod
    def of(cls, error: WorkflowUpdateFailedError) -> ProcessRefused:
        cause = error.cause
        # A FailureError's message, not str(): an ApplicationError's str() is prefixed by its type.
        reason = cause.message if isinstance(cause, FailureError) else str(cause or error)
        if isinstance(cause, ApplicationError):
            return cls(reason, cause.type, stated=True, details=cause.details)
        return cls(reason, None, stated=False)


class ProcessNotFound(ProcessError, RPCError):
    """No running process `workflow_id`: it has completed, or never existed (NOT_FOUND).
    `str()` is Temporal's own message."""

    def __init__(self, error: RPCError, workflow_id: str) -> None:
        RPCError.__init__(self, error.message, error.status, error.raw_grpc_status)
        self.workflow_id = workflow_id


class EngineUnavailable(ProcessError, RPCError):
    """Temporal answered with an error other than NOT_FOUND (UNAVAILABLE, DEADLINE_EXCEEDED...):
    `status` is its gRPC status, `str()` its message. Nothing was changed."""

    def __init__(self, error: RPCError) -> None:
        RPCError.__init__(self, error.message, error.status, error.raw_grpc_status)


class NoWorker(ProcessError):
    """The update (or query) was not taken within `timeout` seconds (None: Temporal gave up
    waiting): no worker is polling the task queue. Nothing was changed; the same request may be
    sent again once a worker runs."""

    def __init__(self, timeout: float | None, what: str = "the update") -> None:
        within = f" within {timeout:.0f} s" if timeout is not None else ""
        super().__init__(f"no worker took {what}{within}")
        self.timeout = timeout


@contextmanager
def translated(workflow_id: str, timeout: float | None = None) -> Iterator[None]:
    """Turns the SDK's errors from asking process `workflow_id` into the errors above."""
    try:
        yield
    except WorkflowUpdateFailedError as error:
        # Chained to the process's failure, which is what `cause` means to the SDK's error.
        raise ProcessRefused.of(error) from error.cause
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        # asyncio's own wait, or the SDK's: the cancelled wait comes back as the SDK's error.
        raise NoWorker(timeout) from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise ProcessNotFound(error, workflow_id) from error
        raise EngineUnavailable(error) from error
