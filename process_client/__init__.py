"""How everything outside Temporal drives post-interview processes: the one place that knows
the workflow contract from the caller's side (webhook intake, the inbox and its answer links,
the CLI, scripts, tests).

Asking a process to act raises the typed errors of process_client.errors (ProcessRefused with
the process's own reason, ProcessNotFound, NoWorker, EngineUnavailable), never the SDK's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from enum import StrEnum
from typing import Any

from temporalio.client import Client, Interceptor, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.converter import PayloadCodec
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from codec.data_keys import CandidateErased, KeyringCodec
from codec.data_keys import subject_of as candidate_subject
from codec.encryption import data_converter
from domain import contract, names
from domain.contact import NurtureAnswer
from domain.debrief import Debrief
from domain.events import CanonicalEvent, EventType
from domain.process_state import CarriedProcess
from domain.follow_through import TaskCompletion, TaskCompletionResult
from domain.status import DebriefRound, ProcessStatus
from process_client.errors import (
    EngineUnavailable,
    NoWorker,
    ProcessError,
    ProcessNotFound,
    ProcessRefused,
    translated,
)

__all__ = [
    "CandidateErased",
    "candidate_subject",
    "Delivery",
    "EngineUnavailable",
    "NoWorker",
    "ProcessError",
    "ProcessNotFound",
    "ProcessRefused",
    "client_options",
    "complete_task",
    "connect",
    "deliver_event",
    "no_process_reason",
    "process_handle",
    "process_status",
    "record_debrief",
    "signal_event",
    "signal_nurture_answer",
    "signal_request_id",
]


async def _bind_data_key(client: Client, event: CanonicalEvent) -> None:
    """With data keys (codec/data_keys.py), the application's process and the candidate's
    relationship are registered under the candidate's data key before either can start, so every
    payload of theirs is encrypted with it. Raises CandidateErased for an erased candidate: no
    process starts for them again."""
    codec = client.data_converter.payload_codec
    if isinstance(codec, KeyringCodec):
        await codec.bind(
            event.source,
            event.candidate.id,
            [event.workflow_id, contract.relationship_workflow_id(event.source, event.candidate.id)],
        )


class Delivery(StrEnum):
    DELIVERED = "delivered"
    PROCESS_CLOSED = "process_closed"
    # No process for the application, and this event must not start one: a rejection or a
    # withdrawal of an applicant never interviewed, a reopening of nothing (`no_process_reason`).
    NO_PROCESS = "no_process"
    # A closed process started again, as a new run that knows its history.
    REOPENED = "reopened"


# Events that never start a process: the end of an application nobody followed through (screened
# out, withdrawn before any interview) needs no follow-through, and a reopening needs something
# to reopen. Rejecting 200 job-board applicants must not give a recruiter 400 tasks.
NEVER_START = frozenset(
    {
        EventType.CANDIDATE_REJECTED,
        EventType.CANDIDATE_WITHDREW,
        EventType.APPLICATION_REOPENED,
        # The offer falling through ends an application: with no process there is nothing to close.
        EventType.OFFER_WITHDRAWN,
        EventType.VETTING_FAILED,
        EventType.CANDIDATE_RENEGED,
    }
)


def no_process_reason(event: CanonicalEvent) -> str:
    """Why `deliver_event` answered NO_PROCESS, as the intake table records it."""
    if event.type == EventType.APPLICATION_REOPENED:
        return f"{event.type.value}: no process ever ran for this application, so there is nothing to reopen"
    return f"{event.type.value} of an application never interviewed: no process ran for it, so there is no follow-through to do"


def client_options(
    target: str | Mapping[str, Any] = "localhost:7233",
    namespace: str | None = None,
    codec: PayloadCodec | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> dict[str, Any]:
    """Client.connect's keyword arguments for a client of the engine: where and how it connects
    (an address, or the connect config of a Temporal client profile, with its namespace, API key,
    TLS and gRPC metadata: service.settings.Settings.temporal_connection), the engine's pydantic
    payloads encrypted with `codec` (None: not encrypted), and `interceptors`. Every client of
    the engine, the worker's included, is made from these with the codec its process's settings
    describe (PAYLOAD_ENCRYPTION_KEYS), so all of them encrypt alike."""
    options: dict[str, Any] = {"target_host": target} if isinstance(target, str) else dict(target)
    if namespace is not None or "namespace" not in options:
        options["namespace"] = namespace or "default"
    options["data_converter"] = data_converter(codec)
    options["interceptors"] = [*options.get("interceptors", ()), *interceptors]
    return options


async def connect(
    target: str | Mapping[str, Any] = "localhost:7233",
    namespace: str | None = None,
    codec: PayloadCodec | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """A client of the engine (see client_options)."""
    return await Client.connect(**client_options(target, namespace, codec, interceptors))


async def deliver_event(client: Client, event: CanonicalEvent, task_queue: str = contract.TASK_QUEUE) -> Delivery:
    """Signal-with-start: the event starts the application's process if none runs, and is its
    first `event` signal either way (the process ignores the second copy by event_id).

    Sent again, the same event is not a second signal: its request id is derived from the event
    (`signal_request_id`), and Temporal takes a signal-with-start whose request id the run has
    already seen as done, adding nothing to its history. So a forwarder that signalled and died
    before it marked the delivery, or two that raced for it, leave one `event` signal.

    A process that has completed is not started again for a late event (a re-delivered
    rejection must not open a new process); only a failed or terminated one may be.

    A rejection or withdrawal never starts a process (NO_PROCESS when none ran: the applicant was
    never interviewed); `application.reopened` starts a closed one again (REOPENED), see `_reopen`.
    """
    _request_ids_on(client)
    # Every copy of this event carries the same request id (see signal_request_id).
    request_id = _request_id.set(signal_request_id(event))
    try:
        if event.type in NEVER_START:
            return await _deliver_without_start(client, event, task_queue)
        await _bind_data_key(client, event)
        await client.start_workflow(
            contract.POST_INTERVIEW_WORKFLOW,
            event,
            id=event.workflow_id,
            task_queue=task_queue,
            start_signal=contract.EVENT_SIGNAL,
            start_signal_args=[event],
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            search_attributes=_search_attributes(event, event.candidate.id, event.recruiter.id),
            static_summary=_summary(event),
            static_details=(
                f"Post-interview follow-through for application {event.application_id} from {event.source}: "
                "debrief, references, offer to first day, and keeping in touch."
            ),
        )
    except WorkflowAlreadyStartedError:
        return Delivery.PROCESS_CLOSED
    finally:
        _request_id.reset(request_id)
    return Delivery.DELIVERED


async def _deliver_without_start(client: Client, event: CanonicalEvent, task_queue: str) -> Delivery:
    """A plain signal to the running process; when none runs, what became of it says the rest."""
    handle = client.get_workflow_handle(event.workflow_id)
    try:
        await handle.signal(contract.EVENT_SIGNAL, event)
        return Delivery.DELIVERED
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
    try:
        described = await handle.describe()
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return Delivery.NO_PROCESS  # never started: nothing to close, nothing to reopen
    if event.type == EventType.APPLICATION_REOPENED and described.status == WorkflowExecutionStatus.COMPLETED:
        await _bind_data_key(client, event)  # CandidateErased: an erased candidate's process is not reopened
        return await _reopen(client, event, task_queue)
    return Delivery.PROCESS_CLOSED


def _search_attributes(event: CanonicalEvent, candidate_id: str, recruiter_id: str) -> TypedSearchAttributes:
    """What an operator filters a process on (identifiers only: search attributes are not encrypted)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(contract.APPLICATION_ID, event.application_id),
            SearchAttributePair(contract.CANDIDATE_ID, candidate_id),
            SearchAttributePair(contract.RECRUITER_ID, recruiter_id),
            SearchAttributePair(contract.ATS_SOURCE, event.source),
        ]
    )


