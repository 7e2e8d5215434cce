"""Bullhorn's OAuth and REST API, as its documentation describes them (README, "Bullhorn").

1. `loginInfo` (`GET https://rest.bullhornstaffing.com/rest-services/loginInfo?username=`) names
   the user's data centre: its `oauthUrl` and `restUrl`. A call to the wrong data centre is
   answered 307 with the right one: every call here follows redirects (307 keeps the method).
2. OAuth 2.0: the operator authorises once (`{oauthUrl}/authorize?client_id&response_type=code`),
   the code is exchanged at `{oauthUrl}/token` (`grant_type=authorization_code`) for an access
   token (10 minutes) and a refresh token; afterwards `grant_type=refresh_token` gives a new
   access token and a new refresh token, the old one then stops working (the caller stores the
   new one at once: store/bullhorn_store.py).
3. REST login: `POST {restUrl}login?version=*&access_token=` returns `BhRestToken` (the session,
   sent in the `BhRestToken` header) and the corporation's `restUrl` every call is made under.
   A session that expired answers 401: log in again (refresh, login) and repeat the call once.
4. 429 (too many requests) and 5xx are retryable (`BullhornUnavailable`, with Retry-After when
   given); a refused refresh token is not (`BullhornDisconnected`: the account must be
   connected again).

Secrets (client secret, tokens, BhRestToken) never appear in an error message or a log line:
errors name the call, not its URL's query string.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

GLOBAL_REST_URL = "https://rest.bullhornstaffing.com"
GLOBAL_AUTH_URL = "https://auth.bullhornstaffing.com"


class BullhornError(Exception):
    """A call to Bullhorn failed; the message names the call, never a secret."""


class BullhornUnavailable(BullhornError):
    """Unreachable, throttled (429) or failing (5xx): try again later."""

    def __init__(self, message: str, retry_after: float | None = None, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        # The request may have reached Bullhorn (the connection dropped while it answered): a
        # write (a note) is then in doubt, never simply sent again.
        self.maybe_sent = maybe_sent


class BullhornRefused(BullhornError):
    """A 4xx no retry cures (a malformed request, a missing entity type)."""


class BullhornDisconnected(BullhornError):
    """The refresh token (or client credentials) was refused: run `postinterview connect bullhorn` again."""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str

    def __repr__(self) -> str:
        return "Tokens(<hidden>)"


@dataclass(frozen=True)
class Session:
    bh_rest_token: str
    rest_url: str  # the corporation's, ending in "/"

    def __repr__(self) -> str:
        return f"Session(rest_url={self.rest_url!r})"


# Failures that prove the request never reached Bullhorn.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol, httpx.ProxyError)


def _call(http: httpx.Client, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
    try:
        response = http.request(method, url, follow_redirects=True, **kwargs)
    except _NOT_SENT as error:
        raise BullhornUnavailable(f"Bullhorn {what}: unreachable ({type(error).__name__})") from None
    except httpx.TransportError as error:
        raise BullhornUnavailable(f"Bullhorn {what}: no answer ({type(error).__name__})", maybe_sent=True) from None
    if response.status_code == 429 or response.status_code >= 500:
        retry_after = response.headers.get("Retry-After")
        raise BullhornUnavailable(
            f"Bullhorn {what}: {response.status_code}", float(retry_after) if retry_after and retry_after.isdigit() else None
        )
    return response


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return str(response.status_code)
    if isinstance(body, dict):
        # Bullhorn's REST errors carry errorMessage; OAuth's error / error_description. Neither echoes secrets.
        return f"{response.status_code} {body.get('errorMessage') or body.get('error_description') or body.get('error') or ''}".strip()
    return str(response.status_code)


def login_info(http: httpx.Client, username: str, global_rest_url: str = GLOBAL_REST_URL) -> tuple[str, str]:
    """(oauthUrl, restUrl) of `username`'s data centre."""
    response = _call(http, "GET", f"{global_rest_url.rstrip('/')}/rest-services/loginInfo", "loginInfo", params={"username": username})
    if response.status_code >= 400:
        raise BullhornRefused(f"Bullhorn loginInfo: {_message(response)}")
    body = response.json()
    try:
        return str(body["oauthUrl"]).rstrip("/"), str(body["restUrl"]).rstrip("/") + "/"
    except (KeyError, TypeError):
        raise BullhornRefused("Bullhorn loginInfo: the answer names no oauthUrl and restUrl") from None


