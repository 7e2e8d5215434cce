"""Real servers on loopback for the delivery channels: an SMTP server (aiosmtpd) that keeps every
message it accepts, and one HTTP server that plays a Slack incoming webhook and the Greenhouse
Harvest, Lever and Ashby endpoints that notes are written through."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse

from activities.channel_settings import ChannelSettings, SmtpSettings
from service.embedded_http import embedded_server
from tests.harness import eventually, free_port

API_KEY = "notes-api-key"


@dataclass
class SmtpSink:
    """Accepts every message, or refuses recipients in `refuse` with a 550."""

    received: list[tuple[Envelope, EmailMessage]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        parsed = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.received.append((envelope, parsed))  # type: ignore[arg-type]
        return "250 2.0.0 Ok: queued"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for envelope, message in self.received if address in envelope.rcpt_tos]


@contextmanager
def smtp_server() -> Iterator[tuple[SmtpSink, int]]:
    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def smtp_settings(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, sender="Talent Team <talent@agency.example>", security="none")


@dataclass
class Receiver:
    """What the HTTP server was sent, by endpoint."""

    slack: list[dict[str, Any]] = field(default_factory=list)
    greenhouse_notes: list[dict[str, Any]] = field(default_factory=list)
    lever_notes: list[dict[str, Any]] = field(default_factory=list)
    ashby_notes: list[dict[str, Any]] = field(default_factory=list)
    # Answer the next N Slack posts with this status first (a webhook that is down).
    slack_failures: list[int] = field(default_factory=list)


def receiver_app(receiver: Receiver) -> FastAPI:
    api = FastAPI()

    def authorised(request: Request) -> None:
        if request.headers.get("authorization") != "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode():
            raise HTTPException(401, "bad key")

    @api.post("/slack/webhook")
    async def slack(request: Request):
        if receiver.slack_failures:
            raise HTTPException(receiver.slack_failures.pop(0))
        receiver.slack.append(await request.json())
        return PlainTextResponse("ok")  # what Slack answers

    # Greenhouse Harvest: the application names its candidate; notes go on the candidate.
    @api.get("/v1/applications/{application_id}")
    async def gh_application(application_id: str, request: Request):
        authorised(request)
        return {"id": application_id, "candidate_id": 5501}

    @api.post("/v1/candidates/{candidate_id}/activity_feed/notes", status_code=201)
    async def gh_note(candidate_id: str, request: Request):
        authorised(request)
        if not request.headers.get("on-behalf-of"):
            raise HTTPException(403, "On-Behalf-Of is required")
        body = await request.json()
        receiver.greenhouse_notes.append({"candidate_id": candidate_id, "on_behalf_of": request.headers["on-behalf-of"], **body})
        return {"id": 9000 + len(receiver.greenhouse_notes), "body": body["body"], "user": {"id": int(body["user_id"]) if body["user_id"].isdigit() else body["user_id"]}}

    # Lever: notes go on the opportunity (our application id), written as perform_as.
    @api.post("/v1/opportunities/{opportunity_id}/notes", status_code=201)
    async def lever_note(opportunity_id: str, request: Request):
        authorised(request)
        body = await request.json()
        receiver.lever_notes.append({"opportunity_id": opportunity_id, "perform_as": request.query_params.get("perform_as"), **body})
        return {"data": {"noteId": f"lever-note-{len(receiver.lever_notes)}"}}

    # Ashby: RPC style; the application names its candidate; notes go on the candidate.
    @api.post("/application.info")
    async def ashby_application(request: Request):
        authorised(request)
        body = await request.json()
        return {"success": True, "results": {"id": body["applicationId"], "candidate": {"id": "ash-cand-1"}}}

    @api.post("/candidate.createNote")
    async def ashby_note(request: Request):
        authorised(request)
        body = await request.json()
        receiver.ashby_notes.append(body)
        return {"success": True, "results": {"id": f"ashby-note-{len(receiver.ashby_notes)}", "content": body["note"]}}

    return api


@asynccontextmanager
async def http_receiver() -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver()
    port = free_port()
    server = embedded_server(receiver_app(receiver), "127.0.0.1", port)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    try:
        yield receiver, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def all_channels(smtp_port: int, url: str, notes: str = "greenhouse,lever,ashby") -> ChannelSettings:
    environ = {"GREENHOUSE_HARVEST_API_KEY": API_KEY, "LEVER_API_KEY": API_KEY, "ASHBY_API_KEY": API_KEY}
    environ |= {"GREENHOUSE_HARVEST_URL": url, "LEVER_API_URL": url, "ASHBY_API_URL": url}
    return ChannelSettings(
        smtp=smtp_settings(smtp_port),
        slack_webhook_url=f"{url}/slack/webhook",
        ats_notes=frozenset(s for s in notes.split(",") if s),
        vendor_settings=environ,
        timeout=5.0,
    )
