"""Recruiter tasks in Bullhorn's own task list, and ticked off there: on the dev server, with the
Bullhorn stand-in, the poller, the forwarder and the Notify deliveries (ATS_NOTES=bullhorn)."""

from __future__ import annotations

import time
import uuid

import pytest
from typing import Any

from temporalio.testing import WorkflowEnvironment

from activities.channel_settings import ChannelSettings
from cli.bullhorn import start_poller
from cli.bullhorn_standin import BullhornStandIn, seed_agency
from domain.follow_through import TaskCompletion, TaskKind, TaskOutcome
from process_client import complete_task, process_status
from store.task_store import TaskStore
from tests.harness import eventually, running_engine
from tests.workflows.test_bullhorn_poller import CONFIG, DAY, bullhorn_deliveries, connect, forwarding

BULLHORN_NOTES = ChannelSettings(ats_notes=frozenset({"bullhorn"}))
# Applications and candidates of their own: the session's dev server keeps other tests' processes.
KWAME, ANA, KWAME_ID, ANA_ID = 6601, 6602, 401, 402


@pytest.fixture
def bullhorn() -> Any:
    with BullhornStandIn() as standin:
        seed_agency(standin, submissions=(KWAME, ANA), candidates=(KWAME_ID, ANA_ID))
        yield standin


def _bullhorn_task(bullhorn: BullhornStandIn, subject_starts: str) -> dict[str, Any] | None:
    return next((t for t in bullhorn.entities.get("Task", {}).values() if str(t.get("subject", "")).startswith(subject_starts)), None)


async def test_a_task_ticked_off_in_bullhorn_completes_ours_once(
    dev_env: WorkflowEnvironment, bullhorn: BullhornStandIn, store_url: str, task_queue: str, activity_pool: Any
):
    # An account (and so a poller) of its own: the dev server is shared by the session's tests.
    account = f"tasks-{uuid.uuid4().hex[:8]}"
    connect(bullhorn, store_url, account)
    async with running_engine(dev_env, store_url, task_queue, activity_pool, channels=BULLHORN_NOTES), forwarding(store_url, dev_env, task_queue):
        poller = await start_poller(dev_env.client, task_queue, account, CONFIG)
        await eventually(lambda: bullhorn.subscriptions, what="the subscription")
        begin = int(time.time() * 1000) + 3 * DAY
        bullhorn.change("Appointment", 8801, "INSERTED", type="Interview", dateBegin=begin, dateEnd=begin + 3_600_000, isDeleted=False,
                        candidateReference={"id": KWAME_ID}, jobOrder={"id": 77}, parentAppointment=None)
        # The interview gives the recruiter a task to brief the candidate: noted on the candidate
        # and put in Rita's Bullhorn task list, due when ours is.
        task = await eventually(lambda: _bullhorn_task(bullhorn, "Brief"), timeout=30, what="the Bullhorn Task")
        assert (task["owner"], task["candidate"], task["jobOrder"], task["isCompleted"]) == ({"id": 12}, {"id": KWAME_ID}, {"id": 77}, False)
        await eventually(lambda: any("Brief" in note["comments"] for note in bullhorn.notes), what="the note on the candidate")
        tasks = TaskStore(store_url)
        [ours] = [t for t in tasks.tasks(process_id=f"post-interview-bullhorn-{KWAME}") if t.kind == "brief_candidate"]
        assert task["dateEnd"] == int(ours.due_at.timestamp() * 1000) and ours.status == "open"

        # Rita ticks it off in Bullhorn, then again (an edit of a completed Task).
        bullhorn.change("Task", task["id"], isCompleted=True)
        done = await eventually(lambda: (t := tasks.task(ours.key)) and t.status == "done" and t, timeout=30, what="our task done")
        assert (done.resolved_by, done.outcome) == ("bullhorn", "done (ticked off in Bullhorn)")
        status = await eventually(lambda: _without_open_task(dev_env, ours.key), what="the process to drop the task")
        assert "brief_candidate" not in [t.kind for t in status.open_tasks]
        bullhorn.change("Task", task["id"], isCompleted=True, comments="done, thanks")
        rows = await eventually(lambda: [r for r in bullhorn_deliveries(store_url) if r["action"] == "Task.UPDATED"][1:] or None, timeout=30, what="the second tick")
        assert "was already done here" in rows[0]["ignored_reason"]
        completions = [e for e in tasks.history(ours.key) if e.action == "completed"]
        assert len(completions) == 1
        tasks.close()
        await dev_env.client.get_workflow_handle(poller).signal("stop")


async def _without_open_task(env: WorkflowEnvironment, key: str) -> Any:
    status = await process_status(env.client, "bullhorn", str(KWAME))
    return status if key not in [t.key for t in status.open_tasks] else None


