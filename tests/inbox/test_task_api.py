"""The task API over real HTTP, on the real dev server with the real worker and store.

A recruiter completes their task and the process moves on; the process's refusal comes back
with its reason and leaves the task open; every role against every endpoint; snooze and
reassign keep a history; tasks the process no longer needs are cancelled by it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from domain.follow_through import Assignee, TaskKind, TaskRequest
from inbox import api
from inbox.desk import TaskDesk
from intake.app import create_app
from process_client import connect, deliver_event, process_status
from service.embedded_http import embedded_server
from store.access_store import AccessStore, User
from store.intake_store import IntakeStore
from store.task_store import TaskStore
from tests.events import GOOD_DEBRIEF, Application
from tests.harness import eventually, free_port, running_engine
from tests.intake.test_service import config


@dataclass
class Desk:
    http: httpx.AsyncClient
    store: TaskStore
    access: AccessStore

    def token(self, user_id: str, role: str = "recruiter", lead: str | None = None) -> dict[str, str]:
        if self.access.user(user_id) is None or role != "recruiter":
            self.access.save_user(User(id=user_id, role=role, lead_id=lead))  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {self.access.issue_token(user_id)}"}


@asynccontextmanager
async def task_desk(env, store_url: str, temporal=None) -> AsyncIterator[Desk]:
    """The HTTP service as `postinterview run` serves it: the intake's app with the task API."""
    intake = IntakeStore(store_url)
    tasks = TaskStore(store_url)
    access = AccessStore(tasks.engine)

    async def same_client():
        return env.client

    app = create_app(config(), intake, None)
    api.mount(app, TaskDesk(tasks, access, temporal or same_client))
    port = free_port()
    server = embedded_server(app, "127.0.0.1", port)
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, what="the service to listen")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield Desk(http, tasks, access)
    finally:
        server.should_exit = True
        await serving
        tasks.close()
        intake.close()


async def open_task(desk: Desk, app: Application, kind: str, headers: dict[str, str]) -> dict:
    async def found():
        answer = await desk.http.get("/api/tasks", params={"status": "open"}, headers=headers)
        answer.raise_for_status()
        return [t for t in answer.json()["tasks"] if t["process_id"].startswith(app.workflow_id) and t["kind"] == kind]

    return (await eventually(found, what=f"a {kind} task"))[0]


