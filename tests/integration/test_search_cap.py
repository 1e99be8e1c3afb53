"""HubSpot search answers at most 10,000 results per query: an incremental pass that meets the cap starts
a new query from the highest lastmodifieddate it committed, and no contact is skipped."""
from __future__ import annotations

import sqlalchemy as sa

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig
from syncd import pull
from syncd.app import build_context
from syncd.settings import load_settings
from syncd.store import schema as t


def test_incremental_pull_crosses_the_10000_result_cap(tmp_path):
    cfg = SandboxConfig(contacts=11_500, seed=4, rate_scale=50, start_ms=1_767_225_600_000)
    with SandboxServer(cfg) as sb:
        env = {**sb.env, "SYNCD_DATABASE_URL": f"sqlite:///{tmp_path}/cap.db", "SYNCD_LOG_LEVEL": "WARNING"}
        ctx = build_context(load_settings(env=env), clock=sb.world.clock.now_ms)
        pull.pull_owners(ctx)
        in_crm = len(sb.world.population.hubspot_indices)
        assert in_crm > 10_000
        # an incremental pass from the beginning of time: every contact matches the search
        with ctx.store.begin() as conn:
            ctx.store.set_cursor(conn, "hubspot_contacts", {"mode": "incremental", "since_ms": 0, "after": None,
                                                            "ids_at_since": [], "max_ms": 0, "ids_at_max": []})
        pulled = pull.pull_hubspot_contacts(ctx)
        stats = sb.world.stats.snapshot(sb.world.faults)
        with ctx.store.begin() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(t.hubspot_contacts)).scalar_one()
            quarantined = conn.execute(sa.select(sa.func.count()).select_from(t.quarantine)).scalar_one()
            cursor = ctx.store.get_cursor(conn, "hubspot_contacts")
    assert stored + quarantined == in_crm, "every contact arrived despite the cap"
    assert pulled >= in_crm
    assert stats["responses"].get("400", 0) == 0, "the cap was never hit as an error"
    # more than one query pass: after restarting, the search began again at `after` 0
    assert stats["requests"]["POST /crm/v3/objects/contacts/search"] > 10_000 // 200
    assert cursor["mode"] == "incremental" and cursor["after"] is None and cursor["since_ms"] > 0
