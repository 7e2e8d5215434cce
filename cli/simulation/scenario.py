"""The scenario file: one application's story, as the ATS would tell it, at offsets in time.

A scenario is TOML (like the timing policy) and names its application's parties once; its steps
are canonical events (or a debrief the recruiter records) at `at = "day 2 14:30"` (office time,
counted in calendar days from day 0) or `after = "3 business days"` (after the step before it,
in the office's business time). The data of each event is given by the few keys its type takes
(`round`, `referees`, `referee`, `start_date`, ...), so the file reads as the story it is:

    [[steps]]
    after = "2 business days"
    event = "references.requested"
    referees = ["ref-quiet"]

Everything is checked before any server starts: an error names the file, the step and the field.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from domain.business_time import Calendar, add_business_days, add_business_hours
from domain.contact import NurtureAnswerKind
from domain.contract import post_interview_workflow_id
from domain.debrief import Debrief
from domain.errors import describe_validation_error
from domain.events import CanonicalEvent, Candidate, Client, EventType, Identifier, Job, Recruiter, Referee


class ScenarioError(Exception):
    """A scenario that cannot be run; the message names the file and the field."""


_DAY = re.compile(r"^day\s+(\d{1,3})(?:\s+(\d{1,2}):(\d{2}))?$", re.IGNORECASE)
_AFTER = re.compile(r"^(\d+(?:\.\d+)?)\s+(business\s+)?(minute|hour|day|week)s?$", re.IGNORECASE)
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_START = re.compile(r"^(?:(" + "|".join(_WEEKDAYS) + r")|(\d{4}-\d{2}-\d{2}))\s+(\d{1,2}):(\d{2})$", re.IGNORECASE)

# The longest a simulation may run: a year and a bit covers a rejected candidate's 365-day check-in.
MAX_DAYS = 400


def _day_offset(value: str) -> str:
    match = _DAY.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a day offset: write 'day 3' or 'day 3 14:30' (office time)")
    if match.group(2) is not None:
        _clock(match.group(2), match.group(3), value)
    if int(match.group(1)) > MAX_DAYS:
        raise ValueError(f"{value!r} is beyond day {MAX_DAYS}")
    return value.strip()


def _duration(value: str) -> str:
    if not _AFTER.match(value.strip()):
        raise ValueError(
            f"{value!r} is not a duration: write e.g. '2 hours', '3 business days', '4 business hours', '1 week'"
        )
    return value.strip()


def _clock(hours: str, minutes: str, value: str) -> time:
    try:
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{value!r}: {hours}:{minutes} is not a time of day") from None


class Step(BaseModel):
    """One thing that happens to the application: a canonical event, or a debrief recorded."""

    model_config = ConfigDict(extra="forbid")

    at: str | None = Field(default=None, description="When, from day 0: 'day 2' (at the start's time of day) or 'day 2 14:30' (office time).")
    after: str | None = Field(default=None, description="When, after the step before: '2 hours', '3 business days', '1 week'.")
    event: EventType | None = Field(default=None, description="The canonical event's type; omit it with `debrief` to record a debrief through the update.")
    note: str | None = Field(default=None, description="Shown on the timeline beside the step.")

    # The event's data, by type.
    round: int | None = Field(default=None, ge=1)
    interview_at: str | None = Field(default=None, description="interview.*: when the interview is (or was): 'day 9 14:00'; the step's time when omitted.")
    interviewers: list[str] | None = Field(default=None, description="interview.*: the panel's names, as the ATS gives them.")
    referees: list[str] | None = Field(default=None, description="references.requested: ids from [[referees]].")
    required_before_offer: bool | None = None
    referee: str | None = Field(default=None, description="referee.*: an id from [[referees]] (referee.added: the referee named).")
    replaces: str | None = Field(default=None, description="referee.added: the referee (from [[referees]]) this one replaces.")
    start_date: str | None = Field(default=None, description="offer.* and candidate.started: 'day 28'.")
    reason: str | None = None
    met_in_person: bool | None = None
    debrief: Debrief | None = Field(default=None, description="candidate.debriefed's data, or (without `event`) a debrief the recruiter records.")
    answer: NurtureAnswerKind | None = Field(default=None, description="(alone) the candidate's answer to their latest check-in: open, not_now or stop.")

    _check_at = field_validator("at", "interview_at", "start_date")(lambda cls, v: None if v is None else _day_offset(v))
    _check_after = field_validator("after")(lambda cls, v: None if v is None else _duration(v))

    @model_validator(mode="after")
    def _fits(self) -> Step:
        if (self.at is None) == (self.after is None):
            raise ValueError("give exactly one of `at` ('day 2 14:30') and `after` ('3 business days')")
        if self.answer is not None:
            if self.event is not None or self.debrief is not None:
                raise ValueError("`answer` (the candidate's answer to a check-in) stands alone: no `event` or `debrief` with it")
            return self
        if self.event is None and self.debrief is None:
            raise ValueError("give `event` (a canonical event type), `debrief` (recorded by the recruiter) or `answer` (to a check-in)")
        takes = _TAKES[self.event] if self.event is not None else {"debrief"}
        given = {name for name in _DATA_FIELDS if getattr(self, name) is not None}
        extra = sorted(given - takes)
        if extra:
            what = self.event.value if self.event else "a recorded debrief"
            allowed = ", ".join(sorted(takes)) or "nothing"
            raise ValueError(f"{', '.join(extra)} does not apply to {what} (it takes: {allowed})")
        missing = sorted(_REQUIRED.get(self.event, set()) - given) if self.event else []
        if missing:
            raise ValueError(f"{self.event.value} needs {', '.join(missing)}")  # type: ignore[union-attr]
        return self

    @property
    def label(self) -> str:
        if self.answer is not None:
            return f"check-in answered: {self.answer.value}"
        return self.event.value if self.event else "debrief recorded"


_DATA_FIELDS = ("round", "interview_at", "interviewers", "referees", "required_before_offer", "referee", "replaces", "start_date", "reason", "met_in_person", "debrief")
_TAKES: dict[EventType, set[str]] = {
    EventType.INTERVIEW_COMPLETED: {"round", "interview_at", "interviewers"},
    EventType.INTERVIEW_SCHEDULED: {"round", "interview_at", "interviewers"},
    EventType.CANDIDATE_DEBRIEFED: {"debrief"},
    EventType.CLIENT_FEEDBACK_REQUESTED: set(),
    EventType.REFERENCES_REQUESTED: {"referees", "required_before_offer"},
    EventType.REFEREE_CONSENTED: {"referee"},
    EventType.REFEREE_RESPONDED: {"referee"},
    EventType.REFEREE_DECLINED: {"referee", "reason"},
    EventType.REFEREE_ADDED: {"referee", "replaces"},
    EventType.OFFER_EXTENDED: {"start_date"},
    EventType.OFFER_ACCEPTED: {"start_date"},
    EventType.CONTRACT_SIGNED: set(),
    EventType.VETTING_PASSED: set(),
    EventType.CANDIDATE_STARTED: {"start_date"},
    EventType.CANDIDATE_REJECTED: {"reason", "met_in_person"},
    EventType.CANDIDATE_WITHDREW: {"reason", "met_in_person"},
    EventType.OFFER_WITHDRAWN: {"reason", "met_in_person"},
    EventType.VETTING_FAILED: {"reason", "met_in_person"},
    EventType.CANDIDATE_RENEGED: {"reason", "met_in_person"},
}
_REQUIRED: dict[EventType | None, set[str]] = {
    EventType.INTERVIEW_COMPLETED: {"round"},
    EventType.INTERVIEW_SCHEDULED: {"round", "interview_at"},
    EventType.CANDIDATE_DEBRIEFED: {"debrief"},
    EventType.REFERENCES_REQUESTED: {"referees"},
    EventType.REFEREE_CONSENTED: {"referee"},
    EventType.REFEREE_RESPONDED: {"referee"},
    EventType.REFEREE_DECLINED: {"referee"},
    EventType.REFEREE_ADDED: {"referee"},
}


class Application(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = "api"
    id: Identifier
    candidate: Candidate
    recruiter: Recruiter
    client: Client
    job: Job | None = None


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    description: str = ""
    start: str = Field(
        default="monday 09:00",
        description="Day 0: a weekday and office time ('monday 09:00': the next one with no public holiday in the "
        "first weeks) or a date in the future ('2027-03-01 09:00').",
    )
    until: str | None = Field(default=None, description="How far to simulate: 'day 21'; 14 days after the last step when omitted.")
    application: Application
    referees: list[Referee] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)
    policy: dict[str, Any] = Field(
        default_factory=dict,
        description="The client's policy overrides for this story (e.g. `references_needed = 2`), over POLICY_FILE's.",
    )

    @field_validator("policy")
    @classmethod
    def _check_policy(cls, value: dict[str, Any]) -> dict[str, Any]:
        from domain.policy import TimingPolicy

        TimingPolicy.model_validate(value)  # a typo fails here, naming the key
        return value

    def policy_book(self, book: Any) -> Any:
        """`book` with this scenario's overrides for its client (the book itself without any)."""
        if not self.policy:
            return book
        client = self.application.client.id
        return book.model_copy(update={"clients": {**book.clients, client: {**book.clients.get(client, {}), **self.policy}}})

    @field_validator("start")
    @classmethod
    def _check_start(cls, value: str) -> str:
        match = _START.match(value.strip())
        if not match:
            raise ValueError(f"{value!r} is not a start: write a weekday and a time ('monday 09:00') or a date and a time ('2027-03-01 09:00')")
        _clock(match.group(3), match.group(4), value)
        if match.group(2):
            try:
                date.fromisoformat(match.group(2))
            except ValueError:
                raise ValueError(f"{value!r}: {match.group(2)} is not a date") from None
        return value.strip()

    _check_until = field_validator("until")(lambda cls, v: None if v is None else _day_offset(v))

    @model_validator(mode="after")
    def _referees_known(self) -> Scenario:
        known = {r.id for r in self.referees}
        if len(known) != len(self.referees):
            raise ValueError("two [[referees]] have the same id")
        for index, step in enumerate(self.steps):
            named = [*(step.referees or []), *([step.referee] if step.referee else []), *([step.replaces] if step.replaces else [])]
            unknown = [r for r in named if r not in known]
            if unknown:
                raise ValueError(
                    f"steps[{index}]: referee {', '.join(unknown)} is not in [[referees]] "
                    f"({', '.join(sorted(known)) or 'none defined'})"
                )
        if self.steps[0].at is None:
            raise ValueError("steps[0]: the first step needs `at` ('day 0 09:00'): there is no step before it")
        return self

    @property
    def workflow_id(self) -> str:
        return post_interview_workflow_id(self.application.source, self.application.id)

    def countries(self, office_country: str | None) -> set[str]:
        """Whose public holidays bend the deadlines: the office's, the candidate's, the referees'."""
        found = {office_country, self.application.candidate.country, *(r.country for r in self.referees)}
        return {c for c in found if c}