async def test_a_recruiter_completes_a_debrief_and_the_process_moves_on(dev_env, store_url, task_queue, activity_pool):
    app = Application()
    async with running_engine(dev_env, store_url, task_queue, activity_pool), task_desk(dev_env, store_url) as desk:
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        await eventually(lambda: desk.access.user("rec-1"), what="the recruiter to become a user")
        rita = desk.token("rec-1")
        task = await open_task(desk, app, "book_debrief", rita)
        assert task["outcomes"] == ["debriefed"] and task["overdue"] is False
        assert desk.access.user("rec-1").lead_id == "lead-1"  # the team comes from the event

        # The process refuses a debrief that tells the client nothing: the reason comes back,
        # the task stays open.
        refused = await desk.http.post(
            f"/api/tasks/{task['id']}/complete", json={"debrief": {"summary": "Went well I think.", "interest": 5}}, headers=rita
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["reason_type"] == "DebriefNotSubstantive"
        assert "at least 12" in refused.json()["message"]
        assert (await desk.http.get(f"/api/tasks/{task['id']}", headers=rita)).json()["status"] == "open"

        done = await desk.http.post(f"/api/tasks/{task['id']}/complete", json={"debrief": GOOD_DEBRIEF, "note": "called her at 5"}, headers=rita)
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "done" and done.json()["resolved_by"] == "rec-1"

        current = await process_status(dev_env.client, app.source, app.application_id)
        assert current.stage == "awaiting_client"
        assert current.debriefs[0].interest == 4
        assert all(t.kind != TaskKind.BOOK_DEBRIEF for t in current.open_tasks)

        detail = (await desk.http.get(f"/api/tasks/{task['id']}", headers=rita)).json()
        actions = [(h["actor"], h["action"]) for h in detail["history"]]
        assert actions[0] == ("process", "created") and ("rec-1", "completed") in actions

        again = await desk.http.post(f"/api/tasks/{task['id']}/complete", json={"debrief": GOOD_DEBRIEF}, headers=rita)
        assert again.status_code == 409 and "already done" in again.json()["message"]


async def test_every_role_against_every_endpoint(dev_env, store_url, task_queue, activity_pool):
    app = Application()
    async with running_engine(dev_env, store_url, task_queue, activity_pool), task_desk(dev_env, store_url) as desk:
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        await eventually(lambda: desk.store.tasks(process_id=app.workflow_id), what="a task")
        owner = desk.token("rec-1")
        lead = desk.token("lead-1", role="lead")
        operator = desk.token("ops", role="operator")
        other = desk.token("rec-2", lead="lead-2")
        other_lead = desk.token("lead-2", role="lead")
        task = await open_task(desk, app, "book_debrief", owner)
        tid = task["id"]

        endpoints = [
            ("GET", f"/api/tasks/{tid}", None),
            ("POST", f"/api/tasks/{tid}/snooze", {"hours": 1}),
            ("POST", f"/api/tasks/{tid}/reassign", {"assignee_id": "rec-1"}),
            ("POST", f"/api/tasks/{tid}/complete", {"outcome": "debriefed", "debrief": GOOD_DEBRIEF}),
        ]
        for method, path, body in endpoints:
            # No token, a wrong token, a revoked token: 401. Someone else's task: 403.
            assert (await desk.http.request(method, path, json=body)).status_code == 401, path
            assert (await desk.http.request(method, path, json=body, headers={"Authorization": "Bearer pie_nope"})).status_code == 401
            assert (await desk.http.request(method, path, json=body, headers=other)).status_code == 403, path
            assert (await desk.http.request(method, path, json=body, headers=other_lead)).status_code == 403, path
        assert (await desk.http.get("/api/tasks")).status_code == 401
        assert (await desk.http.get("/api/tasks", params={"assignee": "rec-1"}, headers=other)).status_code == 403

        mine = lambda who: desk.http.get("/api/tasks", headers=who)  # noqa: E731
        assert [t["id"] for t in (await mine(other)).json()["tasks"]] == []
        assert tid in [t["id"] for t in (await mine(owner)).json()["tasks"]]
        assert tid in [t["id"] for t in (await mine(lead)).json()["tasks"]]  # rec-1's lead sees the team's
        assert tid in [t["id"] for t in (await mine(operator)).json()["tasks"]]
        assert (await desk.http.get("/api/me", headers=lead)).json()["role"] == "lead"

        # Each who may act, can: the lead snoozes, the operator reads, the owner completes.
        assert (await desk.http.post(f"/api/tasks/{tid}/snooze", json={"hours": 2}, headers=lead)).json()["status"] == "snoozed"
        assert (await desk.http.get(f"/api/tasks/{tid}", headers=operator)).status_code == 200
        completed = await desk.http.post(f"/api/tasks/{tid}/complete", json={"debrief": GOOD_DEBRIEF}, headers=owner)
        assert completed.status_code == 200, completed.text

        # A revoked token stops working at once.
        desk.access.revoke_tokens("rec-1")
        assert (await desk.http.get("/api/tasks", headers=owner)).status_code == 401


async def test_snooze_reassign_and_the_lists(dev_env, store_url, task_queue, activity_pool):
    app = Application()
    async with running_engine(dev_env, store_url, task_queue, activity_pool), task_desk(dev_env, store_url) as desk:
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        await eventually(lambda: desk.store.tasks(process_id=app.workflow_id), what="a task")
        rita = desk.token("rec-1")
        lead = desk.token("lead-1", role="lead")
        rob = desk.token("rec-2", lead="lead-1")
        task = await open_task(desk, app, "book_debrief", rita)
        tid = task["id"]

        bad = await desk.http.post(f"/api/tasks/{tid}/snooze", json={}, headers=rita)
        assert bad.status_code == 422  # neither until nor hours
        snoozed = (await desk.http.post(f"/api/tasks/{tid}/snooze", json={"hours": 24}, headers=rita)).json()
        assert snoozed["status"] == "snoozed"
        open_ids = [t["id"] for t in (await desk.http.get("/api/tasks", params={"status": "open"}, headers=rita)).json()["tasks"]]
        assert tid not in open_ids

        # A snooze whose time has come: the task is open again, and says so in its history.
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        desk.store.snooze(task["key"], datetime.fromisoformat(past), "rec-1")
        assert (await desk.http.get(f"/api/tasks/{tid}", headers=rita)).json()["status"] == "open"

        # A recruiter hands over within the team only; the operator is outside it.
        desk.token("ops", role="operator")
        outside = await desk.http.post(f"/api/tasks/{tid}/reassign", json={"assignee_id": "ops"}, headers=rita)
        assert outside.status_code == 403 and "ask your lead" in outside.json()["message"]
        unknown = await desk.http.post(f"/api/tasks/{tid}/reassign", json={"assignee_id": "nobody"}, headers=lead)
        assert unknown.status_code == 400 and "no user" in unknown.json()["message"]
        moved = await desk.http.post(f"/api/tasks/{tid}/reassign", json={"assignee_id": "rec-2"}, headers=lead)
        assert moved.status_code == 200 and moved.json()["assignee_id"] == "rec-2"
        assert (await desk.http.get(f"/api/tasks/{tid}", headers=rita)).status_code == 403
        assert (await desk.http.get(f"/api/tasks/{tid}", headers=rob)).status_code == 200
        history = [(h["actor"], h["action"]) for h in (await desk.http.get(f"/api/tasks/{tid}", headers=rob)).json()["history"]]
        assert history == [("process", "created"), ("rec-1", "snoozed"), ("rec-1", "snoozed"), ("process", "snooze ended"), ("lead-1", "reassigned")]

        # Overdue and due-before filters.
        assert (await desk.http.get("/api/tasks", params={"overdue": "true"}, headers=rob)).json()["tasks"] == []
        later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        assert [t["id"] for t in (await desk.http.get("/api/tasks", params={"due_before": later}, headers=rob)).json()["tasks"]] == [tid]


async def test_outcomes_that_are_facts_reach_the_process_as_if_the_ats_had_sent_them(dev_env, store_url, task_queue, activity_pool):
    app = Application()
    async with running_engine(dev_env, store_url, task_queue, activity_pool), task_desk(dev_env, store_url) as desk:
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        await deliver_event(dev_env.client, app.references("r1"), task_queue)
        await eventually(lambda: desk.store.message(f"{app.workflow_id}-referee-r1/consent-request"), what="the consent request")
        rita = desk.token("rec-1")
        # The referee check's consent task, as its activity writes it (its timer is days away).
        desk.store.create_task(
            TaskRequest(
                key=f"{app.workflow_id}-referee-r1/consent",
                process_id=f"{app.workflow_id}-referee-r1",
                application_id=app.application_id,
                kind=TaskKind.REFEREE_CONSENT,
                assignee=Assignee(id="rec-1"),
                due_at=datetime.now(UTC) + timedelta(hours=4),
            ),
            "Check that Referee r1 has agreed",
            "why",
        )
        consent = await open_task(desk, app, "referee_consent", rita)
        wrong = await desk.http.post(f"/api/tasks/{consent['id']}/complete", json={"outcome": "started"}, headers=rita)
        assert wrong.status_code == 400 and "consented, chased" in wrong.json()["message"]
        chased = await desk.http.post(f"/api/tasks/{consent['id']}/complete", json={"outcome": "consented"}, headers=rita)
        assert chased.status_code == 200, chased.text

        # Consent moves the referee check on: it asks for the reference itself.
        await eventually(lambda: desk.store.message(f"{app.workflow_id}-referee-r1/request"), what="the reference request")
        status = await process_status(dev_env.client, app.source, app.application_id)
        assert {r.id: r.state for r in status.referees}["r1"] == "requested"

        # The candidate withdraws: the process cancels what it no longer needs, and says why.
        await deliver_event(dev_env.client, app.event("candidate.withdrew", {"reason": "took another offer"}), task_queue)
        # Close-out cancels what is open, then gives the follow-up tasks: wait for those.
        await eventually(lambda: "closure_feedback" in [t.kind for t in desk.store.tasks(status="open", process_id=app.workflow_id)], what="close-out")
        assert {t.kind for t in desk.store.tasks(status="open", process_id=app.workflow_id)} <= {"closure_feedback", "face_to_face"}
        cancelled = desk.store.tasks(status="cancelled", process_id=app.workflow_id)
        assert cancelled and all(t.outcome == "candidate withdrew" and t.resolved_by == "process" for t in cancelled)
        assert desk.store.history(cancelled[0].key)[-1].action == "cancelled"

        # A debrief for a closed process is refused with the process's reason; a plain "done"
        # on a follow-up task of the closed process just closes it.
        closure = await open_task(desk, app, "closure_feedback", rita)
        assert (await desk.http.post(f"/api/tasks/{closure['id']}/complete", json={"note": "talked it through"}, headers=rita)).json()["status"] == "done"


async def test_temporal_unreachable_leaves_the_task_as_it_was(dev_env, store_url, task_queue, activity_pool):
    app = Application()

    async def nowhere():
        return await connect(f"127.0.0.1:{free_port()}")

    async with running_engine(dev_env, store_url, task_queue, activity_pool), task_desk(dev_env, store_url, temporal=nowhere) as desk:
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        await eventually(lambda: desk.store.tasks(process_id=app.workflow_id), what="a task")
        rita = desk.token("rec-1")
        task = await open_task(desk, app, "book_debrief", rita)
        answer = await desk.http.post(f"/api/tasks/{task['id']}/complete", json={"debrief": GOOD_DEBRIEF}, headers=rita)
        assert answer.status_code == 503 and "nothing was changed" in answer.json()["message"]
        assert (await desk.http.get(f"/api/tasks/{task['id']}", headers=rita)).json()["status"] == "open"


async def test_the_api_is_described_in_openapi(dev_env, store_url):
    async with task_desk(dev_env, store_url) as desk:
        spec = (await desk.http.get("/openapi.json")).json()
        assert {"/api/tasks", "/api/tasks/{task_id}", "/api/tasks/{task_id}/complete", "/api/tasks/{task_id}/snooze", "/api/tasks/{task_id}/reassign"} <= set(spec["paths"])
        assert "debriefed" in str(spec["components"]["schemas"]["TaskOutcome"])


async def test_no_worker_running_is_a_clear_503_not_a_hang(dev_env, store_url, task_queue, activity_pool, monkeypatch):
    import inbox.desk

    monkeypatch.setattr(inbox.desk, "UPDATE_TIMEOUT", 1.0)
    app = Application()
    async with task_desk(dev_env, store_url) as desk:
        async with running_engine(dev_env, store_url, task_queue, activity_pool):
            await deliver_event(dev_env.client, app.interview(1), task_queue)
            await eventually(lambda: desk.store.tasks(process_id=app.workflow_id), what="a task")
        # The workers are gone (a deploy): Temporal is up, nobody takes the update.
        rita = desk.token("rec-1")
        task = await open_task(desk, app, "book_debrief", rita)
        answer = await desk.http.post(f"/api/tasks/{task['id']}/complete", json={"debrief": GOOD_DEBRIEF}, headers=rita)
        assert answer.status_code == 503 and "No worker took the outcome" in answer.json()["message"]
        assert (await desk.http.get(f"/api/tasks/{task['id']}", headers=rita)).json()["status"] == "open"


async def test_a_task_of_an_application_with_the_longest_allowed_ids_completes(dev_env, store_url, task_queue, activity_pool):
    # Issue 12: a 128-character application id and referee id (both allowed) made the event id a
    # completed consent task becomes longer than an event id may be; the update's handler raised
    # on every attempt and the process was wedged. Now the id is bounded and the consent counts.
    app = Application(application_id="a" * 100 + task_queue[-28:].replace("-", "0"))
    referee = "r" * 128
    app.candidate["id"] = "cand-" + task_queue[-20:]
    assert len(app.application_id) == 128
    async with running_engine(dev_env, store_url, task_queue, activity_pool), task_desk(dev_env, store_url) as desk:
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        await deliver_event(dev_env.client, app.references(referee), task_queue)
        check = f"{app.workflow_id}-referee-{referee}"
        await eventually(lambda: desk.store.message(f"{check}/consent-request"), what="the consent request")
        assert len(f"task:{check}/consent:consented") > 200
        rita = desk.token("rec-1")
        desk.store.create_task(
            TaskRequest(
                key=f"{check}/consent",
                process_id=check,
                application_id=app.application_id,
                kind=TaskKind.REFEREE_CONSENT,
                assignee=Assignee(id="rec-1"),
                due_at=datetime.now(UTC) + timedelta(hours=4),
            ),
            "Check that the referee has agreed",
            "why",
        )
        consent = await open_task(desk, app, "referee_consent", rita)
        nul = await desk.http.post(f"/api/tasks/{consent['id']}/complete", json={"outcome": "consented", "note": "ok\x00"}, headers=rita)
        assert nul.status_code == 422 and "control character" in nul.text, nul.text
        done = await desk.http.post(f"/api/tasks/{consent['id']}/complete", json={"outcome": "consented", "note": "spoke to her\nshe agreed"}, headers=rita)
        assert done.status_code == 200, done.text
        await eventually(lambda: desk.store.message(f"{check}/request"), what="the reference request")
        status = await process_status(dev_env.client, app.source, app.application_id)
        assert {r.id: r.state for r in status.referees}[referee] == "requested"
