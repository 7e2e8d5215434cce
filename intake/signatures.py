"""Webhook signatures: is this delivery really from the sender we configured?

Pure functions over the raw request bytes (never re-serialised JSON), comparing digests in
constant time (`hmac.compare_digest`, always on bytes so that no input can make it raise).
Each verifier takes a *list* of secrets: during a key rotation both the old and the new secret
are configured, and a delivery signed with either passes. An empty list (or one of blank
strings) is refused outright, naming the setting to fill in: an empty HMAC key would let
anybody sign.

Every failure is a `SignatureError` whose text is safe to show the sender (it names a header,
a field or a setting; never a secret or the digest we expected).

Vendor schemes (see docs/ats-webhooks.md in the shared docs):
- Greenhouse: header `Signature: sha256 <hex>`, HMAC-SHA256 of the body.
- Ashby: header `Ashby-Signature: sha256=<hex>`, HMAC-SHA256 of the body.
- Lever: no header. The body carries `token`, `triggeredAt` and `signature`, the hex
  HMAC-SHA256 of `token + str(triggeredAt)` keyed with the webhook's signatureToken. What this
  does *not* cover: the `event` and its `data`. Two defences follow from it. The delivery's
  idempotency key is the signed string itself (`lever_signed_text`), so one signature is one
  delivery however its parts are split or whatever data rides with it (keyed on
  `token:triggeredAt`, digits moved across the join kept the signature valid and made new
  keys). And `triggeredAt` must be an integer number of milliseconds no older than the
  configured maximum age (`LEVER_WEBHOOK_MAX_AGE_SECONDS`) and not in the future beyond the
  clock-skew tolerance, so a captured signature cannot be spent long after the fact.
- Standard Webhooks (our `/events`, Svix and friends): headers `webhook-id`,
  `webhook-timestamp` (unix seconds) and `webhook-signature` (`v1,<base64>`, several separated
  by spaces during a rotation); signed content `{id}.{timestamp}.{body}`; secret
  `whsec_<base64>`; timestamps more than 5 minutes from now are refused (replay window).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "LEVER_DEFAULT_MAX_AGE_SECONDS",
    "STANDARD_WEBHOOK_TOLERANCE_SECONDS",
    "SignatureError",
    "decode_standard_webhook_secret",
    "verify_ashby",
    "verify_greenhouse",
    "lever_signed_text",
    "verify_lever",
    "verify_standard_webhook",
]

STANDARD_WEBHOOK_TOLERANCE_SECONDS = 5 * 60
# Lever's retry schedule is not documented: an hour lets a delivery through that Lever resends
# after a short outage of ours, and a replay of one we accepted is a duplicate at any age.
LEVER_DEFAULT_MAX_AGE_SECONDS = 60 * 60

_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_SECRET_PREFIX = "whsec_"


class SignatureError(Exception):
    """The delivery cannot be shown to come from the configured sender. `str(error)` is safe
    to return to the sender (HTTP 401)."""


# --- helpers ---------------------------------------------------------------------------------


def _usable(secrets: Sequence[str], setting: str) -> list[str]:
    usable = [s for s in secrets if isinstance(s, str) and s.strip()]
    if not usable:
        raise SignatureError(f"{setting} is not configured")
    return usable


def _header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive lookup in any mapping; a missing, non-text or blank value is missing."""
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            if isinstance(value, str) and value.strip():
                return value.strip()
            break
    raise SignatureError(f"missing header {name}")


def _hmac_sha256(secret: bytes, message: bytes) -> bytes:
    return hmac.new(secret, message, hashlib.sha256).digest()


def _matches_hex(given_hex: str, message: bytes, secrets: Sequence[str]) -> bool:
    given = given_hex.lower().encode("ascii", "replace")
    # Check every secret (no early exit): the time taken does not tell which one matched.
    found = False
    for secret in secrets:
        expected = _hmac_sha256(_utf8(secret), message).hex().encode("ascii")
        found |= hmac.compare_digest(expected, given)
    return found


def _as_bytes(body: bytes | bytearray | memoryview) -> bytes:
    return bytes(body)


def _utf8(text: str) -> bytes:
    # surrogatepass: a lone surrogate (not valid UTF-8) must not turn into an exception.
    return text.encode("utf-8", "surrogatepass")


# --- Greenhouse and Ashby: HMAC-SHA256 of the body in a header -------------------------------


