"""Enrichment: fill in who the candidate (and recruiter) are when the ATS sent ids only.

Lever and Ashby webhooks carry identifiers, and a Greenhouse payload may lack the recruiter; the
process starts anyway, naming the application by its id, and this activity asks the vendor's API
(Greenhouse Harvest, Lever, Ashby) for the rest. A missing API key is a warning and an empty
answer, never a failed workflow: the process goes on with what it has.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain import names
from domain.errors import error_path
from domain.events import Candidate, Recruiter
from domain.follow_through import Enrichment, EnrichmentRequest

log = structlog.get_logger()


@dataclass(frozen=True)
class VendorApi:
    key_setting: str
    url_setting: str
    default_url: str


VENDORS = {
    "greenhouse": VendorApi("GREENHOUSE_HARVEST_API_KEY", "GREENHOUSE_HARVEST_URL", "https://harvest.greenhouse.io"),
    "lever": VendorApi("LEVER_API_KEY", "LEVER_API_URL", "https://api.lever.co"),
    "ashby": VendorApi("ASHBY_API_KEY", "ASHBY_API_URL", "https://api.ashbyhq.com"),
}


class EnrichmentActivities:
    def __init__(self, environ: dict[str, str] | None = None, timeout: float = 10.0) -> None:
        self._environ = dict(os.environ if environ is None else environ)
        self._timeout = timeout

    @activity.defn(name=names.ENRICH_APPLICATION)
    async def enrich_application(self, request: EnrichmentRequest) -> Enrichment:
        vendor = VENDORS.get(request.source)
        if vendor is None:
            return Enrichment(note=f"no enrichment for source {request.source}")
        key = self._environ.get(vendor.key_setting, "").strip()
        if not key:
            log.warning("enrichment skipped: no API key", source=request.source, setting=vendor.key_setting, application_id=request.application_id)
            return Enrichment(note=f"{vendor.key_setting} is not configured: tasks name the application by its id")
        base = self._environ.get(vendor.url_setting, vendor.default_url).rstrip("/")
        # The vendors' APIs take the key as the basic-auth user name, with no password.
        async with httpx.AsyncClient(base_url=base, auth=(key, ""), timeout=self._timeout) as http:
            try:
                enrichment = await _FETCHERS[request.source](http, request)
            except (ValidationError, KeyError, TypeError) as error:
                # The vendor answered something we cannot use (no id, an invalid email): retrying
                # would get the same answer. Field names only: the values may be PII.
                where = (
                    ", ".join(f"{error_path(e['loc'])} ({e['type']})" for e in error.errors())
                    if isinstance(error, ValidationError)
                    else type(error).__name__
                )
                raise ApplicationError(
                    f"{request.source} API answered in a shape we cannot use: {where}",
                    type="EnrichmentUnusable",
                    non_retryable=True,
                ) from None
            except httpx.HTTPStatusError as error:
                status = error.response.status_code
                # A wrong key or an unknown application will not fix itself by retrying.
                if status in (401, 403, 404):
                    raise ApplicationError(
                        f"{request.source} API answered {status} for application {request.application_id}",
                        type="EnrichmentRefused",
                        non_retryable=True,
                    ) from None
                raise
        log.info("application enriched", source=request.source, application_id=request.application_id, found_candidate=enrichment.candidate is not None, found_recruiter=enrichment.recruiter is not None)
        return enrichment


async def _get(http: httpx.AsyncClient, path: str) -> Any:
    response = await http.get(path)
    response.raise_for_status()
    return response.json()


def _first(values: list[dict[str, Any]] | None) -> str | None:
    return next((v.get("value") for v in values or [] if v.get("value")), None)


async def _greenhouse(http: httpx.AsyncClient, request: EnrichmentRequest) -> Enrichment:
    application = await _get(http, f"/v1/applications/{request.application_id}")
    candidate = await _get(http, f"/v1/candidates/{application.get('candidate_id') or request.candidate_id}")
    name = " ".join(part for part in (candidate.get("first_name"), candidate.get("last_name")) if part) or None
    recruiter = candidate.get("recruiter") or {}
    return Enrichment(
        candidate=Candidate(
            id=str(candidate["id"]), name=name, email=_first(candidate.get("email_addresses")), phone=_first(candidate.get("phone_numbers"))
        ),
        recruiter=Recruiter(id=str(recruiter["id"]), name=recruiter.get("name")) if recruiter.get("id") else None,
    )


async def _lever(http: httpx.AsyncClient, request: EnrichmentRequest) -> Enrichment:
    opportunity = (await _get(http, f"/v1/opportunities/{request.application_id}"))["data"]
    emails = opportunity.get("emails") or []
    candidate = Candidate(
        id=str(opportunity.get("contact") or request.candidate_id),
        name=opportunity.get("name"),
        email=emails[0] if emails else None,
        phone=_first(opportunity.get("phones")),
    )
    recruiter = None
    if owner := opportunity.get("owner"):
        user = (await _get(http, f"/v1/users/{owner}"))["data"]
        recruiter = Recruiter(id=str(user["id"]), name=user.get("name"), email=user.get("email"))
    return Enrichment(candidate=candidate, recruiter=recruiter)


async def _ashby(http: httpx.AsyncClient, request: EnrichmentRequest) -> Enrichment:
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
            name=candidate.get("name"),
            email=(candidate.get("primaryEmailAddress") or {}).get("value"),
            phone=(candidate.get("primaryPhoneNumber") or {}).get("value"),
        ),
        recruiter=Recruiter(
            id=str(recruiter["userId"]),
            name=" ".join(p for p in (recruiter.get("firstName"), recruiter.get("lastName")) if p) or None,
            email=recruiter.get("email"),
        )
        if recruiter and recruiter.get("userId")
        else None,
    )


_FETCHERS = {"greenhouse": _greenhouse, "lever": _lever, "ashby": _ashby}
