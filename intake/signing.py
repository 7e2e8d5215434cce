"""Signing webhooks the way each sender does: the inverse of intake/signatures.py.

For whoever has to send what the intake verifies: `postinterview demo-webhooks`, the tests and
the benchmark. Written apart from the verifiers on purpose (nothing here comes from
intake.signatures), so that a test that signs here and verifies there checks two
implementations against each other; tests/intake/test_signing.py checks this one against known
digests and the Standard Webhooks reference package.

- Greenhouse: header `Signature: sha256 <hex>`, HMAC-SHA256 of the body; `Greenhouse-Event-ID`
  names the delivery.
- Ashby: header `Ashby-Signature: sha256=<hex>`, HMAC-SHA256 of the body.
- Lever: no header; the body carries `signature`, the hex HMAC-SHA256 of `token + triggeredAt`.
- Standard Webhooks (our `/events`): headers `webhook-id`, `webhook-timestamp` (unix seconds) and
  `webhook-signature: v1,<base64>`, the HMAC-SHA256 of `{id}.{timestamp}.{body}` keyed with the
  bytes of the `whsec_<base64>` secret.

A secret is given as configured (text); bytes are taken as the key itself (a forger's, in tests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "SENDERS",
    "ashby_headers",
    "ashby_signature",
    "greenhouse_headers",
    "greenhouse_signature",
    "hex_hmac",
    "lever_signature",
    "sign_delivery",
    "sign_lever",
    "standard_webhook_headers",
    "standard_webhook_key",
    "standard_webhook_signature",
]

Key = str | bytes

SENDERS = ("greenhouse", "lever", "ashby", "events")


def _key(secret: Key) -> bytes:
    return secret if isinstance(secret, bytes) else secret.encode()


def hex_hmac(secret: Key, message: bytes) -> str:
    """The hex HMAC-SHA256 of `message`, as Greenhouse, Ashby and Lever write it."""
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


# --- Greenhouse and Ashby: HMAC-SHA256 of the body in a header -------------------------------


def greenhouse_signature(body: bytes, secret: Key) -> str:
    return f"sha256 {hex_hmac(secret, body)}"


def greenhouse_headers(body: bytes, secret: Key, event_id: str | None = None) -> dict[str, str]:
    """`Signature` and `Greenhouse-Event-ID` (a fresh one unless given: a retry sends the same)."""
    return {"Signature": greenhouse_signature(body, secret), "Greenhouse-Event-ID": event_id or str(uuid.uuid4())}


def ashby_signature(body: bytes, secret: Key) -> str:
    return f"sha256={hex_hmac(secret, body)}"


def ashby_headers(body: bytes, secret: Key) -> dict[str, str]:
    return {"Ashby-Signature": ashby_signature(body, secret)}


# --- Lever: HMAC-SHA256 of token + triggeredAt, in the body ----------------------------------


def lever_signature(token: Any, triggered_at: Any, secret: Key) -> str:
    return hex_hmac(secret, f"{token}{triggered_at}".encode())


def sign_lever(payload: Mapping[str, Any], secret: Key) -> dict[str, Any]:
    """The payload with its `signature` field (what Lever posts); the rest is not signed."""
    return {**payload, "signature": lever_signature(payload["token"], payload["triggeredAt"], secret)}


# --- Standard Webhooks ------------------------------------------------------------------------


def standard_webhook_key(secret: Key) -> bytes:
    """The key of a `whsec_<base64>` secret (the prefix is optional); bytes are the key itself."""
    if isinstance(secret, bytes):
        return secret
    return base64.b64decode(secret.strip().removeprefix("whsec_"))


def standard_webhook_signature(secret: Key, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """`v1,<base64>`: one entry of the `webhook-signature` header."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(standard_webhook_key(secret), content, hashlib.sha256).digest()).decode()


def standard_webhook_headers(body: bytes, secret: Key, msg_id: str | None = None, at: datetime | None = None) -> dict[str, str]:
    """`webhook-id` (a fresh `msg_...` unless given), `webhook-timestamp` (`at`, else now) and
    `webhook-signature`."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = str(int((at or datetime.now(UTC)).timestamp()))
    return {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": standard_webhook_signature(secret, msg_id, timestamp, body)}


# --- a whole delivery -------------------------------------------------------------------------


def sign_delivery(
    sender: str, payload: Any, secret: Key, delivery_id: str | None = None, at: datetime | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a JSON delivery from `sender` (one of SENDERS), signed with its
    secret as that sender signs. `delivery_id` is the Greenhouse-Event-ID or webhook-id (fresh
    when not given); `at` the Standard Webhooks timestamp (now when not given)."""
    headers = {"content-type": "application/json"}
    if sender == "lever":  # in the body: HMAC of token + triggeredAt
        payload = sign_lever(payload, secret)
    body = json.dumps(payload).encode()
    match sender:
        case "greenhouse":
            headers |= greenhouse_headers(body, secret, delivery_id)
        case "ashby":
            headers |= ashby_headers(body, secret)
        case "events":
            headers |= standard_webhook_headers(body, secret, delivery_id, at)
        case "lever":
            pass
        case _:
            raise ValueError(f"unknown sender {sender!r}: expected one of {', '.join(SENDERS)}")
    return body, headers
