"""The forwarder: delivers accepted webhook events to Temporal, then marks them delivered.

It reads the intake table in the order deliveries were accepted. Deliveries of one application
go one after the other (a process sees its events in the order the ATS sent them); different
applications go concurrently. While Temporal is unreachable nothing is marked, so everything
accepted is delivered once it is back; a delivery that was sent but not yet marked is sent again
after a crash, which the process ignores by event id.

It is a pipeline, not a loop of batches: up to `concurrency` deliveries are in flight at every
moment, a finished one makes room for the next at once (a batch would wait for its slowest
application), new rows are read as they are accepted, and the delivered marks of the deliveries
that finish together are written in one transaction. When nothing gets through at all
(Temporal down, or refusing the forwarder's credentials) the whole forwarder backs off and
reconnects, for as long as it takes: that is not any delivery's fault, and counts for none.

Poison is isolated. A delivery that fails otherwise holds up only its own application: it is
retried with a growing delay, and its application's later deliveries wait in the table, not in
memory (the forwarder keeps the head alone), so a few hundred of them never stop it reading the
rows of other applications. It holds at most `per_application` deliveries of one application
anyway; the rest are read from the table as those are done (`IntakeStore.pending_of`). After
`max_attempts` failed attempts (INTAKE_MAX_ATTEMPTS), or at once on an error that no retry can
cure (a stored event that no longer validates, an INVALID_ARGUMENT from Temporal: a payload over
its size limit, a run past its signal limit), the delivery becomes `failed`, a dead letter: it
stays in the table with its error, counted in `postinterview_intake_failed`, until an operator
retries or skips it (`postinterview deliveries`).

Its application's later deliveries then go on: a dead letter never wedges a process (its events
have ids, and a process takes events in whatever order its ATS sends them), and a retried one
is delivered after them. Nothing accepted is lost: a dead letter is kept, and delivering one
twice is harmless. If an /events batch fails part-way, the events before the failure were
delivered; a retry sends them again, and the process ignores the copies.

Many instances, one table. On PostgreSQL every read takes the rows it returns as this
forwarder's own (`IntakeStore` claims: SELECT ... FOR UPDATE SKIP LOCKED, and only in each
application's order), for a lease it renews every third of the lease while it runs and gives back
when it stops. So each pending row is delivered by one instance at a time, and an application's
rows by the one that holds its earliest, in order. If its leases could have run out (the store
unreachable for two thirds of a lease) it starts no delivery until it has renewed them, letting
go of those another instance has taken meanwhile; an instance that dies has its rows taken over
by the others once its leases expire. On SQLite the table has one forwarder: a second one waits
as a standby (`IntakeStore.forwarder_lock`) and takes over when the first process ends. A
delivery sent twice all the same (signalled, then the mark lost with the instance) is one signal:
its request id is the event's (process_client.deliver_event).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from enum import Enum

import structlog
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.contract import TASK_QUEUE
from domain.errors import describe_validation_error
from domain.events import CanonicalEvent
from metrics.intake import IntakeMetrics, NoMetrics
from intake.store_writer import StoreWriter
from intake.tracing import forwarding
from privacy.erasure import ErasureRequest, erase, uses_data_keys, was_erased
from process_client import CandidateErased, Delivery, NoWorker, deliver_event, no_process_reason
from store.erasure_store import ErasureStore
from store.intake_store import Claim, IntakeStore, PendingDelivery

log = structlog.get_logger()

# How long the forwarder gathers newly accepted rows before reading them while it is busy: one
# read for the requests of 10 ms rather than one per request.
READ_DELAY = 0.01
# How long delivered marks gather before they are written: one transaction for the deliveries of
# 50 ms rather than one each (a mark only frees memory; a crash before it re-sends, harmlessly).
MARK_DELAY = 0.05
# Even with a wake-up for every accepted delivery, look again this often: a delivery committed
# by another intake instance, or out of id order, is found without one.
SWEEP_INTERVAL = 5.0
# Failed attempts after which a delivery is given up on (a dead letter), unless Temporal was
# unreachable: about three minutes of retries with the default delays (INTAKE_MAX_ATTEMPTS).
MAX_ATTEMPTS = 12
# The longest wait between two attempts of one delivery (they double from 0.1 s).
MAX_RETRY_DELAY = 60.0
# At most this many deliveries of one application are held in memory; the rest wait in the table.
PER_APPLICATION = 32
# How long a claim on pending rows lasts (PostgreSQL): how soon the others take over the rows of
# an instance that died (INTAKE_LEASE_SECONDS). Renewed every third of it.
LEASE_SECONDS = 30.0
# Delivered intake payloads are kept this many days, then purged (INTAKE_PAYLOAD_RETENTION_DAYS);
# the forwarder purges every RETENTION_INTERVAL (the first time a minute after it starts).
RETENTION_DAYS = 30
RETENTION_INTERVAL = 3600.0
RETENTION_FIRST = 60.0


@dataclass(eq=False)
class _Item:
    """A pending delivery the forwarder holds: queued, in flight, or settled but not yet marked."""

    delivery: PendingDelivery
    keys: tuple[str, ...]  # the applications it goes to (one, but an /events batch may span several)
    attempts: int = 0  # failed attempts that count (from the table: they survive a restart)
    waits_for_worker: int = 0  # tries that found no worker to answer (not counted): its backoff
    in_flight: bool = False
    not_before: float = 0.0  # monotonic time of its next try after a failure
    done: bool = False  # delivered, given up on, or settled elsewhere: out of its queues
    dropped: bool = False  # let go of, unstarted: it is read from the table again later

    @property
    def id(self) -> int:
        return self.delivery.id


def _keys(delivery: PendingDelivery) -> tuple[str, ...]:
    # An /events batch spanning applications waits for (and holds up) each of them.
    return delivery.keys


def instance_name() -> str:
    """Who claims rows: this host and process, and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Failure(Enum):
    """What a failed attempt says about the delivery."""

    UNREACHABLE = "unreachable"  # Temporal cannot be used at all: retried for ever, not counted
    NO_WORKER = "no_worker"  # Temporal is up, no worker answers (a reopening's query): retried for ever, not counted
    PERMANENT = "permanent"  # no retry can cure it: a dead letter at once
    TRANSIENT = "transient"  # retried, up to max_attempts


