"""Hand-off policy the scenarios leave out: who gets the task of a lead without an owner (a fallback
owner, or a round-robin among configured reps), and the deliberate, audited lifecycle demotion."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from syncd_harness import ROOT, Engine, make_lead
from test_scenarios import MONDAY, _hot_week

from sandbox.world import SandboxConfig
from syncd.store import schema as t


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(contacts=40, seed=5, start_ms=MONDAY, rate_scale=20)


def _config(tmp_path: Path, extra: str = "", scoring: Path | None = None) -> str:
    cfg = tmp_path / "syncd.yaml"
    cfg.write_text(
        f"paths: {{mappings: {ROOT / 'mappings/default.yaml'}, "
        f"scoring: {scoring or ROOT / 'config/scoring.yaml'}}}\n{extra}"
    )
    return str(cfg)


def test_an_ownerless_hot_lead_goes_to_the_fallback_owner(sandbox, hubspot, mailchimp, tmp_path):
    fallback = sandbox.world.hubspot.owners[2]["id"]
    engine = Engine(sandbox, tmp_path, SYNCD_CONFIG=_config(tmp_path, f"tasks: {{fallback_owner_id: '{fallback}'}}\n"))
    engine.cycle()
    lead = make_lead(sandbox, hubspot, mailchimp, "ownerless.vp@midsize.example.com", hubspot_owner_id="")
    assert not engine.contact(lead["id"])["properties"].get("hubspot_owner_id")
    _hot_week(engine, lead)
    (task,) = engine.tasks_for(lead["id"])
    assert task["properties"]["hubspot_owner_id"] == str(fallback)


def test_a_hot_lead_whose_owner_left_hubspot_is_scored_synced_and_its_task_goes_to_the_fallback(
    sandbox, hubspot, mailchimp, tmp_path
):
    owners = sandbox.world.hubspot.owners
    fallback, leaver = owners[2]["id"], owners[3]["id"]
    engine = Engine(sandbox, tmp_path, SYNCD_CONFIG=_config(tmp_path, f"tasks: {{fallback_owner_id: '{fallback}'}}\n"))
    lead = make_lead(sandbox, hubspot, mailchimp, "left.behind@midsize.example.com", owner_id=leaver)
    # the rep leaves: HubSpot no longer lists the owner, the contact still names it
    owners[:] = [o for o in owners if o["id"] != leaver]
    engine.cycle()
    assert engine.contact(lead["id"])["properties"]["hubspot_owner_id"] == str(leaver)
    _hot_week(engine, lead)
    props = engine.contact(lead["id"])["properties"]
    assert props["syncd_segment"] == "hot" and int(props["syncd_score"]) > 0
    (task,) = engine.tasks_for(lead["id"])
    assert task["properties"]["hubspot_owner_id"] == str(fallback)
    with engine.ctx.store.begin() as conn:
        assert conn.execute(sa.select(t.quarantine).where(t.quarantine.c.record_key == lead["id"])).all() == []


def test_ownerless_leads_are_spread_over_the_round_robin_reps(sandbox, hubspot, mailchimp, tmp_path):
    reps = [o["id"] for o in sandbox.world.hubspot.owners[:3]]
    engine = Engine(
        sandbox,
        tmp_path,
        SYNCD_CONFIG=_config(tmp_path, "tasks: {round_robin_owner_ids: [" + ", ".join(f"'{r}'" for r in reps) + "]}\n"),
    )
    engine.cycle()
    leads = [
        make_lead(sandbox, hubspot, mailchimp, f"ownerless{i}@midsize.example.com", hubspot_owner_id="")
        for i in range(6)
    ]
    # drive all six through the same hot week at once
    _hot_week_many(engine, leads)
    owners = [engine.tasks_for(lead["id"])[0]["properties"]["hubspot_owner_id"] for lead in leads]
    assert set(owners) <= {str(r) for r in reps} and len(set(owners)) > 1, owners
    # the same lead always lands on the same rep (no shared counter to lose in a crash)
    from syncd.decide import policy_of
    from syncd.domain.routing import pick_owner

    routing = policy_of(engine.ctx).routing
    assert all(pick_owner(lead["email"], None, set(), routing) == (o, "round_robin") for lead, o in zip(leads, owners))


def _hot_week_many(engine: Engine, leads: list[dict]) -> None:
    from syncd_harness import PRICING, iso
    from test_scenarios import FRI, HOUR_MS, THU, _at, _campaign_at

    engine.advance_to(THU + 16 * HOUR_MS)
    product = _campaign_at(engine, THU + 15 * HOUR_MS)["id"]
    events = []
    for lead in leads:
        events += [
            {
                "email": lead["email"],
                "action": "open",
                "campaign_id": product,
                "timestamp": iso(THU + 15 * HOUR_MS + 20 * 60_000),
            }
        ]
        events += [
            {
                "email": lead["email"],
                "action": "click",
                "campaign_id": product,
                "url": PRICING,
                "timestamp": iso(THU + 15 * HOUR_MS + k * 60_000),
            }
            for k in (21, 22, 23)
        ]
    _at(engine, FRI + 16 * HOUR_MS, *events)


@pytest.mark.parametrize("allow", [False, True])
def test_demotion_only_when_allowed_clear_then_set_and_audited(sandbox, hubspot, mailchimp, tmp_path, allow):
    scoring = tmp_path / "scoring.yaml"
    text = (ROOT / "config/scoring.yaml").read_text()
    scoring.write_text(text.replace("allow_demotion: false", f"allow_demotion: {str(allow).lower()}"))
    engine = Engine(sandbox, tmp_path, SYNCD_CONFIG=_config(tmp_path, scoring=scoring))
    engine.cycle()
    # an MQL by hand, whose score only justifies "lead" (a good fit, no engagement yet)
    lead = make_lead(
        sandbox, hubspot, mailchimp, "was.mql@midsize.example.com", lifecyclestage="marketingqualifiedlead"
    )
    engine.settle()
    engine.cycle()
    # the score only justifies "lead"; without the option the target never falls below the current stage
    assert engine.score_row(lead["email"]).lifecycle_target == ("lead" if allow else "marketingqualifiedlead")
    engine.settle()
    engine.cycle()
    stage = engine.contact(lead["id"])["properties"]["lifecyclestage"]
    with engine.ctx.store.begin() as conn:
        audit = conn.execute(
            sa.select(t.audit).where(t.audit.c.kind == "lifecycle.demotion", t.audit.c.subject == lead["email"])
        ).all()
    if allow:
        # HubSpot ignores a backward value unless the field is cleared first: syncd clears, then sets
        assert stage == "lead"
        assert [(a.subject, a.detail["from"], a.detail["to"]) for a in audit] == [
            (lead["email"], "marketingqualifiedlead", "lead")
        ]
        demote = [r for r in engine.outbox(f"hubspot:contact:{lead['id']}") if r.kind == "hubspot.lifecycle_demote"]
        assert len(demote) == 1 and demote[0].payload["steps"] == ["", "lead"] and demote[0].state == "done"
    else:
        assert stage == "marketingqualifiedlead" and audit == []
