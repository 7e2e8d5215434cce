"""What a process reports about itself: the `status` query, and the signals its parts exchange."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.contact import NurtureAnswer
from domain.events import Candidate, Recruiter, Referee
from domain.follow_through import TaskKind
from domain.policy import TimingPolicy


class Stage(StrEnum):
    DEBRIEF = "debrief"
    AWAITING_CLIENT = "awaiting_client"
    FOLLOW_UP = "follow_up"
    REFERENCES = "references"
    OFFER = "offer"
    STARTING = "starting"
    PLACED = "placed"
    CLOSED = "closed"


class RefereeState(StrEnum):
    AWAITING_CONSENT = "awaiting_consent"
    REQUESTED = "requested"
    OVERDUE = "overdue"
    RESPONDED = "responded"
    NO_CONSENT = "no_consent"
    CANCELLED = "cancelled"
    # The referee said they can't give a reference (referee.declined): never chased again.
    DECLINED = "declined"
    # Enough references came in from the others (the policy's references_needed): stood down.
    NOT_NEEDED = "not_needed"


class OpenTask(BaseModel):
    key: str
    kind: TaskKind
    assignee: str
    due_at: datetime


class RefereeStatus(BaseModel):
    id: str
    state: RefereeState
    deadline: datetime | None = None
    reminders_sent: int = 0
    chased_at: datetime | None = Field(default=None, description="When a recruiter last chased this referee (a completed task).")


class DebriefRound(BaseModel):
    round: int
    interview_at: datetime
    due_at: datetime
    recorded_at: datetime | None = None
    interest: int | None = None
    escalated: bool = False


class RejectedEvent(BaseModel):
    """An event the process could not act on (a date it cannot schedule, a write the store
    refused): recorded, skipped, and the process went on with the next one."""

    event_id: str
    type: str
    reason: str = Field(description="Why, without the people's details (it also goes to the log).")
    at: datetime = Field(description="When the process gave up on it.")


class FailedStep(BaseModel):
    """A step of a duty or of the close-out that failed for good (a task or message the store
    refused): recorded, and the rest of the duty went on without it."""

    what: str
    reason: str
    at: datetime


# A process keeps the latest of these in its status (the metrics count them all).
PROBLEMS_KEPT = 20


class ReferenceCount(BaseModel):
    """N of M: how many references are in, how many are needed, of how many referees."""

    received: int = Field(description="Referees who responded (declined ones never count).")
    needed: int = Field(description="References that are enough: the policy's references_needed, else every referee named (a declined one replaced).")
    referees: int = Field(description="Referees named so far, declined ones included.")
    declined: int = 0

    @property
    def text(self) -> str:
        declined = f", {self.declined} declined" if self.declined else ""
        return f"{self.received} of {self.needed} needed in ({self.referees} referee{'s' if self.referees != 1 else ''}{declined})"


class ProcessStatus(BaseModel):
    application_id: str
    source: str
    stage: Stage
    waiting_for: str
    sla_breached: bool
    offer_blocked: bool = Field(description="The client wants the references before an offer, and too few are in.")
    open_tasks: list[OpenTask]
    referees: list[RefereeStatus]
    debriefs: list[DebriefRound]
    milestones: dict[str, datetime] = Field(description="Milestone (event type) -> when it happened.")
    events_seen: int
    # Optional with defaults: statuses from before they existed still load.
    rejected_events: list[RejectedEvent] = Field(default_factory=list, description=f"The latest {PROBLEMS_KEPT} events skipped.")
    failed_steps: list[FailedStep] = Field(default_factory=list, description=f"The latest {PROBLEMS_KEPT} steps that failed for good.")
    references: ReferenceCount | None = Field(default=None, description="References in, of how many needed (None: none requested).")


class RefereeCheckInput(BaseModel):
    process_id: str
    application_id: str
    referee: Referee
    candidate: Candidate
    recruiter: Recruiter
    client_name: str
    policy: TimingPolicy
    consented: bool = False


class RefereeProgress(BaseModel):
    """Sent by a referee check to its process, so the process's status shows where each
    reference stands and which tasks the check has open."""

    referee_id: str
    state: RefereeState
    deadline: datetime | None = None
    reminders_sent: int = 0
    open_tasks: list[OpenTask] = Field(default_factory=list)


class RefereeSignal(BaseModel):
    """The process passes a referee's consent or response on to their check."""

    event_id: str


class CheckIn(BaseModel):
    key: str
    occasion: str
    at: datetime = Field(description="When the recruiter gets the check-in task.")
    due_at: datetime = Field(description="When the check-in task is due (a conversation, not a deadline).")


class Handover(BaseModel):
    """A closed (or placed) process hands its candidate over to the relationship process."""

    handover_id: str = Field(description="The post-interview process id and outcome: a retried handover is a no-op.")
    source: str
    application_id: str
    outcome: str = Field(description="placed, rejected, withdrew, offer_withdrawn, vetting_failed or reneged.")
    candidate: Candidate
    recruiter: Recruiter
    client_name: str
    start_date: date | None = None
    check_ins: list[CheckIn]


class Reopening(BaseModel):
    """A closed application is live again: the relationship drops the check-ins it was handed for it."""

    process_id: str = Field(description="The post-interview process whose handover is taken back.")
    source: str
    candidate_id: str
    reason: str | None = None


class RelationshipState(BaseModel):
    """Everything the relationship process carries across continue-as-new."""

    source: str
    candidate_id: str
    candidate: Candidate | None = None
    recruiter: Recruiter | None = None
    handovers_seen: list[str] = Field(default_factory=list)
    pending: list[CheckIn] = Field(default_factory=list)
    done: list[str] = Field(default_factory=list)
    # Nurture (patch `nurture-reaches-the-candidate`): the candidate's answers to check-ins. Defaults
    # so that states carried before it still load.
    policy: TimingPolicy | None = Field(default=None, description="The default policy, fixed at the first check-in that messages the candidate.")
    answers: list[NurtureAnswer] = Field(default_factory=list, description="Answers received, not acted on yet.")
    answers_seen: list[str] = Field(default_factory=list, description="The latest answer (link) ids taken: a repeat is ignored.")
    awaiting_answers_until: datetime | None = Field(default=None, description="After the last check-in, its answers are awaited until then.")
    opted_out: bool = Field(default=False, description="The candidate asked not to be contacted: no check-ins, no messages, no tasks.")
