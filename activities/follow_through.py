"""The follow-through activities: give recruiters tasks, escalate to their lead, queue messages.

The workflows decide *what* should happen and *when*; these activities write it to the task store.
They are synchronous (the worker runs them in a thread pool) and idempotent on the request's key:
Temporal retries an activity whose attempt failed or timed out, and the retry must find the task or
message the first attempt wrote instead of adding a second one.

Logs carry identifiers only (workflow, activity, key): never a name, an email address or a phone
number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from jinja2 import Environment, PackageLoader, TemplateNotFound
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain import names
from domain.debrief import FeedbackDebrief, feedback_debrief
from domain.contact import ContactPreference, ContactPreferenceRequest, candidate_source
from domain.follow_through import (
    TASK_TEXT,
    Assignee,
    MessageRequest,
    OpenTasksUpdate,
    ProcessTasksCancellation,
    Recipient,
    StoredMessage,
    StoredTask,
    TaskKind,
    TaskRequest,
    TaskResolution,
    TaskUpdate,
)
from activities.store_failures import reports_store_failures
from store.contact_preferences import ContactPreferenceStore
from store.task_store import TaskStore

if TYPE_CHECKING:
    from activities.delivery import DeliveryStarter

log = structlog.get_logger()

# Plain-text emails: nothing to escape. A missing name renders as the template's own default
# (`{{ candidate | default("there") }}`) rather than failing the activity.
templates = Environment(
    loader=PackageLoader("activities", "templates"),
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
)

# What a task says when the request's context lacks a person's name.
_PLACEHOLDERS = {
    "candidate": "the candidate",
    "client": "the client",
    "referee": "the referee",
    "recruiter": "the recruiter",
    "role": "the role",
    "interviewers": "the interviewers",
}


class _TaskContext(dict[str, str]):
    """The request's context for TASK_TEXT: a missing field reads as a placeholder, not a KeyError."""

    def __missing__(self, field: str) -> str:
        return _PLACEHOLDERS.get(field, f"{{{field}}}")


def task_text(request: TaskRequest) -> tuple[str, str]:
    """The task's title and instructions, in the recruiter's words, from the task catalogue. A
    feedback task that carries the candidate's debrief has it after the why (or says it is not in
    yet), so the email, Slack, Teams and the ATS all carry what the client is to be sent."""
    text = TASK_TEXT[request.kind]
    context = _TaskContext(request.context)
    instructions = text.why.format_map(context)
    debrief = feedback_debrief(request.context) if request.kind is TaskKind.SEND_FEEDBACK else None
    if debrief is not None:
        instructions += "\n\n" + debrief_text(debrief, request.context)
    return text.title.format_map(context), instructions


def debrief_text(debrief: FeedbackDebrief, context: Mapping[str, str]) -> str:
    """The candidate's debrief as a block of text (activities/templates/blocks/feedback_debrief.txt.j2)."""
    names = {k: context[k] for k in ("candidate", "client") if context.get(k)}
    return templates.get_template("blocks/feedback_debrief.txt.j2").render(debrief=debrief, **names).strip()


def render_message(template: str, context: Mapping[str, str]) -> tuple[str, str]:
    """The subject (the template's first line, `Subject: ...`) and the body (the rest)."""
    try:
        source = templates.get_template(f"{template}.txt.j2")
    except TemplateNotFound:
        # Retrying cannot make a template appear: fail the activity, not the attempt.
        raise ApplicationError(
            f"no message template named {template!r}", type="UnknownTemplate", non_retryable=True
        ) from None
    debrief = feedback_debrief(context)
    if debrief is not None and "debrief_text" not in context:
        # A message about a feedback task carries the debrief as the task does.
        context = {**context, "debrief_text": debrief_text(debrief, context)}
    subject, _, body = source.render(context).partition("\n")
    return subject.removeprefix("Subject:").strip(), body.strip()


# Tasks whose whole point is to contact the candidate: not given for a candidate who opted out
# (the relationship's own check-ins and calls stop in the workflow: workflows/relationship.py).
# A withdrawn offer's "line up their next opportunities" is a call to put new roles to them: contact.
CONTACT_TASKS = frozenset({TaskKind.CLOSURE_FEEDBACK, TaskKind.FACE_TO_FACE, TaskKind.CHECK_IN, TaskKind.NURTURE_CALL, TaskKind.NEXT_ROLE})


def render_footer(opt_out_link: str | None) -> str:
    """The end of every message to a candidate: how to stop hearing from us (templates/_candidate_footer.txt.j2)."""
    return templates.get_template("_candidate_footer.txt.j2").render(opt_out_link=opt_out_link or "").strip()


class AnswerLinks(Protocol):
    """What the activities need of the answer links (inbox.links.LinkSigner is one): the template
    fields of a message's link, empty when the message carries none."""

    def message_context(self, request: MessageRequest) -> dict[str, str]: ...


