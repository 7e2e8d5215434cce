"""What the process asks people to do, and what it tells them: the inputs of every activity.

Each request carries a `key` derived from the workflow, the purpose and the round
(`post-interview-greenhouse-123/debrief/1/book-call`), so a retried activity finds the task or
message it already created instead of creating a second one.

Task kinds are written in the recruiter's words, with the *why* from the process model: a task
that says why it matters gets done.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from domain.bounds import MultiLineText
from domain.events import Candidate, Recruiter


class TaskKind(StrEnum):
    BOOK_DEBRIEF = "book_debrief"
    URGENT_DEBRIEF = "urgent_debrief"
    SEND_FEEDBACK = "send_feedback"
    BRIEF_CANDIDATE = "brief_candidate"
    REFEREE_CONSENT = "referee_consent"
    REFEREE_OVERDUE = "referee_overdue"
    CONFIRM_START = "confirm_start"
    CLOSURE_FEEDBACK = "closure_feedback"
    FACE_TO_FACE = "face_to_face"
    CHECK_IN = "check_in"
    ESCALATION = "escalation"
    CHASE_CLIENT = "chase_client"
    CHASE_CONTRACT = "chase_contract"
    CHASE_VETTING = "chase_vetting"
    NEXT_ROLE = "next_role"
    REOPEN_ROLE = "reopen_role"
    REFEREE_DECLINED = "referee_declined"
    # A candidate answered a check-in "I'm open to opportunities".
    NURTURE_CALL = "nurture_call"


class TaskText(BaseModel):
    title: str
    why: str


# Templates use str.format fields filled from the request's context: {candidate}, {client},
# {round}, {referee}, {start_date}, {occasion}, {recruiter}, {what}, {reason}, {interviewers}.
TASK_TEXT: dict[TaskKind, TaskText] = {
    TaskKind.BOOK_DEBRIEF: TaskText(
        title="Book a debrief call with {candidate} (round {round})",
        why="Speak to the candidate while the interview is fresh. The client will ask for their "
        "feedback, and 'I think it went well' adds nothing: ask how it went, their interest (1-5), "
        "their concerns, their questions for the client and what the interviewers asked them to "
        "reflect on, then record the debrief.",
    ),
    TaskKind.URGENT_DEBRIEF: TaskText(
        title="Debrief {candidate} now: {client} is asking for feedback",
        why="The client wants the candidate's feedback and there is no debrief yet. Saying you have "
        "not spoken to the candidate makes them look uninterested, and generic feedback adds nothing.",
    ),
    TaskKind.SEND_FEEDBACK: TaskText(
        title="Send {candidate}'s debrief to {client}",
        why="The client asked for the candidate's feedback. Send what the candidate actually said "
        "(interest, concerns, their questions, their reflections), never generic text: armed with "
        "the right information you can sway a client who is in two minds.",
    ),
    TaskKind.BRIEF_CANDIDATE: TaskText(
        title="Brief {candidate} before round {round} with {client}",
        why="Keep the candidate researching the firm: go through what to expect and the questions "
        "they want to ask. Informed questions show commitment to the hiring manager.",
    ),
    TaskKind.REFEREE_CONSENT: TaskText(
        title="Check that {referee} has agreed to give {candidate} a reference",
        why="The referee has not confirmed. A referee who did not know they were named responds "
        "slowly or not at all, and the offer may depend on them.",
    ),
    TaskKind.REFEREE_OVERDUE: TaskText(
        title="{referee}'s reference for {candidate} is overdue",
        why="The deadline has passed without a reference. Call the referee, or ask the candidate "
        "for another one: a slow referee can hold up the offer for everybody.",
    ),
    TaskKind.CONFIRM_START: TaskText(
        title="Confirm that {candidate} started on {start_date}",
        why="The role isn't the candidate's until they have walked through the door on their first "
        "day. Check that they started, or find out what happened.",
    ),
    TaskKind.CLOSURE_FEEDBACK: TaskText(
        title="Talk {candidate} through the outcome ({reason})",
        why="Don't sever ties: give honest feedback, point them at thank-you notes to "
        "{interviewers} (and a LinkedIn connection), and keep the relationship for the next opportunity.",
    ),
    TaskKind.FACE_TO_FACE: TaskText(
        title="Meet {candidate} face to face",
        why="You have not met in person yet. The stronger the relationship, the more likely they are "
        "to come back to you, and you to them, with the next opportunity.",
    ),
    TaskKind.CHECK_IN: TaskText(
        title="Check in with {candidate}: {occasion}",
        why="Don't sever ties: a specialist recruiter helps a candidate for years. Ask how things "
        "are going and what they are looking for now.",
    ),
    TaskKind.ESCALATION: TaskText(
        title="Overdue: {what} (assigned to {recruiter})",
        why="A recruiter task passed its escalation window. Check with the recruiter: the candidate "
        "and the client are waiting on it.",
    ),
    TaskKind.CHASE_CLIENT: TaskText(
        title="Chase {client} for a decision on {candidate} ({role})",
        why="{client} has had no decision on {candidate} for {role} for {waited} since the debrief "
        "of {interview}. Call the hiring manager: where are they, what is holding it up, when will "
        "they decide, and can they give feedback now? A silent client loses a good candidate to a "
        "faster offer; tell the candidate what you heard.",
    ),
    TaskKind.CHASE_CONTRACT: TaskText(
        title="Chase {candidate}'s contract with {client} ({role})",
        why="{candidate} accepted the offer {waited} ago and the contract is not signed yet. The role "
        "isn't theirs until the contract is in hand: find out from {client} whether it has been sent, "
        "and from {candidate} whether anything in it is holding them up. A stalled contract is how "
        "offers fall through.",
    ),
    TaskKind.CHASE_VETTING: TaskText(
        title="Chase {candidate}'s vetting before their first day on {start_date}",
        why="{candidate} starts with {client} on {start_date} and the vetting is still open. Find out "
        "what is outstanding (references, documents, checks) and who is waiting on whom: a first "
        "day that slips because of vetting loses goodwill on both sides.",
    ),
    TaskKind.NEXT_ROLE: TaskText(
        title="Line up {candidate}'s next opportunities: {client} withdrew the offer",
        why="{client} withdrew the offer for {role} ({reason}). {candidate} kept their search going on "
        "your advice: call them today, tell them what you know, and put the roles that fit in "
        "front of them while their other processes are still warm.",
    ),
    TaskKind.REOPEN_ROLE: TaskText(
        title="Re-open the search for {client}'s {role}",
        why="The placement of {candidate} fell through ({reason}). Tell {client} what happened and "
        "what you propose, and go back to the shortlist: the runners-up from this process may "
        "still be available.",
    ),
    TaskKind.REFEREE_DECLINED: TaskText(
        title="{referee} can't give {candidate} a reference",
        why="{referee} ({relationship}) declined to give a reference{declined_reason}. {next_step} A referee "
        "added later (in the ATS, or `referee.added`) gets their own reference check; the others go on as they were.",
    ),
    TaskKind.NURTURE_CALL: TaskText(
        title="Call {candidate} this week: they are open to opportunities",
        why="{candidate} answered your check-in: they are open to opportunities. "
        "Call while it is fresh: what they want now (role, money, location, timing), and which of "
        "your open roles fit. A candidate who says 'I'm looking' is talking to other agencies too.",
    ),
}


class TaskOutcome(StrEnum):
    """What a recruiter says happened when they complete a task."""

    DEBRIEFED = "debriefed"
    CONSENTED = "consented"
    REFERENCE_RECEIVED = "reference_received"
    CHASED = "chased"
    STARTED = "started"
    DID_NOT_START = "did_not_start"
    DONE = "done"
    # The referee told the recruiter they can't give a reference: `referee.declined` (the note is the reason).
    REFEREE_DECLINED = "referee_declined"


# The outcomes a recruiter may choose for each kind of task, the first being the usual one.
TASK_OUTCOMES: dict[TaskKind, tuple[TaskOutcome, ...]] = {
    TaskKind.BOOK_DEBRIEF: (TaskOutcome.DEBRIEFED,),
    TaskKind.URGENT_DEBRIEF: (TaskOutcome.DEBRIEFED,),
    TaskKind.SEND_FEEDBACK: (TaskOutcome.DONE,),
    TaskKind.BRIEF_CANDIDATE: (TaskOutcome.DONE,),
    TaskKind.REFEREE_CONSENT: (TaskOutcome.CONSENTED, TaskOutcome.CHASED, TaskOutcome.REFEREE_DECLINED),
    TaskKind.REFEREE_OVERDUE: (TaskOutcome.REFERENCE_RECEIVED, TaskOutcome.CHASED, TaskOutcome.REFEREE_DECLINED),
    TaskKind.CONFIRM_START: (TaskOutcome.STARTED, TaskOutcome.DID_NOT_START),
    TaskKind.CLOSURE_FEEDBACK: (TaskOutcome.DONE,),
    TaskKind.FACE_TO_FACE: (TaskOutcome.DONE,),
    TaskKind.CHECK_IN: (TaskOutcome.DONE,),
    TaskKind.ESCALATION: (TaskOutcome.DONE,),
    TaskKind.CHASE_CLIENT: (TaskOutcome.DONE,),
    TaskKind.CHASE_CONTRACT: (TaskOutcome.DONE,),
    TaskKind.CHASE_VETTING: (TaskOutcome.DONE,),
    TaskKind.NEXT_ROLE: (TaskOutcome.DONE,),
    TaskKind.REOPEN_ROLE: (TaskOutcome.DONE,),
    TaskKind.REFEREE_DECLINED: (TaskOutcome.DONE,),
    TaskKind.NURTURE_CALL: (TaskOutcome.DONE,),
}

# Outcomes that are facts for the process (a debrief, a referee's consent or reference, a first
# day): the task is done only once the process has accepted them. A plain "done" still tells the
# process, so its status stops listing the task, but a closed process need not hear of it.
RESULTS_FOR_PROCESS = frozenset(
    {
        TaskOutcome.DEBRIEFED,
        TaskOutcome.CONSENTED,
        TaskOutcome.REFERENCE_RECEIVED,
        TaskOutcome.CHASED,
        TaskOutcome.STARTED,
        TaskOutcome.DID_NOT_START,
        TaskOutcome.REFEREE_DECLINED,
    }
)


class TaskCompletion(BaseModel):
    """A recruiter completed a task: the `complete_task` update's input."""

    key: str
    kind: TaskKind
    outcome: TaskOutcome
    completed_by: str = Field(description="The user id of whoever completed it (never a name).")
    note: MultiLineText | None = Field(default=None, max_length=4000)
    debrief: dict[str, Any] | None = Field(default=None, description="The debrief form, for outcome 'debriefed'.")
    context: dict[str, str] = Field(default_factory=dict, description="The task's context as the process gave it.")


