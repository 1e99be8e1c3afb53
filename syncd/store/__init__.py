"""syncd's database: SQLAlchemy Core schema, Alembic migrations, and the Store's write patterns."""

from __future__ import annotations

from syncd.store.db import Store, StoreError, database_url, open_store, truncate_values

__all__ = ["Store", "StoreError", "database_url", "open_store", "truncate_values"]
