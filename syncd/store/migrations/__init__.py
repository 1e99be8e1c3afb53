"""Alembic migrations, run programmatically by syncd.store.db.open_store (no alembic.ini)."""