@dataclass(frozen=True)
class PlannedStep:
    """A step with its instant resolved: what the runner delivers, and when."""

    index: int
    at: datetime
    step: Step
    event: CanonicalEvent | None
    debrief: Debrief | None
    answer: NurtureAnswerKind | None = None


def parse_start(value: str) -> tuple[int | date, time]:
    """('monday 09:00') -> (0, 09:00); ('2027-03-01 09:00') -> (date, 09:00)."""
    match = _START.match(value)
    assert match, "validated"
    clock = time(int(match.group(3)), int(match.group(4)))
    if match.group(1):
        return _WEEKDAYS.index(match.group(1).lower()), clock
    return date.fromisoformat(match.group(2)), clock


def day_moment(offset: str, day0: datetime, office: Calendar) -> datetime:
    """'day 3 14:30' -> that instant: day 0's date + 3, 14:30 office time (day 0's time when omitted)."""
    match = _DAY.match(offset)
    assert match, "validated"
    tz = ZoneInfo(office.timezone)
    local0 = day0.astimezone(tz)
    clock = time(int(match.group(2)), int(match.group(3))) if match.group(2) else local0.time()
    day = local0.date() + timedelta(days=int(match.group(1)))
    return datetime.combine(day, clock, tz).astimezone(ZoneInfo("UTC"))


