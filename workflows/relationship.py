"""RelationshipProcess: don't sever ties (seed §5), one long-running process per candidate.

Every post-interview process hands its candidate over when it ends: placed candidates get
check-ins after the first week and after probation, candidates who were rejected or withdrew get
check-ins months later. A candidate can come back through several applications over the years;
each handover adds its check-ins (a retried handover is a no-op by its id).

Each check-in starts a fresh run (continue-as-new), so a relationship that lasts years keeps a
history of a few dozen events.

Nurture (patch `nurture-reaches-the-candidate`): each check-in first reads the candidate's contact
preference (an opted-out candidate gets nothing more: no message, no task, and the relationship
ends), then gives the recruiter the check-in task as before and sends the candidate a short
message with three signed answers. Each answer arrives as the `nurture_answer` signal, taken once
by its link id: "I'm open to opportunities" gives the recruiter a task to call them this week,
"not now" moves the next check-in later, "stop contacting me" opts them out (the link's page has
recorded it in the store already): pending check-ins are dropped and the relationship's open tasks
cancelled. After the last check-in the relationship waits `nurture_answer_days` for its answer.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

from datetime import timedelta

from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain import contract, names
    from domain.contact import ContactPreference, ContactPreferenceRequest, NurtureAnswer, NurtureAnswerKind
    from domain.follow_through import Assignee, MessageRequest, Recipient, TaskKind, TaskRequest
    from domain.policy import TimingPolicy
    from domain.status import CheckIn, Handover, RelationshipState, Reopening
    from workflows import _faults as faults
    from workflows import _follow_through as act
    from workflows._business_time import add_business_days, add_business_hours, next_send_time

# Check-ins that reach the candidate, their answers and opt-out (see the module's docstring).
NURTURE = "nurture-reaches-the-candidate"
# The latest answer ids kept to recognise a repeat (an answer is one click: a handful a year).
ANSWERS_KEPT = 50
_TIMEOUT = timedelta(seconds=30)
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))


@workflow.defn(name=contract.RELATIONSHIP_WORKFLOW)
class RelationshipProcess:
    @workflow.init
    def __init__(self, state: RelationshipState) -> None:
        self._state = state
        self._changed = False

    @workflow.signal(name=names.HANDOVER_SIGNAL)
    def handover(self, handover: Handover) -> None:
        if handover.handover_id in self._state.handovers_seen:
            return
        self._state.handovers_seen.append(handover.handover_id)
        self._state.candidate, self._state.recruiter = handover.candidate, handover.recruiter
        known = {c.key for c in self._state.pending} | set(self._state.done)
        self._state.pending.extend(c for c in handover.check_ins if c.key not in known)
        self._state.pending.sort(key=lambda c: c.at)
        self._changed = True

    @workflow.signal(name=names.APPLICATION_REOPENED_SIGNAL)
    def application_reopened(self, reopening: Reopening) -> None:
        """An application handed over is live again: its check-ins are no longer due (a later
        close hands the candidate over again, with check-ins of its own)."""
        prefix = f"{reopening.process_id}/"
        kept = [c for c in self._state.pending if not c.key.startswith(prefix)]
        if len(kept) != len(self._state.pending):
            self._state.pending = kept
            self._changed = True

    @workflow.signal(name=names.NURTURE_ANSWER_SIGNAL)
    def nurture_answer(self, answer: NurtureAnswer) -> None:
        """The candidate answered a check-in (a signed link): acted on by the run's loop, once per link."""
        if answer.answer_id in self._state.answers_seen:
            return
        self._state.answers_seen = [*self._state.answers_seen, answer.answer_id][-ANSWERS_KEPT:]
        self._state.answers.append(answer)
        self._changed = True

    @workflow.query(name=contract.STATUS_QUERY)
    def status(self) -> RelationshipState:
        return self._state

    @workflow.run
    async def run(self, state: RelationshipState) -> RelationshipState:
        # Started by signal-with-start: the first handover may still be on its way.
        await workflow.wait_condition(lambda: bool(self._state.pending) or bool(self._state.answers) or self._state.awaiting_answers_until is not None)
        while True:
            if self._state.answers and workflow.patched(NURTURE):
                await self._answered()
                continue
            if not self._state.pending:
                if not await self._await_answers():
                    break
                continue
            check_in = self._state.pending[0]
            workflow.set_current_details(
                f"**Next check-in:** {check_in.occasion}, {check_in.at:%Y-%m-%d} "
                f"({len(self._state.pending)} planned, {len(self._state.done)} done)"
            )
            wait = check_in.at - workflow.now()
            if wait.total_seconds() > 0:
                self._changed = False
                try:
                    # Wake early when a handover brings a check-in that is due sooner.
                    await workflow.wait_condition(lambda: self._changed, timeout=wait, timeout_summary=f"Check-in: {check_in.occasion}")
                    continue
                except asyncio.TimeoutError:
                    pass
            await self._check_in(check_in)
            # By key: a reopening may have dropped check-ins while this one's task was written.
            self._state.pending = [c for c in self._state.pending if c.key != check_in.key]
            self._state.done.append(check_in.key)
            if self._state.pending:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._state)
        return self._state

    async def _await_answers(self) -> bool:
        """No check-in left: wait for an answer to the last one until its time is up (True: go
        on with the loop), else the relationship has run its course (False)."""
        until = self._state.awaiting_answers_until
        if until is None or self._state.opted_out:
            return False
        workflow.set_current_details(f"**Waiting for the candidate's answer** to the last check-in, until {until:%Y-%m-%d}")
        if not await act.wait_until(lambda: bool(self._state.answers) or bool(self._state.pending), until, "Answers to the last check-in"):
            self._state.awaiting_answers_until = None
        return True

    async def _check_in(self, check_in: CheckIn) -> None:
        recruiter, candidate = self._state.recruiter, self._state.candidate
        assert recruiter is not None and candidate is not None
        nurture = workflow.patched(NURTURE)
        preference = await self._contact_preference() if nurture else None
        if preference is not None and preference.opted_out:
            # "Stop contacting me", said anywhere (a message's opt-out link, a check-in's answer):
            # no check-in task, no message, and none to come.
            workflow.logger.info("candidate opted out: check-in left out, relationship ends", extra={"key": check_in.key})
            self._opt_out()
            return
        # A check-in the store refuses for good (a NUL in a name) is logged, counted and
        # skipped; the relationship goes on to the next one (workflows/_faults.py).
        await faults.attempt(
            f"check-in {check_in.key}",
            act.create_task(
                TaskRequest(
                    key=check_in.key,
                    process_id=workflow.info().workflow_id,
                    kind=TaskKind.CHECK_IN,
                    assignee=Assignee(id=recruiter.id, name=recruiter.name, email=recruiter.email, lead_id=recruiter.lead.id if recruiter.lead else None),
                    due_at=check_in.due_at,
                    context={
                        "candidate": candidate.name or f"candidate {candidate.id}",
                        "occasion": check_in.occasion,
                        "recruiter": recruiter.name or recruiter.id,
                    },
                ),
                summary=f"Task for the recruiter: check in ({check_in.occasion})",
            ),
        )
        if nurture:
            await self._message_check_in(check_in, preference)

    # --- nurture: the check-in's message and the candidate's answers -------------------------------

    async def _contact_preference(self) -> ContactPreference | None:
        """None when it cannot be read for good: the check-in goes on (the delivery checks the
        candidate's choice again before anything is sent)."""
        try:
            return await workflow.execute_activity(
                names.CHECK_CONTACT_PREFERENCE,
                ContactPreferenceRequest(source=self._state.source, candidate_id=self._state.candidate_id),
                result_type=ContactPreference,
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_RETRY,
                summary="May the candidate be contacted? (their opt-out, the ATS's can_email)",
            )
        except ActivityError as error:
            if not faults.skipping(error):
                raise
            faults.step_failed("read the candidate's contact preference", error)
            return None

    async def _policy(self) -> TimingPolicy:
        if self._state.policy is None:
            # The deployment's default policy (a relationship outlives its clients), fixed into
            # the relationship by the activity's result and carried across continue-as-new.
            self._state.policy = await workflow.execute_activity(
                names.LOAD_TIMING_POLICY,
                "",
                result_type=TimingPolicy,
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_RETRY,
                summary="Fix the timing policy for the relationship (the default)",
            )
        return self._state.policy

    async def _message_check_in(self, check_in: CheckIn, preference: ContactPreference | None) -> None:
        candidate, recruiter = self._state.candidate, self._state.recruiter
        assert candidate is not None and recruiter is not None
        if candidate.can_email is False or (preference is not None and preference.suppression is not None):
            workflow.logger.info("candidate must not be emailed: check-in message left out", extra={"key": check_in.key})
            return
        policy = await self._policy()
        calendar = policy.calendar_of(candidate.timezone, candidate.country)
        sent = await faults.attempt(
            f"check-in message {check_in.key}",
            act.send_message(
                names.MESSAGE_CANDIDATE,
                MessageRequest(
                    key=f"{check_in.key}/nurture",
                    process_id=workflow.info().workflow_id,
                    recipient=Recipient(role="candidate", id=candidate.id, name=candidate.name, email=candidate.email),
                    template="nurture_check_in",
                    context={"occasion": check_in.occasion, "recruiter": recruiter.name or "", "check_in": check_in.key},
                    send_after=next_send_time(workflow.now(), calendar),
                ),
                summary=f"Message the candidate: check-in ({check_in.occasion}), with their answers",
            ),
        )
        if sent and len(self._state.pending) <= 1:
            # The last check-in: its answers are awaited (a later one's arrive in its run).
            self._state.awaiting_answers_until = workflow.now() + timedelta(days=policy.nurture_answer_days)

    async def _answered(self) -> None:
        while self._state.answers:
            answer = self._state.answers.pop(0)
            if answer.answer is NurtureAnswerKind.STOP:
                self._opt_out()
                await faults.attempt(
                    "cancel the relationship's tasks",
                    act.cancel_process_tasks(workflow.info().workflow_id, "the candidate asked not to be contacted"),
                )
            elif self._state.opted_out:
                workflow.logger.info("answer after the candidate opted out: ignored", extra={"answer": answer.answer.value})
            elif answer.answer is NurtureAnswerKind.OPEN:
                await self._call_them(answer)
            else:
                await self._not_now(answer)

    def _opt_out(self) -> None:
        self._state.opted_out = True
        self._state.pending = []
        self._state.awaiting_answers_until = None
        self._changed = True

    async def _call_them(self, answer: NurtureAnswer) -> None:
        recruiter, candidate = self._state.recruiter, self._state.candidate
        if recruiter is None or candidate is None:
            return
        policy = await self._policy()
        due_at = add_business_days(workflow.now(), policy.nurture_open_call_business_days, policy.office_calendar())
        await faults.attempt(
            f"call task {answer.answer_id}",
            act.create_task(
                TaskRequest(
                    key=f"{workflow.info().workflow_id}/open/{answer.answer_id}",
                    process_id=workflow.info().workflow_id,
                    kind=TaskKind.NURTURE_CALL,
                    assignee=Assignee(id=recruiter.id, name=recruiter.name, email=recruiter.email, lead_id=recruiter.lead.id if recruiter.lead else None),
                    due_at=due_at,
                    context={"candidate": candidate.name or f"candidate {candidate.id}", "recruiter": recruiter.name or recruiter.id},
                ),
                summary="Task for the recruiter: call the candidate, who is open to opportunities",
            ),
        )

    async def _not_now(self, answer: NurtureAnswer) -> None:
        """The next check-in moves `nurture_not_now_days` later (to a working hour); with none left, one is planned that far on."""
        policy = await self._policy()
        later = timedelta(days=policy.nurture_not_now_days)
        office = policy.office_calendar()
        if self._state.pending:
            first = self._state.pending[0]
            # On a working day, in working hours, as the hand-over plans them.
            at = add_business_hours(first.at + later, 1, office)
            self._state.pending[0] = first.model_copy(update={"at": at, "due_at": first.due_at + (at - first.at)})
        else:
            at = workflow.now() + later
            due_at = add_business_days(at, policy.checkin_due_business_days, office)
            self._state.pending.append(CheckIn(key=f"{workflow.info().workflow_id}/not-now/{answer.answer_id}", occasion="checking in again, as they asked", at=at, due_at=due_at))
        self._state.awaiting_answers_until = None
        self._state.pending.sort(key=lambda c: c.at)
        self._changed = True
