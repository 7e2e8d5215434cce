"""The task desk: what a person may see and do with tasks, and how a completed task reaches its
process.

Access: a recruiter sees and acts on their own tasks, a lead on their team's (their own and their
recruiters'), an operator on everybody's. A task outside somebody's reach is 403 when it exists,
so the API never pretends a task is missing to someone who can name it by id.

Completing a task with an outcome the process acts on (a debrief, a referee's consent, a first
day) goes through the process's `complete_task` update first; the task is marked done only once
the process has accepted it, and a refusal comes back with the process's own reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from temporalio.client import Client

from domain import contract
from domain.follow_through import (
    RESULTS_FOR_PROCESS,
    TASK_OUTCOMES,
    StoredTask,
    TaskCompletion,
    TaskEvent,
    TaskKind,
    TaskOutcome,
)
from process_client import EngineUnavailable, NoWorker, ProcessNotFound, ProcessRefused, complete_task
from domain.reference_report import ReferenceReport
from store.access_store import AccessStore, User
from store.reference_store import ReferenceStore
from store.task_pages import BadCursor, TaskFilter, TaskPage
from store.task_store import PENDING, TaskStore

log = structlog.get_logger()

# An update waits for a worker to take it; with Temporal up but no worker (a deploy), without a
# limit the recruiter's request would hang. Nothing changes when it runs out: they try again.
UPDATE_TIMEOUT = 20.0


class DeskError(Exception):
    """A request the desk refuses; `status` is the HTTP status that says why."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class TaskNotFound(DeskError):
    status, code = 404, "not_found"


class Forbidden(DeskError):
    status, code = 403, "forbidden"


class NotPending(DeskError):
    status, code = 409, "conflict"


class RefusedByProcess(DeskError):
    status, code = 422, "refused_by_process"


class ProcessUnavailable(DeskError):
    status, code = 503, "temporal_unavailable"


@dataclass(frozen=True)
class Principal:
    """A signed-in person and the assignees whose tasks they reach (None: everybody's)."""

    user: User
    reach: frozenset[str] | None

    def reaches(self, assignee_id: str) -> bool:
        return self.reach is None or assignee_id in self.reach


def process_of(task: StoredTask) -> str | None:
    """The workflow that takes the task's outcome: the post-interview process, also for its
    referee checks' tasks; None for a relationship's check-ins (nothing waits on them)."""
    parent = contract.referee_check_parent(task.process_id)
    if parent is not None:
        return parent[0]
    if task.process_id.startswith("post-interview-"):
        return task.process_id
    return None


