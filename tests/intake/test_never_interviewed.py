"""No follow-through for applicants who were never interviewed (issue 10), end to end: signed
Greenhouse `reject_candidate` webhooks over real HTTP into the intake, the forwarder, the dev
server and the real worker with its store.

Rejecting 50 job-board applicants in the ATS must start no process, create no task and send no
message: each delivery is recorded as ignored, with the reason.
"""

from __future__ import annotations

import json

from temporalio.client import WorkflowExecutionStatus

from domain.contract import post_interview_workflow_id
from process_client import deliver_event
from tests.events import Application
from tests.harness import eventually, running_engine
from tests.intake.test_service import GREENHOUSE_SECRET, PAYLOADS, forwarder_for, intake_service
from intake.signing import greenhouse_headers

SCREENED_OUT = 50


def screened_out_rejection(application_id: int) -> tuple[bytes, dict[str, str]]:
    """Greenhouse's reject_candidate for an application rejected at its first stage, before any
    interview was scheduled (the fixture, with its own application id and an application-review
    stage that holds no interviews)."""
    payload = json.loads((PAYLOADS / "greenhouse_reject_candidate.json").read_text())
    application = payload["payload"]["application"]
    application["id"] = application_id
    application["current_stage"] = {"id": 3317600, "name": "Application Review", "interviews": []}
    application["rejection_reason"] = {"id": 3, "name": "Lacking skill(s)/qualification(s)", "type": {"id": 1, "name": "We rejected them"}}
    body = json.dumps(payload).encode()
    return body, {"content-type": "application/json", **greenhouse_headers(body, GREENHOUSE_SECRET)}


async def test_fifty_rejections_of_applicants_never_interviewed_create_nothing(dev_env, store_url, task_queue, activity_pool):
    application_ids = [7_100_000 + n for n in range(SCREENED_OUT)]
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as tasks:
        async with intake_service(store_url, forwarder_for(dev_env, store_url, task_queue)) as (http, store):
            for application_id in application_ids:
                body, headers = screened_out_rejection(application_id)
                answer = await http.post("/webhooks/greenhouse", content=body, headers=headers)
                assert answer.status_code == 200, answer.text
            await eventually(lambda: store.counts() == {"ignored": SCREENED_OUT}, timeout=60, what="every delivery recorded as ignored")
            rows = store.deliveries(status="ignored", limit=SCREENED_OUT)
            assert len(rows) == SCREENED_OUT and all("interview" in (row["ignored_reason"] or "") for row in rows)

            # No process was started for any of them, and nothing was created.
            started = await dev_env.client.count_workflows(f"TaskQueue = '{task_queue}'")
            assert started.count == 0
            for application_id in application_ids[:5]:
                workflow_id = post_interview_workflow_id("greenhouse", str(application_id))
                assert [w async for w in dev_env.client.list_workflows(f"WorkflowId = '{workflow_id}'")] == []
            assert tasks.tasks() == [] and tasks.messages() == []


async def test_a_rejection_after_an_interview_still_gets_its_close_out_through_the_intake(dev_env, store_url, task_queue, activity_pool):
    """The same path for an application that was interviewed: delivered, and closed out."""
    app = Application(application_id="7200001")
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as tasks:
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        await eventually(lambda: tasks.tasks(process_id=app.workflow_id), what="the debrief task")
        async with intake_service(store_url, forwarder_for(dev_env, store_url, task_queue)) as (http, store):
            body, headers = screened_out_rejection(7200001)
            answer = await http.post("/webhooks/greenhouse", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            await eventually(lambda: store.counts() == {"delivered": 1}, what="the rejection delivered")

            async def closed() -> bool:
                return (await dev_env.client.get_workflow_handle(app.workflow_id).describe()).status == WorkflowExecutionStatus.COMPLETED

            await eventually(closed, what="the process to close")
            assert any(t.kind == "closure_feedback" for t in tasks.tasks(process_id=app.workflow_id))
