"""The candidate's debrief: what the recruiter learns straight after an interview.

The seed is blunt: "a one line email saying 'I think it went well, let me know when you hear
something' is not good enough". The client will ask for the candidate's feedback, and generic
text ("thought it went well", "very interested") adds nothing. So a debrief is structured, and
`why_not_substantive` says, in words a recruiter can act on, what is missing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.bounds import MultiLineText, OneLineText

MIN_SUMMARY_WORDS = 12

# Phrases that, on their own, carry no information for the client.
_GENERIC = re.compile(
    r"\b(went (really |very )?well|it was (good|fine|great|ok)|very interested|"
    r"enjoyed (meeting|it)|let me know when you hear|all good|no concerns)\b",
    re.IGNORECASE,
)


class Debrief(BaseModel):
    """What the candidate says about an interview, in their own words."""

    model_config = ConfigDict(str_strip_whitespace=True)

    summary: MultiLineText = Field(description="How the interview went: who they met, what was discussed, what landed and what did not.")
    interest: int = Field(ge=1, le=5, description="How much the candidate wants the role, 1 (not at all) to 5 (very much).")
    concerns: MultiLineText = Field(default="", description="Anything that worries the candidate about the role or the firm.")
    questions_for_client: list[MultiLineText] = Field(default_factory=list, description="Questions the candidate wants the recruiter to put to the client.")
    reflections: MultiLineText = Field(default="", description="Points the interviewers asked the candidate to think about, and the candidate's thoughts on them.")
    round: int | None = Field(default=None, ge=1, description="The interview round this debrief is about; the latest round when omitted.")
    recorded_by: OneLineText | None = Field(default=None, description="Who recorded it (recruiter id, 'candidate' for the candidate's own form).")


def why_not_substantive(debrief: Debrief) -> list[str]:
    """Reasons this debrief would tell the client nothing; empty when it is good enough."""
    reasons: list[str] = []
    words = debrief.summary.split()
    without_generic = _GENERIC.sub("", debrief.summary).split()
    if len(words) < MIN_SUMMARY_WORDS:
        reasons.append(
            f"The summary has {len(words)} words; say how the interview went in at least "
            f"{MIN_SUMMARY_WORDS}: who they met, what was discussed, what landed and what did not."
        )
    elif len(without_generic) < MIN_SUMMARY_WORDS:
        reasons.append(
            "The summary is mostly generic ('went well', 'very interested'); the client needs "
            "specifics they can weigh, not phrases that fit any interview."
        )
    has_detail = bool(debrief.concerns or debrief.reflections or any(q.strip() for q in debrief.questions_for_client))
    if not has_detail:
        reasons.append(
            "Add at least one of: concerns, questions for the client, or reflections on points the "
            "interviewers raised. The client often wants to hear about exactly these."
        )
    return reasons


# --- the debrief on the "send the candidate's feedback" task --------------------------------------
#
# The feedback task carries the debrief of its round in its context (a task's context is a flat
# map of strings, kept with the task in the store): under FEEDBACK_DEBRIEF the debrief as JSON, or
# FEEDBACK_DEBRIEF_PENDING while the client has asked and the candidate has not been debriefed yet.
# The channels (email, Slack, Teams, the ATS) read it from the task's instructions, the inbox and
# the task API from the context (`feedback_debrief`).

FEEDBACK_DEBRIEF = "debrief"
FEEDBACK_DEBRIEF_PENDING = "pending"


class FeedbackDebrief(BaseModel):
    """What a feedback task says of the candidate's debrief: in (with what the candidate said), or
    not in yet (the task gets it once it is recorded)."""

    status: Literal["in", "not_in_yet"]
    round: int | None = None
    summary: str = ""
    interest: int | None = None
    concerns: str = ""
    questions_for_client: list[str] = Field(default_factory=list)
    reflections: str = ""


def feedback_context(debrief: Debrief | None, round_: int | None = None) -> dict[str, str]:
    """The context entry of a feedback task: the debrief, or that it is not in yet."""
    if debrief is None:
        return {FEEDBACK_DEBRIEF: FEEDBACK_DEBRIEF_PENDING}
    carried = debrief.model_dump(mode="json", include={"summary", "interest", "concerns", "questions_for_client", "reflections", "round"})
    if carried.get("round") is None:
        carried["round"] = round_
    return {FEEDBACK_DEBRIEF: json.dumps(carried, ensure_ascii=False, sort_keys=True)}


def feedback_debrief(context: Mapping[str, str] | None) -> FeedbackDebrief | None:
    """The debrief a task's context carries; None for a task that carries none (another kind, or
    a feedback task created before tasks carried it). Never raises: a mangled entry is none."""
    value = (context or {}).get(FEEDBACK_DEBRIEF)
    if not value:
        return None
    if value == FEEDBACK_DEBRIEF_PENDING:
        round_ = (context or {}).get("round", "")
        return FeedbackDebrief(status="not_in_yet", round=int(round_) if round_.isdigit() else None)
    try:
        return FeedbackDebrief(status="in", **json.loads(value))
    except (ValueError, TypeError):
        return None


# How the debrief block in a feedback task's instructions begins (activities/templates/
# blocks/feedback_debrief.txt.j2 starts so): the inbox shows the why without it, and the debrief itself
# on the opened task.
DEBRIEF_BLOCK_START = "The candidate's debrief"


def why_without_debrief(instructions: str) -> str:
    """A task's instructions without the debrief block a feedback task carries."""
    return instructions.split("\n\n" + DEBRIEF_BLOCK_START, 1)[0]
