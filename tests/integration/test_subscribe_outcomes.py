"""HubSpot's `syncd_email_status` says what Mailchimp reported, after it reported it: a subscribe Mailchimp
refuses leaves no "subscribed" behind, is quarantined with Mailchimp's reason (naming the field when
Mailchimp's errors[] names it), and is sent again once what it would send changes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from syncd_harness import Engine, make_lead

from sandbox.world import SandboxConfig
from syncd.store import schema as t


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(contacts=20, seed=12, start_ms=1_767_225_600_000, rate_scale=20)


def _quarantine(engine: Engine) -> list[tuple[str, str]]:
    with engine.ctx.store.begin() as conn:
        return [
            (r.record_key, r.reason)
            for r in conn.execute(sa.select(t.quarantine).where(t.quarantine.c.source == "mailchimp"))
        ]


def test_a_refused_subscribe_is_quarantined_with_the_field_and_never_shown_as_subscribed(
    sandbox, hubspot, mailchimp, tmp_path
):
    engine = Engine(sandbox, tmp_path)
    engine.cycle()
    long_name = make_lead(sandbox, hubspot, mailchimp, "long.name@example.com", member=False, firstname="N" * 60_000)
    odd_address = make_lead(sandbox, hubspot, mailchimp, "odd.address@example.c0m", member=False)
    fine = make_lead(sandbox, hubspot, mailchimp, "fine.lead@example.com", member=False)
    engine.settle()
    summary = engine.cycle()

    props = {lead["email"]: engine.contact(lead["id"])["properties"] for lead in (long_name, odd_address, fine)}
    assert props[fine["email"]].get("syncd_email_status") == "subscribed"
    assert engine.member(fine["email"])["status"] == "subscribed"
    assert props[odd_address["email"]].get("syncd_email_status") in (None, ""), props[odd_address["email"]]
    # a text value over Mailchimp's 255 characters is cut (with a warning), not refused
    assert engine.member(long_name["email"])["merge_fields"]["FNAME"] == "N" * 255
    assert summary["commands"]["pushed"].get("mailchimp.subscribe", 0) >= 2
    reasons = [reason for _key, reason in _quarantine(engine)]
    assert len(reasons) == 1, reasons  # the refused subscribe; no tag of a member that was never created
    assert any("email_address" in r and "valid email" in r for r in reasons), reasons
    assert summary["commands"]["failed"].get("mailchimp.subscribe") == 1

    # nothing changed: the refusal is not retried every cycle
    engine.settle()
    again = engine.cycle()
    assert "mailchimp.subscribe" not in again["commands"]["enqueued"]
    engine.settle()
    engine.cycle()
    assert engine.contact(long_name["id"])["properties"]["syncd_email_status"] == "subscribed"
