"""The forwarder: delivers accepted webhook events to Temporal, then marks them delivered.

It reads the intake table in the order deliveries were accepted. Deliveries of one application
go one after the other (a process sees its events in the order the ATS sent them); different
applications go concurrently. While Temporal is unreachable nothing is marked, so everything
accepted is delivered once it is back; a delivery that was sent but not yet marked is sent again
after a crash, which the process ignores by event id.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable

import structlog
from temporalio.client import Client

from domain.contract import TASK_QUEUE
from domain.events import CanonicalEvent
from metrics.intake import IntakeMetrics, NoMetrics
from process_client import deliver_event
from store.intake_store import IntakeStore, PendingDelivery

log = structlog.get_logger()


class Forwarder:
    def __init__(
        self,
        store: IntakeStore,
        connect: Callable[[], Awaitable[Client]],
        task_queue: str = TASK_QUEUE,
        batch_size: int = 500,
        concurrency: int = 64,
        max_backoff: float = 5.0,
    ) -> None:
        self._store = store
        self._connect = connect
        self._task_queue = task_queue
        self._batch_size = batch_size
        self._slots = asyncio.Semaphore(concurrency)
        self._max_backoff = max_backoff
        self._client: Client | None = None
        self._wake = asyncio.Event()
        # Counts what is forwarded; the intake app sets its metrics here.
        self.observer: IntakeMetrics | NoMetrics = NoMetrics()

    def wake(self) -> None:
        """A delivery was accepted: don't wait for the next poll."""
        self._wake.set()

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def client(self) -> Client:
        if self._client is None:
            self._client = await self._connect()
        return self._client

    async def run(self, stop: asyncio.Event, poll_interval: float = 1.0) -> None:
        backoff = 0.1
        while not stop.is_set():
            try:
                delivered, failed = await self.drain_once()
            except Exception as error:  # the store or Temporal is down: retry, never give up
                log.warning("forwarder cannot deliver yet", error=f"{type(error).__name__}: {error}", retry_in=backoff)
                delivered, failed = 0, 1
            if failed and not delivered:
                # Nothing got through: reconnect on the next try (the server may have been
                # restarted elsewhere) and back off. One failing application alone does not
                # slow the others down.
                self._client = None
                await _sleep_or(stop, backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            backoff = 0.1
            if delivered == 0:
                self._wake.clear()
                await _sleep_or(stop, poll_interval, self._wake)

    async def drain_once(self) -> tuple[int, int]:
        """Deliver one batch; returns (deliveries delivered, deliveries that failed)."""
        pending = await asyncio.to_thread(self._store.pending, self._batch_size)
        if not pending:
            return 0, 0
        client = await self.client()
        by_application: dict[str, list[PendingDelivery]] = defaultdict(list)
        if any(delivery.application_key is None for delivery in pending):
            # A delivery that spans applications (an /events batch): keep this batch in one
            # ordered queue rather than guess which application waits for which.
            by_application["*"] = list(pending)
        else:
            for delivery in pending:
                by_application[delivery.application_key].append(delivery)  # type: ignore[index]
        results = await asyncio.gather(*(self._deliver_in_order(client, queue) for queue in by_application.values()))
        delivered = [delivery_id for ids, _ in results for delivery_id in ids]
        await asyncio.to_thread(self._store.mark_delivered, delivered)
        return len(delivered), sum(failed for _, failed in results)

    async def _deliver_in_order(self, client: Client, queue: list[PendingDelivery]) -> tuple[list[int], int]:
        delivered: list[int] = []
        async with self._slots:
            for delivery in queue:
                try:
                    for raw in delivery.events:
                        outcome = await deliver_event(client, CanonicalEvent.model_validate(raw), self._task_queue)
                        self.observer.forwarded(outcome.value)
                        log.info("event forwarded", delivery_id=delivery.id, event_id=raw.get("event_id"), type=raw.get("type"), outcome=outcome.value)
                except Exception as error:
                    # Stop this application's queue here: its later deliveries must wait for this one.
                    self.observer.failed()
                    await asyncio.to_thread(self._store.record_failure, delivery.id, f"{type(error).__name__}: {error}")
                    log.warning("delivery failed, will retry", delivery_id=delivery.id, error=f"{type(error).__name__}: {error}")
                    return delivered, 1
                delivered.append(delivery.id)
        return delivered, 0


async def _sleep_or(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    _, still = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for waiter in still:
        waiter.cancel()
