"""The store: an engine, migrations run at open, and the few write patterns the pipeline needs.

Methods take a connection from `with store.begin() as conn:` so the caller groups writes (records and
their cursor, a decision and its outbox commands) into one transaction. Leases and runs stand alone and
open their own short transactions. Everything goes in and out as plain dicts and scalars.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    Text,
    and_,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from syncd.store import schema

MIGRATIONS = Path(__file__).with_name("migrations")
QUARANTINE_VALUE_LIMIT = 4096  # characters kept per string in a quarantined payload
ERROR_LIMIT = 2000  # characters kept of an outbox error message
_MIGRATION_LOCK = 0x73796E6364  # "syncd": PostgreSQL advisory lock id serializing concurrent migrations


class StoreError(Exception):
    """The database cannot be opened or migrated."""


def database_url(url: str) -> str:
    """Return `url` with PostgreSQL pointed at psycopg 3 (postgresql:// -> postgresql+psycopg://)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def open_store(url: str, *, clock: Callable[[], int] | None = None, schema: str | None = None) -> Store:
    """Open the database at `url`, create or upgrade its schema, and return a Store.

    Idempotent, and safe when several processes open the same database at once (PostgreSQL: an
    advisory lock held for the migration; SQLite: the migration runs in a BEGIN IMMEDIATE transaction).
    `clock` returns epoch milliseconds for updated_ms/created_ms columns (default: the wall clock).
    `schema` (PostgreSQL): the tables live in that schema, created when missing (one per workspace).
    Raises StoreError when the database cannot be reached or migrated (the URL's password is hidden).
    """
    try:
        engine = _engine(database_url(url), schema)
    except Exception as exc:  # a malformed URL or an unknown driver
        raise StoreError(f"cannot open database {_safe_url(url)}: {_first_line(exc)}") from None
    try:
        _migrate(engine)
    except Exception as exc:
        engine.dispose()
        raise StoreError(f"cannot open database {_safe_url(url)}: {_first_line(exc)}") from None
    return Store(engine, clock or (lambda: int(time.time() * 1000)))


def _safe_url(url: str) -> str:
    """`url` as the admin wrote it, without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split(":", 1)[0] + "://..."


def _first_line(exc: BaseException) -> str:
    """The driver's own first line ("connection refused", "unable to open database file")."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()
    return f"{type(inner).__name__}: {text[0]}" if text else type(inner).__name__


def _engine(url: str, schema: str | None = None) -> Engine:
    if not url.startswith("sqlite"):
        if schema is None:
            return create_engine(url, pool_pre_ping=True)
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise ValueError(f"not a schema name: {schema!r}")
        engine = create_engine(url, pool_pre_ping=True)
        with engine.begin() as conn:  # the workspace's schema, before the first connection uses it
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        engine.dispose()
        # every connection of the workspace's engine works in its schema (tables, the migration table)
        engine = create_engine(url, pool_pre_ping=True)
        event.listen(engine, "connect", lambda dbapi, _rec: _search_path(dbapi, schema))
        return engine
    # The pool hands a connection to one thread at a time, so sqlite3's same-thread check only gets in
    # the way of a daemon whose jobs run on worker threads.
    engine = create_engine(url, connect_args={"check_same_thread": False})
    memory = make_url(url).database in (None, "", ":memory:")
    event.listen(engine, "connect", lambda dbapi, _rec: _sqlite_pragmas(dbapi, memory))
    # Every transaction takes the write lock up front: in WAL mode a deferred transaction that reads
    # and then writes fails at once with SQLITE_BUSY instead of waiting for busy_timeout.
    event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


def _search_path(dbapi_conn: Any, schema: str) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f'SET search_path TO "{schema}"')
    cur.close()
    dbapi_conn.commit()


