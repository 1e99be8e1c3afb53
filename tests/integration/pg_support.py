"""The local PostgreSQL server for tests: a fresh schema per test (selected through the connection's
search_path) that is dropped afterwards, so runs never see each other's tables. Without a reachable
server the test skips and says why."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

PG_URL = os.environ.get("SYNCD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def admin() -> psycopg.Connection:
    try:
        return psycopg.connect(PG_URL, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {str(exc).strip().splitlines()[0]}")


@contextlib.contextmanager
def schema_url() -> Iterator[str]:
    """A database URL whose tables live in a new schema, dropped on exit."""
    name = f"syncd_test_{uuid.uuid4().hex[:12]}"
    with admin() as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
        try:
            sep = "&" if "?" in PG_URL else "?"
            yield f"{PG_URL}{sep}options=-csearch_path%3D{name}"
        finally:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')
