"""Crypto-shredding: what Temporal's histories hold about a candidate is encrypted under a data key
of their own, so that erasing the candidate destroys the key and their histories can no longer be
decoded, while every other history stays decodable and replayable.

- One data key per candidate (`subject`: a digest of "source:candidate id"), 32 random bytes,
  stored in the store's table `data_keys` wrapped (AES-256-GCM) by the master key of
  PAYLOAD_ENCRYPTION_KEYS that encrypts (its id in `wrapping_key_id`: keep a retired master key
  in the list for as long as data keys wrapped by it exist).
- The workflows a key encrypts are registered in `data_key_workflows` before the first start
  (`KeyringCodec.bind`, called by process_client.deliver_event): the application's
  PostInterviewProcess and the candidate's RelationshipProcess. A referee check
  (`{process id}-referee-{id}`) and a delivery (`notify-{kind}-{process id}/...`) use the key of
  the process they belong to.
- The codec chooses the key by the workflow id of Temporal's serialization context
  (temporalio.converter.WithSerializationContext: the clients, the worker and the activities give
  the codec the workflow id a payload belongs to). A payload is labelled with its key id
  (`encryption-key-id: dk-...`, authenticated), so decoding needs no context: the codec server
  and `temporal workflow show` decode by the label alone.
- A workflow with no data key (started before data keys existed, a poller, a test that started
  one by hand) is encrypted with the master key as before; payloads written before stay decodable
  with the master key.
- Erasure (privacy/erasure.py) sets `wrapped_key` to NULL: the key is gone from the store, and a
  payload under it raises CandidateErased ("erased"). New payloads are never written for an erased
  candidate's workflow under any key (encode raises too), and `bind` refuses an erased candidate,
  so a late event does not start a process for them again.

Processes cache keys for KEY_CACHE_SECONDS: a process that did not carry out the erasure may
decode with a key it already held for up to that long (the erasure terminates the candidate's
workflows first, so no worker needs it). The process that erases forgets the keys at once.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import SerializationContext, WithSerializationContext
from typing_extensions import Self

from codec.encryption import ENCODING, KEY_BYTES, KEY_ID_METADATA_KEY, NONCE_BYTES, EncryptionCodec, EncryptionConfigError, parse_keys
from domain import contract

DATA_KEY_PREFIX = "dk-"
KEY_CACHE_SECONDS = 300.0
DATA_KEYS_ENV = "PAYLOAD_DATA_KEYS"


class CandidateErased(ValueError):
    """A payload, a workflow or a candidate whose data key erasure destroyed. Says which key and
    which erasure, never what the payload held."""


def subject_of(source: str, candidate_id: str) -> str:
    """The digest that stands for a candidate in `data_keys` and `erasures`: their ATS and id,
    hashed, so neither table names anybody."""
    return "sha256:" + hashlib.sha256(f"postinterview-candidate\x00{source}\x00{candidate_id}".encode()).hexdigest()


def owning_workflow_id(workflow_id: str) -> str:
    """The workflow whose data key encrypts `workflow_id`'s payloads: a delivery's
    (`notify-{kind}-{subject key}`, the key starting with the workflow id that asked for it) and a
    referee check's belong to their process; every other workflow to itself."""
    if workflow_id.startswith("notify-"):
        kind_and_key = workflow_id.removeprefix("notify-")
        _kind, _, subject_key = kind_and_key.partition("-")
        workflow_id = subject_key.split("/", 1)[0] or workflow_id
    parent = contract.referee_check_parent(workflow_id)
    return parent[0] if parent else workflow_id


@dataclass(frozen=True)
class _Destroyed:
    key_id: str
    destroyed_at: datetime | None
    erasure_id: int | None

    def error(self) -> CandidateErased:
        when = f" on {self.destroyed_at:%Y-%m-%d %H:%M} UTC" if self.destroyed_at else ""
        which = f" (erasure #{self.erasure_id})" if self.erasure_id else ""
        return CandidateErased(
            f"erased: this payload belongs to a candidate who was erased{when}{which}; its data key {self.key_id} was destroyed, "
            "so it cannot be decoded"
        )


