"""Erasing a candidate: `postinterview forget CANDIDATE --source ATS`, and the ATS's own erasure
(Greenhouse's `delete_candidate` and `candidate_anonymized` web hooks, which the intake stores as
an erasure request and its forwarder carries out with `erase`).

In this order, each step idempotent, so a request repeated, or retried after it failed half-way,
finishes the job and changes nothing more:

1. The request is recorded (`erasures`: who, through what, when; the candidate only as a digest).
2. Their data key is destroyed (a tombstone is left when they had none): from then on no event
   starts or reopens a process for them (process_client.deliver_event, the forwarder), so none
   begins while the rest is done, and what Temporal's histories hold about them, encrypted under
   that key, can no longer be decoded by anyone (codec/data_keys.py).
3. The candidate's workflows are found: their post-interview processes (Temporal's visibility by
   `AtsSource` and `CandidateId`, the application ids the ATS names, the workflows registered
   under their data key), the referee checks of those, their relationship process, and the
   deliveries (`Notify`) of their tasks and messages still running. A key their workflows are
   registered under besides their own is destroyed too.
4. Every one still running is terminated (reason "candidate erased (erasure #N)": no personal
   data; a terminated workflow's result is nothing).
5. The store's rows about those workflows are purged, and their intake deliveries' payloads
   dropped (store/erasure_store.py says what is kept); once more at the end, for a row an
   activity of a terminated workflow was still writing.
6. The request is completed with a report of what was erased (counts only).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import structlog
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from codec.data_keys import KeyringCodec, subject_of
from domain import contract
from store.erasure_store import ErasureStore

log = structlog.get_logger()

# Visibility is eventually consistent: a process started a moment ago may not be listed yet. The
# application ids the ATS names and the workflows registered under the candidate's key cover that.
VISIBILITY_LIMIT = 1000


@dataclass(frozen=True)
class ErasureRequest:
    source: str
    candidate_id: str
    # Applications the requester knows of (Greenhouse's `deleted_application_ids`, `--application`).
    application_ids: tuple[str, ...] = ()
    requested_by: str = "operator"
    # cli | greenhouse:delete_candidate | greenhouse:candidate_anonymized
    via: str = "cli"


@dataclass
class ErasureReport:
    erasure_id: int
    earlier: list[int]
    processes: int = 0  # post-interview processes of the candidate
    terminated: int = 0  # workflows that were still running, now terminated
    keys_destroyed: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def repeated(self) -> bool:
        return bool(self.earlier)

    def as_record(self) -> dict[str, object]:
        """What the audit record keeps: counts, no identifier."""
        return {
            "processes": self.processes,
            "workflows_terminated": self.terminated,
            "data_keys_destroyed": self.keys_destroyed,
            "earlier_erasures": self.earlier,
            **self.rows,
        }

    def lines(self) -> list[str]:
        """The report, as `postinterview forget` prints it."""
        said = [
            f"erasure #{self.erasure_id}" + (f" (the candidate was erased before: #{', #'.join(map(str, self.earlier))}; nothing was left to erase)" if self.repeated and not self._anything() else ""),
            f"  post-interview processes found: {self.processes}; workflows terminated: {self.terminated}",
            f"  data keys destroyed: {self.keys_destroyed}" + (" (their Temporal histories can no longer be decoded)" if self.keys_destroyed else ""),
        ]
        rows = ", ".join(f"{name.replace('_', ' ')} {count}" for name, count in self.rows.items())
        said.append(f"  store rows: {rows}")
        return said

    def _anything(self) -> bool:
        return bool(self.terminated or self.keys_destroyed or any(self.rows.values()))


async def erase(client: Client, store: ErasureStore, request: ErasureRequest) -> ErasureReport:
    """Carry out `request` (see the module's docstring); the report of what was erased."""
    subject = subject_of(request.source, request.candidate_id)
    erasure_id, earlier = await asyncio.to_thread(store.record_request, subject, request.source, request.requested_by, request.via)
    report = ErasureReport(erasure_id=erasure_id, earlier=earlier)
    log.info("erasure requested", erasure_id=erasure_id, source=request.source, via=request.via)

    # The candidate's key first (a tombstone when they had none): from here on no event starts or
    # reopens a process for them, so none can begin while the rest is done.
    own = await asyncio.to_thread(store.key_ids, subject, ())
    report.keys_destroyed = await asyncio.to_thread(store.destroy_keys, subject, own, erasure_id)
    _forget_keys(client, own)

    registered = await asyncio.to_thread(store.workflows_of_keys, own)
    processes = set(await _listed_processes(client, request.source, request.candidate_id))
    processes |= {contract.post_interview_workflow_id(request.source, a) for a in request.application_ids}
    processes |= {w for w in registered if w.startswith("post-interview-")}
    relationship = contract.relationship_workflow_id(request.source, request.candidate_id)
    report.processes = len(processes)
    # A workflow of theirs registered under another key (an ids-only offer's placeholder candidate).
    others = [k for k in await asyncio.to_thread(store.key_ids, subject, [*processes, relationship]) if k not in own]
    report.keys_destroyed += await asyncio.to_thread(store.destroy_keys, subject, others, erasure_id)
    _forget_keys(client, others)

    referee_checks = await _referee_checks(client, processes)
    workflows = sorted(processes) + sorted(referee_checks) + [relationship] + [w for w in registered if w not in processes and w != relationship]
    for workflow_id in workflows:
        report.terminated += await _terminate(client, workflow_id, erasure_id)

    prefix = f"post-interview-{request.source}-"
    applications = {f"{request.source}:{w.removeprefix(prefix)}" for w in processes if w.startswith(prefix)}
    applications |= {f"{request.source}:{a}" for a in request.application_ids}
    owned = [*processes, relationship, *referee_checks]
    for kind, key in await asyncio.to_thread(_subject_keys, store, [*processes, relationship]):
        report.terminated += await _terminate(client, contract.notify_workflow_id(kind, key), erasure_id)
    report.rows = await asyncio.to_thread(store.purge, owned, sorted(applications), erasure_id)
    # An activity of a terminated workflow may still have been writing its row a moment ago: once more.
    late = await asyncio.to_thread(store.purge, owned, sorted(applications), erasure_id)
    report.rows = {name: count + late.get(name, 0) for name, count in report.rows.items()}
    report.rows["contact_preferences"] = await asyncio.to_thread(store.forget_contact_preference, request.source, request.candidate_id)
    await asyncio.to_thread(store.complete, erasure_id, report.as_record())
    log.info("candidate erased", erasure_id=erasure_id, **report.as_record())
    return report


def _forget_keys(client: Client, key_ids: list[str]) -> None:
    """This process's codec drops the keys at once (others within KEY_CACHE_SECONDS)."""
    codec = client.data_converter.payload_codec
    if isinstance(codec, KeyringCodec) and key_ids:
        codec.forget(key_ids)


async def was_erased(store: ErasureStore, source: str, candidate_id: str) -> bool:
    """Whether the candidate was erased: for a forwarder whose client has no data keys
    (encryption or PAYLOAD_DATA_KEYS off), where nothing else refuses their late events. Asked of
    the store each time (one indexed read): an answer kept for a while would let an event through
    just after an erasure, and start a process for the candidate again."""
    return await asyncio.to_thread(store.is_erased, subject_of(source, candidate_id))


def uses_data_keys(client: Client) -> bool:
    """Whether `client` registers processes under data keys (which refuse an erased candidate)."""
    return isinstance(getattr(getattr(client, "data_converter", None), "payload_codec", None), KeyringCodec)


def _subject_keys(store: ErasureStore, processes: Sequence[str]) -> list[tuple[str, str]]:
    """(kind, key) of the tasks, messages and reference reports of `processes` (and their referee
    checks), whose deliveries may still be running (a report's ATS note: notify-reference_report-...)."""
    from sqlalchemy import select

    from store.schema import messages, reference_reports, tasks

    owned = store._owned_by(list(processes))  # noqa: SLF001 - same feature
    with store.engine.connect() as connection:
        task_keys = connection.execute(select(tasks.c.key).where(owned(tasks.c.process_id))).scalars().all()
        message_keys = connection.execute(select(messages.c.key).where(owned(messages.c.process_id))).scalars().all()
        report_keys = connection.execute(select(reference_reports.c.key).where(owned(reference_reports.c.process_id))).scalars().all()
    return [("task", k) for k in task_keys] + [("message", k) for k in message_keys] + [("reference_report", k) for k in report_keys]


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def _listed_processes(client: Client, source: str, candidate_id: str) -> list[str]:
    query = (
        f"WorkflowType = {_quoted(contract.POST_INTERVIEW_WORKFLOW)} AND {contract.ATS_SOURCE.name} = {_quoted(source)} "
        f"AND {contract.CANDIDATE_ID.name} = {_quoted(candidate_id)}"
    )
    return sorted({execution.id async for execution in client.list_workflows(query, limit=VISIBILITY_LIMIT)})


async def _referee_checks(client: Client, processes: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for process_id in processes:
        prefix = process_id + "-referee-"
        query = f"WorkflowType = {_quoted(contract.REFEREE_CHECK_WORKFLOW)} AND WorkflowId STARTS_WITH {_quoted(prefix)}"
        try:
            found |= {execution.id async for execution in client.list_workflows(query, limit=VISIBILITY_LIMIT)}
        except RPCError:
            # A visibility store without STARTS_WITH: the running checks, filtered here.
            running = f"WorkflowType = {_quoted(contract.REFEREE_CHECK_WORKFLOW)} AND ExecutionStatus = 'Running'"
            found |= {e.id async for e in client.list_workflows(running, limit=VISIBILITY_LIMIT * 10) if e.id.startswith(prefix)}
    return found


async def _terminate(client: Client, workflow_id: str, erasure_id: int) -> int:
    """1 when the workflow was running and is terminated now; 0 when it was not running."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return 0
        await handle.terminate(reason=f"candidate erased (erasure #{erasure_id})")
        return 1
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:  # never ran, or already closed meanwhile
            return 0
        raise
