"""The codec endpoint of the Temporal UI: `POST /encode` and `POST /decode`.

The UI (or `temporal` CLI) posts `{"payloads": [...]}` in the protobuf JSON form of
temporal.api.common.v1.Payloads and gets the same shape back, encoded or decoded with the
engine's codec. Point the UI at it with the dev server's `--ui-codec-endpoint URL` (or the
UI's "Codec Server" setting). Browsers call it from the UI's origin, so CORS allows exactly the
configured origins (CODEC_CORS_ORIGINS, default http://localhost:8233; service/settings.py).

With CODEC_SERVER_TOKEN set, every /encode and /decode request must be signed in, one of two ways:

- `Authorization: Bearer <token>`: the CLI (`temporal workflow show --codec-endpoint URL
  --codec-auth "Bearer <token>"`), a script, or a proxy that adds it.
- The codec session cookie, for the Temporal UI. The UI cannot send our token: its "Pass the
  user access token" setting sends the UI user's own OIDC access token (and only to an https
  endpoint), which this server cannot check. Its "Include cross-origin credentials" setting
  (`credentials: 'include'` on the fetch) makes the browser send the cookies it holds for the
  codec server's origin: so the operator opens the codec server's /login once, pastes the
  token, and gets an HttpOnly cookie (a keyed digest of the token, never the token itself;
  SameSite=None and Secure over https, so a UI on another site can send it; SameSite=Strict
  over plain http, where the UI and the codec server must share a host, as on loopback). A
  cookie-signed request must come from one of the CORS origins.

Anything else gets 401. The endpoint decrypts candidate data, so it refuses to start without a
token on any address but loopback (`postinterview run`'s local codec server may stay tokenless:
only this machine reaches it). Request bodies are limited (`max_body_bytes`, service/body_limit.py)
before they are read, tokens or not.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import ipaddress
from collections.abc import Sequence

import structlog
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from service.body_limit import BodyLimit
from service.embedded_http import serve_until
from service.settings import DEFAULT_CODEC_ORIGINS

log = structlog.get_logger()

# A history event's payloads in one request: Temporal refuses a payload over 2 MB, and JSON's
# base64 makes that 2.7 MB; twice that leaves room for an event with two large payloads.
CODEC_MAX_BODY_BYTES = 6 * 1024 * 1024
SESSION_COOKIE = "postinterview_codec_session"
SESSION_HOURS = 12


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


def session_value(token: str) -> str:
    """The cookie's value: a keyed digest of the token (a stolen cookie is not the token, and a
    new token ends every session)."""
    return hmac.new(token.encode(), b"postinterview codec session", hashlib.sha256).hexdigest()


def create_codec_app(
    codec: PayloadCodec,
    allowed_origins: Sequence[str] = DEFAULT_CODEC_ORIGINS,
    token: str | None = None,
    max_body_bytes: int = CODEC_MAX_BODY_BYTES,
) -> BodyLimit:
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
    session = session_value(token).encode() if token else None
    origins = {origin.lower() for origin in allowed_origins}

    def authorized(request: Request) -> None:
        if expected is None or session is None:
            return
        header = request.headers.get("authorization")
        if header is not None:
            if hmac.compare_digest(header.encode(), expected):
                return
        else:
            cookie = request.cookies.get(SESSION_COOKIE, "").encode()
            if cookie and hmac.compare_digest(cookie, session):
                # The browser sends the cookie with any request to this server; only the UI's
                # origins may use it (a simple cross-site POST needs no preflight).
                if request.headers.get("origin", "").lower() in origins:
                    return
                raise HTTPException(status_code=403, detail="the session cookie is accepted from the CODEC_CORS_ORIGINS only")
        raise HTTPException(status_code=401, detail="missing or wrong bearer token, and no codec session (sign in at /login)", headers={"WWW-Authenticate": "Bearer"})

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

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> HTMLResponse:
        """Where an operator signs the browser in once, for the UI's "Include cross-origin credentials"."""
        return _login_page(signed_in=token is not None and _has_session(request, session), tokenless=token is None)

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        if token is None or session is None:
            return _login_page(signed_in=False, tokenless=True)
        here = f"{request.url.scheme}://{request.url.netloc}".lower()
        if request.headers.get("origin", "").lower() != here:
            return _login_page(signed_in=False, problem="The sign-in must be posted from this page.", status=403)
        form = await request.form()
        given = str(form.get("token", "")).encode()
        if not hmac.compare_digest(given, token.encode()):
            log.warning("codec sign-in refused")
            return _login_page(signed_in=False, problem="That is not the codec server's token.", status=401)
        answer = RedirectResponse("/login", status_code=303)
        secure = request.url.scheme == "https"
        answer.set_cookie(
            SESSION_COOKIE, session.decode(), max_age=SESSION_HOURS * 3600, path="/", httponly=True,
            secure=secure, samesite="none" if secure else "strict",
        )
        log.info("codec session started")
        return answer

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

    return BodyLimit(app, max_body_bytes, setting="the codec server's limit")


def _has_session(request: Request, session: bytes | None) -> bool:
    cookie = request.cookies.get(SESSION_COOKIE, "").encode()
    return session is not None and bool(cookie) and hmac.compare_digest(cookie, session)


def _login_page(signed_in: bool, tokenless: bool = False, problem: str | None = None, status: int = 200) -> HTMLResponse:
    if tokenless:
        message = "<p>This codec server needs no token (CODEC_SERVER_TOKEN is not set): nothing to sign in to.</p>"
    elif signed_in:
        message = (
            f"<p>This browser is signed in to the codec server for {SESSION_HOURS} hours. In the Temporal UI's "
            "codec server settings, turn on <em>Include cross-origin credentials</em>.</p>"
        )
    else:
        message = (
            (f'<p role="alert">{html.escape(problem)}</p>' if problem else "")
            + '<form method="post" action="/login"><label>Codec server token (CODEC_SERVER_TOKEN) '
            '<input type="password" name="token" autocomplete="off" required></label> <button>Sign in</button></form>'
        )
    page = f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Codec server</title></head><body><h1>Codec server</h1>{message}</body></html>'
    return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})


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
