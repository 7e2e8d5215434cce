"""Lever: who is behind an opportunity, and a note on it."""

from __future__ import annotations

import httpx

from typing import Any

from activities.ats_api.vendor import Catalog, Named, NoteTarget, VendorApi, first_value, get_json, one_line, text
from activities.sending import send_request
from domain.events import Candidate, Recruiter
from domain.follow_through import Enrichment, EnrichmentRequest


async def enrich(http: httpx.AsyncClient, request: EnrichmentRequest) -> Enrichment:
    opportunity = (await get_json(http, f"/v1/opportunities/{request.application_id}"))["data"]
    emails = opportunity.get("emails") or []
    candidate = Candidate(
        id=str(opportunity.get("contact") or request.candidate_id),
        name=one_line(opportunity.get("name")),
        email=emails[0] if emails else None,
        phone=one_line(first_value(opportunity.get("phones"))),
    )
    recruiter = None
    if owner := opportunity.get("owner"):
        user = (await get_json(http, f"/v1/users/{owner}"))["data"]
        recruiter = Recruiter(id=str(user["id"]), name=one_line(user.get("name")), email=user.get("email"))
    return Enrichment(candidate=candidate, recruiter=recruiter)


def write_note(client: httpx.Client, target: NoteTarget, text: str, author: str, what: str) -> str | None:
    params = {"perform_as": author} if author else {}
    response = send_request(
        client, "POST", f"/v1/opportunities/{target.application_id}/notes", what, params=params, json={"value": text, "notifyFollowers": False}
    )
    data = response.json().get("data") or {}
    return str(data.get("noteId") or data.get("id") or "") or None


async def _listed(http: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    """Every page of a Lever list: `{"data": [...], "hasNext": bool, "next": token}`, the token
    passed back as `offset`."""
    items: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "100"}
    while True:
        response = await http.get(path, params=params)
        response.raise_for_status()
        body = response.json()
        data = body.get("data") or []
        items += data if isinstance(data, list) else [data]  # ?type=hired answers one object
        if not body.get("hasNext") or not body.get("next"):
            return items
        params["offset"] = str(body["next"])


async def catalog(http: httpx.AsyncClient) -> Catalog:
    """GET /v1/stages and /v1/archive_reasons: `{"id", "text"}` (reasons also `type`: hired, non-hired)."""
    stages = [Named(str(s["id"]), name) for s in await _listed(http, "/v1/stages") if s.get("id") and (name := text(s.get("text")))]
    reasons = [
        Named(str(r["id"]), name, r.get("type"))
        for r in await _listed(http, "/v1/archive_reasons")
        if r.get("id") and (name := text(r.get("text")))
    ]
    return Catalog(stages=stages, archive_reasons=reasons)


async def interview(http: httpx.AsyncClient, opportunity_id: str, interview_id: str) -> dict[str, Any] | None:
    """GET /v1/opportunities/{opportunity}/interviews/{interview}: the interview object (`date` in
    ms, `duration` in minutes, `interviewers` [{id, name, email}], `canceledAt`), None when Lever
    no longer has it (404)."""
    response = await http.get(f"/v1/opportunities/{opportunity_id}/interviews/{interview_id}")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    found = response.json().get("data")
    return found if isinstance(found, dict) else None


API = VendorApi(
    name="lever",
    key_setting="LEVER_API_KEY",
    url_setting="LEVER_API_URL",
    default_url="https://api.lever.co",
    enrich=enrich,
    write_note=write_note,
    notes_user_setting="LEVER_NOTES_USER_ID",
    # Lever keeps notes on an opportunity only, not on the contact.
    candidate_notes=False,
    catalog=catalog,
)
