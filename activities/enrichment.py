"""Enrichment: fill in who the candidate (and recruiter) are when the ATS sent ids only.

Lever and Ashby webhooks carry identifiers, and a Greenhouse payload may lack the recruiter; the
process starts anyway, naming the application by its id, and this activity asks the vendor's API
(Greenhouse Harvest, Lever, Ashby: activities/ats_api/) for the rest. A missing API key is a
warning and an empty answer, never a failed workflow: the process goes on with what it has.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import structlog
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.ats_api import VENDORS
from domain import names
from domain.errors import error_path
from domain.follow_through import Enrichment, EnrichmentRequest

log = structlog.get_logger()


class EnrichmentActivities:
    def __init__(self, vendor_settings: Mapping[str, str], timeout: float = 10.0) -> None:
        """`vendor_settings`: the vendors' API keys and URLs by the variable that sets them
        (VendorApi.key_setting, url_setting), as the service's settings read them."""
        self._settings = dict(vendor_settings)
        self._timeout = timeout

    @activity.defn(name=names.ENRICH_APPLICATION)
    async def enrich_application(self, request: EnrichmentRequest) -> Enrichment:
        vendor = VENDORS.get(request.source)
        if vendor is None:
            return Enrichment(note=f"no enrichment for source {request.source}")
        key = self._settings.get(vendor.key_setting, "").strip()
        if not key:
            log.warning("enrichment skipped: no API key", source=request.source, setting=vendor.key_setting, application_id=request.application_id)
            return Enrichment(note=f"{vendor.key_setting} is not configured: tasks name the application by its id")
        base = self._settings.get(vendor.url_setting, vendor.default_url).rstrip("/")
        # The vendors' APIs take the key as the basic-auth user name, with no password.
        async with httpx.AsyncClient(base_url=base, auth=(key, ""), timeout=self._timeout) as http:
            try:
                enrichment = await vendor.enrich(http, request)
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

