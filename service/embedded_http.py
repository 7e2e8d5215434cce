"""Serving an ASGI app inside a process that runs other things too (the worker, the forwarder).

uvicorn normally owns the process's signals and exits it when it cannot bind; here the host
decides when to stop (an asyncio.Event), and a failure to serve stops everything beside it with
a clear error instead of leaving a half-started engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the host process decides when to stop."""

    def __init__(self, config: uvicorn.Config, listening: asyncio.Event | None = None) -> None:
        super().__init__(config)
        self._listening = listening

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # Bound and accepting: whoever announces the service as ready may do so now.
        if self.started and self._listening is not None:
            self._listening.set()


# Whose X-Forwarded-Proto / X-Forwarded-For uvicorn believes: a proxy on this machine only,
# unless the settings name others (FORWARDED_ALLOW_IPS, service/settings.py). Passed explicitly,
# so uvicorn never reads the variable from the environment behind the settings' back.
LOCAL_PROXY = "127.0.0.1"


def embedded_server(
    app: Any, host: str, port: int, listening: asyncio.Event | None = None, forwarded_allow_ips: str = LOCAL_PROXY
) -> EmbeddedServer:
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips
    )
    return EmbeddedServer(config, listening)


async def serve_until(
    app: Any,
    stop: asyncio.Event,
    host: str,
    port: int,
    what: str,
    listening: asyncio.Event | None = None,
    forwarded_allow_ips: str = LOCAL_PROXY,
) -> None:
    """Serve `app` until `stop` is set; `listening` is set once the port accepts connections. If it
    cannot serve (the port is taken), set `stop`, so whatever runs beside it stops too, and raise
    saying which service and port. Proxy headers are believed from `forwarded_allow_ips` only."""
    server = embedded_server(app, host, port, listening, forwarded_allow_ips)
    serving = asyncio.create_task(server.serve())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([serving, stopped], return_when=asyncio.FIRST_COMPLETED)
    failed = serving.done() and not stop.is_set()
    server.should_exit = True
    stopped.cancel()
    try:
        await serving
    except SystemExit:  # uvicorn exits this way when it cannot bind
        failed = True
    if failed:
        stop.set()
        raise RuntimeError(f"the {what} could not serve on {host}:{port} (is the port in use?)")
