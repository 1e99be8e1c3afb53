"""HubSpot search answers at most 10,000 results per query: an incremental pass that meets the cap starts
a new query from the highest lastmodifieddate it committed, and no contact is skipped."""

from __future__ import annotations

import sqlalchemy as sa

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig
from syncd import streams
from syncd.app import build_context
from syncd.settings import load_settings
from syncd.store import schema as t

CONTACTS = streams.REGISTRY.get("hubspot_contacts")


def _scaled(settings, scale: float):
    """syncd's own limiter at the sandbox's scaled limits (rate_scale in syncd.yaml)."""
    return settings.model_copy(update={"config": settings.config.model_copy(update={"rate_scale": scale})})


def test_incremental_pull_crosses_the_10000_result_cap(tmp_path):
    cfg = SandboxConfig(contacts=11_500, seed=4, rate_scale=50, start_ms=1_767_225_600_000)
    with SandboxServer(cfg) as sb:
        env = {**sb.env, "SYNCD_DATABASE_URL": f"sqlite:///{tmp_path}/cap.db", "SYNCD_LOG_LEVEL": "WARNING"}
        ctx = build_context(_scaled(load_settings(env=env), cfg.rate_scale), clock=sb.world.clock.now_ms)
        streams.run(ctx, streams.REGISTRY.get("hubspot_owners"))
        in_crm = len(sb.world.population.hubspot_indices)
        assert in_crm > 10_000
        # an incremental pass from the beginning of time: every contact matches the search
        with ctx.store.begin() as conn:
            ctx.store.set_cursor(
                conn,
                "hubspot_contacts",
                {
                    "mode": "incremental",
                    "since_ms": 0,
                    "after": None,
                    "ids_at_since": [],
                    "max_ms": 0,
                    "ids_at_max": [],
                },
            )
        pulled = streams.run(ctx, CONTACTS)
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


def test_more_than_10000_contacts_at_one_millisecond_are_all_pulled_and_the_stream_goes_on(tmp_path):
    """A bulk import or a workflow can stamp one lastmodifieddate on many contacts: moving the search's
    lower bound cannot get past 10,000 of them, so that millisecond is read by id; later changes follow."""
    cfg = SandboxConfig(contacts=11_800, seed=6, rate_scale=50, start_ms=1_767_225_600_000)
    with SandboxServer(cfg) as sb:
        env = {**sb.env, "SYNCD_DATABASE_URL": f"sqlite:///{tmp_path}/tie.db", "SYNCD_LOG_LEVEL": "WARNING"}
        ctx = build_context(_scaled(load_settings(env=env), cfg.rate_scale), clock=sb.world.clock.now_ms)
        contacts = sb.world.hubspot.contacts
        tied_ms = sb.world.clock.now_ms() - 3_600_000
        ids = [str(c["id"]) for c in sb.world.state()["hubspot"]["contacts"]]
        assert len(ids) > 10_200
        for rid in ids:  # one workflow touched every contact at once
            rec = contacts.materialize(rid)
            contacts._touch(rec, tied_ms)
            contacts._reindex(rec)
        with ctx.store.begin() as conn:
            ctx.store.set_cursor(
                conn,
                "hubspot_contacts",
                {
                    "mode": "incremental",
                    "since_ms": tied_ms - 1,
                    "after": None,
                    "ids_at_since": [],
                    "max_ms": tied_ms - 1,
                    "ids_at_max": [],
                },
            )
        pulled = streams.run(ctx, CONTACTS)
        with ctx.store.begin() as conn:
            stored = {r[0] for r in conn.execute(sa.select(t.hubspot_contacts.c.hubspot_id))}
            quarantined = {r[0] for r in conn.execute(sa.select(t.quarantine.c.record_key))}
            cursor = ctx.store.get_cursor(conn, "hubspot_contacts")
        assert set(ids) <= stored | quarantined, f"{len(set(ids) - stored - quarantined)} contacts never pulled"
        assert pulled >= len(ids)
        assert cursor["mode"] == "incremental" and cursor["since_ms"] == tied_ms and cursor.get("exclusive")
        # the stream goes on: a contact changed afterwards arrives in the next pass, the tied ones not again
        sb.world.clock.advance_days(0.01)
        rec = contacts.materialize(ids[0])
        rec.props["firstname"] = "Later"
        contacts.touch(rec)
        sb.world.clock.advance_days(0.01)
        assert streams.run(ctx, CONTACTS) == 1
        stats = sb.world.stats.snapshot(sb.world.faults)
    assert stats["responses"].get("400", 0) == 0
