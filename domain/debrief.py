"""The candidate's debrief: what the recruiter learns straight after an interview.

The seed is blunt: "a one line email saying 'I think it went well, let me know when you hear
something' is not good enough". The client will ask for the candidate's feedback, and generic
text ("thought it went well", "very interested") adds nothing. So a debrief is structured, and
`why_not_substantive` says, in words a recruiter can act on, what is missing.
"""

from __future__ import annotations

import re

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
