"""Claims on the intake table (PostgreSQL, where several intake instances share it): a pending
row is taken by one forwarder at a time, an application's rows only by the forwarder that holds
all the earlier ones, and the rows of a forwarder that stopped renewing are taken over, in order,
once its lease has run out."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from store.intake_store import Claim, IntakeStore
from store.schema import deliveries


def _accept(store: IntakeStore, application: str | None, *event_apps: str) -> int:
    events = [{"event_id": f"e-{time.monotonic_ns()}", "source": "api", "application_id": app} for app in (event_apps or [application.split(":")[1]])]
    return store.accept(
        source="api",
        idempotency_key=f"k-{time.monotonic_ns()}",
        action="canonical",
        application_key=application,
        events=events,
        ignored_reason=None,
        received_at=datetime.now(UTC),
    ).delivery_id


@pytest.fixture
def store(postgres_schema_url: str):
    store = IntakeStore(postgres_schema_url)
    yield store
    store.close()


def test_an_applications_rows_are_taken_only_by_the_forwarder_holding_the_earlier_ones(store: IntakeStore):
    one, two = Claim("one", 30), Claim("two", 30)
    a1 = _accept(store, "api:A")
    b1 = _accept(store, "api:B")
    assert [row.id for row in store.pending(limit=1, claim=one)] == [a1]
    a2 = _accept(store, "api:A")
    # "two" may take B's row, never A's second: its first is "one"'s.
    assert [row.id for row in store.pending(claim=two)] == [b1]
    assert [row.id for row in store.pending(claim=one)] == [a1, a2]
    # Nothing is taken twice, and the sweep's view leaves out the other's rows.
    assert [row.id for row in store.pending(claim=two)] == [b1]
    assert [row_id for row_id, _ in store.pending_keys(100, 0, 10**9, claim=two)] == [b1]
    assert store.renew(one) == {a1, a2} and store.renew(two) == {b1}


def test_a_batch_spanning_applications_waits_for_each_of_them(store: IntakeStore):
    one, two = Claim("one", 30), Claim("two", 30)
    a1 = _accept(store, "api:A")
    assert [row.id for row in store.pending(claim=one)] == [a1]
    batch = _accept(store, None, "A", "C")
    c1 = _accept(store, "api:C")
    # The batch goes to A (held by "one"): "two" takes neither it nor C's row behind it.
    assert store.pending(claim=two) == []
    assert [row.id for row in store.pending(claim=one)] == [a1, batch, c1]


def test_the_rows_of_a_forwarder_that_stopped_renewing_are_taken_over_in_order(store: IntakeStore):
    dead, alive = Claim("dead", 30), Claim("alive", 30)
    rows = [_accept(store, "api:A") for _ in range(3)]
    assert [row.id for row in store.pending(claim=dead)] == rows
    assert store.pending(claim=alive) == []
    store.settle([rows[0]], [])  # it delivered the first, then died
    with store.engine.begin() as connection:  # ... and its lease ran out
        connection.execute(update(deliveries).where(deliveries.c.claimed_by == "dead").values(lease_until=datetime(2026, 1, 1, tzinfo=UTC)))
    assert store.renew(dead) == set(), "an expired lease is not renewed: another may have taken the rows"
    assert [row.id for row in store.pending(claim=alive)] == rows[1:]
    assert store.renew(alive) == set(rows[1:])
    # A forwarder that stops gives its rows back: the next takes them at once.
    assert store.release(alive) == 2
    assert [row.id for row in store.pending(claim=dead)] == rows[1:]


def test_rows_retried_by_an_operator_are_free_to_take(store: IntakeStore):
    one, two = Claim("one", 30), Claim("two", 30)
    row = _accept(store, "api:A")
    assert [r.id for r in store.pending(claim=one)] == [row]
    store.settle([], [(row, "gave up")])
    assert store.retry(row, operator="op-1")
    assert [r.id for r in store.pending(claim=two)] == [row]


def test_on_sqlite_one_process_is_the_forwarder(tmp_path):
    store = IntakeStore(f"sqlite:///{tmp_path / 'intake.sqlite3'}")
    first, second = store.forwarder_lock(), store.forwarder_lock()
    assert first is not None and second is not None and not store.claims
    assert first.acquire() and not second.acquire()
    assert "pid" in second.holder()
    first.release()
    assert second.acquire()
    second.release()
    assert IntakeStore("sqlite://").forwarder_lock() is None
