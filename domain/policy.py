"""Timing policy: every deadline, reminder cadence and escalation window of the process.

Defaults come from the process model (debrief due in 4 business hours, escalation 1 business
day later, referees get 3 business days, ...). A deployment sets its own in a TOML file
(`config/policy.toml`, or the file `POLICY_FILE` names), with per-client overrides. The policy in
force is fixed into a process when it starts (it travels in the workflow's history), so editing
the file never changes what a running process promised.
"""

from __future__ import annotations

import tomllib
from datetime import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError, model_validator

from domain.business_time import Calendar

# A run of a process continues as new after this many signals: 2,000 of the 10,000 Temporal
# takes per run (`history.maximumSignalsPerExecution`), see domain/process_state.py. Small runs
# also keep the continue-as-new itself cheap: a signal arriving while a run hands over makes the
# worker replay the run's whole history before it tries again.
SIGNALS_PER_RUN = 2_000


class OfficeHours(BaseModel):
    """The recruiting team's own working week: recruiter tasks and escalations count in it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "Europe/London"
    country: str | None = "GB"
    workday_start: time = time(9, 0)
    workday_end: time = time(17, 30)


class TimingPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    calendar: Literal["business", "continuous"] = Field(
        default="business",
        description="business: skip nights, weekends and public holidays; continuous: count 24x7.",
    )
    office: OfficeHours = OfficeHours()
    quiet_start: time = Field(default=time(21, 0), description="No messages to candidates or referees from this local time...")
    quiet_end: time = Field(default=time(8, 0), description="...until this local time.")

    # Duty 1: debrief straight after the interview.
    debrief_due_business_hours: PositiveFloat = 4
    debrief_escalation_business_days: PositiveInt = 1
    urgent_debrief_due_business_hours: PositiveFloat = 1
    send_feedback_due_business_hours: PositiveFloat = 2

    # Duty 2: the search goes on until the first day.
    start_confirmation_business_days: PositiveInt = 1
    # After the offer is accepted, a contract not signed and vetting still open are chased: a task
    # for the recruiter (escalated to the lead if it stays open) and a short reminder to the
    # candidate. contract.signed / vetting.passed end the chase.
    contract_chase_business_days: PositiveInt = Field(default=5, description="Business days after the acceptance without a signed contract before the recruiter is asked to chase it.")
    contract_chase_escalation_business_days: PositiveInt = Field(default=2, description="Business days a contract chase task may stay open before it goes to the lead.")
    vetting_chase_before_start_business_days: PositiveInt = Field(default=5, description="Vetting still open this many business days before the start date: the recruiter is asked to chase it.")
    vetting_chase_escalation_business_days: PositiveInt = Field(default=2, description="Business days a vetting chase task may stay open before it goes to the lead.")
    offer_fell_through_business_days: PositiveInt = Field(default=1, description="Due time of the task to re-open the role or line up the candidate's next opportunities once an offer falls through.")

    # Duty 3: referees.
    referee_consent_business_days: PositiveInt = 2
    referee_deadline_business_days: PositiveInt = 3
    referee_reminder_every_business_days: PositiveInt = 1
    referee_candidate_nudge_after_reminders: PositiveInt = 1
    references_needed: PositiveInt | None = Field(
        default=None,
        description="How many references are enough (N of M): once this many referees have responded, the others' "
        "checks stand down (they hear they are no longer needed) and the offer is no longer blocked. None: every "
        "referee named (a declined one replaced). Declined referees never count as responses.",
    )

    # Awaiting the client: after the debrief the client owes a decision. A silent client is
    # chased (a task for the recruiter, escalated to the lead if it stays open) and the candidate
    # hears "no news yet" at a cadence, a few times at most, until the client moves.
    client_chase_business_days: PositiveInt = Field(default=3, description="Business days without a client decision before the recruiter is asked to chase.")
    client_chase_escalation_business_days: PositiveInt = Field(default=2, description="Business days a chase task may stay open before it goes to the lead.")
    client_wait_update_every_business_days: PositiveInt = Field(default=5, description="How often the candidate hears 'no news yet' while the client is silent.")
    client_wait_updates_max: int = Field(default=3, ge=0, le=10, description="At most this many 'no news yet' messages per wait (0: none).")

    # Duty 4: keep researching before a follow-up round.
    brief_before_interview_hours: PositiveFloat = 24

    # Interview truth from schedules: an ATS that only reports an interview's schedule never says
    # it happened. A scheduled interview is taken as having taken place once its end (`ends_at`,
    # else its start plus `duration_minutes`, else plus this default) and the grace period have
    # passed, unless it was rescheduled or cancelled meanwhile.
    default_interview_minutes: PositiveInt = Field(default=60, description="An interview's length when the ATS gives neither its end nor its length.")
    interview_grace_minutes: PositiveInt = Field(default=30, description="How long after its end a scheduled interview is taken as having happened.")

    # Duty 5: don't sever ties.
    closure_feedback_business_days: PositiveInt = 1
    face_to_face_business_days: PositiveInt = 10
    closed_checkin_days: list[PositiveInt] = Field(default_factory=lambda: [90, 365])
    placed_checkin_days: list[PositiveInt] = Field(default_factory=lambda: [7, 90])
    checkin_due_business_days: PositiveInt = Field(default=5, description="A check-in is a conversation, not a deadline: time to find the moment.")
    # Nurture: each check-in also messages the candidate, with three answers (domain/contact.py).
    nurture_open_call_business_days: PositiveInt = Field(default=3, description="'I'm open to opportunities': the recruiter's call is due this many business days on (this week).")
    nurture_not_now_days: PositiveInt = Field(default=90, description="'Not now': the next check-in moves this many days later (with none left, one is planned this far on).")
    nurture_answer_days: PositiveInt = Field(default=14, description="After the last check-in, how long the relationship waits for the candidate's answer (keep it >= LINK_TTL_DAYS).")

    # Not timing, but fixed into a process the same way: after how many signals a run of the
    # process continues as new (domain/process_state.py). Lower only to see it happen sooner
    # (tests, recorded histories); it can never be raised past the default, which keeps a run
    # far from Temporal's 10,000 signals.
    signals_per_run: int = Field(default=SIGNALS_PER_RUN, ge=10, le=SIGNALS_PER_RUN, description="A run continues as new after this many signals.")

    def office_calendar(self) -> Calendar:
        return Calendar(
            timezone=self.office.timezone,
            country=self.office.country,
            continuous=self.calendar == "continuous",
            workday_start=self.office.workday_start,
            workday_end=self.office.workday_end,
            quiet_start=self.quiet_start,
            quiet_end=self.quiet_end,
        )

    def calendar_of(self, timezone: str | None, country: str | None) -> Calendar:
        """A person outside the company: their own zone and holidays, the office's hours, and
        quiet hours protecting their nights. Unknown zone or country falls back to the office's."""
        return self.office_calendar().model_copy(
            update={"timezone": timezone or self.office.timezone, "country": country or self.office.country}
        )