class TaskCompletionResult(BaseModel):
    key: str
    outcome: TaskOutcome
    stage: str
    message: str


class Assignee(BaseModel):
    """Somebody inside the company who receives tasks (a recruiter or their lead)."""

    id: str
    name: str | None = None
    email: str | None = None
    lead_id: str | None = Field(default=None, description="The recruiter's lead, who sees the recruiter's tasks too.")


class TaskRequest(BaseModel):
    key: str = Field(description="Idempotency key: workflow, purpose, round.")
    process_id: str = Field(description="The workflow id of the post-interview (or relationship) process.")
    application_id: str | None = None
    kind: TaskKind
    assignee: Assignee
    due_at: AwareDatetime
    context: dict[str, str] = Field(default_factory=dict)


class TaskResolution(BaseModel):
    keys: list[str]
    status: Literal["done", "cancelled"]
    outcome: str


class ProcessTasksCancellation(BaseModel):
    """Cancel every open task of a process (its referee checks' included): it no longer needs them."""

    process_id: str
    reason: str


class OpenTasksUpdate(BaseModel):
    """People an ids-only event had only assumed are now known: the process's open tasks move
    from the stand-in to the real recruiter and take the names (`update_open_tasks`)."""

    process_id: str
    from_assignee_id: str = Field(description="Tasks assigned to this stand-in move; others (a lead's escalation, a task given to somebody else) keep their assignee.")
    assignee: Assignee
    context: dict[str, str] = Field(description="The names as the process now knows them: merged into each task's context, its title and text rendered again.")


