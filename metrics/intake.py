"""The webhook intake's metrics, served at its `/metrics` (prometheus_client, text format).

- `postinterview_webhook_deliveries_total{vendor, outcome}`: every webhook answered, by vendor
  (greenhouse, lever, ashby, events) and outcome: accepted, duplicate and ignored (200, told apart by the body's `status`),
  rejected_signature (401), bad_request (400), too_large (413), unsupported_media_type (415),
  vendor_unavailable (503: the vendor's API, asked for what a delivery lacked, did not answer).
- `postinterview_unmapped_stages_total{vendor}`: deliveries naming a stage config/intake.toml does
  not map (their round left to the process, or ignored); the log line names the stage, and
  `postinterview intake check-config` lists the vendor's stages against the map. Alert above 0.
  A too_large is counted whether the intake refused the body or the HTTP service's body limit
  did before the intake saw it (service/body_limit.py: `refused_body`).
- `postinterview_webhook_acknowledgement_seconds{vendor}`: from the request read to the answer
  (the durable write included).
- `postinterview_forwarded_events_total{outcome}`: events the forwarder handed to Temporal:
  delivered, or process_closed (a late event for an ended process), no_process (a rejection or
  withdrawal of an applicant never interviewed: no process started), reopened (a closed process
  started again by `application.reopened`).
- `postinterview_forward_failures_total`: failed attempts to deliver (each is retried, or given up on).
- `postinterview_forward_dead_letters_total{vendor}`: deliveries this intake gave up on (a
  non-retryable error, or too many failed attempts): they became `failed`.
- `postinterview_intake_failed{vendor}`: the deliveries in the table that are `failed` now, until
  an operator retries or skips them (`postinterview deliveries`); alert on it above 0.
- `postinterview_intake_backlog` and `postinterview_intake_oldest_pending_seconds`: deliveries
  accepted but not yet forwarded, read from the intake table at each scrape. Every intake
  instance shares the table, so aggregate these with max(), not sum().
- The process's CPU, memory and file descriptors (`process_*`).

Each app has its own registry, so several apps in one process (tests) do not mix their counts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from functools import wraps
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from fastapi import FastAPI

    from store.intake_store import IntakeStore

log = structlog.get_logger()

VENDORS = ("greenhouse", "lever", "ashby", "events")
OUTCOMES = ("accepted", "duplicate", "ignored", "rejected_signature", "bad_request", "too_large", "unsupported_media_type", "vendor_unavailable")
_BY_STATUS = {400: "bad_request", 401: "rejected_signature", 413: "too_large", 415: "unsupported_media_type", 503: "vendor_unavailable"}
FORWARD_OUTCOMES = ("delivered", "process_closed", "no_process", "reopened")
# The webhook endpoints (intake/app.py) and the vendor each counts as.
_VENDOR_OF_PATH = {"/webhooks/greenhouse": "greenhouse", "/webhooks/lever": "lever", "/webhooks/ashby": "ashby", "/events": "events"}
# The intake table's `source` of the deliveries of each endpoint, where the two names differ.
_VENDOR_OF_SOURCE = {"api": "events"}


def vendor_of(source: str) -> str:
    """A delivery's vendor label, as the endpoint that received it is named in these metrics."""
    return _VENDOR_OF_SOURCE.get(source, source)


def outcome_of(response: Response) -> str:
    """What the intake answered, in the words of its JSON body (200: accepted, duplicate or ignored)."""
    if response.status_code == 200:
        try:
            status = json.loads(bytes(response.body)).get("status")
        except (ValueError, AttributeError):
            status = None
        return status if status in ("accepted", "duplicate", "ignored") else "ok"
    return _BY_STATUS.get(response.status_code, f"http_{response.status_code}")


class _Backlog(Collector):
    """Read at each scrape, so every instance reports the table as it is."""

    def __init__(self, store: IntakeStore) -> None:
        self._store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            count, oldest = self._store.backlog()
        except Exception as error:  # the store is down: say so in the log, keep the other metrics
            log.warning("intake backlog unknown", error=f"{type(error).__name__}: {error}")
            return
        yield GaugeMetricFamily("postinterview_intake_backlog", "Deliveries accepted and not yet forwarded to Temporal", value=count)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "postinterview_intake_oldest_pending_seconds", "Age of the oldest delivery waiting for the forwarder (0: none)", value=max(age, 0.0)
        )
        try:
            failed = self._store.failed_by_source()
        except Exception as error:  # noqa: BLE001 - as above
            log.warning("failed deliveries unknown", error=f"{type(error).__name__}: {error}")
            return
        by_vendor = dict.fromkeys(VENDORS, 0)
        for source, count in failed.items():
            by_vendor[vendor_of(source)] = by_vendor.get(vendor_of(source), 0) + count
        family = GaugeMetricFamily(
            "postinterview_intake_failed", "Deliveries the forwarder gave up on, until an operator retries or skips them", labels=["vendor"]
        )
        for vendor, count in by_vendor.items():
            family.add_metric([vendor], count)
        yield family