async def test_a_task_closed_here_first_is_ticked_off_in_bullhorn_once(
    dev_env: WorkflowEnvironment, bullhorn: BullhornStandIn, store_url: str, task_queue: str, activity_pool: Any
):
    # An account (and so a poller) of its own: the dev server is shared by the session's tests.
    account = f"tasks-{uuid.uuid4().hex[:8]}"
    connect(bullhorn, store_url, account)
    async with running_engine(dev_env, store_url, task_queue, activity_pool, channels=BULLHORN_NOTES), forwarding(store_url, dev_env, task_queue):
        poller = await start_poller(dev_env.client, task_queue, account, CONFIG)
        await eventually(lambda: bullhorn.subscriptions, what="the subscription")
        begin = int(time.time() * 1000) + 3 * DAY
        bullhorn.change("Appointment", 8802, "INSERTED", type="Interview", dateBegin=begin, dateEnd=begin + 3_600_000, isDeleted=False,
                        candidateReference={"id": ANA_ID}, jobOrder={"id": 77}, parentAppointment=None)
        task = await eventually(lambda: _bullhorn_task(bullhorn, "Brief"), timeout=30, what="the Bullhorn Task")
        # Ana withdraws: the process cancels the open tasks here, and the poller closes the
        # Bullhorn Task; the change that makes in Bullhorn comes back and is recognised.
        bullhorn.change("JobSubmission", ANA, status="Candidate Withdrew")
        await eventually(lambda: bullhorn.entities["Task"][str(task["id"])].get("isCompleted") is True, timeout=30, what="the Bullhorn Task completed")
        rows = await eventually(
            lambda: [r for r in bullhorn_deliveries(store_url) if r["action"] == "Task.UPDATED"] or None, timeout=30, what="its change read back"
        )
        assert "was already cancelled here" in rows[0]["ignored_reason"]
        updates = [path for method, path, _ in bullhorn.requests if method == "POST" and path.endswith(f"/entity/Task/{task['id']}")]
        seen = _polls(bullhorn)
        await eventually(lambda: _polls(bullhorn) >= seen + 3, what="a few more polls")
        assert len([path for method, path, _ in bullhorn.requests if method == "POST" and path.endswith(f"/entity/Task/{task['id']}")]) == len(updates) == 1
        await dev_env.client.get_workflow_handle(poller).signal("stop")


def _polls(bullhorn: BullhornStandIn) -> int:
    return len([query for method, _, query in bullhorn.requests if method == "GET" and "maxEvents" in query and "requestId" not in query])


async def test_a_task_done_here_is_ticked_off_in_bullhorn_and_its_outcome_noted_on_the_candidate(
    dev_env: WorkflowEnvironment, bullhorn: BullhornStandIn, store_url: str, task_queue: str, activity_pool: Any
):
    account = f"tasks-{uuid.uuid4().hex[:8]}"
    connect(bullhorn, store_url, account)
    kwame, kwame_id = KWAME + 10, KWAME_ID + 10  # an application of this test's own
    seed_agency(bullhorn, submissions=(kwame, kwame + 1), candidates=(kwame_id, kwame_id + 1))
    async with running_engine(dev_env, store_url, task_queue, activity_pool, channels=BULLHORN_NOTES), forwarding(store_url, dev_env, task_queue):
        poller = await start_poller(dev_env.client, task_queue, account, CONFIG)
        await eventually(lambda: bullhorn.subscriptions, what="the subscription")
        begin = int(time.time() * 1000) + 3 * DAY
        bullhorn.change("Appointment", 8803, "INSERTED", type="Interview", dateBegin=begin, dateEnd=begin + 3_600_000, isDeleted=False,
                        candidateReference={"id": kwame_id}, jobOrder={"id": 77}, parentAppointment=None)
        task = await eventually(lambda: _bullhorn_task(bullhorn, "Brief"), timeout=30, what="the Bullhorn Task")
        tasks = TaskStore(store_url)
        [ours] = [t for t in tasks.tasks(process_id=f"post-interview-bullhorn-{kwame}") if t.kind == "brief_candidate"]
        # Rita completes it in the inbox, as the task desk does: the process first, then the store.
        completion = TaskCompletion(key=ours.key, kind=TaskKind.BRIEF_CANDIDATE, outcome=TaskOutcome.DONE, completed_by="12", context=ours.context or {})
        await complete_task(dev_env.client, ours.process_id, completion)
        tasks.complete(ours.key, "done: briefed by phone", "12", {"outcome_code": "done"})
        await eventually(lambda: bullhorn.entities["Task"][str(task["id"])].get("isCompleted") is True, timeout=30, what="the Bullhorn Task completed")
        note = await eventually(lambda: next((n for n in bullhorn.notes if "is done" in n["comments"]), None), timeout=30, what="the outcome note")
        assert note["comments"].startswith('Post-interview follow-through: "Brief') and note["comments"].endswith("is done: done: briefed by phone (12)")
        assert note["personReference"] == {"id": kwame_id} and note["jobOrder"] == {"id": 77}
        seen = _polls(bullhorn)
        await eventually(lambda: _polls(bullhorn) >= seen + 3, what="a few more polls")
        assert len([n for n in bullhorn.notes if "is done" in n["comments"]]) == 1
        assert [e.action for e in tasks.history(ours.key)].count("completed") == 1
        tasks.close()
        await dev_env.client.get_workflow_handle(poller).signal("stop")
