"""Greenhouse Harvest: who is behind an application, and a note on the candidate's record."""

from __future__ import annotations

import httpx

from typing import Any

from activities.ats_api.vendor import Catalog, Named, NoteTarget, VendorApi, first_value, get_json, one_line, text
from activities.sending import NotSent, send_request
from domain.events import Candidate, Job, Recruiter
from domain.follow_through import Enrichment, EnrichmentRequest


async def enrich(http: httpx.AsyncClient, request: EnrichmentRequest) -> Enrichment:
    enrichment, _ = await lookup_application(http, request.application_id, request.candidate_id)
    return enrichment


async def lookup_application(http: httpx.AsyncClient, application_id: str, candidate_id: str | None = None) -> tuple[Enrichment, Job | None]:
    """Who is behind an application (its candidate, their recruiter) and its job: the enrichment,
    and what the interview poller fills its events with."""
    application = await get_json(http, f"/v1/applications/{application_id}")
    candidate = await get_json(http, f"/v1/candidates/{application.get('candidate_id') or candidate_id}")
    name = one_line(candidate.get("first_name"), candidate.get("last_name"))
    recruiter = candidate.get("recruiter") or {}
    jobs = [job for job in application.get("jobs") or [] if isinstance(job, dict) and job.get("id") is not None]
    enrichment = Enrichment(
        candidate=Candidate(
            id=str(candidate["id"]), name=name, email=first_value(candidate.get("email_addresses")), phone=one_line(first_value(candidate.get("phone_numbers")))
        ),
        recruiter=Recruiter(id=str(recruiter["id"]), name=one_line(recruiter.get("name"))) if recruiter.get("id") else None,
    )
    return enrichment, Job(id=str(jobs[0]["id"]), title=one_line(jobs[0].get("name"))) if jobs else None


def write_note(client: httpx.Client, target: NoteTarget, text: str, author: str, what: str) -> str | None:
    # Notes live on the candidate: an application's note goes on the candidate it names.
    candidate_id = target.candidate_id
    if candidate_id is None:
        application = send_request(client, "GET", f"/v1/applications/{target.application_id}", what).json()
        candidate_id = str(application.get("candidate_id") or "")
        if not candidate_id:
            raise NotSent(f"{what}: application {target.application_id} names no candidate", permanent=True)
    # Harvest writes need a user to act as (On-Behalf-Of): the deployment's, or the assignee's id.
    response = send_request(
        client,
        "POST",
        f"/v1/candidates/{candidate_id}/activity_feed/notes",
        what,
        headers={"On-Behalf-Of": author},
        json={"user_id": author, "body": text, "visibility": "private"},
    )
    return str(response.json().get("id") or "") or None


async def _listed(http: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    """Every page of a Harvest list, following the `Link: <...>; rel="next"` header."""
    items: list[dict[str, Any]] = []
    url: str | None = path
    params: dict[str, str] | None = {"per_page": "500"}
    while url:
        response = await http.get(url, params=params)
        response.raise_for_status()
        items += response.json() or []
        url, params = response.links.get("next", {}).get("url"), None
    return items


async def catalog(http: httpx.AsyncClient) -> Catalog:
    """GET /v1/job_stages (`{"id", "name", "job_id", "interviews": [...]}`, one per job: the intake
    maps stages by name; kind says whether the stage holds interviews) and /v1/rejection_reasons
    (`{"id", "name", "type": {"name"}}`)."""
    stages = [
        Named(str(s["id"]), name, "interviews" if s.get("interviews") else "no interviews")
        for s in await _listed(http, "/v1/job_stages")
        if s.get("id") is not None and (name := text(s.get("name")))
    ]
    reasons = [
        Named(str(r["id"]), name, text((r.get("type") or {}).get("name")))
        for r in await _listed(http, "/v1/rejection_reasons")
        if r.get("id") is not None and (name := text(r.get("name")))
    ]
    return Catalog(stages=stages, archive_reasons=reasons)


API = VendorApi(
    name="greenhouse",
    key_setting="GREENHOUSE_HARVEST_API_KEY",
    url_setting="GREENHOUSE_HARVEST_URL",
    default_url="https://harvest.greenhouse.io",
    enrich=enrich,
    write_note=write_note,
    notes_user_setting="GREENHOUSE_NOTES_USER_ID",
    catalog=catalog,
)
