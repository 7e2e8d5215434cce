"""Keep the search going to the first day (process model, duty 2; issue 14).

A mixin of PostInterviewProcess, in its own module so the duty reads in one place: after the
offer is accepted, a contract not signed within N business days and vetting still open N
business days before the start date are chased (a recruiter task, escalated to the lead if it
stays open, and a short reminder to the candidate); `contract.signed` / `vetting.passed` end the
matching chase. When the offer falls through (`offer.withdrawn`, `vetting.failed`,
`candidate.reneged`) the close-out asks the recruiter to re-open the role or line up the
candidate's next opportunities, as fits.

Deterministic workflow code, like the rest of the process: time from `workflow.now()`, every
side effect an activity keyed by the process id and the purpose.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import names
    from domain.events import ClosureData, EventType
    from domain.follow_through import Assignee, TaskKind, TaskRequest
    from domain.status import OpenTask
    from workflows import _follow_through as act
    from workflows import _metrics as metrics
    from workflows._business_time import add_business_days, business_days_before, local_moment

# After the offer is accepted, an unsigned contract and open vetting are chased (a task for the
# recruiter, escalated to the lead if left open, a reminder to the candidate). Runs recorded
# before only told the candidate to keep searching.
KEEP_SEARCH_CHASES = "keep-search-chases"
# `starting` only once both the contract is signed and the vetting passed. Runs recorded before
# moved to `starting` on either.
STARTING_NEEDS_BOTH = "starting-needs-contract-and-vetting"
# offer.withdrawn, vetting.failed and candidate.reneged close the process with a close-out that
# fits. (No run recorded before could receive them: the event types did not exist.)
OFFER_FELL_THROUGH = "offer-fell-through"
# A process reopened after its offer fell through forgets that offer's acceptance, signed contract
# and passed vetting: the next acceptance is chased afresh and `starting` waits for the new
# contract and vetting. Runs recorded before kept them (a new acceptance after a renege that
# followed a signed contract was never chased).
REOPEN_FORGETS_THE_FALLEN_OFFER = "reopen-forgets-the-fallen-offer"

# The events that close a process after the offer, and what the handover calls each outcome.
FELL_THROUGH: dict[EventType, str] = {
    EventType.OFFER_WITHDRAWN: "offer_withdrawn",
    EventType.VETTING_FAILED: "vetting_failed",
    EventType.CANDIDATE_RENEGED: "reneged",
}
FELL_THROUGH_REASONS: dict[EventType, str] = {
    EventType.OFFER_WITHDRAWN: "offer withdrawn",
    EventType.VETTING_FAILED: "vetting failed",
    EventType.CANDIDATE_RENEGED: "candidate reneged",
}


class KeepSearch:
    """The keep-the-search-going duties of PostInterviewProcess (its state is the process's)."""

    if TYPE_CHECKING:  # what the mixin uses of the process
        _id: str
        _milestones: dict[str, datetime]
        _tasks: dict[str, OpenTask]
        _start_date: date | None
        _closing: bool
        _reopenings: int
        _recruiter: Any
        _client: Any
        _job: Any
        _application_id: str
        _accepted_at: datetime | None
        _contract_chasing: bool
        _vetting_chasing: set[date]
        policy: Any

        def _spawn(self, coroutine: Any) -> Any: ...
        async def _parked(self, duty: str, phase: str, waiting: Any) -> Any: ...
        async def _wait(self, condition: Any, until: datetime, summary: str) -> bool: ...
        async def _open_task(self, kind: TaskKind, key: str, due_at: datetime, **context: Any) -> None: ...
        async def _message_candidate(self, template: str, key: str, **context: Any) -> None: ...
        async def _attempt(self, what: str, step: Any) -> bool: ...
        def _context(self, **extra: Any) -> dict[str, str]: ...
        def _show_progress(self) -> None: ...

    def _signed(self) -> bool:
        return EventType.CONTRACT_SIGNED.value in self._milestones

    def _vetted(self) -> bool:
        return EventType.VETTING_PASSED.value in self._milestones

    def _cycle(self) -> str:
        return f"/reopened-{self._reopenings}" if self._reopenings else ""

    def _role(self) -> str:
        return self._job.title if self._job is not None and self._job.title else "the role"

    def _keep_search_watch(self) -> None:
        """Start what is not chased yet: the contract once accepted, the vetting for the start
        date known now (a moved date gets a chase of its own; the old one stands down)."""
        if self._accepted_at is None or self._closing:
            return
        if not self._contract_chasing and not self._signed():
            self._contract_chasing = True
            self._spawn(self._chase_contract())
        start = self._start_date
        if start is not None and start not in self._vetting_chasing and not self._vetted():
            self._vetting_chasing.add(start)
            self._spawn(self._chase_vetting(start))

    async def _chase_contract(self, resume: bool = False) -> None:
        """No signed contract N business days after the acceptance: the recruiter chases it, the
        candidate is reminded; the lead hears of a chase left open. `contract.signed` ends it.

        `resume`: an earlier run continued as new while this waited; steps whose moment has
        passed were taken then."""
        assert self._accepted_at is not None
        policy, office = self.policy, self.policy.office_calendar()
        since = self._accepted_at
        prefix = f"{self._id}/contract-chase{self._cycle()}"
        chase, escalation = f"{prefix}/chase", f"{prefix}/escalation"
        chase_at = add_business_days(since, policy.contract_chase_business_days, office)
        escalate_at = add_business_days(chase_at, policy.contract_chase_escalation_business_days, office)
        steps = [(chase_at, "chase"), (escalate_at, "escalate")]
        if resume:
            steps = [step for step in steps if step[0] > workflow.now()]
        ended = lambda: self._signed() or self._closing  # noqa: E731
        for at, step in steps:
            if await self._parked("contract-chase", step, self._wait(ended, at, f"Contract signed: {step}")):
                break
            waited = _business_days(policy.contract_chase_business_days)
            if step == "chase":
                await self._open_task(TaskKind.CHASE_CONTRACT, chase, add_business_days(at, 1, office), waited=waited, role=self._role())
                await self._message_candidate("contract_pending", f"{prefix}/reminder", waited=waited, role=self._role())
            elif chase in self._tasks:
                total = _business_days(policy.contract_chase_business_days + policy.contract_chase_escalation_business_days)
                client = self._client.name or self._client.id
                await self._escalate_keep_search(escalation, f"the contract with {client} ({total} after the acceptance, still not signed)")
        else:
            await self._parked("contract-chase", "awaiting", workflow.wait_condition(ended))
        self._contract_chasing = False
        if self._closing:
            return  # the close-out cancels every open task
        await self._end_chase(prefix, [chase, escalation], "the contract is signed")

    async def _chase_vetting(self, start_date: date, resume: bool = False) -> None:
        """Vetting still open N business days before the first day: the recruiter chases it, the
        candidate is reminded; the lead hears of a chase left open. `vetting.passed` ends it; a
        moved start date stands it down (the new date has its own)."""
        assert self._accepted_at is not None
        policy, office = self.policy, self.policy.office_calendar()
        first_day = local_moment(start_date, office.workday_start, office.timezone)
        duty = f"vetting-chase/{start_date.isoformat()}"
        prefix = f"{self._id}/{duty}{self._cycle()}"
        chase, escalation = f"{prefix}/chase", f"{prefix}/escalation"
        # Never before the acceptance: accepted with the first day close, it is chased at once.
        chase_at = max(business_days_before(first_day, policy.vetting_chase_before_start_business_days, office), self._accepted_at)
        escalate_at = add_business_days(chase_at, policy.vetting_chase_escalation_business_days, office)
        steps = [(chase_at, "chase"), (escalate_at, "escalate")]
        if resume:
            steps = [step for step in steps if step[0] > workflow.now()]
        elif first_day <= workflow.now():
            # The first day is here already: the start confirmation asks what happened.
            self._vetting_chasing.discard(start_date)
            return
        moved = lambda: self._start_date != start_date  # noqa: E731
        ended = lambda: self._vetted() or moved() or self._closing  # noqa: E731
        context = {"start_date": start_date.isoformat(), "role": self._role()}
        for at, step in steps:
            if await self._parked(duty, step, self._wait(ended, at, f"Vetting passed before {start_date.isoformat()}: {step}")):
                break
            if step == "chase":
                await self._open_task(TaskKind.CHASE_VETTING, chase, add_business_days(at, 1, office), **context)
                await self._message_candidate("vetting_pending", f"{prefix}/reminder", **context)
            elif chase in self._tasks:
                await self._escalate_keep_search(escalation, f"the vetting for the first day on {start_date.isoformat()} (still open)", **context)
        else:
            await self._parked(duty, "awaiting", workflow.wait_condition(ended))
        self._vetting_chasing.discard(start_date)
        if self._closing:
            return
        if self._vetted():
            await self._end_chase(prefix, [chase, escalation], "the vetting is passed")
        else:
            await self._end_chase(prefix, [chase, escalation], f"the start date moved to {self._start_date}", cancelled=True)

    async def _end_chase(self, prefix: str, keys: list[str], why: str, cancelled: bool = False) -> None:
        open_keys = [key for key in keys if key in self._tasks]
        if open_keys:
            for key in open_keys:
                self._tasks.pop(key)
            status = names.TASK_CANCELLED if cancelled else names.TASK_DONE
            await self._attempt(f"resolve {prefix}", act.resolve_tasks(open_keys, status, why))
        self._show_progress()

    async def _escalate_keep_search(self, key: str, what: str, **context: Any) -> None:
        """A chase task stayed open: the recruiter's lead hears of it, as with the other chases."""
        lead = self._recruiter.lead
        assignee = Assignee(**(lead or self._recruiter).model_dump(include={"id", "name", "email"}))
        request = TaskRequest(
            key=key,
            process_id=self._id,
            application_id=self._application_id,
            kind=TaskKind.ESCALATION,
            assignee=assignee,
            due_at=add_business_days(workflow.now(), 1, self.policy.office_calendar()),
            context=self._context(what=what, **context),
        )
        if not await self._attempt(f"escalation {key}", act.escalate(request, summary=f"Escalate to the lead: {what}")):
            return
        metrics.escalated("first_day_at_risk")
        self._tasks[key] = OpenTask(key=key, kind=TaskKind.ESCALATION, assignee=assignee.id, due_at=request.due_at)
        self._show_progress()

    async def _offer_fell_through(self, outcome: EventType, data: ClosureData, cycle: str) -> None:
        """The close-out's own part when the offer fell through: the recruiter re-opens the role
        (the client needs somebody) or lines up the candidate's next opportunities (the candidate
        needs a role); the candidate hears what fits. Feedback, face to face and the handover are
        the close-out's, as for any close."""
        office = self.policy.office_calendar()
        due = add_business_days(workflow.now(), self.policy.offer_fell_through_business_days, office)
        reason = data.reason or FELL_THROUGH_REASONS[outcome]
        if outcome == EventType.OFFER_WITHDRAWN:
            await self._open_task(TaskKind.NEXT_ROLE, f"{self._id}/close/next-role{cycle}", due, reason=reason, role=self._role())
            await self._message_candidate("offer_withdrawn", f"{self._id}/close/offer-withdrawn{cycle}", role=self._role())
            return
        await self._open_task(TaskKind.REOPEN_ROLE, f"{self._id}/close/reopen-role{cycle}", due, reason=reason, role=self._role())
        if outcome == EventType.CANDIDATE_RENEGED:
            await self._message_candidate("reneged_door_open", f"{self._id}/close/door-open{cycle}", role=self._role())
        # A failed vetting is news a person gives, not an email: the feedback task says so.


def _business_days(days: int) -> str:
    return f"{days} business day{'s' if days != 1 else ''}"
