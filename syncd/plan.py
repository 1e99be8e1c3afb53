"""`syncd plan`: run pull and decide against a transaction that is rolled back, and list the commands the
next cycle would push (including any still waiting in the outbox). Nothing is written anywhere."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from syncd import decide, streams
from syncd.context import Context
from syncd.store import schema as t
from syncd.store.db import Store


class DryRunStore(Store):
    """A store whose every transaction is part of one outer transaction that is rolled back: `syncd plan`
    runs the real pull and decide code and then forgets everything it wrote."""

    def __init__(self, store: Store) -> None:
        super().__init__(store.engine, store.clock)
        self._conn = store.engine.connect()
        self._outer = self._conn.begin()

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        yield self._conn

    def close(self) -> None:
        self._outer.rollback()
        self._conn.close()


def plan(ctx: Context, pull_first: bool = True) -> list[dict[str, Any]]:
    real, dry = ctx.store, DryRunStore(ctx.store)
    ctx.store = dry
    try:
        with dry.begin() as conn:
            done = dry.get_cursor(conn, "setup") or {}
        ctx.stage_order = tuple(done.get("stages") or decide.DEFAULT_STAGES)
        if pull_first:
            for stream in streams.REGISTRY:
                streams.run(ctx, stream)
        decide.score_and_decide(ctx)
        with dry.begin() as conn:
            rows = conn.execute(
                sa.select(t.outbox).where(t.outbox.c.state.in_(("pending", "attempted"))).order_by(t.outbox.c.id)
            ).all()
        return [{"kind": r.kind, "target": r.target, "key": r.key, "payload": r.payload} for r in rows]
    finally:
        dry.close()
        ctx.store = real