class TaskUpdate(BaseModel):
    """One open task's context takes these entries; its title and text are rendered again
    (`update_recruiter_task`: the feedback task gets the debrief it waited for)."""

    key: str
    context: dict[str, str]
    action: str = Field(default="updated", description="What its history line says happened.")


class DebriefNote(BaseModel):
    """The candidate's debrief of a round, to be noted on the application's ATS record
    (`write_debrief_note`), once: `key` is the process's, the round's and the purpose's."""

    key: str
    process_id: str
    source: str
    application_id: str
    round: int
    author_id: str = Field(description="Who the note is written as (the recruiter's id in the ATS).")
    context: dict[str, str] = Field(description="candidate, client, recruiter, and the debrief (domain.debrief.feedback_context).")


class Recipient(BaseModel):
    role: Literal["candidate", "referee", "recruiter", "lead"]
    id: str
    name: str | None = None
    email: str | None = None


class MessageRequest(BaseModel):
    key: str
    process_id: str
    application_id: str | None = None
    recipient: Recipient
    template: str = Field(description="Name of a template under activities/templates, without '.txt.j2'.")
    context: dict[str, str] = Field(default_factory=dict)
    send_after: datetime | None = Field(default=None, description="Not before this instant: quiet hours in the recipient's time zone.")


