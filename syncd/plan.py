"""`syncd plan`: run pull and decide against a transaction that is rolled back, and list the commands the
next cycle would push (including any still waiting in the outbox). Nothing is written anywhere."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from syncd import decide, streams
from syncd.app import DryRunStore
from syncd.context import Context
from syncd.store import schema as t


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
            rows = conn.execute(sa.select(t.outbox).where(t.outbox.c.state.in_(("pending", "attempted")))
                                .order_by(t.outbox.c.id)).all()
        return [{"kind": r.kind, "target": r.target, "key": r.key, "payload": r.payload} for r in rows]
    finally:
        dry.close()
        ctx.store = real
