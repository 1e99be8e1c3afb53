"""The store tests of tests/unit/test_store.py, run again on the local PostgreSQL server.

Each test gets a fresh schema (selected through the connection's search_path) that is dropped after it,
so runs never see each other's tables. Without a reachable server the tests skip and say why.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_support import admin, schema_url

_spec = importlib.util.spec_from_file_location(
    "store_cases", Path(__file__).resolve().parent.parent / "unit" / "test_store.py"
)
_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_cases)

# Every database test of the SQLite module, collected here too (they differ only by `store_url`).
globals().update(
    {
        name: fn
        for name, fn in vars(_cases).items()
        if name.startswith("test_") and {"store", "store_url"} & set(inspect.signature(fn).parameters)
    }
)
store = _cases.store

pytestmark = pytest.mark.postgres


@pytest.fixture
def store_url() -> Iterator[str]:
    with schema_url() as url:
        yield url


def test_tables_live_in_the_test_schema_only(store_url: str, store) -> None:
    schema_name = store_url.rsplit("%3D", 1)[1]
    with admin() as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema_name,)
            )
        }
    assert {"outbox", "leases", "events", "alembic_version"} <= tables