class StoredTask(BaseModel):
    """What the store holds for a task (returned by the activities and the CLI).

    Fields added after the first release have defaults: recorded workflow histories hold
    results without them, and must still decode on replay."""

    id: int | None = None
    key: str
    process_id: str
    application_id: str | None
    kind: str
    title: str
    instructions: str
    assignee_id: str
    due_at: datetime
    status: str
    created_at: datetime
    resolved_at: datetime | None = None
    outcome: str | None = None
    context: dict[str, str] | None = None
    snoozed_until: datetime | None = None
    resolved_by: str | None = None
    client: str | None = None


class TaskEvent(BaseModel):
    """One line of a task's history."""

    at: datetime
    actor: str
    action: str
    detail: dict[str, Any] | None = None


class StoredMessage(BaseModel):
    key: str
    process_id: str
    recipient_role: str
    recipient_id: str
    recipient_email: str | None
    subject: str
    body: str
    send_after: datetime | None
    status: str
    created_at: datetime
    # Added with opt-out (defaults: recorded results without them still decode).
    candidate_source: str | None = Field(default=None, description="A candidate's ATS source: their contact preference's key with recipient_id.")
    list_unsubscribe: str | None = Field(default=None, description="The message's signed opt-out link (the email's List-Unsubscribe).")


class EnrichmentRequest(BaseModel):
    """Ask the ATS who is behind an application that arrived with ids only."""

    source: str
    application_id: str
    candidate_id: str


class Enrichment(BaseModel):
    """What the vendor knows; None where it knows nothing (or no API key is configured)."""

    candidate: Candidate | None = None
    recruiter: Recruiter | None = None
    note: str | None = None
