"""A referee's reference report: the questionnaire's answers checked, and the fraud signals a
recruiter should see beside them.

The questionnaire is the policy's (domain/policy.py ReferenceReportPolicy); the referee fills it in
on their signed link (inbox/link_pages.py), and the report is stored (store/reference_store.py),
shown in the inbox, and noted on the ATS record. Nothing here does I/O: the facts the signals need
(the referee's and the candidate's email addresses, when the request went out, whether the same
browser opened the candidate's own link) are gathered by the caller.

The signals only flag: a report is never refused or held back because of them, since each has an
innocent explanation (a referee between jobs writes from a free-mail address; a former colleague
now works where the candidate works; a referee who had the link forwarded answers at once).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.bounds import check_multi_line, check_one_line
from domain.policy import ReferenceQuestion, ReferenceReportPolicy

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class ReferenceAnswer(BaseModel):
    id: str
    question: str = Field(description="The question as the referee saw it.")
    answer: str = Field(description="As typed (a scale as its digit, a month as YYYY-MM); empty when left out.")


class FraudSignal(StrEnum):
    FREE_MAIL_WITH_COMPANY = "free_mail_with_company"
    CANDIDATE_DOMAIN = "candidate_domain"
    CANDIDATE_BROWSER = "candidate_browser"
    QUICK_ANSWER = "quick_answer"


class ReferenceFlag(BaseModel):
    code: FraudSignal
    text: str = Field(description="What a recruiter reads: the signal and why it may matter.")


class ReferenceReport(BaseModel):
    """A stored reference report (store/reference_store.py)."""

    id: int | None = None
    key: str = Field(description="The referee check's workflow id: one report per referee of an application.")
    process_id: str
    source: str
    application_id: str
    referee_id: str
    referee_name: str | None = None
    referee_email: str | None = None
    recruiter_id: str | None = None
    link_id: str
    answers: list[ReferenceAnswer]
    flags: list[ReferenceFlag] = Field(default_factory=list)
    requested_at: datetime | None = None
    submitted_at: datetime

    def answer(self, question_id: str) -> str:
        return next((a.answer for a in self.answers if a.id == question_id), "")


def check_answers(
    questions: list[ReferenceQuestion], form: Mapping[str, str], today: date
) -> tuple[list[ReferenceAnswer], dict[str, str]]:
    """The answers the form gives, and what is wrong with them (question id -> what to fix).
    Text is stripped; nothing is changed otherwise."""
    answers: list[ReferenceAnswer] = []
    problems: dict[str, str] = {}
    for question in questions:
        raw = str(form.get(question.id, "") or "")
        value = raw.strip() if question.kind != "long_text" else raw.strip().replace("\r\n", "\n")
        problem = _problem(question, value, today)
        if problem:
            problems[question.id] = problem
        answers.append(ReferenceAnswer(id=question.id, question=question.label, answer=value))
    return answers, problems


def _problem(question: ReferenceQuestion, value: str, today: date) -> str | None:
    if not value:
        return "Please answer this question." if question.required else None
    if len(value) > question.max_length:
        return f"Please keep this to {question.max_length} characters (it has {len(value)})."
    try:
        (check_multi_line if question.kind == "long_text" else check_one_line)(value)
    except ValueError:
        return "This answer has characters we cannot keep (control characters): please retype it."
    if question.kind == "scale":
        if value not in ("1", "2", "3", "4", "5"):
            return "Choose a number from 1 to 5."
    elif question.kind == "month":
        found = _MONTH.match(value)
        if not found or not 1 <= int(found.group(2)) <= 12:
            return "Give the month and year, as 2021-03."
        if (int(found.group(1)), int(found.group(2))) > (today.year, today.month):
            return "That month is still to come: give when you first met them."
        if int(found.group(1)) < 1940:
            return "Give the month and year you first met them, as 2021-03."
    elif question.kind == "text" and len(value) < 2:
        return "Please say a little more."
    elif question.kind == "long_text" and len(value.split()) < 3 and question.required:
        return "A few words more, please: the recruiter and the client read this."
    return None


@dataclass(frozen=True)
class SignalFacts:
    """What the fraud signals are computed from; None where it is not known."""

    referee_email: str | None
    candidate_email: str | None
    company: str
    requested_at: datetime | None
    submitted_at: datetime
    # The same client IP and User-Agent opened the candidate's own signed link (their debrief form).
    same_browser_as_candidate: bool


def domain_of(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().strip(">").lower() or None


def fraud_signals(facts: SignalFacts, policy: ReferenceReportPolicy) -> list[ReferenceFlag]:
    """The signals a report raises. Never a reason to refuse it: each is for the recruiter to weigh."""
    flags: list[ReferenceFlag] = []
    referee_domain, candidate_domain = domain_of(facts.referee_email), domain_of(facts.candidate_email)
    if referee_domain and facts.company.strip() and policy.free_mail(referee_domain):
        flags.append(ReferenceFlag(
            code=FraudSignal.FREE_MAIL_WITH_COMPANY,
            text=f"The referee writes from a free-mail address ({referee_domain}) while naming a company ({facts.company.strip()}): "
            "check that they work or worked there.",
        ))
    if referee_domain and candidate_domain and referee_domain == candidate_domain and not policy.free_mail(referee_domain):
        flags.append(ReferenceFlag(
            code=FraudSignal.CANDIDATE_DOMAIN,
            text=f"The referee's email is on the candidate's own domain ({referee_domain}): check they are not the candidate, or a friend of theirs.",
        ))
    if facts.same_browser_as_candidate:
        flags.append(ReferenceFlag(
            code=FraudSignal.CANDIDATE_BROWSER,
            text="The report was sent from the same network address and browser that opened the candidate's own link: "
            "the candidate may have written it.",
        ))
    if facts.requested_at is not None and policy.quick_answer_seconds:
        elapsed = (facts.submitted_at - facts.requested_at).total_seconds()
        if 0 <= elapsed < policy.quick_answer_seconds:
            flags.append(ReferenceFlag(
                code=FraudSignal.QUICK_ANSWER,
                text=f"Answered {_duration(elapsed)} after the request was sent: quicker than reading and thinking it through usually takes.",
            ))
    return flags


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} seconds"
    return f"{seconds // 60} minutes"
