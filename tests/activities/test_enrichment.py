"""Enrichment against local HTTP servers that serve the vendors' endpoints."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI, HTTPException, Request
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.enrichment import EnrichmentActivities
from domain.follow_through import EnrichmentRequest
from process_client import deliver_event
from service.embedded_http import embedded_server
from tests.events import Application
from tests.harness import eventually, free_port, running_engine

KEY = "test-api-key"


def vendor_api() -> FastAPI:
    """Greenhouse Harvest, Lever and Ashby, as far as enrichment reads them."""
    api = FastAPI()

    def authorised(request: Request) -> None:
        expected = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
        if request.headers.get("authorization") != expected:
            raise HTTPException(401, "bad key")

    @api.get("/v1/applications/{application_id}")
    async def gh_application(application_id: str, request: Request):
        authorised(request)
        if application_id == "missing":
            raise HTTPException(404)
        return {"id": int(application_id), "candidate_id": 5501}

    @api.get("/v1/candidates/{candidate_id}")
    async def gh_candidate(candidate_id: str, request: Request):
        authorised(request)
        return {
            "id": int(candidate_id),
            "first_name": "Grace",
            "last_name": "Hopper",
            "email_addresses": [{"value": "grace@example.com", "type": "personal"}],
            "phone_numbers": [{"value": "+1 555 0100", "type": "mobile"}],
            "recruiter": {"id": 92120, "first_name": "Rae", "last_name": "Cruiter", "name": "Rae Cruiter"},
        }

    @api.get("/v1/opportunities/{opportunity_id}")
    async def lever_opportunity(opportunity_id: str, request: Request):
        authorised(request)
        name = "Grace\x00 Hop\x1bper" if opportunity_id == "opp-nul" else "Grace Hopper"  # what a careless import leaves
        return {"data": {"id": opportunity_id, "name": name, "emails": ["grace@example.com"], "phones": [{"type": "mobile", "value": "+1 555 0100"}], "owner": "user-7", "contact": "contact-1"}}

    @api.get("/v1/users/{user_id}")
    async def lever_user(user_id: str, request: Request):
        authorised(request)
        return {"data": {"id": user_id, "name": "Rae Cruiter", "email": "rae@agency.example"}}

    @api.post("/application.info")
    async def ashby_application(request: Request):
        authorised(request)
        body = await request.json()
        return {
            "success": True,
            "results": {
                "id": body["applicationId"],
                "candidate": {"id": "ash-cand-1", "name": "Grace Hopper", "primaryEmailAddress": {"value": "grace@example.com"}},
                "hiringTeam": [{"role": "Recruiter", "userId": "ash-user-3", "firstName": "Rae", "lastName": "Cruiter", "email": "rae@agency.example"}],
            },
        }

    return api


@asynccontextmanager
async def serving_vendor_api() -> AsyncIterator[str]:
    port = free_port()
    server = embedded_server(vendor_api(), "127.0.0.1", port)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.mark.parametrize(
    "source,application_id,candidate_id,recruiter_id",
    [("greenhouse", "4410", "5501", "92120"), ("lever", "opp-1", "contact-1", "user-7"), ("ashby", "ash-app-1", "ash-cand-1", "ash-user-3")],
)
async def test_each_vendor_api_tells_who_is_behind_an_application(source, application_id, candidate_id, recruiter_id):
    async with serving_vendor_api() as url:
        environ = {f"{prefix}_KEY": KEY for prefix in ("GREENHOUSE_HARVEST_API", "LEVER_API", "ASHBY_API")}
        environ |= {"GREENHOUSE_HARVEST_URL": url, "LEVER_API_URL": url, "ASHBY_API_URL": url}
        activities = EnrichmentActivities(environ)
        found = await ActivityEnvironment().run(
            activities.enrich_application, EnrichmentRequest(source=source, application_id=application_id, candidate_id=candidate_id)
        )
        assert found.candidate is not None and found.candidate.id == candidate_id
        assert (found.candidate.name, found.candidate.email) == ("Grace Hopper", "grace@example.com")
        assert found.recruiter is not None and found.recruiter.id == recruiter_id and found.recruiter.name == "Rae Cruiter"


async def test_control_characters_in_a_name_the_ats_holds_are_cleaned_not_fatal():
    # Issue 12: a NUL in a name stopped the process on PostgreSQL. Enrichment is an edge too:
    # the name arrives as one line of plain text.
    async with serving_vendor_api() as url:
        activities = EnrichmentActivities({"LEVER_API_KEY": KEY, "LEVER_API_URL": url})
        found = await ActivityEnvironment().run(
            activities.enrich_application, EnrichmentRequest(source="lever", application_id="opp-nul", candidate_id="contact-1")
        )
        assert found.candidate is not None and found.candidate.name == "Grace Hop per"


async def test_a_missing_key_is_a_warning_not_a_failure():
    found = await ActivityEnvironment().run(
        EnrichmentActivities({}).enrich_application, EnrichmentRequest(source="lever", application_id="opp-1", candidate_id="c")
    )
    assert found.candidate is None and "LEVER_API_KEY is not configured" in (found.note or "")


async def test_a_refused_key_or_unknown_application_is_not_retried():
    async with serving_vendor_api() as url:
        wrong_key = EnrichmentActivities({"GREENHOUSE_HARVEST_API_KEY": "wrong", "GREENHOUSE_HARVEST_URL": url})
        with pytest.raises(ApplicationError) as refused:
            await ActivityEnvironment().run(wrong_key.enrich_application, EnrichmentRequest(source="greenhouse", application_id="4410", candidate_id="c"))
        assert refused.value.non_retryable and "401" in refused.value.message
        right_key = EnrichmentActivities({"GREENHOUSE_HARVEST_API_KEY": KEY, "GREENHOUSE_HARVEST_URL": url})
        with pytest.raises(ApplicationError) as unknown:
            await ActivityEnvironment().run(right_key.enrich_application, EnrichmentRequest(source="greenhouse", application_id="missing", candidate_id="c"))
        assert unknown.value.non_retryable and "404" in unknown.value.message


async def test_a_process_started_with_ids_only_learns_the_names(time_env, store_url, task_queue, activity_pool):
    async with serving_vendor_api() as url:
        lever = {"LEVER_API_KEY": KEY, "LEVER_API_URL": url}
        app = Application(source="lever", application_id="opp-1")
        app.candidate = {"id": "contact-1"}
        app.recruiter = {"id": "user-7"}
        async with running_engine(time_env, store_url, task_queue, activity_pool, vendor_settings=lever) as store:
            await deliver_event(time_env.client, app.interview(1), task_queue)
            await eventually(lambda: store.tasks(process_id=app.workflow_id))
            # Once enrichment has answered, the tasks name the candidate it found.
            await eventually(lambda: _enriched(time_env, app.workflow_id), what="enrichment to complete")
            await deliver_event(time_env.client, app.event("client.feedback_requested"), task_queue)
            urgent = await eventually(lambda: [t for t in store.tasks(process_id=app.workflow_id) if t.kind == "urgent_debrief"])
            assert "Grace Hopper" in urgent[0].title


async def _enriched(env, workflow_id: str) -> bool:
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    scheduled = {
        event.event_id
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
        and event.activity_task_scheduled_event_attributes.activity_type.name == "enrich_application"
    }
    return any(
        event.HasField("activity_task_completed_event_attributes")
        and event.activity_task_completed_event_attributes.scheduled_event_id in scheduled
        for event in history.events
    )
