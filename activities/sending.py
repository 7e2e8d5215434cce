"""What a send can end in, for the send-once protocol of the channel activities
(activities/delivery.py): nothing left (`NotSent`, safe to send again unless permanent) or perhaps
arrived (`InDoubt`, never sent again); and the HTTP request of the Slack webhook and the ATS notes,
which tells the two apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

# A receiver that asks for longer than the Notify workflow's longest backoff gets that instead.
LONGEST_RETRY_AFTER = timedelta(hours=1)


class NotSent(Exception):
    """Nothing reached the recipient: safe to send again (unless `permanent`: it never will)."""

    def __init__(self, reason: str, permanent: bool = False, retry_after: timedelta | None = None, status: int | None = None) -> None:
        super().__init__(reason)
        self.permanent = permanent
        # The receiver's HTTP status, when it answered.
        self.status = status
        # When the receiver said to try again (a 429's or a 503's Retry-After).
        self.retry_after = retry_after


class InDoubt(Exception):
    """The send began and its end is unknown: it may have arrived."""


# Failures that prove the request never reached the server (safe to send again).
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol, httpx.ProxyError)


def send_request(client: httpx.Client, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
    """One request that sends (a Slack post, an ATS note, or a lookup on the way to one): an answer
    below 400, else NotSent or InDoubt saying whether it may have arrived. `what` names the
    receiver in the reasons."""
    try:
        response = client.request(method, url, **kwargs)
    except _NOT_SENT_ERRORS as error:
        raise NotSent(f"{what} unreachable: {type(error).__name__}") from None
    except httpx.TransportError as error:
        raise InDoubt(f"{what}: connection lost waiting for the answer ({type(error).__name__})") from None
    if response.status_code == 429 or response.status_code >= 500:
        raise NotSent(f"{what} answered {response.status_code}", retry_after=retry_after(response.headers.get("retry-after")), status=response.status_code)
    if response.status_code >= 400:
        raise NotSent(f"{what} refused the request: {response.status_code}", permanent=True, status=response.status_code)
    return response


def retry_after(value: str | None) -> timedelta | None:
    """A Retry-After header (seconds, or an HTTP date) as a delay, at most LONGEST_RETRY_AFTER;
    None when absent or unreadable (the retry policy's own backoff then)."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            delay = parsedate_to_datetime(value) - datetime.now(UTC)
        except (TypeError, ValueError):
            return None
    return min(max(delay, timedelta(0)), LONGEST_RETRY_AFTER)