class ReferenceQuestion(BaseModel):
    """One question of the reference questionnaire a referee answers on their signed link."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="The answer's name in the stored report (`company` feeds the free-mail signal; `name` names the referee when the engine knows no name).")
    label: str = Field(min_length=1, max_length=300)
    hint: str = Field(default="", max_length=500)
    # text: one line; long_text: paragraphs; scale: 1-5; month: a month and year (YYYY-MM), not in the future.
    kind: Literal["text", "long_text", "scale", "month"] = "long_text"
    required: bool = True
    max_length: PositiveInt = Field(default=4000, le=20_000)


def _default_reference_questions() -> list[ReferenceQuestion]:
    return [
        ReferenceQuestion(id="name", label="Your name and job title", hint="As the recruiter may quote you: Grace Hopper, Head of Compliance.", kind="text", max_length=200),
        ReferenceQuestion(id="relationship", label="How do you know the candidate?", hint="Your role and theirs: their manager, a colleague, a client...", kind="text", max_length=300),
        ReferenceQuestion(id="company", label="Where did you work together?", hint="The company or organisation.", kind="text", required=False, max_length=200),
        ReferenceQuestion(id="known_since", label="Since when have you known them?", hint="Month and year.", kind="month"),
        ReferenceQuestion(id="strengths", label="What are their main strengths?"),
        ReferenceQuestion(id="areas_to_develop", label="Which areas could they develop?"),
        ReferenceQuestion(id="work_again", label="Would you work with them again?", hint="1: no, 5: without hesitation.", kind="scale"),
        ReferenceQuestion(id="comments", label="Anything else we should know?", required=False),
    ]


# Free-mail domains: a referee writing from one while naming a company is worth a second look.
DEFAULT_FREE_MAIL_DOMAINS = (
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "ymail.com", "hotmail.com", "hotmail.co.uk", "outlook.com",
    "live.com", "live.co.uk", "msn.com", "aol.com", "icloud.com", "me.com", "mac.com", "mail.com", "gmx.com", "gmx.de",
    "gmx.net", "web.de", "proton.me", "protonmail.com", "pm.me", "yandex.com", "yandex.ru", "zoho.com", "btinternet.com",
    "qq.com", "163.com", "fastmail.com", "tutanota.com", "hey.com",
)


class ReferenceReportPolicy(BaseModel):
    """The reference questionnaire and its fraud signals (`[reference_report]` in the policy file).
    Deployment-wide: the HTTP service shows the questionnaire and stores the report, so it is read
    there at start-up; a process's timing policy is not involved."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    questions: list[ReferenceQuestion] = Field(default_factory=_default_reference_questions, min_length=1, max_length=30)
    # A report sent this soon after the reference request went out is flagged (read, thought about, typed?).
    quick_answer_seconds: int = Field(default=300, ge=0, le=7 * 86400, description="Answered within this many seconds of the request: flagged (0: never).")
    free_mail_domains: list[str] = Field(default_factory=lambda: list(DEFAULT_FREE_MAIL_DOMAINS))

    @model_validator(mode="after")
    def _distinct(self) -> "ReferenceReportPolicy":
        ids = [question.id for question in self.questions]
        if len(ids) != len(set(ids)):
            raise ValueError(f"reference questions need distinct ids: {ids}")
        return self

    def free_mail(self, domain: str) -> bool:
        return domain.lower() in {d.strip().lower() for d in self.free_mail_domains}


class PolicyBook(BaseModel):
    """The deployment's default policy and each client's overrides of it."""

    model_config = ConfigDict(extra="forbid")

    default: TimingPolicy = TimingPolicy()
    # The reference questionnaire (deployment-wide, see ReferenceReportPolicy).
    reference_report: ReferenceReportPolicy = ReferenceReportPolicy()
    clients: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def for_client(self, client_id: str) -> TimingPolicy:
        override = self.clients.get(client_id)
        if not override:
            return self.default
        return TimingPolicy.model_validate(_deep_merge(self.default.model_dump(), override))


class PolicyError(ValueError):
    """The policy file is unreadable or says something invalid; the message says where."""


def load_policy_book(path: Path | None) -> PolicyBook:
    """Read and validate a policy file, every client's override included, so a typo fails at
    start-up rather than in the middle of somebody's process."""
    if path is None:
        return PolicyBook()
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise PolicyError(f"cannot read policy file {path}: {error}") from error
    try:
        book = PolicyBook.model_validate(raw)
        for client_id in book.clients:
            book.for_client(client_id)
    except ValidationError as error:
        raise PolicyError(f"invalid policy in {path}: {error}") from error
    return book


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
