"""The HTTP front door: ATS webhooks in, durable intake rows out.

Each endpoint verifies its sender's own signature against the raw body, maps the payload to
canonical events, and answers 2xx only once the delivery is committed to the intake table; the
forwarder takes it to Temporal from there. Nothing is stored for a bad signature (401); a body
that is not JSON (415), malformed (400), or too large (413) gets a JSON error naming the problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from intake.config import IntakeConfig
from intake.forwarder import Forwarder
from intake.names import NameLoader, Resolver, VendorNames
from intake.senders import PayloadError, Sender, senders
from intake.signatures import SignatureError
from intake.store_writer import StoreWriter
from intake.tracing import current_context
from metrics.intake import IntakeMetrics
from store.intake_store import IntakeStore, NewDelivery

log = structlog.get_logger()

# The default of HTTP_MAX_BODY_BYTES (service/settings.py), for an app built without the settings.
MAX_BODY_BYTES = 1024 * 1024
SIGNED_IN_BODY = {"lever"}
# How long /readyz waits for Temporal's answer, which it reports but does not depend on.
READYZ_TEMPORAL_TIMEOUT = 1.0

_ERRORS = {
    400: "bad_request",
    401: "unauthorized",
    413: "payload_too_large",
    415: "unsupported_media_type",
    503: "vendor_unavailable",
}


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": _ERRORS.get(status, "error"), "message": message, **extra}, status_code=status)


class BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    config: IntakeConfig,
    store: IntakeStore,
    forwarder: Forwarder | None = None,
    writer: StoreWriter | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    names: VendorNames | None = None,
    load_names: NameLoader | None = None,
    resolve: Resolver | None = None,
) -> FastAPI:
    """The intake service. With a forwarder, it runs beside the endpoints for the app's lifetime.
    Deliveries are committed by `writer` (group commit), by default one of the app's own; pass
    the forwarder's so that one thread does all the writes of the process. Bodies over
    `max_body_bytes` are refused (413); the HTTP service (service/http.py) also refuses them for
    every route before they are read, with the same limit (HTTP_MAX_BODY_BYTES). With `load_names`
    (service/http.py: the vendors' APIs), the vendors' stage and archive-reason names are kept
    loaded in `names` for the app's lifetime, so deliveries name them instead of their ids. With
    `resolve`, a delivery that lacks what the vendor's API holds (a Lever interview's time) is
    completed from there before it is stored; the API not answering is a 503 (nothing stored, the
    vendor delivers again)."""
    own_writer = writer is None
    names = names or VendorNames()
    writer = writer or StoreWriter(store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(forwarder.run(stop)) if forwarder else None
        naming = asyncio.create_task(names.keep_loaded(load_names, stop)) if load_names else None
        try:
            yield
        finally:
            stop.set()
            if task:
                await task
            if naming:
                # Only a cache: a load in flight (a slow vendor) must not hold up the shutdown.
                naming.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await naming
            if own_writer:
                await asyncio.to_thread(writer.close)

    app = FastAPI(
        title="Post-interview engine: webhook intake",
        version="1",
        description=(
            "ATS webhooks (Greenhouse, Lever, Ashby) and canonical events from any Standard Webhooks "
            "sender. A 2xx means the delivery is durably accepted; duplicates are acknowledged once."
        ),
        lifespan=lifespan,
    )
    by_name = senders(config, names)
    metrics = IntakeMetrics(store)
    metrics.mount(app)  # GET /metrics
    app.state.intake_metrics = metrics  # the HTTP service's body limit counts its 413s here
    if forwarder:
        forwarder.observer = metrics

    @metrics.counted
    async def receive(name: str, request: Request) -> JSONResponse:
        sender: Sender = by_name[name]
        received_at = datetime.now(UTC)
        try:
            body = await _read_body(request, max_body_bytes)
        except BodyTooLarge:
            return _error(413, f"the body is larger than {max_body_bytes} bytes")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type and content_type != "application/json" and not content_type.endswith("+json"):
            return _error(415, f"the body must be JSON (Content-Type application/json), not {content_type}")
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as problem:  # not UTF-8, not JSON, absurdly deep or long
            # A sender that signs in headers is checked first, so unsigned garbage is a 401;
            # Lever signs inside the body, which then cannot be read at all.
            if name not in SIGNED_IN_BODY:
                try:
                    sender.verify(body, None, headers, received_at)
                except SignatureError as error:
                    return _error(401, str(error))
            return _error(400, f"the body is not valid JSON: {problem}")
        try:
            sender.verify(body, payload, headers, received_at)
        except SignatureError as error:
            log.warning("webhook refused", sender=name, reason=str(error))
            return _error(401, str(error))
        try:
            delivery = sender.parse(body, payload, headers, received_at)
        except PayloadError as error:
            log.warning("webhook payload does not fit", sender=name, reason=str(error))
            return _error(400, str(error))
        if delivery.lookup is not None and resolve is not None:
            lookup = delivery.lookup
            try:
                found = await resolve(lookup.kind, lookup.ids)
            except Exception as error:  # noqa: BLE001 - whatever the vendor's API did, the answer is "later"
                log.warning("vendor API did not answer", sender=name, lookup=lookup.kind, error=f"{type(error).__name__}: {error}")
                return _error(503, f"{name}'s API did not answer ({type(error).__name__}); nothing was stored: deliver it again later")
            try:
                if found is None:
                    delivery = replace(delivery, ignored_reason=f"{lookup.what} no longer exists in {name}'s API", lookup=None)
                else:
                    delivery = sender.parse(body, lookup.merge(payload, found), headers, received_at)
            except PayloadError as error:
                # The vendor's own API answered something we cannot use: keep the delivery as it
                # was mapped (ignored), saying why, rather than refuse what the vendor sent.
                delivery = replace(delivery, ignored_reason=f"{name}'s API answered what cannot be used: {error}", lookup=None)
        try:
            events = [json.loads(event.model_dump_json()) for event in delivery.events]
            if delivery.erasure is not None:
                # Not a canonical event: an erasure request the forwarder carries out (privacy/erasure.py).
                events.append({"erasure": dict(delivery.erasure)})
        except ValueError:  # e.g. a lone surrogate in a string: valid JSON, not storable text
            return _error(400, "the payload contains text that is not valid Unicode")
        accepted = await writer.accept(
            NewDelivery(
                source=delivery.source,
                idempotency_key=delivery.idempotency_key,
                action=delivery.action,
                application_key=delivery.application_key,
                events=events,
                ignored_reason=delivery.ignored_reason,
                received_at=received_at,
                trace_context=current_context(),
            )
        )
        if forwarder and not accepted.duplicate and events:
            forwarder.wake()
        if delivery.unmapped_stage and not accepted.duplicate:
            # Reported, never guessed: the delivery went on (its round left to the process, or
            # ignored) and an operator adds the stage to config/intake.toml.
            log.warning(
                "stage not in the intake map",
                sender=name,
                action=delivery.action,
                stage=delivery.unmapped_stage,
                hint="add it to config/intake.toml; `postinterview intake check-config` lists the vendor's stages",
            )
            metrics.unmapped_stage(name)
        log.info(
            "webhook accepted",
            sender=name,
            action=delivery.action,
            delivery_id=accepted.delivery_id,
            duplicate=accepted.duplicate,
            events=len(delivery.events),
            ignored=delivery.ignored_reason,
        )
        answer = {
            "status": "duplicate" if accepted.duplicate else ("ignored" if not events else "accepted"),
            "delivery_id": accepted.delivery_id,
            "events": [event.event_id for event in delivery.events],
        }
        if delivery.erasure is not None:
            answer["erasure"] = "requested: the candidate is erased once the forwarder has carried it out"
        if delivery.ignored_reason:
            answer["reason"] = delivery.ignored_reason
        # 200 for every acknowledged delivery, accepted ones included: Greenhouse retries on "a non
        # HTTP 200 response" and Ashby asks for a 200. The body's `status` says which it was.
        return JSONResponse(answer, status_code=200)

    @app.post("/webhooks/greenhouse", summary="Greenhouse webhook (Signature: sha256 <hex>)")
    async def greenhouse(request: Request) -> JSONResponse:
        return await receive("greenhouse", request)

    @app.post("/webhooks/lever", summary="Lever webhook (signature in the body over token + triggeredAt)")
    async def lever(request: Request) -> JSONResponse:
        return await receive("lever", request)

    @app.post("/webhooks/ashby", summary="Ashby webhook (Ashby-Signature: sha256=<hex>)")
    async def ashby(request: Request) -> JSONResponse:
        return await receive("ashby", request)

    @app.post("/events", summary="Canonical events, signed as Standard Webhooks")
    async def events(request: Request) -> JSONResponse:
        return await receive("events", request)

    @app.get("/healthz", summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the intake store takes deliveries (Temporal is reported, not required)")
    async def readyz() -> JSONResponse:
        # Ready means "a webhook sent here now is stored": the store alone decides. Temporal
        # being down must not take the intake out of a load balancer, since buffering while it
        # is down is exactly what the intake is for; its state is shown beside, for operators.
        async def store_check() -> str:
            try:
                await asyncio.to_thread(store.ping)
                return "ok"
            except Exception as error:
                return f"unreachable: {type(error).__name__}"

        async def temporal_check() -> str:
            if forwarder is None:
                return "no forwarder in this process"
            try:
                # Short: a probe's own timeout is a few seconds, and this part never decides.
                async with asyncio.timeout(READYZ_TEMPORAL_TIMEOUT):
                    client = await forwarder.client()
                    await client.service_client.check_health()
                return "ok"
            except Exception as error:  # TimeoutError included
                return f"unreachable: {type(error).__name__} (deliveries wait in the store)"

        store_state, temporal_state = await asyncio.gather(store_check(), temporal_check())
        checks = {"store": store_state, "temporal": temporal_state}
        ready = store_state == "ok"
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503)

    return app
