"""OpenTelemetry tracing for the runnable processes: one trace from a webhook to the email it caused.

The path of one event, each hop a span of the same trace:

  POST /webhooks/... (FastAPI)  ->  the intake row (its trace context stored with it)
  ->  the forwarder's `forward delivery` (parent: the stored context; hours later if Temporal
      was down)  ->  SignalWithStartWorkflow  ->  the process's workflow and signal handling
  ->  StartActivity / RunActivity  ->  the Notify workflow the activity starts  ->  its channel
      activity  ->  `smtp send` / the Slack or ATS call (httpx) / the store's SQL (SQLAlchemy).

Temporal's part is `temporalio.contrib.opentelemetry.TracingInterceptor` on the clients (the
worker inherits its client's): it carries the context in Temporal headers, so it crosses
processes and machines and survives a worker restart.

Configured by the standard OpenTelemetry variables, nothing of our own:
`OTEL_TRACES_EXPORTER` (`otlp` or `console`; `none` is off), `OTEL_EXPORTER_OTLP_ENDPOINT` /
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (OTLP over HTTP/protobuf, e.g. http://collector:4318),
`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
`OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_BSP_*`, `OTEL_SDK_DISABLED`. Tracing is on when an exporter is
named or an OTLP endpoint is set. Off (the default), nothing is installed: no SDK, no
interceptor, no instrumentation; the OpenTelemetry API's calls in the intake and the activities
are no-ops and the intake stores no trace context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from temporalio.client import Client

log = structlog.get_logger()

_installed: TracerProvider | None = None


class TracingConfigError(ValueError):
    pass


def wanted(env: Mapping[str, str]) -> bool:
    """Whether the OTEL_* settings ask for traces to be exported."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip() or env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip())


def exporters(env: Mapping[str, str]) -> list[SpanExporter]:
    """The exporters OTEL_TRACES_EXPORTER names (default otlp), each reading its own OTEL_* settings."""
    found: list[SpanExporter] = []
    for name in [n.strip().lower() for n in (env.get("OTEL_TRACES_EXPORTER") or "otlp").split(",") if n.strip()]:
        if name == "otlp":
            protocol = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf").strip()
            if protocol != "http/protobuf":
                raise TracingConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: this engine exports OTLP over http/protobuf (port 4318 of a collector)")
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            found.append(OTLPSpanExporter())
        elif name == "console":
            found.append(ConsoleSpanExporter())
        elif name != "none":
            raise TracingConfigError(f"OTEL_TRACES_EXPORTER={name}: use otlp, console or none")
    return found


def configure(service: str, env: Mapping[str, str], exporter: SpanExporter | None = None) -> TracerProvider | None:
    """Install tracing for this process when the OTEL_* settings (or a test's `exporter`) ask for
    it: the SDK's tracer provider as the global one, and the httpx and SQLAlchemy
    instrumentations. `service` names the process (OTEL_SERVICE_NAME wins). Once per process."""
    global _installed
    if _installed is not None:
        return _installed
    if exporter is None and not wanted(env):
        return None
    chosen = [exporter] if exporter is not None else exporters(env)
    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES from the environment.
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(resource=resource)
    for each in chosen:
        provider.add_span_processor(BatchSpanProcessor(each))
    trace.set_tracer_provider(provider)
    _instrument_libraries(provider)
    _installed = provider
    log.info("tracing on", service=resource.attributes.get("service.name"), exporters=[type(e).__name__ for e in chosen])
    return provider


def enabled() -> bool:
    return _installed is not None


def _instrument_libraries(provider: TracerProvider) -> None:
    # httpx: the Slack webhook, the ATS APIs (notes, enrichment). SQLAlchemy: the store's engines,
    # made after this (store/task_store.py creates them through the sqlalchemy module, which the
    # instrumentor wraps).
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    # The instrumentation declares SQLAlchemy < 2.1 and refuses 2.1 (this project's). It hooks
    # the engine events (before/after_cursor_execute), which 2.1 keeps as they were: skip its
    # version check. tests/service/test_tracing.py sees the store's SQL in the trace.
    SQLAlchemyInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)


def instrument_app(app: Any) -> None:
    """The FastAPI app's requests as server spans (webhooks, the inbox, the task API), when on."""
    if _installed is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # /metrics and the probes are scraped every few seconds: not worth a trace each.
    FastAPIInstrumentor.instrument_app(app, tracer_provider=_installed, excluded_urls="metrics,healthz,readyz,inbox/static")


def traced(client: Client) -> Client:
    """The same connection with Temporal's tracing interceptor added, when on; else `client`."""
    if _installed is None:
        return client
    from temporalio.contrib.opentelemetry import TracingInterceptor

    config = client.config()
    if any(isinstance(each, TracingInterceptor) for each in config["interceptors"]):
        return client
    config["interceptors"] = [*config["interceptors"], TracingInterceptor(trace.get_tracer("postinterview", tracer_provider=_installed))]
    return Client(**config)


def traced_connector(connect: Callable[[], Awaitable[Client]]) -> Callable[[], Awaitable[Client]]:
    """`connect`, its client traced (see traced) when tracing is on."""

    async def connected() -> Client:
        return traced(await connect())

    return connected


def shutdown() -> None:
    """Export what is buffered (at the end of a process)."""
    if _installed is not None:
        _installed.shutdown()
