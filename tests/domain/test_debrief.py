"""What makes a debrief worth sending to a client (seed: "a one line email is not good enough")."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.debrief import Debrief, why_not_substantive
from tests.events import GOOD_DEBRIEF


def test_a_specific_debrief_is_substantive():
    assert why_not_substantive(Debrief.model_validate(GOOD_DEBRIEF)) == []


def test_the_one_line_email_from_the_seed_is_not():
    reasons = why_not_substantive(Debrief(summary="I think it went well, let me know when you hear something", interest=5))
    assert any("mostly generic" in r for r in reasons)
    assert any("concerns, questions for the client, or reflections" in r for r in reasons)


def test_a_short_summary_says_how_many_words_it_has():
    reasons = why_not_substantive(Debrief(summary="Went well.", interest=4, concerns="Commute"))
    assert reasons == [reasons[0]] and reasons[0].startswith("The summary has 2 words")


def test_detail_in_any_one_field_is_enough():
    summary = GOOD_DEBRIEF["summary"]
    for detail in ({"concerns": "Travel"}, {"questions_for_client": ["Team size?"]}, {"reflections": "First 90 days"}):
        assert why_not_substantive(Debrief(summary=summary, interest=3, **detail)) == []
    assert why_not_substantive(Debrief(summary=summary, interest=3, questions_for_client=["  "])) != []


@pytest.mark.parametrize("interest", [0, 6])
def test_interest_is_one_to_five(interest):
    with pytest.raises(ValidationError):
        Debrief(summary=GOOD_DEBRIEF["summary"], interest=interest)


def test_a_feedback_task_carries_the_debrief_or_that_it_is_not_in_yet():
    from domain.debrief import DEBRIEF_BLOCK_START, feedback_context, feedback_debrief, why_without_debrief

    debrief = Debrief.model_validate(GOOD_DEBRIEF)
    carried = feedback_debrief({"round": "2", **feedback_context(debrief, 2)})
    assert carried is not None and carried.status == "in" and carried.round == 2
    assert (carried.summary, carried.interest, carried.concerns, carried.questions_for_client) == (
        debrief.summary,
        4,
        debrief.concerns,
        debrief.questions_for_client,
    )
    waiting = feedback_debrief({"round": "3", **feedback_context(None)})
    assert waiting is not None and (waiting.status, waiting.round, waiting.summary) == ("not_in_yet", 3, "")
    # A task that carries none, or a mangled entry: none (never an error).
    assert feedback_debrief({"round": "1"}) is None and feedback_debrief(None) is None
    assert feedback_debrief({"debrief": "{not json"}) is None
    why = "Send what the candidate said."
    assert why_without_debrief(f"{why}\n\n{DEBRIEF_BLOCK_START} of round 1, in Ann's words:\nSummary: ...") == why
    assert why_without_debrief(why) == why
