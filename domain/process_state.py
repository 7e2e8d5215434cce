"""What a PostInterviewProcess carries into its next run when it continues as new.

Temporal limits one run: the dev server and a default cluster refuse the 10,001st signal to a
run (`history.maximumSignalsPerExecution`), 2,000 updates (`history.maxTotalUpdates`), and fail a
run whose history passes 51,200 events or 50 MB (`limit.historyCount.error`,
`limit.historySize.error`). An application's process can live for months and a noisy ATS
re-sends, so the process starts a fresh run (continue-as-new) well before any of those, at a
point where every duty waits on a deadline this state records, and the next run resumes each
duty from here. The policy is part of it: it was fixed when the process started and is never
loaded again.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.debrief import Debrief
from domain.events import Candidate, CanonicalEvent, Client, EventType, Job, Recruiter, Referee
from domain.policy import TimingPolicy
from domain.status import DebriefRound, FailedStep, OpenTask, RefereeStatus, RejectedEvent, Stage

# When a run continues as new: the first of these it reaches, or the server's own suggestion
# (`is_continue_as_new_suggested`, limit.historyCount/historySize.suggestContinueAsNew). Each is
# well under its hard limit (above), so a burst arriving while the run waits for its duties to
# settle still fits.
# SIGNALS_PER_RUN (domain/policy.py, the policy's `signals_per_run`): 2,000 of 10,000
# (history.maximumSignalsPerExecution).
UPDATES_PER_RUN = 500  # of 2,000 (history.maxTotalUpdates)
HISTORY_EVENTS_PER_RUN = 10_000  # of 51,200 (limit.historyCount.error)
HISTORY_BYTES_PER_RUN = 10 * 1024 * 1024  # of 50 MB (limit.historySize.error)

# The event ids a run carries over: the latest this many, oldest first. Duplicates reach a process
# from the intake's forwarder (a delivery sent again because marking it delivered failed: at most
# its 64 in flight plus a group being marked, sent again within minutes), from signal-with-start
# (the starting event is both the input and the first signal) and from a retried client. All of
# those arrive within a few hundred events of the first copy; 2,000 leaves an order of magnitude
# to spare. An older id that comes back finds the fact it stood for already in the state (an
# interview round, a referee, a milestone, a task key are each acted on once), so even then it
# has no second effect.
SEEN_IDS_CARRIED = 2_000


class SeenIds:
    """The event ids a process has taken, in the order it took them (a set that remembers order)."""

    def __init__(self, ids: list[str] | None = None, earlier: int = 0) -> None:
        self._ids: dict[str, None] = dict.fromkeys(ids or [])
        # Ids taken by earlier runs and not carried over: still counted in `events_seen`.
        self.earlier = earlier

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        """How many distinct ids this run holds (the status counts `total`)."""
        return len(self._ids)

    @property
    def total(self) -> int:
        return self.earlier + len(self._ids)

    def latest(self, count: int = SEEN_IDS_CARRIED) -> list[str]:
        return list(self._ids)[-count:]


class DebriefPhase(StrEnum):
    """Where a debrief round's duty waited when its run continued as new."""

    DUE = "due"  # the task and the questions went out; waiting for the debrief until it is due
    ESCALATION = "escalation"  # the recruiter was reminded; waiting until the lead is told
    AWAITING = "awaiting"  # past every deadline: waiting for the debrief itself


class InterviewState(StrEnum):
    SCHEDULED = "scheduled"  # waiting for its end plus the grace period (or an explicit completion)
    CANCELLED = "cancelled"
    TOOK_PLACE = "took_place"  # reported completed, or its end and the grace period passed


class InterviewRecord(BaseModel):
    """One interview of the application, by the ATS's interview id: what the process knows of it.

    `round` is the ATS's own when it gave one, else the number the process gave it when it took
    place (the application's interviews in the order they take place). `version` counts its
    reschedules: the watch on an earlier time stands down when it changes."""

    interview_id: str
    at: datetime
    ends_at: datetime = Field(description="When it ends: as reported, or its start plus its (or the policy's) length.")
    round: int | None = None
    state: InterviewState = InterviewState.SCHEDULED
    version: int = 0
    interviewers: list[str] = Field(default_factory=list, description="The panel's names, as the ATS gave them.")
    inferred: bool = Field(default=False, description="Taken as having happened from its schedule, not reported.")
    prepared_round: int | None = Field(default=None, description="The round its preparation (message, brief task) went out for.")
    brief_key: str | None = Field(default=None, description="The key of the brief task its preparation opened.")


