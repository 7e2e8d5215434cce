"""Sealing a secret the engine must keep in its own store (a Bullhorn refresh token, an OAuth
client secret): AES-256-GCM with the keys of PAYLOAD_ENCRYPTION_KEYS, the same keys that encrypt
what goes to Temporal, so there is one key to guard and rotate.

A sealed value is `sealed:<key id>:<base64 nonce + ciphertext>`; what it is for (the column and
the row) is authenticated with it, so a sealed token cannot be moved to another account's row.
The first key seals; every key listed unseals (rotation as for payloads: unseal with the old one,
and the next rotation of the token seals it with the new). Without keys a value is kept as
`plain:<text>`, and `postinterview connect bullhorn` says so.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag

from codec.encryption import NONCE_BYTES, EncryptionCodec

SEALED = "sealed:"
PLAIN = "plain:"


class SealError(ValueError):
    """A sealed value cannot be opened (another key, altered, moved). Never quotes the value."""


class SecretSealer:
    def __init__(self, codec: EncryptionCodec | None) -> None:
        # The codec's own ciphers: one set of keys for payloads and stored secrets.
        self._ciphers = dict(codec._ciphers) if codec else {}  # noqa: SLF001 - same package
        self._key_id = codec.key_id if codec else None

    @property
    def encrypts(self) -> bool:
        return self._key_id is not None

    def seal(self, secret: str, purpose: str) -> str:
        if self._key_id is None:
            return PLAIN + secret
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._key_id].encrypt(nonce, secret.encode(), f"{self._key_id}|{purpose}".encode())
        return f"{SEALED}{self._key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def unseal(self, stored: str, purpose: str) -> str:
        if stored.startswith(PLAIN):
            return stored.removeprefix(PLAIN)
        if not stored.startswith(SEALED):
            raise SealError(f"{purpose}: not a sealed value")
        key_id, _, encoded = stored.removeprefix(SEALED).partition(":")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise SealError(f"{purpose}: sealed with key {key_id!r}, which PAYLOAD_ENCRYPTION_KEYS does not hold")
        try:
            raw = base64.b64decode(encoded, validate=True)
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], f"{key_id}|{purpose}".encode()).decode()
        except (binascii.Error, ValueError, InvalidTag):
            raise SealError(f"{purpose}: the sealed value does not open (altered, or moved from another row)") from None
