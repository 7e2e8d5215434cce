"""process_client's typed errors: what the SDK's errors become, and a plain signal_event that
never starts a process."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError, RPCStatusCode

from process_client import EngineUnavailable, NoWorker, ProcessNotFound, ProcessRefused, deliver_event, signal_event
from process_client.errors import translated
from tests.events import Application


def test_a_refusal_carries_the_process_s_reason_its_type_and_details():
    with pytest.raises(ProcessRefused) as refused:
        with translated("post-interview-api-1"):
            raise WorkflowUpdateFailedError(ApplicationError("The debrief is not valid: interest", ["interest"], type="InvalidDebrief"))
    assert refused.value.reason == "The debrief is not valid: interest" == str(refused.value)
    assert refused.value.reason_type == "InvalidDebrief" and refused.value.stated and not refused.value.closed
    assert refused.value.details == (["interest"],)
    # Still the SDK's error, its cause the process's own failure.
    assert isinstance(refused.value, WorkflowUpdateFailedError) and isinstance(refused.value.cause, ApplicationError)


def test_a_closed_process_s_refusal_says_so_and_a_failure_it_did_not_state_is_marked():
    with pytest.raises(ProcessRefused) as closed:
        with translated("w"):
            raise WorkflowUpdateFailedError(ApplicationError("The process is closed (placed).", type="ProcessClosed"))
    assert closed.value.closed
    with pytest.raises(ProcessRefused) as unstated:
        with translated("w"):
            raise WorkflowUpdateFailedError(CancelledError("cancelled"))
    assert not unstated.value.stated and unstated.value.reason == "cancelled" and unstated.value.reason_type is None


@pytest.mark.parametrize(
    ("status", "expected"), [(RPCStatusCode.NOT_FOUND, ProcessNotFound), (RPCStatusCode.UNAVAILABLE, EngineUnavailable)]
)
def test_rpc_errors_become_not_found_or_unavailable_and_keep_temporal_s_words(status, expected):
    with pytest.raises(expected) as error:
        with translated("post-interview-api-1"):
            raise RPCError("workflow execution already completed", status, b"")
    assert str(error.value) == "workflow execution already completed" and error.value.status == status
    assert isinstance(error.value, RPCError)  # what code written against the SDK catches


async def test_an_update_no_worker_takes_is_no_worker_after_the_timeout():
    async def never() -> None:
        await asyncio.Event().wait()

    with pytest.raises(NoWorker) as waited:
        with translated("w", 0.05):
            await asyncio.wait_for(never(), 0.05)
    assert waited.value.timeout == 0.05
    with pytest.raises(NoWorker):
        with translated("w"):
            raise WorkflowUpdateRPCTimeoutOrCancelledError()


async def test_signal_event_reaches_a_running_process_and_never_starts_one(dev_env, task_queue):
    app = Application()
    with pytest.raises(ProcessNotFound) as missing:
        await signal_event(dev_env.client, app.interview(1))
    assert missing.value.workflow_id == app.workflow_id

    # No worker: the process is started and waits, which is all a signal needs.
    await deliver_event(dev_env.client, app.interview(1), task_queue)
    await signal_event(dev_env.client, app.interview(2))
    await dev_env.client.get_workflow_handle(app.workflow_id).terminate("test over")
    with pytest.raises(ProcessNotFound):
        await signal_event(dev_env.client, app.interview(3))