class CarriedProcess(BaseModel):
    """Everything a PostInterviewProcess needs to go on in a new run, and nothing it can rebuild."""

    first_event: CanonicalEvent = Field(description="The event the process started with.")
    runs: int = Field(default=1, description="How many runs the process has had before this one.")
    source: str
    application_id: str
    candidate: Candidate
    recruiter: Recruiter
    client: Client
    job: Job | None = None
    assumed: list[str] = Field(default_factory=list)
    policy: TimingPolicy = Field(description="Fixed when the process started; never loaded again.")
    # Events taken but not handled yet: handled first, in order, by the next run. A run hands
    # over only once it has handled every event (the state stays far below the 2 MB a payload
    # may have), so this is empty unless that changes.
    inbox: list[CanonicalEvent] = Field(default_factory=list)
    seen: list[str] = Field(default_factory=list, description=f"The latest {SEEN_IDS_CARRIED} event ids taken, oldest first.")
    events_seen: int = Field(default=0, description="Distinct event ids taken over all runs.")
    stage: Stage | None = None
    milestones: dict[str, datetime] = Field(default_factory=dict)
    rounds: list[DebriefRound] = Field(default_factory=list)
    debriefs: dict[int, Debrief] = Field(default_factory=dict)
    scheduled_rounds: list[int] = Field(default_factory=list)
    feedback_pending: list[int] = Field(default_factory=list)
    tasks: list[OpenTask] = Field(default_factory=list)
    done_tasks: list[str] = Field(default_factory=list)
    referees: list[RefereeStatus] = Field(default_factory=list)
    referee_tasks: dict[str, list[OpenTask]] = Field(default_factory=dict)
    referee_details: list[Referee] = Field(default_factory=list)
    referee_facts: dict[str, list[EventType]] = Field(default_factory=dict)
    chased: dict[str, datetime] = Field(default_factory=dict)
    replacements_owed: int = Field(default=0, description="Declined referees the candidate still owes a replacement for.")
    references_required: bool = False
    sla_breached: bool = False
    start_date: date | None = None
    # The duties that were waiting, resumed by the next run from the deadlines above.
    debrief_duties: dict[int, DebriefPhase] = Field(default_factory=dict, description="Round -> where its duty waited.")
    start_watches: list[date] = Field(default_factory=list, description="Start dates whose confirmation was still awaited.")
    client_chases: list[int] = Field(default_factory=list, description="Rounds whose client decision was still being chased.")
    client_spoke: list[int] = Field(default_factory=list, description="Rounds after which the client was heard from (no chase for them).")
    # Keeping the search going to the first day (added later: carried states from before load with defaults).
    accepted_at: datetime | None = Field(default=None, description="When the process took the offer's acceptance: the contract chase counts from it.")
    contract_chase: bool = Field(default=False, description="Whether the chase of an unsigned contract was still waiting.")
    vetting_chases: list[date] = Field(default_factory=list, description="Start dates whose vetting chase was still waiting.")
    referee_checks: list[str] = Field(
        default_factory=list,
        description="Referees whose RefereeCheck still runs (abandoned by the run that started it); "
        "it reports to the process by workflow id, so the next run follows it by its signals.",
    )
    enrichment_pending: bool = False
    # Interview truth from schedules (added later: carried states from before load with defaults).
    interviews: list[InterviewRecord] = Field(default_factory=list, description="Interviews by the ATS's id; scheduled ones are watched again.")
    # Reopen: a closed process's state carried into a new run by `application.reopened`.
    closed: EventType | None = Field(default=None, description="The outcome the carrying run closed with (None: it had not closed).")
    reopenings: int = Field(default=0, description="How many times the application was reopened after closing.")
    # What failed for good and was skipped, as the status shows it (the latest PROBLEMS_KEPT).
    rejected_events: list[RejectedEvent] = Field(default_factory=list)
    failed_steps: list[FailedStep] = Field(default_factory=list)
