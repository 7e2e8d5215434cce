"""PostInterviewProcess: the follow-through after an interview, one run per application.

It carries out the five duties of the process model (docs in README, "The process"):
debrief straight after each interview, keep the search going until the first day, get the
referees ready and chase slow ones, keep the candidate researching before a follow-up round,
and never sever ties when it ends. Events from the ATS arrive as the `event` signal (signal-with-
start, so the first event also starts the run); the recruiter records a debrief through the
`record_debrief` update; anyone can ask the `status` query.

Deterministic code only: time comes from `workflow.now()`, every side effect is an activity
with an idempotency key derived from this workflow's id, the purpose and the round.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any, Awaitable, Coroutine, TypeVar

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain import contract, names
    from pydantic import ValidationError

    from domain.bounds import bounded_id
    from domain.debrief import Debrief, feedback_context, why_not_substantive
    from domain.errors import validation_problems
    from domain.events import (
        CanonicalEvent,
        ClosureData,
        Referee,
        EventType,
        InterviewCancelledData,
        InterviewData,
        OfferData,
        RefereeAddedData,
        RefereeData,
        ReferencesRequestedData,
        StartedData,
    )
    from domain.follow_through import (
        TASK_OUTCOMES,
        Assignee,
        DebriefNote,
        EnrichmentRequest,
        MessageRequest,
        OpenTasksUpdate,
        Recipient,
        TaskCompletion,
        TaskCompletionResult,
        TaskKind,
        TaskOutcome,
        TaskRequest,
        TaskUpdate,
    )
    from domain.policy import SIGNALS_PER_RUN, TimingPolicy
    from domain.process_state import (
        HISTORY_BYTES_PER_RUN,
        HISTORY_EVENTS_PER_RUN,
        UPDATES_PER_RUN,
        CarriedProcess,
        DebriefPhase,
        InterviewRecord,
        InterviewState,
        SeenIds,
    )
    from domain.status import (
        PROBLEMS_KEPT,
        CheckIn,
        DebriefRound,
        FailedStep,
        Handover,
        OpenTask,
        ProcessStatus,
        RefereeCheckInput,
        RefereeProgress,
        RefereeSignal,
        RefereeState,
        RefereeStatus,
        RejectedEvent,
        Reopening,
        Stage,
    )
    from workflows import _follow_through as act
    from workflows import _faults as faults
    from workflows._arrivals import Arrivals, decoded
    from workflows._business_time import (
        UnschedulableDate,
        add_business_days,
        add_business_hours,
        check_schedulable,
        local_moment,
        next_send_time,
    )
    from workflows import _metrics as metrics
    from workflows._keep_search import (
        FELL_THROUGH,
        FELL_THROUGH_REASONS,
        KEEP_SEARCH_CHASES,
        OFFER_FELL_THROUGH,
        REOPEN_FORGETS_THE_FALLEN_OFFER,
        STARTING_NEEDS_BOTH,
        KeepSearch,
    )
    from workflows.referee_check import RefereeCheck
    from workflows._referee_flows import REFEREE_ADDED, REFEREE_DECLINED, REFERENCES_N_OF_M, SETTLED_REFEREE_STATES, RefereeFlows

T = TypeVar("T")

# Stages move forward only. The interviewing stages share a rank because a process cycles
# through them (debrief -> awaiting the client -> follow-up round -> debrief again), but a late
# interview event never drags a process in reference checks back to "debrief".
_RANK = {
    Stage.DEBRIEF: 0,
    Stage.AWAITING_CLIENT: 0,
    Stage.FOLLOW_UP: 0,
    Stage.REFERENCES: 1,
    Stage.OFFER: 2,
    Stage.STARTING: 3,
    Stage.PLACED: 4,
    Stage.CLOSED: 4,
}

# ATSs whose API can say who is behind an ids-only application (activities/enrichment.py).
ENRICHED_SOURCES = {"greenhouse", "lever", "ashby"}

# Runs recorded before a process could continue as new: they never do, and their reference checks
# are cancelled when the run closes (ParentClosePolicy.REQUEST_CANCEL).
CONTINUE_AS_NEW = "continue-as-new"

# Interview truth from schedules: a scheduled interview is watched and taken as having happened
# after its end and the grace period; interviews are known by the ATS's id, and numbered by the
# order they take place where the ATS gives no round. Runs recorded before handled a scheduled
# interview as a follow-up round's preparation only.
INTERVIEW_TRUTH = "interview-truth"
# An urgent debrief replaces the open book-a-call task of its round (before, both stayed open).
ONE_DEBRIEF_TASK_PER_ROUND = "one-debrief-task-per-round"
# Open tasks move to the real recruiter and take the names once an ids-only event's assumed
# people are known.
TASKS_TAKE_THE_NAMES = "tasks-take-the-names"
# A process closed without any interview having taken place creates nothing at close-out.
CLOSE_OUT_FITS = "close-out-fits-what-happened"
# A reopening that reaches a closing run continues it as new, its history carried.
REOPEN = "reopen-after-close"
# Awaiting the client's decision is chased: a task for the recruiter after N business days,
# escalated to the lead if left open, and "no news yet" to the candidate. Runs recorded before
# waited in silence.
CLIENT_DECISION_CHASE = "client-decision-chase"
# An interview reported as scheduled when it has already begun (a poller's look-back, a booking
# entered after the fact) is not prepared for: no "here is how to prepare" to the candidate and no
# brief task for a meeting that is over. Runs recorded before prepared for it all the same.
NO_PREPARATION_AFTER_THE_START = "no-preparation-after-the-start"
# Feedback with substance: the "send the candidate's feedback" task carries the debrief of its
# round (or says it is not in yet, opened when the client asks, and gets it when it comes, with a
# word to the recruiter), and each round's debrief is noted on the ATS record once. Runs recorded
# before opened a bare feedback task once the debrief was in, and wrote no debrief note.
FEEDBACK_CARRIES_DEBRIEF = "feedback-carries-debrief"
# The advice to thank the interviewers and connect with them names them when the ATS gave their
# names: in the debrief questions straight after the interview, and in the close-out's feedback
# task. Runs recorded before named them in the close-out message only.
THANK_INTERVIEWERS_BY_NAME = "thank-interviewers-by-name"
# Keep the search going to the first day (workflows/_keep_search.py, where they are defined):
# KEEP_SEARCH_CHASES ("keep-search-chases"), STARTING_NEEDS_BOTH
# ("starting-needs-contract-and-vetting"), OFFER_FELL_THROUGH ("offer-fell-through").

# Referee flows (issue 14, workflows/_referee_flows.py): a referee's decline ends their check and
# asks the candidate for another (REFEREE_DECLINED, "referee-declined"); `referee.added` starts a
# check for a referee named later (REFEREE_ADDED, "referee-added"); with the policy's
# `references_needed`, enough references stand the other checks down (REFERENCES_N_OF_M,
# "references-n-of-m"). Runs recorded before never took these paths.
_REFEREE_FLOW_PATCHES = (REFEREE_DECLINED, REFEREE_ADDED, REFERENCES_N_OF_M)

# A reference check's report in one of these states is its last: the check has ended.
_FINAL_REFEREE_STATES = (RefereeState.RESPONDED, RefereeState.NO_CONSENT, RefereeState.CANCELLED, RefereeState.DECLINED, RefereeState.NOT_NEEDED)


@workflow.defn(name=contract.POST_INTERVIEW_WORKFLOW)
class PostInterviewProcess(KeepSearch, RefereeFlows):
    # A process starts with its first event; a run that an earlier run of the same process
    # continued as new starts with what that run carried over (domain/process_state.py). One
    # argument either way (the SDK decodes by type only when the count matches), told apart by
    # their required fields, so older runs replay as recorded.
    @workflow.init
    def __init__(self, start: CanonicalEvent | CarriedProcess) -> None:
        self._id = workflow.info().workflow_id
        carried, start = (start, start.first_event) if isinstance(start, CarriedProcess) else (None, start)
        self._carried = carried
        self._source = start.source
        self._application_id = start.application_id
        self._candidate = start.candidate
        self._recruiter = start.recruiter
        self._client = start.client
        self._job = start.job
        self._assumed: set[str] = set(start.assumed)
        self._policy: TimingPolicy | None = None

        # The starting event is also delivered as the first `event` signal; whichever comes
        # first is handled, the other is a duplicate by its event_id.
        # The event the process started with: the next run's parties default to its.
        self._first_event = start
        self._inbox: list[CanonicalEvent] = [start]
        # Signalled and not decoded yet (workflows/_arrivals.py): a burst is worked off in batches.
        self._arrivals = Arrivals()
        self._seen = SeenIds([start.event_id])

        self._stage: Stage | None = None
        self._milestones: dict[str, datetime] = {}
        self._rounds: dict[int, DebriefRound] = {}
        self._debriefs: dict[int, Debrief] = {}
        self._scheduled_rounds: set[int] = set()
        self._feedback_pending: set[int] = set()
        self._tasks: dict[str, OpenTask] = {}
        self._referees: dict[str, RefereeStatus] = {}
        self._referee_tasks: dict[str, list[OpenTask]] = {}
        self._referee_checks: dict[str, ChildWorkflowHandle[Any, Any]] = {}
        self._referee_details: dict[str, Referee] = {}
        self._referee_facts: dict[str, set[EventType]] = {}
        # Tasks a recruiter completed through the inbox or the task API (`complete_task`).
        self._done_tasks: set[str] = set()
        self._chased: dict[str, datetime] = {}
        self._references_required = False
        # Declined referees the candidate still owes a replacement for (workflows/_referee_flows.py).
        self._replacements_owed = 0
        self._sla_breached = False
        self._start_date: date | None = None
        self._outcome: EventType | None = None
        self._closure: CanonicalEvent | None = None
        # Duties (a debrief round, a start-date watch, a referee check) run beside the event loop.
        # At close-out they are not cancelled mid-activity: they see `_closing` at their next
        # wait and finish on their own.
        self._duties: list[asyncio.Task[None]] = []
        self._closing = False
        self._enrichment: asyncio.Task[None] | None = None
        # What failed for good and was skipped (workflows/_faults.py): the latest, for the status.
        self._rejected: list[RejectedEvent] = []
        self._failed: list[FailedStep] = []
        # Continue-as-new (see _continue_as_new): what this run has taken, the duties waiting at
        # a deadline (duty -> where it waits), and the reference checks it can leave running.
        self._signals = 0
        self._updates = 0
        self._may_continue = True
        self._waiting: dict[str, str] = {}
        self._abandonable: set[str] = set()
        # Checks started by an earlier run: followed by their reports, since only the run that
        # started a check gets its result. Checks whose last report came in.
        self._external_checks: set[str] = set()
        self._final_reports: set[str] = set()
        # The application's interviews by the ATS's id (scheduled, cancelled, taken place).
        self._interviews: dict[str, InterviewRecord] = {}
        # Reopen: the stage the process was in when it closed; the outcome a run carried from a
        # closed one still stands at (until its `application.reopened` is handled); how often
        # the application was reopened (each close after a reopening has keys of its own).
        self._stage_before_close: Stage | None = None
        self._closed_before: EventType | None = None
        self._reopenings = 0
        # Rounds after whose debrief the client was heard from without the stage moving (asked
        # for feedback, scheduled another interview): their chase ends.
        self._client_spoke: set[int] = set()
        # Keep the search going (workflows/_keep_search.py): when the acceptance was taken, and
        # which chases run (the contract's; the vetting's per start date).
        self._accepted_at: datetime | None = None
        self._contract_chasing = False
        self._vetting_chasing: set[date] = set()
        if carried is not None:
            self._restore(carried)

    # --- the contract: signal, update, query -------------------------------------------------

    # The payload is taken as it came (RawValue): decoding thousands of them in one activation
    # held the workflow thread past the SDK's deadlock limit (workflows/_arrivals.py).
    @workflow.signal(name=contract.EVENT_SIGNAL)
    def event(self, raw: RawValue) -> None:
        self._signals += 1
        if self._arrivals.bounded():
            self._arrivals.add(raw)
            return
        event = decoded(raw)
        if event is not None:
            self._take(event)

    def _take(self, event: CanonicalEvent) -> None:
        if event.event_id in self._seen:
            workflow.logger.info("duplicate event ignored", extra={"event_id": event.event_id})
            return
        if (event.source, event.application_id) != (self._source, self._application_id):
            workflow.logger.warning(
                "event for another application ignored",
                extra={"event_id": event.event_id, "application_id": event.application_id},
            )
            return
        self._seen.add(event.event_id)
        self._inbox.append(event)

    # The update takes the debrief as plain JSON and validates it itself, so that a malformed
    # one (interest 9, no summary) is refused with a reason a form can show, not with the SDK's
    # "Failed decoding arguments".
    @workflow.update(name=contract.RECORD_DEBRIEF_UPDATE)
    def record_debrief(self, submission: dict[str, Any]) -> DebriefRound:
        self._updates += 1
        debrief = Debrief.model_validate(submission)
        round_ = self._debrief_round_for(debrief)
        self._accept_debrief(round_, debrief)
        if round_ in self._rounds:
            return self._rounds[round_]
        # Its interview is reported but still queued: the round is opened, already debriefed,
        # when that event is handled.
        return DebriefRound(round=round_, interview_at=workflow.now(), due_at=workflow.now(), recorded_at=workflow.now(), interest=debrief.interest)

    @record_debrief.validator
    def _validate_debrief(self, submission: dict[str, Any]) -> None:
        try:
            debrief = Debrief.model_validate(submission)
        except ValidationError as error:
            problems = validation_problems(error, "debrief")
            raise ApplicationError(
                "The debrief is not valid: " + "; ".join(problems), problems, type="InvalidDebrief", non_retryable=True
            ) from None
        if self._outcome is not None:
            raise ApplicationError(
                f"The process is closed ({self._outcome.value}); the debrief was not recorded.",
                type=contract.PROCESS_CLOSED_REFUSAL,
                non_retryable=True,
            )
        rounds = self._known_rounds()
        if not rounds:
            raise ApplicationError(
                "No interview has been completed for this application yet, so there is nothing to debrief.",
                type="NoInterview",
                non_retryable=True,
            )
        if debrief.round is not None and debrief.round not in rounds:
            raise ApplicationError(
                f"There is no interview round {debrief.round}; rounds so far: {sorted(rounds)}.",
                type="UnknownRound",
                non_retryable=True,
            )
        reasons = why_not_substantive(debrief)
        if reasons:
            raise ApplicationError(
                "A debrief must tell the client something: " + " ".join(reasons),
                reasons,
                type="DebriefNotSubstantive",
                non_retryable=True,
            )

    # A recruiter completed one of this process's tasks (its referee checks' included). Outcomes
    # that are facts (a debrief, consent, a reference, a first day) are acted on exactly as if
    # the ATS had reported them; the task API marks the task done only once this returns.
    @workflow.update(name=contract.COMPLETE_TASK_UPDATE)
    def complete_task(self, submission: dict[str, Any]) -> TaskCompletionResult:
        self._updates += 1
        completion = TaskCompletion.model_validate(submission)
        if completion.key in self._done_tasks:
            return self._completed(completion, "already completed")
        self._done_tasks.add(completion.key)
        self._tasks.pop(completion.key, None)
        referee_id = self._referee_of(completion)
        match completion.outcome:
            case TaskOutcome.DEBRIEFED:
                debrief = self._debrief_of(completion)
                self._accept_debrief(self._debrief_round_for(debrief), debrief)
            case TaskOutcome.CHASED:
                self._chased[referee_id] = workflow.now()
            case _:
                # The validator built the same fact already: it cannot fail here.
                fact = self._fact(completion)
                if fact is not None and self._arrivals.bounded():
                    self._arrivals.add(fact)  # after the signals that came before it
                elif fact is not None and fact.event_id not in self._seen:
                    self._seen.add(fact.event_id)
                    self._inbox.append(fact)
        self._show_progress()
        return self._completed(completion, "accepted")

    @complete_task.validator
    def _validate_completion(self, submission: dict[str, Any]) -> None:
        try:
            completion = TaskCompletion.model_validate(submission)
        except ValidationError as error:
            problems = validation_problems(error, "completion")
            raise ApplicationError("The completion is not valid: " + "; ".join(problems), problems, type="InvalidCompletion", non_retryable=True) from None
        if completion.key in self._done_tasks:
            return  # a retry of a completion already accepted: answered, not applied twice
        if not (completion.key.startswith(f"{self._id}/") or completion.key.startswith(f"{self._id}-referee-")):
            raise ApplicationError(f"Task {completion.key} does not belong to this process.", type="UnknownTask", non_retryable=True)
        if completion.outcome not in TASK_OUTCOMES[completion.kind]:
            allowed = ", ".join(o.value for o in TASK_OUTCOMES[completion.kind])
            raise ApplicationError(
                f"A {completion.kind.value} task cannot end as {completion.outcome.value}; choose one of: {allowed}.",
                type="WrongOutcome",
                non_retryable=True,
            )
        if self._outcome is not None:
            raise ApplicationError(
                f"The process is closed ({self._outcome.value}); the task's outcome was not recorded.",
                type=contract.PROCESS_CLOSED_REFUSAL,
                non_retryable=True,
            )
        if completion.outcome == TaskOutcome.DEBRIEFED:
            self._validate_debrief(self._debrief_of(completion).model_dump(mode="json"))
        try:
            # An exception in the update's handler would fail the workflow task for ever: what
            # the handler builds from the completion (a start date from its context) is built
            # here first, and a completion it cannot be built from is refused.
            self._fact(completion)
        except (ValueError, ValidationError) as error:
            reason = "; ".join(validation_problems(error, "completion")) if isinstance(error, ValidationError) else str(error)
            raise ApplicationError(f"The completion is not valid: {reason}", type="InvalidCompletion", non_retryable=True) from None
        if completion.outcome in (TaskOutcome.CONSENTED, TaskOutcome.REFERENCE_RECEIVED, TaskOutcome.CHASED, TaskOutcome.REFEREE_DECLINED):
            referee_id = self._referee_of(completion)
            if referee_id not in self._referees:
                raise ApplicationError(f"There is no referee {referee_id!r} in this process.", type="UnknownReferee", non_retryable=True)

    def _debrief_of(self, completion: TaskCompletion) -> Debrief:
        if completion.debrief is None:
            raise ApplicationError("A debriefed task needs the debrief itself (field 'debrief').", type="InvalidDebrief", non_retryable=True)
        form = dict(completion.debrief)
        if form.get("round") is None and completion.context.get("round"):
            form["round"] = int(completion.context["round"])
        try:
            return Debrief.model_validate(form)
        except ValidationError as error:
            problems = validation_problems(error, "debrief")
            raise ApplicationError("The debrief is not valid: " + "; ".join(problems), problems, type="InvalidDebrief", non_retryable=True) from None

    def _referee_of(self, completion: TaskCompletion) -> str:
        parsed = contract.referee_check_parent(completion.key.partition("/")[0])
        return completion.context.get("referee_id") or (parsed[1] if parsed else "")

    def _fact(self, completion: TaskCompletion) -> CanonicalEvent | None:
        """The outcome as the event the ATS would have sent, handled in turn with the others;
        None for an outcome that is no fact (chased, done, ...). Raises ValueError when the
        completion cannot make one (the validator refuses it then)."""
        referee_id = self._referee_of(completion)
        match completion.outcome:
            case TaskOutcome.CONSENTED:
                kind, data = EventType.REFEREE_CONSENTED, RefereeData(referee_id=referee_id)
            case TaskOutcome.REFERENCE_RECEIVED:
                kind, data = EventType.REFEREE_RESPONDED, RefereeData(referee_id=referee_id)
            case TaskOutcome.REFEREE_DECLINED:
                # The referee told the recruiter (the note is their reason): handled as the event.
                kind, data = EventType.REFEREE_DECLINED, RefereeData(referee_id=referee_id, reason=completion.note[:2000] if completion.note else None)
            case TaskOutcome.STARTED:
                start = completion.context.get("start_date")
                kind, data = EventType.CANDIDATE_STARTED, StartedData(start_date=date.fromisoformat(start) if start else None)
            case TaskOutcome.DID_NOT_START:
                reason = completion.note or f"did not start on {completion.context.get('start_date', 'the agreed date')}"
                kind, data = EventType.CANDIDATE_WITHDREW, ClosureData(reason=reason)
            case _:
                return None
        return CanonicalEvent(
            # Long but allowed ids (a 128-character application and referee) made this longer
            # than an event id may be, and the handler raised on every attempt. bounded_id keeps
            # every id that fits unchanged, so no history that ever completed this handler
            # replays differently: no patch is needed (only the tasks that failed change).
            event_id=bounded_id(f"task:{completion.key}:{completion.outcome.value}"),
            type=kind,
            occurred_at=workflow.now(),
            source=self._source,
            application_id=self._application_id,
            candidate=self._candidate,
            recruiter=self._recruiter,
            client=self._client,
            # The event restates what the process knows; it must not rename anybody.
            assumed=["candidate", "recruiter", "client"],
            data=data,
        )

    def _completed(self, completion: TaskCompletion, how: str) -> TaskCompletionResult:
        return TaskCompletionResult(
            key=completion.key,
            outcome=completion.outcome,
            stage=(self._stage or Stage.DEBRIEF).value,
            message=f"{completion.kind.value} task {how} as {completion.outcome.value}",
        )

    @workflow.signal(name=names.REFEREE_PROGRESS_SIGNAL)
    def referee_progress(self, progress: RefereeProgress) -> None:
        self._signals += 1
        if progress.state in _FINAL_REFEREE_STATES:
            self._final_reports.add(progress.referee_id)
            if progress.referee_id in self._external_checks:
                # A check an earlier run started has ended: what its result would have said.
                self._external_checks.discard(progress.referee_id)
                self._referee_tasks.pop(progress.referee_id, None)
                self._referees[progress.referee_id] = RefereeStatus(
                    id=progress.referee_id, state=progress.state, deadline=progress.deadline, reminders_sent=progress.reminders_sent
                )
                self._show_progress()
                return
        current = self._referees.get(progress.referee_id)
        if current is None or current.state in SETTLED_REFEREE_STATES:
            return
        self._referees[progress.referee_id] = RefereeStatus(
            id=progress.referee_id,
            state=progress.state,
            deadline=progress.deadline,
            reminders_sent=progress.reminders_sent,
        )
        self._referee_tasks[progress.referee_id] = progress.open_tasks
        self._show_progress()

    @workflow.query(name=names.CARRIED_STATE_QUERY)
    def carried_state(self) -> CarriedProcess:
        """What a new run of this process starts from: asked of a closed process when its
        application is reopened (process_client.deliver_event)."""
        return self._carry()

    @workflow.query(name=contract.STATUS_QUERY)
    def status(self) -> ProcessStatus:
        return ProcessStatus(
            application_id=self._application_id,
            source=self._source,
            stage=self._stage or Stage.DEBRIEF,
            waiting_for=self._waiting_for(),
            sla_breached=self._sla_breached,
            offer_blocked=self._offer_blocked(),
            open_tasks=self._open_tasks(),
            referees=[
                r.model_copy(update={"chased_at": self._chased[r.id]}) if r.id in self._chased else r for r in self._referees.values()
            ],
            debriefs=[self._rounds[r] for r in sorted(self._rounds)],
            milestones=dict(self._milestones),
            events_seen=self._seen.total,
            rejected_events=list(self._rejected),
            failed_steps=list(self._failed),
            references=self._reference_count(),
        )

    # --- the process ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: CanonicalEvent | CarriedProcess) -> ProcessStatus:
        carried = self._carried
        if carried is None:
            self._policy = await act.load_policy(self._client.id)
            metrics.process_started(self._source)
        self._publish_search_attributes()
        if (carried.enrichment_pending if carried is not None else self._source in ENRICHED_SOURCES and (
            self._candidate.name is None or self._candidate.email is None or "recruiter" in self._assumed
        )):
            # Not a duty the close-out waits for: a vendor API retrying for minutes must not
            # hold up the close-out, and what it finds after the close matters to nobody here.
            self._enrichment = asyncio.create_task(self._enrich())
        if carried is not None:
            self._resume_duties(carried)
            self._show_progress()
        while self._outcome is None:
            await workflow.wait_condition(lambda: bool(self._inbox or self._arrivals) or self._continue_as_new_due())
            if self._arrivals and not self._inbox:
                arrived = await self._arrivals.next()
                if arrived is not None:
                    self._take(arrived)
                continue
            if self._inbox:
                await self._arrivals.pace()
                event = self._inbox.pop(0)
                try:
                    await self._handle(event)
                except Exception as error:
                    # An event the process cannot act on is recorded and skipped; the next one is
                    # handled as usual. (Before, the workflow task failed and was retried for ever:
                    # the process stood still. workflows/_faults.py says why this replays.)
                    if not faults.skipping(error):
                        raise
                    self._reject(event, error)
                continue
            # Every event taken is handled and this run has taken enough: a new run goes on, once
            # every duty waits at a deadline; events that arrive meanwhile are handled first.
            # Patched: runs recorded before this change never continued as new.
            if not workflow.patched(CONTINUE_AS_NEW):
                self._may_continue = False
                continue
            await workflow.wait_condition(lambda: bool(self._inbox or self._arrivals) or (workflow.all_handlers_finished() and self._settled()))
            if not (self._inbox or self._arrivals):
                self._continue_as_new()
        try:
            await self._close_out()
        except Exception as error:
            if not faults.skipping(error):
                raise
            self._step_failed("close-out", error)
        await workflow.wait_condition(workflow.all_handlers_finished)
        # What came after the close, decoded (paced) into the inbox as any other event: the look
        # at the inbox below (an event that reopens the application) must find it there.
        while self._arrivals:
            arrived = await self._arrivals.next()
            if arrived is not None:
                self._take(arrived)
        # The application was reopened while this run closed: the next run takes it from here,
        # knowing everything this one knew (once closed, process_client does the same).
        reopened = next((i for i, e in enumerate(self._inbox) if e.type == EventType.APPLICATION_REOPENED), None)
        if reopened is not None and workflow.patched(REOPEN):
            for event in self._inbox[:reopened]:
                workflow.logger.info("event after close ignored", extra={"event_id": event.event_id, "type": event.type})
            carried = self._carry()
            carried.inbox = self._inbox[reopened:]
            workflow.continue_as_new(carried)
        for event in self._inbox:
            workflow.logger.info("event after close ignored", extra={"event_id": event.event_id, "type": event.type})
        return self.status()

    async def _handle(self, event: CanonicalEvent) -> None:
        workflow.logger.info("event", extra={"event_id": event.event_id, "type": event.type.value})
        # A date no deadline can be counted from (a placeholder of year 1 or 9999) refuses the
        # event before anything changes. Behind the patch: the old code handled dates beyond
        # 2100 that did not overflow, and those histories must replay as they ran.
        unschedulable = _unschedulable(event)
        if unschedulable is not None and workflow.patched(faults.SKIP_FAILURES):
            raise unschedulable
        # An event may carry fresher details of the people involved (an enrichment, a new lead,
        # a reassigned recruiter), or fewer (an ATS that sends ids only): take what it adds,
        # never let a missing name blank out a known one.
        before = (self._candidate.id, self._recruiter.id)
        named_before = (self._candidate.name, self._recruiter.name, self._recruiter.id)
        self._candidate = self._updated_party("candidate", self._candidate, event)
        self._recruiter = self._updated_party("recruiter", self._recruiter, event)
        self._client = self._updated_party("client", self._client, event)
        if (self._candidate.id, self._recruiter.id) != before:
            self._publish_search_attributes()
        if named_before != (self._candidate.name, self._recruiter.name, self._recruiter.id):
            await self._tasks_take_the_names(named_before[2])
        if event.type in names.MILESTONES:
            self._milestones.setdefault(event.type.value, event.occurred_at)
        match event.type:
            case EventType.INTERVIEW_COMPLETED:
                if workflow.patched(INTERVIEW_TRUTH):
                    await self._interview_reported_completed(event.data)  # type: ignore[arg-type]
                else:
                    self._on_interview_completed(event.data)  # type: ignore[arg-type]
            case EventType.INTERVIEW_SCHEDULED:
                if workflow.patched(INTERVIEW_TRUTH):
                    await self._interview_scheduled(event.data)  # type: ignore[arg-type]
                else:
                    await self._on_interview_scheduled(event.data)  # type: ignore[arg-type]
            case EventType.INTERVIEW_RESCHEDULED:
                await self._interview_scheduled(event.data)  # type: ignore[arg-type]
            case EventType.INTERVIEW_CANCELLED:
                await self._interview_cancelled(event.data)  # type: ignore[arg-type]
            case EventType.APPLICATION_REOPENED:
                await self._on_reopened(event)
            case EventType.CANDIDATE_DEBRIEFED:
                self._on_debriefed_event(event)
            case EventType.CLIENT_FEEDBACK_REQUESTED:
                await self._on_feedback_requested(event)
            case EventType.REFERENCES_REQUESTED:
                named_before = set(self._referees)
                self._on_references_requested(event.data)  # type: ignore[arg-type]
                await self._referees_named(named_before)
            case EventType.REFEREE_ADDED:
                if workflow.patched(REFEREE_ADDED):
                    named_before = set(self._referees)
                    self._on_referee_added(event.data)  # type: ignore[arg-type]
                    await self._referees_named(named_before)
            case EventType.REFEREE_DECLINED:
                if workflow.patched(REFEREE_DECLINED):
                    await self._on_referee_declined(event)
            case EventType.REFEREE_CONSENTED | EventType.REFEREE_RESPONDED:
                if event.type == EventType.REFEREE_RESPONDED:
                    self._response_from_a_decliner(event.data)  # type: ignore[arg-type]
                await self._on_referee_event(event.type, event.data)  # type: ignore[arg-type]
                if event.type == EventType.REFEREE_RESPONDED:
                    await self._stand_down_if_enough()
            case EventType.OFFER_EXTENDED:
                self._advance(Stage.OFFER)
                self._watch_start_date(event.data)  # type: ignore[arg-type]
                self._keep_search_watch()  # a start date given or moved after the acceptance
            case EventType.OFFER_ACCEPTED:
                self._advance(Stage.OFFER)
                self._watch_start_date(event.data)  # type: ignore[arg-type]
                await self._advise_keep_searching()
                if self._accepted_at is None and workflow.patched(KEEP_SEARCH_CHASES):
                    self._accepted_at = workflow.now()
                self._keep_search_watch()
            case EventType.CONTRACT_SIGNED | EventType.VETTING_PASSED:
                if not workflow.patched(STARTING_NEEDS_BOTH):
                    self._advance(Stage.STARTING)
                elif self._signed() and self._vetted():
                    self._advance(Stage.STARTING)
            case EventType.OFFER_WITHDRAWN | EventType.VETTING_FAILED | EventType.CANDIDATE_RENEGED:
                if workflow.patched(OFFER_FELL_THROUGH):
                    self._stage_before_close = self._stage
                    self._advance(Stage.CLOSED)
                    self._outcome, self._closure = event.type, event
            case EventType.CANDIDATE_STARTED:
                data: StartedData = event.data  # type: ignore[assignment]
                self._start_date = data.start_date or self._start_date or event.occurred_at.date()
                self._stage_before_close = self._stage
                self._advance(Stage.PLACED)
                self._outcome, self._closure = event.type, event
            case EventType.CANDIDATE_REJECTED | EventType.CANDIDATE_WITHDREW:
                self._stage_before_close = self._stage
                self._advance(Stage.CLOSED)
                self._outcome, self._closure = event.type, event
        self._show_progress()

    async def _enrich(self) -> None:
        """The ATS sent ids only: ask its API who the candidate and recruiter are."""
        found = await act.enrich(
            EnrichmentRequest(source=self._source, application_id=self._application_id, candidate_id=self._candidate.id)
        )
        if found is None:
            return
        named_before = (self._candidate.name, self._recruiter.name, self._recruiter.id)
        if found.candidate is not None:
            if "candidate" in self._assumed:
                self._assumed.discard("candidate")
                self._candidate = found.candidate
            else:
                self._candidate = _merged(found.candidate, self._candidate)
        unnamed = self._recruiter.name is None and self._recruiter.email is None
        if found.recruiter is not None and ("recruiter" in self._assumed or unnamed):
            self._assumed.discard("recruiter")
            self._recruiter = found.recruiter.model_copy(update={"lead": found.recruiter.lead or self._recruiter.lead})
        self._publish_search_attributes()
        if named_before != (self._candidate.name, self._recruiter.name, self._recruiter.id) and not self._closing:
            await self._tasks_take_the_names(named_before[2])
        self._show_progress()

    def _updated_party(self, party: str, known: Any, event: CanonicalEvent) -> Any:
        """What an event says about a party, without forgetting what we know.

        A party the sender only assumed (a placeholder candidate, a default recruiter) never
        replaces a named one; a named party replaces an assumed one; the candidate of an
        application never changes, only gains details."""
        reported = getattr(event, party)
        if party in event.assumed:
            return known
        if party in self._assumed:
            self._assumed.discard(party)
            return reported
        if party == "candidate" and reported.id != known.id:
            workflow.logger.warning("event names another candidate: ignored", extra={"event_id": event.event_id})
            return known
        return _merged(known, reported)

    # --- duty 1: debrief straight after the interview -------------------------------------------

    def _on_interview_completed(self, data: InterviewData) -> None:
        assert data.round is not None, "a round is given here (or numbered by the process first)"
        self._milestones.setdefault(f"interview.completed.round_{data.round}", data.at)
        if data.round in self._rounds:
            return  # the same interview reported again: no second effect, the stage included
        self._advance(Stage.DEBRIEF)
        due = add_business_hours(workflow.now(), self.policy.debrief_due_business_hours, self.policy.office_calendar())
        self._rounds[data.round] = DebriefRound(round=data.round, interview_at=data.at, due_at=due)
        if data.round in self._debriefs:
            # Out of order: the debrief came in before the interview was reported.
            self._accept_debrief(data.round, self._debriefs[data.round])
        self._spawn(self._debrief(data.round))

    async def _debrief(self, round_: int, resume: DebriefPhase | None = None) -> None:
        """Book the call, send the questions, remind at the due time, escalate after the window.

        `resume`: where the duty waited when an earlier run continued as new; it goes on from
        that wait, the steps before it done."""
        record = self._rounds[round_]
        prefix = f"{self._id}/debrief/{round_}"
        duty = f"debrief/{round_}"
        debriefed = lambda: round_ in self._debriefs  # noqa: E731
        if resume is None:
            brief = f"{self._id}/follow-up/{round_}/brief"
            # Processes recorded before this change left the brief open until close-out.
            if brief in self._tasks and workflow.patched("resolve-brief-after-interview"):
                self._tasks.pop(brief)
                await self._attempt(f"resolve {brief}", act.resolve_tasks([brief], names.TASK_DONE, f"interview round {round_} took place"))
            if round_ not in self._debriefs:
                await self._open_task(TaskKind.BOOK_DEBRIEF, f"{prefix}/book-call", record.due_at, round=round_)
                panel = self._interviewers(round_)
                named = {"interviewers": panel} if panel and workflow.patched(THANK_INTERVIEWERS_BY_NAME) else {}
                await self._message_candidate("debrief_questions", f"{prefix}/questions", round=str(round_), **named)
        overdue = False
        if resume in (None, DebriefPhase.DUE):
            overdue = not await self._parked(duty, DebriefPhase.DUE, self._wait(debriefed, record.due_at, f"Debrief round {round_} due"))
        if overdue:
            if self._closing:
                return
            await self._attempt(
                f"reminder {prefix}/reminder",
                act.send_message(
                    names.REMIND_RECRUITER,
                    MessageRequest(
                        key=f"{prefix}/reminder",
                        process_id=self._id,
                        application_id=self._application_id,
                        recipient=Recipient(role="recruiter", **self._recruiter.model_dump(include={"id", "name", "email"})),
                        template="recruiter_reminder",
                        context=self._context(what=f"the debrief of round {round_}", due_at=record.due_at.isoformat()),
                    ),
                    summary=f"Remind the recruiter: debrief round {round_} is due",
                ),
            )
            metrics.reminder_sent("recruiter")
        if overdue or resume == DebriefPhase.ESCALATION:
            escalate_at = add_business_days(
                record.due_at, self.policy.debrief_escalation_business_days, self.policy.office_calendar()
            )
            if not await self._parked(duty, DebriefPhase.ESCALATION, self._wait(debriefed, escalate_at, f"Debrief round {round_} escalation")):
                if self._closing:
                    return
                await self._escalate_debrief(round_)
        if overdue or resume in (DebriefPhase.ESCALATION, DebriefPhase.AWAITING):
            await self._parked(duty, DebriefPhase.AWAITING, workflow.wait_condition(lambda: debriefed() or self._closing))
            if self._closing:
                return
        await self._attempt(
            f"resolve the tasks of {prefix}",
            act.resolve_tasks(
                [key for key in (f"{prefix}/book-call", f"{prefix}/urgent", f"{prefix}/escalation") if key in self._tasks],
                names.TASK_DONE,
                f"debrief of round {round_} recorded",
            ),
        )
        for key in (f"{prefix}/book-call", f"{prefix}/urgent", f"{prefix}/escalation"):
            self._tasks.pop(key, None)
        if workflow.patched(FEEDBACK_CARRIES_DEBRIEF):
            # Beside the duty: an ATS that is down must not hold up the feedback or the chase.
            self._spawn(self._note_debrief(round_))
        if round_ in self._feedback_pending:
            await self._send_feedback_task(round_, waited=True)
        if self._stage == Stage.AWAITING_CLIENT and round_ == max(self._rounds) and not self._client_moved(round_):
            if workflow.patched(CLIENT_DECISION_CHASE):
                self._spawn(self._chase_client(round_))
        self._show_progress()

    async def _escalate_debrief(self, round_: int) -> None:
        record = self._rounds[round_]
        if record.escalated:
            return
        record.escalated = True
        if not self._sla_breached:
            metrics.sla_breached(self._source)
        self._sla_breached = True
        self._publish_search_attributes()
        lead = self._recruiter.lead
        assignee = Assignee(**(lead or self._recruiter).model_dump(include={"id", "name", "email"}))
        key = f"{self._id}/debrief/{round_}/escalation"
        request = TaskRequest(
            key=key,
            process_id=self._id,
            application_id=self._application_id,
            kind=TaskKind.ESCALATION,
            assignee=assignee,
            due_at=add_business_hours(workflow.now(), self.policy.urgent_debrief_due_business_hours, self.policy.office_calendar()),
            context=self._context(what=f"debrief of round {round_}", round=str(round_)),
        )
        if not await self._attempt(f"escalation {key}", act.escalate(request, summary=f"Escalate to the lead: debrief round {round_} overdue")):
            return
        metrics.escalated("debrief_overdue")
        self._tasks[key] = OpenTask(key=key, kind=TaskKind.ESCALATION, assignee=assignee.id, due_at=request.due_at)

    def _known_rounds(self) -> set[int]:
        """Interview rounds handled, and those reported but still waiting in the inbox."""
        queued = {e.data.round for e in self._inbox if e.type == EventType.INTERVIEW_COMPLETED}  # type: ignore[union-attr]
        if None in queued:
            # Numbered by the process when handled: the next round after those taken place.
            queued.discard(None)
            queued.add(max(self._rounds, default=0) + 1)
        return set(self._rounds) | queued  # type: ignore[arg-type]

    def _debrief_round_for(self, debrief: Debrief) -> int:
        if debrief.round is not None:
            return debrief.round
        rounds = self._known_rounds()
        return max(rounds) if rounds else 1

    def _accept_debrief(self, round_: int, debrief: Debrief) -> None:
        previous = self._debriefs.get(round_)
        if self._debriefs.get(round_, debrief) is not debrief:
            workflow.logger.info("debrief replaced", extra={"round": round_})
        self._debriefs[round_] = debrief
        if (
            previous is not None
            and previous != debrief
            and round_ not in self._feedback_pending
            and self._feedback_key(round_) in self._tasks
            and workflow.patched(FEEDBACK_CARRIES_DEBRIEF)
        ):
            # A better debrief after the feedback task took the first: the task says what is true now.
            self._spawn(self._feedback_gets_debrief(round_, feedback_context(debrief, round_), announce=False))
        record = self._rounds.get(round_)
        if record is not None:
            if record.recorded_at is None:  # the first debrief of the round, not a replacement
                metrics.debrief_recorded(self._source, record.interview_at, workflow.now())
            record.recorded_at = workflow.now()
            record.interest = debrief.interest
        if self._stage == Stage.DEBRIEF and all(r in self._debriefs for r in self._rounds):
            self._stage = Stage.AWAITING_CLIENT
            self._publish_search_attributes()
        self._show_progress()

    def _on_debriefed_event(self, event: CanonicalEvent) -> None:
        debrief: Debrief = event.data  # type: ignore[assignment]
        reasons = why_not_substantive(debrief)
        if reasons:
            # A fact from another system cannot be refused, but an empty debrief is no debrief:
            # the recruiter's task stays open.
            workflow.logger.warning("debrief event not substantive", extra={"event_id": event.event_id, "reasons": reasons})
            return
        self._accept_debrief(self._debrief_round_for(debrief), debrief)

    async def _on_feedback_requested(self, event: CanonicalEvent) -> None:
        """The client asks for the candidate's feedback: send the real debrief, or get one now."""
        if not self._rounds:
            workflow.logger.warning("feedback requested before any interview", extra={"event_id": event.event_id})
            return
        round_ = max(self._rounds)
        self._client_spoke.add(round_)  # the client is not silent: no chase for this round
        if round_ in self._debriefs:
            await self._send_feedback_task(round_)
            return
        self._feedback_pending.add(round_)
        due = add_business_hours(workflow.now(), self.policy.urgent_debrief_due_business_hours, self.policy.office_calendar())
        urgent = f"{self._id}/debrief/{round_}/urgent"
        await self._open_task(TaskKind.URGENT_DEBRIEF, urgent, due, round=round_)
        book = f"{self._id}/debrief/{round_}/book-call"
        if urgent in self._tasks and book in self._tasks and workflow.patched(ONE_DEBRIEF_TASK_PER_ROUND):
            # One debrief task per round: the urgent one replaces the booking (the debrief duty
            # resolves whichever is open when the debrief is recorded).
            self._tasks.pop(book)
            await self._attempt(f"resolve {book}", act.resolve_tasks([book], names.TASK_CANCELLED, "replaced by an urgent debrief: the client is asking for feedback"))
        if round_ not in self._debriefs and workflow.patched(FEEDBACK_CARRIES_DEBRIEF):
            # The feedback task at once, saying the debrief is not in yet; it gets it when it comes.
            # Due as long after the urgent debrief's due time as a feedback task is given.
            feedback_due = add_business_hours(due, self.policy.send_feedback_due_business_hours, self.policy.office_calendar())
            await self._open_task(TaskKind.SEND_FEEDBACK, self._feedback_key(round_), feedback_due, round=round_, **feedback_context(None))
        if round_ in self._debriefs:
            # The debrief came in while the task was being created: the debrief duty has moved on.
            self._tasks.pop(urgent, None)
            await self._attempt(f"resolve {urgent}", act.resolve_tasks([urgent], names.TASK_DONE, f"debrief of round {round_} recorded"))
            return
        if workflow.now() >= self._rounds[round_].due_at:
            await self._escalate_debrief(round_)

    def _feedback_key(self, round_: int) -> str:
        return f"{self._id}/feedback/{round_}/send"

    async def _send_feedback_task(self, round_: int, waited: bool = False) -> None:
        """The task to send the client the candidate's debrief. `waited`: the client asked before
        the debrief was in, so the task may be open already, saying it is not in yet: it gets the
        debrief (updated, not a second task) and the recruiter hears that it has."""
        self._feedback_pending.discard(round_)
        due = add_business_hours(workflow.now(), self.policy.send_feedback_due_business_hours, self.policy.office_calendar())
        key = self._feedback_key(round_)
        if not workflow.patched(FEEDBACK_CARRIES_DEBRIEF):
            await self._open_task(TaskKind.SEND_FEEDBACK, key, due, round=round_)
            return
        carried = feedback_context(self._debriefs.get(round_), round_)
        await self._open_task(TaskKind.SEND_FEEDBACK, key, due, round=round_, **carried)
        if waited and key in self._tasks:
            await self._feedback_gets_debrief(round_, carried, announce=True)

    async def _feedback_gets_debrief(self, round_: int, carried: dict[str, str], announce: bool) -> None:
        """The open feedback task takes the debrief; with `announce`, the recruiter hears that it
        is in (when the task changed: a retry, or a task created with it, says nothing new)."""
        key = self._feedback_key(round_)
        action = "debrief added" if announce else "debrief replaced"
        changed = False
        try:
            changed = await act.update_task(TaskUpdate(key=key, context=carried, action=action), summary=f"Feedback task: {action} (round {round_})")
        except ActivityError as error:
            if not faults.skipping(error):
                raise
            self._step_failed(f"update {key}", error)
        if not (changed and announce):
            return
        await self._attempt(
            f"message {key}/debrief-in",
            act.send_message(
                names.REMIND_RECRUITER,
                MessageRequest(
                    key=f"{self._id}/feedback/{round_}/debrief-in",
                    process_id=self._id,
                    application_id=self._application_id,
                    recipient=Recipient(role="recruiter", **self._recruiter.model_dump(include={"id", "name", "email"})),
                    template="feedback_debrief_in",
                    context=self._context(round=round_, **carried),
                ),
                summary=f"Tell the recruiter: the debrief for the client's feedback is in (round {round_})",
            ),
        )

    async def _note_debrief(self, round_: int) -> None:
        """The round's debrief as a note on the application's ATS record, once per round (the
        activity keeps the key's record: a retry, or a later run, writes no second note)."""
        debrief = self._debriefs.get(round_)
        if debrief is None:
            return
        note = DebriefNote(
            key=f"{self._id}/debrief/{round_}/ats-note",
            process_id=self._id,
            source=self._source,
            application_id=self._application_id,
            round=round_,
            author_id=self._recruiter.id,
            context=self._context(round=round_, **feedback_context(debrief, round_)),
        )
        await self._attempt(f"debrief note {note.key}", act.write_debrief_note(note, summary=f"Note the debrief of round {round_} in the ATS"))

    # --- awaiting the client: chase a silent client, keep the candidate informed -----------------

    def _client_moved(self, round_: int) -> bool:
        """Whether the client has acted since the debrief of `round_`: a stage the client moves
        (another round, references, an offer, a close) or a word from them (feedback asked for,
        an interview scheduled). Derived from carried state, so a next run agrees."""
        return (
            self._closing
            or self._stage != Stage.AWAITING_CLIENT
            or max(self._rounds, default=0) != round_
            or round_ in self._client_spoke
        )

    async def _chase_client(self, round_: int, resume: bool = False) -> None:
        """The client has the debrief and owes a decision: after N business days the recruiter
        is asked to chase them, the task goes to the lead if it stays open, and the candidate
        hears "no news yet" at the policy's cadence. Whatever the client does ends it.

        `resume`: an earlier run continued as new while this duty waited; the steps whose moment
        has passed were taken then (a run continues as new only with every duty waiting)."""
        record = self._rounds[round_]
        policy, office = self.policy, self.policy.office_calendar()
        since = record.recorded_at or workflow.now()
        prefix = f"{self._id}/client-chase/{round_}"
        chase, escalation = f"{prefix}/chase", f"{prefix}/escalation"
        chase_at = add_business_days(since, policy.client_chase_business_days, office)
        escalate_at = add_business_days(chase_at, policy.client_chase_escalation_business_days, office)
        steps: list[tuple[datetime, str, int]] = [(chase_at, "chase", 0), (escalate_at, "escalate", 0)]
        steps += [
            (add_business_days(since, policy.client_wait_update_every_business_days * n, office), "update", n)
            for n in range(1, policy.client_wait_updates_max + 1)
        ]
        steps.sort()
        if resume:
            steps = [step for step in steps if step[0] > workflow.now()]
        context = {
            "interview": f"round {round_} on {record.interview_at:%d %B %Y}",
            "role": self._job.title if self._job is not None and self._job.title else "the role",
        }
        moved = lambda: self._client_moved(round_)  # noqa: E731
        for at, step, n in steps:
            if await self._parked(f"client-chase/{round_}", step, self._wait(moved, at, f"Client decision on round {round_}: {step}")):
                break
            waited = _business_days_text(since, at, office)
            if step == "chase":
                due = add_business_days(at, 1, office)
                await self._open_task(TaskKind.CHASE_CLIENT, chase, due, round=round_, waited=waited, **context)
            elif step == "escalate" and chase in self._tasks:
                await self._escalate_chase(round_, escalation, waited, context)
            elif step == "update":
                await self._message_candidate("client_decision_pending", f"{prefix}/update/{n}", waited=waited, **context)
        else:
            # Every step taken: the chase task stays open until the client moves.
            await self._parked(f"client-chase/{round_}", "awaiting", workflow.wait_condition(moved))
        if self._closing:
            return  # the close-out cancels every open task
        open_keys = [key for key in (chase, escalation) if key in self._tasks]
        if open_keys:
            for key in open_keys:
                self._tasks.pop(key)
            await self._attempt(f"resolve {prefix}", act.resolve_tasks(open_keys, names.TASK_CANCELLED, "the client has moved: no need to chase"))
        self._show_progress()

    async def _escalate_chase(self, round_: int, key: str, waited: str, context: dict[str, str]) -> None:
        """The chase task stayed open: its lead hears of it, as with an overdue debrief."""
        lead = self._recruiter.lead
        assignee = Assignee(**(lead or self._recruiter).model_dump(include={"id", "name", "email"}))
        client = self._client.name or self._client.id
        request = TaskRequest(
            key=key,
            process_id=self._id,
            application_id=self._application_id,
            kind=TaskKind.ESCALATION,
            assignee=assignee,
            due_at=add_business_days(workflow.now(), 1, self.policy.office_calendar()),
            context=self._context(what=f"chase {client} for a decision ({waited} without one)", round=str(round_), waited=waited, **context),
        )
        if not await self._attempt(f"escalation {key}", act.escalate(request, summary=f"Escalate to the lead: client silent on round {round_}")):
            return
        metrics.escalated("client_silent")
        self._tasks[key] = OpenTask(key=key, kind=TaskKind.ESCALATION, assignee=assignee.id, due_at=request.due_at)
        self._show_progress()

    # --- interview truth from schedules -----------------------------------------------------------

    def _interview_end(self, data: InterviewData) -> datetime:
        if data.ends_at is not None:
            return data.ends_at
        return data.at + timedelta(minutes=data.duration_minutes or self.policy.default_interview_minutes)

    def _expected_round(self, record: InterviewRecord) -> int:
        """The ATS's round, the one given when it took place, else its place in time order among
        the application's interviews (cancelled ones left out), past any round already taken."""
        if record.round is not None:
            return record.round
        earlier = sum(
            1
            for other in self._interviews.values()
            if other is not record and other.state != InterviewState.CANCELLED and (other.at, other.interview_id) < (record.at, record.interview_id)
        )
        taken = {r.round for r in self._interviews.values() if r is not record and r.round is not None} | set(self._rounds)
        guess = earlier + 1
        return guess if guess not in taken else max(taken) + 1

    async def _interview_scheduled(self, data: InterviewData) -> None:
        """Scheduled or moved: watch for its end (plus the grace period), prepare the candidate."""
        record = self._interviews.get(data.interview_id)
        if record is None and data.round is not None and data.round in self._rounds:
            return  # reported after its round took place
        if record is not None and record.state == InterviewState.TOOK_PLACE:
            return  # moved after it took place: the ATS tidying up, nothing to watch again
        self._client_spoke.add(max(self._rounds, default=0))  # another interview: the client moved
        panel = [i.name for i in data.interviewers if i.name]
        end = self._interview_end(data)
        if record is None:
            record = InterviewRecord(interview_id=data.interview_id, at=data.at, ends_at=end, round=data.round, interviewers=panel)
            self._interviews[data.interview_id] = record
        else:
            if data.round is not None:
                record.round = data.round
            record.interviewers = panel or record.interviewers
            if (record.at, record.ends_at, record.state) == (data.at, end, InterviewState.SCHEDULED):
                return  # the same schedule reported again: its watch goes on
            record.at, record.ends_at, record.state = data.at, end, InterviewState.SCHEDULED
            record.version += 1  # the watch on the earlier time stands down
        self._spawn(self._watch_interview(record.interview_id, record.version))
        await self._prepare_for(record)

    async def _watch_interview(self, interview_id: str, version: int) -> None:
        record = self._interviews[interview_id]
        happened_at = record.ends_at + timedelta(minutes=self.policy.interview_grace_minutes)
        superseded = lambda: record.version != version or record.state != InterviewState.SCHEDULED  # noqa: E731
        # The version is in the duty's name: a reschedule's new watch never shares its entry.
        if await self._parked(f"interview/{interview_id}/{version}", "watch", self._wait(superseded, happened_at, f"Interview {interview_id} over")):
            return
        if self._closing:
            return
        workflow.logger.info("scheduled interview taken as having happened", extra={"interview_id": interview_id})
        await self._interview_took_place(record, inferred=True)
        self._show_progress()

    async def _interview_reported_completed(self, data: InterviewData) -> None:
        """The ATS says it happened: it wins over the watch, and is never a second round."""
        record = self._interviews.get(data.interview_id)
        if record is not None and record.state == InterviewState.TOOK_PLACE:
            return  # taken as having happened already (from its schedule, or reported before)
        panel = [i.name for i in data.interviewers if i.name]
        if record is None:
            record = InterviewRecord(interview_id=data.interview_id, at=data.at, ends_at=data.ends_at or data.at, round=data.round, interviewers=panel)
            self._interviews[data.interview_id] = record
        else:
            record.round = data.round if data.round is not None else record.round
            record.interviewers = panel or record.interviewers
        await self._interview_took_place(record, inferred=False)

    async def _interview_took_place(self, record: InterviewRecord, inferred: bool) -> None:
        round_ = self._expected_round(record)
        record.state, record.inferred, record.round = InterviewState.TOOK_PLACE, inferred, round_
        self._on_interview_completed(InterviewData(interview_id=record.interview_id, round=round_, at=record.at))
        # A brief under the interview's own key (its round's first preparation was for an
        # interview cancelled since) is done now; the round's usual one is the debrief duty's.
        if record.brief_key in self._tasks and record.brief_key != f"{self._id}/follow-up/{round_}/brief":
            self._tasks.pop(record.brief_key)
            await self._attempt(f"resolve {record.brief_key}", act.resolve_tasks([record.brief_key], names.TASK_DONE, f"interview round {round_} took place"))

    async def _interview_cancelled(self, data: InterviewCancelledData) -> None:
        record = self._interviews.get(data.interview_id)
        if record is None or record.state != InterviewState.SCHEDULED:
            return  # unknown here, or it took place already: nothing to stand down
        record.state = InterviewState.CANCELLED
        record.version += 1
        if record.prepared_round is not None:
            # Another interview may take its place in that round: it is prepared afresh.
            self._scheduled_rounds.discard(record.prepared_round)
        # Nobody needs briefing for an interview that will not happen.
        brief = record.brief_key
        if brief is not None and brief in self._tasks:
            self._tasks.pop(brief)
            await self._attempt(f"resolve {brief}", act.resolve_tasks([brief], names.TASK_CANCELLED, "the interview was cancelled"))

    async def _prepare_for(self, record: InterviewRecord) -> None:
        """Duty 4 for a scheduled interview: what `interview.scheduled` always did for its round
        (once per round), under the interview's own key when the round's first preparation was
        for an interview cancelled since (a key is written once: it cannot be opened again)."""
        if record.at <= workflow.now() and workflow.patched(NO_PREPARATION_AFTER_THE_START):
            return  # begun or over already: its watch takes it as having happened at its end
        round_ = record.prepared_round or self._expected_round(record)
        record.prepared_round = round_
        prefix = f"{self._id}/follow-up/{round_}"
        if any(r is not record and r.prepared_round == round_ and r.state == InterviewState.CANCELLED for r in self._interviews.values()):
            prefix += f"/{record.interview_id}"
        if round_ not in self._scheduled_rounds and round_ not in self._rounds:
            record.brief_key = f"{prefix}/brief"
        await self._on_interview_scheduled(
            InterviewData(interview_id=record.interview_id, round=round_, at=record.at), interviewers=record.interviewers, prefix=prefix
        )

    def _interviewed(self) -> bool:
        """Whether an interview took place: reported, taken as having happened, or over by now
        (a rejection straight after it comes before the grace period has passed)."""
        now = workflow.now()
        return bool(self._rounds) or any(
            r.state == InterviewState.TOOK_PLACE or (r.state == InterviewState.SCHEDULED and r.ends_at <= now) for r in self._interviews.values()
        )

    def _interviewers(self, round_: int | None = None) -> str:
        """The names of the panels the candidate met (in `round_`, or in every round), in order, each once."""
        met = sorted(
            (r for r in self._interviews.values() if r.state == InterviewState.TOOK_PLACE and (round_ is None or r.round == round_)),
            key=lambda r: r.at,
        )
        return ", ".join(dict.fromkeys(name for r in met for name in r.interviewers))

    # --- tasks take the names once they are known ---------------------------------------------------

    async def _tasks_take_the_names(self, from_assignee: str) -> None:
        """People an ids-only event had assumed are known now: the open tasks move from the
        stand-in to the real recruiter, and their titles take the names."""
        if not self._tasks or not workflow.patched(TASKS_TAKE_THE_NAMES):
            return
        lead = self._recruiter.lead
        assignee = Assignee(**self._recruiter.model_dump(include={"id", "name", "email"}), lead_id=lead.id if lead else None)
        moved = await self._attempt(
            "tasks take the names",
            act.update_open_tasks(
                OpenTasksUpdate(process_id=self._id, from_assignee_id=from_assignee, assignee=assignee, context=self._context()),
                summary="Open tasks take the names now known",
            ),
        )
        if moved:
            for key, task in list(self._tasks.items()):
                if task.assignee == from_assignee:
                    self._tasks[key] = task.model_copy(update={"assignee": assignee.id})
            self._show_progress()

    # --- reopen -------------------------------------------------------------------------------------

    async def _on_reopened(self, event: CanonicalEvent) -> None:
        if self._closed_before is None:
            workflow.logger.info("reopened while open: nothing to take back", extra={"event_id": event.event_id})
            return
        closed, self._closed_before = self._closed_before, None
        self._reopenings += 1
        for milestone in (EventType.CANDIDATE_REJECTED, EventType.CANDIDATE_WITHDREW, EventType.CANDIDATE_STARTED, *FELL_THROUGH):
            self._milestones.pop(milestone.value, None)
        self._milestones[EventType.APPLICATION_REOPENED.value] = event.occurred_at
        # An acceptance before the close is no longer the one to chase from: the next counts afresh.
        self._accepted_at = None
        if closed in FELL_THROUGH and workflow.patched(REOPEN_FORGETS_THE_FALLEN_OFFER):
            # The acceptance, contract and vetting were the fallen offer's: the next offer needs its own.
            for milestone in (EventType.OFFER_ACCEPTED, EventType.CONTRACT_SIGNED, EventType.VETTING_PASSED):
                self._milestones.pop(milestone.value, None)
            if self._stage == Stage.STARTING:
                self._stage = Stage.OFFER  # back to the offer (the stage never moves back otherwise)
        self._publish_search_attributes()
        workflow.logger.info("application reopened", extra={"event_id": event.event_id, "was": closed.value})
        # The last close-out's talk about the outcome and meeting were for a decision taken back.
        earlier = f"/reopened-{self._reopenings - 1}" if self._reopenings > 1 else ""
        stale = [f"{self._id}/close/feedback{earlier}", f"{self._id}/close/face-to-face{earlier}"]
        if closed in FELL_THROUGH:
            stale += [f"{self._id}/close/next-role{earlier}", f"{self._id}/close/reopen-role{earlier}"]
        await self._attempt("cancel the close-out", act.resolve_tasks(stale, names.TASK_CANCELLED, "the application was reopened"))
        # Interviews still scheduled when it closed are watched again.
        for record in self._interviews.values():
            if record.state == InterviewState.SCHEDULED:
                self._spawn(self._watch_interview(record.interview_id, record.version))
        await self._attempt(
            "tell the relationship",
            act.reopen_relationship(
                Reopening(process_id=self._id, source=self._source, candidate_id=self._candidate.id, reason=getattr(event.data, "reason", None)),
                summary="Tell the relationship process the application is live again",
            ),
        )

    # --- duty 4: keep researching before a follow-up round ---------------------------------------

    async def _on_interview_scheduled(self, data: InterviewData, interviewers: list[str] | None = None, prefix: str | None = None) -> None:
        assert data.round is not None, "a round is given here (or numbered by the process first)"
        if data.round in self._scheduled_rounds or data.round in self._rounds:
            return  # reported again, or after the interview itself
        self._advance(Stage.FOLLOW_UP)
        self._scheduled_rounds.add(data.round)
        prefix = prefix or f"{self._id}/follow-up/{data.round}"
        panel = {"interviewers": ", ".join(interviewers)} if interviewers else {}
        await self._message_candidate(
            "interview_preparation", f"{prefix}/preparation", round=str(data.round), interview_at=data.at.isoformat(), **panel
        )
        brief_by = max(workflow.now(), data.at - timedelta(hours=self.policy.brief_before_interview_hours))
        await self._open_task(TaskKind.BRIEF_CANDIDATE, f"{prefix}/brief", brief_by, round=data.round)

    # --- duty 3: referees ------------------------------------------------------------------------

    def _on_references_requested(self, data: ReferencesRequestedData) -> None:
        self._advance(Stage.REFERENCES)
        self._references_required = self._references_required or data.required_before_offer
        for referee in data.referees:
            if referee.id in self._referees:
                continue
            self._referee_details[referee.id] = referee
            facts = self._referee_facts.get(referee.id, set())
            if EventType.REFEREE_RESPONDED in facts:
                # Out of order: the reference came in before the request reached us.
                self._referees[referee.id] = RefereeStatus(id=referee.id, state=RefereeState.RESPONDED)
                continue
            if self._declined_before_named(referee.id) or self._not_needed_when_named():
                # Declined before the request reached us, or enough references are in already: no check.
                declined = EventType.REFEREE_DECLINED in facts
                self._referees[referee.id] = RefereeStatus(id=referee.id, state=RefereeState.DECLINED if declined else RefereeState.NOT_NEEDED)
                continue
            self._referees[referee.id] = RefereeStatus(id=referee.id, state=RefereeState.AWAITING_CONSENT)
            self._spawn(self._check_referee(referee, consented=EventType.REFEREE_CONSENTED in facts))

    async def _check_referee(self, referee: Referee, consented: bool) -> None:
        # A check must outlive the run that starts it when the process continues as new (the
        # next run follows it by its reports); at close-out the process stops its checks itself.
        # Runs recorded before left theirs to be cancelled with the run.
        abandon = workflow.patched(CONTINUE_AS_NEW)
        self._final_reports.discard(referee.id)
        handle = await workflow.start_child_workflow(
            RefereeCheck.run,
            RefereeCheckInput(
                process_id=self._id,
                application_id=self._application_id,
                referee=referee,
                candidate=self._candidate,
                recruiter=self._recruiter,
                client_name=self._client.name or self._client.id,
                policy=self.policy,
                consented=consented,
            ),
            id=contract.referee_check_workflow_id(self._id, referee.id),
            task_queue=workflow.info().task_queue,
            parent_close_policy=ParentClosePolicy.ABANDON if abandon else ParentClosePolicy.REQUEST_CANCEL,
            static_summary=f"Reference check: referee {referee.id} for application {self._application_id}",
        )
        self._referee_checks[referee.id] = handle
        if abandon:
            self._abandonable.add(referee.id)
        if self._closing:
            # The process closed while this check was starting: it stands down at once.
            await self._signal_referee_check(referee.id, names.STOP_REFEREE_CHECK_SIGNAL)
        # Consent or a response that arrived while the check was starting: pass it on now.
        for fact in sorted(self._referee_facts.get(referee.id, set())):
            await self._signal_referee_check(referee.id, fact)
        try:
            self._referees[referee.id] = await self._parked(f"referee/{referee.id}", "check", handle)
        except ChildWorkflowError:
            # Cancelled at close-out (its state is already set), or failed: either way the
            # process goes on; a reference check never fails the process.
            workflow.logger.info("referee check ended early", extra={"referee_id": referee.id})
        # Not in a `finally`: when a worker evicts this run from its cache, the coroutine is
        # closed outside the workflow's event loop, where workflow APIs must not be called.
        self._referee_checks.pop(referee.id, None)
        self._referee_tasks.pop(referee.id, None)
        self._show_progress()

    async def _on_referee_event(self, kind: EventType, data: RefereeData) -> None:
        self._referee_facts.setdefault(data.referee_id, set()).add(kind)
        status = self._referees.get(data.referee_id)
        if (
            kind == EventType.REFEREE_CONSENTED
            and status is not None
            and status.state == RefereeState.NO_CONSENT
            and data.referee_id not in self._referee_checks
            and data.referee_id not in self._external_checks
        ):
            # Consent after the check gave up: better late than never, start it again.
            self._referees[data.referee_id] = status.model_copy(update={"state": RefereeState.REQUESTED})
            self._spawn(self._check_referee(self._referee_details[data.referee_id], consented=True))
            return
        if kind == EventType.REFEREE_RESPONDED and status is not None:
            self._referees[data.referee_id] = status.model_copy(update={"state": RefereeState.RESPONDED})
        await self._signal_referee_check(data.referee_id, kind)

    async def _signal_referee_check(self, referee_id: str, kind: EventType | str) -> None:
        handle: Any = self._referee_checks.get(referee_id)
        if handle is None and referee_id in self._external_checks:
            # Started by an earlier run of this process: reached by its workflow id.
            handle = workflow.get_external_workflow_handle(contract.referee_check_workflow_id(self._id, referee_id))
        if handle is None:
            return  # not started yet (it will be told on start) or already finished
        signal = {
            EventType.REFEREE_RESPONDED: names.REFEREE_RESPONDED_SIGNAL,
            EventType.REFEREE_CONSENTED: names.REFEREE_CONSENTED_SIGNAL,
            EventType.REFEREE_DECLINED: names.REFEREE_DECLINED_SIGNAL,
        }.get(
            kind, str(kind)  # type: ignore[call-overload]
        )
        try:
            await handle.signal(signal, RefereeSignal(event_id=referee_id))
        except ApplicationError:
            # The check finished in the meantime; the fact is already in our own state.
            workflow.logger.info("referee check already finished", extra={"referee_id": referee_id})

    def _offer_blocked(self) -> bool:
        # Too few references in: every referee's, unless the policy says fewer are enough
        # (workflows/_referee_flows.py); a declined referee never counts.
        return self._references_required and not self._enough_references()

    # --- duty 2: don't call off the search until the first day -----------------------------------

    async def _advise_keep_searching(self) -> None:
        await self._message_candidate("keep_searching", f"{self._id}/offer/keep-searching")

    def _watch_start_date(self, data: OfferData) -> None:
        if data.start_date is None or data.start_date == self._start_date:
            return
        previous, self._start_date = self._start_date, data.start_date
        stale = f"{self._id}/start/{previous.isoformat()}/confirm" if previous else None
        # Processes recorded before this change left the old date's confirm task open until
        # close-out: a recruiter was asked to confirm a first day that was no longer the date.
        if stale in self._tasks and workflow.patched("cancel-confirm-for-moved-start"):
            self._tasks.pop(stale)
            self._spawn(act.resolve_tasks([stale], names.TASK_CANCELLED, f"the start date moved to {data.start_date.isoformat()}"))
        # A moved start date supersedes the watch on the old one (see _confirm_start).
        self._spawn(self._confirm_start(data.start_date))

    async def _confirm_start(self, start_date: date) -> None:
        """A start date that passes without `candidate.started` needs a recruiter to confirm it."""
        office = self.policy.office_calendar()
        first_day = local_moment(start_date, office.workday_start, office.timezone)
        confirm_at = add_business_days(first_day, self.policy.start_confirmation_business_days, office)
        started = lambda: EventType.CANDIDATE_STARTED.value in self._milestones  # noqa: E731
        superseded = lambda: self._start_date != start_date  # noqa: E731
        if await self._parked(f"start/{start_date.isoformat()}", "watch", self._wait(lambda: started() or superseded(), confirm_at, f"Start date {start_date.isoformat()} passes")):
            return
        if self._closing:
            return
        due = add_business_hours(confirm_at, self.policy.debrief_due_business_hours, office)
        await self._open_task(
            TaskKind.CONFIRM_START, f"{self._id}/start/{start_date.isoformat()}/confirm", due, start_date=start_date.isoformat()
        )

    # --- duty 5: don't sever ties ----------------------------------------------------------------

    async def _close_out(self) -> None:
        """Stop what the process no longer needs, then hand the candidate to the relationship."""
        assert self._outcome is not None and self._closure is not None
        self._closing = True
        await self._stop_referee_checks()
        await workflow.wait_condition(lambda: all(duty.done() for duty in self._duties))
        if self._external_checks:
            # Checks an earlier run started end with a last report (stood down): wait for it, but
            # not for ever (one an operator terminated never reports).
            try:
                await workflow.wait_condition(lambda: not self._external_checks, timeout=timedelta(days=1), timeout_summary="Reference checks stand down")
            except asyncio.TimeoutError:
                workflow.logger.warning("reference checks did not report standing down", extra={"referee_ids": sorted(self._external_checks)})
        placed = self._outcome == EventType.CANDIDATE_STARTED
        cycle = f"/reopened-{self._reopenings}" if self._reopenings else ""
        reason = {
            EventType.CANDIDATE_STARTED: "candidate started",
            EventType.CANDIDATE_REJECTED: "candidate rejected",
            EventType.CANDIDATE_WITHDREW: "candidate withdrew",
            **FELL_THROUGH_REASONS,
        }[self._outcome]
        confirm_keys = [key for key in self._tasks if "/start/" in key]
        if placed:
            await self._attempt("resolve the start confirmation", act.resolve_tasks(confirm_keys, names.TASK_DONE, "start confirmed"))
        await self._attempt("cancel the open tasks", act.cancel_process_tasks(self._id, reason))
        self._tasks.clear()
        self._referee_tasks.clear()
        # After an offer there was a hiring process, whatever the process saw of its interviews.
        if not placed and self._outcome not in FELL_THROUGH and not self._interviewed() and workflow.patched(CLOSE_OUT_FITS):
            # Never interviewed (screened out, or withdrew before the interview): there is no
            # feedback to give, nobody to thank, no relationship to keep up yet. Nothing is created.
            workflow.logger.info("closed before any interview: no close-out", extra={"outcome": reason})
            metrics.process_closed(self._source, "before_interview")
            self._show_progress()
            return

        office = self.policy.office_calendar()
        now = workflow.now()
        if placed:
            base = local_moment(self._start_date or now.date(), office.workday_start, office.timezone)
            days, outcome = self.policy.placed_checkin_days, "placed"
            occasions = ["the first week in the new role", "the end of probation"]
        else:
            data: ClosureData = self._closure.data  # type: ignore[assignment]
            outcome = "rejected" if self._outcome == EventType.CANDIDATE_REJECTED else FELL_THROUGH.get(self._outcome, "withdrew")
            base, days = now, self.policy.closed_checkin_days
            occasions = [f"{d} days after the application closed" for d in days]
            panel = self._interviewers()
            named = {"interviewers": panel} if panel and workflow.patched(THANK_INTERVIEWERS_BY_NAME) else {}
            await self._open_task(
                TaskKind.CLOSURE_FEEDBACK,
                f"{self._id}/close/feedback{cycle}",
                add_business_days(now, self.policy.closure_feedback_business_days, office),
                reason=data.reason or reason,
                **named,
            )
            if not data.met_in_person:
                await self._open_task(
                    TaskKind.FACE_TO_FACE,
                    f"{self._id}/close/face-to-face{cycle}",
                    add_business_days(now, self.policy.face_to_face_business_days, office),
                )
            if self._outcome in FELL_THROUGH:
                await self._offer_fell_through(self._outcome, data, cycle)
            else:
                await self._message_candidate("closure_next_steps", f"{self._id}/close/next-steps{cycle}", reason=reason, **({"interviewers": panel} if panel else {}))
        check_ins = []
        for i, days_on in enumerate(days):
            # On a working day, in working hours: the check-in lands when the recruiter is in.
            at = add_business_hours(base + timedelta(days=days_on), 1, office)
            check_ins.append(
                CheckIn(
                    key=f"{self._id}/check-in/{days_on}{cycle}",
                    occasion=occasions[i] if i < len(occasions) else f"{days_on} days on",
                    at=at,
                    due_at=add_business_days(at, self.policy.checkin_due_business_days, office),
                )
            )
        await self._attempt(
            f"hand-over {self._id}/{outcome}{cycle}",
            act.hand_over(
                Handover(
                    handover_id=f"{self._id}/{outcome}{cycle}",
                    source=self._source,
                    application_id=self._application_id,
                    outcome=outcome,
                    candidate=self._candidate,
                    recruiter=self._recruiter,
                    client_name=self._client.name or self._client.id,
                    start_date=self._start_date if placed else None,
                    check_ins=check_ins,
                ),
                summary=f"Hand the candidate over to the relationship process ({outcome})",
            ),
        )
        metrics.process_closed(self._source, outcome)
        self._show_progress()

    async def _stop_referee_checks(self) -> None:
        """Stop reference checks still running: each tells its referee it is no longer needed.

        A `stop` signal rather than a cancellation, so a check is never interrupted in the
        middle of contacting somebody."""
        for referee_id in [*self._referee_checks, *sorted(self._external_checks)]:
            self._referees[referee_id] = self._referees[referee_id].model_copy(update={"state": RefereeState.CANCELLED})
            await self._signal_referee_check(referee_id, names.STOP_REFEREE_CHECK_SIGNAL)

    # --- continue-as-new: a process of months in runs of bounded size -----------------------------

    def _continue_as_new_due(self) -> bool:
        """Whether this run has taken enough to hand over to a fresh one (domain/process_state.py)."""
        if not self._may_continue or self._outcome is not None:
            return False
        if set(self._referee_checks) - self._abandonable:
            # A check started before this change would be cancelled with this run: not until it ends.
            return False
        info = workflow.info()
        signals_per_run = self._policy.signals_per_run if self._policy is not None else SIGNALS_PER_RUN
        return (
            self._signals >= signals_per_run
            or self._updates >= UPDATES_PER_RUN
            or info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= HISTORY_EVENTS_PER_RUN
            or info.get_current_history_size() >= HISTORY_BYTES_PER_RUN
        )

    def _continue_as_new(self) -> None:
        """Hand over to a fresh run, at a safe point: every event taken handled (a carried inbox
        of thousands would pass the 2 MB limit on a payload), no handler half-way, every duty
        waiting at a deadline the carried state records (none in the middle of an activity)."""
        carried = self._carry()
        workflow.logger.info(
            "continuing as new",
            extra={"run": carried.runs, "signals": self._signals, "history_length": workflow.info().get_current_history_length()},
        )
        workflow.continue_as_new(carried)

    def _settled(self) -> bool:
        return sum(1 for duty in self._duties if not duty.done()) == len(self._waiting)

    async def _parked(self, duty: str, phase: str, waiting: Awaitable[T]) -> T:
        """Wait, with the duty marked as waiting at `phase`: where the next run resumes it."""
        self._waiting[duty] = phase
        try:
            return await waiting
        finally:
            self._waiting.pop(duty, None)

    def _carry(self) -> CarriedProcess:
        running = [r for r in [*self._referee_checks, *sorted(self._external_checks)] if r not in self._final_reports]
        closed = self._outcome or self._closed_before
        if self._outcome is not None:
            # A closed run carries what it knew, not what it was doing: no inbox, no duties, no
            # checks (they stood down); its stage is the one it closed in.
            running = []
        return CarriedProcess(
            first_event=self._first_event,
            runs=(self._carried.runs if self._carried is not None else 1) + 1,
            source=self._source,
            application_id=self._application_id,
            candidate=self._candidate,
            recruiter=self._recruiter,
            client=self._client,
            job=self._job,
            assumed=sorted(self._assumed),
            policy=self.policy,
            inbox=list(self._inbox) if self._outcome is None else [],
            seen=self._seen.latest(),
            events_seen=self._seen.total,
            stage=self._stage_before_close if self._outcome is not None else self._stage,
            milestones=dict(self._milestones),
            rounds=[self._rounds[r] for r in sorted(self._rounds)],
            debriefs=dict(self._debriefs),
            scheduled_rounds=sorted(self._scheduled_rounds),
            feedback_pending=sorted(self._feedback_pending),
            tasks=list(self._tasks.values()),
            done_tasks=sorted(self._done_tasks),
            referees=list(self._referees.values()),
            referee_tasks={r: tasks for r, tasks in self._referee_tasks.items() if r in running},
            referee_details=list(self._referee_details.values()),
            referee_facts={r: sorted(facts) for r, facts in self._referee_facts.items()},
            chased=dict(self._chased),
            replacements_owed=self._replacements_owed,
            references_required=self._references_required,
            sla_breached=self._sla_breached,
            start_date=self._start_date,
            debrief_duties={int(duty.split("/")[1]): DebriefPhase(phase) for duty, phase in self._waiting.items() if duty.startswith("debrief/")},
            start_watches=[date.fromisoformat(duty.split("/")[1]) for duty in self._waiting if duty.startswith("start/")],
            client_chases=[r for r in (int(d.split("/")[1]) for d in self._waiting if d.startswith("client-chase/")) if not self._client_moved(r)],
            client_spoke=sorted(self._client_spoke),
            accepted_at=self._accepted_at,
            contract_chase="contract-chase" in self._waiting,
            vetting_chases=[date.fromisoformat(duty.split("/")[1]) for duty in self._waiting if duty.startswith("vetting-chase/")],
            referee_checks=running,
            enrichment_pending=self._outcome is None and self._enrichment is not None and not self._enrichment.done(),
            rejected_events=list(self._rejected),
            failed_steps=list(self._failed),
            interviews=[r.model_copy() for r in self._interviews.values()],
            closed=closed,
            reopenings=self._reopenings,
        )

    def _restore(self, carried: CarriedProcess) -> None:
        """The state an earlier run carried over (its duties are resumed by `run`)."""
        self._candidate, self._recruiter, self._client, self._job = carried.candidate, carried.recruiter, carried.client, carried.job
        self._assumed = set(carried.assumed)
        self._policy = carried.policy
        self._inbox = list(carried.inbox)
        self._seen = SeenIds(carried.seen, earlier=carried.events_seen - len(carried.seen))
        self._stage = carried.stage
        self._milestones = dict(carried.milestones)
        self._rounds = {r.round: r for r in carried.rounds}
        self._debriefs = dict(carried.debriefs)
        self._scheduled_rounds = set(carried.scheduled_rounds)
        self._feedback_pending = set(carried.feedback_pending)
        self._tasks = {t.key: t for t in carried.tasks}
        self._done_tasks = set(carried.done_tasks)
        self._referees = {r.id: r for r in carried.referees}
        self._referee_tasks = dict(carried.referee_tasks)
        self._referee_details = {r.id: r for r in carried.referee_details}
        self._referee_facts = {r: set(facts) for r, facts in carried.referee_facts.items()}
        self._chased = dict(carried.chased)
        self._replacements_owed = carried.replacements_owed
        self._references_required = carried.references_required
        self._sla_breached = carried.sla_breached
        self._start_date = carried.start_date
        self._external_checks = set(carried.referee_checks)
        self._rejected, self._failed = list(carried.rejected_events), list(carried.failed_steps)
        self._interviews = {r.interview_id: r.model_copy() for r in carried.interviews}
        self._closed_before, self._reopenings = carried.closed, carried.reopenings
        self._client_spoke = set(carried.client_spoke)
        self._accepted_at = carried.accepted_at

    def _resume_duties(self, carried: CarriedProcess) -> None:
        """Each duty that was waiting goes on waiting, for the same absolute deadline."""
        for round_, phase in sorted(carried.debrief_duties.items()):
            self._spawn(self._debrief(round_, resume=phase))
        for start_date in carried.start_watches:
            self._spawn(self._confirm_start(start_date))
        for round_ in carried.client_chases:
            self._spawn(self._chase_client(round_, resume=True))
        if carried.contract_chase:
            self._contract_chasing = True
            self._spawn(self._chase_contract(resume=True))
        for start_date in carried.vetting_chases:
            self._vetting_chasing.add(start_date)
            self._spawn(self._chase_vetting(start_date, resume=True))
        for record in self._interviews.values():
            if record.state == InterviewState.SCHEDULED and carried.closed is None:
                self._spawn(self._watch_interview(record.interview_id, record.version))

    # --- plumbing --------------------------------------------------------------------------------

    @property
    def policy(self) -> TimingPolicy:
        assert self._policy is not None, "the policy is loaded before any event is handled"
        return self._policy

    async def _wait(self, condition: Any, until: datetime, summary: str) -> bool:
        """Wait for `condition` until the instant `until`, or until the process closes."""
        await act.wait_until(lambda: condition() or self._closing, until, summary)
        return bool(condition())

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(self._duty(coroutine))
        self._duties.append(task)
        return task

    async def _duty(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """A duty that fails for good stops, recorded; the process and its other duties go on.
        (Before, its exception was never retrieved: the duty vanished without a trace.)"""
        try:
            await coroutine
        except Exception as error:
            if not faults.skipping(error):
                raise
            self._step_failed(f"duty {coroutine.__name__.strip('_')}", error)

    async def _attempt(self, what: str, step: Coroutine[Any, Any, Any]) -> bool:
        """Run one side effect; True if it happened. One its activity failed for good (a write
        the store cannot take) is recorded and skipped: the duty goes on without it."""
        try:
            await step
            return True
        except ActivityError as error:
            if not faults.skipping(error):
                raise
            self._step_failed(what, error)
            return False

    def _reject(self, event: CanonicalEvent, error: Exception) -> None:
        rejected = RejectedEvent(event_id=event.event_id, type=event.type.value, reason=faults.reason(error), at=workflow.now())
        self._rejected = [*self._rejected, rejected][-PROBLEMS_KEPT:]
        workflow.logger.warning(
            "event rejected: skipped",
            extra={"event_id": event.event_id, "type": event.type.value, "error": faults.kind(error), "reason": rejected.reason},
        )
        metrics.event_rejected(self._source, event.type.value, faults.kind(error))
        self._show_progress()

    def _step_failed(self, what: str, error: Exception) -> None:
        failed = FailedStep(what=what, reason=faults.step_failed(what, error), at=workflow.now())
        self._failed = [*self._failed, failed][-PROBLEMS_KEPT:]
        self._show_progress()

    def _advance(self, stage: Stage) -> None:
        if self._stage is not None and _RANK[stage] < _RANK[self._stage]:
            return
        if stage != self._stage:
            self._stage = stage
            self._publish_search_attributes()

    def _context(self, **extra: Any) -> dict[str, str]:
        context = {
            "candidate": self._candidate.name or f"the candidate for application {self._application_id}",
            "client": self._client.name or self._client.id,
            "recruiter": self._recruiter.name or self._recruiter.id,
            "application_id": self._application_id,
        }
        if self._job is not None and self._job.title:
            context["role"] = self._job.title
        context.update({k: str(v) for k, v in extra.items()})
        return context

    async def _open_task(self, kind: TaskKind, key: str, due_at: datetime, **context: Any) -> None:
        if key in self._tasks or key in self._done_tasks:
            return
        lead = self._recruiter.lead
        assignee = Assignee(**self._recruiter.model_dump(include={"id", "name", "email"}), lead_id=lead.id if lead else None)
        created = await self._attempt(
            f"task {key}",
            act.create_task(
                TaskRequest(
                    key=key,
                    process_id=self._id,
                    application_id=self._application_id,
                    kind=kind,
                    assignee=assignee,
                    due_at=due_at,
                    context=self._context(**context),
                ),
                summary=f"Task for the recruiter: {kind.value.replace('_', ' ')}",
            ),
        )
        if not created:
            return
        self._tasks[key] = OpenTask(key=key, kind=kind, assignee=assignee.id, due_at=due_at)
        self._show_progress()

    async def _message_candidate(self, template: str, key: str, **context: Any) -> None:
        if self._candidate.can_email is False:
            # The ATS says the candidate must not be emailed (Greenhouse can_email false, a
            # private candidate): the recruiter's tasks still go out, the message does not.
            workflow.logger.info("candidate must not be emailed: message left out", extra={"key": key})
            return
        calendar = self.policy.calendar_of(self._candidate.timezone, self._candidate.country)
        await self._attempt(
            f"message {key}",
            act.send_message(
                names.MESSAGE_CANDIDATE,
                MessageRequest(
                    key=key,
                    process_id=self._id,
                    application_id=self._application_id,
                    recipient=Recipient(role="candidate", **self._candidate.model_dump(include={"id", "name", "email"})),
                    template=template,
                    context=self._context(**context),
                    send_after=next_send_time(workflow.now(), calendar),
                ),
                summary=f"Message the candidate: {template.replace('_', ' ')}",
            ),
        )

    def _open_tasks(self) -> list[OpenTask]:
        tasks = list(self._tasks.values())
        for referee_tasks in self._referee_tasks.values():
            tasks.extend(t for t in referee_tasks if t.key not in self._done_tasks)
        return sorted(tasks, key=lambda t: t.due_at)

    def _waiting_for(self) -> str:
        if self._outcome == EventType.CANDIDATE_STARTED:
            return "nothing: the candidate started; check-ins continue in the relationship process"
        if self._outcome is not None:
            return "nothing: the application is closed; check-ins continue in the relationship process"
        if self._policy is None or (self._stage is None and (self._inbox or self._arrivals)):
            # Just started: the policy is loading, the first event still waits in the inbox.
            return "its first event to be handled"
        missing = [r for r in sorted(self._rounds) if r not in self._debriefs]
        if missing and _RANK[self._stage or Stage.DEBRIEF] == 0:
            record = self._rounds[missing[-1]]
            late = " (overdue)" if workflow.now() > record.due_at else ""
            return f"the debrief of round {record.round}, due {record.due_at:%Y-%m-%d %H:%M} UTC{late}"
        pending = [r for r in self._referees.values() if r.state in (RefereeState.AWAITING_CONSENT, RefereeState.REQUESTED, RefereeState.OVERDUE)]
        count = self._reference_count()
        n_of_m = count is not None and (count.declined or count.needed < count.referees)
        if self._offer_blocked():
            if n_of_m:
                return f"references: {count.text}: the offer is blocked until enough are in"  # type: ignore[union-attr]
            return f"references from {len(pending)} of {len(self._referees)} referees: the offer is blocked until they are in"
        if self._stage == Stage.STARTING:
            when = f" on {self._start_date.isoformat()}" if self._start_date else ""
            return f"the candidate's first day{when}"
        if self._stage == Stage.OFFER:
            if EventType.OFFER_ACCEPTED.value in self._milestones:
                missing = [what for what, done in (("the signed contract", self._signed()), ("passed vetting", self._vetted())) if not done]
                return " and ".join(missing) or "the signed contract and passed vetting"
            return "the candidate's answer to the offer"
        if pending and n_of_m:
            return f"references: {count.text}"  # type: ignore[union-attr]
        if pending:
            return f"references from {len(pending)} of {len(self._referees)} referees"
        if self._stage == Stage.FOLLOW_UP:
            watched = sorted((r for r in self._interviews.values() if r.state == InterviewState.SCHEDULED), key=lambda r: r.at)
            if watched and self._policy is not None:
                nearest = watched[0]
                over = nearest.ends_at + timedelta(minutes=self.policy.interview_grace_minutes)
                return (
                    f"the interview on {nearest.at:%Y-%m-%d %H:%M} UTC (round {nearest.prepared_round or self._expected_round(nearest)}): "
                    f"taken as having happened at {over:%Y-%m-%d %H:%M} UTC unless moved or cancelled"
                )
            upcoming = sorted(r for r in self._scheduled_rounds if r not in self._rounds)
            return f"follow-up interview round {upcoming[-1]}" if upcoming else "the follow-up interview"
        return "the client's decision"

    def _show_progress(self) -> None:
        """What an operator sees in the UI's 'current details' for this run."""
        lines = [
            f"**Stage:** {(self._stage or Stage.DEBRIEF).value}",
            f"**Waiting for:** {self._waiting_for()}",
        ]
        if self._sla_breached:
            lines.append("**SLA breached:** a debrief was escalated to the recruiter's lead")
        open_tasks = self._open_tasks()
        if open_tasks:
            lines.append(f"**Open tasks:** {len(open_tasks)}, next due {open_tasks[0].due_at:%Y-%m-%d %H:%M} UTC")
        if self._referees:
            states = ", ".join(f"{r.id}: {r.state.value}" for r in self._referees.values())
            lines.append(f"**Referees:** {states}")
            lines.append(f"**References:** {self._references_text()}")
        if self._rejected:
            latest = self._rejected[-1]
            lines.append(f"**Rejected events:** {len(self._rejected)}, latest {latest.event_id} ({latest.type}): {latest.reason}")
        if self._failed:
            lines.append(f"**Failed steps:** {len(self._failed)}, latest {self._failed[-1].what}: {self._failed[-1].reason}")
        workflow.set_current_details("\n\n".join(lines))

    def _publish_search_attributes(self) -> None:
        workflow.upsert_search_attributes(
            [
                contract.APPLICATION_ID.value_set(self._application_id),
                contract.CANDIDATE_ID.value_set(self._candidate.id),
                contract.RECRUITER_ID.value_set(self._recruiter.id),
                contract.ATS_SOURCE.value_set(self._source),
                contract.PROCESS_STAGE.value_set((self._stage or Stage.DEBRIEF).value),
                contract.SLA_BREACHED.value_set(self._sla_breached),
            ]
        )



def _unschedulable(event: CanonicalEvent) -> UnschedulableDate | None:
    """The event's first date that no deadline can be counted from, as the error to raise."""
    dates: list[tuple[str, Any]] = [("occurred_at", event.occurred_at)]
    if isinstance(event.data, (InterviewData, OfferData, StartedData)):
        dates.extend((f"data.{name}", value) for name, value in event.data if isinstance(value, date))
    for what, moment in dates:
        try:
            check_schedulable(f"{event.type.value} {what}", moment)
        except UnschedulableDate as error:
            return error
    return None


def _business_days_text(since: datetime, until: datetime, office: Any) -> str:
    """How long the client has been silent, in the office's business days ("3 business days")."""
    days = 0
    while add_business_days(since, days + 1, office) <= until:
        days += 1
    return f"{days} business day{'s' if days != 1 else ''}"


def _merged(known: Any, reported: Any) -> Any:
    """`reported`, with the details it lacks taken from `known` when both are the same person."""
    if reported.id != known.id:
        return reported
    missing = {name: value for name, value in known if value is not None and getattr(reported, name) is None}
    return reported.model_copy(update=missing) if missing else reported