def authorize_url(oauth_url: str, client_id: str, redirect_uri: str | None, state: str) -> str:
    """Where the operator signs in to Bullhorn and agrees; Bullhorn then sends the browser to
    `redirect_uri?code=...&state=...`."""
    params = {"client_id": client_id, "response_type": "code", "state": state}
    if redirect_uri:
        params["redirect_uri"] = redirect_uri
    return f"{oauth_url}/authorize?{urlencode(params)}"


def exchange_code(http: httpx.Client, oauth_url: str, client_id: str, client_secret: str, code: str, redirect_uri: str | None) -> Tokens:
    form = {"grant_type": "authorization_code", "code": code, "client_id": client_id, "client_secret": client_secret}
    if redirect_uri:
        form["redirect_uri"] = redirect_uri
    return _tokens(http, oauth_url, form, "authorization code")


def refresh(http: httpx.Client, oauth_url: str, client_id: str, client_secret: str, refresh_token: str) -> Tokens:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id, "client_secret": client_secret}
    return _tokens(http, oauth_url, form, "token refresh")


def _tokens(http: httpx.Client, oauth_url: str, form: dict[str, str], what: str) -> Tokens:
    # In the body, not the query string: a URL is what proxies and access logs keep.
    response = _call(http, "POST", f"{oauth_url}/token", what, data=form)
    if response.status_code in (400, 401, 403):
        raise BullhornDisconnected(f"Bullhorn refused the {what}: {_message(response)}")
    if response.status_code >= 400:
        raise BullhornRefused(f"Bullhorn {what}: {_message(response)}")
    body = response.json()
    try:
        return Tokens(access_token=str(body["access_token"]), refresh_token=str(body["refresh_token"]))
    except (KeyError, TypeError):
        raise BullhornRefused(f"Bullhorn {what}: the answer holds no access_token and refresh_token") from None


def rest_login(http: httpx.Client, rest_services_url: str, access_token: str) -> Session:
    response = _call(http, "POST", f"{rest_services_url}login", "login", params={"version": "*", "access_token": access_token})
    if response.status_code >= 400:
        raise BullhornDisconnected(f"Bullhorn login: {_message(response)}")
    body = response.json()
    try:
        return Session(bh_rest_token=str(body["BhRestToken"]), rest_url=str(body["restUrl"]).rstrip("/") + "/")
    except (KeyError, TypeError):
        raise BullhornRefused("Bullhorn login: the answer holds no BhRestToken and restUrl") from None


class BullhornClient:
    """REST calls for one account, logging in when needed and again when the session expires.

    `new_session` is how a session is had (refresh the token, store the new one, log in): the
    activities give one that reads and rotates the stored refresh token."""

    def __init__(self, http: httpx.Client, new_session: Callable[[], Session]) -> None:
        self.http = http
        self._new_session = new_session
        self._session: Session | None = None
        self._lock = threading.Lock()

    def session(self, renew: bool = False) -> Session:
        with self._lock:
            if self._session is None or renew:
                self._session = self._new_session()
            return self._session

    def call(self, method: str, path: str, what: str, params: dict[str, Any] | None = None, json: Any = None) -> Any:
        """The answer's JSON (None for an empty body, as an empty event poll is)."""
        session = self.session()
        for attempt in (1, 2):
            response = _call(self.http, method, session.rest_url + path, what, params=params, json=json, headers={"BhRestToken": session.bh_rest_token})
            if response.status_code == 401 and attempt == 1:
                session = self.session(renew=True)  # the session timed out: log in again, once
                continue
            break
        if response.status_code == 401:
            raise BullhornDisconnected(f"Bullhorn {what}: 401 after a new login")
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise BullhornRefused(f"Bullhorn {what}: {_message(response)}")
        if not response.content.strip():
            return None
        return response.json()