def day_date(offset: str, day0: datetime, office: Calendar) -> date:
    return day_moment(offset, day0, office).astimezone(ZoneInfo(office.timezone)).date()


def after(duration: str, start: datetime, office: Calendar) -> datetime:
    match = _AFTER.match(duration)
    assert match, "validated"
    amount, business, unit = float(match.group(1)), bool(match.group(2)), match.group(3).lower()
    if business:
        if unit in ("minute", "hour"):
            return add_business_hours(start, amount / 60 if unit == "minute" else amount, office)
        days = amount * (5 if unit == "week" else 1)
        if days != int(days):
            raise ScenarioError(f"{duration!r}: business days are whole days")
        return add_business_days(start, int(days), office)
    return start + timedelta(**{f"{unit}s": amount})


def plan(scenario: Scenario, day0: datetime, office: Calendar) -> list[PlannedStep]:
    """Every step with its instant and the canonical event it delivers. Raises ScenarioError."""
    planned: list[PlannedStep] = []
    referees = {r.id: r for r in scenario.referees}
    previous = day0
    for index, step in enumerate(scenario.steps):
        at = day_moment(step.at, day0, office) if step.at else after(step.after, previous, office)  # type: ignore[arg-type]
        if at < previous:
            raise ScenarioError(
                f"steps[{index}] ({step.label}) is at {_offset(at, day0, office)}, before the step before it "
                f"({_offset(previous, day0, office)}): steps go forward in time"
            )
        previous = at
        event = None
        if step.event is not None:
            try:
                event = CanonicalEvent.model_validate(
                    {
                        "event_id": f"simulation-{scenario.application.id}-step-{index}",
                        "type": step.event,
                        "occurred_at": at,
                        "source": scenario.application.source,
                        "application_id": scenario.application.id,
                        "candidate": scenario.application.candidate,
                        "recruiter": scenario.application.recruiter,
                        "client": scenario.application.client,
                        "job": scenario.application.job,
                        "data": _data(step, at, day0, office, referees),
                    }
                )
            except ValidationError as error:
                raise ScenarioError(f"steps[{index}] ({step.label}): {_problems(error)}") from None
        planned.append(PlannedStep(index, at, step, event, step.debrief if step.event is None else None, step.answer))
    return planned