def verify_greenhouse(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> None:
    """`Signature: sha256 <hex>`: the algorithm, a space, the hex HMAC-SHA256 of the whole body."""
    usable = _usable(secrets, "GREENHOUSE_WEBHOOK_SECRET")
    value = _header(headers, "Signature")
    parts = value.split()
    if len(parts) != 2 or parts[0].lower() != "sha256" or not _HEX_SHA256.fullmatch(parts[1]):
        raise SignatureError("malformed header Signature: expected 'sha256 <hex digest>'")
    if not _matches_hex(parts[1], _as_bytes(body), usable):
        raise SignatureError("signature does not match")


def verify_ashby(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> None:
    """`Ashby-Signature: sha256=<hex>`: the hex HMAC-SHA256 of the whole body."""
    usable = _usable(secrets, "ASHBY_WEBHOOK_SECRET")
    value = _header(headers, "Ashby-Signature")
    algorithm, _, digest = value.partition("=")
    if algorithm.strip().lower() != "sha256" or not _HEX_SHA256.fullmatch(digest.strip()):
        raise SignatureError("malformed header Ashby-Signature: expected 'sha256=<hex digest>'")
    if not _matches_hex(digest.strip(), _as_bytes(body), usable):
        raise SignatureError("signature does not match")


# --- Lever: HMAC-SHA256 of token + triggeredAt, in the body ----------------------------------


def _lever_field(payload: Mapping[str, Any], name: str) -> Any:
    if name not in payload or payload[name] is None or payload[name] == "":
        raise SignatureError(f"missing field {name}")
    return payload[name]


def _triggered_at(value: Any) -> int:
    # Lever sends an integer number of milliseconds (JavaScript's Date.now()). Only that: a
    # string or a float would give several bodies for one signed string.
    if isinstance(value, bool) or not isinstance(value, int):
        raise SignatureError("malformed field triggeredAt: expected an integer number of milliseconds since the epoch")
    return value


def lever_signed_text(token: str, triggered_at: int) -> str:
    """What Lever's signature covers: `token` and `triggeredAt` joined without a separator. The
    delivery's idempotency key, so that a signature is spent once however it is re-split."""
    return f"{token}{triggered_at}"


def verify_lever(
    payload: Mapping[str, Any], secrets: Sequence[str], now: datetime, max_age_seconds: int = LEVER_DEFAULT_MAX_AGE_SECONDS
) -> None:
    """`payload["signature"]` must be the hex HMAC-SHA256 of `token + str(triggeredAt)`, keyed
    with the webhook's signatureToken, and `triggeredAt` (integer ms) fresh: at most
    `max_age_seconds` before `now` and at most the clock-skew tolerance after it. `payload` is
    the parsed JSON body."""
    usable = _usable(secrets, "LEVER_WEBHOOK_SIGNATURE_TOKEN")
    if not isinstance(payload, Mapping):
        raise SignatureError("the body is not a Lever webhook: expected a JSON object with token, triggeredAt and signature")
    token = _lever_field(payload, "token")
    triggered_at = _triggered_at(_lever_field(payload, "triggeredAt"))
    signature = _lever_field(payload, "signature")
    if not isinstance(token, str):
        raise SignatureError("malformed field token: expected a string")
    if not isinstance(signature, str) or not _HEX_SHA256.fullmatch(signature.strip()):
        raise SignatureError("malformed field signature: expected a hex HMAC-SHA256 digest")
    message = _utf8(lever_signed_text(token, triggered_at))
    if not _matches_hex(signature.strip(), message, usable):
        raise SignatureError("signature does not match")
    # After the signature: a stale answer tells only the sender who signed it that it is stale.
    moment = now if now.tzinfo else now.replace(tzinfo=UTC)
    age_ms = moment.timestamp() * 1000 - triggered_at
    if age_ms > max_age_seconds * 1000:
        raise SignatureError(f"triggeredAt too old: more than {max_age_seconds} s ago (LEVER_WEBHOOK_MAX_AGE_SECONDS)")
    if age_ms < -STANDARD_WEBHOOK_TOLERANCE_SECONDS * 1000:
        raise SignatureError(f"triggeredAt too far in the future: more than {STANDARD_WEBHOOK_TOLERANCE_SECONDS} s after now")


# --- Standard Webhooks -----------------------------------------------------------------------


def decode_standard_webhook_secret(secret: str) -> bytes:
    """`whsec_<base64>` (the prefix is optional, as in the reference libraries) -> key bytes.
    Raises ValueError for anything else; config loading calls this to refuse a bad secret early."""
    text = secret.strip()
    if text.startswith(_SECRET_PREFIX):
        text = text[len(_SECRET_PREFIX) :]
    try:
        # Unpadded base64 is common in the wild; extra padding is harmless.
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("expected whsec_ followed by base64") from None
    if not key:
        raise ValueError("the key is empty")
    return key


def verify_standard_webhook(body: bytes, headers: Mapping[str, str], secrets: Sequence[str], now: datetime) -> None:
    """Standard Webhooks v1 (symmetric): any `v1,<base64>` entry in `webhook-signature` signed
    with any configured secret passes, if `webhook-timestamp` is within 5 minutes of `now`."""
    usable = _usable(secrets, "EVENTS_WEBHOOK_SECRET")
    keys: list[bytes] = []
    for secret in usable:
        try:
            keys.append(decode_standard_webhook_secret(secret))
        except ValueError:
            continue  # refused at start-up by IntakeConfig; never used here
    if not keys:
        raise SignatureError("EVENTS_WEBHOOK_SECRET is malformed: expected whsec_<base64>")

    msg_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")

    if not _UNIX_SECONDS.fullmatch(timestamp):
        raise SignatureError("malformed header webhook-timestamp: expected unix seconds")
    moment = now if now.tzinfo else now.replace(tzinfo=UTC)
    skew = moment.timestamp() - int(timestamp)
    if skew > STANDARD_WEBHOOK_TOLERANCE_SECONDS:
        raise SignatureError("timestamp too old")
    if skew < -STANDARD_WEBHOOK_TOLERANCE_SECONDS:
        raise SignatureError("timestamp too far in the future")

    given: list[bytes] = []
    for entry in signatures.split():
        version, _, encoded = entry.partition(",")
        if version != "v1" or not encoded:
            continue  # another scheme (e.g. v1a, asymmetric) or noise: not ours to check
        try:
            given.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not given:
        raise SignatureError("malformed header webhook-signature: expected 'v1,<base64>' (space-separated)")

    content = _utf8(f"{msg_id}.{timestamp}.") + _as_bytes(body)
    found = False
    for key in keys:
        expected = _hmac_sha256(key, content)
        for signature in given:
            found |= hmac.compare_digest(expected, signature)
    if not found:
        raise SignatureError("signature does not match")
