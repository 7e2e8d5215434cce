"""A stand-in for Microsoft Teams channel webhooks on loopback, answering as Microsoft documents a
Workflows webhook ("Post to a channel when a webhook request is received") does: 202 Accepted
with no body and the flow run's id in `x-ms-workflow-run-id` for a message envelope holding an
Adaptive Card; 400 for anything else (the flow's trigger checks the card); 404 for a webhook that
was deleted; 429 with Retry-After when throttled. One path per channel (`/workflows/{name}`).
Beside it, an Office 365 connector's incoming webhook (`/webhookb2/{name}`), which Microsoft is
retiring: 200 `1` when posted, and, as those answered some failures, 200 with a sentence saying
the delivery failed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from service.embedded_http import embedded_server
from tests.harness import eventually, free_port


@dataclass
class TeamsChannels:
    """What each channel was posted (the cards, by channel name) and how it answers next."""

    cards: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # The next answers of a channel before it takes posts again: (status, Retry-After or None).
    failures: dict[str, list[tuple[int, str | None]]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    posts: int = 0

    def fail(self, channel: str, status: int, retry_after: str | None = None) -> None:
        self.failures.setdefault(channel, []).append((status, retry_after))


def _card(body: Any) -> dict[str, Any] | None:
    """The Adaptive Card in a message envelope, or None when it is not one."""
    if not isinstance(body, dict) or body.get("type") != "message" or not isinstance(body.get("attachments"), list):
        return None
    [attachment] = body["attachments"] or [None]
    if not isinstance(attachment, dict) or attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
        return None
    content = attachment.get("content")
    if not isinstance(content, dict) or content.get("type") != "AdaptiveCard" or not isinstance(content.get("body"), list):
        return None
    return content


def teams_app(channels: TeamsChannels) -> FastAPI:
    api = FastAPI()

    @api.post("/workflows/{name}/triggers/manual/paths/invoke")
    async def invoke(name: str, request: Request):
        channels.posts += 1
        if name in channels.deleted:
            return JSONResponse({"error": {"code": "WorkflowNotFound", "message": "The workflow could not be found."}}, status_code=404)
        if channels.failures.get(name):
            status, retry_after = channels.failures[name].pop(0)
            headers = {"Retry-After": retry_after} if retry_after else {}
            return JSONResponse({"error": {"code": "Throttled" if status == 429 else "ServiceUnavailable"}}, status_code=status, headers=headers)
        card = _card(await request.json())
        if card is None:
            return JSONResponse({"error": {"code": "InvalidRequestContent", "message": "not an Adaptive Card message"}}, status_code=400)
        channels.cards.setdefault(name, []).append(card)
        return Response(status_code=202, headers={"x-ms-workflow-run-id": f"08584{channels.posts:05d}"})

    @api.post("/webhookb2/{name}")
    async def connector(name: str, request: Request):
        channels.posts += 1
        if channels.failures.get(name):
            status, _ = channels.failures[name].pop(0)
            return PlainTextResponse(f"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error {status} with ContextId tcid=0,server=msgapi-canary-eus2-0,cv=deadbeef.0..")
        card = _card(await request.json())
        if card is None:
            return PlainTextResponse("Bad payload received by generic incoming webhook.", status_code=400)
        channels.cards.setdefault(name, []).append(card)
        return PlainTextResponse("1")

    return api


@asynccontextmanager
async def teams_webhooks() -> AsyncIterator[tuple[TeamsChannels, str]]:
    """The stand-in, and a function of the base URL: `f"{base}/workflows/{name}/triggers/manual/paths/invoke?..."`."""
    channels = TeamsChannels()
    port = free_port()
    server = embedded_server(teams_app(channels), "127.0.0.1", port)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    try:
        yield channels, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def webhook_url(base: str, name: str) -> str:
    """A Workflows webhook URL's shape, the signature in its query as Microsoft's carry it."""
    return f"{base}/workflows/{name}/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=test-{name}"


def connector_url(base: str, name: str) -> str:
    """An Office 365 connector's incoming webhook URL's shape."""
    return f"{base}/webhookb2/{name}"
