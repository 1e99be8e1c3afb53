"""Store behaviour on SQLite. tests/integration/test_store_postgres.py runs these same tests on PostgreSQL
by providing its own `store_url` fixture."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text

from syncd.store import Store, StoreError, database_url, open_store, schema

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z: far past 2**31, so BIGINT is really needed


@pytest.fixture
def store_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'syncd.db'}"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url, clock=lambda: NOW)
    yield s
    s.close()


def _count(store: Store, table, where=None) -> int:
    query = select(func.count()).select_from(table)
    if where is not None:
        query = query.where(where)
    with store.begin() as conn:
        return conn.execute(query).scalar_one()


def _in_threads(n: int, fn: Callable[[int], object]) -> list[object]:
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:  # reported to the test through results
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_migrated_schema_matches_metadata(store: Store) -> None:
    with store.begin() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), schema.metadata)
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert diffs == []
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from syncd.store.db import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert version == ScriptDirectory.from_config(cfg).get_current_head() == "0005"


def test_open_is_idempotent_and_keeps_data(store_url: str, store: Store) -> None:
    with store.begin() as conn:
        store.set_cursor(conn, "hubspot_contacts", {"after": NOW})
    again = open_store(store_url)
    try:
        with again.begin() as conn:
            assert again.get_cursor(conn, "hubspot_contacts") == {"after": NOW}
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    finally:
        again.close()


def test_concurrent_opens_of_a_fresh_database_all_succeed(store_url: str) -> None:
    results = _in_threads(3, lambda _i: open_store(store_url))
    assert all(isinstance(r, Store) for r in results), results
    for r in results:
        r.close()


def test_upsert_inserts_then_updates_and_folds_duplicate_keys(store: Store) -> None:
    row = {"id": "7", "email": "a@x.io", "first_name": "Ann", "last_name": "Lee", "archived": False, "fetched_ms": NOW}
    with store.begin() as conn:
        assert store.upsert(conn, "owners", [row], ["id"]) == 1
        sent = store.upsert(
            conn,
            schema.owners,
            [{**row, "first_name": "Anna"}, {**row, "first_name": "Annie", "fetched_ms": NOW + 1}],
            ["id"],
        )
        got = conn.execute(select(schema.owners)).mappings().all()
    assert sent == 1
    assert [dict(g) for g in got] == [{**row, "first_name": "Annie", "fetched_ms": NOW + 1}]


def test_upsert_keeps_json_and_reserved_column_names(store: Store) -> None:
    values = {"hs_lead_status": "OPEN", "tags": ["segment:hot"], "n": 3}
    with store.begin() as conn:
        store.upsert(conn, "pushed_state", [{"target": "hubspot:1", "values": values, "updated_ms": NOW}], ["target"])
        got = conn.execute(select(schema.pushed_state.c["values"])).scalar_one()
    assert got == values


def test_insert_ignore_counts_only_new_rows(store: Store) -> None:
    def event(eid: str) -> dict:
        return {
            "source": "mailchimp",
            "event_id": eid,
            "email": "a@x.io",
            "kind": "open",
            "occurred_ms": NOW,
            "campaign_id": "c1",
            "url": None,
            "bounce_type": None,
            "detail": {},
            "created_ms": NOW,
        }

    with store.begin() as conn:
        assert store.insert_ignore(conn, "events", [event("e1"), event("e2")], ["source", "event_id"]) == 2
        assert store.insert_ignore(conn, "events", [event("e2"), event("e3"), event("e3")], ["source", "event_id"]) == 1
        assert store.insert_ignore(conn, "events", [], ["source", "event_id"]) == 0
    assert _count(store, schema.events) == 3


def test_cursor_moves_only_with_its_transaction(store: Store) -> None:
    with store.begin() as conn:
        assert store.get_cursor(conn, "mailchimp_members") is None
        store.set_cursor(conn, "mailchimp_members", {"last_changed": "2026-01-01T00:00:00+00:00", "offset": 3})
    with pytest.raises(RuntimeError), store.begin() as conn:
        store.set_cursor(conn, "mailchimp_members", {"last_changed": "later", "offset": 0})
        raise RuntimeError("the page failed to commit")
    with store.begin() as conn:
        assert store.get_cursor(conn, "mailchimp_members") == {"last_changed": "2026-01-01T00:00:00+00:00", "offset": 3}


def _commands(*keys: str, kind: str = "set_tags") -> list[dict]:
    return [{"key": k, "kind": kind, "target": f"mc:{k}", "payload": {"tags": [k]}} for k in keys]


def test_enqueue_is_idempotent_on_key(store: Store) -> None:
    with store.begin() as conn:
        assert store.enqueue(conn, _commands("k1", "k2")) == 2
        assert store.enqueue(conn, _commands("k2", "k3", "k3")) == 1
        first = store.claim(conn, 10)[0]
        store.mark(conn, first["id"], "done")
        # A command already done is still known: replaying the decision after a crash adds nothing.
        assert store.enqueue(conn, _commands("k1")) == 0
    assert _count(store, schema.outbox) == 3


def test_claim_returns_open_rows_in_id_order_with_limit_and_kinds(store: Store) -> None:
    with store.begin() as conn:
        store.enqueue(conn, _commands("a", "b") + _commands("c", kind="create_task") + _commands("d", "e"))
        rows = store.claim(conn, 10)
        store.mark(conn, rows[0]["id"], "done")
        store.mark(conn, rows[1]["id"], "failed", error="400 bad")
        store.mark(conn, rows[3]["id"], "attempted", error="timeout")
    with store.begin() as conn:
        assert [r["key"] for r in store.claim(conn, 10)] == ["c", "d", "e"]
        assert [r["key"] for r in store.claim(conn, 2)] == ["c", "d"]
        assert [r["key"] for r in store.claim(conn, 10, kinds=["create_task"])] == ["c"]
        assert store.claim(conn, 10, kinds=[]) == []
        row = store.claim(conn, 10)[0]
    assert row["payload"] == {"tags": ["c"]} and row["state"] == "pending" and row["target"] == "mc:c"


def test_mark_counts_attempts_and_keeps_error_and_result(store: Store) -> None:
    with store.begin() as conn:
        store.enqueue(conn, _commands("x"))
        oid = store.claim(conn, 1)[0]["id"]
        store.mark(conn, oid, "attempted", error="503 " + "e" * 5000)
        store.mark(conn, oid, "attempted", error="503 again")
        store.mark(conn, oid, "done", result={"id": "task-9"})
        row = conn.execute(select(schema.outbox).where(schema.outbox.c.id == oid)).mappings().one()
        with pytest.raises(ValueError):
            store.mark(conn, oid, "finished")
    assert row["attempts"] == 2
    assert row["state"] == "done" and row["result"] == {"id": "task-9"} and row["last_error"] is None


def test_many_rows_marked_at_once_as_one_by_one(store: Store) -> None:
    with store.begin() as conn:
        store.enqueue(conn, _commands("m1", "m2", "m3"))
        ids = [r["id"] for r in store.claim(conn, 10)]
        store.mark_attempted(conn, ids)
        store.mark_attempted(conn, ids[:1])
        store.mark_done_with_results(conn, [(ids[0], {"id": "note-1"}), (ids[1], {"id": "note-2"})])
        store.mark_done_with_results(conn, [])
        rows = conn.execute(select(schema.outbox).order_by(schema.outbox.c.id)).mappings().all()
    assert [(r["state"], r["attempts"], r["result"]) for r in rows] == [
        ("done", 2, {"id": "note-1"}),
        ("done", 1, {"id": "note-2"}),
        ("attempted", 1, None),
    ]


def test_claim_upto_leaves_later_rows(store: Store) -> None:
    with store.begin() as conn:
        store.enqueue(conn, _commands("u1", "u2"))
        upto = store.last_outbox_id(conn)
        store.enqueue(conn, _commands("u3"))
        assert [r["key"] for r in store.claim(conn, 10, upto=upto)] == ["u1", "u2"]
        assert [r["key"] for r in store.claim(conn, 10)] == ["u1", "u2", "u3"]


def test_mark_failed_truncates_the_error(store: Store) -> None:
    with store.begin() as conn:
        store.enqueue(conn, _commands("y"))
        oid = store.claim(conn, 1)[0]["id"]
        store.mark(conn, oid, "failed", error="x" * 10_000)
        row = conn.execute(select(schema.outbox).where(schema.outbox.c.id == oid)).mappings().one()
    assert row["attempts"] == 1 and len(row["last_error"]) == 2000


def test_quarantine_does_not_pile_up_and_truncates_payload(store: Store) -> None:
    payload = {"email": "bad@", "properties": {"notes": "n" * 70_000, "tags": ["ok", "t" * 5000]}}
    with store.begin() as conn:
        store.quarantine(conn, "hubspot", "1001", "invalid email", payload, run_id=1)
        store.quarantine(conn, "hubspot", "1001", "invalid email", payload, run_id=2)
        store.quarantine(conn, "hubspot", "1001", "bad date", {"x": 1}, run_id=2)
        rows = conn.execute(select(schema.quarantine).order_by(schema.quarantine.c.id)).mappings().all()
    assert [(r["reason"], r["run_id"]) for r in rows] == [("invalid email", 2), ("bad date", 2)]
    stored = rows[0]["payload"]
    assert stored["email"] == "bad@" and stored["properties"]["tags"][0] == "ok"
    assert len(stored["properties"]["notes"]) < 4200 and stored["properties"]["notes"].endswith("more chars]")
    assert len(stored["properties"]["tags"][1]) < 4200


def test_lease_acquire_renew_takeover_and_release(store: Store) -> None:
    assert store.acquire("push", "replica-a", ttl_s=30, now_ms=NOW)
    assert not store.acquire("push", "replica-b", ttl_s=30, now_ms=NOW + 10_000)
    assert store.acquire("push", "replica-a", ttl_s=30, now_ms=NOW + 20_000)  # renew: now until +50 s
    assert not store.acquire("push", "replica-b", ttl_s=30, now_ms=NOW + 40_000)
    assert store.acquire("push", "replica-b", ttl_s=30, now_ms=NOW + 50_000)  # expired: taken over
    assert not store.release("push", "replica-a")  # no longer a's to give up
    assert store.acquire("score", "replica-a", ttl_s=30, now_ms=NOW + 50_000)  # other jobs are independent
    assert store.release("push", "replica-b")
    assert store.acquire("push", "replica-a", ttl_s=30, now_ms=NOW + 51_000)


def test_lease_race_has_exactly_one_winner(store_url: str, store: Store) -> None:
    stores = [open_store(store_url) for _ in range(4)]
    try:
        results = _in_threads(4, lambda i: stores[i].acquire("pull", f"r{i}", ttl_s=60, now_ms=NOW))
    finally:
        for s in stores:
            s.close()
    assert sorted(bool(r) for r in results) == [False, False, False, True]
    assert all(r is None or (isinstance(r, str) and len(r) == 16) for r in results)  # the winner holds a token


def test_runs_start_and_finish(store: Store) -> None:
    first = store.start_run(NOW)
    second = store.start_run(NOW + 1)
    store.finish_run(first, NOW + 500, ok=True, summary={"pulled": 10, "pushed": 2})
    with store.begin() as conn:
        rows = conn.execute(select(schema.runs).order_by(schema.runs.c.id)).mappings().all()
    assert second > first
    assert dict(rows[0]) == {
        "id": first,
        "started_ms": NOW,
        "finished_ms": NOW + 500,
        "ok": True,
        "summary": {"pulled": 10, "pushed": 2},
    }
    assert rows[1]["finished_ms"] is None and rows[1]["ok"] is None


def test_database_url_points_postgres_at_psycopg() -> None:
    assert database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("sqlite:///./syncd.db") == "sqlite:///./syncd.db"


def test_unreachable_database_is_a_store_error_without_password() -> None:
    with pytest.raises(StoreError) as err:
        open_store("postgresql://syncd:hunter2@127.0.0.1:1/none?connect_timeout=2")
    assert "hunter2" not in str(err.value) and "127.0.0.1" in str(err.value)


def test_lease_tokens_fence_outbox_claims(store: Store) -> None:
    first = store.acquire("push", "replica-a", ttl_s=30, now_ms=NOW)
    assert first and store.acquire("push", "replica-a", ttl_s=30, now_ms=NOW + 10_000) == first  # renewed: same
    with store.begin() as conn:
        store.enqueue(conn, [{"key": f"k{i}", "kind": "hubspot.note", "target": "t", "payload": {}} for i in range(3)])
    store.clock = lambda: NOW + 20_000
    with store.begin() as conn:
        claimed = store.claim(conn, 2, fence=("push", "replica-a", first))
    assert [r["key"] for r in claimed] == ["k0", "k1"] and {r["claimed_by"] for r in claimed} == {"replica-a"}
    # replica-a stalls past its lease; replica-b takes the lease (a new token) and claims
    second = store.acquire("push", "replica-b", ttl_s=30, now_ms=NOW + 60_000)
    assert second and second != first
    store.clock = lambda: NOW + 61_000
    with store.begin() as conn:
        assert store.claim(conn, 5, fence=("push", "replica-a", first)) == []  # the stale pusher claims nothing
        taken = store.claim(conn, 5, fence=("push", "replica-b", second))
    assert [r["key"] for r in taken] == ["k0", "k1", "k2"] and {r["claim_token"] for r in taken} == {second}
