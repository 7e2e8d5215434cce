"""A limit on the size of every request body the HTTP service reads, enforced before the body is read.

A pure ASGI middleware around the whole app (intake, task API, inbox forms, answer links), so no
route can be made to read more than the limit, whoever sends it and whatever the route does
with the body:

- a Content-Length over the limit is answered 413 at once, before a byte of the body is read;
- a body of unknown length (chunked) is counted as the app reads it, and the moment it passes
  the limit the client gets 413 and the app sees the client gone (`http.disconnect`): nothing
  past the limit is read or buffered. (uvicorn itself reads ahead at most its flow-control
  window, 64 KiB, while the app is not reading.)

The 413 is JSON in the intake's error shape: {"error": "payload_too_large", "message": ...}.
Each refusal is reported to `on_refused(path)` (the HTTP service counts the webhooks' in the
intake metrics: a 413 answered here never reaches the intake's own counting).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog

log = structlog.get_logger()

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    def __init__(
        self, app: ASGIApp, max_bytes: int, setting: str = "HTTP_MAX_BODY_BYTES", on_refused: Callable[[str], None] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.setting = setting
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, send, declared=declared)
            return
        received = 0
        refused = False
        app_started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not app_started:
                        await self._refuse(scope, send)
                    # To the app the client is gone: it stops reading and its answer goes nowhere.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal app_started
            if refused and not app_started:
                return  # our 413 is the answer
            if message["type"] == "http.response.start":
                app_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            # The app's reaction to the "disconnect" we made up (e.g. Starlette's ClientDisconnect):
            # the client has its 413 and the request is over.

    async def _refuse(self, scope: Scope, send: Send, declared: int | None = None) -> None:
        # The first path segment only: an answer link's path is its token.
        area = "/" + str(scope.get("path", "/")).lstrip("/").split("/", 1)[0]
        log.warning("request body over the limit", method=scope.get("method"), area=area, declared=declared, limit=self.max_bytes)
        if self.on_refused is not None:
            try:
                self.on_refused(str(scope.get("path", "/")))
            except Exception:  # noqa: BLE001 - counting must never cost the client its answer
                log.exception("counting a refused body failed")
        body = json.dumps(
            {"error": "payload_too_large", "message": f"the body is larger than {self.max_bytes} bytes ({self.setting})"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    # The rest of the body is never read, so the connection cannot carry another request.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or []:
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            # uvicorn refuses a malformed Content-Length itself; anything else is not a length we can trust.
            return int(text) if text.isdigit() else None
    return None
