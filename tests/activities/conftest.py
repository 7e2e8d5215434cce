"""Fixtures for the activity tests: a fresh task store on every backend the engine runs on.

`store` is parametrized over SQLite (a file in tmp_path) and PostgreSQL (a schema of its own per
test, so parallel runs never see each other's rows). PostgreSQL is skipped, with the reason, when
none is reachable at TEST_POSTGRES_URL (default: the local trust-auth server).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import CreateSchema, DropSchema
from temporalio.testing import ActivityEnvironment

from activities.follow_through import FollowThroughActivities
from store.task_store import TaskStore

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
        engine = create_engine(url, connect_args={"connect_timeout": 3})
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
    admin = create_engine(postgres_url)
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
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TaskStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'postinterview.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    task_store = TaskStore(url)
    yield task_store
    task_store.close()


@pytest.fixture
def follow_through(store: TaskStore) -> FollowThroughActivities:
    return FollowThroughActivities(store)


@pytest.fixture
def activity_environment() -> ActivityEnvironment:
    return ActivityEnvironment()
