"""AES-256-GCM payload encryption for every payload the engine hands to Temporal.

Workflow inputs, signals, updates, queries, activity inputs and results, memos, user metadata
(summaries) and, through the failure converter, failure messages and stack traces all pass
through the data converter's codec: with encryption on, Temporal's history holds only
ciphertext. Search attributes and workflow ids are not payloads and are never encrypted: they
must never carry personal data (they hold identifiers only).

Keys come from PAYLOAD_ENCRYPTION_KEYS (read by service/settings.py), a comma-separated list of `key_id:base64key` (32-byte
keys). The first key encrypts; every key listed decrypts, so a key is rotated by putting the new
one first and keeping the old one after it for as long as histories encrypted with it are read.
Payloads that are not encrypted (written before encryption was turned on) pass through decode
unchanged.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter, PydanticPayloadConverter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from domain.bounds import reading_recorded

KEYS_ENV = "PAYLOAD_ENCRYPTION_KEYS"
ENCODING = b"binary/encrypted"
KEY_ID_METADATA_KEY = "encryption-key-id"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96-bit GCM nonce, random per payload


class EncryptionConfigError(ValueError):
    """PAYLOAD_ENCRYPTION_KEYS (or the keys given) cannot be used. Never quotes key material."""


class UnknownKeyError(ValueError):
    """A payload was encrypted with a key this codec does not have."""


def generate_key() -> str:
    """A new random key, base64 as PAYLOAD_ENCRYPTION_KEYS takes it."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def parse_keys(spec: str) -> list[tuple[str, bytes]]:
    """(key id, key) pairs of `key_id:base64key[,key_id:base64key...]`, the order kept."""
    pairs: list[tuple[str, bytes]] = []
    for index, item in enumerate(part.strip() for part in spec.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        key_id = key_id.strip()
        if not sep or not encoded.strip():
            raise EncryptionConfigError(f"{KEYS_ENV} entry {index + 1} ({key_id or 'no id'}) is not key_id:base64key")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise EncryptionConfigError(f"{KEYS_ENV} key {key_id!r} is not valid base64") from None
        pairs.append((key_id, key))
    return pairs


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Sequence[tuple[str, bytes]] | Mapping[str, bytes]) -> None:
        """`keys`: (key id, 32-byte key) pairs; the first encrypts, all decrypt."""
        pairs = list(keys.items()) if isinstance(keys, Mapping) else list(keys)
        if not pairs:
            raise EncryptionConfigError("payload encryption needs at least one key")
        self._ciphers: dict[str, AESGCM] = {}
        for key_id, key in pairs:
            if not key_id or any(c in key_id for c in ":, \t\n"):
                raise EncryptionConfigError(f"invalid encryption key id {key_id!r}: non-empty, without ':', ',' or spaces")
            if key_id in self._ciphers:
                raise EncryptionConfigError(f"encryption key id {key_id!r} is given twice")
            if len(key) != KEY_BYTES:
                raise EncryptionConfigError(f"encryption key {key_id!r} has {len(key)} bytes; AES-256 needs {KEY_BYTES}")
            self._ciphers[key_id] = AESGCM(key)
        self.key_id = pairs[0][0]
        self._key_id_bytes = self.key_id.encode()

    @property
    def key_ids(self) -> list[str]:
        """Every key id this codec decrypts, the encrypting one first."""
        return list(self._ciphers)

    @classmethod
    def parse(cls, spec: str) -> EncryptionCodec:
        """From `key_id:base64key[,key_id:base64key...]`."""
        return cls(parse_keys(spec))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(p) for p in payloads]

    def _encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        # The key id is authenticated: a payload cannot be relabelled to another key.
        sealed = self._ciphers[self.key_id].encrypt(nonce, payload.SerializeToString(), self._key_id_bytes)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA_KEY: self._key_id_bytes},
            data=nonce + sealed,
        )

    def _decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding", b"") != ENCODING:
            return payload  # written before encryption was on, or by another codec layer
        key_id_bytes = payload.metadata.get(KEY_ID_METADATA_KEY, b"")
        key_id = key_id_bytes.decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyError(
                f"payload encrypted with unknown key id {key_id!r}; this codec has {', '.join(self._ciphers)} "
                f"(keep retired keys after the first in {KEYS_ENV})"
            )
        data = payload.data
        if len(data) < NONCE_BYTES + 16:
            raise ValueError(f"encrypted payload (key id {key_id!r}) is truncated")
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key_id_bytes)
        except InvalidTag:
            raise ValueError(f"encrypted payload does not decrypt with key {key_id!r}: wrong key material or tampered data") from None
        return Payload.FromString(plain)


class _RecordedJSONConverter(PydanticJSONPlainPayloadConverter):
    """Pydantic's JSON payloads, read back as they were recorded (domain.bounds.reading_recorded):
    the bounds on input were checked where it entered, and a history must decode as it was written."""

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        with reading_recorded():
            return super().from_payload(payload, type_hint)


class EnginePayloadConverter(PydanticPayloadConverter):
    def __init__(self) -> None:
        super().__init__()
        self.converters = {
            encoding: _RecordedJSONConverter() if isinstance(converter, PydanticJSONPlainPayloadConverter) else converter
            for encoding, converter in self.converters.items()
        }


engine_data_converter = DataConverter(payload_converter_class=EnginePayloadConverter)
"""The engine's converter without encryption: what the tests' servers and recorded histories use."""


def data_converter(codec: PayloadCodec | None) -> DataConverter:
    """The engine's pydantic converter; with a codec, also encrypting failure messages and stack traces."""
    if codec is None:
        return engine_data_converter
    return dataclasses.replace(
        engine_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def describe(codec: PayloadCodec | None) -> str:
    """A log-safe description of the payload encryption (key ids only)."""
    if codec is None:
        return "off"
    if isinstance(codec, EncryptionCodec):
        # codec.data_keys.KeyringCodec (not imported here: it builds on this module).
        keys = ", per-candidate data keys wrapped by it (crypto-shredding)" if type(codec).__name__ == "KeyringCodec" else ""
        return f"AES-256-GCM, encrypting with key {codec.key_id}{keys}, decrypting {', '.join(codec.key_ids)}"
    return type(codec).__name__
