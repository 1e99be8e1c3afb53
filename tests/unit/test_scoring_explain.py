"""`syncd explain` output (table and JSON) and the hand-off task a rep reads (subject and HTML body)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from syncd.domain import explain, render, scoring
from syncd.domain.models import ContactView, EngagementEvent, SegmentState
from syncd.rules import load_default_rules

RULES = load_default_rules()
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
EMAIL = "jane.doe@acme.example"
CONTACT = ContactView(
    EMAIL,
    {
        "firstname": "Jane",
        "lastname": "Doe",
        "jobtitle": "VP Marketing",
        "company": "Acme",
        "numemployees": "200",
        "lifecyclestage": "lead",
    },
    "100001",
    "5001",
)


def events() -> list[EngagementEvent]:
    out = [EngagementEvent("mailchimp", f"o{i}", EMAIL, "open", T0 + timedelta(days=i), f"c{i}") for i in range(2)]
    out += [
        EngagementEvent(
            "mailchimp",
            f"k{i}",
            EMAIL,
            "click",
            T0 + timedelta(days=2 + i),
            "c1",
            f"https://acme.example/pricing?v={i}",
        )
        for i in range(3)
    ]
    out.append(
        EngagementEvent("mailchimp", "x1", EMAIL, "click", T0 + timedelta(days=1), "c0", "https://acme.example/careers")
    )
    return out


def hot_result():
    return scoring.score(RULES, CONTACT, events(), T0 + timedelta(days=5), None)


def test_ledger_table_lists_rules_totals_and_outcome():
    result = hot_result()
    table = explain.ledger_table(result)
    lines = table.splitlines()
    assert lines[0].split() == ["rule", "when", "detail", "points", "after", "decay"]
    assert len({len(line) for line in lines[: len(result.ledger) + 3]}) == 1  # fixed width rows
    assert any(line.startswith("pricing_click") and "2025-03-05 09:00" in line for line in lines)
    assert any(line.startswith("careers_click") and "-15.00" in line for line in lines)
    assert f"= score {result.score}" in table
    assert "segment: hot (changed)" in table and "lifecycle target: marketingqualifiedlead" in table
    assert "cadence: weekly" in table


def test_result_to_dict_is_json_ready_and_complete():
    result = hot_result()
    data = json.loads(json.dumps(explain.result_to_dict(result)))
    assert data["score"] == result.score and data["segment"] == "hot"
    assert len(data["ledger"]) == len(result.ledger)
    assert data["ledger"][-1]["occurred_at"].startswith("2025-03-")
    totals = data["totals"]
    assert round(totals["fit"] + totals["behaviour"] + totals["negative"]) == result.score
    assert data["triggers"] == ["segment:hot", "lifecycle:marketingqualifiedlead"]


def test_the_handoff_task_names_lead_trigger_and_top_events_with_links():
    result = hot_result()
    subject = render.task_subject(result, CONTACT)
    body = render.task_html(result, CONTACT, {e.event_id: e for e in events()}, top_n=2)
    assert subject == f"Hot lead: Jane Doe (VP Marketing, Acme) — score {result.score}"
    assert '<a href="https://acme.example/pricing?v=2">' in body and "2025-03-07" in body
    assert body.count("(pricing_click)") == 2 and "(email_open)" not in body  # top 2 only
    assert "careers_click" in body  # penalties are listed too
    assert f"= {result.score}</p>" in body.splitlines()[-1]
    assert body.startswith("<p><strong>Hot lead</strong>: Jane Doe &lt;jane.doe@acme.example&gt;")


def test_the_handoff_task_falls_back_to_email_and_lifecycle_trigger_and_escapes_everything():
    bare = ContactView("x@y.example", {"lifecyclestage": "marketingqualifiedlead", "firstname": "<b>X</b>"}, None, None)
    demo = [EngagementEvent("hubspot", "d1", "x@y.example", "demo_request", T0, detail="Book a <demo>")]
    first = scoring.score(RULES, bare, demo, T0, None)
    assert first.triggers[0] == "segment:warm"
    again = scoring.score(RULES, bare, demo, T0, SegmentState("warm", T0))
    assert again.triggers == ()
    assert render.task_subject(again, bare) == f"Warm lead: <b>X</b> — score {again.score}"  # plain text
    body = render.task_html(again, bare, {}, top_n=5)
    assert "demo request: Book a &lt;demo&gt;" in body and "&lt;b&gt;X&lt;/b&gt;" in body and "<b>" not in body
