"""The reference questionnaire's checks and the fraud signals a report raises (pure: no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from domain.policy import PolicyError, ReferenceReportPolicy, load_policy_book
from domain.reference_report import FraudSignal, SignalFacts, check_answers, domain_of, fraud_signals

POLICY = ReferenceReportPolicy()
TODAY = date(2026, 12, 3)
GOOD = {
    "name": "Grace Hopper, Head of Compliance",
    "relationship": "I was her line manager at Initech",
    "company": "Initech",
    "known_since": "2019-04",
    "strengths": "Rigorous, calm under deadline pressure, explains regulation clearly.",
    "areas_to_develop": "Could delegate more to junior analysts.",
    "work_again": "5",
    "comments": "",
}


def test_the_default_questionnaire_asks_what_reference_tools_ask() -> None:
    assert [q.id for q in POLICY.questions] == ["name", "relationship", "company", "known_since", "strengths", "areas_to_develop", "work_again", "comments"]
    assert {q.kind for q in POLICY.questions} == {"text", "month", "long_text", "scale"}
    shipped = load_policy_book(Path("config/policy.toml")).reference_report
    assert shipped.questions == POLICY.questions and shipped.quick_answer_seconds == 300 and shipped.free_mail("GMAIL.com")


def test_a_complete_questionnaire_is_taken_as_typed() -> None:
    answers, problems = check_answers(POLICY.questions, {**GOOD, "strengths": "  Rigorous,\r\ncalm and clear.  "}, TODAY)
    assert problems == {}
    by_id = {a.id: a.answer for a in answers}
    assert by_id["strengths"] == "Rigorous,\ncalm and clear." and by_id["comments"] == "" and by_id["work_again"] == "5"
    assert answers[1].question == "How do you know the candidate?"


def test_what_is_wrong_is_said_per_question() -> None:
    form = {**GOOD, "strengths": "", "work_again": "7", "known_since": "2027-05", "areas_to_develop": "fine", "relationship": "x\u0000y"}
    _, problems = check_answers(POLICY.questions, form, TODAY)
    assert problems == {
        "relationship": "This answer has characters we cannot keep (control characters): please retype it.",
        "known_since": "That month is still to come: give when you first met them.",
        "strengths": "Please answer this question.",
        "areas_to_develop": "A few words more, please: the recruiter and the client read this.",
        "work_again": "Choose a number from 1 to 5.",
    }
    _, problems = check_answers(POLICY.questions, {**GOOD, "known_since": "April 2019", "comments": "y" * 4001}, TODAY)
    assert problems == {"known_since": "Give the month and year, as 2021-03.", "comments": "Please keep this to 4000 characters (it has 4001)."}


def test_a_policy_with_its_own_questions_is_checked_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[reference_report]\nquick_answer_seconds = 60\n[[reference_report.questions]]\nid = "rating"\nlabel = "Rate them"\nkind = "scale"\n')
    book = load_policy_book(path)
    assert [q.id for q in book.reference_report.questions] == ["rating"] and book.reference_report.quick_answer_seconds == 60
    path.write_text('[reference_report]\n[[reference_report.questions]]\nid = "a"\nlabel = "A"\n[[reference_report.questions]]\nid = "a"\nlabel = "B"\n')
    with pytest.raises(PolicyError, match="distinct ids"):
        load_policy_book(path)
    path.write_text('[reference_report]\n[[reference_report.questions]]\nid = "a"\nlabel = "A"\nkind = "essay"\n')
    with pytest.raises(PolicyError, match="kind"):
        load_policy_book(path)


def facts(**changes: object) -> SignalFacts:
    sent = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    values: dict[str, object] = {
        "referee_email": "grace@initech.example",
        "candidate_email": "ada@example.com",
        "company": "Initech",
        "requested_at": sent,
        "submitted_at": sent + timedelta(days=1),
        "same_browser_as_candidate": False,
    }
    return SignalFacts(**(values | changes))  # type: ignore[arg-type]


def codes(found: SignalFacts) -> list[FraudSignal]:
    return [flag.code for flag in fraud_signals(found, POLICY)]


def test_an_ordinary_reference_raises_no_signal() -> None:
    assert codes(facts()) == []
    assert codes(facts(referee_email=None, candidate_email=None, requested_at=None)) == []
    # A free-mail referee who names no company, and two people who both use Gmail: nothing odd.
    assert codes(facts(referee_email="grace@gmail.com", company="")) == []
    assert codes(facts(referee_email="grace@gmail.com", candidate_email="ada@gmail.com", company="  ")) == []


def test_each_signal_and_what_the_recruiter_reads() -> None:
    free = fraud_signals(facts(referee_email="Grace <grace@GMail.com>"), POLICY)
    assert [f.code for f in free] == [FraudSignal.FREE_MAIL_WITH_COMPANY] and "gmail.com" in free[0].text and "Initech" in free[0].text
    assert codes(facts(referee_email="bob@example.com")) == [FraudSignal.CANDIDATE_DOMAIN]
    assert codes(facts(same_browser_as_candidate=True)) == [FraudSignal.CANDIDATE_BROWSER]
    quick = fraud_signals(facts(submitted_at=datetime(2026, 12, 3, 10, 0, 42, tzinfo=UTC)), POLICY)
    assert [f.code for f in quick] == [FraudSignal.QUICK_ANSWER] and "42 seconds" in quick[0].text
    assert codes(facts(submitted_at=datetime(2026, 12, 3, 10, 5, tzinfo=UTC))) == []  # 300 s: not quicker than the policy
    assert fraud_signals(facts(submitted_at=datetime(2026, 12, 3, 10, 0, 1, tzinfo=UTC)), ReferenceReportPolicy(quick_answer_seconds=0)) == []
    everything = facts(referee_email="bob@example.com", candidate_email="ada@example.com", same_browser_as_candidate=True, submitted_at=datetime(2026, 12, 3, 10, 1, tzinfo=UTC))
    assert codes(everything) == [FraudSignal.CANDIDATE_DOMAIN, FraudSignal.CANDIDATE_BROWSER, FraudSignal.QUICK_ANSWER]
    assert domain_of("nobody") is None and domain_of("A <a@B.Example>") == "b.example"
