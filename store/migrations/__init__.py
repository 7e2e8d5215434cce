"""Alembic migrations of the store, run by every component at start-up (`upgrade_store`).

The worker, the HTTP service and the CLI may start together against one database: the upgrade
holds a lock while it runs (a PostgreSQL advisory lock; a file lock beside a SQLite file), so two
of them never migrate at once, and the second finds the work done.

A database created before migrations existed (session 1: `metadata.create_all`) has the first
revision's tables but no version table: it is stamped at that revision, then upgraded.
"""

from __future__ import annotations

import fcntl
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, inspect, text

HERE = Path(__file__).parent
BASELINE = "0001"

# Per process: each engine's database is upgraded once, not at every store construction.
_upgraded: set[str] = set()
_guard = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


def upgrade_store(engine: Engine) -> None:
    """Bring the store's schema to the latest revision (idempotent, safe to call concurrently)."""
    identity = f"{engine.url!r}"
    with _guard:
        if identity in _upgraded:
            return
        with _exclusive(engine) as connection:
            config = alembic_config(connection)
            tables = set(inspect(connection).get_table_names())
            if "alembic_version" not in tables and "tasks" in tables:
                command.stamp(config, BASELINE)
            command.upgrade(config, "head")
            connection.commit()
        _upgraded.add(identity)


@contextmanager
def _exclusive(engine: Engine) -> Iterator[Connection]:
    if engine.dialect.name == "postgresql":
        key = zlib.crc32(b"post-interview-engine store migrations")
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            connection.commit()
            try:
                yield connection
            finally:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        with engine.connect() as connection:
            yield connection
        return
    with open(f"{database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
