"""The codec endpoint of the Temporal UI: `POST /encode` and `POST /decode`.

The UI (or `temporal` CLI) posts `{"payloads": [...]}` in the protobuf JSON form of
temporal.api.common.v1.Payloads and gets the same shape back, encoded or decoded with the
engine's codec. Point the UI at it with the dev server's `--ui-codec-endpoint URL` (or the
UI's "Codec Server" setting). Browsers call it from the UI's origin, so CORS allows exactly the
configured origins (CODEC_CORS_ORIGINS, default http://localhost:8233; service/settings.py).

With CODEC_SERVER_TOKEN set, every /encode and /decode request must carry
`Authorization: Bearer <token>` (the UI's "Pass the user access token" setting, or a proxy);
anything else gets 401. The endpoint decrypts candidate data, so it refuses to start without a
token on any address but loopback (`postinterview run`'s local codec server may stay tokenless:
only this machine reaches it).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from collections.abc import Sequence

import structlog
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from service.embedded_http import serve_until
from service.settings import DEFAULT_CODEC_ORIGINS

log = structlog.get_logger()


class CodecServerExposed(ValueError):
    """The codec server would decrypt for anyone who reaches a non-loopback address."""


def is_loopback(host: str) -> bool:
    """`host` (what the server binds to) is reachable from this machine only."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name, or 0.0.0.0 / :: (every interface)


def check_exposure(host: str, token: str | None) -> None:
    """Raises CodecServerExposed, naming CODEC_SERVER_TOKEN, when it would listen beyond loopback without one."""
    if token is None and not is_loopback(host):
        raise CodecServerExposed(
            f"the codec server decrypts candidate data and would listen on {host} without a token: set CODEC_SERVER_TOKEN "
            "(every /encode and /decode then needs `Authorization: Bearer <token>`), or listen on 127.0.0.1"
        )


def create_codec_app(
    codec: PayloadCodec,
    allowed_origins: Sequence[str] = DEFAULT_CODEC_ORIGINS,
    token: str | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Post-interview payload codec",
        description="Temporal remote codec: decrypts and encrypts the engine's payloads for the Temporal UI.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    # Preflight requests (OPTIONS) are answered here, before the token check: browsers send them
    # without credentials.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(allowed_origins),
        allow_methods=["POST"],
        allow_headers=["Content-Type", "X-Namespace", "Authorization"],
        allow_credentials=True,
        max_age=600,
    )
    expected = f"Bearer {token}".encode() if token else None

    def authorized(request: Request) -> None:
        if expected is None:
            return
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise HTTPException(status_code=401, detail="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    async def payloads_of(request: Request) -> Payloads:
        body = await request.body()
        try:
            return json_format.Parse(body, Payloads(), ignore_unknown_fields=True)
        except json_format.ParseError as error:
            raise HTTPException(status_code=400, detail=f"expected {{\"payloads\": [...]}} in Temporal's JSON form: {error}") from None

    def respond(payloads: Sequence[Payload]) -> Response:
        return Response(json_format.MessageToJson(Payloads(payloads=payloads)), media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Up (for a container health check); says nothing about the keys."""
        return {"status": "ok"}

    @app.post("/encode", dependencies=[Depends(authorized)])
    async def encode(request: Request) -> Response:
        payloads = await payloads_of(request)
        return respond(await codec.encode(payloads.payloads))

    @app.post("/decode", dependencies=[Depends(authorized)])
    async def decode(request: Request) -> Response:
        payloads = await payloads_of(request)
        try:
            decoded = await codec.decode(payloads.payloads)
        except ValueError as error:  # unknown key id, wrong key, tampered data: never the plaintext
            raise HTTPException(status_code=422, detail=str(error)) from None
        return respond(decoded)

    return app


async def serve_codec(
    codec: PayloadCodec,
    stop: asyncio.Event,
    host: str = "127.0.0.1",
    port: int = 8081,
    allowed_origins: Sequence[str] = DEFAULT_CODEC_ORIGINS,
    token: str | None = None,
) -> None:
    """Serve the codec endpoint until `stop` is set; like `serve_http`, a failure to bind sets `stop`.
    Raises CodecServerExposed (before binding) for a non-loopback `host` without a `token`."""
    check_exposure(host, token)
    log.info("codec server listening", url=f"http://{host}:{port}", cors_origins=list(allowed_origins), token_required=token is not None)
    await serve_until(create_codec_app(codec, allowed_origins, token), stop, host, port, "codec server")
