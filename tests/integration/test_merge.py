"""Identity follows HubSpot: a merge moves the merged contact's events to the survivor; an email change
carries the lead (and its events) to the new address."""

from __future__ import annotations

import pytest
import requests
import sqlalchemy as sa
from hubspot.crm.contacts import PublicMergeInput, SimplePublicObjectInput

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig
from syncd.app import build_context
from syncd.pipeline import run_cycle
from syncd.settings import load_settings
from syncd.store import schema as t
from tests.conftest import make_hubspot


@pytest.fixture
def world(tmp_path):
    with SandboxServer(SandboxConfig(contacts=60, seed=21, rate_scale=10, start_ms=1_767_225_600_000)) as sb:
        env = {**sb.env, "SYNCD_DATABASE_URL": f"sqlite:///{tmp_path}/m.db", "SYNCD_LOG_LEVEL": "WARNING"}
        ctx = build_context(load_settings(env=env), clock=sb.world.clock.now_ms)
        yield sb, ctx


def _advance(sb, days=0.01):
    requests.post(f"{sb.url}/_sandbox/clock", json={"advance_days": days}, timeout=30).raise_for_status()


def _linked_pair(ctx):
    """Two contacts that are also Mailchimp members."""
    with ctx.store.begin() as conn:
        rows = conn.execute(
            sa.select(t.identities)
            .where(t.identities.c.hubspot_id.is_not(None), t.identities.c.subscriber_hash.is_not(None))
            .order_by(t.identities.c.id)
            .limit(3)
        ).all()
    return rows


def _events_for(ctx, email):
    with ctx.store.begin() as conn:
        return conn.execute(sa.select(t.events.c.event_id).where(t.events.c.email == email)).scalars().all()


def test_merge_moves_events_to_the_surviving_contact(world):
    sb, ctx = world
    run_cycle(ctx)
    a, b, _ = _linked_pair(ctx)
    requests.post(
        f"{sb.url}/_sandbox/events",
        json=[
            {"email": b.email, "action": "open"},
            {"email": b.email, "action": "click", "url": "https://www.example-saas.com/pricing"},
        ],
        timeout=30,
    )
    _advance(sb)
    run_cycle(ctx)
    b_events = _events_for(ctx, b.email)
    assert len(b_events) >= 2

    make_hubspot(sb).crm.contacts.basic_api.merge(
        public_merge_input=PublicMergeInput(primary_object_id=a.hubspot_id, object_id_to_merge=b.hubspot_id)
    )
    _advance(sb)
    run_cycle(ctx)

    with ctx.store.begin() as conn:
        assert conn.execute(sa.select(t.identities).where(t.identities.c.hubspot_id == b.hubspot_id)).first() is None
        assert (
            conn.execute(sa.select(t.hubspot_contacts).where(t.hubspot_contacts.c.hubspot_id == b.hubspot_id)).first()
            is None
        )
        ledger = conn.execute(sa.select(t.scores.c.ledger).where(t.scores.c.email == a.email)).scalar_one()
    assert set(b_events) <= set(_events_for(ctx, a.email)), "the merged contact's events follow the survivor"
    assert any("pricing" in (e.get("detail") or "") for e in ledger), "and count in the survivor's score"


def test_email_change_carries_the_lead_and_its_events(world):
    sb, ctx = world
    run_cycle(ctx)
    _, _, c = _linked_pair(ctx)
    requests.post(f"{sb.url}/_sandbox/events", json=[{"email": c.email, "action": "open"}], timeout=30)
    _advance(sb)
    run_cycle(ctx)
    before = _events_for(ctx, c.email)
    assert before

    new_email = "moved.somewhere@newco.example.com"
    make_hubspot(sb).crm.contacts.basic_api.update(
        c.hubspot_id, simple_public_object_input=SimplePublicObjectInput(properties={"email": new_email})
    )
    _advance(sb)
    run_cycle(ctx)

    with ctx.store.begin() as conn:
        row = conn.execute(sa.select(t.identities).where(t.identities.c.hubspot_id == c.hubspot_id)).one()
        old_score = conn.execute(sa.select(t.scores).where(t.scores.c.email == c.email)).first()
    assert row.email == new_email and row.subscriber_hash == c.subscriber_hash
    assert set(before) <= set(_events_for(ctx, new_email))
    assert _events_for(ctx, c.email) == [] and old_score is None
    # the Mailchimp member still has the old address: its later activity counts for the same lead
    requests.post(
        f"{sb.url}/_sandbox/events",
        json=[{"email": c.email, "action": "click", "url": "https://www.example-saas.com/demo"}],
        timeout=30,
    )
    _advance(sb)
    run_cycle(ctx)
    assert len(_events_for(ctx, new_email)) == len(before) + 1 and _events_for(ctx, c.email) == []
