"""Data keys on their own (no server): a payload of a workflow registered under a candidate's key
is encrypted with that key and labelled with its id; decoding needs no context; a destroyed key
makes it an "erased" error; everything under the master key, before and after, still decodes."""

from __future__ import annotations

import base64
import json

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

from codec.data_keys import DATA_KEY_PREFIX, CandidateErased, KeyringCodec, owning_workflow_id, subject_of
from codec.encryption import EncryptionCodec, EncryptionConfigError, describe, generate_key, parse_keys
from domain import contract
from service.settings import Settings
from store import data_key_store
from store.data_key_store import DataKeyStore
from store.erasure_store import ErasureStore

SPEC = f"m2:{generate_key()},m1:{generate_key()}"


def _plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps({"name": text}).encode())


def _context(workflow_id: str) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)


@pytest.fixture
def codec(store_url: str) -> KeyringCodec:
    return KeyringCodec(parse_keys(SPEC), DataKeyStore(store_url))


def test_the_prefix_is_the_same_on_both_sides():
    assert data_key_store.DATA_KEY_PREFIX == DATA_KEY_PREFIX
    with pytest.raises(EncryptionConfigError, match="may not start with 'dk-'"):
        KeyringCodec([("dk-1", b"k" * 32)], DataKeyStore("sqlite://"))


def test_deliveries_and_referee_checks_belong_to_their_process():
    process = contract.post_interview_workflow_id("greenhouse", "4711")
    assert owning_workflow_id(process) == process
    assert owning_workflow_id(contract.referee_check_workflow_id(process, "ref-1")) == process
    assert owning_workflow_id(contract.notify_workflow_id("message", f"{process}/debrief-questions/1")) == process
    assert owning_workflow_id(contract.notify_workflow_id("task", f"{process}-referee-ref-1/reminder")) == process
    relationship = contract.relationship_workflow_id("greenhouse", "c-9")
    assert owning_workflow_id(contract.notify_workflow_id("task", f"{relationship}/check-in/90")) == relationship


async def test_a_candidate_workflow_is_encrypted_with_their_key_and_decodes_without_context(codec: KeyringCodec, store_url: str):
    ada = contract.post_interview_workflow_id("greenhouse", "a-1")
    grace = contract.post_interview_workflow_id("greenhouse", "g-1")
    ada_key = await codec.bind("greenhouse", "ada", [ada, contract.relationship_workflow_id("greenhouse", "ada")])
    grace_key = await codec.bind("greenhouse", "grace", [grace])
    assert ada_key.startswith(DATA_KEY_PREFIX) and ada_key != grace_key
    assert await codec.bind("greenhouse", "ada", [ada]) == ada_key  # a second event: the same key

    (for_ada,) = await codec.with_context(_context(ada)).encode([_plain("Ada Lovelace")])
    (for_check,) = await codec.with_context(_context(contract.referee_check_workflow_id(ada, "r1"))).encode([_plain("Ada Lovelace")])
    activity = ActivitySerializationContext(
        namespace="default", activity_id="1", activity_type="x", activity_task_queue="q", workflow_id=ada, workflow_type="PostInterviewProcess", is_local=False
    )
    (for_activity,) = await codec.with_context(activity).encode([_plain("Ada Lovelace")])
    (unbound,) = await codec.with_context(_context("post-interview-greenhouse-started-before")).encode([_plain("Old Timer")])
    (no_context,) = await codec.encode([_plain("Nobody")])
    assert {p.metadata["encryption-key-id"] for p in (for_ada, for_check, for_activity)} == {ada_key.encode()}
    assert unbound.metadata["encryption-key-id"] == b"m2" and no_context.metadata["encryption-key-id"] == b"m2"
    assert b"Ada" not in for_ada.SerializeToString()

    # Another process (the codec server) decodes by the label alone.
    fresh = KeyringCodec(parse_keys(SPEC), DataKeyStore(store_url))
    decoded = await fresh.decode([for_ada, for_check, unbound, no_context])
    assert [json.loads(p.data)["name"] for p in decoded] == ["Ada Lovelace", "Ada Lovelace", "Old Timer", "Nobody"]
    # Written before data keys (the master key alone): still decodes.
    (old,) = await EncryptionCodec.parse(SPEC.split(",")[1]).encode([_plain("Before")])
    assert json.loads((await fresh.decode([old]))[0].data)["name"] == "Before"

    # Erased: the key is destroyed in the store; a new reader cannot decode Ada, still decodes Grace.
    (for_grace,) = await codec.with_context(_context(grace)).encode([_plain("Grace Hopper")])
    store = ErasureStore(store_url)
    try:
        erasure_id, _ = store.record_request(subject_of("greenhouse", "ada"), "greenhouse", "test", "cli")
        assert store.destroy_keys(subject_of("greenhouse", "ada"), store.key_ids(subject_of("greenhouse", "ada"), [ada]), erasure_id) == 1
    finally:
        store.close()
    after = KeyringCodec(parse_keys(SPEC), DataKeyStore(store_url))
    with pytest.raises(CandidateErased, match=rf"^erased: .*\(erasure #{erasure_id}\).*{ada_key} was destroyed"):
        await after.decode([for_ada])
    assert json.loads((await after.decode([for_grace]))[0].data)["name"] == "Grace Hopper"
    # Nothing new is written under any key for an erased candidate's workflow, and no process starts.
    with pytest.raises(CandidateErased):
        await after.with_context(_context(ada)).encode([_plain("Ada again")])
    with pytest.raises(CandidateErased):
        await after.bind("greenhouse", "ada", [contract.post_interview_workflow_id("greenhouse", "a-2")])
    # The process that erased forgets what it held at once.
    codec.forget([ada_key])
    with pytest.raises(CandidateErased):
        await codec.decode([for_ada])


