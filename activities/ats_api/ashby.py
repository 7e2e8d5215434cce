"""Ashby: who is behind an application, and a note on the candidate's record.

Ashby's API is RPC over POST, and answers 200 with `success: false` for a request it refuses."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

from activities.ats_api.vendor import Catalog, Named, NoteTarget, VendorApi, one_line, text
from activities.sending import NotSent, send_request
from domain.events import Candidate, Recruiter
from domain.follow_through import Enrichment, EnrichmentRequest


async def enrich(http: httpx.AsyncClient, request: EnrichmentRequest) -> Enrichment:
    response = await http.post("/application.info", json={"applicationId": request.application_id})
    response.raise_for_status()
    body = response.json()
    if not body.get("success"):
        raise ApplicationError(f"Ashby API refused application.info: {body.get('errors')}", type="EnrichmentRefused", non_retryable=True)
    application = body["results"]
    candidate = application.get("candidate") or {}
    recruiter = next((member for member in application.get("hiringTeam") or [] if member.get("role") == "Recruiter"), None)
    return Enrichment(
        candidate=Candidate(
            id=str(candidate.get("id") or request.candidate_id),
            name=one_line(candidate.get("name")),
            email=(candidate.get("primaryEmailAddress") or {}).get("value"),
            phone=one_line((candidate.get("primaryPhoneNumber") or {}).get("value")),
        ),
        recruiter=Recruiter(
            id=str(recruiter["userId"]),
            name=one_line(recruiter.get("firstName"), recruiter.get("lastName")),
            email=recruiter.get("email"),
        )
        if recruiter and recruiter.get("userId")
        else None,
    )


def write_note(client: httpx.Client, target: NoteTarget, text: str, author: str, what: str) -> str | None:
    # Ashby's candidate.createNote names no author: `author` is not used.
    candidate_id = target.candidate_id
    if candidate_id is None:
        info = _results(send_request(client, "POST", "/application.info", what, json={"applicationId": target.application_id}), what)
        candidate_id = str((info.get("candidate") or {}).get("id") or "")
        if not candidate_id:
            raise NotSent(f"{what}: application {target.application_id} names no candidate", permanent=True)
    response = send_request(client, "POST", "/candidate.createNote", what, json={"candidateId": candidate_id, "note": text, "sendNotifications": False})
    return str(_results(response, what).get("id") or "") or None


def _results(response: httpx.Response, what: str) -> dict[str, Any]:
    # Ashby answers 200 with success false for a request it refuses.
    body = response.json()
    if not body.get("success"):
        raise NotSent(f"{what} refused the request: {body.get('errors')}", permanent=True)
    return body.get("results") or {}


async def _listed(http: httpx.AsyncClient, method: str, body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every page of an Ashby list (`results`, `moreDataAvailable`, `nextCursor` passed back as `cursor`)."""
    items: list[dict[str, Any]] = []
    request = dict(body or {})
    while True:
        response = await http.post(f"/{method}", json=request)
        response.raise_for_status()
        answer = response.json()
        if not answer.get("success"):
            raise ApplicationError(f"Ashby API refused {method}: {answer.get('errors')}", type="CatalogRefused", non_retryable=True)
        items += answer.get("results") or []
        if not answer.get("moreDataAvailable") or not answer.get("nextCursor"):
            return items
        request["cursor"] = answer["nextCursor"]


async def catalog(http: httpx.AsyncClient) -> Catalog:
    """Every interview plan's stages (interviewPlan.list, then interviewStage.list per plan:
    `{"id", "title", "type"}`, type Active for interview stages) and archiveReason.list
    (`{"id", "text", "reasonType"}`)."""
    stages: dict[str, Named] = {}
    for plan in await _listed(http, "interviewPlan.list"):
        if not plan.get("id"):
            continue
        for stage in await _listed(http, "interviewStage.list", {"interviewPlanId": plan["id"]}):
            if stage.get("id") and (name := text(stage.get("title"))):
                stages[str(stage["id"])] = Named(str(stage["id"]), name, stage.get("type"))
    reasons = [
        Named(str(r["id"]), name, r.get("reasonType"))
        for r in await _listed(http, "archiveReason.list")
        if r.get("id") and (name := text(r.get("text")))
    ]
    return Catalog(stages=list(stages.values()), archive_reasons=reasons)


API = VendorApi(
    name="ashby",
    key_setting="ASHBY_API_KEY",
    url_setting="ASHBY_API_URL",
    default_url="https://api.ashbyhq.com",
    enrich=enrich,
    write_note=write_note,
    catalog=catalog,
)
