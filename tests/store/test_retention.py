"""Intake payloads are not kept for ever: once a delivery is done with (delivered, ignored,
skipped) and older than the retention period, its payload (the candidate's details in its events)
is dropped, its row kept, so a re-delivery is still a duplicate. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from store.intake_store import IntakeStore
from store.schema import deliveries

NOW = datetime.now(UTC)
EVENT = [{"event_id": "e", "candidate": {"id": "c-1", "name": "Ada Lovelace", "email": "ada@example.com"}}]


def _accept(store: IntakeStore, key: str, age_days: float, events=EVENT):  # type: ignore[no-untyped-def]
    return store.accept(
        source="greenhouse", idempotency_key=key, action="x", application_key="greenhouse:1", events=list(events),
        ignored_reason=None if events else "nothing", received_at=NOW - timedelta(days=age_days),
    )


def test_done_deliveries_older_than_the_period_lose_their_payload_and_keep_their_row(database_url: str):
    store = IntakeStore(database_url)
    try:
        old_delivered = _accept(store, "old-delivered", 40).delivery_id
        old_skipped = _accept(store, "old-skipped", 40).delivery_id
        old_ignored = _accept(store, "old-ignored", 40, events=[]).delivery_id
        old_pending = _accept(store, "old-pending", 40).delivery_id
        old_failed = _accept(store, "old-failed", 40).delivery_id
        recent = _accept(store, "recent", 5).delivery_id
        store.mark_delivered([old_delivered, recent])
        store.skip(old_skipped, "ops", "test")
        store.settle([], [(old_failed, "boom")])

        assert store.purge_payloads(NOW - timedelta(days=30)) == 3
        with store.engine.connect() as connection:
            rows = {row.id: row for row in connection.execute(select(deliveries)).all()}
        for purged in (old_delivered, old_skipped, old_ignored):
            assert rows[purged].events == [] and rows[purged].payload_purged_at is not None
            assert rows[purged].status in ("delivered", "skipped", "ignored") and rows[purged].idempotency_key
        for kept in (old_pending, old_failed, recent):
            assert rows[kept].events == EVENT and rows[kept].payload_purged_at is None
        # Idempotent; a re-delivery of a purged one is still a duplicate, not a new delivery.
        assert store.purge_payloads(NOW - timedelta(days=30)) == 0
        again = _accept(store, "old-delivered", 0)
        assert again.duplicate and again.delivery_id == old_delivered
        # A skipped delivery whose payload is gone cannot be retried into an empty delivery.
        assert not store.retry(old_skipped, "ops")
        # Batches: a large backlog is purged a part at a time.
        assert store.purge_payloads(NOW, limit=1) == 1 and store.purge_payloads(NOW, limit=10) == 0
    finally:
        store.close()