class TaskDesk:
    def __init__(self, tasks: TaskStore, access: AccessStore, temporal: Callable[[], Awaitable[Client]]) -> None:
        self.tasks = tasks
        self.access = access
        self._temporal = temporal
        self._client: Client | None = None

    # who

    def principal(self, user: User) -> Principal:
        if user.role == "operator":
            return Principal(user, None)
        if user.role == "lead":
            return Principal(user, frozenset(self.access.team(user.id)))
        return Principal(user, frozenset({user.id}))

    def authenticate(self, token: str | None) -> Principal | None:
        if not token:
            return None
        user = self.access.user_for_token(token)
        return self.principal(user) if user else None

    # what they see

    def page(
        self,
        who: Principal,
        statuses: tuple[str, ...] = (),
        assignee: str | None = None,
        *,
        kinds: tuple[str, ...] = (),
        client: str | None = None,
        due_before: datetime | None = None,
        due_after: datetime | None = None,
        overdue: bool = False,
        sort: str = "due",
        limit: int = 50,
        cursor: str | None = None,
    ) -> TaskPage:
        """One page of the tasks `who` may see, filtered and sorted by the store (a lead's team's,
        everybody's for an operator); `assignee` narrows it to one person within reach."""
        try:
            return self.tasks.page(self.reach_filter(who, statuses, assignee, kinds, client, due_before, due_after, overdue), sort, limit, cursor)
        except BadCursor as error:
            raise DeskError(str(error)) from None

    def clients(self, who: Principal, statuses: tuple[str, ...] = (), assignee: str | None = None) -> list[str]:
        """The clients of the tasks `who` may see: the choices of the inbox's client filter."""
        return self.tasks.clients(self.reach_filter(who, statuses, assignee))

    def reach_filter(
        self,
        who: Principal,
        statuses: tuple[str, ...] = (),
        assignee: str | None = None,
        kinds: tuple[str, ...] = (),
        client: str | None = None,
        due_before: datetime | None = None,
        due_after: datetime | None = None,
        overdue: bool = False,
    ) -> TaskFilter:
        if assignee is not None and not who.reaches(assignee):
            raise Forbidden(f"{who.user.id} cannot see {assignee}'s tasks")
        return TaskFilter(
            statuses=statuses,
            assignee_id=assignee,
            assignees=who.reach if assignee is None else None,
            kinds=kinds,
            client=client,
            due_before=due_before,
            due_after=due_after,
            overdue=overdue,
        )

    def get(self, who: Principal, task_id: int) -> StoredTask:
        task = self.tasks.task_by_id(task_id)
        if task is None:
            raise TaskNotFound(f"no task {task_id}")
        if not who.reaches(task.assignee_id):
            raise Forbidden(f"task {task_id} is {task.assignee_id}'s; {who.user.id} cannot see it")
        return task

    def history(self, who: Principal, task_id: int) -> list[TaskEvent]:
        return self.tasks.history(self.get(who, task_id).key)

    def references(self, who: Principal, application_id: str, source: str | None = None) -> list[ReferenceReport]:
        """The reference reports of an application, for whoever reaches one of its tasks (a
        recruiter who has or had one, their lead, an operator). 404 when it has none; 403 when
        none of its processes is within reach."""
        store = ReferenceStore(self.tasks.engine)
        reports = store.reports(application_id=application_id, source=source)
        if not reports:
            raise TaskNotFound(f"no reference reports for application {application_id}")
        if who.reach is None:
            return reports
        reachable = {p for p in {r.process_id for r in reports} if store.assignees(p) & who.reach}
        if not reachable:
            raise Forbidden(f"{who.user.id} has no task of application {application_id}")
        return [report for report in reports if report.process_id in reachable]

    # what they do

    async def complete(
        self,
        who: Principal,
        task_id: int,
        outcome: TaskOutcome | None = None,
        note: str | None = None,
        debrief: dict[str, Any] | None = None,
    ) -> StoredTask:
        task = await asyncio.to_thread(self.get, who, task_id)
        _require_pending(task)
        kind = TaskKind(task.kind)
        outcome = outcome or TASK_OUTCOMES[kind][0]
        if outcome not in TASK_OUTCOMES[kind]:
            allowed = ", ".join(o.value for o in TASK_OUTCOMES[kind])
            raise DeskError(f"a {kind.value} task cannot end as {outcome.value}; choose one of: {allowed}", allowed=allowed)
        completion = TaskCompletion(
            key=task.key, kind=kind, outcome=outcome, completed_by=who.user.id, note=note, debrief=debrief, context=task.context or {}
        )
        process_id = process_of(task)
        if process_id is not None:
            await self._hand_to_process(process_id, completion)
        # The update and this write record two different facts, each with one writer: the update
        # tells the process the outcome (its state moves on: the debrief, the consent, the first
        # day), and the desk alone marks the task done, once the process has accepted it. The
        # process writes no "done" for it: its handler drops the task from its open tasks, and the
        # store keeps a task's first close, so a later resolve or close-out by the process passes
        # a done task by. The row carries what only the desk knows (who closed it, their note),
        # must read "done" on the very next GET (a process's activity would run after the update
        # answered), and a relationship's check-in has no process to hand it to at all.
        summary = outcome.value if not note else f"{outcome.value}: {note}"
        done = await asyncio.to_thread(self.tasks.complete, task.key, summary, who.user.id, {"outcome_code": outcome.value})
        if done is None:
            # The process closed it while we were asking it (it accepted our outcome first).
            done = await asyncio.to_thread(self.tasks.task, task.key)
        log.info("task completed", task_key=task.key, outcome=outcome.value, by=who.user.id, process_id=process_id)
        assert done is not None
        return done

    def snooze(self, who: Principal, task_id: int, until: datetime) -> StoredTask:
        task = self.get(who, task_id)
        _require_pending(task)
        if until.tzinfo is None:
            raise DeskError("'until' needs a time zone offset, e.g. 2026-11-27T09:00:00+00:00")
        return _pending_or_conflict(self.tasks.snooze(task.key, until, who.user.id), task)

    def reassign(self, who: Principal, task_id: int, assignee_id: str) -> StoredTask:
        task = self.get(who, task_id)
        _require_pending(task)
        target = self.access.user(assignee_id)
        if target is None:
            raise DeskError(f"no user {assignee_id!r}: add them first (postinterview users add)")
        if not self._may_give_to(who, assignee_id):
            if who.user.role == "recruiter":
                raise Forbidden(f"{assignee_id} is not in {who.user.id}'s team: ask your lead or an operator")
            raise Forbidden(f"{assignee_id} is not in {who.user.id}'s team")
        return _pending_or_conflict(self.tasks.reassign(task.key, assignee_id, target.email, who.user.id), task)

    def reassignable(self, who: Principal) -> list[User]:
        """The people `who` may give a task to, by id: the choices the inbox offers, the same
        rule `reassign` enforces (a recruiter's team, a lead's team, everybody for an operator)."""
        return self.access.users_by_id(self._giving_reach(who))

    def _giving_reach(self, who: Principal) -> frozenset[str] | None:
        if who.user.role == "recruiter":
            # A recruiter hands work over within their own team (their lead and the lead's
            # recruiters); anything wider is the lead's or an operator's call.
            return frozenset(self.access.team(who.user.lead_id)) if who.user.lead_id else frozenset({who.user.id})
        return who.reach

    def _may_give_to(self, who: Principal, assignee_id: str) -> bool:
        reach = self._giving_reach(who)
        return reach is None or assignee_id in reach

    # the process

    async def _hand_to_process(self, process_id: str, completion: TaskCompletion) -> None:
        try:
            client = await self._connected()
            result = await complete_task(client, process_id, completion, timeout=UPDATE_TIMEOUT)
        except ProcessRefused as refused:
            if refused.closed and completion.outcome not in RESULTS_FOR_PROCESS:
                return  # a closed process needs no "done"; the task just closes
            raise RefusedByProcess(refused.reason, reason_type=refused.reason_type) from None
        except ProcessNotFound:
            if completion.outcome not in RESULTS_FOR_PROCESS:
                return
            raise RefusedByProcess(
                f"The process {process_id} has ended, so it cannot take a {completion.outcome.value} outcome any more.",
                reason_type=contract.PROCESS_CLOSED_REFUSAL,
            ) from None
        except EngineUnavailable as error:
            raise ProcessUnavailable(f"Temporal did not answer ({error.status.name}); nothing was changed, try again.") from None
        except NoWorker:
            raise ProcessUnavailable(
                f"No worker took the outcome within {UPDATE_TIMEOUT:.0f} s (are the workers running?); nothing was changed, try again."
            ) from None
        except (OSError, RuntimeError) as error:
            self._client = None
            raise ProcessUnavailable(f"Temporal is not reachable ({error.__class__.__name__}); nothing was changed, try again.") from None
        log.info("process accepted task outcome", process_id=process_id, task_key=completion.key, message=result.message)

    async def _connected(self) -> Client:
        if self._client is None:
            self._client = await self._temporal()
        return self._client


def _require_pending(task: StoredTask) -> None:
    if task.status not in PENDING:
        raise NotPending(f"task {task.id} is already {task.status}" + (f" ({task.outcome})" if task.outcome else ""), status=task.status)


def _pending_or_conflict(changed: StoredTask | None, task: StoredTask) -> StoredTask:
    if changed is None:
        raise NotPending(f"task {task.id} was closed meanwhile")
    return changed
