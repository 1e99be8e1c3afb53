"""Values from outside reach HubSpot and Mailchimp defanged: click URLs and names are escaped in the HTML
of notes and tasks, only http(s) URLs become links, and control or ANSI characters (NUL, BEL, ESC) never
reach a merge field or a property."""

from __future__ import annotations

import re

import pytest
from syncd_harness import Engine, iso, make_lead, ms_of

from sandbox.world import SandboxConfig

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(contacts=20, seed=3, start_ms=START, rate_scale=20)


def test_click_urls_are_escaped_and_only_http_links_are_made(sandbox, hubspot, mailchimp, tmp_path):
    engine = Engine(sandbox, tmp_path)
    engine.cycle()
    lead = make_lead(sandbox, hubspot, mailchimp, "hostile.clicks@example.com")
    engine.advance(7)  # a week of the calendar: campaigns were sent
    campaign = max(engine.state()["mailchimp"]["campaigns"], key=lambda c: c["send_time"])
    now = engine.now()
    urls = [
        "javascript:alert(1)",
        'https://ok.example.com/a"><script>alert(2)</script>',
        "data:text/html,<b>x</b>",
        "https://ok.example.com/pricing?a=1&b=2",
    ]
    engine.inject(
        *(
            {
                "email": lead["email"],
                "action": "click",
                "url": u,
                "campaign_id": campaign["id"],
                "timestamp": iso(now - 60_000 * (i + 1)),
            }
            for i, u in enumerate(urls)
        )
    )
    engine.settle()
    engine.cycle()
    notes = [n for n in engine.state()["hubspot"]["notes"] if lead["id"] in n["associations"]["contacts"]]
    assert notes, "a note lists the clicks"
    body = notes[-1]["properties"]["hs_note_body"]
    hrefs = re.findall(r'href="([^"]*)"', body)
    assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
    assert "<script>" not in body and "javascript:alert(1)</a>" not in body
    assert "&lt;script&gt;" in body and "javascript:alert(1)" in body  # shown as text, not run
    assert 'href="https://ok.example.com/pricing?a=1&amp;b=2"' in body


def test_control_and_ansi_characters_never_reach_merge_fields_or_properties(sandbox, hubspot, mailchimp, tmp_path):
    engine = Engine(sandbox, tmp_path)
    engine.cycle()
    lead = make_lead(
        sandbox,
        hubspot,
        mailchimp,
        "hostile.names@example.com",
        firstname="Ve\x00ra\x07",
        lastname="\x1b[31mPilot\x1b[0m",
        company="Acme\x1b Corp",
    )
    engine.settle()
    engine.cycle()
    merge = engine.member(lead["email"])["merge_fields"]
    assert merge["FNAME"] == "Vera" and merge["LNAME"] == "Pilot" and merge["COMPANY"] == "Acme Corp", merge
    written = [v for v in engine.contact(lead["id"])["properties"].items() if v[0].startswith("syncd_")]
    assert written and not any(re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", str(v)) for _, v in written)


def test_an_event_dated_in_the_future_is_quarantined_and_never_written(sandbox, hubspot, mailchimp, tmp_path):
    engine = Engine(sandbox, tmp_path)
    engine.cycle()
    lead = make_lead(sandbox, hubspot, mailchimp, "time.traveller@example.com")
    engine.advance(7)
    campaign = max(engine.state()["mailchimp"]["campaigns"], key=lambda c: c["send_time"])
    now = engine.now()
    engine.inject(
        {"email": lead["email"], "action": "open", "campaign_id": campaign["id"], "timestamp": "2100-01-01T00:00:00Z"},
        {"email": lead["email"], "action": "open", "campaign_id": campaign["id"], "timestamp": iso(now - 3_600_000)},
    )
    engine.settle()
    summary = engine.cycle()
    props = engine.contact(lead["id"])["properties"]
    assert props.get("syncd_last_open") and ms_of(props["syncd_last_open"]) <= now, props.get("syncd_last_open")
    with engine.ctx.store.begin() as conn:
        import sqlalchemy as sa

        from syncd.store import schema as t

        reasons = (
            conn.execute(sa.select(t.quarantine.c.reason).where(t.quarantine.c.source == "mailchimp")).scalars().all()
        )
    assert any("2100-01-01" in r and "in the future" in r for r in reasons), reasons
    assert summary["quarantined"] >= 1
