"""The timeline of a simulated application: who got what, when, in a recruiter's words.

Built from the workflows' histories (the simulated instant of every event received, debrief
recorded, task created or closed, message queued) and the store (each task's title and final
status). Times are shown in the office's time zone as "day N", counted from day 0.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cli.simulation.runner import Fact, SimulationRecord
from domain import names
from domain.contact import NurtureAnswer, NurtureAnswerKind
from domain.events import CanonicalEvent, EventType
from domain.debrief import feedback_debrief
from domain.follow_through import DebriefNote, MessageRequest, ProcessTasksCancellation, TaskKind, TaskRequest, TaskResolution, TaskUpdate
from domain.status import Handover

EVENTS = "ATS events"
RECRUITER = "Recruiter"
LEAD = "Recruiter's lead"
CANDIDATE = "Candidate"
RELATIONSHIP = "Relationship"

# What each kind of entry is, for the text and the picture's legend.
KINDS = {
    "event": "what happened (ATS event, debrief recorded)",
    "milestone": "references requested, offer, contract, vetting, first day, close",
    "task": "task for the recruiter (bar: until due or closed)",
    "message": "message queued",
    "reminder": "reminder",
    "escalation": "escalation, overdue",
    "done": "task closed",
    "close-out": "close-out, hand-over",
    "note": "note",
}

_TASK_LABELS = {
    TaskKind.BOOK_DEBRIEF: "book debrief call (round {round})",
    TaskKind.URGENT_DEBRIEF: "urgent debrief (round {round})",
    TaskKind.SEND_FEEDBACK: "send feedback to the client",
    TaskKind.BRIEF_CANDIDATE: "brief before round {round}",
    TaskKind.REFEREE_CONSENT: "check {referee_id}'s consent",
    TaskKind.REFEREE_OVERDUE: "{referee_id} overdue",
    TaskKind.CONFIRM_START: "confirm the first day",
    TaskKind.CLOSURE_FEEDBACK: "closure feedback call",
    TaskKind.FACE_TO_FACE: "meet face to face",
    TaskKind.CHECK_IN: "check-in: {occasion}",
    TaskKind.ESCALATION: "overdue: {what}",
    TaskKind.CHASE_CLIENT: "chase the client for a decision",
    TaskKind.CHASE_CONTRACT: "chase the unsigned contract",
    TaskKind.CHASE_VETTING: "chase the open vetting",
    TaskKind.NEXT_ROLE: "line up the candidate's next role",
    TaskKind.REOPEN_ROLE: "re-open the role",
    TaskKind.REFEREE_DECLINED: "{referee_id} declined",
    TaskKind.NURTURE_CALL: "call: open to opportunities",
}

_TEMPLATE_LABELS = {
    "debrief_questions": "debrief questions",
    "client_decision_pending": "no news yet from the client",
    "contract_pending": "sign and return the contract",
    "vetting_pending": "finish the vetting",
    "offer_withdrawn": "the offer is withdrawn, next steps",
    "reneged_door_open": "thanks for letting us know, door open",
    "interview_preparation": "interview preparation",
    "keep_searching": "keep other interviews going",
    "closure_next_steps": "next steps, thank-you notes",
    "referee_consent_request": "consent request",
    "referee_request": "reference request",
    "referee_no_longer_needed": "no longer needed",
    "referee_replacement_request": "asked for another referee",
    "recruiter_reminder": "reminder: {what} due",
    "feedback_debrief_in": "the debrief is in: send it",
    "nurture_check_in": "check-in, with three answers",
}

_ANSWERS = {
    NurtureAnswerKind.OPEN: "I'm open to opportunities",
    NurtureAnswerKind.NOT_NOW: "not now",
    NurtureAnswerKind.STOP: "stop contacting me (opted out)",
}


@dataclass(frozen=True)
class Entry:
    at: datetime
    lane: str
    kind: str
    label: str  # short, for the picture
    text: str  # the whole line, for the text version
    key: str | None = None  # a task's key
    due: datetime | None = None  # a task's due time
    closed: datetime | None = None  # when the task was closed (done or cancelled)
    status: str | None = None  # the task's final status in the store


@dataclass(frozen=True)
class Timeline:
    record: SimulationRecord
    entries: list[Entry]
    lanes: list[str]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.record.office.timezone)

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.tz)

    def day(self, at: datetime) -> int:
        return (self.local(at).date() - self.local(self.record.day0).date()).days

    def offset(self, at: datetime) -> str:
        return f"day {self.day(at)} {self.local(at):%H:%M}"

    def days(self, at: datetime) -> float:
        """Days since day 0's midnight (office time): the picture's x axis."""
        midnight = self.local(self.record.day0).replace(hour=0, minute=0, second=0, microsecond=0)
        return (self.local(at) - midnight).total_seconds() / 86400

    @property
    def span_days(self) -> int:
        return self.day(self.record.end)


def build(record: SimulationRecord) -> Timeline:
    day0 = record.day0
    tz = ZoneInfo(record.office.timezone)

    def offset(at: datetime) -> str:
        local = at.astimezone(tz)
        return f"day {(local.date() - day0.astimezone(tz).date()).days} {local:%H:%M}"

    notes = {f"simulation-{record.scenario.application.id}-step-{p.index}": p.step.note for p in record.planned if p.step.note}
    debrief_notes = [p.step.note for p in record.accepted_debriefs]
    lead_id = record.scenario.application.recruiter.lead.id if record.scenario.application.recruiter.lead else None
    entries: list[Entry] = []
    tasks: dict[str, Entry] = {}
    # Which process gave each task (a relationship's check-ins carry their application's keys).
    owners: dict[str, str] = {}

    def close(key: str, at: datetime, outcome: str, status: str) -> None:
        task = tasks.get(key)
        if task is None or task.closed is not None:
            return
        stored = record.tasks.get(key)
        final = stored.status if stored else status
        tasks[key] = replace(task, closed=at, status=final)
        verb = "cancelled" if final == names.TASK_CANCELLED else "done"
        entries.append(Entry(at, task.lane, "done", f"{verb}: {task.label}", f"{verb}: {task.label} ({outcome})", key=key))

    for fact in record.facts:
        at = fact.at
        match fact.kind, fact.value:
            case "event", CanonicalEvent() as event:
                label = _event_label(event, offset)
                note = notes.get(event.event_id)
                kind = "milestone" if event.type in names.MILESTONES else "event"
                entries.append(Entry(at, EVENTS, kind, label, f"{event.type.value}: {label}" + (f"  ({note})" if note else "")))
            case "answer", NurtureAnswer() as answer:
                label = f"answered: {_ANSWERS[answer.answer]}"
                note = notes.get(answer.answer_id)
                entries.append(Entry(at, CANDIDATE, "event", label, f"the candidate answered the check-in: {_ANSWERS[answer.answer]}" + (f"  ({note})" if note else "")))
            case "debrief", dict() as debrief:
                round_ = f" (round {debrief['round']})" if debrief.get("round") else ""
                note = debrief_notes.pop(0) if debrief_notes else None
                text = f"debrief recorded by the recruiter{round_}, interest {debrief.get('interest')}/5" + (f"  ({note})" if note else "")
                entries.append(Entry(at, EVENTS, "event", f"debrief recorded{round_}", text))
            case "activity", TaskRequest() as request:
                label = _task_label(request)
                if fact.name == names.ESCALATE_TO_LEAD:
                    lane = LEAD if request.assignee.id == lead_id else RECRUITER
                    kind = "escalation"
                else:
                    lane = RECRUITER
                    kind = "escalation" if request.kind == TaskKind.REFEREE_OVERDUE else "task"
                owners[request.key] = request.process_id
                stored = record.tasks.get(request.key)
                title = stored.title if stored else label
                entry = Entry(at, lane, kind, label, f'task "{title}" for {request.assignee.id}, due {offset(request.due_at)}', key=request.key, due=request.due_at, status=stored.status if stored else names.TASK_OPEN)
                tasks[request.key] = entry
                if fact.name == names.ESCALATE_TO_LEAD:
                    entry = replace(entry, text=entry.text + f"; {request.assignee.id} is told by message too")
                    tasks[request.key] = entry
            case "activity", MessageRequest() as message:
                entries.append(_message_entry(fact, message, offset))
            case "activity", TaskUpdate() as update:
                carried = feedback_debrief(update.context)
                if carried is not None and carried.status == "in" and update.key in tasks:
                    label = f"the feedback task gets the debrief ({update.action})"
                    entries.append(Entry(at, RECRUITER, "task", label, f'{label}: interest {carried.interest}/5, {len(carried.questions_for_client)} question(s) for the client', key=None))
            case "activity", DebriefNote() as note:
                entries.append(Entry(at, EVENTS, "note", f"debrief of round {note.round} noted in the ATS", f"debrief of round {note.round} noted on the {note.source} record (where ATS_NOTES names it), once"))
            case "activity", TaskResolution() as resolution:
                for key in resolution.keys:
                    close(key, at, resolution.outcome, resolution.status)
            case "activity", ProcessTasksCancellation() as cancellation:
                pid = cancellation.process_id
                closing = [
                    key
                    for key, task in tasks.items()
                    if task.closed is None and (key.startswith(f"{pid}/") or key.startswith(f"{pid}-referee-") or owners.get(key) == pid)
                ]
                for key in closing:
                    close(key, at, cancellation.reason, names.TASK_CANCELLED)
                entries.append(
                    Entry(at, RECRUITER, "close-out", "open tasks cancelled", f"close-out ({cancellation.reason}): {len(closing)} open task(s) cancelled")
                )
            case "activity", Handover() as handover:
                plans = ", ".join(f"{c.occasion} ({offset(c.at)})" for c in handover.check_ins)
                entries.append(
                    Entry(at, RELATIONSHIP, "close-out", f"handed over ({handover.outcome})", f"handed over to the relationship process ({handover.outcome}); check-ins: {plans}")
                )
    # Tasks go in with their final state (closed time, status), at their creation time.
    entries.extend(tasks.values())
    for at, text in record.notes:
        entries.append(Entry(at, EVENTS, "note", text, text))
    entries.sort(key=lambda e: (e.at, _ORDER.get(e.kind, 9)))
    present = {e.lane for e in entries}
    referee_lanes = sorted((lane for lane in present if lane.startswith("Referee ")), key=_referee_order(record))
    ordered = [lane for lane in (EVENTS, RECRUITER, LEAD, CANDIDATE) if lane in present] + referee_lanes
    ordered += sorted(present - set(ordered) - {RELATIONSHIP}) + ([RELATIONSHIP] if RELATIONSHIP in present else [])
    return Timeline(record, entries, ordered)


_ORDER = {"event": 0, "milestone": 0, "note": 1, "done": 2, "task": 3, "escalation": 3, "message": 4, "reminder": 4, "close-out": 5}


def _referee_order(record: SimulationRecord):  # noqa: ANN202 - a sort key
    ids = [r.id for r in record.scenario.referees]
    return lambda lane: ids.index(lane.removeprefix("Referee ")) if lane.removeprefix("Referee ") in ids else len(ids)


_CLOSING_VERBS = {
    EventType.CANDIDATE_REJECTED: "rejected",
    EventType.CANDIDATE_WITHDREW: "withdrew",
    EventType.OFFER_WITHDRAWN: "offer withdrawn",
    EventType.VETTING_FAILED: "vetting failed",
    EventType.CANDIDATE_RENEGED: "candidate reneged",
}


def _event_label(event: CanonicalEvent, offset) -> str:  # noqa: ANN001 - a formatter
    data = event.data
    match event.type:
        case EventType.INTERVIEW_COMPLETED:
            return f"interview round {data.round}"  # type: ignore[union-attr]
        case EventType.INTERVIEW_SCHEDULED:
            return f"round {data.round} booked for {offset(data.at)}"  # type: ignore[union-attr]
        case EventType.CANDIDATE_DEBRIEFED:
            return "debrief from the ATS"
        case EventType.CLIENT_FEEDBACK_REQUESTED:
            return "client asks for feedback"
        case EventType.REFERENCES_REQUESTED:
            names = ", ".join(r.id for r in data.referees)  # type: ignore[union-attr]
            required = ", before any offer" if data.required_before_offer else ""  # type: ignore[union-attr]
            return f"references requested ({names}{required})"
        case EventType.REFEREE_CONSENTED:
            return f"{data.referee_id} agrees"  # type: ignore[union-attr]
        case EventType.REFEREE_RESPONDED:
            return f"{data.referee_id} sends reference"  # type: ignore[union-attr]
        case EventType.REFEREE_DECLINED:
            return f"{data.referee_id} declines"  # type: ignore[union-attr]
        case EventType.REFEREE_ADDED:
            return f"referee {data.referee.id} added"  # type: ignore[union-attr]
        case EventType.OFFER_EXTENDED | EventType.OFFER_ACCEPTED:
            verb = "offer made" if event.type == EventType.OFFER_EXTENDED else "offer accepted"
            return f"{verb}, start {data.start_date:%d %b}" if data.start_date else verb  # type: ignore[union-attr]
        case EventType.CONTRACT_SIGNED:
            return "contract signed"
        case EventType.VETTING_PASSED:
            return "vetting passed"
        case EventType.CANDIDATE_STARTED:
            return "first day: placed"
        case EventType.CANDIDATE_REJECTED | EventType.CANDIDATE_WITHDREW | EventType.OFFER_WITHDRAWN | EventType.VETTING_FAILED | EventType.CANDIDATE_RENEGED:
            verb = _CLOSING_VERBS[event.type]
            return f"{verb}: {data.reason}" if data.reason else verb  # type: ignore[union-attr]
    return event.type.value


def _task_label(request: TaskRequest) -> str:
    context = {"round": request.context.get("round", "?"), "occasion": request.context.get("occasion", ""), "what": request.context.get("what", "a task")}
    # A referee check's key ends with its referee: post-interview-api-x-referee-ref-a/overdue.
    context["referee_id"] = request.context.get("referee_id") or (request.process_id.rsplit("-referee-", 1)[-1] if "-referee-" in request.process_id else "referee")
    return _TASK_LABELS.get(request.kind, request.kind.value).format(**context)


def _message_entry(fact: Fact, message: MessageRequest, offset) -> Entry:  # noqa: ANN001 - a formatter
    purpose = message.key.rsplit("/", 1)[-1]
    role = message.recipient.role
    if fact.name == names.CONTACT_REFEREE:
        lane = f"Referee {message.recipient.id}"
    else:
        lane = {"candidate": CANDIDATE, "recruiter": RECRUITER, "lead": LEAD}.get(role, role)
    kind = "message"
    if message.template == "referee_reminder":
        kind, label = "reminder", f"reminder {purpose}"
    elif message.template == "recruiter_reminder":
        kind = "reminder"
        label = _TEMPLATE_LABELS["recruiter_reminder"].format(what=message.context.get("what", "a task"))
    elif message.template == "referee_nudge":
        referee = message.process_id.rsplit("-referee-", 1)[-1]
        kind, label = "reminder", f"nudge {referee}" + (" (consent)" if purpose == "consent-nudge" else "")
    else:
        label = _TEMPLATE_LABELS.get(message.template, message.template.replace("_", " "))
    if message.template == "referee_request" and "deadline" in message.context:
        label += f" (deadline {offset(datetime.fromisoformat(message.context['deadline']))})"
    text = f"{kind} to the {role} {message.recipient.id}: {label} [{message.template}]"
    if message.send_after is not None and message.send_after - fact.at > timedelta(minutes=1):
        text += f", held for quiet hours until {offset(message.send_after)}"
    return Entry(fact.at, lane, kind, label, text)


# --- the text version --------------------------------------------------------------------------


def text_lines(timeline: Timeline) -> list[str]:
    """The timeline as plain lines, one per entry, grouped by week."""
    record = timeline.record
    policy = record.policy
    office = policy.office
    scenario = record.scenario
    day0 = timeline.local(record.day0)
    lines = [
        f"{scenario.title}: application {scenario.application.id} from {scenario.application.source} (process {scenario.workflow_id})",
        f"Policy for client {scenario.application.client.id}: {policy.calendar} calendar, office {office.timezone} "
        f"{office.workday_start:%H:%M}-{office.workday_end:%H:%M}; debrief due in {policy.debrief_due_business_hours:g} business hours, "
        f"referees get {policy.referee_deadline_business_days} business days, reminded every {policy.referee_reminder_every_business_days}"
        + (f"; {policy.references_needed} reference(s) are enough." if policy.references_needed else "."),
        f"Day 0 is {day0:%A %d %B %Y %H:%M} ({office.timezone}): {record.start_reason}. Simulated until {timeline.offset(record.end)}.",
    ]
    width = max((len(e.lane) for e in timeline.entries), default=10)
    week = None
    for entry in timeline.entries:
        day = timeline.day(entry.at)
        if day // 7 != week:
            week = day // 7
            first = day0.date() + timedelta(days=7 * week)
            lines += ["", f"Week {week + 1}: day {7 * week}-{7 * week + 6}, {first:%a %d %b} - {first + timedelta(days=6):%a %d %b}"]
        text = entry.text
        if entry.key is not None and entry.kind != "done":
            text += _task_outcome(timeline, entry)
        lines.append(f"  day {day:>2}  {timeline.local(entry.at):%a %H:%M}  {entry.lane:<{width}}  {entry.kind:<10}  {text}")
    lines += ["", *summary_lines(timeline)]
    return lines


def _task_outcome(timeline: Timeline, entry: Entry) -> str:
    if entry.closed is not None:
        late = " (after its due time)" if entry.due and entry.closed > entry.due else ""
        return f" -> {entry.status} {timeline.offset(entry.closed)}{late}"
    if entry.due is not None and entry.due < timeline.record.end:
        return " -> still open, overdue"
    return " -> still open"


def summary_lines(timeline: Timeline) -> list[str]:
    record = timeline.record
    lines = [f"At the end ({timeline.offset(record.end)}):"]
    status = record.status
    if status is not None:
        lines.append(f"  stage {status.stage.value}; waiting for {status.waiting_for}")
        lines.append(f"  SLA breached: {'yes' if status.sla_breached else 'no'}; offer blocked: {'yes' if status.offer_blocked else 'no'}")
        if status.references is not None:
            lines.append(f"  references: {status.references.text}")
        for referee in status.referees:
            lines.append(f"  referee {referee.id}: {referee.state.value}, {referee.reminders_sent} reminder(s)")
    statuses = Counter(t.status for t in record.tasks.values())
    roles = Counter(m.recipient_role for m in record.messages.values())
    lines.append(
        f"  tasks: {len(record.tasks)} ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items())) or 'none'}); "
        f"messages: {len(record.messages)} ({', '.join(f'{n} to {r}' for r, n in sorted(roles.items())) or 'none'})"
    )
    return lines
