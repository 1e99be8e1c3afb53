"""Alembic environment: always handed an open connection (inside a transaction) by open_store."""

from __future__ import annotations

from alembic import context

from syncd.store.schema import metadata

connection = context.config.attributes["connection"]
# render_as_batch: SQLite cannot ALTER most things, so later migrations copy-and-move tables there.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
