"""A process continues as new before Temporal's per-run limits, and goes on as if nothing happened.

Temporal refuses the 10,001st signal to one run (`history.maximumSignalsPerExecution` on the dev
server and a default cluster). A noisy ATS re-sends, and a process lives for months: the process
hands over to a fresh run well before (domain/process_state.py), carrying its state, and each
duty goes on from its stored deadline.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from domain.contract import referee_check_workflow_id
from domain.events import CanonicalEvent
from domain.policy import TimingPolicy
from domain.status import ProcessStatus, RefereeState, RefereeStatus
from process_client import deliver_event, process_status, signal_event
from tests.events import Application
from tests.harness import eventually, running_engine, status_when
from tests.workflows.fakes import running_with_fakes

DISTINCT = 5_300  # each sent twice: 10,600 signals, on top of the application's own events


async def runs(client: Client, workflow_id: str) -> list[WorkflowExecutionStatus | None]:
    """The statuses of every run of a workflow, as the dev server lists them."""
    return [execution.status async for execution in client.list_workflows(f"WorkflowId = '{workflow_id}'")]


def what_matters(status: ProcessStatus) -> dict:
    return {
        "stage": status.stage,
        "open_tasks": status.open_tasks,
        "milestones": status.milestones,
        "debriefs": status.debriefs,
        "referees": [(r.id, r.state, r.deadline) for r in status.referees],
        "sla_breached": status.sla_breached,
        "offer_blocked": status.offer_blocked,
    }


async def flood(env: WorkflowEnvironment, tmp_path: Path, events: list[CanonicalEvent]) -> None:
    """Signal `events` in order, 25 at a time, from another process (tests/workflows/flood.py)."""
    path = tmp_path / "flood.jsonl"
    path.write_text("".join(event.model_dump_json() + "\n" for event in events))
    address = env.client.service_client.config.target_host
    root = Path(__file__).parents[2]
    sender = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.workflows.flood", address, str(path), "25", cwd=root, env={**os.environ, "PYTHONPATH": str(root)}
    )
    assert await sender.wait() == 0, "the flood failed: a signal was refused"


async def test_more_than_ten_thousand_signals_continue_as_new_and_keep_the_state(dev_env, store_url, task_queue, activity_pool, tmp_path):
    app = Application()
    client = dev_env.client
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as store:
        await deliver_event(client, app.interview(1), task_queue)
        await deliver_event(client, app.references("ref-1"), task_queue)
        await deliver_event(client, app.offer("offer.extended"), task_queue)
        before = await status_when(
            client, app.source, app.application_id, lambda s: s.stage == "offer" and s.open_tasks and s.referees, what="the application's state"
        )
        assert [t.kind for t in before.open_tasks] == ["book_debrief"] and before.referees[0].state == RefereeState.AWAITING_CONSENT

        # Noise: the same interview reported again and again under new ids (no effect: a known
        # round), each copy delivered twice, the second copy a batch later, so duplicates
        # straddle the runs' boundaries. Sent from a process of its own, as the intake would.
        noise = [app.interview(1) for _ in range(DISTINCT)]
        batch = 100
        signals = [
            event for start in range(0, DISTINCT + batch, batch) for event in [*noise[start : start + batch], *noise[max(0, start - batch) : start]]
        ]
        assert len(signals) == 2 * DISTINCT > 10_000
        await flood(dev_env, tmp_path, signals)

        # Every signal was taken (none refused by the per-run limit), each id once.
        after = await status_when(client, app.source, app.application_id, lambda s: s.events_seen == 3 + DISTINCT, timeout=120, what="every event")
        statuses = await eventually(lambda: _continued(client, app.workflow_id, at_least=2), what="continued as new")
        assert statuses.count(WorkflowExecutionStatus.RUNNING) == 1
        assert what_matters(after) == what_matters(before)

        # Duplicates of events taken before the last boundary are still ignored.
        await flood(dev_env, tmp_path, noise[-1_000:])
        await deliver_event(client, app.offer("offer.extended"), task_queue)  # a new id: proves the duplicates before it were handled
        settled = await status_when(client, app.source, app.application_id, lambda s: s.events_seen == 4 + DISTINCT, what="the last event")
        assert what_matters(settled) == what_matters(before)

        # The reference check the first run started outlived it and still hears of the referee.
        await deliver_event(client, app.event("referee.consented", {"referee_id": "ref-1"}), task_queue)
        await deliver_event(client, app.event("referee.responded", {"referee_id": "ref-1"}), task_queue)
        await status_when(client, app.source, app.application_id, lambda s: s.referees[0].state == RefereeState.RESPONDED and not s.offer_blocked)
        check = client.get_workflow_handle(referee_check_workflow_id(app.workflow_id, "ref-1"), result_type=RefereeStatus)
        assert (await check.result()).state == RefereeState.RESPONDED

        # And the process still closes out: its tasks cancelled, the candidate handed over.
        await deliver_event(client, app.event("candidate.rejected", {"reason": "client chose another candidate"}), task_queue)
        final = await client.get_workflow_handle(app.workflow_id, result_type=ProcessStatus).result()
        assert final.stage == "closed" and final.events_seen == 7 + DISTINCT
        assert {t.kind for t in store.tasks(status="open", process_id=app.workflow_id)} == {"closure_feedback", "face_to_face"}
        assert WorkflowExecutionStatus.COMPLETED in await runs(client, app.workflow_id)


async def _continued(client: Client, workflow_id: str, at_least: int) -> list | None:
    statuses = await runs(client, workflow_id)
    return statuses if statuses.count(WorkflowExecutionStatus.CONTINUED_AS_NEW) >= at_least - 1 and len(statuses) >= at_least else None


async def _run_count(env: WorkflowEnvironment, workflow_id: str) -> int:
    """How many runs the process has had (the time-skipping server cannot list workflows)."""
    handle = env.client.get_workflow_handle(workflow_id)
    count, run_id = 0, (await handle.describe()).run_id
    while run_id:
        count += 1
        history = await env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id or None
    return count


async def test_a_debrief_due_before_the_boundary_still_escalates_after_it(time_env, task_queue):
    app = Application()
    # Continue as new after 10 signals, so the boundary falls before the debrief is due.
    policy = TimingPolicy(calendar="continuous", signals_per_run=10)
    async with running_with_fakes(time_env, task_queue, policy) as store:
        await deliver_event(time_env.client, app.interview(1), task_queue)
        await eventually(lambda: [t.kind for t in store.tasks(status="open")] == ["book_debrief"], what="book-debrief task")
        due = (await process_status(time_env.client, app.source, app.application_id)).debriefs[0].due_at
        noise: list[CanonicalEvent] = [app.interview(1) for _ in range(25)]
        for event in noise:
            await signal_event(time_env.client, event)
        async def continued() -> bool:
            return await _run_count(time_env, app.workflow_id) >= 2

        await eventually(continued, what="a second run")
        assert (await process_status(time_env.client, app.source, app.application_id)).debriefs[0].due_at == due

        await time_env.sleep(timedelta(hours=5))  # past the due time: the recruiter is reminded
        await eventually(lambda: any(m.key.endswith("/debrief/1/reminder") for m in store.messages()), what="the reminder")
        await time_env.sleep(timedelta(days=1))  # past the escalation window: the lead is told
        await eventually(lambda: "escalation" in [t.kind for t in store.tasks(status="open")], what="the escalation")
        escalated = await status_when(time_env.client, app.source, app.application_id, lambda s: s.sla_breached)
        assert escalated.debriefs[0].escalated and escalated.events_seen == 26
        # Created once each: the duty resumed where it waited, it did not start over.
        assert sorted(t.kind for t in store.tasks(status=None)) == ["book_debrief", "escalation"]
        assert sum(m.key.endswith("/debrief/1/questions") for m in store.messages()) == 1