class FollowThroughActivities:
    def __init__(self, store: TaskStore, *, deliveries: DeliveryStarter | None = None, links: AnswerLinks | None = None) -> None:
        self._store = store
        # Starts the delivery (email, Slack, ATS note) of what was written; None: the inbox alone.
        self._deliveries = deliveries
        # Signs the answer links of messages that ask for one; None: messages go without links.
        self._links = links

    @activity.defn(name=names.CREATE_RECRUITER_TASK)
    @reports_store_failures
    def create_recruiter_task(self, request: TaskRequest) -> StoredTask:
        task, created = self._record_task(request)
        _log("recruiter task recorded", key=request.key, kind=request.kind.value, created=created)
        if created and request.kind in CONTACT_TASKS:
            reason = self._opted_out(request)
            if reason is not None:
                # A task to call somebody who asked not to be contacted: recorded, cancelled with
                # the reason (the recruiter sees why in the inbox), never announced.
                self._store.resolve_tasks([request.key], names.TASK_CANCELLED, reason)
                _log("contact task cancelled: the candidate opted out", key=request.key, kind=request.kind.value)
                return self._store.task(request.key) or task
        if self._deliveries:
            # Also when the task was already there: the attempt that wrote it may have died
            # before starting its delivery. The delivery's id makes a second start a no-op.
            self._deliveries.task_recorded(task)
        return task

    def _opted_out(self, request: TaskRequest) -> str | None:
        """Why this contact task's candidate must not be called (they opted out), else None. The
        candidate is the one the process has messaged (its candidate messages keep their source)."""
        found = self._store.candidate_of(request.process_id)
        if found is None:
            return None
        preference = ContactPreferenceStore(self._store.engine).preference(*found)
        return "the candidate asked not to be contacted" if preference.opted_out else None

    @activity.defn(name=names.ESCALATE_TO_LEAD)
    @reports_store_failures
    def escalate_to_lead(self, request: TaskRequest) -> StoredTask:
        if request.kind is not TaskKind.ESCALATION:
            raise ApplicationError(
                f"escalate_to_lead takes an {TaskKind.ESCALATION} task, not {request.kind}",
                type="WrongTaskKind",
                non_retryable=True,
            )
        task, created = self._record_task(request)
        # The lead hears of it by message too: an escalation sitting in a task list is easy to miss.
        _, message_created = self._queue_message(_escalation_message(request))
        _log(
            "escalation recorded",
            key=request.key,
            kind=request.kind.value,
            created=created,
            message_created=message_created,
        )
        return task

    @activity.defn(name=names.RESOLVE_TASKS)
    @reports_store_failures
    def resolve_tasks(self, resolution: TaskResolution) -> int:
        changed = self._store.resolve_tasks(resolution.keys, resolution.status, resolution.outcome)
        _log("tasks resolved", keys=resolution.keys, status=resolution.status, changed=changed)
        return changed

    @activity.defn(name=names.CANCEL_PROCESS_TASKS)
    @reports_store_failures
    def cancel_process_tasks(self, cancellation: ProcessTasksCancellation) -> int:
        changed = self._store.cancel_process_tasks(cancellation.process_id, cancellation.reason)
        _log("process tasks cancelled", process_id=cancellation.process_id, changed=changed)
        return changed

    @activity.defn(name=names.UPDATE_OPEN_TASKS)
    @reports_store_failures
    def update_open_tasks(self, update: OpenTasksUpdate) -> int:
        """An ids-only event had assumed the people; now they are known. The process's pending
        tasks given to the stand-in move to the real recruiter, and every pending task's title and
        text take the names. Idempotent: a retry finds the tasks already saying so."""
        changed = 0
        for task in self._store.tasks(process_id=update.process_id):
            if task.status not in names.TASK_PENDING:
                continue
            moves = task.assignee_id == update.from_assignee_id
            assignee = update.assignee if moves else None
            context = {**(task.context or {}), **update.context}
            request = TaskRequest(
                key=task.key,
                process_id=task.process_id,
                application_id=task.application_id,
                kind=TaskKind(task.kind),
                assignee=assignee or Assignee(id=task.assignee_id),
                due_at=task.due_at,
                context=context,
            )
            title, instructions = task_text(request)
            if assignee is not None:
                self._store.register_assignee(request)
            changed += self._store.retitle(
                task.key,
                title=title,
                instructions=instructions,
                context=context,
                assignee_id=assignee.id if assignee is not None else None,
                assignee_email=assignee.email if assignee is not None else None,
            )
        _log("open tasks updated", process_id=update.process_id, changed=changed)
        return changed

    @activity.defn(name=names.UPDATE_RECRUITER_TASK)
    @reports_store_failures
    def update_recruiter_task(self, update: TaskUpdate) -> bool:
        """An open task's context takes the update's entries, its title and text rendered again.
        True when it changed; False when it already said so (a retry) or is no longer pending."""
        task = self._store.task(update.key)
        if task is None or task.status not in names.TASK_PENDING:
            _log("task not updated: not pending", key=update.key)
            return False
        context = {**(task.context or {}), **update.context}
        request = TaskRequest(
            key=task.key,
            process_id=task.process_id,
            application_id=task.application_id,
            kind=TaskKind(task.kind),
            assignee=Assignee(id=task.assignee_id),
            due_at=task.due_at,
            context=context,
        )
        title, instructions = task_text(request)
        changed = self._store.retitle(task.key, title=title, instructions=instructions, context=context, action=update.action)
        _log("task updated", key=update.key, changed=changed)
        return changed

    @activity.defn(name=names.CHECK_CONTACT_PREFERENCE)
    @reports_store_failures
    def check_contact_preference(self, request: ContactPreferenceRequest) -> ContactPreference:
        """The candidate's choice about contact (their opt-out, the ATS's can_email), read now."""
        preference = ContactPreferenceStore(self._store.engine).preference(request.source, request.candidate_id)
        _log("contact preference read", opted_out=preference.opted_out, ats_can_email=preference.ats_can_email)
        return preference

    @activity.defn(name=names.MESSAGE_CANDIDATE)
    @reports_store_failures
    def message_candidate(self, request: MessageRequest) -> StoredMessage:
        return self._message(request, "candidate")

    @activity.defn(name=names.CONTACT_REFEREE)
    @reports_store_failures
    def contact_referee(self, request: MessageRequest) -> StoredMessage:
        return self._message(request, "referee")

    @activity.defn(name=names.REMIND_RECRUITER)
    @reports_store_failures
    def remind_recruiter(self, request: MessageRequest) -> StoredMessage:
        return self._message(request, "recruiter")

    def _message(self, request: MessageRequest, role: str) -> StoredMessage:
        if request.recipient.role != role:
            # A message meant for somebody else must never go out: no retry will fix the request.
            raise ApplicationError(
                f"{activity.info().activity_type} sends to a {role}, not a {request.recipient.role}",
                type="WrongRecipient",
                non_retryable=True,
            )
        message, created = self._queue_message(request)
        _log("message queued", key=request.key, template=request.template, role=role, created=created)
        return message

    def _record_task(self, request: TaskRequest) -> tuple[StoredTask, bool]:
        # Look first so a retry neither re-renders nor claims to have created the task; the
        # store's own ON CONFLICT still guards two attempts racing past this check.
        existing = self._store.task(request.key)
        if existing:
            return existing, False
        title, instructions = task_text(request)
        return self._store.create_task(request, title, instructions), True

    def _queue_message(self, request: MessageRequest) -> tuple[StoredMessage, bool]:
        message, created = self._store.message(request.key), False
        if message is None:
            links = self._link_context(request)
            subject, body = render_message(request.template, _message_context(request) | links)
            if request.recipient.role == "candidate":
                # Every message to a candidate says how to stop them (whatever its template), and
                # keeps whose it is: the delivery checks their choice just before it sends.
                body = f"{body}\n\n{render_footer(links.get('opt_out_link'))}"
                source = candidate_source(request.process_id, request.application_id, request.recipient.id)
                message = self._store.add_message(request, subject, body, candidate_source=source, list_unsubscribe=links.get("opt_out_link"))
            else:
                message = self._store.add_message(request, subject, body)
            created = True
        if self._deliveries:
            self._deliveries.message_queued(message, request)
        return message, created

    def _link_context(self, request: MessageRequest) -> dict[str, str]:
        # The answer link (a random id, an expiry from the clock) is made here, never in the
        # workflow. It is stable for a retried activity: the message is stored once by key and a
        # retry returns the stored one, link included; of two attempts racing past the check, the
        # store keeps one message and the other's link is never sent.
        return self._links.message_context(request) if self._links else {}


def _escalation_message(request: TaskRequest) -> MessageRequest:
    lead = request.assignee
    return MessageRequest(
        key=f"{request.key}/message",
        process_id=request.process_id,
        application_id=request.application_id,
        recipient=Recipient(role="lead", id=lead.id, name=lead.name, email=lead.email),
        template="escalation",
        context=request.context,
    )


def _message_context(request: MessageRequest) -> dict[str, str]:
    """The template's names: the recipient's own name under their role (`candidate`, `referee`,
    `recruiter`, `lead`) unless the context already says it."""
    names = {request.recipient.role: request.recipient.name} if request.recipient.name else {}
    return names | request.context


def _log(event: str, **fields: Any) -> None:
    info = activity.info()
    log.info(
        event,
        workflow_id=info.workflow_id,
        activity_id=info.activity_id,
        activity_type=info.activity_type,
        **fields,
    )
