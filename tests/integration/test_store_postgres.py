"""The store tests of tests/unit/test_store.py, run again on the local PostgreSQL server.

Each test gets a fresh schema (selected through the connection's search_path) that is dropped after it,
so runs never see each other's tables. Without a reachable server the tests skip and say why.
"""
from __future__ import annotations

import importlib.util
import inspect
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

PG_URL = os.environ.get("SYNCD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

_spec = importlib.util.spec_from_file_location(
    "store_cases", Path(__file__).resolve().parent.parent / "unit" / "test_store.py")
_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_cases)

# Every database test of the SQLite module, collected here too (they differ only by `store_url`).
globals().update({name: fn for name, fn in vars(_cases).items() if name.startswith("test_")
                  and {"store", "store_url"} & set(inspect.signature(fn).parameters)})
store = _cases.store

pytestmark = pytest.mark.postgres


def _admin() -> psycopg.Connection:
    try:
        return psycopg.connect(PG_URL, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {str(exc).strip().splitlines()[0]}")


@pytest.fixture
def store_url() -> Iterator[str]:
    schema_name = f"syncd_test_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(f'CREATE SCHEMA "{schema_name}"')
        try:
            sep = "&" if "?" in PG_URL else "?"
            yield f"{PG_URL}{sep}options=-csearch_path%3D{schema_name}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema_name}" CASCADE')


def test_tables_live_in_the_test_schema_only(store_url: str, store) -> None:
    schema_name = store_url.rsplit("%3D", 1)[1]
    with _admin() as admin:
        tables = {r[0] for r in admin.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema_name,))}
    assert {"outbox", "leases", "events", "alembic_version"} <= tables
