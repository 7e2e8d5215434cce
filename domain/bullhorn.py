"""The Bullhorn poller's vocabulary: its workflow id, the state it carries from run to run, and
what its activities take and return (workflows/bullhorn_poller.py, activities/bullhorn.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

BULLHORN_POLLER_WORKFLOW = "BullhornPoller"
# The entities the subscription covers and the changes it reports.
# Task: a recruiter task mirrored in Bullhorn (the `ats_task` channel) and ticked off there.
SUBSCRIBED_ENTITIES = ("JobSubmission", "Appointment", "Placement", "Task")
SUBSCRIBED_CHANGES = ("INSERTED", "UPDATED", "DELETED")


def bullhorn_poller_workflow_id(account_id: str) -> str:
    """One poller per connected account."""
    return f"bullhorn-poller-{account_id}"


def subscription_id(account_id: str) -> str:
    """The subscription's name in Bullhorn (15 per corporation at most: one is ours)."""
    return f"postinterview-{account_id}"


class BullhornPollerState(BaseModel):
    """The poller's input, and what it carries to its next run when it continues as new."""

    account_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    subscription_id: str | None = None
    # The last batch (Bullhorn's requestId) whose events are in the intake table. A batch Bullhorn
    # handed out after it was lost on the way (a crash before it was stored) and is fetched again.
    last_request_id: int | None = None
    polls: int = 0  # over all runs
    events: int = 0
    ignored: int = 0
    max_events: int = 100
    idle_seconds: int = 30
    polls_per_run: int = 200


class BullhornSubscription(BaseModel):
    subscription_id: str
    last_request_id: int


class BullhornPollRequest(BaseModel):
    account_id: str
    subscription_id: str
    last_request_id: int
    max_events: int


class BullhornPollResult(BaseModel):
    """One poll: the batches stored (replayed ones first), how many events they held, how many of
    those yielded canonical events and how many were recorded as ignored (with their reasons in
    the intake table)."""

    last_request_id: int
    batches: int = 0
    replayed: int = 0
    events: int = 0
    delivered: int = 0
    ignored: int = 0
    # A full batch: more is waiting, poll again at once.
    more: bool = False
