"""Tags marketers segment on: every member ends with exactly one tag of each family syncd owns (segment:,
cadence:, stage:), the one syncd decided, however often the lead moved between values. Tagging does not
change a member's `last_changed`, so the member pull never tells syncd which tags it added; syncd must
remember them itself or an old family tag is never removed."""

from __future__ import annotations

import collections

from syncd_harness import Engine, tags_of

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
FAMILIES = ("segment:", "cadence:", "stage:")


def test_each_member_ends_with_exactly_the_one_tag_per_family_that_syncd_decided(tmp_path):
    with SandboxServer(SandboxConfig(contacts=300, seed=17, start_ms=START, rate_scale=20)) as sb:
        engine = Engine(sb, tmp_path)
        engine.cycle()
        moved = 0
        for _ in range(12):  # six simulated weeks of campaigns and engagement
            engine.advance(3.5)
            engine.cycle()
        engine.settle()
        engine.cycle()
        state = engine.state()
        with engine.ctx.store.begin() as conn:
            import sqlalchemy as sa

            from syncd.store import schema as t

            decided = {r.email: r for r in conn.execute(sa.select(t.scores))}
            moved = conn.execute(
                sa.select(sa.func.count())
                .select_from(t.outbox)
                .where(t.outbox.c.kind == "mailchimp.tags", t.outbox.c.key.like("%:2"))
            ).scalar_one()
    assert moved > 0, "the test needs members whose tags changed at least once"
    doubled, wrong = [], []
    for m in state["mailchimp"]["members"]:
        tags = tags_of(m)
        per_family = collections.Counter(
            next(f for f in FAMILIES if tg.startswith(f)) for tg in tags if tg.startswith(FAMILIES)
        )
        if any(n > 1 for n in per_family.values()):
            doubled.append((m["email_address"], sorted(tags)))
        row = decided.get(m["email_address"].lower())
        decided_tags = {f"segment:{row.segment}", f"cadence:{row.cadence}"} if row is not None else set()
        if per_family and not decided_tags <= tags:
            wrong.append((m["email_address"], sorted(tags), row.segment, row.cadence))
    assert doubled == [], f"{len(doubled)} members hold two tags of one family: {doubled[:5]}"
    assert wrong == [], wrong[:5]
