"""One writer for the intake table per process, with group commit.

Every request the intake acknowledges must be committed first. Committed one at a time from a
pool of threads, the requests of a busy second queue up behind each other's commit (an fsync
each), and on SQLite they fight for the database's single write lock: SQLite's busy handler
then sleeps up to 100 ms at a time, which is what the acknowledgement latency's tail was made of.
Here one thread does all of the intake's writes. The requests that arrive while a commit is
under way wait for the next one, which stores all of them in one transaction
(`IntakeStore.accept_many`): one commit for many requests, each answered only after the commit
that holds it. Under light load a batch is one request and nothing waits.

The forwarder's writes (delivered marks, failures) go through the same thread, so the intake
never contends with itself for the write lock. Reads go to other threads (SQLite in WAL mode and
PostgreSQL let them run beside the writer).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from store.intake_store import Accepted, IntakeStore, NewDelivery

T = TypeVar("T")

# Enough for a burst of requests; a larger batch would only delay the first one's answer.
MAX_BATCH = 256


class StoreWriter:
    """Writes to the intake table from one thread; `accept` is committed in groups.

    Bound to the event loop it is first used in (the service's).
    """

    def __init__(self, store: IntakeStore, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self._max_batch = max_batch
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-writer")
        self._waiting: list[tuple[NewDelivery, asyncio.Future[Accepted]]] = []
        self._committing = False
        self.batches: list[int] = []  # sizes of the last groups committed (diagnostics, bounded)

    async def accept(self, new: NewDelivery) -> Accepted:
        """Store `new` once; returns after the transaction that holds it has committed.
        Raises what storing it raised (the caller answers 5xx: nothing was acknowledged)."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Accepted] = loop.create_future()
        self._waiting.append((new, answer))
        if not self._committing:
            self._committing = True
            loop.create_task(self._commit_waiting())
        return await answer

    async def call(self, write: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run another write (`IntakeStore.mark_delivered`, ...) on the writer thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, functools.partial(write, *args, **kwargs))

    async def _commit_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        group: list[tuple[NewDelivery, asyncio.Future[Accepted]]] = []
        try:
            while self._waiting:
                group, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
                try:
                    outcomes: list[Accepted | Exception] = await loop.run_in_executor(
                        self._thread, self.store.accept_many, [new for new, _ in group]
                    )
                except Exception as error:  # noqa: BLE001 - every request of the group gets it
                    outcomes = [error] * len(group)
                self.batches = [*self.batches[-999:], len(group)]
                for (_, answer), outcome in zip(group, outcomes, strict=True):
                    if answer.done():  # the client went away; its delivery is stored all the same
                        continue
                    if isinstance(outcome, Exception):
                        answer.set_exception(outcome)
                    else:
                        answer.set_result(outcome)
        finally:
            self._committing = False
            for _, answer in [*group, *self._waiting]:  # only if cancelled mid-way (the loop is closing)
                if not answer.done():
                    answer.cancel()
            self._waiting = []

    def close(self) -> None:
        """Wait for the writes under way, then stop the thread."""
        self._thread.shutdown(wait=True)
