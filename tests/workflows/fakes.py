"""In-memory activities for the workflow logic tests, registered under the real activity names.

The workflows call their activities by name (workflows/_follow_through.py); these fakes answer to
the same names with the same result types (domain/follow_through.py) and behave as the real ones
do where the workflows depend on it: every write is idempotent on the request's key (a retried
activity finds what the first attempt wrote), a task closed once keeps its first outcome, the
process's cancellation reaches its referee checks' tasks, and a task or message is worded by the
real catalogue and templates. What they leave out is the store: no SQLite file, no migrations per
test. The real activities against a real store (SQLite and PostgreSQL) are tested on their own in
tests/activities, and together with the workflows end to end wherever a test runs
`tests.harness.running_engine` (worker.build_worker).

The activity names come from domain.names, as the workflows call them and the real activities
register them.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.follow_through import render_message, task_text
from activities.relationship import RelationshipActivities
from domain import names
from domain.contact import ContactPreference, ContactPreferenceRequest
from domain.follow_through import (
    DebriefNote,
    Enrichment,
    EnrichmentRequest,
    MessageRequest,
    OpenTasksUpdate,
    ProcessTasksCancellation,
    Assignee,
    Recipient,
    StoredMessage,
    StoredTask,
    TaskKind,
    TaskRequest,
    TaskResolution,
    TaskUpdate,
)
from domain.policy import PolicyBook, TimingPolicy
from tests.harness import CONTINUOUS
from worker import WORKFLOWS, workflow_runner



class FakeStore:
    """The tasks and messages the fakes wrote, read the way tests read the real TaskStore."""

    def __init__(self) -> None:
        self._tasks: dict[str, StoredTask] = {}
        self._messages: dict[str, StoredMessage] = {}
        self._ids = itertools.count(1)
        # Debrief notes written to "the ATS", by key: once each, as the real activity's record keeps them.
        self.debrief_notes: dict[str, DebriefNote] = {}
        self.debrief_note_calls = 0
        # (source, candidate id) -> their contact preference, as the contact_preferences table holds it.
        self.preferences: dict[tuple[str, str], ContactPreference] = {}

    # Read as TaskStore reads: copies, tasks by due time, messages in the order they were queued.

    def task(self, key: str) -> StoredTask | None:
        task = self._tasks.get(key)
        return task.model_copy(deep=True) if task else None

    def tasks(self, status: str | None = None, assignee_id: str | None = None, process_id: str | None = None) -> list[StoredTask]:
        found = [
            t
            for t in self._tasks.values()
            if (status is None or t.status == status)
            and (assignee_id is None or t.assignee_id == assignee_id)
            and (process_id is None or t.process_id == process_id)
        ]
        return [t.model_copy(deep=True) for t in sorted(found, key=lambda t: (t.due_at, t.id))]

    def message(self, key: str) -> StoredMessage | None:
        message = self._messages.get(key)
        return message.model_copy(deep=True) if message else None

    def messages(self, process_id: str | None = None, recipient_role: str | None = None) -> list[StoredMessage]:
        return [
            m.model_copy(deep=True)
            for m in self._messages.values()
            if (process_id is None or m.process_id == process_id) and (recipient_role is None or m.recipient_role == recipient_role)
        ]

    # Written as TaskStore writes: once per key.

    def create_task(self, request: TaskRequest) -> StoredTask:
        if request.key not in self._tasks:
            title, instructions = task_text(request)
            self._tasks[request.key] = StoredTask(
                id=next(self._ids),
                key=request.key,
                process_id=request.process_id,
                application_id=request.application_id,
                kind=request.kind.value,
                title=title,
                instructions=instructions,
                assignee_id=request.assignee.id,
                due_at=request.due_at,
                status=names.TASK_OPEN,
                created_at=datetime.now(UTC),
                context=request.context,
            )
        return self._tasks[request.key].model_copy(deep=True)

    def add_message(self, request: MessageRequest) -> StoredMessage:
        if request.key not in self._messages:
            recipient_names = {request.recipient.role: request.recipient.name} if request.recipient.name else {}
            subject, body = render_message(request.template, recipient_names | request.context)
            self._messages[request.key] = StoredMessage(
                key=request.key,
                process_id=request.process_id,
                recipient_role=request.recipient.role,
                recipient_id=request.recipient.id,
                recipient_email=request.recipient.email,
                subject=subject,
                body=body,
                send_after=request.send_after,
                status=names.MESSAGE_QUEUED,
                created_at=datetime.now(UTC),
            )
        return self._messages[request.key].model_copy(deep=True)

    def close_pending(self, which: Callable[[StoredTask], bool], status: str, outcome: str) -> int:
        closed = 0
        for task in self._tasks.values():
            if which(task) and task.status in names.TASK_PENDING:
                task.status, task.outcome, task.resolved_at, task.resolved_by = status, outcome, datetime.now(UTC), "process"  # the store's actor for the process
                closed += 1
        return closed


class FakeActivities:
    """The store-facing activities (tasks, messages, policy, enrichment) over a FakeStore."""

    def __init__(self, store: FakeStore, book: PolicyBook) -> None:
        self.store = store
        self._book = book

    @activity.defn(name=names.CREATE_RECRUITER_TASK)
    async def create_recruiter_task(self, request: TaskRequest) -> StoredTask:
        return self.store.create_task(request)

    @activity.defn(name=names.ESCALATE_TO_LEAD)
    async def escalate_to_lead(self, request: TaskRequest) -> StoredTask:
        if request.kind is not TaskKind.ESCALATION:
            raise ApplicationError(f"{names.ESCALATE_TO_LEAD} takes an {TaskKind.ESCALATION} task, not {request.kind}", type="WrongTaskKind", non_retryable=True)
        task = self.store.create_task(request)
        # The lead hears of it by message too, as from the real activity.
        lead = request.assignee
        self.store.add_message(
            MessageRequest(
                key=f"{request.key}/message",
                process_id=request.process_id,
                application_id=request.application_id,
                recipient=Recipient(role="lead", id=lead.id, name=lead.name, email=lead.email),
                template="escalation",
                context=request.context,
            )
        )
        return task

    @activity.defn(name=names.RESOLVE_TASKS)
    async def resolve_tasks(self, resolution: TaskResolution) -> int:
        keys = set(resolution.keys)
        return self.store.close_pending(lambda t: t.key in keys, resolution.status, resolution.outcome)

    @activity.defn(name=names.CANCEL_PROCESS_TASKS)
    async def cancel_process_tasks(self, cancellation: ProcessTasksCancellation) -> int:
        process_id = cancellation.process_id
        ours = lambda t: t.process_id == process_id or t.process_id.startswith(f"{process_id}-referee-")  # noqa: E731
        return self.store.close_pending(ours, names.TASK_CANCELLED, cancellation.reason)

    @activity.defn(name=names.UPDATE_OPEN_TASKS)
    async def update_open_tasks(self, update: OpenTasksUpdate) -> int:
        # As the real activity: pending tasks of the stand-in move, every pending one takes the names.
        changed = 0
        for task in self.store._tasks.values():
            if task.process_id != update.process_id or task.status not in names.TASK_PENDING:
                continue
            moves = task.assignee_id == update.from_assignee_id
            context = {**(task.context or {}), **update.context}
            assignee = update.assignee if moves else Assignee(id=task.assignee_id)
            title, instructions = task_text(
                TaskRequest(key=task.key, process_id=task.process_id, kind=TaskKind(task.kind), assignee=assignee, due_at=task.due_at, context=context)
            )
            if (task.title, task.instructions, task.context, task.assignee_id) != (title, instructions, context, assignee.id):
                task.title, task.instructions, task.context, task.assignee_id = title, instructions, context, assignee.id
                changed += 1
        return changed

    @activity.defn(name=names.UPDATE_RECRUITER_TASK)
    async def update_recruiter_task(self, update: TaskUpdate) -> bool:
        task = self.store._tasks.get(update.key)
        if task is None or task.status not in names.TASK_PENDING:
            return False
        context = {**(task.context or {}), **update.context}
        title, instructions = task_text(
            TaskRequest(key=task.key, process_id=task.process_id, kind=TaskKind(task.kind), assignee=Assignee(id=task.assignee_id), due_at=task.due_at, context=context)
        )
        if (task.title, task.instructions, task.context) == (title, instructions, context):
            return False
        task.title, task.instructions, task.context = title, instructions, context
        return True

    @activity.defn(name=names.WRITE_DEBRIEF_NOTE)
    async def write_debrief_note(self, note: DebriefNote) -> str:
        self.store.debrief_note_calls += 1
        if note.key in self.store.debrief_notes:
            return "sent"  # already: not written again
        self.store.debrief_notes[note.key] = note
        return "sent"

    @activity.defn(name=names.MESSAGE_CANDIDATE)
    async def message_candidate(self, request: MessageRequest) -> StoredMessage:
        return self._message(request, "candidate")

    @activity.defn(name=names.CONTACT_REFEREE)
    async def contact_referee(self, request: MessageRequest) -> StoredMessage:
        return self._message(request, "referee")

    @activity.defn(name=names.REMIND_RECRUITER)
    async def remind_recruiter(self, request: MessageRequest) -> StoredMessage:
        return self._message(request, "recruiter")

    def _message(self, request: MessageRequest, role: str) -> StoredMessage:
        if request.recipient.role != role:
            raise ApplicationError(
                f"{activity.info().activity_type} sends to a {role}, not a {request.recipient.role}", type="WrongRecipient", non_retryable=True
            )
        return self.store.add_message(request)

    @activity.defn(name=names.CHECK_CONTACT_PREFERENCE)
    async def check_contact_preference(self, request: ContactPreferenceRequest) -> ContactPreference:
        found = self.store.preferences.get((request.source, request.candidate_id))
        return found or ContactPreference(source=request.source, candidate_id=request.candidate_id)

    @activity.defn(name=names.LOAD_TIMING_POLICY)
    async def load_timing_policy(self, client_id: str) -> TimingPolicy:
        return self._book.for_client(client_id)

    @activity.defn(name=names.ENRICH_APPLICATION)
    async def enrich_application(self, request: EnrichmentRequest) -> Enrichment:
        # What the real activity answers without the vendor's API key: nothing to add.
        return Enrichment(note=f"no enrichment in the workflow tests ({request.source})")

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.create_recruiter_task,
            self.escalate_to_lead,
            self.resolve_tasks,
            self.cancel_process_tasks,
            self.update_open_tasks,
            self.update_recruiter_task,
            self.write_debrief_note,
            self.message_candidate,
            self.contact_referee,
            self.remind_recruiter,
            self.load_timing_policy,
            self.enrich_application,
            self.check_contact_preference,
        ]


@asynccontextmanager
async def running_with_fakes(
    env: WorkflowEnvironment, task_queue: str, policy: TimingPolicy | PolicyBook = CONTINUOUS
) -> AsyncIterator[FakeStore]:
    """The real workflows on `env` with the fakes standing in for the store's activities. The
    handover is the real activity: it only starts the relationship process through the client."""
    store = FakeStore()
    book = policy if isinstance(policy, PolicyBook) else PolicyBook(default=policy)
    relationship = RelationshipActivities(env.client, task_queue)
    activities = FakeActivities(store, book).all() + [relationship.hand_over_to_relationship, relationship.reopen_relationship]
    async with Worker(env.client, task_queue=task_queue, workflows=WORKFLOWS, workflow_runner=workflow_runner(), activities=activities):
        yield store
