"""The retention purge runs by itself in every forwarder (hourly), and at once with
`postinterview intake purge`: delivered payloads older than INTAKE_PAYLOAD_RETENTION_DAYS lose
their payload, the rows stay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from intake import forwarder as forwarding
from intake.forwarder import Forwarder
from store.intake_store import IntakeStore
from tests.cli.conftest import run_cli
from tests.harness import eventually

EVENT = [{"event_id": "e", "candidate": {"id": "c-1", "name": "Ada Lovelace"}}]


def _delivered(store: IntakeStore, key: str, age_days: int) -> int:
    accepted = store.accept(
        source="greenhouse", idempotency_key=key, action="x", application_key="greenhouse:1", events=EVENT,
        ignored_reason=None, received_at=datetime.now(UTC) - timedelta(days=age_days),
    )
    store.mark_delivered([accepted.delivery_id])
    return accepted.delivery_id


async def test_the_forwarder_purges_on_its_own(store_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(forwarding, "RETENTION_FIRST", 0.01)
    store = IntakeStore(store_url)
    old, recent = _delivered(store, "old", 10), _delivered(store, "recent", 2)

    async def no_temporal():  # nothing is pending: the forwarder never connects
        raise AssertionError("not needed")

    forwarder = Forwarder(store, no_temporal, "q", retention_days=7)
    stop = asyncio.Event()
    running = asyncio.create_task(forwarder.run(stop, poll_interval=0.05))
    try:
        await eventually(lambda: store.delivery_by_id(old)["events"] == [], what="the old payload purged")
        assert store.delivery_by_id(recent)["events"] == EVENT
        assert store.delivery_by_id(old)["status"] == "delivered" and store.delivery_by_id(old)["payload_purged_at"]
    finally:
        stop.set()
        await running
        store.close()


async def test_intake_purge_now(store_url: str):
    store = IntakeStore(store_url)
    try:
        old, recent = _delivered(store, "old", 40), _delivered(store, "recent", 5)
    finally:
        store.close()
    env = {"DATABASE_URL": store_url, "LOG_LEVEL": "WARNING"}
    result = await run_cli("intake", "purge", env=env)
    assert result.code == 0 and "Purged the payloads of 1 deliveries" in result.stdout and "kept 30 days" in result.stdout, result
    result = await run_cli("intake", "purge", "--days", "1", env={**env, "INTAKE_PAYLOAD_RETENTION_DAYS": "60"})
    assert result.code == 0 and "of 1 deliveries" in result.stdout and "kept 1 days" in result.stdout, result
    bad = await run_cli("intake", "purge", env={**env, "INTAKE_PAYLOAD_RETENTION_DAYS": "never"})
    assert bad.code == 2 and "INTAKE_PAYLOAD_RETENTION_DAYS" in bad.stderr
    store = IntakeStore(store_url)
    try:
        assert store.delivery_by_id(old)["events"] == [] and store.delivery_by_id(recent)["events"] == []
    finally:
        store.close()
