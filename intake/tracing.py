"""The intake's part of a trace (service/tracing.py): the webhook request's trace context is kept
with its row, and the forwarder delivers the row inside a span that continues that trace, however
much later (Temporal down for an hour) and in whichever intake instance.

Only the OpenTelemetry API: with tracing off (no SDK installed) these are no-ops and the row
keeps no context.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import propagate, trace

from store.intake_store import PendingDelivery

tracer = trace.get_tracer("postinterview.intake")


def current_context() -> dict[str, str] | None:
    """The current span's context as W3C headers (traceparent, tracestate), to store with a row."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


@contextmanager
def forwarding(delivery: PendingDelivery) -> Iterator[None]:
    """Deliver `delivery` in a span whose parent is the request that brought it (when stored)."""
    parent = propagate.extract(delivery.trace_context) if delivery.trace_context else None
    attributes = {"postinterview.delivery_id": delivery.id, "postinterview.source": delivery.source, "postinterview.events": len(delivery.events)}
    with tracer.start_as_current_span("forward delivery", context=parent, kind=trace.SpanKind.PRODUCER, attributes=attributes):
        yield