def _sqlite_pragmas(dbapi_conn: Any, memory: bool) -> None:
    dbapi_conn.isolation_level = None  # let the "begin" listener emit BEGIN itself
    cur = dbapi_conn.cursor()
    # first, so that switching the journal mode below waits for a concurrent opener instead of failing
    # wait up to 60 s for another writer: HubSpot's and Mailchimp's streams, score and push commit side by side;
    # each transaction is a page's worth, but a loaded machine can stretch one past a few seconds
    cur.execute("PRAGMA busy_timeout=60000")
    if not memory:
        _enable_wal(cur)  # readers do not block the writer
        cur.execute("PRAGMA synchronous=NORMAL")  # durable enough with WAL, far fewer fsyncs
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _enable_wal(cur: Any, attempts: int = 100) -> None:
    """WAL is a property of the file, so only the first opener really switches it; that switch ignores
    busy_timeout and fails at once while another connection holds a lock, hence the short retry loop."""
    import sqlite3

    for attempt in range(attempts):
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.02)


def _migrate(engine: Engine) -> None:
    from alembic import command  # imported here: ~0.5 s that only a migration needs
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Released at commit; a second process waits here, then finds the schema at head.
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def truncate_values(value: Any, limit: int = QUARANTINE_VALUE_LIMIT) -> Any:
    """Return `value` with every string longer than `limit` cut, marking how much was dropped."""
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"...[{len(value) - limit} more chars]"
    if isinstance(value, Mapping):
        return {str(k): truncate_values(v, limit) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [truncate_values(v, limit) for v in value]
    return value


IN_CHUNK = 500  # values per IN (...): well under SQLite's 32,766 bound parameters


class Store:
    """Database access for syncd. Thread-safe: each transaction uses its own pooled connection."""

    def __init__(self, engine: Engine, clock: Callable[[], int]) -> None:
        self.engine = engine
        self.clock = clock

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """Yield a connection inside a transaction, committed on exit, rolled back on an exception."""
        with self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    def table(self, table: Table | str) -> Table:
        return table if isinstance(table, Table) else schema.metadata.tables[table]

    def _insert(self, table: Table) -> Any:
        module = postgresql if self.dialect == "postgresql" else sqlite
        return module.insert(table)

    def upsert(
        self, conn: Connection, table: Table | str, rows: Sequence[Mapping[str, Any]], key_cols: Sequence[str]
    ) -> int:
        """Insert `rows`, or update the columns they carry where `key_cols` already exist.

        All rows must carry the same columns; when several rows share a key the last one wins.
        Returns the number of distinct rows sent.
        """
        if not rows:
            return 0
        # PostgreSQL refuses to update one row twice in a statement, so duplicates are folded first; rows
        # go in key order, so two transactions writing overlapping rows lock them in the same order
        # (no deadlock between replicas).
        rows = sorted(
            {tuple(r[k] for k in key_cols): r for r in rows}.values(), key=lambda r: tuple(str(r[k]) for k in key_cols)
        )
        tbl = self.table(table)
        stmt = self._insert(tbl)
        changing = [c for c in rows[0] if c not in key_cols]
        if changing:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(key_cols), set_={c: stmt.excluded[c] for c in changing}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(key_cols))
        conn.execute(stmt, [dict(r) for r in rows])
        return len(rows)

    def insert_ignore(
        self, conn: Connection, table: Table | str, rows: Sequence[Mapping[str, Any]], key_cols: Sequence[str]
    ) -> int:
        """Insert the `rows` whose `key_cols` are not present yet; return how many were inserted."""
        return len(self.insert_new(conn, table, rows, key_cols))

    def insert_new(
        self, conn: Connection, table: Table | str, rows: Sequence[Mapping[str, Any]], key_cols: Sequence[str]
    ) -> list[Any]:
        """Insert the `rows` whose `key_cols` are not present yet; return the `key_cols` of those inserted."""
        if not rows:
            return []
        tbl = self.table(table)
        rows = sorted(rows, key=lambda r: tuple(str(r[k]) for k in key_cols))  # one lock order (see upsert)
        stmt = (
            self._insert(tbl)
            .on_conflict_do_nothing(index_elements=list(key_cols))
            .returning(*[tbl.c[k] for k in key_cols])
        )
        # RETURNING yields a row only for an actual insert, even when executed for many rows at once.
        return list(conn.execute(stmt, [dict(r) for r in rows]).all())

    def rows_in(
        self,
        conn: Connection,
        table: Table | str,
        column: str,
        values: Sequence[Any],
        columns: Sequence[Any] | None = None,
    ) -> list[Any]:
        """The rows of `table` whose `column` is one of `values` (all columns, or `columns`), queried in
        chunks of 500 to stay under SQLite's bound-parameter limit."""
        tbl = self.table(table)
        values = list(values)
        out: list[Any] = []
        for i in range(0, len(values), IN_CHUNK):
            query = select(*(columns or [tbl])).where(tbl.c[column].in_(values[i : i + IN_CHUNK]))
            out += conn.execute(query).all()
        return out

    def json_text(self, column: Any) -> Any:
        """`column` (a JSON column holding a string or null) read as plain text in SQL, so no JSON is decoded
        per row: SQLite's json_extract, PostgreSQL's #>> '{}'."""
        if self.dialect == "postgresql":
            return column.op("#>>", return_type=Text)(literal_column("'{}'")).label(column.name)
        return func.json_extract(column, "$", type_=Text).label(column.name)

    def events_of(self, conn: Connection, emails: Sequence[str]) -> list[Any]:
        """The stored events of `emails` as plain tuples (id, source, event_id, email, kind, occurred_ms,
        campaign_id, url, bounce_type, detail), each lead's ordered by (occurred_ms, id); 500 emails a query."""
        ev = schema.events
        cols = (ev.c.id, ev.c.source, ev.c.event_id, ev.c.email, ev.c.kind, ev.c.occurred_ms, ev.c.campaign_id)
        query = select(*cols, ev.c.url, ev.c.bounce_type, self.json_text(ev.c.detail))
        emails = list(emails)
        out: list[Any] = []
        for i in range(0, len(emails), IN_CHUNK):
            part = query.where(ev.c.email.in_(emails[i : i + IN_CHUNK])).order_by(ev.c.email, ev.c.occurred_ms, ev.c.id)
            out += conn.execute(part).all()
        return out

    def add_identities(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert identities ({email, hubspot_id, subscriber_hash, created_ms, updated_ms}); one that a
        concurrent pull created meanwhile (the same email) gets the ids it lacks instead of a unique
        violation: the contact pull and the member pull may meet the same new person at once."""
        if not rows:
            return
        ident = schema.identities
        stmt = self._insert(ident)
        stmt = stmt.on_conflict_do_update(
            index_elements=["email"],
            set_={
                "hubspot_id": func.coalesce(ident.c.hubspot_id, stmt.excluded.hubspot_id),
                "subscriber_hash": func.coalesce(ident.c.subscriber_hash, stmt.excluded.subscriber_hash),
                "updated_ms": stmt.excluded.updated_ms,
                "changes": ident.c.changes + 1,
            },
        )
        conn.execute(stmt, sorted((dict(r) for r in rows), key=lambda r: r["email"]))

    def get_cursor(self, conn: Connection, stream: str) -> Any:
        """Return the saved cursor value of `stream`, or None."""
        return conn.execute(select(schema.cursors.c.value).where(schema.cursors.c.stream == stream)).scalar()

    def set_cursor(self, conn: Connection, stream: str, value: Any) -> None:
        """Save `value` (JSON-able) as the cursor of `stream`, in the caller's transaction."""
        self.upsert(conn, schema.cursors, [{"stream": stream, "value": value, "updated_ms": self.clock()}], ["stream"])

    def enqueue(self, conn: Connection, commands: Sequence[Mapping[str, Any]]) -> int:
        """Add outbox commands (dicts with key, kind, target, payload); return how many were new.

        A command whose idempotency key is already in the outbox, in any state, is ignored.
        """
        now = self.clock()
        rows = [
            {
                "key": c["key"],
                "kind": c["kind"],
                "target": c["target"],
                "payload": c["payload"],
                "state": "pending",
                "attempts": 0,
                "created_ms": now,
                "updated_ms": now,
            }
            for c in commands
        ]
        return self.insert_ignore(conn, schema.outbox, rows, ["key"])

    def claim(
        self,
        conn: Connection,
        limit: int,
        kinds: Sequence[str] | None = None,
        fence: tuple[str, str, str] | None = None,
        upto: int | None = None,
    ) -> list[dict[str, Any]]:
        """Return up to `limit` pending or attempted outbox rows, oldest first (optionally of `kinds`, and
        with `upto` only rows whose id is at most that: what was enqueued before a drain began).

        With `fence` = (lease job, holder, token), the rows are claimed in one UPDATE that records the
        holder and the token, and only while that holder still holds that lease: a pusher that lost its
        lease claims nothing (and its later writes about the rows can be told apart). On PostgreSQL the
        rows stay locked until the caller's transaction ends (other replicas skip them).
        """
        ob = schema.outbox
        query = select(ob.c.id).where(ob.c.state.in_(("pending", "attempted"))).order_by(ob.c.id).limit(limit)
        if kinds is not None:
            query = query.where(ob.c.kind.in_(list(kinds)))
        if upto is not None:
            query = query.where(ob.c.id <= upto)
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        if fence is None:
            ids = [r[0] for r in conn.execute(query)]
            return [dict(r) for r in conn.execute(select(ob).where(ob.c.id.in_(ids)).order_by(ob.c.id)).mappings()]
        job, holder, token = fence
        ls = schema.leases
        held = (
            select(ls.c.job)
            .where(ls.c.job == job, ls.c.holder == holder, ls.c.token == token, ls.c.expires_ms > self.clock())
            .exists()
        )
        stmt = (
            update(ob)
            .where(ob.c.id.in_(query.scalar_subquery() if self.dialect != "postgresql" else query), held)
            .values(claimed_by=holder, claim_token=token)
            .returning(*ob.c)
        )
        return sorted((dict(r) for r in conn.execute(stmt).mappings()), key=lambda r: r["id"])

    def last_outbox_id(self, conn: Connection) -> int:
        """The highest outbox id so far (0 when empty): a drain bounded by it leaves what it enqueues itself
        to the next pass."""
        return int(conn.execute(select(func.max(schema.outbox.c.id))).scalar() or 0)

    def mark(self, conn: Connection, id: int, state: str, error: str | None = None, result: Any = None) -> None:
        """Set outbox row `id` to `state`; attempted and failed count one more attempt.

        Raises ValueError for an unknown state.
        """
        if state not in schema.OUTBOX_STATES:
            raise ValueError(f"unknown outbox state {state!r}")
        ob = schema.outbox
        values: dict[str, Any] = {
            "state": state,
            "updated_ms": self.clock(),
            "last_error": error[:ERROR_LIMIT] if error else None,
        }
        if result is not None:
            values["result"] = result
        if state in ("attempted", "failed"):
            values["attempts"] = ob.c.attempts + 1
        conn.execute(update(ob).where(ob.c.id == id).values(**values))

    def mark_done(self, conn: Connection, ids: Sequence[int]) -> None:
        """Set many outbox rows to done at once (no result recorded): one statement per 500 ids."""
        self._set_many(conn, ids, state="done")

    def mark_done_with_results(self, conn: Connection, results: Sequence[tuple[int, Any]]) -> None:
        """Set outbox rows to done, each with its result (`(id, result)` pairs): one executemany."""
        if not results:
            return
        ob = schema.outbox
        stmt = (
            update(ob)
            .where(ob.c.id == bindparam("oid"))
            .values(
                state="done", updated_ms=self.clock(), last_error=None, result=bindparam("res", type_=ob.c.result.type)
            )
        )
        conn.execute(stmt, [{"oid": i, "res": r} for i, r in results])

    def mark_attempted(self, conn: Connection, ids: Sequence[int]) -> None:
        """`mark(id, "attempted")` for many rows at once: one statement per 500 ids."""
        self._set_many(conn, ids, state="attempted", attempts=schema.outbox.c.attempts + 1)

    def _set_many(self, conn: Connection, ids: Sequence[int], **values: Any) -> None:
        ob = schema.outbox
        values.update(updated_ms=self.clock(), last_error=None)
        for i in range(0, len(ids), 500):
            conn.execute(update(ob).where(ob.c.id.in_(list(ids[i : i + 500]))).values(**values))

    def quarantine(
        self, conn: Connection, source: str, record_key: str, reason: str, payload: Any, run_id: int | None
    ) -> None:
        """Record a bad record once per (source, record_key, reason); long strings are truncated."""
        row = {
            "source": source,
            "record_key": record_key[:320],
            "reason": reason[:500],
            "payload": truncate_values(payload),
            "run_id": run_id,
            "created_ms": self.clock(),
        }
        # Seen again: keep the first created_ms, refresh what the record looks like now.
        q = schema.quarantine
        stmt = self._insert(q)
        stmt = stmt.on_conflict_do_update(
            index_elements=["source", "record_key", "reason"],
            set_={"payload": stmt.excluded.payload, "run_id": stmt.excluded.run_id},
        )
        conn.execute(stmt, row)

    def requeue_quarantined(self, record_id: int | None = None) -> int:
        """Queue again the failed outbox commands behind quarantine row `record_id` (None: every row) and
        drop those rows (a command that fails again is quarantined again). Rows a pull quarantined (a bad
        record read from a service) have no command behind them and stay until the record is fixed there.
        Returns how many commands went back to pending."""
        q, ob = schema.quarantine, schema.outbox
        with self.begin() as conn:
            query = select(q.c.id, q.c.record_key, q.c.reason)
            if record_id is not None:
                query = query.where(q.c.id == record_id)
            requeued = 0
            for row in conn.execute(query).all():
                failed = (ob.c.target == row.record_key) & (ob.c.state == "failed") & (ob.c.last_error == row.reason)
                n = conn.execute(
                    update(ob).where(failed).values(state="pending", attempts=0, updated_ms=self.clock())
                ).rowcount
                if n:
                    conn.execute(delete(q).where(q.c.id == row.id))
                    requeued += n
            return requeued

    def quarantined(self, record_id: int | None = None, limit: int | None = None) -> list[Any]:
        """Quarantine rows, oldest first (or the one row `record_id`)."""
        q = schema.quarantine
        query = select(q).order_by(q.c.id)
        if record_id is not None:
            query = query.where(q.c.id == record_id)
        if limit is not None:
            query = query.limit(limit)
        with self.begin() as conn:
            return list(conn.execute(query).all())

    def acquire(self, job: str, holder: str, ttl_s: float, now_ms: int) -> str | None:
        """Take or renew the lease on `job` for `holder` until now + ttl; return its token, or None when
        another holder has it. Taking a lease gives it a new token; renewing one's own keeps the token.

        Atomic in one statement: insert, or take over when the current lease expired, or renew our own.
        """
        ls = schema.leases
        fresh = secrets.token_hex(8)
        stmt = self._insert(ls).values(job=job, holder=holder, expires_ms=now_ms + int(ttl_s * 1000), token=fresh)
        stmt = stmt.on_conflict_do_update(
            index_elements=["job"],
            set_={
                "holder": stmt.excluded.holder,
                "expires_ms": stmt.excluded.expires_ms,
                # our own live lease keeps its token; a lapsed one (even ours) is taken anew
                "token": case(
                    (and_(ls.c.holder == holder, ls.c.expires_ms > now_ms), ls.c.token), else_=stmt.excluded.token
                ),
            },
            where=(ls.c.expires_ms <= now_ms) | (ls.c.holder == holder),
        ).returning(ls.c.token)
        with self.begin() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else str(row[0])

    def release(self, job: str, holder: str) -> bool:
        """Give up `holder`'s lease on `job`; return False when it held none (expired and taken)."""
        ls = schema.leases
        with self.begin() as conn:
            return conn.execute(delete(ls).where(ls.c.job == job, ls.c.holder == holder)).rowcount > 0

    def job_started(self, job: str, holder: str, now_ms: int) -> None:
        """Record that `holder` started a run of `job` (shared by replicas, for readiness and the page)."""
        jb = schema.jobs
        stmt = self._insert(jb).values(job=job, holder=holder, last_started_ms=now_ms, runs=1, failures_in_a_row=0)
        stmt = stmt.on_conflict_do_update(
            index_elements=["job"],
            set_={
                "holder": stmt.excluded.holder,
                "last_started_ms": stmt.excluded.last_started_ms,
                "runs": jb.c.runs + 1,
            },
        )
        with self.begin() as conn:
            conn.execute(stmt)

    def job_finished(self, job: str, holder: str, now_ms: int, error: str | None) -> None:
        """Record the end of `holder`'s run of `job`: a success, or the failure's one-line reason."""
        jb = schema.jobs
        values: dict[str, Any] = {
            "holder": holder,
            "last_finished_ms": now_ms,
            "last_error": error[:ERROR_LIMIT] if error else None,
        }
        if error is None:
            values.update(last_ok_ms=now_ms, failures_in_a_row=0)
        else:
            values["failures_in_a_row"] = jb.c.failures_in_a_row + 1
        with self.begin() as conn:
            conn.execute(update(jb).where(jb.c.job == job).values(**values))

    def job_statuses(self) -> dict[str, dict[str, Any]]:
        """Every job's shared status row, by job name."""
        with self.begin() as conn:
            return {r["job"]: dict(r) for r in conn.execute(select(schema.jobs)).mappings()}

    def heartbeat(self, holder: str, now_ms: int, started_ms: int) -> None:
        """Record that replica `holder` is alive (it spreads the workspaces with the others alive)."""
        rp = schema.replicas
        stmt = self._insert(rp).values(holder=holder, started_ms=started_ms, seen_ms=now_ms)
        stmt = stmt.on_conflict_do_update(index_elements=["holder"], set_={"seen_ms": stmt.excluded.seen_ms})
        with self.begin() as conn:
            conn.execute(stmt)

    def live_replicas(self, now_ms: int, within_ms: int) -> list[str]:
        """The replicas that beat within the last `within_ms`; replicas silent for an hour are forgotten."""
        rp = schema.replicas
        with self.begin() as conn:
            conn.execute(delete(rp).where(rp.c.seen_ms < now_ms - 3_600_000))
            return sorted(r[0] for r in conn.execute(select(rp.c.holder).where(rp.c.seen_ms >= now_ms - within_ms)))

    def forget_replica(self, holder: str) -> None:
        rp = schema.replicas
        with self.begin() as conn:
            conn.execute(delete(rp).where(rp.c.holder == holder))

    def record_job_run(
        self, job: str, holder: str, started_ms: int, finished_ms: int, error: str | None, figures: Mapping[str, Any]
    ) -> None:
        """One row of the run history (kept for the last 1,000 runs of each job)."""
        jr = schema.job_runs
        with self.begin() as conn:
            conn.execute(
                jr.insert().values(
                    job=job,
                    holder=holder,
                    started_ms=started_ms,
                    finished_ms=finished_ms,
                    ok=error is None,
                    error=error[:ERROR_LIMIT] if error else None,
                    figures=dict(figures),
                )
            )
            keep = select(jr.c.id).where(jr.c.job == job).order_by(jr.c.id.desc()).offset(1000).limit(1)
            cutoff = conn.execute(keep).scalar()
            if cutoff is not None:
                conn.execute(delete(jr).where(jr.c.job == job, jr.c.id <= cutoff))

    def record_segment_day(self, now_ms: int) -> None:
        """Store today's segment distribution (the day of `now_ms`, UTC) for the status page's trend."""
        from datetime import UTC, datetime

        sc = schema.scores
        with self.begin() as conn:
            counts = {
                str(seg): int(n) for seg, n in conn.execute(select(sc.c.segment, func.count()).group_by(sc.c.segment))
            }
            day = datetime.fromtimestamp(now_ms / 1000, tz=UTC).strftime("%Y-%m-%d")
            self.upsert(conn, schema.segment_days, [{"day": day, "counts": counts, "updated_ms": now_ms}], ["day"])

    def lease_holders(self) -> dict[str, tuple[str, int]]:
        """job -> (holder, expires_ms) for every lease row."""
        ls = schema.leases
        with self.begin() as conn:
            return {r.job: (r.holder, r.expires_ms) for r in conn.execute(select(ls))}

    def start_run(self, now_ms: int) -> int:
        """Record the start of a cycle; return its run id."""
        with self.begin() as conn:
            return int(
                conn.execute(schema.runs.insert().values(started_ms=now_ms).returning(schema.runs.c.id)).scalar_one()
            )

    def finish_run(self, run_id: int, now_ms: int, ok: bool, summary: Mapping[str, Any]) -> None:
        """Record the end of run `run_id`, whether it succeeded and its JSON-able summary."""
        rn = schema.runs
        with self.begin() as conn:
            conn.execute(update(rn).where(rn.c.id == run_id).values(finished_ms=now_ms, ok=ok, summary=dict(summary)))
