"""Alembic's entry point: migrations run on the connection `upgrade_store` hands over (online only;
the store never generates SQL scripts offline)."""

from __future__ import annotations

from alembic import context

from store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("store migrations run through store.migrations.upgrade_store (or `postinterview db upgrade`)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place: batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
