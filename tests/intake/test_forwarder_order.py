"""The forwarder's order per application under random interleavings: many applications, /events
batches spanning two of them, deliveries that fail now and then, for ever or for good, rows
accepted while it runs, and small limits (a few held per application, a small read-ahead), so
that rows overflow into the table, are passed over, dropped behind failing heads and read again.

Temporal is replaced by a stand-in that fails as each row's plan says: the property is the
pipeline's bookkeeping, which needs more interleavings than a real server gives in a test's time
(tests/intake/test_forwarder.py and test_dead_letters.py run it against real ones). Checked: no
two deliveries of one application at once; each application's deliveries first tried in the
order accepted, each only once the one before it was settled; every row ends delivered or
failed, the always-failing ones failed.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.service import RPCError, RPCStatusCode

import intake.forwarder
from intake.forwarder import Forwarder
from store.intake_store import IntakeStore, NewDelivery, PendingDelivery
from tests.harness import eventually


class _Planned(Forwarder):
    def __init__(self, *args, plan: dict[int, str | None], rng: random.Random, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.plan, self.rng = plan, rng
        self.busy: dict[str, int] = {}
        self.tried: list[int] = []  # first tries, in order
        self.settled_before: dict[int, set[int]] = {}  # delivery id -> deliveries settled when first tried
        self.settled: set[int] = set()
        self.failed_once: set[int] = set()

    async def _deliver(self, delivery: PendingDelivery) -> None:
        keys = {f"{event['source']}:{event['application_id']}" for event in delivery.events}
        for key in keys:
            assert key not in self.busy, f"{key}: {self.busy[key]} and {delivery.id} at once"
            self.busy[key] = delivery.id
        if delivery.id not in self.settled_before:
            self.tried.append(delivery.id)
            self.settled_before[delivery.id] = set(self.settled)
        try:
            await asyncio.sleep(self.rng.random() * 0.002)
            kind = self.plan.get(delivery.id)
            if kind == "permanent":
                raise RPCError("refused", RPCStatusCode.INVALID_ARGUMENT, b"")
            flaky_now = kind == "flaky" and delivery.id not in self.failed_once  # fails its first try only
            if kind == "always" or flaky_now:
                self.failed_once.add(delivery.id)
                raise RPCError("shard unavailable", RPCStatusCode.INTERNAL, b"")
            self.settled.add(delivery.id)
        except RPCError:
            if kind in ("permanent", "always"):
                self.settled.add(delivery.id)  # given up on at once, or soon (max_attempts 3)
            raise
        finally:
            for key in keys:
                del self.busy[key]


@pytest.mark.parametrize("seed", range(6))
async def test_each_application_in_order_whatever_fails_and_whatever_overflows(seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    rng = random.Random(seed)
    monkeypatch.setattr(intake.forwarder, "SWEEP_INTERVAL", 0.2)
    store_url = f"sqlite:///{tmp_path / 'intake.sqlite3'}"
    store = IntakeStore(store_url)
    apps = [f"app-{n}" for n in range(rng.randint(2, 10))]
    rows = []
    for n in range(rng.randint(100, 300)):
        if rng.random() < 0.1:
            chosen, key = rng.sample(apps, 2), None  # an /events batch for two applications
        else:
            chosen = [rng.choice(apps if rng.random() < 0.5 else apps[:2])]
            key = f"api:{chosen[0]}"
        events = [{"event_id": f"e{n}-{app}", "source": "api", "application_id": app} for app in chosen]
        rows.append(NewDelivery("api", uuid.uuid4().hex, "canonical", key, events, None, datetime.now(UTC)))
    plan = {}
    for delivery_id in range(1, len(rows) + 1):
        draw = rng.random()
        plan[delivery_id] = "permanent" if draw < 0.03 else "always" if draw < 0.06 else "flaky" if draw < 0.2 else None
    half = len(rows) // 2
    store.accept_many(rows[:half])

    f = _Planned(
        IntakeStore(store_url), None, "q", batch_size=rng.choice([3, 10, 50]), concurrency=rng.choice([1, 2, 8]), max_backoff=0.01,
        max_attempts=3, max_retry_delay=0.01, per_application=rng.choice([1, 2, 5]), plan=plan, rng=rng,
    )  # fmt: skip
    stop = asyncio.Event()
    running = asyncio.create_task(f.run(stop, poll_interval=0.02))
    try:
        rest = rows[half:]
        while rest:  # the rest accepted while it runs, in bursts
            size = rng.randint(1, 30)
            await asyncio.to_thread(store.accept_many, rest[:size])
            rest = rest[size:]
            if rng.random() < 0.7:
                f.wake()
            await asyncio.sleep(rng.random() * 0.03)
        await eventually(lambda: store.counts().get("pending", 0) == 0, timeout=60, what="every delivery settled")
    finally:
        stop.set()
        await running

    statuses = {row["id"]: row["status"] for row in store.deliveries(limit=10_000)}
    assert len(statuses) == len(rows)
    for delivery_id, status in statuses.items():
        assert status == ("failed" if plan[delivery_id] in ("permanent", "always") else "delivered"), delivery_id
    first_try = {delivery_id: position for position, delivery_id in enumerate(f.tried)}
    for app in apps:
        mine = [row_id for row_id, row in enumerate(rows, start=1) if any(e["application_id"] == app for e in row.events)]
        for earlier, later in zip(mine, mine[1:]):
            assert first_try[earlier] < first_try[later], f"{app}: {later} tried before {earlier}"
            assert earlier in f.settled_before[later], f"{app}: {later} tried before {earlier} was settled"
    store.close()
