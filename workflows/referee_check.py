"""RefereeCheck: one referee, from consent to reference (a child of PostInterviewProcess).

The seed's advice, as a process: make sure the referee knows they were named and has agreed;
send the request with a deadline; remind on a business-day cadence; ask the candidate to nudge
a slow referee; escalate to the recruiter at the deadline. A silent referee is a business
outcome (the check reports it and keeps listening), never a failed workflow. When the process
closes it cancels the check, and a referee who was contacted hears that they are not needed.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow

# The referee declined (`referee.declined`): the check ends at once, without chasing, and its
# tasks are cancelled. Checks recorded before never heard of a decline.
REFEREE_DECLINED = "referee-declined"
# Enough references came in from the others (the policy's `references_needed`): the check stands
# down as at a close, the referee hearing they are no longer needed, and reports `not_needed`.
REFERENCES_N_OF_M = "references-n-of-m"

with workflow.unsafe.imports_passed_through():
    from domain import contract, names
    from domain.follow_through import Assignee, MessageRequest, Recipient, TaskKind, TaskRequest
    from domain.status import OpenTask, RefereeCheckInput, RefereeProgress, RefereeSignal, RefereeState, RefereeStatus
    from workflows import _faults as faults
    from workflows import _follow_through as act
    from workflows._business_time import add_business_days, add_business_hours, next_send_time
    from workflows import _metrics as metrics


@workflow.defn(name=contract.REFEREE_CHECK_WORKFLOW)
class RefereeCheck:
    @workflow.init
    def __init__(self, check: RefereeCheckInput) -> None:
        self._check = check
        self._id = workflow.info().workflow_id
        self._consented = check.consented
        self._responded = False
        self._stopped = False
        self._declined = False
        self._not_needed = False
        self._state = RefereeState.REQUESTED if check.consented else RefereeState.AWAITING_CONSENT
        self._deadline: datetime | None = None
        self._requested_at: datetime | None = None
        self._reminders = 0
        self._contacted = False
        self._tasks: dict[str, OpenTask] = {}
        self._calendar = check.policy.calendar_of(check.referee.timezone, check.referee.country or check.candidate.country)
        self._office = check.policy.office_calendar()

    @workflow.signal(name=names.REFEREE_CONSENTED_SIGNAL)
    def referee_consented(self, _: RefereeSignal) -> None:
        self._consented = True

    @workflow.signal(name=names.REFEREE_RESPONDED_SIGNAL)
    def referee_responded(self, _: RefereeSignal) -> None:
        self._responded = True

    @workflow.signal(name=names.REFEREE_DECLINED_SIGNAL)
    def referee_declined(self, _: RefereeSignal) -> None:
        """The referee can't give a reference: no more chasing, from the next wait on."""
        if self._responded or self._stopped:
            return  # a reference already in, or standing down: nothing to end
        if workflow.patched(REFEREE_DECLINED):
            self._declined = True

    @workflow.signal(name=names.REFEREE_NOT_NEEDED_SIGNAL)
    def not_needed(self, _: RefereeSignal) -> None:
        """Enough references are in from the others: stand down, telling the referee."""
        if self._responded or self._declined:
            return
        if workflow.patched(REFERENCES_N_OF_M):
            self._not_needed = True
            self._stopped = True

    @property
    def _ending(self) -> bool:
        """Stopped (the process closed, or enough references are in) or declined: no more steps."""
        return self._stopped or self._declined

    @workflow.signal(name=names.STOP_REFEREE_CHECK_SIGNAL)
    def stop(self, _: RefereeSignal) -> None:
        """The process closed: finish at the next wait, never in the middle of a message."""
        self._stopped = True

    @workflow.query(name=contract.STATUS_QUERY)
    def status(self) -> RefereeStatus:
        return RefereeStatus(id=self._check.referee.id, state=self._state, deadline=self._deadline, reminders_sent=self._reminders)

    @workflow.run
    async def run(self, check: RefereeCheckInput) -> RefereeStatus:
        try:
            if await self._obtain_consent():
                await self._collect_reference()
        except asyncio.CancelledError:
            # Cancelled from outside (an operator): the same courtesy as a stop.
            await self._stand_down()
            raise
        if self._declined:
            # The referee said no: their check's tasks are moot, the process asks for somebody
            # else (a stop that came after it changes nothing: a decliner hears nothing more).
            self._state = RefereeState.DECLINED
            await faults.attempt("resolve the check's tasks", act.resolve_tasks(list(self._tasks), names.TASK_CANCELLED, "the referee declined"))
            self._tasks.clear()
            await self._report()
            return self.status()
        if self._stopped:
            await self._stand_down()
            return self.status()
        # A step whose activity fails for good (a write the store refuses: a NUL in a name) is
        # logged, counted and skipped (workflows/_faults.py): the check goes on without it.
        if self._state == RefereeState.NO_CONSENT:
            await faults.attempt("resolve the check's tasks", act.resolve_tasks(list(self._tasks), names.TASK_CANCELLED, "the referee never confirmed consent"))
        else:
            await faults.attempt("resolve the check's tasks", act.resolve_tasks(list(self._tasks), names.TASK_DONE, f"referee {self._state.value}"))
        self._tasks.clear()
        await self._report()
        return self.status()

    async def _stand_down(self) -> None:
        self._state = RefereeState.NOT_NEEDED if self._not_needed else RefereeState.CANCELLED
        if self._contacted:
            await self._contact_referee("referee_no_longer_needed", "no-longer-needed")
        await self._report()

    async def _wait(self, condition: Any, until: datetime, summary: str) -> bool:
        """Wait for `condition` until `until`; True when it came true (a stop ends the wait early)."""
        await act.wait_until(lambda: condition() or self._ending, until, summary)
        return bool(condition())

    async def _obtain_consent(self) -> bool:
        """Consent first: a referee who did not know they were named is a slow referee."""
        if self._consented or self._responded:
            return True
        if self._declined:
            return False  # declined before the check began: nobody is asked anything
        await self._report()
        await self._contact_referee("referee_consent_request", "consent-request")
        policy = self._check.policy
        ask_by = add_business_days(workflow.now(), policy.referee_consent_business_days, self._calendar)
        agreed = lambda: self._consented or self._responded  # noqa: E731
        if await self._wait(agreed, ask_by, "Referee consent window"):
            return True
        if self._ending:
            return False
        # No answer: the candidate knows their referee best, the recruiter follows up.
        await self._message_candidate("referee_nudge", "consent-nudge", about="confirm that they agreed to be your referee")
        give_up_at = add_business_days(ask_by, policy.referee_deadline_business_days, self._calendar)
        await self._open_task(TaskKind.REFEREE_CONSENT, "consent", add_business_hours(workflow.now(), policy.send_feedback_due_business_hours, self._office))
        metrics.escalated("referee_no_consent")
        if await self._wait(agreed, give_up_at, "Referee consent deadline"):
            return True
        if self._ending:
            return False
        self._state = RefereeState.NO_CONSENT
        return False

    async def _collect_reference(self) -> None:
        policy = self._check.policy
        if not self._responded:
            self._state = RefereeState.REQUESTED
            self._deadline = add_business_days(workflow.now(), policy.referee_deadline_business_days, self._calendar)
            await self._report()
            await self._contact_referee("referee_request", "request")
            self._requested_at = workflow.now()
            next_reminder = add_business_days(workflow.now(), policy.referee_reminder_every_business_days, self._calendar)
            responded = lambda: self._responded  # noqa: E731
            while next_reminder < self._deadline and not await self._wait(
                responded, next_reminder, f"Referee reminder {self._reminders + 1}"
            ):
                if self._ending:
                    return
                self._reminders += 1
                await self._contact_referee("referee_reminder", f"reminder/{self._reminders}")
                metrics.reminder_sent("referee")
                if self._reminders == policy.referee_candidate_nudge_after_reminders:
                    await self._message_candidate("referee_nudge", "slow-nudge", about="send their reference")
                await self._report()
                next_reminder = add_business_days(next_reminder, policy.referee_reminder_every_business_days, self._calendar)
            if not await self._wait(responded, self._deadline, "Referee deadline"):
                if self._ending:
                    return
                # A reference that comes late still counts: escalate, then keep listening.
                self._state = RefereeState.OVERDUE
                await self._open_task(
                    TaskKind.REFEREE_OVERDUE,
                    "overdue",
                    add_business_hours(workflow.now(), policy.send_feedback_due_business_hours, self._office),
                )
                metrics.escalated("referee_overdue")
                await workflow.wait_condition(lambda: responded() or self._ending)
                if self._ending:
                    return
            if self._requested_at is not None and self._deadline is not None:
                metrics.reference_received(self._requested_at, workflow.now(), late=workflow.now() > self._deadline)
        self._state = RefereeState.RESPONDED

    # --- plumbing --------------------------------------------------------------------------------

    def _context(self, **extra: str) -> dict[str, str]:
        check = self._check
        return {
            "candidate": check.candidate.name or f"the candidate for application {check.application_id}",
            "referee": check.referee.name or f"referee {check.referee.id}",
            "client": check.client_name,
            "recruiter": check.recruiter.name or check.recruiter.id,
            "application_id": check.application_id,
            **({"deadline": self._deadline.isoformat()} if self._deadline else {}),
            **extra,
        }

    async def _contact_referee(self, template: str, purpose: str) -> None:
        referee = self._check.referee
        if await faults.attempt(
            f"message {self._id}/{purpose}",
            act.send_message(
                names.CONTACT_REFEREE,
                MessageRequest(
                    key=f"{self._id}/{purpose}",
                    process_id=self._id,
                    application_id=self._check.application_id,
                    recipient=Recipient(role="referee", id=referee.id, name=referee.name, email=referee.email),
                    template=template,
                    context=self._context(),
                    send_after=next_send_time(workflow.now(), self._calendar),
                ),
                summary=f"Contact referee {referee.id}: {template.replace('_', ' ')}",
            ),
        ):
            self._contacted = True

    async def _message_candidate(self, template: str, purpose: str, **context: str) -> None:
        candidate = self._check.candidate
        if candidate.can_email is False:
            # The ATS says the candidate must not be emailed: the recruiter's tasks still say it.
            workflow.logger.info("candidate must not be emailed: message left out", extra={"purpose": purpose})
            return
        calendar = self._check.policy.calendar_of(candidate.timezone, candidate.country)
        await faults.attempt(
            f"message {self._id}/{purpose}",
            act.send_message(
                names.MESSAGE_CANDIDATE,
                MessageRequest(
                    key=f"{self._id}/{purpose}",
                    process_id=self._id,
                    application_id=self._check.application_id,
                    recipient=Recipient(role="candidate", id=candidate.id, name=candidate.name, email=candidate.email),
                    template=template,
                    context=self._context(**context),
                    send_after=next_send_time(workflow.now(), calendar),
                ),
                summary=f"Ask the candidate to nudge referee {self._check.referee.id}",
            ),
        )

    async def _open_task(self, kind: TaskKind, purpose: str, due_at: datetime) -> None:
        recruiter = self._check.recruiter
        key = f"{self._id}/{purpose}"
        if not await faults.attempt(
            f"task {key}",
            act.create_task(
                TaskRequest(
                    key=key,
                    process_id=self._id,
                    application_id=self._check.application_id,
                    kind=kind,
                    assignee=Assignee(id=recruiter.id, name=recruiter.name, email=recruiter.email, lead_id=recruiter.lead.id if recruiter.lead else None),
                    due_at=due_at,
                    context=self._context(),
                ),
                summary=f"Task for the recruiter: {kind.value.replace('_', ' ')} ({self._check.referee.id})",
            ),
        ):
            return
        self._tasks[key] = OpenTask(key=key, kind=kind, assignee=recruiter.id, due_at=due_at)
        await self._report()

    async def _report(self) -> None:
        """Tell the process where this reference stands, for its status and the UI."""
        await workflow.get_external_workflow_handle(self._check.process_id).signal(
            names.REFEREE_PROGRESS_SIGNAL,
            RefereeProgress(
                referee_id=self._check.referee.id,
                state=self._state,
                deadline=self._deadline,
                reminders_sent=self._reminders,
                open_tasks=list(self._tasks.values()),
            ),
        )
