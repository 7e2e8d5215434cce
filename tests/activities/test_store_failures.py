"""Store errors leave an activity without the data they were about, retried only when a retry
can help (issue 12, findings 3 and 6). Against real SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, String, Table, insert
from sqlalchemy.exc import SQLAlchemyError
from temporalio.exceptions import ApplicationError

from activities.store_failures import reports_store_failures
from domain.names import STORE_REFUSED, STORE_UNAVAILABLE
from store.task_store import create_store_engine

EMAIL = "ada@example.com"


def people(engine):  # type: ignore[no-untyped-def]
    table = Table("people", MetaData(), Column("email", String, unique=True))
    table.create(engine)
    return table


def test_a_constraint_violation_is_refused_for_good_without_the_value(database_url):
    engine = create_store_engine(database_url)
    table = people(engine)

    @reports_store_failures
    def add(email: str) -> None:
        with engine.begin() as connection:
            connection.execute(insert(table).values(email=email))

    add(EMAIL)
    with pytest.raises(ApplicationError) as raised:
        add(EMAIL)
    failure = raised.value
    assert failure.type == STORE_REFUSED and failure.non_retryable
    assert "IntegrityError" in failure.message
    # Nothing of the row: not its value (PostgreSQL's DETAIL quotes it), not the original error.
    assert EMAIL not in failure.message and failure.__cause__ is None and failure.__suppress_context__
    engine.dispose()


def test_a_nul_byte_on_postgresql_is_refused_for_good(postgres_schema_url):
    engine = create_store_engine(postgres_schema_url)
    table = people(engine)

    @reports_store_failures
    def add(email: str) -> None:
        with engine.begin() as connection:
            connection.execute(insert(table).values(email=email))

    with pytest.raises(ApplicationError) as raised:
        add("ada\x00@example.com")
    assert raised.value.type == STORE_REFUSED and raised.value.non_retryable
    assert "NUL" in raised.value.message and "ada" not in raised.value.message
    engine.dispose()


def test_a_database_that_is_down_is_retried():
    # Nothing listens on port 1: the connection is refused, as when the database is down.
    engine = create_store_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")

    @reports_store_failures
    def read() -> None:
        with engine.connect():
            pass

    with pytest.raises(ApplicationError) as raised:
        read()
    assert raised.value.type == STORE_UNAVAILABLE and not raised.value.non_retryable
    assert "OperationalError" in raised.value.message
    engine.dispose()


def test_engines_hide_their_parameters(database_url):
    engine = create_store_engine(database_url)
    table = people(engine)
    with engine.begin() as connection:
        connection.execute(insert(table).values(email=EMAIL))
    with pytest.raises(SQLAlchemyError) as raised, engine.begin() as connection:
        connection.execute(insert(table).values(email=EMAIL))
    assert "parameters hidden" in str(raised.value)
    engine.dispose()
