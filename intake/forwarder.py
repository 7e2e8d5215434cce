"""The forwarder: delivers accepted webhook events to Temporal, then marks them delivered.

It reads the intake table in the order deliveries were accepted. Deliveries of one application
go one after the other (a process sees its events in the order the ATS sent them); different
applications go concurrently. While Temporal is unreachable nothing is marked, so everything
accepted is delivered once it is back; a delivery that was sent but not yet marked is sent again
after a crash, which the process ignores by event id.

It is a pipeline, not a loop of batches: up to `concurrency` deliveries are in flight at every
moment, a finished one makes room for the next at once (a batch would wait for its slowest
application), new rows are read as they are accepted, and the delivered marks of the deliveries
that finish together are written in one transaction. A delivery that fails blocks only its own
application's later deliveries, and is retried with a growing delay; when nothing gets through
at all (Temporal down) the whole forwarder backs off and reconnects.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.contract import TASK_QUEUE
from domain.events import CanonicalEvent
from metrics.intake import IntakeMetrics, NoMetrics
from intake.store_writer import StoreWriter
from process_client import deliver_event
from store.intake_store import IntakeStore, PendingDelivery

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


@dataclass(eq=False)
class _Item:
    """A pending delivery the forwarder holds: queued, in flight, or delivered but not yet marked."""

    delivery: PendingDelivery
    keys: tuple[str, ...]  # the applications it goes to (one, but an /events batch may span several)
    attempts: int = 0  # failed attempts in this process
    in_flight: bool = False
    not_before: float = 0.0  # monotonic time of its next try after a failure
    done: bool = False

    @property
    def id(self) -> int:
        return self.delivery.id


def _keys(delivery: PendingDelivery) -> tuple[str, ...]:
    if delivery.application_key is not None:
        return (delivery.application_key,)
    # An /events batch spanning applications waits for (and holds up) each of them.
    keys = {f"{event.get('source')}:{event.get('application_id')}" for event in delivery.events}
    return tuple(sorted(keys)) or ("*",)


@dataclass
class _Stats:
    delivered: int = 0
    failed: int = 0
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
    ) -> None:
        self._store = store
        self.writer = writer or StoreWriter(store)
        self._own_writer = writer is None
        self._connect = connect
        self._task_queue = task_queue
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._max_backoff = max_backoff
        self._client: Client | None = None
        self._wake = asyncio.Event()
        # Counts what is forwarded; the intake app sets its metrics here.
        self.observer: IntakeMetrics | NoMetrics = NoMetrics()
        self.stats = _Stats()

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
        """Deliver until `stop` is set; then finish the deliveries in flight and write their marks."""
        pipeline = _Pipeline(self, stop, poll_interval)
        try:
            await pipeline.run()
        finally:
            if self._own_writer:
                await asyncio.to_thread(self.writer.close)

    async def _deliver(self, delivery: PendingDelivery) -> None:
        try:
            client = await self.client()
        except Exception as error:
            raise TemporalUnreachable(f"{type(error).__name__}: {error}") from error
        for raw in delivery.events:
            outcome = await deliver_event(client, CanonicalEvent.model_validate(raw), self._task_queue)
            self.observer.forwarded(outcome.value)
            log.info("event forwarded", delivery_id=delivery.id, event_id=raw.get("event_id"), type=raw.get("type"), outcome=outcome.value)


class _Pipeline:
    """One run of the forwarder: its queues live as long as the run."""

    def __init__(self, forwarder: Forwarder, stop: asyncio.Event, poll_interval: float) -> None:
        self.f = forwarder
        self.stop = stop
        self.poll_interval = poll_interval
        self.items: dict[int, _Item] = {}  # every delivery held, by id
        self.queues: dict[str, deque[_Item]] = {}  # per application, in id order
        self.ready: deque[_Item] = deque()  # candidates to start (each is checked when taken)
        self.in_flight: set[asyncio.Task[None]] = set()
        self.to_mark: list[_Item] = []
        self.marking: asyncio.Task[None] | None = None
        self.marked_while_reading: set[int] | None = None
        self.cursor = 0  # the highest id read so far
        self.more = False  # the last read filled its page: there is a backlog to read on
        self.room = asyncio.Event()  # marks were written: the held deliveries went down
        self.paused_until = 0.0  # Temporal unreachable: no delivery starts before (monotonic)
        self.probing = False  # ... and then one delivery goes first, to see whether it is back
        self.backoff = 0.1
        self.last_read = self.last_sweep = -SWEEP_INTERVAL
        self.retry_timer: asyncio.TimerHandle | None = None

    # --- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while not self.stop.is_set():
                taken = await self.read_new()
                self.dispatch()
                await self.wait(taken)
        finally:
            if self.retry_timer is not None:
                self.retry_timer.cancel()
            if self.in_flight:
                await asyncio.gather(*self.in_flight, return_exceptions=True)
            await self.flush_marks()

    @property
    def capacity(self) -> int:
        """How many deliveries to hold at most: a batch read ahead, besides those in flight."""
        return self.f._batch_size + self.f._concurrency

    async def wait(self, taken: int) -> None:
        """Until a delivery is accepted (or, when full, until there is room), or the poll is due.
        Deliveries finishing start the next ones themselves (`deliver`), without this loop."""
        if len(self.items) >= self.capacity or self.more:
            # Full, or a backlog to read on: until marks make room (each write of marks does).
            self.room.clear()
            await _sleep_or(self.stop, self.poll_interval, self.room)
        elif taken:
            # Busy: more rows are probably being committed; read them together in READ_DELAY.
            await _sleep_or(self.stop, READ_DELAY)
        else:
            await _sleep_or(self.stop, self.poll_interval, self.f._wake)

    async def read_new(self) -> int:
        """Read the rows accepted since the last read, and now and then every pending row, to
        find one committed out of id order (by another intake instance). Returns how many rows
        it took."""
        room = self.capacity - len(self.items)
        now = time.monotonic()
        # A backlog (the last read filled its page) is read on as soon as a few are done.
        backlog = self.more and room >= self.f._concurrency
        if room <= 0 or not (backlog or self.f._wake.is_set() or now - self.last_read >= self.poll_interval):
            return 0
        self.f._wake.clear()
        sweep = not self.items or now - self.last_sweep >= SWEEP_INTERVAL
        self.marked_while_reading = set()
        try:
            if sweep:
                rows = await asyncio.to_thread(self.f._store.pending, room + len(self.items))
            else:
                rows = await asyncio.to_thread(self.f._store.pending, room, self.cursor)
        except Exception as error:  # the store is down: read again at the next poll
            log.warning("forwarder cannot read the intake table yet", error=f"{type(error).__name__}: {error}")
            return 0
        finally:
            marked, self.marked_while_reading = self.marked_while_reading, None
        self.last_read = now
        self.more = len(rows) >= (room + len(self.items) if sweep else room)
        if sweep:
            self.last_sweep = now
        taken = 0
        for delivery in rows:
            self.cursor = max(self.cursor, delivery.id)
            # Held already, or delivered and marked while this read ran (it saw the row pending).
            if delivery.id in self.items or delivery.id in marked:
                continue
            self.add(_Item(delivery, _keys(delivery)))
            taken += 1
        return taken

    # --- order per application -----------------------------------------------------------------

    def add(self, item: _Item) -> None:
        self.items[item.id] = item
        for key in item.keys:
            self.queues.setdefault(key, deque()).append(item)
        self.ready.append(item)

    def at_head(self, item: _Item) -> bool:
        return all(self.queues[key][0] is item for key in item.keys)

    def dispatch(self) -> None:
        """Start every delivery that may go now (first of its application, its retry due), up
        to `concurrency` in flight."""
        now = time.monotonic()
        if self.stop.is_set() or now < self.paused_until:
            return
        not_due: list[_Item] = []
        limit = 1 if self.probing else self.f._concurrency
        while self.ready and len(self.in_flight) < limit:
            item = self.ready.popleft()
            if item.in_flight or item.done or not self.at_head(item):
                continue  # it comes back when the delivery before it is done
            if item.not_before > now:
                not_due.append(item)
                continue
            item.in_flight = True
            task = asyncio.create_task(self.deliver(item))
            self.in_flight.add(task)
        self.ready.extend(not_due)

    async def deliver(self, item: _Item) -> None:
        failure = None
        try:
            await self.f._deliver(item.delivery)
        except Exception as error:  # noqa: BLE001 - this application waits; the others go on
            failure = self.failed(item, error)
        else:
            self.succeeded(item)
        finally:
            # No await between the outcome and here: a retry that comes due finds it settled.
            item.in_flight = False
            self.in_flight.discard(asyncio.current_task())  # type: ignore[arg-type]
            self.dispatch()
        if failure is not None:
            try:
                await self.f.writer.call(self.f._store.record_failure, item.id, failure)
            except Exception as error:  # noqa: BLE001 - the store is down too: retried all the same
                log.warning("cannot record the failure", delivery_id=item.id, error=f"{type(error).__name__}: {error}")

    def succeeded(self, item: _Item) -> None:
        self.f.stats.delivered += 1
        self.backoff = 0.1
        self.probing = False
        item.done = True
        for key in item.keys:
            queue = self.queues[key]
            queue.popleft()
            if queue:
                self.ready.append(queue[0])
            else:
                del self.queues[key]
        self.to_mark.append(item)
        if self.marking is None or self.marking.done():
            self.marking = asyncio.create_task(self.flush_marks())

    def failed(self, item: _Item, error: Exception) -> str:
        """Schedule the delivery's next try; returns the reason, to be recorded."""
        self.f.stats.failed += 1
        self.f.observer.failed()
        reason = f"{type(error).__name__}: {error}"
        now = time.monotonic()
        if _unreachable(error):
            # Temporal is down (or restarted elsewhere): reconnect, and let every delivery wait
            # rather than hammer it. Not this delivery's fault: it is tried again as it is.
            self.f._client = None
            self.probing = True
            if now >= self.paused_until:
                log.warning("Temporal unreachable, deliveries wait", retry_in=self.backoff, error=reason)
                self.paused_until = now + self.backoff
                self.backoff = min(self.backoff * 2, self.f._max_backoff)
            item.not_before = self.paused_until
        else:
            item.attempts += 1
            item.not_before = now + min(0.1 * 2 ** (item.attempts - 1), self.f._max_backoff)
            log.warning("delivery failed, will retry", delivery_id=item.id, attempt=item.attempts, error=reason)
        self.ready.append(item)
        self.schedule_retry(item.not_before - now)
        return reason

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
        later = [item.not_before for item in self.ready if item.not_before > now and not item.done]
        if self.paused_until > now:
            later.append(self.paused_until)
        if later:
            self.schedule_retry(min(later) - now)

    # --- marks ---------------------------------------------------------------------------------

    async def flush_marks(self) -> None:
        """Mark delivered what has been delivered, in one transaction for all that finished
        meanwhile. Until marked, a delivery stays held here, so it is not sent a second time."""
        while self.to_mark:
            if not self.stop.is_set() and len(self.to_mark) < self.f._concurrency:
                await _sleep_or(self.stop, MARK_DELAY)
            group, self.to_mark = self.to_mark, []
            try:
                await self.f.writer.call(self.f._store.mark_delivered, [item.id for item in group])
            except Exception as error:  # noqa: BLE001 - keep them and try again
                log.warning("cannot mark deliveries delivered yet", deliveries=len(group), error=f"{type(error).__name__}: {error}")
                self.to_mark = group + self.to_mark
                if self.stop.is_set():
                    return  # sent again after a restart; the process ignores the copies by event id
                await _sleep_or(self.stop, self.f._max_backoff)
                continue
            self.f.stats.marks = [*self.f.stats.marks[-999:], len(group)]
            for item in group:
                self.items.pop(item.id, None)
                if self.marked_while_reading is not None:
                    self.marked_while_reading.add(item.id)
            self.room.set()


class TemporalUnreachable(Exception):
    """No client could be connected."""


_UNREACHABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED}


def _unreachable(error: Exception) -> bool:
    return isinstance(error, TemporalUnreachable) or (isinstance(error, RPCError) and error.status in _UNREACHABLE)


async def _sleep_or(stop: asyncio.Event, seconds: float, *wake: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), *(asyncio.ensure_future(event.wait()) for event in wake)]
    _, still = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for waiter in still:
        waiter.cancel()