class DataKeyTable(Protocol):
    """Where the data keys are kept: store/data_key_store.py's DataKeyStore (the store's tables
    `data_keys`, `data_key_workflows`). Rows are mappings with key_id, subject, wrapped_key,
    wrapping_key_id, destroyed_at and erasure_id. Called from threads."""

    def key_of_workflow(self, workflow_id: str) -> str | None: ...

    def key(self, key_id: str) -> Mapping[str, Any] | None: ...

    def bind(self, subject: str, workflow_ids: Sequence[str], new_key: Callable[[str], tuple[str, str]]) -> Mapping[str, Any]: ...


class _Keyring:
    """What every copy of a KeyringCodec shares (with_context makes one per workflow id)."""

    def __init__(self, store: DataKeyTable, cache_seconds: float) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self.ciphers: dict[str, tuple[float, AESGCM]] = {}
        self.destroyed: dict[str, _Destroyed] = {}
        self.workflow_keys: dict[str, tuple[float, str | None]] = {}


class KeyringCodec(EncryptionCodec, WithSerializationContext):
    """The engine's codec with data keys: EncryptionCodec (the master keys, which still decode
    everything written before, wrap the data keys and seal stored secrets) choosing, per payload,
    the data key of the candidate whose workflow it belongs to."""

    def __init__(
        self, keys: Sequence[tuple[str, bytes]] | Mapping[str, bytes], store: DataKeyTable, cache_seconds: float = KEY_CACHE_SECONDS
    ) -> None:
        super().__init__(keys)
        if any(key_id.startswith(DATA_KEY_PREFIX) for key_id in self._ciphers):
            raise EncryptionConfigError(f"a master key id may not start with {DATA_KEY_PREFIX!r}: that prefix labels data keys")
        self._ring = _Keyring(store, cache_seconds)
        self._workflow_id: str | None = None

    @classmethod
    def parse_with_store(cls, spec: str, store: DataKeyTable) -> KeyringCodec:
        """From PAYLOAD_ENCRYPTION_KEYS' `key_id:base64key[,...]` and the store holding the data keys."""
        return cls(parse_keys(spec), store)

    @property
    def store(self) -> DataKeyTable:
        return self._ring.store

    def with_context(self, context: SerializationContext) -> Self:
        workflow_id = getattr(context, "workflow_id", None)
        if workflow_id == self._workflow_id:
            return self
        bound = copy.copy(self)
        bound._workflow_id = workflow_id
        return bound

    # --- binding keys to workflows -----------------------------------------------------------

    async def bind(self, source: str, candidate_id: str, workflow_ids: Sequence[str]) -> str:
        """Register `workflow_ids` under the candidate's data key (created on first use) before
        they start; its key id. Raises CandidateErased for an erased candidate."""
        subject = subject_of(source, candidate_id)
        # Always asked of the store (one read when nothing is new): another process may have
        # erased the candidate a moment ago, and a cached answer would start a process for them.
        row = await asyncio.to_thread(self._ring.store.bind, subject, list(workflow_ids), self._wrap_new)
        if row["destroyed_at"] is not None:
            destroyed = _Destroyed(row["key_id"], row["destroyed_at"], row["erasure_id"])
            self._ring.destroyed[row["key_id"]] = destroyed
            raise CandidateErased(f"erased: this {source} candidate was erased (data key {row['key_id']} destroyed); nothing more is kept or started for them")
        for workflow_id in workflow_ids:
            self._ring.workflow_keys.pop(workflow_id, None)  # read back: a workflow bound before keeps its key
        return str(row["key_id"])

    def forget(self, key_ids: Iterable[str]) -> None:
        """Drop keys from this process's cache at once (the erasure's own process)."""
        for key_id in key_ids:
            self._ring.ciphers.pop(key_id, None)
            self._ring.destroyed.pop(key_id, None)
        self._ring.workflow_keys.clear()

    def _wrap_new(self, key_id: str) -> tuple[str, str]:
        data_key = os.urandom(KEY_BYTES)
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.key_id].encrypt(nonce, data_key, _wrap_aad(key_id))
        return base64.b64encode(nonce + sealed).decode(), self.key_id

    # --- keys ----------------------------------------------------------------------------------

    def _load_key(self, key_id: str) -> AESGCM:
        """The data key's cipher (cached); CandidateErased once destroyed, ValueError when unknown."""
        destroyed = self._ring.destroyed.get(key_id)
        if destroyed is not None:
            raise destroyed.error()
        cached = self._ring.ciphers.get(key_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        row = self._ring.store.key(key_id)
        if row is None:
            raise ValueError(f"payload encrypted with data key {key_id!r}, which this store does not hold (another database?)")
        if row["wrapped_key"] is None:
            destroyed = _Destroyed(key_id, row["destroyed_at"], row["erasure_id"])
            self._ring.destroyed[key_id] = destroyed
            self._ring.ciphers.pop(key_id, None)
            raise destroyed.error()
        wrapping = self._ciphers.get(row["wrapping_key_id"])
        if wrapping is None:
            raise ValueError(
                f"data key {key_id!r} is wrapped by master key {row['wrapping_key_id']!r}, which PAYLOAD_ENCRYPTION_KEYS does not hold "
                "(keep retired master keys after the first)"
            )
        raw = base64.b64decode(row["wrapped_key"])
        try:
            data_key = wrapping.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _wrap_aad(key_id))
        except InvalidTag:
            raise ValueError(f"data key {key_id!r} does not unwrap with master key {row['wrapping_key_id']!r}: altered") from None
        cipher = AESGCM(data_key)
        self._ring.ciphers[key_id] = (time.monotonic() + self._ring.cache_seconds, cipher)
        return cipher

    def _key_for_workflow(self, workflow_id: str) -> str | None:
        owner = owning_workflow_id(workflow_id)
        cached = self._ring.workflow_keys.get(owner)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        key_id = self._ring.store.key_of_workflow(owner)
        self._ring.workflow_keys[owner] = (time.monotonic() + self._ring.cache_seconds, key_id)
        return key_id

    # --- the codec -----------------------------------------------------------------------------
    # The caches are read on the event loop; the store only from a thread, on a miss.

    async def _workflow_key(self, workflow_id: str) -> str | None:
        owner = owning_workflow_id(workflow_id)
        cached = self._ring.workflow_keys.get(owner)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return await asyncio.to_thread(self._key_for_workflow, workflow_id)

    async def _cipher(self, key_id: str) -> AESGCM:
        destroyed = self._ring.destroyed.get(key_id)
        if destroyed is not None:
            raise destroyed.error()
        cached = self._ring.ciphers.get(key_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return await asyncio.to_thread(self._load_key, key_id)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if self._workflow_id is None or not payloads:
            return await super().encode(payloads)
        key_id = await self._workflow_key(self._workflow_id)
        if key_id is None:
            return [self._encrypt(p) for p in payloads]
        cipher = await self._cipher(key_id)  # CandidateErased: nothing new is written for an erased candidate
        label = key_id.encode()
        sealed = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID_METADATA_KEY: label},
                    data=nonce + cipher.encrypt(nonce, payload.SerializeToString(), label),
                )
            )
        return sealed

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = []
        for payload in payloads:
            key_id = _data_key_id(payload)
            if key_id is None:
                decoded.append(self._decrypt(payload))
                continue
            cipher = await self._cipher(key_id)
            data = payload.data
            if len(data) < NONCE_BYTES + 16:
                raise ValueError(f"encrypted payload (data key {key_id!r}) is truncated")
            try:
                plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key_id.encode())
            except InvalidTag:
                raise ValueError(f"encrypted payload does not decrypt with data key {key_id!r}: tampered data") from None
            decoded.append(Payload.FromString(plain))
        return decoded


def _data_key_id(payload: Payload) -> str | None:
    if payload.metadata.get("encoding", b"") != ENCODING:
        return None
    key_id = payload.metadata.get(KEY_ID_METADATA_KEY, b"").decode(errors="replace")
    return key_id if key_id.startswith(DATA_KEY_PREFIX) else None


def _wrap_aad(key_id: str) -> bytes:
    # The wrapped key is bound to its id: a wrapped key copied to another row does not unwrap.
    return f"postinterview-data-key|{key_id}".encode()


def data_keys_enabled(setting: str) -> bool:
    """PAYLOAD_DATA_KEYS: on (default) or off."""
    value = setting.strip().lower()
    if value in ("", "on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"{DATA_KEYS_ENV}={setting.strip()!r}: use on or off")