async def test_wrapped_keys_are_bound_to_their_row_and_the_master_key(codec: KeyringCodec, store_url: str):
    await codec.bind("lever", "c-1", ["post-interview-lever-1"])
    await codec.bind("lever", "c-2", ["post-interview-lever-2"])
    (one,) = await codec.with_context(_context("post-interview-lever-1")).encode([_plain("x")])
    from sqlalchemy import select, update

    from store.schema import data_keys

    keys = DataKeyStore(store_url)
    first, second = keys.key_of_workflow("post-interview-lever-1"), keys.key_of_workflow("post-interview-lever-2")
    with keys.engine.begin() as connection:
        rows = {row.key_id: row for row in connection.execute(select(data_keys.c.key_id, data_keys.c.wrapped_key, data_keys.c.wrapping_key_id))}
        assert {row.wrapping_key_id for row in rows.values()} == {"m2"} and set(rows) == {first, second}
        # The wrapped key of c-2 copied into c-1's row does not unwrap there.
        connection.execute(update(data_keys).where(data_keys.c.key_id == first).values(wrapped_key=rows[second].wrapped_key))
    with pytest.raises(ValueError, match="does not unwrap"):
        await KeyringCodec(parse_keys(SPEC), DataKeyStore(store_url)).decode([one])
    # Without the master key that wrapped them, the data keys are out of reach (and it says so).
    with pytest.raises(ValueError, match="wrapped by master key 'm2'"):
        await KeyringCodec([("m3", base64.b64decode(generate_key()))], DataKeyStore(store_url)).decode([one])


def test_the_settings_give_a_keyring_unless_turned_off(store_url: str):
    on = Settings.from_env({"PAYLOAD_ENCRYPTION_KEYS": SPEC, "DATABASE_URL": store_url}).payload_codec()
    assert isinstance(on, KeyringCodec)
    assert describe(on) == "AES-256-GCM, encrypting with key m2, per-candidate data keys wrapped by it (crypto-shredding), decrypting m2, m1"
    assert Settings.from_env({"PAYLOAD_ENCRYPTION_KEYS": SPEC, "DATABASE_URL": store_url}).payload_codec() is on  # one per process
    off = Settings.from_env({"PAYLOAD_ENCRYPTION_KEYS": SPEC, "PAYLOAD_DATA_KEYS": "off"}).payload_codec()
    assert type(off) is EncryptionCodec
    with pytest.raises(EncryptionConfigError, match="PAYLOAD_DATA_KEYS='maybe'"):
        Settings.from_env({"PAYLOAD_ENCRYPTION_KEYS": SPEC, "PAYLOAD_DATA_KEYS": "maybe"}).payload_codec()
    assert Settings.from_env({"PAYLOAD_DATA_KEYS": "on"}).payload_codec() is None  # no master key, no data keys
