"""The intake table: webhook deliveries, stored before they are acknowledged.

The HTTP endpoints write here and answer 2xx only once the row is committed; the forwarder reads
the pending rows and delivers their events to Temporal. A delivery's (source, idempotency key)
is unique, so the same webhook delivered five times is stored, and acted on, once.

`accept_many` stores the deliveries that arrived together in one transaction (group commit: one
commit, one fsync, one lock for all of them); `intake.store_writer` gathers them.

Several intake instances share one table on PostgreSQL. Each forwarder reads with a `Claim`:
the rows it reads become its own for a lease (`claimed_by`, `lease_until`, PostgreSQL's clock),
taken with `SELECT ... FOR UPDATE SKIP LOCKED` so that two never take the same row, and only in
each application's order: a row is taken only if every earlier pending row of its application
is this forwarder's already (or taken in the same statement). So one forwarder at a time holds an
application's pending rows, and delivers them in order. It renews its leases while it runs
(`renew`) and gives them back when it stops (`release`); when it dies they expire, and the
others take them over, in order, where it left off. On SQLite (one file, one host) the table has
one forwarder: `forwarder_lock` makes a second one wait as a standby until the first is gone.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from domain import names
from store.contact_preferences import can_email_flags, record_ats_can_email_in
from store.migrations import upgrade_store
from store.schema import deliveries
from store.task_store import create_store_engine

# A delivery's statuses (domain.names).
PENDING = names.INTAKE_PENDING
DELIVERED = names.INTAKE_DELIVERED
IGNORED = names.INTAKE_IGNORED
FAILED = names.INTAKE_FAILED
SKIPPED = names.INTAKE_SKIPPED
STATUSES = (PENDING, DELIVERED, IGNORED, FAILED, SKIPPED)
# What an operator may do to a delivery in each status (`postinterview deliveries`).
RETRYABLE = (FAILED, SKIPPED)
SKIPPABLE = (FAILED, PENDING)

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@dataclass(frozen=True)
class Accepted:
    delivery_id: int
    status: str
    duplicate: bool


@dataclass(frozen=True)
class NewDelivery:
    """A delivery the intake has verified and mapped, to be stored once."""

    source: str
    idempotency_key: str
    action: str
    application_key: str | None
    events: list[dict[str, Any]]
    ignored_reason: str | None
    received_at: datetime
    # The webhook request's trace context (W3C traceparent/tracestate), when tracing is on.
    trace_context: dict[str, str] | None = None


@dataclass(frozen=True)
class PendingDelivery:
    id: int
    source: str
    application_key: str | None
    events: list[dict[str, Any]]
    attempts: int
    trace_context: dict[str, str] | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """The applications it goes to: one, but an /events batch (no application_key) may span several."""
        if self.application_key is not None:
            return (self.application_key,)
        keys = {f"{event.get('source')}:{event.get('application_id')}" for event in self.events}
        return tuple(sorted(keys)) or ("*",)


@dataclass(frozen=True)
class Claim:
    """Who reads pending rows as its own (a forwarder instance), and for how long each time."""

    owner: str
    lease_seconds: float


class IntakeStore:
    def __init__(self, url: str) -> None:
        self.engine = create_store_engine(url)
        if self.engine.dialect.name not in _INSERTS:
            raise ValueError(f"the intake store runs on SQLite or PostgreSQL, not {self.engine.dialect.name}")
        upgrade_store(self.engine)
        self._insert_once = (
            _INSERTS[self.engine.dialect.name](deliveries)
            .on_conflict_do_nothing(index_elements=[deliveries.c.source, deliveries.c.idempotency_key])
            .returning(deliveries.c.id, deliveries.c.source, deliveries.c.idempotency_key)
        )

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
        new = NewDelivery(source, idempotency_key, action, application_key, events, ignored_reason, received_at)
        with self.engine.begin() as connection:
            return self._accept_in(connection, [new])[0]

    def accept_many(self, batch: Sequence[NewDelivery]) -> list[Accepted | Exception]:
        """Store the deliveries of `batch` in one transaction, in order; each one's outcome.

        If that transaction fails, each delivery is tried in a transaction of its own, so one
        that cannot be stored (its outcome is the exception) never costs the others theirs.
        Nothing is reported stored before its commit.
        """
        if not batch:
            return []
        try:
            with self.engine.begin() as connection:
                return list(self._accept_in(connection, batch))
        except Exception:
            if len(batch) == 1:
                raise
        outcomes: list[Accepted | Exception] = []
        for new in batch:
            try:
                with self.engine.begin() as connection:
                    outcomes.extend(self._accept_in(connection, [new]))
            except Exception as error:  # noqa: BLE001 - this delivery's own outcome
                outcomes.append(error)
        return outcomes

    def _accept_in(self, connection: Connection, batch: Sequence[NewDelivery]) -> list[Accepted]:
        rows = [
            {
                "source": new.source,
                "idempotency_key": new.idempotency_key,
                "action": new.action,
                "application_key": new.application_key,
                "events": new.events,
                "status": PENDING if new.events else IGNORED,
                "ignored_reason": new.ignored_reason,
                "received_at": new.received_at,
                "attempts": 0,
                "trace_context": new.trace_context,
            }
            for new in batch
        ]
        # One INSERT for the whole batch (several rows per statement); a row already there (a
        # re-delivery) is skipped, and RETURNING names the ones inserted.
        inserted = {(row.source, row.idempotency_key): row.id for row in connection.execute(self._insert_once, rows)}
        # What the ATS says about emailing each candidate, kept from the moment it is accepted: a
        # message already queued to a candidate who became `can_email: false` is not sent.
        record_ats_can_email_in(connection, can_email_flags(e for new in batch if (new.source, new.idempotency_key) in inserted for e in new.events))
        earlier = [(new.source, new.idempotency_key) for new in batch if (new.source, new.idempotency_key) not in inserted]
        stored: dict[tuple[str, str], tuple[int, str]] = {}
        if earlier:
            found = connection.execute(
                select(deliveries.c.id, deliveries.c.status, deliveries.c.source, deliveries.c.idempotency_key).where(
                    tuple_(deliveries.c.source, deliveries.c.idempotency_key).in_(earlier)
                )
            )
            stored = {(row.source, row.idempotency_key): (row.id, row.status) for row in found}
        outcomes: list[Accepted] = []
        for row in rows:
            key = (row["source"], row["idempotency_key"])
            if key in inserted:
                duplicate = key in stored  # a second copy in the same batch finds the first
                stored.setdefault(key, (inserted[key], row["status"]))
                outcomes.append(Accepted(delivery_id=inserted[key], status=stored[key][1], duplicate=duplicate))
            else:
                delivery_id, status = stored[key]
                outcomes.append(Accepted(delivery_id=delivery_id, status=status, duplicate=True))
        return outcomes

    @property
    def claims(self) -> bool:
        """Whether forwarders claim the rows they read (PostgreSQL: several instances may share
        the table); on SQLite one forwarder reads it (`forwarder_guard`)."""
        return self.engine.dialect.name == "postgresql"

    def pending(self, limit: int = 500, after_id: int = 0, up_to: int | None = None, claim: Claim | None = None) -> list[PendingDelivery]:
        """The oldest pending deliveries (with an id above `after_id`, and at most `up_to`), in
        the order they were accepted. With `claim` (PostgreSQL), only those it may take, taken."""
        query = self._pending_query(limit, after_id)
        if up_to is not None:
            query = query.where(deliveries.c.id <= up_to)
        if claim is not None and self.claims:
            with self.engine.begin() as connection:
                return self._claim(connection, claim, query)
        with self.engine.connect() as connection:
            return [PendingDelivery(**row) for row in connection.execute(query).mappings()]

    def pending_of(self, after: dict[str, int], limit: int, claim: Claim | None = None) -> dict[str, list[PendingDelivery]]:
        """For each application key, its oldest pending deliveries with an id above the one
        given, in the order accepted, with the /events batches that span applications (their
        key is NULL: the caller sees whose they are) among them. One connection for all. With
        `claim`, only those it may take, taken (of the batches, only those that include the key)."""
        found: dict[str, list[PendingDelivery]] = {}
        claiming = claim is not None and self.claims
        with self.engine.begin() if claiming else self.engine.connect() as connection:
            for key, after_id in after.items():
                query = self._pending_query(limit, after_id).where(
                    or_(deliveries.c.application_key == key, deliveries.c.application_key.is_(None))
                )
                if claiming:
                    assert claim is not None
                    found[key] = self._claim(connection, claim, query, wanted=lambda row, key=key: key in row.keys)
                else:
                    found[key] = [PendingDelivery(**row) for row in connection.execute(query).mappings()]
        return found

    def pending_keys(self, limit: int, after_id: int, up_to: int, claim: Claim | None = None) -> list[tuple[int, str | None]]:
        """(id, application key) of the oldest pending deliveries in (after_id, up_to], without
        their events: what a sweep looks over, most of it held already or waiting its turn.
        With `claim`, without the rows another forwarder holds (nothing is taken here)."""
        query = (
            select(deliveries.c.id, deliveries.c.application_key)
            .where(deliveries.c.status == PENDING, deliveries.c.id > after_id, deliveries.c.id <= up_to)
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        if claim is not None and self.claims:
            query = query.where(_claimable(claim))
        with self.engine.connect() as connection:
            return [(row.id, row.application_key) for row in connection.execute(query)]

    def pending_by_ids(self, ids: Sequence[int], claim: Claim | None = None) -> list[PendingDelivery]:
        """Those of `ids` that are still pending, in id order. With `claim`, those it may take, taken."""
        query = self._pending_query(len(ids), 0).where(deliveries.c.id.in_(list(ids)))
        if claim is not None and self.claims:
            with self.engine.begin() as connection:
                return self._claim(connection, claim, query)
        with self.engine.connect() as connection:
            return [PendingDelivery(**row) for row in connection.execute(query).mappings()]

    # --- claims (PostgreSQL) ---------------------------------------------------------------

    def _claim(
        self, connection: Connection, claim: Claim, query: Any, wanted: Callable[[PendingDelivery], bool] | None = None
    ) -> list[PendingDelivery]:
        """Take the rows of `query` that `claim` may take, in one transaction: lock those free to
        take (unclaimed, its own, or of an expired lease; SKIP LOCKED passes over the rows another
        forwarder is taking at this moment), keep those in their applications' order, and write
        the claim on them. The rest stay as they are."""
        locked = [
            PendingDelivery(**row)
            for row in connection.execute(query.where(_claimable(claim)).with_for_update(skip_locked=True, of=deliveries)).mappings()
        ]
        candidates = [row for row in locked if wanted is None or wanted(row)]
        if not candidates:
            return []
        taken = self._in_order(connection, claim, candidates)
        if taken:
            connection.execute(
                update(deliveries)
                .where(deliveries.c.id.in_([row.id for row in taken]))
                .values(claimed_by=claim.owner, lease_until=func.now() + timedelta(seconds=claim.lease_seconds))
            )
        return taken

    @staticmethod
    def _in_order(connection: Connection, claim: Claim, candidates: list[PendingDelivery]) -> list[PendingDelivery]:
        """The candidates that no pending row of their applications comes before, other than
        the claim's own (live) rows and the candidates themselves: an application's rows are
        taken only by the forwarder that holds, or takes now, all the earlier ones."""
        ids = [row.id for row in candidates]
        top = max(ids)
        # Pending rows before the last candidate that are not the claim's: another's, unclaimed
        # (perhaps being taken by another right now: locked, so not among the candidates), or its
        # own of a lease that expired (another may be taking them over).
        others = and_(
            deliveries.c.status == PENDING,
            deliveries.c.id < top,
            deliveries.c.id.not_in(ids),
            or_(deliveries.c.claimed_by.is_(None), deliveries.c.claimed_by != claim.owner, deliveries.c.lease_until < func.now()),
        )
        keys = sorted({key for row in candidates for key in row.keys})
        first_other: dict[str, int] = {}
        for key, first in connection.execute(
            select(deliveries.c.application_key, func.min(deliveries.c.id))
            .where(others, deliveries.c.application_key.in_(keys))
            .group_by(deliveries.c.application_key)
        ):
            first_other[key] = first
        # /events batches spanning applications: whose they are is in their events.
        for row in connection.execute(
            select(deliveries.c.id, deliveries.c.source, deliveries.c.application_key, deliveries.c.events, deliveries.c.attempts).where(
                others, deliveries.c.application_key.is_(None)
            )
        ).mappings():
            for key in PendingDelivery(**row).keys:
                first_other[key] = min(first_other.get(key, row["id"]), row["id"])
        taken: list[PendingDelivery] = []
        for row in sorted(candidates, key=lambda row: row.id):
            if any(first_other.get(key, row.id) < row.id for key in row.keys):
                # Not now; and the rows behind it in its applications wait for it.
                for key in row.keys:
                    first_other[key] = min(first_other.get(key, row.id), row.id)
                continue
            taken.append(row)
        return taken

    def renew(self, claim: Claim) -> set[int]:
        """Extend the claim's live leases; the ids of the pending rows it still holds (a lease
        that expired meanwhile is not renewed: another may have taken the row)."""
        if not self.claims:
            return set()
        with self.engine.begin() as connection:
            rows = connection.execute(
                update(deliveries)
                .where(deliveries.c.claimed_by == claim.owner, deliveries.c.status == PENDING, deliveries.c.lease_until >= func.now())
                .values(lease_until=func.now() + timedelta(seconds=claim.lease_seconds))
                .returning(deliveries.c.id)
            )
            return {row.id for row in rows}

    def release(self, claim: Claim) -> int:
        """Give back the claim's pending rows (a forwarder that stops): others take them at once."""
        if not self.claims:
            return 0
        with self.engine.begin() as connection:
            return connection.execute(
                update(deliveries)
                .where(deliveries.c.claimed_by == claim.owner, deliveries.c.status == PENDING)
                .values(claimed_by=None, lease_until=None)
            ).rowcount

    def forwarder_lock(self) -> ForwarderLock | None:
        """On a SQLite file, the lock that makes one process its forwarder; None where none is
        needed (PostgreSQL: claims; SQLite in memory: one process)."""
        database = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if not database or database == ":memory:":
            return None
        return ForwarderLock(Path(f"{database}.forwarder.lock"))

    @staticmethod
    def _pending_query(limit: int, after_id: int):  # type: ignore[no-untyped-def]
        return (
            select(deliveries.c.id, deliveries.c.source, deliveries.c.application_key, deliveries.c.events, deliveries.c.attempts, deliveries.c.trace_context)
            .where(deliveries.c.status == PENDING, deliveries.c.id > after_id)
            .order_by(deliveries.c.id)
            .limit(limit)
        )

    def mark_delivered(self, ids: Iterable[int]) -> None:
        self.settle(ids, [])

    def settle(self, delivered: Iterable[int], failed: Sequence[tuple[int, str]]) -> None:
        """In one transaction: mark `delivered` delivered, and each (id, error) of `failed`
        failed (the forwarder gives up on it: a dead letter). Only rows still pending change (an
        operator may have skipped one meanwhile)."""
        delivered = list(delivered)
        if not delivered and not failed:
            return
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            if delivered:
                connection.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_(delivered), deliveries.c.status == PENDING)
                    .values(status=DELIVERED, delivered_at=now, attempts=deliveries.c.attempts + 1, last_error=None)
                )
            for delivery_id, error in failed:
                connection.execute(
                    update(deliveries)
                    .where(deliveries.c.id == delivery_id, deliveries.c.status == PENDING)
                    .values(status=FAILED, failed_at=now, attempts=deliveries.c.attempts + 1, last_error=error[:2000])
                )

    def mark_ignored(self, delivery_id: int, reason: str) -> bool:
        """A pending delivery the forwarder found nothing to do with (its events reached no
        process, and were not meant to start one): ignored, with the reason. False when it was
        no longer pending."""
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id, deliveries.c.status == PENDING)
                .values(status=IGNORED, ignored_reason=reason[:2000], attempts=deliveries.c.attempts + 1, last_error=None)
            ).rowcount
        return bool(changed)

    def record_failure(self, delivery_id: int, error: str, counted: bool = True) -> bool:
        """Record a failed attempt (`counted`: towards the forwarder's limit; Temporal being
        unreachable is not the delivery's fault). False when the delivery is no longer pending
        (skipped by an operator, delivered by another intake instance)."""
        values: dict[str, Any] = {"last_error": error[:2000]}
        if counted:
            values["attempts"] = deliveries.c.attempts + 1
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(deliveries).where(deliveries.c.id == delivery_id, deliveries.c.status == PENDING).values(**values)
            ).rowcount
        return bool(changed)

    # --- privacy: payloads kept no longer than needed ----------------------------------------

    def purge_payloads(self, older_than: datetime, limit: int = 5000) -> int:
        """Drop the payload (the mapped events, with the candidate's details, and the trace
        context) of deliveries done with (delivered, ignored, skipped) received before
        `older_than`, at most `limit` of them (the oldest first); how many. The row stays (source,
        idempotency key, action, application, status, times), so a re-delivery is still a
        duplicate and the history of the intake is still there. Pending and failed deliveries
        keep theirs: they are still to be delivered (or retried by an operator)."""
        done = (DELIVERED, IGNORED, SKIPPED)
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            ids = list(
                connection.execute(
                    select(deliveries.c.id)
                    .where(deliveries.c.status.in_(done), deliveries.c.received_at < older_than, deliveries.c.payload_purged_at.is_(None))
                    .order_by(deliveries.c.id)
                    .limit(limit)
                ).scalars()
            )
            if not ids:
                return 0
            connection.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(ids), deliveries.c.status.in_(done), deliveries.c.payload_purged_at.is_(None))
                .values(events=[], trace_context=None, payload_purged_at=now)
            )
        return len(ids)

    def scrub(self, delivery_id: int) -> None:
        """Drop one delivery's payload now (an erasure request's own row, once carried out)."""
        with self.engine.begin() as connection:
            connection.execute(
                update(deliveries).where(deliveries.c.id == delivery_id).values(events=[], trace_context=None, payload_purged_at=datetime.now(UTC))
            )

    # --- the operator's view (`postinterview deliveries`) -----------------------------------

    def deliveries(self, status: str | None = None, source: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Deliveries without their events, oldest first: all, or those in `status` (from `source`)."""
        columns = [column for column in deliveries.c if column.name != "events"]
        query = select(*columns).order_by(deliveries.c.id).limit(limit)
        if status is not None:
            query = query.where(deliveries.c.status == status)
        if source is not None:
            query = query.where(deliveries.c.source == source)
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    def delivery_by_id(self, delivery_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(deliveries).where(deliveries.c.id == delivery_id)).mappings().one_or_none()
        return dict(row) if row else None

    def retry(self, delivery_id: int, operator: str, note: str | None = None) -> bool:
        """A failed or skipped delivery back to pending, its attempts from zero; the forwarder
        finds it at its next sweep. False when there is no such delivery in those statuses."""
        return self._operate(delivery_id, RETRYABLE, operator, note, status=PENDING, attempts=0, failed_at=None, claimed_by=None, lease_until=None)

    def retry_failed(self, operator: str, source: str | None = None, note: str | None = None) -> list[int]:
        """Every failed delivery (from `source`) back to pending; their ids."""
        condition = deliveries.c.status == FAILED
        if source is not None:
            condition = condition & (deliveries.c.source == source)
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            ids = [row.id for row in connection.execute(select(deliveries.c.id).where(condition).order_by(deliveries.c.id))]
            if ids:
                connection.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_(ids), deliveries.c.status == FAILED)
                    .values(
                        status=PENDING, attempts=0, failed_at=None, claimed_by=None, lease_until=None, operator=operator, operator_at=now, operator_note=note
                    )
                )
        return ids

    def skip(self, delivery_id: int, operator: str, reason: str) -> bool:
        """Give up on a failed (or still pending) delivery for good, saying who and why; it stays
        in the table. False when there is no such delivery in those statuses."""
        return self._operate(delivery_id, SKIPPABLE, operator, reason, status=SKIPPED)

    def _operate(self, delivery_id: int, allowed: tuple[str, ...], operator: str, note: str | None, **values: Any) -> bool:
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id, deliveries.c.status.in_(allowed), deliveries.c.payload_purged_at.is_(None))
                .values(operator=operator, operator_at=datetime.now(UTC), operator_note=note, **values)
            ).rowcount
        return bool(changed)

    def failed_by_source(self) -> dict[str, int]:
        """How many deliveries the forwarder gave up on and nobody has retried or skipped, by source."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(deliveries.c.source, func.count()).where(deliveries.c.status == FAILED).group_by(deliveries.c.source)
            ).all()
        return {source: count for source, count in rows}

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


class ForwarderLock:
    """One forwarder per SQLite file: an exclusive lock on a file beside the database, which the
    OS releases when the process ends, however it ends (SIGKILL included). A second forwarder
    waits as a standby (intake.forwarder) and takes over when the first is gone."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: Any = None

    def acquire(self) -> bool:
        """Take it if free (never blocks); whether this process holds it."""
        if self._file is not None:
            return True
        file = open(self.path, "a+")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        file.seek(0)
        file.truncate()
        file.write(f"pid {os.getpid()} on {socket.gethostname()}")
        file.flush()
        self._file = file
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "another process"
        except OSError:
            return "another process"

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _claimable(claim: Claim) -> Any:
    """Rows `claim` may lock to take: unclaimed, its own, or held on a lease that has expired."""
    return or_(deliveries.c.claimed_by.is_(None), deliveries.c.claimed_by == claim.owner, deliveries.c.lease_until < func.now())