def _data(step: Step, at: datetime, day0: datetime, office: Calendar, referees: dict[str, Referee]) -> dict[str, Any]:
    match step.event:
        case EventType.INTERVIEW_COMPLETED | EventType.INTERVIEW_SCHEDULED:
            when = day_moment(step.interview_at, day0, office) if step.interview_at else at
            panel = [{"name": name} for name in step.interviewers or []]
            return {"interview_id": f"interview-{step.round}", "round": step.round, "at": when, **({"interviewers": panel} if panel else {})}
        case EventType.REFERENCES_REQUESTED:
            return {
                "referees": [referees[r] for r in step.referees or []],
                "required_before_offer": bool(step.required_before_offer),
            }
        case EventType.REFEREE_CONSENTED | EventType.REFEREE_RESPONDED:
            return {"referee_id": step.referee}
        case EventType.REFEREE_DECLINED:
            return {"referee_id": step.referee, "reason": step.reason}
        case EventType.REFEREE_ADDED:
            return {"referee": referees[step.referee], "replaces": step.replaces}  # type: ignore[index]
        case EventType.OFFER_EXTENDED | EventType.OFFER_ACCEPTED | EventType.CANDIDATE_STARTED:
            return {"start_date": day_date(step.start_date, day0, office) if step.start_date else None}
        case (
            EventType.CANDIDATE_REJECTED
            | EventType.CANDIDATE_WITHDREW
            | EventType.OFFER_WITHDRAWN
            | EventType.VETTING_FAILED
            | EventType.CANDIDATE_RENEGED
        ):
            return {"reason": step.reason, "met_in_person": bool(step.met_in_person)}
        case EventType.CANDIDATE_DEBRIEFED:
            return step.debrief.model_dump() if step.debrief else {}
    return {}


def horizon(scenario: Scenario, planned: list[PlannedStep], day0: datetime, office: Calendar) -> datetime:
    """Where the simulation stops: `until`, or 14 days after the last step."""
    last = planned[-1].at
    if scenario.until is None:
        return last + timedelta(days=14)
    end = day_moment(scenario.until, day0, office)
    if end < last:
        raise ScenarioError(f"until ({scenario.until}) is before the last step ({_offset(last, day0, office)})")
    return end


def _offset(at: datetime, day0: datetime, office: Calendar) -> str:
    tz = ZoneInfo(office.timezone)
    local = at.astimezone(tz)
    return f"day {(local.date() - day0.astimezone(tz).date()).days} {local:%H:%M}"


def load_scenario(path: Path, office: Calendar) -> Scenario:
    """Read and check a scenario file, its steps' events included. Raises ScenarioError."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ScenarioError(f"cannot read the scenario {path}: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ScenarioError(f"{path} is not valid TOML: {error}") from None
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as error:
        raise ScenarioError(f"{path}: {_problems(error)}") from None
    # A dry run of the planning on a day 0 of its own: every event is built and validated before
    # any server starts, so a bad step fails here with its name rather than halfway through.
    probe = datetime(2030, 1, 7, 9, 0, tzinfo=ZoneInfo(office.timezone))
    try:
        planned = plan(scenario, probe, office)
        horizon(scenario, planned, probe, office)
    except ScenarioError as error:
        raise ScenarioError(f"{path}: {error}") from None
    return scenario


def _problems(error: ValidationError) -> str:
    """`steps[2].event: <what is wrong>`; a problem with the whole scenario: the message alone."""
    return describe_validation_error(error, None, indexed=True, strip_value_error=True)
