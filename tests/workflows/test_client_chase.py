"""The client decision chase (issue 14), on the time-skipping server.

After the debrief the process waits in `awaiting_client`. A client silent for N business days is
chased: a task for the recruiter naming the client, the role, the interview and how long it has
been, escalated to the lead if it stays open; the candidate hears "no news yet" at the policy's
cadence (never when the ATS says they must not be emailed). Any move by the client ends the
chase and cancels its open task.

The activities are the in-memory fakes (tests/workflows/fakes.py). The business-day tests use
the default policy (London office, GB holidays) starting on a Friday morning so that the count
crosses a weekend; the others count continuous days.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.business_time import add_business_days
from domain.policy import PolicyBook, TimingPolicy
from process_client import Delivery, deliver_event, process_handle, process_status
from tests.events import GOOD_DEBRIEF, Application
from tests.harness import eventually
from tests.workflows.fakes import FakeStore, running_with_fakes

# Continuous days: chase after 3, escalate 2 later, "no news yet" every 5 days, at most 3 times.
CONTINUOUS = TimingPolicy(calendar="continuous")
LONDON = ZoneInfo("Europe/London")


def tasks(store: FakeStore, app: Application, kind: str, status: str | None = "open") -> list:
    return [t for t in store.tasks(status=status, process_id=app.workflow_id) if t.kind == kind]


def updates(store: FakeStore, app: Application) -> list[str]:
    prefix = f"{app.workflow_id}/client-chase/"
    return sorted(m.key.removeprefix(prefix) for m in store.messages() if m.key.startswith(prefix) and m.recipient_role == "candidate")


async def send(env: WorkflowEnvironment, task_queue: str, *events) -> None:
    for event in events:
        assert await deliver_event(env.client, event, task_queue) == Delivery.DELIVERED


async def debriefed(env: WorkflowEnvironment, app: Application, task_queue: str, store: FakeStore) -> datetime:
    """Round 1 taken place and debriefed at once: the process awaits the client from now."""
    await send(env, task_queue, app.interview(1), app.event("candidate.debriefed", GOOD_DEBRIEF))
    await eventually(lambda: [t.kind for t in store.tasks(status="done", process_id=app.workflow_id)] == ["book_debrief"], what="debrief recorded")
    current = await process_status(env.client, app.source, app.application_id)
    assert current.stage == "awaiting_client"
    return current.debriefs[0].recorded_at


async def skip_to_friday_morning(env: WorkflowEnvironment) -> None:
    now = (await env.get_current_time()).astimezone(LONDON)
    days = (4 - now.weekday()) % 7 or 7
    friday = datetime.combine(now.date() + timedelta(days=days), time(10, 0), LONDON)
    await env.sleep(friday - now)


async def test_a_silent_client_is_chased_after_n_business_days_and_escalated_if_left_open(time_env, task_queue):
    app = Application()
    policy = TimingPolicy()  # business days, London office
    office = policy.office_calendar()
    async with running_with_fakes(time_env, task_queue, policy=policy) as store:
        await skip_to_friday_morning(time_env)
        since = await debriefed(time_env, app, task_queue, store)
        chase_at = add_business_days(since, 3, office)
        # Friday + 3 business days is Wednesday: the weekend does not count.
        assert chase_at - since >= timedelta(days=5)

        await time_env.sleep(chase_at - since - timedelta(hours=1))
        assert tasks(store, app, "chase_client") == [], "not before the third business day"
        await time_env.sleep(timedelta(hours=2))
        chase = (await eventually(lambda: tasks(store, app, "chase_client"), what="chase task"))[0]
        assert chase.assignee_id == "rec-1"
        assert chase.title == "Chase Acme Capital for a decision on Ada Lovelace (Compliance Analyst)"
        assert "3 business days since the debrief of round 1 on" in chase.instructions
        assert chase.due_at == add_business_days(chase_at, 1, office)

        # Left open for 2 more business days: the lead hears of it; the task stays with the recruiter.
        escalate_at = add_business_days(chase_at, 2, office)
        await time_env.sleep(escalate_at - chase_at + timedelta(hours=1))
        escalation = (await eventually(lambda: tasks(store, app, "escalation"), what="escalation"))[0]
        assert escalation.assignee_id == "lead-1"
        assert "chase Acme Capital for a decision (5 business days without one)" in escalation.title
        assert store.message(f"{escalation.key}/message") is not None
        assert len(tasks(store, app, "chase_client")) == 1

        # The client finally makes an offer: the chase and its escalation are cancelled.
        await send(time_env, task_queue, app.offer())
        await eventually(lambda: len(tasks(store, app, "chase_client", "cancelled")) == 1 and len(tasks(store, app, "escalation", "cancelled")) == 1, what="chase cancelled")


async def test_the_candidate_hears_no_news_yet_at_the_cadence_a_few_times_at_most(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await debriefed(time_env, app, task_queue, store)
        await time_env.sleep(timedelta(days=4, hours=23))
        assert updates(store, app) == []
        await time_env.sleep(timedelta(hours=2))
        await eventually(lambda: updates(store, app) == ["1/update/1"], what="first update")
        message = store.message(f"{app.workflow_id}/client-chase/1/update/1")
        assert message.recipient_role == "candidate"
        assert "No news yet from Acme Capital" in message.subject
        assert "Compliance Analyst" in message.body and "5 business days since your feedback on round 1" in message.body

        await time_env.sleep(timedelta(days=30))
        await eventually(lambda: updates(store, app) == ["1/update/1", "1/update/2", "1/update/3"], what="three updates, no more")
        # The chase task was completed by nobody: it is still open, escalated once.
        assert len(tasks(store, app, "chase_client")) == 1 and len(tasks(store, app, "escalation")) == 1


async def test_no_news_yet_is_never_sent_to_a_candidate_who_must_not_be_emailed(time_env, task_queue):
    app = Application()
    app.candidate["can_email"] = False
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await debriefed(time_env, app, task_queue, store)
        await time_env.sleep(timedelta(days=16))
        # The recruiter is still asked to chase; the candidate gets nothing.
        await eventually(lambda: len(tasks(store, app, "chase_client")) == 1, what="chase task")
        assert updates(store, app) == []
        assert [m for m in store.messages() if m.recipient_role == "candidate" and "client-chase" in m.key] == []


async def test_completing_the_chase_task_in_time_means_no_escalation(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await debriefed(time_env, app, task_queue, store)
        await time_env.sleep(timedelta(days=3, hours=1))
        chase = (await eventually(lambda: tasks(store, app, "chase_client"), what="chase task"))[0]
        handle = process_handle(time_env.client, app.source, app.application_id)
        await handle.execute_update(
            "complete_task", {"key": chase.key, "kind": "chase_client", "outcome": "done", "completed_by": "rec-1", "context": chase.context or {}}
        )
        await time_env.sleep(timedelta(days=3))
        assert tasks(store, app, "escalation", None) == []


CLIENT_EVENTS = {
    "feedback requested": lambda app: [app.event("client.feedback_requested")],
    "next interview scheduled": lambda app: [app.interview(2, "interview.scheduled", at=datetime.now(LONDON) + timedelta(days=20))],
    "next interview completed": lambda app: [app.interview(2)],
    "offer": lambda app: [app.offer()],
    "references": lambda app: [app.references("ref-1", required=False)],
    "rejection": lambda app: [app.event("candidate.rejected", {"reason": "another candidate"})],
    "withdrawal": lambda app: [app.event("candidate.withdrew", {"reason": "took another offer"})],
}


@pytest.mark.parametrize("client_event", list(CLIENT_EVENTS))
async def test_any_client_event_ends_the_chase_and_cancels_its_task(time_env, task_queue, client_event):
    app = Application()
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await debriefed(time_env, app, task_queue, store)
        await time_env.sleep(timedelta(days=3, hours=1))
        await eventually(lambda: tasks(store, app, "chase_client"), what="chase task")

        await send(time_env, task_queue, *CLIENT_EVENTS[client_event](app))
        await eventually(lambda: len(tasks(store, app, "chase_client", "cancelled")) == 1, what="chase task cancelled")
        # Nothing more: no escalation, no "no news yet" (the first was due on day 5).
        await time_env.sleep(timedelta(days=10))
        assert [t for t in tasks(store, app, "escalation", None) if "/client-chase/" in t.key] == []
        assert updates(store, app) == []


@pytest.mark.parametrize("client_event", ["feedback requested", "offer", "rejection"])
async def test_no_chase_when_the_client_decides_in_time(time_env, task_queue, client_event):
    app = Application()
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await debriefed(time_env, app, task_queue, store)
        await time_env.sleep(timedelta(days=2))
        await send(time_env, task_queue, *CLIENT_EVENTS[client_event](app))
        await time_env.sleep(timedelta(days=20))
        assert tasks(store, app, "chase_client", None) == []
        assert updates(store, app) == []


async def test_a_second_round_is_chased_afresh_after_its_own_debrief(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await debriefed(time_env, app, task_queue, store)
        await time_env.sleep(timedelta(days=3, hours=1))
        await eventually(lambda: tasks(store, app, "chase_client"), what="round 1 chase")
        await send(time_env, task_queue, app.interview(2), app.event("candidate.debriefed", {**GOOD_DEBRIEF, "round": 2}))
        await eventually(lambda: len(tasks(store, app, "chase_client", "cancelled")) == 1, what="round 1 chase cancelled")
        await time_env.sleep(timedelta(days=3, hours=1))
        chase = (await eventually(lambda: tasks(store, app, "chase_client"), what="round 2 chase"))[0]
        assert chase.key == f"{app.workflow_id}/client-chase/2/chase"
        assert "round 2" in chase.instructions


async def test_the_chase_goes_on_in_the_next_run_after_continue_as_new(time_env, task_queue):
    app = Application(client_id="noisy")
    book = PolicyBook(default=CONTINUOUS, clients={"noisy": {"signals_per_run": 10}})
    async with running_with_fakes(time_env, task_queue, policy=book) as store:
        await debriefed(time_env, app, task_queue, store)
        await time_env.sleep(timedelta(days=3, hours=1))
        await eventually(lambda: tasks(store, app, "chase_client"), what="chase task")
        first_run = (await process_handle(time_env.client, app.source, app.application_id).describe()).run_id
        for _ in range(10):  # the same interview reported again: the run continues as new
            await send(time_env, task_queue, app.interview(1))

        async def continued() -> bool:
            return (await process_handle(time_env.client, app.source, app.application_id).describe()).run_id != first_run

        await eventually(continued, what="a new run")
        # The next run resumes the waiting chase: the escalation and the update come on day 5, once.
        await time_env.sleep(timedelta(days=2))
        await eventually(lambda: len(tasks(store, app, "escalation")) == 1 and updates(store, app) == ["1/update/1"], what="escalation and update")
        assert len(tasks(store, app, "chase_client", None)) == 1
        await send(time_env, task_queue, app.event("client.feedback_requested"))
        await eventually(lambda: len(tasks(store, app, "chase_client", "cancelled")) == 1, what="chase cancelled in the new run")
