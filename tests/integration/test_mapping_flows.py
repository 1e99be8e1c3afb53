"""The mappings engine end to end against the sandbox: a value that cannot be converted skips that field of
that contact (quarantined with the reason) and the cycle goes on; first and last names travel both ways
without echo (five quiet cycles write nothing, by the sandbox's request counts); a Mailchimp signup becomes
exactly one HubSpot contact, even when its create is retried after a crash; a HubSpot opt-out unsubscribes
the member with the only status syncd sends."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from syncd_harness import ROOT, Engine, engine_hash, make_lead

from sandbox.world import SandboxConfig
from syncd import push
from syncd.store import schema as t

SHARED_SANDBOX = SandboxConfig(contacts=30, seed=11, start_ms=1_767_571_200_000, rate_scale=20)
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def hubspot_mailchimp(sandbox):
    from conftest import make_hubspot, make_mailchimp

    return make_hubspot(sandbox), make_mailchimp(sandbox)


def _config(tmp_path: Path, mappings: str | None = None) -> dict[str, str]:
    path = ROOT / "mappings" / "default.yaml"
    if mappings is not None:
        path = tmp_path / "mappings.yaml"
        path.write_text(mappings)
    cfg = tmp_path / "syncd.yaml"
    cfg.write_text(f"paths: {{mappings: {path}, scoring: {ROOT / 'config/scoring.yaml'}}}\n")
    return {"SYNCD_CONFIG": str(cfg)}


def _writes(stats: dict) -> dict[str, int]:
    """Write requests served, by method and path template (reads sent as POST, searches and batch reads, and
    sandbox control calls left out)."""
    reads = ("/search", "/batch/read", "/_sandbox")
    return {k: v for k, v in stats["requests"].items() if k.split(" ")[0] in WRITES and not k.endswith(reads)}


def _quarantined(engine: Engine, source: str) -> list:
    with engine.ctx.store.begin() as conn:
        return conn.execute(sa.select(t.quarantine).where(t.quarantine.c.source == source)).all()


CITY_AS_NUMBER = """\
fields:
  - {hubspot: firstname, merge_tag: FNAME, type: text}
  - {hubspot: city, merge_tag: CITYN, type: number}
consent:
  hubspot_property: hs_legal_basis
  granted_values: [Freely given consent from contact]
