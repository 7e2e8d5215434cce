"""OpenTelemetry tracing end to end: a signed webhook POSTed to the real HTTP service
(`serve_http`), its row, the forwarder, the process on the dev server run by the real worker
(`worker.serve`), the task's Notify workflow and the email on a local SMTP server, all one trace,
caught by an in-memory exporter. And: with no OTEL_* setting, nothing is installed at all."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import create_engine, select

import worker
from service import tracing
from service.http import serve_http
from service.settings import Settings
from store.schema import deliveries
from tests.channel_servers import smtp_server
from tests.events import Application
from tests.harness import eventually, free_port
from tests.intake.test_service import signed_event

EVENTS_SECRET = "whsec_" + base64.b64encode(b"tracing-test-secret-0123456789ab").decode()
# Continuous time and no quiet hours: the recruiter's task email goes out at once, whatever the
# hour the suite runs at.
POLICY = """
[default]
calendar = "continuous"
quiet_start = "00:00:00"
quiet_end = "00:00:00"
"""


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    # The global tracer provider can be set once per process: one for this file's tests.
    caught = InMemorySpanExporter()
    if tracing.configure("postinterview-test", {}, exporter=caught) is None:
        pytest.fail("tracing did not install with an exporter given")
    return caught


def test_without_otel_settings_nothing_is_installed():
    assert not tracing.wanted({})
    assert not tracing.wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not tracing.wanted({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "console"})
    assert [type(e).__name__ for e in tracing.exporters({"OTEL_TRACES_EXPORTER": "otlp,console"})] == ["OTLPSpanExporter", "ConsoleSpanExporter"]
    with pytest.raises(tracing.TracingConfigError, match="OTEL_TRACES_EXPORTER=zipkin"):
        tracing.exporters({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(tracing.TracingConfigError, match="http/protobuf"):
        tracing.exporters({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


async def test_one_trace_from_a_webhook_to_the_email_it_caused(exporter: InMemorySpanExporter, tmp_path: Path, dev_env, task_queue):
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    app = Application(source="api")
    port = free_port()
    with smtp_server() as (sink, smtp_port):
        settings = Settings.from_env({
            "DATABASE_URL": store_url,
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "TASK_QUEUE": task_queue,
            "POLICY_FILE": str(policy),
            "EVENTS_WEBHOOK_SECRET": EVENTS_SECRET,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_SECURITY": "none",
            "SMTP_FROM": "Talent Team <talent@agency.example>",
        })
        stop, listening = asyncio.Event(), asyncio.Event()
        running = [asyncio.create_task(worker.serve(settings, dev_env.client, stop)), asyncio.create_task(serve_http(settings, stop, port=port, listening=listening))]
        try:
            await asyncio.wait_for(listening.wait(), 30)
            exporter.clear()
            body, headers = signed_event(app.interview(1))
            headers.update(_signed(body, headers))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                answer = await http.post("/events", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            emails = await eventually(lambda: sink.to(app.recruiter["email"]), timeout=60, what="the recruiter's task email")
        finally:
            stop.set()
            await asyncio.gather(*running, return_exceptions=True)
    tracing._installed.force_flush()  # type: ignore[union-attr]

    spans = {span.context.span_id: span for span in exporter.get_finished_spans()}
    sent = [s for s in spans.values() if s.name == "smtp send" and s.attributes.get("smtp.message_id") == emails[0]["Message-ID"]]
    assert len(sent) == 1, sorted({s.name for s in spans.values()})
    chain = _ancestors(sent[0], spans)
    names = [span.name for span in chain]
    # From the email back to the request, each hop the parent of the next. (Above the request:
    # this test's own httpx call, instrumented too, whose traceparent the service took up.)
    requests = [span for span in chain if span.kind == SpanKind.SERVER and span.name == "POST /events"]
    assert len(requests) == 1, names
    root = requests[0]
    expected = [
        "smtp send",
        "RunActivity:deliver_email",
        "StartActivity:deliver_email",
        "StartWorkflow:Notify",  # started by the activity that wrote the task
        "RunActivity:create_recruiter_task",
        "StartActivity:create_recruiter_task",
        "SignalWithStartWorkflow:PostInterviewProcess",
        "forward delivery",
        "POST /events",
    ]
    assert names[: len(expected)] == expected, names
    # One trace: every span of it, SQL (SQLAlchemy) included, and the row kept the request's context.
    trace_id = root.context.trace_id
    in_trace = [s for s in spans.values() if s.context.trace_id == trace_id]
    assert any("db.system" in s.attributes or "db.system.name" in s.attributes for s in in_trace), sorted({s.name for s in in_trace})
    engine = create_engine(store_url)
    with engine.connect() as connection:
        stored = connection.execute(select(deliveries.c.trace_context)).scalars().all()
    engine.dispose()
    assert len(stored) == 1 and stored[0]["traceparent"].split("-")[1] == f"{trace_id:032x}"
    # No personal data in the traces: the candidate's and recruiter's names and emails appear nowhere.
    for span in in_trace:
        text = repr(dict(span.attributes or {}))
        assert "Ada Lovelace" not in text and "ada@example.com" not in text and app.recruiter["email"] not in text, (span.name, text)


def _signed(body: bytes, headers: dict[str, str]) -> dict[str, str]:
    """The same delivery signed with this test's secret (signed_event signs with the intake tests')."""
    from intake.signing import standard_webhook_headers

    return standard_webhook_headers(body, EVENTS_SECRET, headers["webhook-id"])


def _ancestors(span: ReadableSpan, spans: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    chain = [span]
    for _ in range(100):  # bounded: a trace is a tree
        parent = chain[-1].parent
        if parent is None or parent.span_id not in spans:
            break
        chain.append(spans[parent.span_id])
    return chain
