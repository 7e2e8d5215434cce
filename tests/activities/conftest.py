"""Fixtures for the activity tests: a fresh task store on every backend the engine runs on.

`store` is parametrized over SQLite and PostgreSQL (`database_url` in tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from temporalio.testing import ActivityEnvironment

from activities.follow_through import FollowThroughActivities
from store.task_store import TaskStore


@pytest.fixture
def store(database_url: str) -> Iterator[TaskStore]:
    task_store = TaskStore(database_url)
    yield task_store
    task_store.close()


@pytest.fixture
def follow_through(store: TaskStore) -> FollowThroughActivities:
    return FollowThroughActivities(store)


@pytest.fixture
def activity_environment() -> ActivityEnvironment:
    return ActivityEnvironment()
