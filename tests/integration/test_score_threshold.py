"""The score write threshold end to end on a store: a day of decay moves a lead's score by a point or two and
the score stage writes nothing to either service, while the scores table and `syncd explain` show the true
current score; a real change is written at once, with that score."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from contracts.identity import subscriber_hash
from syncd import pull
from syncd.context import Context
from syncd.decide import score_and_decide
from syncd.explain import explain
from syncd.mappings import load_mappings
from syncd.rules import load_rules
from syncd.settings import load_settings
from syncd.store import schema as t
from syncd.store.db import open_store

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_767_225_600_000  # 2026-01-01
DAY = 86_400_000
EMAIL = "dana@example.com"


def _setup(tmp_path, clock):
    settings = load_settings({"SYNCD_DATABASE_URL": f"sqlite:///{tmp_path}/t.db"}, str(ROOT / "config/syncd.yaml"))
    store = open_store(settings.database_url, clock=lambda: clock[0])
    ctx = Context(
        settings=settings,
        store=store,
        hubspot=None,
        mailchimp=None,
        rules=load_rules(ROOT / "config/scoring.yaml"),
        mappings=load_mappings(ROOT / "mappings/default.yaml"),
        clock=lambda: clock[0],
        calls=None,
    )
    props = {
        "email": EMAIL,
        "firstname": "Dana",
        "jobtitle": "Marketing Manager",
        "numemployees": "200",
        "lifecyclestage": "lead",
        "createdate": "2025-06-01T00:00:00Z",
        "lastmodifieddate": "2025-12-30T00:00:00Z",
        "hs_legal_basis": "Freely given consent from contact",
    }
    member = {
        "id": subscriber_hash(EMAIL),
        "email_address": EMAIL,
        "status": "subscribed",
        "merge_fields": {"FNAME": "Dana"},
        "tags": [],
        "last_changed": "2025-06-02T00:00:00+00:00",
    }
    clicks = [
        {
            "event_id": f"c{i}",
            "email": EMAIL,
            "kind": "click",
            "occurred": NOW - (2 + i) * DAY,
            "campaign_id": f"cmp{i}",
            "url": "https://www.example-saas.com/blog/a",
        }
        for i in range(3)
    ]
    with store.begin() as conn:
        pull.ingest_contacts(ctx, conn, [{"id": "501", "properties": props, "archived": False}])
        pull.ingest_members(ctx, conn, [member])
        pull.store_events(ctx, conn, "mailchimp", clicks)
    return settings, ctx


def _outbox(ctx) -> list[tuple[str, dict]]:
    with ctx.store.begin() as conn:
        return [(r.kind, r.payload) for r in conn.execute(sa.select(t.outbox).order_by(t.outbox.c.id))]


def _stored_score(ctx) -> float:
    with ctx.store.begin() as conn:
        return conn.execute(sa.select(t.scores.c.score).where(t.scores.c.email == EMAIL)).scalar_one()


def test_a_day_of_decay_writes_nothing_and_explain_shows_the_true_score(tmp_path):
    clock = [NOW]
    settings, ctx = _setup(tmp_path, clock)
    assert settings.config.score_write_threshold == 5
    score_and_decide(ctx)
    first = _outbox(ctx)
    written = next(p for k, p in first if k == "hubspot.update_contact")["properties"]["syncd_score"]

    clock[0] = NOW + DAY  # a day later, nothing new: the clicks fade by a point or two
    score_and_decide(ctx, rescore_after_ms=0)
    true_score = _stored_score(ctx)
    assert 1 <= int(written) - true_score < 5, (written, true_score)
    later = _outbox(ctx)[len(first) :]
    assert [k for k, _ in later if k in ("hubspot.update_contact", "mailchimp.update_member")] == []

    shown = explain(settings, EMAIL, clock=lambda: clock[0], store=ctx.store)
    assert shown["json"]["score"] == true_score != int(written)

    clock[0] += 60_000
    with ctx.store.begin() as conn:  # a real change: a pricing click, written at once with the current score
        pull.store_events(
            ctx,
            conn,
            "mailchimp",
            [
                {
                    "event_id": "p1",
                    "email": EMAIL,
                    "kind": "click",
                    "occurred": clock[0] - 60_000,
                    "campaign_id": "cmp9",
                    "url": "https://www.example-saas.com/pricing",
                }
            ],
        )
    score_and_decide(ctx)
    update = [p for k, p in _outbox(ctx)[len(first) :] if k == "hubspot.update_contact"]
    assert update and update[-1]["properties"]["syncd_score"] == str(round(_stored_score(ctx)))
