"""The store's schema comes from its Alembic migrations, on SQLite and PostgreSQL alike.

The migrations must produce exactly the tables the code declares (store/schema.py): a column
added to one and not the other fails here, not in production. A database from before migrations
(session 1 created its tables with `create_all`) is stamped at the baseline and upgraded, its
rows kept.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic import command
from sqlalchemy import inspect, select, text

from store import migrations
from store.migrations import upgrade_store
from store.schema import metadata
from store.task_store import TaskStore, create_store_engine


def test_the_migrations_build_exactly_the_declared_schema(database_url: str) -> None:
    store = TaskStore(database_url)
    try:
        with store.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        store.close()
    assert differences == [], f"store/schema.py and the migrations disagree: {differences}"
    assert version == "0004_scale_out_intake_claims"


def test_a_database_from_before_migrations_is_stamped_and_upgraded_with_its_rows(database_url: str) -> None:
    engine = create_store_engine(database_url)
    # The baseline's tables, as `create_all` made them, and a task in them; no version table.
    with engine.connect() as connection:
        command.upgrade(migrations.alembic_config(connection), "0001")
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(
            text(
                "INSERT INTO tasks (key, process_id, kind, title, instructions, assignee_id, due_at, status, created_at) "
                "VALUES ('k1', 'p', 'book_debrief', 't', 'i', 'rec-1', '2026-11-26 00:00:00', 'open', '2026-11-26 00:00:00')"
            )
        )
        connection.commit()
        assert "alembic_version" not in inspect(connection).get_table_names()
    engine.dispose()

    migrations._upgraded.clear()
    store = TaskStore(database_url)
    try:
        task = store.task("k1")
        assert task is not None and task.assignee_id == "rec-1" and task.status == "open"
        with store.engine.connect() as connection:
            assert "task_events" in inspect(connection).get_table_names()
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0004_scale_out_intake_claims"
    finally:
        store.close()


def test_upgrading_twice_changes_nothing(database_url: str) -> None:
    engine = create_store_engine(database_url)
    try:
        upgrade_store(engine)
        migrations._upgraded.clear()
        upgrade_store(engine)
        with engine.connect() as connection:
            assert connection.execute(select(text("count(*)")).select_from(text("alembic_version"))).scalar_one() == 1
    finally:
        engine.dispose()
