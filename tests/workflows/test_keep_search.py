"""Keep the search going to the first day (issue 14), on the time-skipping server.

After `offer.accepted`: a contract not signed within N business days gives the recruiter a task to
chase it (escalated to the lead if it stays open) and the candidate a short reminder; vetting
still open N business days before the start date does the same; `contract.signed` /
`vetting.passed` end the matching chase. The stage is `starting` only once both are in.
`offer.withdrawn`, `vetting.failed` and `candidate.reneged` close the process, each with the
close-out that fits.

The activities are the in-memory fakes (tests/workflows/fakes.py). The business-day test uses the
default policy (London office, GB holidays) from a Friday morning, so the count crosses a weekend;
the others count continuous days (chase 5 days after the acceptance or before the first day,
escalate 2 days later).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.business_time import add_business_days, business_days_before
from domain.contract import relationship_workflow_id
from domain.policy import PolicyBook, TimingPolicy
from domain.status import ProcessStatus, RelationshipState
from process_client import Delivery, deliver_event, process_handle, process_status
from tests.events import GOOD_DEBRIEF, Application
from tests.harness import eventually
from tests.workflows.fakes import FakeStore, running_with_fakes

CONTINUOUS = TimingPolicy(calendar="continuous")
LONDON = ZoneInfo("Europe/London")


def tasks(store: FakeStore, app: Application, kind: str, status: str | None = "open") -> list:
    return [t for t in store.tasks(status=status, process_id=app.workflow_id) if t.kind == kind]


def kinds(store: FakeStore, app: Application, status: str | None = "open") -> list[str]:
    return sorted(t.kind for t in store.tasks(status=status, process_id=app.workflow_id))


def candidate_messages(store: FakeStore, app: Application) -> list[str]:
    """The purposes of the messages to the candidate (the key after the process id)."""
    prefix = f"{app.workflow_id}/"
    return sorted(m.key.removeprefix(prefix) for m in store.messages() if m.key.startswith(prefix) and m.recipient_role == "candidate")


async def send(env: WorkflowEnvironment, task_queue: str, *events) -> None:
    for event in events:
        assert await deliver_event(env.client, event, task_queue) == Delivery.DELIVERED


async def stage(env: WorkflowEnvironment, app: Application) -> str:
    return (await process_status(env.client, app.source, app.application_id)).stage


async def accepted(env: WorkflowEnvironment, app: Application, task_queue: str, store: FakeStore, start: date | None = None) -> datetime:
    """Interviewed, debriefed, offered and accepted: the moment the acceptance was taken."""
    await send(env, task_queue, app.interview(1), app.event("candidate.debriefed", GOOD_DEBRIEF))
    at = await env.get_current_time()
    await send(env, task_queue, app.offer("offer.accepted", start=start))
    await eventually(lambda: "offer/keep-searching" in candidate_messages(store, app), what="keep searching advice")
    return at


def first_day(start: date) -> datetime:
    return datetime.combine(start, time(9, 0), LONDON)


async def skip_to_friday_morning(env: WorkflowEnvironment) -> None:
    now = (await env.get_current_time()).astimezone(LONDON)
    days = (4 - now.weekday()) % 7 or 7
    await env.sleep(datetime.combine(now.date() + timedelta(days=days), time(10, 0), LONDON) - now)


# --- the contract ------------------------------------------------------------------------------


async def test_an_unsigned_contract_is_chased_after_n_business_days_and_escalated_if_left_open(time_env, task_queue):
    app = Application()
    policy = TimingPolicy()  # business days, London office
    office = policy.office_calendar()
    async with running_with_fakes(time_env, task_queue, policy=policy) as store:
        await skip_to_friday_morning(time_env)
        since = await accepted(time_env, app, task_queue, store)
        chase_at = add_business_days(since, 5, office)
        assert chase_at - since >= timedelta(days=7), "the weekend does not count"

        await time_env.sleep(chase_at - since - timedelta(hours=1))
        assert tasks(store, app, "chase_contract") == [], "not before the fifth business day"
        await time_env.sleep(timedelta(hours=2))
        chase = (await eventually(lambda: tasks(store, app, "chase_contract"), what="contract chase"))[0]
        assert chase.assignee_id == "rec-1"
        assert chase.title == "Chase Ada Lovelace's contract with Acme Capital (Compliance Analyst)"
        assert "accepted the offer 5 business days ago" in chase.instructions
        assert chase.key == f"{app.workflow_id}/contract-chase/chase"
        # The candidate is reminded, once.
        reminder = await eventually(lambda: store.message(f"{app.workflow_id}/contract-chase/reminder"), what="candidate reminder")
        assert reminder.subject == "Your contract with Acme Capital: where it stands"
        assert "sign it and send it back" in reminder.body and "Compliance Analyst" in reminder.body

        # Left open 2 more business days: the lead hears of it; the chase stays with the recruiter.
        escalate_at = add_business_days(chase_at, 2, office)
        await time_env.sleep(escalate_at - chase_at + timedelta(hours=1))
        escalation = (await eventually(lambda: tasks(store, app, "escalation"), what="escalation"))[0]
        assert escalation.assignee_id == "lead-1"
        assert "the contract with Acme Capital (7 business days after the acceptance, still not signed)" in escalation.title
        assert store.message(f"{escalation.key}/message") is not None

        # Signed at last: the chase and its escalation are done; the vetting is still open.
        await send(time_env, task_queue, app.event("contract.signed"))
        await eventually(lambda: len(tasks(store, app, "chase_contract", "done")) == 1 and len(tasks(store, app, "escalation", "done")) == 1, what="chase done")
        assert tasks(store, app, "chase_contract", "done")[0].outcome == "the contract is signed"
        current = await process_status(time_env.client, app.source, app.application_id)
        assert current.stage == "offer" and current.waiting_for == "passed vetting"
        assert [m for m in candidate_messages(store, app) if m.startswith("contract-chase/")] == ["contract-chase/reminder"]


async def test_a_contract_signed_in_time_is_never_chased(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await accepted(time_env, app, task_queue, store)
        await time_env.sleep(timedelta(days=4))
        await send(time_env, task_queue, app.event("contract.signed"))
        await time_env.sleep(timedelta(days=10))
        assert tasks(store, app, "chase_contract", None) == [] and tasks(store, app, "escalation", None) == []
        assert [m for m in candidate_messages(store, app) if "chase" in m] == []


async def test_completing_the_contract_chase_in_time_means_no_escalation(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await accepted(time_env, app, task_queue, store)
        await time_env.sleep(timedelta(days=5, hours=1))
        chase = (await eventually(lambda: tasks(store, app, "chase_contract"), what="contract chase"))[0]
        await process_handle(time_env.client, app.source, app.application_id).execute_update(
            "complete_task", {"key": chase.key, "kind": "chase_contract", "outcome": "done", "completed_by": "rec-1", "context": chase.context or {}}
        )
        await time_env.sleep(timedelta(days=4))
        assert tasks(store, app, "escalation", None) == []


async def test_no_reminder_goes_to_a_candidate_who_must_not_be_emailed(time_env, task_queue):
    app = Application()
    app.candidate["can_email"] = False
    start = (await time_env.get_current_time()).date() + timedelta(days=12)
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await send(time_env, task_queue, app.interview(1), app.event("candidate.debriefed", GOOD_DEBRIEF), app.offer("offer.accepted", start=start))
        await time_env.sleep(timedelta(days=8))
        # The recruiter is asked to chase both; the candidate gets nothing at all.
        await eventually(lambda: len(tasks(store, app, "chase_contract")) == 1 and len(tasks(store, app, "chase_vetting")) == 1, what="both chases")
        assert candidate_messages(store, app) == []


# --- the vetting ---------------------------------------------------------------------------------


async def test_open_vetting_is_chased_n_days_before_the_start_date_and_escalated(time_env, task_queue):
    app = Application()
    start = (await time_env.get_current_time()).date() + timedelta(days=20)
    chase_at = first_day(start) - timedelta(days=5)
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await accepted(time_env, app, task_queue, store, start=start)
        await send(time_env, task_queue, app.event("contract.signed"))

        await time_env.sleep(chase_at - (await time_env.get_current_time()) - timedelta(hours=1))
        assert tasks(store, app, "chase_vetting") == [], "not before 5 days ahead of the first day"
        await time_env.sleep(timedelta(hours=2))
        chase = (await eventually(lambda: tasks(store, app, "chase_vetting"), what="vetting chase"))[0]
        assert chase.title == f"Chase Ada Lovelace's vetting before their first day on {start.isoformat()}"
        assert chase.key == f"{app.workflow_id}/vetting-chase/{start.isoformat()}/chase"
        reminder = await eventually(lambda: store.message(f"{app.workflow_id}/vetting-chase/{start.isoformat()}/reminder"), what="candidate reminder")
        assert reminder.subject == f"Your vetting for Acme Capital before {start.isoformat()}"
        assert await stage(time_env, app) == "offer", "the contract alone is not 'starting'"

        await time_env.sleep(timedelta(days=2))
        escalation = (await eventually(lambda: tasks(store, app, "escalation"), what="vetting escalation"))[0]
        assert escalation.assignee_id == "lead-1" and f"the vetting for the first day on {start.isoformat()}" in escalation.title

        await send(time_env, task_queue, app.event("vetting.passed"))
        await eventually(lambda: len(tasks(store, app, "chase_vetting", "done")) == 1 and len(tasks(store, app, "escalation", "done")) == 1, what="vetting chase done")
        assert tasks(store, app, "chase_vetting", "done")[0].outcome == "the vetting is passed"
        assert await stage(time_env, app) == "starting"


async def test_the_vetting_chase_counts_business_days_back_from_a_monday_start(time_env, task_queue):
    app = Application()
    policy = TimingPolicy()  # business days, London office
    async with running_with_fakes(time_env, task_queue, policy=policy) as store:
        await skip_to_friday_morning(time_env)
        friday = (await time_env.get_current_time()).astimezone(LONDON).date()
        start = friday + timedelta(days=17)  # a Monday, two weeks and a weekend on
        await accepted(time_env, app, task_queue, store, start=start)
        await send(time_env, task_queue, app.event("contract.signed"))
        # 5 business days before Monday 09:00 is the Monday before (or earlier, past a bank
        # holiday), 09:00: the weekend does not count.
        chase_at = business_days_before(first_day(start), 5, policy.office_calendar())
        assert first_day(start) - chase_at >= timedelta(days=7) and chase_at.astimezone(LONDON).time() == time(9, 0)
        await time_env.sleep(chase_at - (await time_env.get_current_time()) - timedelta(hours=1))
        assert tasks(store, app, "chase_vetting") == []
        await time_env.sleep(timedelta(hours=2))
        chase = (await eventually(lambda: tasks(store, app, "chase_vetting"), what="vetting chase"))[0]
        assert chase.due_at == add_business_days(chase_at, 1, policy.office_calendar())


async def test_vetting_passed_in_time_is_never_chased(time_env, task_queue):
    app = Application()
    start = (await time_env.get_current_time()).date() + timedelta(days=20)
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await accepted(time_env, app, task_queue, store, start=start)
        await send(time_env, task_queue, app.event("vetting.passed"), app.event("contract.signed"))
        await time_env.sleep(timedelta(days=19))
        assert tasks(store, app, "chase_vetting", None) == [] and tasks(store, app, "chase_contract", None) == []


async def test_accepted_close_to_the_first_day_the_vetting_is_chased_at_once(time_env, task_queue):
    app = Application()
    start = (await time_env.get_current_time()).date() + timedelta(days=3)
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await accepted(time_env, app, task_queue, store, start=start)
        await eventually(lambda: tasks(store, app, "chase_vetting"), what="vetting chase at once")


async def test_a_moved_start_date_moves_the_vetting_chase(time_env, task_queue):
    app = Application()
    first = (await time_env.get_current_time()).date() + timedelta(days=10)
    later = first + timedelta(days=14)
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await accepted(time_env, app, task_queue, store, start=first)
        await time_env.sleep(first_day(first) - timedelta(days=5) - (await time_env.get_current_time()) + timedelta(hours=1))
        await eventually(lambda: tasks(store, app, "chase_vetting"), what="vetting chase for the first date")

        await send(time_env, task_queue, app.offer("offer.extended", start=later))
        cancelled = (await eventually(lambda: tasks(store, app, "chase_vetting", "cancelled"), what="old chase cancelled"))[0]
        assert first.isoformat() in cancelled.key and cancelled.outcome == f"the start date moved to {later.isoformat()}"
        assert tasks(store, app, "chase_vetting") == []

        await time_env.sleep(first_day(later) - timedelta(days=5) - (await time_env.get_current_time()) + timedelta(hours=1))
        chase = (await eventually(lambda: tasks(store, app, "chase_vetting"), what="vetting chase for the new date"))[0]
        assert later.isoformat() in chase.key


# --- the stage ---------------------------------------------------------------------------------


@pytest.mark.parametrize("first_in", ["contract.signed", "vetting.passed"])
async def test_starting_only_once_both_contract_and_vetting_are_in(time_env, task_queue, first_in):
    app = Application()
    second_in = {"contract.signed": "vetting.passed", "vetting.passed": "contract.signed"}[first_in]
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await accepted(time_env, app, task_queue, store)
        await send(time_env, task_queue, app.event(first_in))
        await eventually(lambda: _seen(time_env, app, 4), what="first of the two")
        current = await process_status(time_env.client, app.source, app.application_id)
        assert current.stage == "offer" and first_in in current.milestones
        assert current.waiting_for == {"contract.signed": "passed vetting", "vetting.passed": "the signed contract"}[first_in]
        await send(time_env, task_queue, app.event(second_in))
        await eventually(lambda: _stage_is(time_env, app, "starting"), what="starting")


async def _seen(env: WorkflowEnvironment, app: Application, count: int) -> bool:
    return (await process_status(env.client, app.source, app.application_id)).events_seen == count


async def _stage_is(env: WorkflowEnvironment, app: Application, expected: str) -> bool:
    return await stage(env, app) == expected


# --- the offer falls through ---------------------------------------------------------------------

FELL_THROUGH = {
    # event: (handover outcome, the close-out's own task, the candidate's close-out message or None)
    "offer.withdrawn": ("offer_withdrawn", "next_role", "close/offer-withdrawn"),
    "vetting.failed": ("vetting_failed", "reopen_role", None),
    "candidate.reneged": ("reneged", "reopen_role", "close/door-open"),
}


@pytest.mark.parametrize("closing", list(FELL_THROUGH))
async def test_an_offer_that_falls_through_closes_with_a_close_out_that_fits(time_env, task_queue, closing):
    outcome, own_task, message = FELL_THROUGH[closing]
    app = Application()
    start = (await time_env.get_current_time()).date() + timedelta(days=30)
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await accepted(time_env, app, task_queue, store, start=start)
        await time_env.sleep(timedelta(days=5, hours=1))
        await eventually(lambda: tasks(store, app, "chase_contract"), what="contract chase")

        await send(time_env, task_queue, app.event(closing, {"reason": "it fell through"}))
        final = await process_handle(time_env.client, app.source, app.application_id).result()
        assert final.stage == "closed" and closing in final.milestones
        # The chase is cancelled with everything else the process no longer needs.
        assert len(tasks(store, app, "chase_contract", "cancelled")) == 1
        # Feedback and a face-to-face meeting as for any close, and the task that fits this one.
        assert kinds(store, app) == sorted(["closure_feedback", "face_to_face", own_task])
        own = tasks(store, app, own_task)[0]
        assert "it fell through" in own.instructions
        assert own.title == (
            "Line up Ada Lovelace's next opportunities: Acme Capital withdrew the offer" if own_task == "next_role" else "Re-open the search for Acme Capital's Compliance Analyst"
        )
        closing_messages = [m for m in candidate_messages(store, app) if m.startswith("close/")]
        assert closing_messages == ([message] if message else [])  # never the thank-you-notes advice

        relationship = time_env.client.get_workflow_handle(relationship_workflow_id(app.source, app.candidate["id"]))
        state: RelationshipState = await eventually(lambda: relationship.query("status", result_type=RelationshipState), what="relationship")
        assert state.handovers_seen == [f"{app.workflow_id}/{outcome}"]
        assert [c.occasion for c in state.pending] == ["90 days after the application closed", "365 days after the application closed"]


async def test_the_offer_withdrawn_message_is_not_sent_to_a_candidate_who_must_not_be_emailed(time_env, task_queue):
    app = Application()
    app.candidate["can_email"] = False
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await send(time_env, task_queue, app.interview(1), app.event("candidate.debriefed", GOOD_DEBRIEF), app.offer("offer.accepted"))
        await send(time_env, task_queue, app.event("offer.withdrawn", {"reason": "budget frozen"}))
        await process_handle(time_env.client, app.source, app.application_id).result()
        assert kinds(store, app) == ["closure_feedback", "face_to_face", "next_role"]
        assert candidate_messages(store, app) == []


@pytest.mark.parametrize("closing", list(FELL_THROUGH))
async def test_the_offer_falling_through_never_starts_a_process(time_env, task_queue, closing):
    app = Application()
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        assert await deliver_event(time_env.client, app.event(closing, {"reason": "never interviewed here"}), task_queue) == Delivery.NO_PROCESS
        assert store.tasks() == []


async def test_an_offer_withdrawn_then_reopened_takes_its_close_out_back(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await accepted(time_env, app, task_queue, store)
        await send(time_env, task_queue, app.event("offer.withdrawn", {"reason": "budget frozen"}))
        await process_handle(time_env.client, app.source, app.application_id).result()
        assert await deliver_event(time_env.client, app.event("application.reopened", {"reason": "budget found"}), task_queue) == Delivery.REOPENED

        async def reopened() -> bool:
            current = await process_status(time_env.client, app.source, app.application_id)
            return current.stage == "offer" and "offer.withdrawn" not in current.milestones

        await eventually(reopened, what="the process live again at the offer")
        # The close-out's tasks were for an offer that is back: cancelled.
        await eventually(lambda: kinds(store, app) == [], what="the close-out's tasks cancelled")
        assert sorted(t.kind for t in store.tasks(status="cancelled", process_id=app.workflow_id)) == ["closure_feedback", "face_to_face", "next_role"]
        # Accepted again: the contract is chased from the new acceptance, under the reopening's keys.
        await send(time_env, task_queue, app.offer("offer.accepted"))
        await time_env.sleep(timedelta(days=4))
        assert tasks(store, app, "chase_contract") == []
        await time_env.sleep(timedelta(days=1, hours=1))
        chase = (await eventually(lambda: tasks(store, app, "chase_contract"), what="contract chase after the reopening"))[0]
        assert chase.key == f"{app.workflow_id}/contract-chase/reopened-1/chase"


async def test_a_reneged_offer_reopened_chases_the_next_acceptance_from_scratch(time_env, task_queue):
    """The contract was signed, then the candidate reneged; the application is reopened and a new
    offer accepted: that acceptance's contract is chased (the old signature was the fallen offer's),
    and the stage is not `starting` on the old contract and vetting."""
    app = Application()
    async with running_with_fakes(time_env, task_queue, policy=CONTINUOUS) as store:
        await accepted(time_env, app, task_queue, store)
        await send(time_env, task_queue, app.event("contract.signed"), app.event("vetting.passed"))
        await send(time_env, task_queue, app.event("candidate.reneged", {"reason": "counter-offer from their employer"}))
        await process_handle(time_env.client, app.source, app.application_id).result()
        assert await deliver_event(time_env.client, app.event("application.reopened", {"reason": "changed their mind"}), task_queue) == Delivery.REOPENED

        async def reopened() -> ProcessStatus | None:
            current = await process_status(time_env.client, app.source, app.application_id)
            return current if "candidate.reneged" not in current.milestones else None

        current = await eventually(reopened, what="the process live again")
        assert not {"offer.accepted", "contract.signed", "vetting.passed"} & set(current.milestones)
        await send(time_env, task_queue, app.offer("offer.accepted"))

        async def accepted_again() -> ProcessStatus | None:
            current = await process_status(time_env.client, app.source, app.application_id)
            return current if "offer.accepted" in current.milestones else None

        current = await eventually(accepted_again, what="the new acceptance taken")
        assert current.stage == "offer" and "the signed contract" in current.waiting_for, current.waiting_for
        await time_env.sleep(timedelta(days=5, hours=1))
        chase = (await eventually(lambda: tasks(store, app, "chase_contract"), what="the new acceptance's contract chased"))[0]
        assert chase.key == f"{app.workflow_id}/contract-chase/reopened-1/chase"


# --- across a continue-as-new -----------------------------------------------------------------------


async def test_the_chases_go_on_in_the_next_run_after_continue_as_new(time_env, task_queue):
    app = Application(client_id="noisy")
    book = PolicyBook(default=CONTINUOUS, clients={"noisy": {"signals_per_run": 10}})
    start = (await time_env.get_current_time()).date() + timedelta(days=14)
    async with running_with_fakes(time_env, task_queue, policy=book) as store:
        await accepted(time_env, app, task_queue, store, start=start)
        await time_env.sleep(timedelta(days=5, hours=1))
        await eventually(lambda: tasks(store, app, "chase_contract"), what="contract chase")
        first_run = (await process_handle(time_env.client, app.source, app.application_id).describe()).run_id
        for _ in range(10):  # the same interview reported again: the run continues as new
            await send(time_env, task_queue, app.interview(1))

        async def continued() -> bool:
            return (await process_handle(time_env.client, app.source, app.application_id).describe()).run_id != first_run

        await eventually(continued, what="a new run")
        # The next run resumes both chases: the contract's escalation on day 7, the vetting's task
        # 5 days before the first day; nothing twice.
        await time_env.sleep(first_day(start) - timedelta(days=5) - (await time_env.get_current_time()) + timedelta(hours=1))
        await eventually(lambda: len(tasks(store, app, "escalation")) == 1 and len(tasks(store, app, "chase_vetting")) == 1, what="escalation and vetting chase")
        assert len(tasks(store, app, "chase_contract", None)) == 1
        assert [m for m in candidate_messages(store, app) if "chase" in m] == ["contract-chase/reminder", f"vetting-chase/{start.isoformat()}/reminder"]
        await send(time_env, task_queue, app.event("contract.signed"), app.event("vetting.passed"))
        await eventually(lambda: kinds(store, app) == [], what="every chase ended in the new run")
        assert await stage(time_env, app) == "starting"