owned_properties: [syncd_score, syncd_segment, syncd_email_status]
"""


def test_a_value_that_cannot_be_converted_skips_that_field_and_the_cycle_goes_on(
    sandbox, hubspot_mailchimp, tmp_path
) -> None:
    hs, mc = hubspot_mailchimp
    numeric = [make_lead(sandbox, hs, mc, f"num{i}@example.org", city=str(50667 + i)) for i in range(3)]
    named = [make_lead(sandbox, hs, mc, f"town{i}@example.org", city=c) for i, c in enumerate(["Cologne", "Lyon"])]
    fresh = make_lead(sandbox, hs, mc, "newcomer@example.org", city="Bonn", member=False)
    engine = Engine(sandbox, tmp_path, **_config(tmp_path, CITY_AS_NUMBER))
    engine.settle()
    summary = engine.cycle()  # asserts ok: the cycle finished
    assert summary["quarantined"] >= 3
    state = engine.state()
    for lead in numeric:
        assert engine.member(lead["email"], state)["merge_fields"]["CITYN"] == int(lead_city(engine, lead, state))
    for lead in named:
        member = engine.member(lead["email"], state)
        assert member["merge_fields"]["CITYN"] == ""  # skipped...
        assert member["merge_fields"]["FNAME"] == "Vera"  # ...while the rest of the record flowed
    # the contact without a member is still subscribed, without the bad field
    created = engine.member(fresh["email"], state)
    assert created["status"] == "subscribed" and created["merge_fields"]["CITYN"] == ""
    rows = {r.record_key: r for r in _quarantined(engine, "mapping")}
    for lead in [*named, fresh]:
        row = rows[f"hubspot:contact:{lead['id']}"]
        assert "city -> CITYN" in row.reason and "is not a number" in row.reason
        assert row.payload["field"] == "city -> CITYN" and row.payload["email"] == lead["email"]
    assert not any(f"hubspot:contact:{lead['id']}" in rows for lead in numeric)
    # fixed in HubSpot: the value flows and its quarantine row goes
    hs.crm.contacts.basic_api.update(named[0]["id"], {"properties": {"city": "50668"}})
    engine.settle()
    engine.cycle()
    assert engine.member(named[0]["email"])["merge_fields"]["CITYN"] == 50668
    assert f"hubspot:contact:{named[0]['id']}" not in {r.record_key for r in _quarantined(engine, "mapping")}


def lead_city(engine: Engine, lead: dict, state: dict) -> str:
    return engine.contact(lead["id"], state)["properties"]["city"]


def test_names_travel_both_ways_and_quiet_cycles_write_nothing(sandbox, hubspot_mailchimp, tmp_path) -> None:
    hs, mc = hubspot_mailchimp
    lead = make_lead(sandbox, hs, mc, "two.way@example.org")
    engine = Engine(sandbox, tmp_path, **_config(tmp_path))
    engine.settle()
    engine.cycle()
    # a marketer corrects the first name in Mailchimp, a rep the last name in HubSpot
    mc.lists.update_list_member(sandbox.world.list_id, lead["hash"], {"merge_fields": {"FNAME": "Verena"}})
    hs.crm.contacts.basic_api.update(lead["id"], {"properties": {"lastname": "Pilot-Lang"}})
    engine.settle()
    engine.cycle()
    engine.settle()
    engine.cycle()  # the writes of the previous cycle come back: no echo
    state = engine.state()
    contact, member = engine.contact(lead["id"], state), engine.member(lead["email"], state)
    assert contact["properties"]["firstname"] == "Verena" and contact["properties"]["lastname"] == "Pilot-Lang"
    assert member["merge_fields"]["FNAME"] == "Verena" and member["merge_fields"]["LNAME"] == "Pilot-Lang"
    engine.reset_stats()
    for _ in range(5):
        engine.advance(0.02)
        engine.cycle()
    assert _writes(engine.stats()) == {}
    # both sides change before the next cycle: the newest wins (Mailchimp's, made later)
    hs.crm.contacts.basic_api.update(lead["id"], {"properties": {"firstname": "Vee"}})
    engine.advance(0.001)
    mc.lists.update_list_member(sandbox.world.list_id, lead["hash"], {"merge_fields": {"FNAME": "Vera-Lynn"}})
    engine.settle()
    engine.cycle()
    engine.settle()
    engine.cycle()
    state = engine.state()
    assert engine.contact(lead["id"], state)["properties"]["firstname"] == "Vera-Lynn"
    assert engine.member(lead["email"], state)["merge_fields"]["FNAME"] == "Vera-Lynn"


def _contacts_with(engine: Engine, email: str) -> list[dict]:
    return [
        c
        for c in engine.state()["hubspot"]["contacts"]
        if (c["properties"].get("email") or "").lower() == email.lower()
    ]


def test_a_mailchimp_signup_becomes_exactly_one_hubspot_contact(sandbox, hubspot_mailchimp, tmp_path) -> None:
    hs, mc = hubspot_mailchimp
    email = "Signup.Form@Example.org"
    mc.lists.add_list_member(
        sandbox.world.list_id,
        {"email_address": email, "status": "subscribed", "merge_fields": {"FNAME": "Sina", "LNAME": "Form"}},
    )
    engine = Engine(sandbox, tmp_path, **_config(tmp_path))
    engine.settle()
    summary = engine.cycle()
    assert summary["commands"]["pushed"].get("hubspot.create_contact", 0) >= 1
    mine = _contacts_with(engine, email)
    assert len(mine) == 1
    props = mine[0]["properties"]
    assert (props["firstname"], props["lastname"], props["syncd_source"]) == ("Sina", "Form", "mailchimp")
    # a crash after HubSpot created it, before syncd recorded it: the create runs again and links instead
    with engine.ctx.store.begin() as conn:
        mine_only = t.outbox.c.key == f"hs.create:{engine_hash(email)}"
        conn.execute(sa.update(t.outbox).where(mine_only).values(state="attempted"))
        conn.execute(sa.update(t.identities).values(hubspot_id=None).where(t.identities.c.email == email.lower()))
    engine.ctx.counters.clear()
    push.push(engine.ctx)
    assert engine.ctx.counters["contacts.linked"] == 1 and not engine.ctx.counters["contacts.created"]
    engine.settle()
    engine.cycle()
    engine.settle()
    engine.cycle()
    mine = _contacts_with(engine, email)
    assert len(mine) == 1
    with engine.ctx.store.begin() as conn:
        ident = conn.execute(sa.select(t.identities).where(t.identities.c.email == email.lower())).one()
    assert ident.hubspot_id == mine[0]["id"]  # linked: engagement now counts for that contact
    # its engagement reaches the contact as for any other lead
    assert engine.contact(mine[0]["id"])["properties"].get("syncd_email_status") == "subscribed"


def test_a_hubspot_opt_out_unsubscribes_the_member(sandbox, hubspot_mailchimp, tmp_path) -> None:
    hs, mc = hubspot_mailchimp
    lead = make_lead(sandbox, hs, mc, "opting.out@example.org")
    engine = Engine(sandbox, tmp_path, **_config(tmp_path))
    engine.settle()
    engine.cycle()
    assert engine.member(lead["email"])["status"] == "subscribed"
    engine.inject({"email": lead["email"], "action": "email_optout"})
    engine.settle()
    engine.cycle()
    engine.settle()
    engine.cycle()
    state = engine.state()
    assert engine.member(lead["email"], state)["status"] == "unsubscribed"
    assert engine.contact(lead["id"], state)["properties"]["syncd_email_status"] == "unsubscribed"
    unsubscribes = engine.outbox(f"mailchimp:member:{lead['hash']}")
    assert [r.kind for r in unsubscribes].count("mailchimp.unsubscribe") == 1


STAGE_DROPDOWN = """\
fields:
  - {hubspot: lifecyclestage, merge_tag: STAGE, type: dropdown}
consent:
  hubspot_property: hs_legal_basis
  granted_values: [Freely given consent from contact]
owned_properties: [syncd_score]
"""


def test_a_dropdown_is_created_with_the_hubspot_options_and_gets_labels(sandbox, hubspot_mailchimp, tmp_path) -> None:
    hs, mc = hubspot_mailchimp
    lead = make_lead(sandbox, hs, mc, "stage@example.org")
    engine = Engine(sandbox, tmp_path, **_config(tmp_path, STAGE_DROPDOWN))
    engine.settle()
    engine.cycle()
    stage = next(
        m for m in mc.lists.get_list_merge_fields(sandbox.world.list_id)["merge_fields"] if m["tag"] == "STAGE"
    )
    options = hs.crm.properties.core_api.get_by_name("contacts", "lifecyclestage").options
    assert stage["type"] == "dropdown" and stage["options"]["choices"] == [o.label for o in options]
    assert engine.member(lead["email"])["merge_fields"]["STAGE"] == "Subscriber"