class IntakeMetrics:
    def __init__(self, store: IntakeStore | None = None) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "postinterview_webhook_deliveries", "Webhooks answered, by vendor and outcome", ["vendor", "outcome"], registry=self.registry
        )
        self.acknowledgement = Histogram(
            "postinterview_webhook_acknowledgement_seconds",
            "From a webhook's request to its answer, the durable write included",
            ["vendor"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.unmapped_stages = Counter(
            "postinterview_unmapped_stages",
            "Deliveries naming a stage the intake map (config/intake.toml) does not cover, by vendor",
            ["vendor"],
            registry=self.registry,
        )
        self.forwarded_events = Counter(
            "postinterview_forwarded_events", "Events the forwarder delivered to Temporal, by outcome", ["outcome"], registry=self.registry
        )
        self.forward_failures = Counter(
            "postinterview_forward_failures", "Deliveries the forwarder could not deliver yet (retried)", registry=self.registry
        )
        self.dead_letters = Counter(
            "postinterview_forward_dead_letters",
            "Deliveries the forwarder gave up on (failed: a non-retryable error or too many attempts), by vendor",
            ["vendor"],
            registry=self.registry,
        )
        # Every series from zero, so a rate() sees the first delivery of each kind.
        for vendor in VENDORS:
            self.dead_letters.labels(vendor)
            self.unmapped_stages.labels(vendor)
            self.acknowledgement.labels(vendor)
            for outcome in OUTCOMES:
                self.deliveries.labels(vendor, outcome)
        for outcome in FORWARD_OUTCOMES:
            self.forwarded_events.labels(outcome)
        ProcessCollector(registry=self.registry)
        if store is not None:
            self.registry.register(_Backlog(store))

    # --- the endpoints ---------------------------------------------------------------------

    def counted(self, receive: Callable[[str, Request], Awaitable[Response]]) -> Callable[[str, Request], Awaitable[Response]]:
        """Wraps the intake's `receive(vendor, request)`: counts each answer and times it."""

        @wraps(receive)
        async def counting(vendor: str, request: Request) -> Response:
            started = time.perf_counter()
            response = await receive(vendor, request)
            self.acknowledgement.labels(vendor).observe(time.perf_counter() - started)
            self.deliveries.labels(vendor, outcome_of(response)).inc()
            return response

        return counting

    def unmapped_stage(self, vendor: str) -> None:
        self.unmapped_stages.labels(vendor).inc()

    def refused_body(self, path: str) -> None:
        """The HTTP service's body limit answered 413 on `path` before the intake read it: a
        webhook's is counted as its vendor's too_large; other routes' are not webhooks."""
        vendor = _VENDOR_OF_PATH.get(path.rstrip("/"))
        if vendor is not None:
            self.deliveries.labels(vendor, "too_large").inc()

    # --- the forwarder (intake.forwarder.Forwarder.observer) ----------------------------------

    def forwarded(self, outcome: str) -> None:
        self.forwarded_events.labels(outcome).inc()

    def failed(self) -> None:
        self.forward_failures.inc()

    def dead_lettered(self, source: str) -> None:
        self.dead_letters.labels(vendor_of(source)).inc()

    # --- exposition ---------------------------------------------------------------------------

    def mount(self, app: FastAPI) -> None:
        """Serve GET /metrics on `app` (the store is read in a thread: it is synchronous)."""

        async def metrics() -> Response:
            return Response(await asyncio.to_thread(generate_latest, self.registry), media_type=CONTENT_TYPE_LATEST)

        app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)


class NoMetrics:
    """The forwarder's observer when nobody counts (a forwarder outside an intake app)."""

    def forwarded(self, outcome: str) -> None:
        pass

    def failed(self) -> None:
        pass

    def dead_lettered(self, source: str) -> None:
        pass