# Temporal down, overloaded, or refusing this forwarder's credentials: every delivery alike.
_UNREACHABLE = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.UNAUTHENTICATED,
    RPCStatusCode.PERMISSION_DENIED,
}
# This request, as it is, will never be taken: over a size limit, past the run's signal limit, ...
_PERMANENT = {RPCStatusCode.INVALID_ARGUMENT}


def classify(error: BaseException) -> Failure:
    if isinstance(error, NoWorker):
        return Failure.NO_WORKER
    if isinstance(error, TemporalUnreachable) or (isinstance(error, RPCError) and error.status in _UNREACHABLE):
        return Failure.UNREACHABLE
    if isinstance(error, RuntimeError) and str(error).startswith("Failed client connect"):
        return Failure.UNREACHABLE  # a lazy client's first call: how the SDK says it never connected
    if isinstance(error, ValidationError) or (isinstance(error, RPCError) and error.status in _PERMANENT):
        return Failure.PERMANENT
    return Failure.TRANSIENT


def _reason(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        # The problems, never the values (a stored event holds names and email addresses).
        return f"ValidationError: the stored event no longer validates: {describe_validation_error(error, 'event')}"
    if isinstance(error, RPCError):
        return f"RPCError {error.status.name if error.status else 'unknown'}: {error.message}"
    return f"{type(error).__name__}: {error}"


@dataclass
class _Stats:
    delivered: int = 0
    failed: int = 0  # failed attempts
    dead_lettered: int = 0
    marks: list[int] = field(default_factory=list)  # deliveries per mark transaction, the last ones


class Forwarder:
    def __init__(
        self,
        store: IntakeStore,
        connect: Callable[[], Awaitable[Client]],
        task_queue: str = TASK_QUEUE,
        batch_size: int = 500,
        concurrency: int = 64,
        max_backoff: float = 5.0,
        writer: StoreWriter | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        max_retry_delay: float = MAX_RETRY_DELAY,
        per_application: int = PER_APPLICATION,
        lease_seconds: float = LEASE_SECONDS,
        name: str | None = None,
        retention_days: int | None = RETENTION_DAYS,
    ) -> None:
        if max_attempts < 1 or per_application < 1:
            raise ValueError("max_attempts and per_application must be at least 1")
        self._store = store
        self.name = name or instance_name()
        # On PostgreSQL the rows it reads are its own for a lease; on SQLite it is the only reader.
        self.claim: Claim | None = Claim(self.name, lease_seconds) if store.claims else None
        self.writer = writer or StoreWriter(store)
        self._own_writer = writer is None
        self._connect = connect
        self._task_queue = task_queue
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._max_backoff = max_backoff
        self._max_attempts = max_attempts
        self._max_retry_delay = max_retry_delay
        self._per_application = per_application
        self._client: Client | None = None
        self._wake = asyncio.Event()
        # Counts what is forwarded; the intake app sets its metrics here.
        self.observer: IntakeMetrics | NoMetrics = NoMetrics()
        self.stats = _Stats()
        # None: payloads are kept (the purge is then `postinterview intake purge`'s alone).
        self.retention_days = retention_days
        self._erasures: ErasureStore | None = None

    def wake(self) -> None:
        """A delivery was accepted: read it without waiting for the next poll."""
        self._wake.set()

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def client(self) -> Client:
        if self._client is None:
            self._client = await self._connect()
        return self._client

    async def run(self, stop: asyncio.Event, poll_interval: float = 1.0) -> None:
        """Deliver until `stop` is set; then finish the deliveries in flight, write their marks
        and give back its claims."""
        lock = self._store.forwarder_lock()
        try:
            if lock is not None and not await _standby(lock, stop, poll_interval):
                return
            pipeline = _Pipeline(self, stop, poll_interval)
            retention = asyncio.create_task(self._keep_purging(stop)) if self.retention_days is not None else None
            try:
                await pipeline.run()
            finally:
                if retention is not None:
                    retention.cancel()
                    await asyncio.gather(retention, return_exceptions=True)
                if self.claim is not None:
                    try:
                        released = await asyncio.to_thread(self._store.release, self.claim)
                    except Exception as error:  # noqa: BLE001 - they expire with the lease instead
                        log.warning("cannot give back the claimed deliveries; they pass on when the lease ends", error=f"{type(error).__name__}: {error}")
                    else:
                        log.info("forwarder stopped, claimed deliveries given back", forwarder=self.name, released=released)
        finally:
            if lock is not None:
                lock.release()
            if self._own_writer:
                await asyncio.to_thread(self.writer.close)

    async def purge_now(self) -> int:
        """Drop the payloads of deliveries older than the retention period (privacy); how many."""
        if self.retention_days is None:
            return 0
        cutoff = datetime.now(UTC) - timedelta(days=self.retention_days)
        purged = await self.writer.call(self._store.purge_payloads, cutoff)
        if purged:
            log.info("intake payloads purged", deliveries=purged, retention_days=self.retention_days)
        return purged

    async def _keep_purging(self, stop: asyncio.Event) -> None:
        await _sleep_or(stop, RETENTION_FIRST)
        while not stop.is_set():
            try:
                while await self.purge_now() >= 5000:  # a backlog: the next batch at once
                    pass
            except Exception as error:  # noqa: BLE001 - tried again at the next interval
                log.warning("intake payload purge failed; tried again later", error=f"{type(error).__name__}: {error}")
            await _sleep_or(stop, RETENTION_INTERVAL)

    def _erasure_store(self) -> ErasureStore:
        if self._erasures is None:
            self._erasures = ErasureStore(self._store.engine)
        return self._erasures

    async def _was_erased(self, client: Client, event: CanonicalEvent) -> bool:
        """With data keys, deliver_event refuses an erased candidate itself (CandidateErased);
        without, the store's record of erased candidates does."""
        if uses_data_keys(client):
            return False
        return await was_erased(self._erasure_store(), event.source, event.candidate.id)

    async def _erase(self, client: Client, delivery: PendingDelivery, request: dict) -> None:
        """An erasure request the ATS sent (intake.adapters: Greenhouse's delete_candidate,
        candidate_anonymized): carried out, then the row keeps no trace of whom it was about."""
        report = await erase(
            client,
            self._erasure_store(),
            ErasureRequest(
                source=str(request["source"]),
                candidate_id=str(request["candidate_id"]),
                application_ids=tuple(str(a) for a in request.get("application_ids") or ()),
                requested_by=f"{request['source']} web hook",
                via=str(request.get("via") or request["source"]),
            ),
        )
        await self.writer.call(self._store.scrub, delivery.id)
        log.info("erasure request carried out", delivery_id=delivery.id, erasure_id=report.erasure_id)

    async def _deliver(self, delivery: PendingDelivery) -> None:
        try:
            client = await self.client()
        except Exception as error:
            raise TemporalUnreachable(f"{type(error).__name__}: {error}") from error
        reasons: list[str] = []
        with forwarding(delivery):  # continues the webhook request's trace (intake/tracing.py)
            for raw in delivery.events:
                if "erasure" in raw:
                    await self._erase(client, delivery, raw["erasure"])
                    continue
                event = CanonicalEvent.model_validate(raw)
                try:
                    if await self._was_erased(client, event):
                        raise CandidateErased("erased")
                    outcome = await deliver_event(client, event, self._task_queue)
                except CandidateErased:
                    # The candidate was erased: nothing more is kept or started for them. The intake
                    # noted the event's can_email as it stored it: that row would name them again.
                    await asyncio.to_thread(self._erasure_store().forget_contact_preference, event.source, event.candidate.id)
                    reasons.append(f"{event.type.value} for a candidate who was erased: not delivered")
                    log.info("event for an erased candidate not delivered", delivery_id=delivery.id, event_id=raw.get("event_id"))
                    continue
                self.observer.forwarded(outcome.value)
                log.info("event forwarded", delivery_id=delivery.id, event_id=raw.get("event_id"), type=raw.get("type"), outcome=outcome.value)
                if outcome is Delivery.NO_PROCESS:
                    reasons.append(no_process_reason(event))
        if any("erasure" in raw for raw in delivery.events):
            return
        if reasons and len(reasons) == len(delivery.events):
            # Nothing in it reached a process (a rejection of an applicant never interviewed): the
            # row says so, as an ignored delivery with the reason, rather than "delivered". The
            # delivered mark that follows changes only pending rows, so it leaves this one as it is.
            await self.writer.call(self._store.mark_ignored, delivery.id, "; ".join(dict.fromkeys(reasons)))


class _Pipeline:
    """One run of the forwarder: its queues live as long as the run.

    Per application key: `queues` holds its deliveries in memory, in order. A key in `frontier`
    overflows: some of its pending rows are in the table only, and every pending row of it with
    an id up to frontier[key] is held or settled (its refill reads on from there). A key in
    `blocked` has a head that failed and waits for its retry: nothing behind it is held.
    """

    def __init__(self, forwarder: Forwarder, stop: asyncio.Event, poll_interval: float) -> None:
        self.f = forwarder
        self.stop = stop
        self.poll_interval = poll_interval
        self.items: dict[int, _Item] = {}  # every delivery held, by id
        self.queues: dict[str, deque[_Item]] = {}  # per application, in id order
        self.frontier: dict[str, int] = {}  # applications with pending rows not held (see above)
        self.blocked: set[str] = set()  # applications whose head failed and waits for a retry
        self.stalled: set[str] = set()  # overflowing applications whose next row waits for another's
        self.refill: set[str] = set()  # applications to read on from the table
        self.ready: deque[_Item] = deque()  # candidates to start (each is checked when taken)
        self.in_flight: set[asyncio.Task[None]] = set()
        self.to_mark: list[tuple[_Item, str | None]] = []  # (settled, None: delivered; else why it failed)
        self.marking: asyncio.Task[None] | None = None
        self.marked_while_reading: set[int] | None = None
        self.cursor = 0  # the highest id read so far
        self.more = False  # the last read filled its page: there is a backlog to read on
        self.sweep_from: int | None = None  # a sweep under way: the id it reads on after
        self.sweep_to = 0  # ... and the last id it reads
        self.room = asyncio.Event()  # marks were written: the held deliveries went down
        self.paused_until = 0.0  # Temporal unreachable: no delivery starts before (monotonic)
        self.probing = False  # ... and then one delivery goes first, to see whether it is back
        self.backoff = 0.1
        self.last_read = self.last_sweep = -SWEEP_INTERVAL
        self.retry_timer: asyncio.TimerHandle | None = None
        self.claim = forwarder.claim
        # Claims: no delivery starts after this (monotonic) until the leases are renewed.
        self.leased_until = 0.0 if self.claim is not None else float("inf")
        self.renew_at = 0.0

    # --- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while not self.stop.is_set():
                await self.renew()
                taken = await self.read_new()
                self.dispatch()
                await self.wait(taken)
        finally:
            if self.retry_timer is not None:
                self.retry_timer.cancel()
            if self.in_flight:
                await asyncio.gather(*self.in_flight, return_exceptions=True)
            await self.flush_marks()

    async def renew(self) -> None:
        """Renew the leases on what this forwarder holds, every third of a lease; let go of what
        it no longer holds (its lease ran out while the store was unreachable, and another
        instance took it). Runs between reads, so a row read meanwhile is never taken for lost."""
        if self.claim is None or time.monotonic() < self.renew_at:
            return
        started = time.monotonic()
        try:
            held = await asyncio.to_thread(self.f._store.renew, self.claim)
        except Exception as error:  # noqa: BLE001 - deliveries stop when the leases may have run out
            log.warning("cannot renew the forwarder's claims yet", error=f"{type(error).__name__}: {error}")
            self.renew_at = time.monotonic() + 1.0
            return
        lease = self.claim.lease_seconds
        # A third of the lease as a margin for the clocks and the time the statement took.
        self.leased_until = started + lease * 2 / 3
        self.renew_at = started + lease / 3
        lost = [item for item in self.items.values() if item.id not in held and not (item.done or item.in_flight or item.dropped)]
        for item in lost:
            log.warning("claim lost: another forwarder delivers it", delivery_id=item.id)
            self.let_go(item)
        self.dispatch()

    @property
    def capacity(self) -> int:
        """How many deliveries to hold at most: a batch read ahead, besides those in flight."""
        return self.f._batch_size + self.f._concurrency

    @property
    def reading_on(self) -> bool:
        """More to read at once: a backlog past the last page, applications to refill, a sweep under way."""
        return self.more or bool(self.refill) or self.sweep_from is not None

    async def wait(self, taken: int) -> None:
        """Until a delivery is accepted (or, when full, until there is room), or the poll is due.
        Deliveries finishing start the next ones themselves (`deliver`), without this loop."""
        room = self.capacity - len(self.items)
        if room <= 0 or (self.reading_on and room < self.f._concurrency):
            # Full, or a backlog to read on: until marks make room (each write of marks does).
            self.room.clear()
            await _sleep_or(self.stop, self.poll_interval, self.room)
        elif self.reading_on:
            await asyncio.sleep(0)  # rows were passed over (their applications wait): read on now
        elif taken:
            # Busy: more rows are probably being committed; read them together in READ_DELAY.
            await _sleep_or(self.stop, READ_DELAY)
        else:
            await _sleep_or(self.stop, self.poll_interval, self.f._wake)

    async def read_new(self) -> int:
        """Read on: the applications to refill, the rows accepted since the last read, and a page
        of the sweep that now and then reads every pending row, to find one committed out of id
        order (by another intake instance) or retried by an operator. Returns how many rows it took."""
        room = self.capacity - len(self.items)
        now = time.monotonic()
        # A backlog is read on as soon as a few are done.
        backlog = self.reading_on and room >= self.f._concurrency
        if room <= 0 or not (backlog or self.f._wake.is_set() or now - self.last_read >= self.poll_interval):
            return 0
        self.f._wake.clear()
        if self.sweep_from is None and self.cursor and now - self.last_sweep >= SWEEP_INTERVAL:
            self.sweep_from, self.sweep_to = 0, self.cursor
        limit = self.f._per_application
        # As many applications as there is room for their rows; the others at the next read.
        candidates = [key for key in sorted(self.refill) if key in self.frontier]
        wanted = candidates[: max(1, room // limit)]
        refill = {key: self.frontier[key] for key in wanted}
        self.refill = set(candidates[len(wanted) :])
        page = self.f._batch_size
        self.marked_while_reading = set()
        try:
            claim = self.claim
            refilled = await asyncio.to_thread(self.f._store.pending_of, refill, limit, claim) if refill else {}
            rows = await asyncio.to_thread(self.f._store.pending, room, self.cursor, None, claim)
            swept: list[tuple[int, str | None]] = []
            full: dict[int, PendingDelivery] = {}
            if self.sweep_from is not None:
                # Ids and keys first: most of what a sweep finds is held, or waits behind a failing head.
                swept = await asyncio.to_thread(self.f._store.pending_keys, page, self.sweep_from, self.sweep_to, claim)
                wanted = [row_id for row_id, key in swept if row_id not in self.items and (key is None or self.may_hold(key, row_id))]
                if wanted:
                    full = {row.id: row for row in await asyncio.to_thread(self.f._store.pending_by_ids, wanted, claim)}
        except Exception as error:  # the store is down: read again at the next poll
            log.warning("forwarder cannot read the intake table yet", error=f"{type(error).__name__}: {error}")
            self.refill.update(refill)
            return 0
        finally:
            marked, self.marked_while_reading = self.marked_while_reading, None
        self.last_read = now
        held = len(self.items)
        for key, found in refilled.items():
            self.read_on(key, refill[key], found, limit, marked)
        self.more = len(rows) >= room
        for delivery in rows:
            self.cursor = max(self.cursor, delivery.id)
            # Held already, or settled and marked while this read ran (it saw the row pending).
            if delivery.id not in self.items and delivery.id not in marked:
                self.take(delivery)
        if self.sweep_from is not None:
            self.sweep(swept, full, page, marked, now)
        return len(self.items) - held

    def read_on(self, key: str, asked: int, found: list[PendingDelivery], limit: int, marked: set[int]) -> None:
        """Hold an overflowing application's next rows, as the table gave them, in order."""
        if self.frontier.get(key) != asked:
            self.maybe_refill(key)  # its frontier moved while the table was read: read again
            return
        for delivery in found:
            if key not in _keys(delivery) or delivery.id in self.items or delivery.id in marked:
                self.frontier[key] = max(self.frontier[key], delivery.id)  # another's, or held
                continue
            # The table has no pending row of it between the frontier and this one.
            self.frontier[key] = max(self.frontier[key], delivery.id - 1)
            if not self.take(delivery):
                # Its application cannot take it yet; every row of it before this one is held.
                self.frontier[key] = delivery.id - 1
                if len(self.queues.get(key, ())) < self.f._per_application and key not in self.blocked:
                    self.stalled.add(key)  # an /events batch waits for another application's rows
                return
        if len(found) < limit:
            del self.frontier[key]  # every pending row of it is held now
            self.stalled.discard(key)
        else:
            self.maybe_refill(key)

    def sweep(self, found: list[tuple[int, str | None]], full: dict[int, PendingDelivery], page: int, marked: set[int], now: float) -> None:
        for delivery_id, key in found:
            if len(self.items) >= self.capacity:
                return  # full: the sweep goes on from here at the next read
            self.sweep_from = delivery_id
            if delivery_id in self.items or delivery_id in marked:
                continue
            if delivery_id in full:
                self.take(full[delivery_id])
            elif key is not None:
                self.pass_over(key, delivery_id)  # it waits its turn: its application reads it on
        if len(found) < page:
            self.sweep_from = None
            self.last_sweep = now

    # --- order per application -----------------------------------------------------------------

    def may_hold(self, key: str, delivery_id: int) -> bool:
        """Whether a row of `key` can join its queue: nothing of it before that row waits in the
        table, its head is not failing, and the queue has room."""
        if key in self.blocked:
            return False
        if self.known(key) < delivery_id - 1:
            return False
        return len(self.queues.get(key, ())) < self.f._per_application

    def known(self, key: str) -> int:
        """Up to which id every pending row of `key` is held or settled: its frontier when it
        overflows, else as far as the reads of new rows got (a refill of another application may
        read further: an /events batch it finds there waits until this one's rows are read)."""
        return self.frontier.get(key, self.cursor)

    def take(self, delivery: PendingDelivery) -> bool:
        """Hold a pending row if each of its applications can; else leave it in the table, where
        its applications' refills find it. Whether it was held."""
        keys = _keys(delivery)
        if all(self.may_hold(key, delivery.id) for key in keys):
            item = _Item(delivery, keys, attempts=delivery.attempts)
            self.items[item.id] = item
            for key in keys:
                self.queues.setdefault(key, deque()).append(item)
                if key in self.frontier:
                    self.frontier[key] = max(self.frontier[key], item.id)
                    self.stalled.discard(key)
            self.ready.append(item)
            return True
        for key in keys:
            self.pass_over(key, delivery.id)
        return False

    def pass_over(self, key: str, delivery_id: int) -> None:
        """A pending row of `key` is left in the table: its application reads on from before it."""
        self.frontier[key] = min(self.known(key), delivery_id - 1)
        self.maybe_refill(key)

    def maybe_refill(self, key: str) -> None:
        """Read an overflowing application on from the table once its queue runs low."""
        if key in self.frontier and key not in self.blocked and key not in self.stalled:
            if len(self.queues.get(key, ())) * 4 <= self.f._per_application:
                self.refill.add(key)

    def at_head(self, item: _Item) -> bool:
        return all(self.queues[key][0] is item for key in item.keys)

    def dispatch(self) -> None:
        """Start every delivery that may go now (first of its application, its retry due), up
        to `concurrency` in flight."""
        now = time.monotonic()
        if self.stop.is_set() or now < self.paused_until or now >= self.leased_until:
            return  # (leases: `renew` dispatches again once they are renewed)
        not_due: list[_Item] = []
        limit = 1 if self.probing else self.f._concurrency
        while self.ready and len(self.in_flight) < limit:
            item = self.ready.popleft()
            if item.in_flight or item.done or item.dropped or not self.at_head(item):
                continue  # it comes back when the delivery before it is done
            if item.not_before > now:
                not_due.append(item)
                continue
            item.in_flight = True
            task = asyncio.create_task(self.deliver(item))
            self.in_flight.add(task)
        self.ready.extend(not_due)

    async def deliver(self, item: _Item) -> None:
        retry: tuple[str, bool] | None = None
        try:
            await self.f._deliver(item.delivery)
        except Exception as error:  # noqa: BLE001 - this application waits; the others go on
            retry = self.failed(item, error)
        else:
            self.f.stats.delivered += 1
            self.backoff = 0.1
            self.probing = False
            self.settle(item, None)
        finally:
            # No await between the outcome and here: a retry that comes due finds it settled.
            item.in_flight = False
            self.in_flight.discard(asyncio.current_task())  # type: ignore[arg-type]
            self.dispatch()
        if retry is not None:
            reason, counted = retry
            try:
                still_pending = await self.f.writer.call(self.f._store.record_failure, item.id, reason, counted)
            except Exception as error:  # noqa: BLE001 - the store is down too: retried all the same
                log.warning("cannot record the failure", delivery_id=item.id, error=f"{type(error).__name__}: {error}")
            else:
                if not still_pending:
                    self.let_go(item)

    def settle(self, item: _Item, failure: str | None) -> None:
        """Delivered (`failure` None) or given up on: out of its queues, the next ones may go,
        and its mark is written with the next group."""
        self.unqueue(item)
        self.to_mark.append((item, failure))
        if self.marking is None or self.marking.done():
            self.marking = asyncio.create_task(self.flush_marks())

    def unqueue(self, item: _Item) -> None:
        item.done = True
        for key in item.keys:
            self.blocked.discard(key)
            queue = self.queues[key]
            queue.popleft()
            if queue:
                self.ready.append(queue[0])
            else:
                del self.queues[key]
            self.maybe_refill(key)

    def let_go(self, item: _Item) -> None:
        """The delivery is no longer pending in the table (an operator skipped it, another intake
        instance delivered it): stop retrying it."""
        if item.in_flight or item.done or item.dropped:
            return
        log.info("delivery settled elsewhere, no longer retried", delivery_id=item.id)
        self.unqueue(item)
        self.items.pop(item.id, None)
        self.room.set()

    def failed(self, item: _Item, error: Exception) -> tuple[str, bool] | None:
        """Schedule the delivery's next try, or give up on it. Returns what to record of a
        failure to be retried: (reason, whether it counts towards max_attempts)."""
        self.f.stats.failed += 1
        self.f.observer.failed()
        reason = _reason(error)
        now = time.monotonic()
        kind = classify(error)
        if kind is Failure.UNREACHABLE:
            # Temporal is down (or restarted elsewhere): reconnect, and let every delivery wait
            # rather than hammer it. Not this delivery's fault: it is tried again as it is.
            self.f._client = None
            self.probing = True
            if now >= self.paused_until:
                log.warning("Temporal unreachable, deliveries wait", retry_in=self.backoff, error=reason)
                self.paused_until = now + self.backoff
                self.backoff = min(self.backoff * 2, self.f._max_backoff)
            item.not_before = self.paused_until
            self.ready.append(item)
            self.schedule_retry(item.not_before - now)
            return reason, False
        if kind is Failure.NO_WORKER:
            # Only this delivery needs a worker (the others go to Temporal alone): it waits for
            # one, its application's later deliveries behind it, never a dead letter for it; the
            # wait between tries doubles up to the longest retry delay.
            item.waits_for_worker += 1
            item.not_before = now + min(1.0 * 2 ** (item.waits_for_worker - 1), self.f._max_retry_delay)
            log.warning("delivery waits for a worker", delivery_id=item.id, error=reason)
            self.hold_back(item)
            self.ready.append(item)
            self.schedule_retry(item.not_before - now)
            return reason, False
        item.attempts += 1
        if kind is Failure.PERMANENT or item.attempts >= self.f._max_attempts:
            # A dead letter: kept in the table as failed; its application's later deliveries go on.
            why = "cannot be delivered as it is" if kind is Failure.PERMANENT else f"failed {item.attempts} times"
            log.error(f"delivery {why}: given up on until an operator retries it", delivery_id=item.id, attempts=item.attempts, error=reason)
            self.f.stats.dead_lettered += 1
            self.f.observer.dead_lettered(item.delivery.source)
            self.settle(item, reason)
            return None
        item.not_before = now + min(0.1 * 2 ** (item.attempts - 1), self.f._max_retry_delay)
        log.warning("delivery failed, will retry", delivery_id=item.id, attempt=item.attempts, error=reason)
        self.hold_back(item)
        self.ready.append(item)
        self.schedule_retry(item.not_before - now)
        return reason, True

    def hold_back(self, head: _Item) -> None:
        """The head of its applications failed: they are blocked until it is settled, and what
        is queued behind it goes back to the table, so that a stuck application holds one slot,
        never the room every other application's rows are read into."""
        dropped = 0
        behind: deque[_Item] = deque()
        for key in head.keys:
            self.blocked.add(key)
            behind.extend(list(self.queues[key])[1:])
        while behind:
            item = behind.popleft()
            if item.dropped:
                continue
            item.dropped = True
            dropped += 1
            del self.items[item.id]
            for key in item.keys:
                # Read again from before it, in each of its applications.
                self.frontier[key] = min(self.known(key), item.id - 1)
                queue = list(self.queues.get(key, ()))
                if any(other is item for other in queue):
                    # Its place and everything after it go (order), in each of their applications too.
                    at = next(index for index, other in enumerate(queue) if other is item)
                    behind.extend(queue[at + 1 :])
                    if at:
                        self.queues[key] = deque(queue[:at])
                    else:
                        del self.queues[key]
                self.maybe_refill(key)
        if dropped:
            log.info("deliveries wait in the table behind a failing one", delivery_id=head.id, waiting=dropped)

    def schedule_retry(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, delay) + 0.001
        if self.retry_timer is not None:
            if self.retry_timer.when() <= when:
                return
            self.retry_timer.cancel()
        self.retry_timer = loop.call_at(when, self.retry_due)

    def retry_due(self) -> None:
        self.retry_timer = None
        self.dispatch()
        # Other retries may be due later: wake up for the next one.
        now = time.monotonic()
        later = [item.not_before for item in self.ready if item.not_before > now and not item.done and not item.dropped]
        if self.paused_until > now:
            later.append(self.paused_until)
        if later:
            self.schedule_retry(min(later) - now)

    # --- marks ---------------------------------------------------------------------------------

    async def flush_marks(self) -> None:
        """Mark delivered what has been delivered and failed what was given up on, in one
        transaction for all that settled meanwhile. Until marked, a delivery stays held here,
        so it is not sent a second time."""
        while self.to_mark:
            if not self.stop.is_set() and len(self.to_mark) < self.f._concurrency:
                await _sleep_or(self.stop, MARK_DELAY)
            group, self.to_mark = self.to_mark, []
            delivered = [item.id for item, failure in group if failure is None]
            failed = [(item.id, failure) for item, failure in group if failure is not None]
            try:
                await self.f.writer.call(self.f._store.settle, delivered, failed)
            except Exception as error:  # noqa: BLE001 - keep them and try again
                log.warning("cannot mark deliveries yet", deliveries=len(group), error=f"{type(error).__name__}: {error}")
                self.to_mark = group + self.to_mark
                if self.stop.is_set():
                    return  # sent again after a restart; the process ignores the copies by event id
                await _sleep_or(self.stop, self.f._max_backoff)
                continue
            self.f.stats.marks = [*self.f.stats.marks[-999:], len(group)]
            for item, _ in group:
                self.items.pop(item.id, None)
                if self.marked_while_reading is not None:
                    self.marked_while_reading.add(item.id)
            self.room.set()


class TemporalUnreachable(Exception):
    """No client could be connected."""


async def _standby(lock, stop: asyncio.Event, poll_interval: float) -> bool:  # type: ignore[no-untyped-def]
    """Wait until this process holds the SQLite table's forwarder lock (whether it does: False
    when `stop` came first), saying once that it waits and why."""
    said = False
    while not lock.acquire():
        if not said:
            log.warning(
                "another forwarder delivers from this SQLite intake table; this one waits as a standby and takes over "
                "when that process ends (SQLite has one forwarder: run several intake instances on PostgreSQL)",
                lock_file=str(lock.path),
                holder=lock.holder(),
            )
            said = True
        if stop.is_set():
            return False
        await _sleep_or(stop, poll_interval)
    if said:
        log.info("this forwarder takes over the SQLite intake table", lock_file=str(lock.path))
    return True


async def _sleep_or(stop: asyncio.Event, seconds: float, *wake: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), *(asyncio.ensure_future(event.wait()) for event in wake)]
    _, still = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for waiter in still:
        waiter.cancel()
