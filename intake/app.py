"""The HTTP front door: ATS webhooks in, durable intake rows out.

Each endpoint verifies its sender's own signature against the raw body, maps the payload to
canonical events, and answers 2xx only once the delivery is committed to the intake table; the
forwarder takes it to Temporal from there. Nothing is stored for a bad signature (401); a body
that is not JSON (415), malformed (400), or too large (413) gets a JSON error naming the problem.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from intake.config import IntakeConfig
from intake.forwarder import Forwarder
from intake.senders import PayloadError, Sender, senders
from intake.signatures import SignatureError
from intake.store_writer import StoreWriter
from metrics.intake import IntakeMetrics
from store.intake_store import IntakeStore, NewDelivery

log = structlog.get_logger()

# The default of HTTP_MAX_BODY_BYTES (service/settings.py), for an app built without the settings.
MAX_BODY_BYTES = 1024 * 1024
SIGNED_IN_BODY = {"lever"}

_ERRORS = {
    400: "bad_request",
    401: "unauthorized",
    413: "payload_too_large",
    415: "unsupported_media_type",
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
) -> FastAPI:
    """The intake service. With a forwarder, it runs beside the endpoints for the app's lifetime.
    Deliveries are committed by `writer` (group commit), by default one of the app's own; pass
    the forwarder's so that one thread does all the writes of the process. Bodies over
    `max_body_bytes` are refused (413); the HTTP service (service/http.py) also refuses them for
    every route before they are read, with the same limit (HTTP_MAX_BODY_BYTES)."""
    own_writer = writer is None
    writer = writer or StoreWriter(store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(forwarder.run(stop)) if forwarder else None
        try:
            yield
        finally:
            stop.set()
            if task:
                await task
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
    by_name = senders(config)
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
        try:
            events = [json.loads(event.model_dump_json()) for event in delivery.events]
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
            )
        )
        if forwarder and not accepted.duplicate and delivery.events:
            forwarder.wake()
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
            "status": "duplicate" if accepted.duplicate else ("ignored" if not delivery.events else "accepted"),
            "delivery_id": accepted.delivery_id,
            "events": [event.event_id for event in delivery.events],
        }
        if delivery.ignored_reason:
            answer["reason"] = delivery.ignored_reason
        return JSONResponse(answer, status_code=200 if accepted.duplicate or not delivery.events else 202)

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

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="The intake store and Temporal are reachable")
    async def readyz() -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            await asyncio.to_thread(store.ping)
            checks["store"] = "ok"
        except Exception as error:
            checks["store"] = f"unreachable: {type(error).__name__}"
        if forwarder is None:
            checks["temporal"] = "no forwarder in this process"
        else:
            try:
                client = await asyncio.wait_for(forwarder.client(), timeout=3)
                await asyncio.wait_for(client.service_client.check_health(), timeout=3)
                checks["temporal"] = "ok"
            except Exception as error:
                checks["temporal"] = f"unreachable: {type(error).__name__}"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503)

    return app