async def _reopen(client: Client, event: CanonicalEvent, task_queue: str) -> Delivery:
    """Start a closed process again: a new run (same workflow id) from everything the closed run
    knew, asked of it by query (Temporal answers queries of a closed workflow by replaying its
    history on a worker), with the reopening as its first event.

    Once: a reopening the closed run had already taken (a re-delivery after the application
    closed a second time) is PROCESS_CLOSED; two forwarders reopening at once start one run (the
    second start finds it running and signals it; the run takes an event id once)."""
    closed = client.get_workflow_handle(event.workflow_id)
    try:
        carried = await closed.query(names.CARRIED_STATE_QUERY, result_type=CarriedProcess)
    except RPCError as error:
        # Temporal is up (it just said the run is closed), but the query needs a worker to replay
        # the closed run, and none polls the queue (a deploy, a crash): Temporal says so after
        # waiting, as FAILED_PRECONDITION ("no poller seen") or by the call's deadline. NoWorker
        # lets the forwarder keep this reopening waiting for a worker without holding up others.
        # (or the SDK's own deadline for the call, CANCELLED "Timeout expired", on a busy machine)
        if error.status in (RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            raise NoWorker(None, "the query for the closed run's state (to reopen it)") from error
        raise
    if event.event_id in carried.seen or carried.closed is None:
        return Delivery.PROCESS_CLOSED
    try:
        await client.start_workflow(
            contract.POST_INTERVIEW_WORKFLOW,
            carried,
            id=event.workflow_id,
            task_queue=task_queue,
            start_signal=contract.EVENT_SIGNAL,
            start_signal_args=[event],
            # A closed run of this id exists: the reopened application is its next run.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=_search_attributes(event, carried.candidate.id, carried.recruiter.id),
            static_summary=_summary(carried.first_event),
            static_details=f"Application {event.application_id} from {event.source}, reopened after it closed ({carried.closed.value}).",
        )
    except WorkflowAlreadyStartedError:
        pass  # reopened by another forwarder meanwhile: the signal-with-start reached that run
    return Delivery.REOPENED


# Temporal deduplicates signals by request id within a run: SignalWithStartWorkflowExecution and
# SignalWorkflowExecution find the id among the run's signal request ids and answer success
# without a second WorkflowExecutionSignaled event (temporalio/temporal#2356; the ids live in
# the run's mutable state, so they do not survive continue-as-new or a reset, where the process's
# own event-id check takes over). The Python SDK sets a random request id on every call
# (temporalio/client/_impl.py) and has no option for it (SDKs leave it out on purpose, sdk-go#1705),
# so the one call that must be repeatable sets it here, on its own client's WorkflowService and
# only while `_request_id` holds one: everything else the SDK does for the call (the data
# converter, search attributes, interceptors such as tracing, its retries) is untouched.
_REQUEST_IDS = uuid.UUID("6f1c2b0e-3f5a-4c47-9d0e-2a7f3e8b5c11")  # the namespace of our request ids
_request_id: ContextVar[str | None] = ContextVar("signal_request_id", default=None)


def signal_request_id(event: CanonicalEvent) -> str:
    """The request id of `event`'s signal-with-start: the same for every copy of the event, and
    different for every other event of any process."""
    return str(uuid.uuid5(_REQUEST_IDS, f"{event.workflow_id}\n{contract.EVENT_SIGNAL}\n{event.event_id}"))


def _request_ids_on(client: Client) -> None:
    """Let `client` send the request id of `_request_id` with a signal-with-start and with a plain
    signal (a closure's, which never starts a process), once per client."""
    service = client.workflow_service
    if getattr(service, "_postinterview_request_ids", False):
        return

    def with_request_id(sdk_call):  # type: ignore[no-untyped-def]
        async def call(request, *args, **kwargs):  # type: ignore[no-untyped-def]
            request_id = _request_id.get()
            if request_id is not None:
                request.request_id = request_id
            return await sdk_call(request, *args, **kwargs)

        return call

    service.signal_with_start_workflow_execution = with_request_id(service.signal_with_start_workflow_execution)  # type: ignore[method-assign]
    service.signal_workflow_execution = with_request_id(service.signal_workflow_execution)  # type: ignore[method-assign]
    service._postinterview_request_ids = True  # type: ignore[attr-defined]


async def signal_event(client: Client, event: CanonicalEvent) -> None:
    """A plain `event` signal to the application's running process; it never starts one (an
    answer from a link must not open a process, nor replace a failed one with a process that
    knows nobody's name). The process takes an event id once, so a repeat is harmless.

    Raises ProcessNotFound when no process runs (it has completed, or never existed),
    EngineUnavailable when Temporal answers with another error."""
    with translated(event.workflow_id):
        await client.get_workflow_handle(event.workflow_id).signal(contract.EVENT_SIGNAL, event)


async def signal_nurture_answer(client: Client, source: str, candidate_id: str, answer: NurtureAnswer) -> None:
    """A candidate's answer to a check-in (or their opt-out) to their running relationship process;
    never starts one. The relationship takes an answer id once, so a repeat is harmless.

    Raises ProcessNotFound when no relationship runs, EngineUnavailable on another error."""
    workflow_id = contract.relationship_workflow_id(source, candidate_id)
    with translated(workflow_id):
        await client.get_workflow_handle(workflow_id).signal(names.NURTURE_ANSWER_SIGNAL, answer)


def process_handle(client: Client, source: str, application_id: str) -> WorkflowHandle[Any, ProcessStatus]:
    """The application's process; its result is its final status."""
    return client.get_workflow_handle(contract.post_interview_workflow_id(source, application_id), result_type=ProcessStatus)


async def record_debrief(
    client: Client,
    source: str,
    application_id: str,
    debrief: Debrief | dict[str, Any],
    update_id: str | None = None,
    timeout: float | None = None,
) -> DebriefRound:
    """Record a debrief (the `record_debrief` update); its round as the process recorded it.

    A form's raw fields may be passed as a dict: the process validates them and says what is
    wrong. With `update_id`, a repeat of an accepted update returns its result, not a second
    debrief (a signed link posted twice).

    Raises ProcessRefused with the process's reason (`closed` once it has closed),
    ProcessNotFound, EngineUnavailable, and NoWorker when no worker took it within `timeout`
    seconds (None: wait as long as Temporal does)."""
    submission = debrief.model_dump(mode="json") if isinstance(debrief, Debrief) else debrief
    handle = process_handle(client, source, application_id)
    with translated(handle.id, timeout):
        return await asyncio.wait_for(
            handle.execute_update(contract.RECORD_DEBRIEF_UPDATE, submission, id=update_id, result_type=DebriefRound), timeout
        )


async def complete_task(
    client: Client, process_id: str, completion: TaskCompletion, timeout: float | None = None
) -> TaskCompletionResult:
    """Hand a completed task's outcome to its process (the `complete_task` update).

    Raises ProcessRefused with the process's reason (`closed` once it has closed),
    ProcessNotFound when the process has completed or never existed, EngineUnavailable, and
    NoWorker when no worker took it within `timeout` seconds."""
    with translated(process_id, timeout):
        return await asyncio.wait_for(
            client.get_workflow_handle(process_id).execute_update(
                contract.COMPLETE_TASK_UPDATE, completion.model_dump(mode="json"), result_type=TaskCompletionResult
            ),
            timeout,
        )


async def process_status(client: Client, source: str, application_id: str) -> ProcessStatus:
    return await process_handle(client, source, application_id).query(contract.STATUS_QUERY, result_type=ProcessStatus)


def _summary(event: CanonicalEvent) -> str:
    # Identifiers, role and client only: no candidate name in what every operator sees.
    role = event.job.title if event.job and event.job.title else "role not given"
    client = event.client.name or event.client.id
    return f"Application {event.application_id}: {role} at {client}"
