"""Alembic migrations of the store, run by every component at start-up (`upgrade_store`).

The worker, the HTTP service and the CLI may start together against one database: the upgrade
holds a lock while it runs (a PostgreSQL advisory lock; a file lock beside a SQLite file), so two
of them never migrate at once, and the second finds the work done.

A database created before migrations existed (session 1: `metadata.create_all`) has the first
revision's tables but no version table: it is stamped at that revision, then upgraded.

Where schema changes are a step of their own (a Kubernetes Job running `postinterview db
upgrade` before the new version rolls out, DATABASE_AUTO_MIGRATE=false), the entry points turn
the automatic upgrade off (`set_automatic_upgrade(False)`): a component then only checks that the
schema is the one its code expects, and refuses to start otherwise (StoreNotMigrated), instead of
changing a shared database from whichever replica happens to start first.
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
# Whether constructing a store upgrades its schema (the default) or only checks it.
_automatic = True


class StoreNotMigrated(RuntimeError):
    """The database's schema is not the revision this code needs, and upgrading is not ours to do."""


def set_automatic_upgrade(enabled: bool) -> None:
    """Whether the stores of this process upgrade the schema when they open it (DATABASE_AUTO_MIGRATE)."""
    global _automatic
    _automatic = enabled


def head_revision() -> str:
    """The revision this code's schema is at."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations"
    return head


def store_revision(engine: Engine) -> str | None:
    """The revision the database is at; None when it has no version table (empty, or never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


def upgrade_store(engine: Engine, force: bool = False) -> None:
    """Bring the store's schema to the latest revision (idempotent, safe to call concurrently).
    With automatic upgrades off (and not `force`), only check that it is there: StoreNotMigrated
    says what to run when it is not."""
    identity = f"{engine.url!r}"
    with _guard:
        if identity in _upgraded:
            return
        if not _automatic and not force:
            current, head = store_revision(engine), head_revision()
            if current != head:
                raise StoreNotMigrated(
                    f"the store is at schema revision {current or 'none'}, this code needs {head}: "
                    "run `postinterview db upgrade` (DATABASE_AUTO_MIGRATE is off, so components do not upgrade it themselves)"
                )
            _upgraded.add(identity)
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
