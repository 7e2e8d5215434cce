"""The public contract on the Temporal dev server: the update, the query, search attributes and
what an operator reads in the UI (summaries, current details).

The dev server is used here because the time-skipping server lists no workflows and handles
updates only partly.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from domain import contract
from domain.debrief import Debrief
from domain.policy import TimingPolicy
from process_client import deliver_event, process_handle, process_status, record_debrief
from tests.events import GOOD_DEBRIEF, Application
from tests.harness import eventually, running_engine, status_when



async def rejection(coro) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await coro
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause


async def test_record_debrief_accepts_a_substantive_debrief_and_moves_the_process_on(dev_env, store_url, task_queue, activity_pool):
    app = Application()
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as store:
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        await eventually(lambda: [t.kind for t in store.tasks(status="open", process_id=app.workflow_id)] == ["book_debrief"])

        accepted = await record_debrief(dev_env.client, app.source, app.application_id, Debrief.model_validate(GOOD_DEBRIEF))
        assert accepted.round == 1 and accepted.interest == 4 and accepted.recorded_at is not None

        await eventually(lambda: [t.kind for t in store.tasks(status="done", process_id=app.workflow_id)] == ["book_debrief"])
        current = await process_status(dev_env.client, app.source, app.application_id)
        assert current.stage == "awaiting_client" and current.waiting_for == "the client's decision"


async def test_record_debrief_rejects_what_tells_the_client_nothing_with_a_reason(dev_env, store_url, task_queue, activity_pool):
    app = Application()
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as store:
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        await eventually(lambda: store.tasks(process_id=app.workflow_id))

        one_liner = Debrief(summary="I think it went well, let me know.", interest=5)
        cause = await rejection(record_debrief(dev_env.client, app.source, app.application_id, one_liner))
        assert cause.type == "DebriefNotSubstantive"
        assert "at least 12" in cause.message and "concerns, questions for the client, or reflections" in cause.message
        assert len(cause.details) == 1 and len(cause.details[0]) == 2  # the reasons, for a form to show

        generic = Debrief(
            summary="It went well, it was great, very interested, enjoyed meeting them, it went really well, all good.",
            interest=5,
            concerns="none really",
        )
        cause = await rejection(record_debrief(dev_env.client, app.source, app.application_id, generic))
        assert "mostly generic" in cause.message

        cause = await rejection(record_debrief(dev_env.client, app.source, app.application_id, Debrief.model_validate({**GOOD_DEBRIEF, "round": 3})))
        assert cause.type == "UnknownRound"

        # A payload the model refuses (interest out of range) is rejected too, not a failed workflow.
        handle = process_handle(dev_env.client, app.source, app.application_id)
        cause = await rejection(handle.execute_update(contract.RECORD_DEBRIEF_UPDATE, {**GOOD_DEBRIEF, "interest": 9}))
        assert cause.type == "InvalidDebrief" and "interest: Input should be less than or equal to 5" in cause.message

        # Nothing of that reached the process.
        current = await process_status(dev_env.client, app.source, app.application_id)
        assert current.stage == "debrief" and current.debriefs[0].recorded_at is None
        assert (await handle.describe()).status.name == "RUNNING"


async def test_record_debrief_before_any_interview_is_refused(dev_env, store_url, task_queue, activity_pool):
    app = Application()
    async with running_engine(dev_env, store_url, task_queue, activity_pool):
        # An ATS may report the reference request first (out of order): no interview to debrief yet.
        await deliver_event(dev_env.client, app.references("ref-1"), task_queue)
        await eventually(lambda: _stage(dev_env, app, "references"))
        cause = await rejection(record_debrief(dev_env.client, app.source, app.application_id, Debrief.model_validate(GOOD_DEBRIEF)))
        assert cause.type == "NoInterview"


async def _stage(env, app: Application, stage: str) -> bool:
    return (await process_status(env.client, app.source, app.application_id)).stage == stage


async def test_status_query_reports_stage_tasks_referees_and_milestones(dev_env, store_url, task_queue, activity_pool):
    app = Application()
    async with running_engine(dev_env, store_url, task_queue, activity_pool):
        for event in (app.interview(1), app.references("ref-1", "ref-2"), app.offer("offer.extended")):
            await deliver_event(dev_env.client, event, task_queue)
        current = await status_when(dev_env.client, app.source, app.application_id, lambda s: s.stage == "offer" and len(s.referees) == 2 and s.open_tasks)
        assert current.application_id == app.application_id and current.source == "greenhouse"
        assert current.sla_breached is False and current.offer_blocked is True
        assert [(t.kind, t.assignee) for t in current.open_tasks] == [("book_debrief", "rec-1")]
        assert current.open_tasks[0].key == f"{app.workflow_id}/debrief/1/book-call"
        assert {r.id for r in current.referees} == {"ref-1", "ref-2"}
        assert {"references.requested", "offer.extended"} <= set(current.milestones)
        assert current.events_seen == 3


async def test_search_attributes_let_an_operator_filter_by_stage_and_sla(dev_env, store_url, task_queue, activity_pool):
    app = Application()
    # A debrief due within a couple of seconds, so the SLA can be breached on a real clock.
    quick = TimingPolicy(calendar="continuous", debrief_due_business_hours=0.0005)
    async with running_engine(dev_env, store_url, task_queue, activity_pool, policy=quick):
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        await deliver_event(dev_env.client, app.references("ref-1"), task_queue)
        await eventually(lambda: _listed(dev_env, f"ProcessStage = 'references' AND ApplicationId = '{app.application_id}'"), what="listed in references")

        await asyncio.sleep(2)  # past the debrief's due time
        await deliver_event(dev_env.client, app.event("client.feedback_requested"), task_queue)
        query = f"ProcessStage = 'references' AND SlaBreached = true AND ApplicationId = '{app.application_id}'"
        listed = await eventually(lambda: _listed(dev_env, query), what="SLA breach visible")
        assert [w.id for w in listed] == [app.workflow_id]

        described = await process_handle(dev_env.client, app.source, app.application_id).describe()
        ours = {key.name for key in contract.SEARCH_ATTRIBUTES}
        attributes = {key.name: value for key, value in described.typed_search_attributes if key.name in ours}
        assert attributes == {
            "ApplicationId": app.application_id,
            "CandidateId": app.candidate["id"],
            "RecruiterId": "rec-1",
            "AtsSource": "greenhouse",
            "ProcessStage": "references",
            "SlaBreached": True,
        }
        # Identifiers only: no name, email or phone in what every operator can list.
        flat = " ".join(str(v) for v in attributes.values())
        for pii in (app.candidate["name"], app.candidate["email"], app.candidate["phone"], "Ada"):
            assert pii not in flat


async def _listed(env, query: str):
    return [w async for w in env.client.list_workflows(query)]


async def test_each_run_reads_well_in_the_ui(dev_env, store_url, task_queue, activity_pool):
    app = Application()
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as store:
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        await eventually(lambda: store.tasks(process_id=app.workflow_id))
        handle = process_handle(dev_env.client, app.source, app.application_id)
        described = await handle.describe()
        assert await described.static_summary() == f"Application {app.application_id}: Compliance Analyst at Acme Capital"
        assert "Ada" not in (await described.static_summary() or "")

        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert "**Stage:** debrief" in metadata.current_details
        assert "**Waiting for:** the debrief of round 1" in metadata.current_details

        summaries = await eventually(lambda: _summaries_once_waiting(handle), what="the debrief timer")
        assert any("Fix the timing policy" in s for s in summaries)
        assert any("book debrief" in s for s in summaries)
        assert any("Message the candidate: debrief questions" in s for s in summaries)


async def _summaries_once_waiting(handle) -> list[str]:
    history = await handle.fetch_history()
    summaries = [
        event.user_metadata.summary.data.decode()
        for event in history.events
        if event.HasField("user_metadata") and event.user_metadata.HasField("summary")
    ]
    # The timer is named too: the UI shows what the process is waiting for.
    return summaries if any("Debrief round 1 due" in s for s in summaries) else []


async def test_a_retried_delivery_starts_one_process(dev_env, store_url, task_queue, activity_pool):
    app = Application()
    async with running_engine(dev_env, store_url, task_queue, activity_pool) as store:
        event = app.interview(1)
        await asyncio.gather(*(deliver_event(dev_env.client, event, task_queue) for _ in range(5)))
        await eventually(lambda: store.tasks(process_id=app.workflow_id))
        await asyncio.sleep(0.5)
        listed = await _listed(dev_env, f"ApplicationId = '{app.application_id}'")
        assert len(listed) == 1
        current = await process_status(dev_env.client, app.source, app.application_id)
        assert current.events_seen == 1 and len(store.tasks(process_id=app.workflow_id)) == 1


async def test_a_closed_process_hands_over_to_the_relationship(dev_env, store_url, task_queue, activity_pool):
    app = Application()
    async with running_engine(dev_env, store_url, task_queue, activity_pool):
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        await deliver_event(dev_env.client, app.event("candidate.rejected", {"reason": "client hired internally", "met_in_person": True}), task_queue)
        final = await process_handle(dev_env.client, app.source, app.application_id).result()
        assert final.stage == "closed"
        relationship = dev_env.client.get_workflow_handle(contract.relationship_workflow_id(app.source, app.candidate["id"]))
        described = await relationship.describe()
        assert described.status.name == "RUNNING" and described.workflow_type == "RelationshipProcess"
        assert await described.static_summary() == f"Relationship with candidate {app.candidate['id']} (greenhouse)"
        await relationship.terminate("test finished")


async def test_policy_is_fixed_when_the_process_starts(dev_env, store_url, task_queue, activity_pool):
    app = Application(client_id="acme-capital")
    from domain.policy import PolicyBook

    book = PolicyBook(default=TimingPolicy(calendar="continuous"), clients={"acme-capital": {"debrief_due_business_hours": 2}})
    async with running_engine(dev_env, store_url, task_queue, activity_pool, policy=book) as store:
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        task = (await eventually(lambda: store.tasks(process_id=app.workflow_id)))[0]
        assert timedelta(hours=1, minutes=59) < task.due_at - task.created_at < timedelta(hours=2, minutes=1)
