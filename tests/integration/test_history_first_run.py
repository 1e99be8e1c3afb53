"""A first `syncd once` against an account with a past: the campaigns of the last `backfill_days` are read in
full once, their opens, clicks, bounces and unsubscribes are merged (each once), every contact with past
engagement gets the note it implies, and the leads are scored by that past. Later cycles poll only the
campaigns of the last `activity_days`."""

from __future__ import annotations

import collections

import pytest
import sqlalchemy as sa
from syncd_harness import Engine

from sandbox.world import SandboxConfig
from syncd.store import schema as t

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HISTORY_DAYS = 60


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(contacts=160, seed=31, start_ms=START, rate_scale=20, history_days=HISTORY_DAYS)


def test_a_first_cycle_brings_the_accounts_past_engagement_and_scores_by_it(sandbox, tmp_path):
    past = sandbox.world.history
    assert past["campaigns"] >= 12 and past["open"] > 300 and past["click"] > 20, past
    engine = Engine(sandbox, tmp_path)
    summary = engine.cycle()

    with engine.ctx.store.begin() as conn:
        kinds = collections.Counter(
            conn.execute(sa.select(t.events.c.kind).where(t.events.c.source == "mailchimp")).scalars()
        )
        campaigns = conn.execute(sa.select(sa.func.count()).select_from(t.campaigns)).scalar_one()
        scores = {r.email: r for r in conn.execute(sa.select(t.scores))}
    # every past open, click, bounce and unsubscribe the reports hold, each once (60 days < backfill_days)
    assert campaigns == past["campaigns"]
    for kind in ("open", "click", "bounce", "unsubscribe"):
        assert kinds[kind] == past[kind], (kind, kinds, past)
    assert summary["events_merged"] >= sum(past[k] for k in ("open", "click", "bounce", "unsubscribe"))

    state = engine.state()
    in_crm = {c["properties"]["email"].lower(): c for c in state["hubspot"]["contacts"]}
    with engine.ctx.store.begin() as conn:
        engaged = {
            r[0]
            for r in conn.execute(
                sa.select(t.events.c.email).where(
                    t.events.c.source == "mailchimp", t.events.c.kind.in_(("open", "click", "bounce", "unsubscribe"))
                )
            )
        }
    noted = {cid for n in state["hubspot"]["notes"] for cid in n["associations"]["contacts"]}
    expected_notes = {in_crm[e]["id"] for e in engaged if e in in_crm}
    assert expected_notes and noted == expected_notes
    # the scores come from that past: the engaged leads carry behaviour points, and some of them are warm or hot
    behaviour = {
        e: sum(x["points_after_decay"] for x in r.ledger if x["kind"] == "behaviour") for e, r in scores.items()
    }
    clickers = {e for e in engaged if e in in_crm}
    assert clickers and sum(1 for e in clickers if behaviour.get(e, 0) > 0) >= 0.8 * len(clickers)
    assert {r.segment for r in scores.values()} & {"warm", "hot"}
    assert all(behaviour.get(e, 0) == 0 for e in in_crm if e not in engaged)

    # a later cycle with no new engagement reads no report: one call lists the report totals of the recent
    # campaigns, none moved since the first cycle read them to the end
    engine.reset_stats()
    engine.settle()
    engine.cycle()
    calls = engine.stats()["requests"]
    assert not [k for k in calls if k.startswith("GET /3.0/reports/")], calls
    assert calls["GET /3.0/reports"] == 2  # the activity stream's and the unsubscribe stream's
    # one new open on a recent campaign: that campaign's report alone is read, and the open merged
    recent = [
        c
        for c in state["mailchimp"]["campaigns"]
        if c["send_time"] and engine.now() - _ms(c["send_time"]) <= 30 * 86_400_000
    ]
    assert len(recent) >= 2
    member = next(m for m in state["mailchimp"]["members"] if m["status"] == "subscribed")
    engine.inject({"email": member["email_address"], "action": "open", "campaign_id": recent[-1]["id"]})
    engine.settle()
    engine.reset_stats()
    later = engine.cycle()
    calls = engine.stats()["requests"]
    assert calls["GET /3.0/reports/{campaign_id}/email-activity"] == 1, calls
    assert "GET /3.0/reports/{campaign_id}/unsubscribed" not in calls
    assert later["streams"]["mailchimp_activity"]["records_pulled"] >= 1
    with engine.ctx.store.begin() as conn:
        opens = conn.execute(
            sa.select(sa.func.count()).where(
                t.events.c.email == member["email_address"].lower(),
                t.events.c.kind == "open",
                t.events.c.campaign_id == recent[-1]["id"],
            )
        ).scalar_one()
    assert opens >= 1


def _ms(iso_time: str) -> int:
    from syncd_harness import ms_of

    return ms_of(iso_time)
