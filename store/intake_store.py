"""The intake table: webhook deliveries, stored before they are acknowledged.

The HTTP endpoints write here and answer 2xx only once the row is committed; the forwarder reads
the pending rows and delivers their events to Temporal. A delivery's (source, idempotency key)
is unique, so the same webhook delivered five times is stored, and acted on, once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from store.migrations import upgrade_store
from store.schema import deliveries
from store.task_store import create_store_engine

PENDING = "pending"
DELIVERED = "delivered"
IGNORED = "ignored"

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@dataclass(frozen=True)
class Accepted:
    delivery_id: int
    status: str
    duplicate: bool


@dataclass(frozen=True)
class PendingDelivery:
    id: int
    source: str
    application_key: str | None
    events: list[dict[str, Any]]
    attempts: int


class IntakeStore:
    def __init__(self, url: str) -> None:
        self.engine = create_store_engine(url)
        if self.engine.dialect.name not in _INSERTS:
            raise ValueError(f"the intake store runs on SQLite or PostgreSQL, not {self.engine.dialect.name}")
        upgrade_store(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def accept(
        self,
        *,
        source: str,
        idempotency_key: str,
        action: str,
        application_key: str | None,
        events: list[dict[str, Any]],
        ignored_reason: str | None,
        received_at: datetime,
    ) -> Accepted:
        """Store a delivery once; a second copy (same source and key) finds the first."""
        status = PENDING if events else IGNORED
        insert = _INSERTS[self.engine.dialect.name](deliveries).values(
            source=source,
            idempotency_key=idempotency_key,
            action=action,
            application_key=application_key,
            events=events,
            status=status,
            ignored_reason=ignored_reason,
            received_at=received_at,
            attempts=0,
        )
        with self.engine.begin() as connection:
            # RETURNING, not rowcount: psycopg reports -1 rows for an INSERT ... ON CONFLICT DO
            # NOTHING whether or not it inserted, so a duplicate would pass for a new delivery.
            inserted = connection.execute(
                insert.on_conflict_do_nothing(index_elements=[deliveries.c.source, deliveries.c.idempotency_key]).returning(deliveries.c.id)
            ).first() is not None
            row = connection.execute(
                select(deliveries.c.id, deliveries.c.status).where(
                    deliveries.c.source == source, deliveries.c.idempotency_key == idempotency_key
                )
            ).one()
        return Accepted(delivery_id=row.id, status=row.status, duplicate=not inserted)

    def pending(self, limit: int = 500) -> list[PendingDelivery]:
        """The oldest pending deliveries, in the order they were accepted."""
        query = (
            select(deliveries.c.id, deliveries.c.source, deliveries.c.application_key, deliveries.c.events, deliveries.c.attempts)
            .where(deliveries.c.status == PENDING)
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [PendingDelivery(**row) for row in connection.execute(query).mappings()]

    def mark_delivered(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if not ids:
            return
        with self.engine.begin() as connection:
            connection.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(ids), deliveries.c.status == PENDING)
                .values(status=DELIVERED, delivered_at=datetime.now(UTC), attempts=deliveries.c.attempts + 1, last_error=None)
            )

    def record_failure(self, delivery_id: int, error: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(attempts=deliveries.c.attempts + 1, last_error=error[:2000])
            )

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status)).all()
        return {status: count for status, count in rows}

    def delivery(self, source: str, idempotency_key: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(deliveries).where(deliveries.c.source == source, deliveries.c.idempotency_key == idempotency_key)
            ).mappings().one_or_none()
        return dict(row) if row else None

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(select(1))

    def backlog(self) -> tuple[int, datetime | None]:
        """How many deliveries wait for the forwarder, and when the oldest of them was received."""
        with self.engine.connect() as connection:
            count, oldest = connection.execute(
                select(func.count(), func.min(deliveries.c.received_at)).where(deliveries.c.status == PENDING)
            ).one()
        if oldest is not None and oldest.tzinfo is None:  # SQLite gives back naive UTC
            oldest = oldest.replace(tzinfo=UTC)
        return count, oldest
