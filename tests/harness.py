"""Running the real worker against a test server, and waiting for what it does."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from temporalio.testing import WorkflowEnvironment

from activities.channel_settings import ChannelSettings
from domain.policy import PolicyBook, TimingPolicy
from inbox.links import LinkSigner
from store.task_store import TaskStore
from worker import build_worker

T = TypeVar("T")

# Wall-clock deadlines make timing assertions exact; the business calendar has tests of its own
# (tests/unit) and one end-to-end test below.
CONTINUOUS = TimingPolicy(calendar="continuous")


@asynccontextmanager
async def running_engine(
    env: WorkflowEnvironment,
    store_url: str,
    task_queue: str,
    pool: ThreadPoolExecutor,
    policy: TimingPolicy | PolicyBook = CONTINUOUS,
    channels: ChannelSettings | None = None,
    links: LinkSigner | None = None,
) -> AsyncIterator[TaskStore]:
    store = TaskStore(store_url)
    book = policy if isinstance(policy, PolicyBook) else PolicyBook(default=policy)
    # No delivery channels unless a test asks for them, whatever the environment says.
    channels = channels or ChannelSettings()
    async with build_worker(env.client, store, book, task_queue, activity_executor=pool, channels=channels, links=links):
        yield store


async def eventually(check: Callable[[], Any | Awaitable[Any]], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll `check` (sync or async) until it returns something truthy without raising.

    The worker acts asynchronously after a signal or a skipped timer; this waits in real time
    (which does not move the time-skipping server's clock). Errors before the deadline (a
    process not started yet) are retried; the last one is raised at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            last_error = None
        except Exception as error:
            last_error = error
        if loop.time() > deadline:
            if last_error is not None:
                raise last_error
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
