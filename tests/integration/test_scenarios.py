"""Issue 4's scenarios end to end: injected Mailchimp/HubSpot events, in-process cycles on the sandbox's
simulated clock, and what HubSpot and Mailchimp hold afterwards.

The leads are created through the SDKs (not drawn from the simulated population), so the sandbox's
campaigns never mail them: every event they have is one the test injected. The calendar is the
sandbox's: a newsletter every Tuesday and a product email (with pricing and demo links) on Thursdays of
even weeks, both at 15:00 UTC; the week of Monday 2026-01-05 is such a week.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import requests
from syncd_harness import DAY_MS, PRICING, ROOT, SYNCD, Engine, iso, make_lead, ms_of, subprocess_env, tags_of

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig
from syncd.explain import explain

MONDAY = 1_767_571_200_000  # 2026-01-05T00:00:00Z, week 2922 of the sandbox calendar (even)
HOUR_MS = 3_600_000
TUE, THU, FRI = MONDAY + 1 * DAY_MS, MONDAY + 3 * DAY_MS, MONDAY + 4 * DAY_MS


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """The shared `sandbox`, `hubspot` and `mailchimp` fixtures use this world."""
    return SandboxConfig(contacts=40, seed=5, start_ms=MONDAY, rate_scale=20)


@pytest.fixture
def engine(sandbox, tmp_path) -> Engine:
    eng = Engine(sandbox, tmp_path)
    eng.cycle()  # backfill the population first
    return eng


def _campaign_at(engine: Engine, send_ms: int) -> dict:
    return next(c for c in engine.state()["mailchimp"]["campaigns"] if ms_of(c["send_time"]) == send_ms)


def _at(engine: Engine, ms: int, *events: dict) -> dict:
    """Move to `ms`, inject the events (dated before it), let the lag pass, run a cycle."""
    engine.advance_to(ms)
    if events:
        engine.inject(*events)
    engine.settle()
    return engine.cycle()


def _hot_week(engine: Engine, lead: dict) -> list[str]:
    """The VP's week: Tuesday's newsletter opened, Thursday's product email opened and its pricing link
    clicked, two more pricing clicks on Friday; a cycle after each day. Returns the lifecycle stage
    HubSpot shows after each cycle."""
    email, stages = lead["email"], []
    engine.advance_to(TUE + 16 * HOUR_MS)
    newsletter = _campaign_at(engine, TUE + 15 * HOUR_MS)["id"]
    _at(
        engine,
        TUE + 17 * HOUR_MS,
        {"email": email, "action": "open", "campaign_id": newsletter, "timestamp": iso(TUE + 16 * HOUR_MS)},
    )
    stages.append(engine.contact(lead["id"])["properties"]["lifecyclestage"])
    engine.advance_to(THU + 16 * HOUR_MS)
    product = _campaign_at(engine, THU + 15 * HOUR_MS)["id"]
    _at(
        engine,
        THU + 17 * HOUR_MS,
        {"email": email, "action": "open", "campaign_id": product, "timestamp": iso(THU + 15 * HOUR_MS + 20 * 60_000)},
        {
            "email": email,
            "action": "click",
            "campaign_id": product,
            "url": PRICING,
            "timestamp": iso(THU + 15 * HOUR_MS + 22 * 60_000),
        },
    )
    stages.append(engine.contact(lead["id"])["properties"]["lifecyclestage"])
    _at(
        engine,
        FRI + 16 * HOUR_MS,
        {
            "email": email,
            "action": "click",
            "campaign_id": product,
            "url": PRICING,
            "timestamp": iso(FRI + 9 * HOUR_MS),
        },
        {
            "email": email,
            "action": "click",
            "campaign_id": product,
            "url": PRICING + "?plan=team",
            "timestamp": iso(FRI + 14 * HOUR_MS),
        },
    )
    stages.append(engine.contact(lead["id"])["properties"]["lifecyclestage"])
    return stages


# -- 1. the hot VP ------------------------------------------------------------------------------


def test_vp_who_clicks_pricing_goes_hot_mql_then_sql_with_exactly_one_task(sandbox, engine, hubspot, mailchimp):
    lead = make_lead(sandbox, hubspot, mailchimp, "vera.pilot@midsize-analytics.example")
    engine.settle()
    engine.cycle()
    before = engine.contact(lead["id"])["properties"]
    assert before["syncd_segment"] == "cold" and before["syncd_score"] == "25"  # VP 15 + 100-500 staff 10

    stages = _hot_week(engine, lead)
    assert stages == ["lead", "marketingqualifiedlead", "salesqualifiedlead"]

    # the rest of the week: more cycles, nothing new happens for this lead
    for day in (5, 6):
        _at(engine, MONDAY + day * DAY_MS + 12 * HOUR_MS)
    state = engine.state()
    props = engine.contact(lead["id"], state)["properties"]
    assert props["syncd_segment"] == "hot" and props["lifecyclestage"] == "salesqualifiedlead"
    assert int(props["syncd_score"]) >= 80
    member = engine.member(lead["email"], state)
    assert member["status"] == "subscribed"
    assert {"segment:hot", "stage:sql", "cadence:weekly"} <= tags_of(member)
    assert not any(tag.startswith(("segment:c", "segment:w", "stage:l", "stage:m")) for tag in tags_of(member))

    tasks = engine.tasks_for(lead["id"], state)
    assert len(tasks) == 1, [x["properties"]["hs_task_subject"] for x in tasks]
    task = tasks[0]["properties"]
    assert task["hubspot_owner_id"] == lead["owner_id"]
    assert task["hs_task_priority"] == "HIGH" and task["hs_task_status"] == "NOT_STARTED"
    # created on Friday 2026-01-09: due the next business day, Monday 09:00 in Paris (08:00 UTC)
    assert ms_of(task["hs_timestamp"]) == ms_of("2026-01-12T08:00:00Z")
    assert task["hs_task_subject"].startswith("Hot lead: Vera Pilot (VP of Marketing")
    body = task["hs_task_body"]
    clicks = [line for line in body.splitlines() if "pricing_click" in line]
    assert len(clicks) == 3, body
    assert all(PRICING in line for line in clicks)
    assert sorted(re.search(r"\d{4}-\d\d-\d\d", line).group() for line in clicks) == [
        "2026-01-08",
        "2026-01-09",
        "2026-01-09",
    ]
    assert all(f'href="{PRICING}' in line for line in clicks)  # the clicked URL is a link
    assert body.count("email_open") == 2


def test_a_task_is_made_once_even_when_the_lead_crosses_each_threshold_in_its_own_cycle(
    sandbox, engine, hubspot, mailchimp
):
    """Each pricing click in its own cycle: hot at the second (task), SQL at the third (no second task:
    the two-week cooldown), and re-running cycles changes nothing."""
    lead = make_lead(sandbox, hubspot, mailchimp, "ivan.step@midsize-analytics.example", firstname="Ivan")
    email = lead["email"]
    engine.advance_to(THU + 16 * HOUR_MS)
    product = _campaign_at(engine, THU + 15 * HOUR_MS)["id"]
    seen = []
    for k, when in enumerate((THU + 17 * HOUR_MS, FRI + 10 * HOUR_MS, FRI + 15 * HOUR_MS)):
        events = [
            {
                "email": email,
                "action": "click",
                "campaign_id": product,
                "url": PRICING,
                "timestamp": iso(when - HOUR_MS),
            }
        ]
        if k == 0:
            events.append(
                {"email": email, "action": "open", "campaign_id": product, "timestamp": iso(when - 2 * HOUR_MS)}
            )
        _at(engine, when, *events)
        state = engine.state()
        props = engine.contact(lead["id"], state)["properties"]
        seen.append((props["syncd_segment"], props["lifecyclestage"], len(engine.tasks_for(lead["id"], state))))
    # 25 + 5 + 20 = 50 (warm, MQL); + 20 = 70 (hot: task); + 20 = 90 (SQL: cooldown, no second task)
    assert seen == [
        ("warm", "marketingqualifiedlead", 0),
        ("hot", "marketingqualifiedlead", 1),
        ("hot", "salesqualifiedlead", 1),
    ]
    _at(engine, FRI + 20 * HOUR_MS)
    assert len(engine.tasks_for(lead["id"])) == 1
    task_body = engine.tasks_for(lead["id"])[0]["properties"]["hs_task_body"]
    assert task_body.count("pricing_click") == 2


# -- 2. the same lead silent for 60 days ---------------------------------------------------------


def test_hot_lead_silent_for_60_days_decays_to_cold_without_task_or_demotion(sandbox, engine, hubspot, mailchimp):
    lead = make_lead(sandbox, hubspot, mailchimp, "vera.pilot@midsize-analytics.example")
    _hot_week(engine, lead)
    assert len(engine.tasks_for(lead["id"])) == 1
    start = engine.now()
    segments, tag_history = [], []
    for _ in range(12):  # 60 days in 5-day steps, a cycle after each
        engine.advance(5)
        engine.cycle()
        state = engine.state()
        props = engine.contact(lead["id"], state)["properties"]
        segments.append(props["syncd_segment"])
        tags = tags_of(engine.member(lead["email"], state))
        tag_history.append(sorted(tg for tg in tags if tg.startswith("segment:")))
        assert props["lifecyclestage"] == "salesqualifiedlead"  # never moved back
        assert len(engine.tasks_for(lead["id"], state)) == 1  # no new task
    assert engine.now() - start >= 60 * DAY_MS
    assert segments[-1] == "cold", segments
    # hot, then the win-back segment after three silent weeks, then back to its band
    assert segments[0] == "hot" and "reengage" in segments, segments
    assert tag_history[0] == ["segment:hot"] and tag_history[-1] == ["segment:cold"], tag_history
    assert all(len(tags) == 1 for tags in tag_history)  # one segment tag at a time
    state = engine.state()
    props = engine.contact(lead["id"], state)["properties"]
    assert int(props["syncd_score"]) <= 30 and props["syncd_cadence"] in ("monthly", "quarterly")
    tags = tags_of(engine.member(lead["email"], state))
    assert "stage:sql" in tags and f"cadence:{props['syncd_cadence']}" in tags and "cadence:weekly" not in tags


# -- 3. an unsubscribe -----------------------------------------------------------------------------


def test_unsubscribe_costs_points_creates_no_task_and_is_never_undone(sandbox, engine, hubspot, mailchimp, tmp_path):
    lead = make_lead(
        sandbox, hubspot, mailchimp, "una.sub@midsize-analytics.example", firstname="Una", industry="software"
    )  # fit 30: VP 15 + size 10 + industry 5
    email = lead["email"]
    engine.advance_to(TUE + 16 * HOUR_MS)
    newsletter = _campaign_at(engine, TUE + 15 * HOUR_MS)["id"]
    _at(
        engine,
        TUE + 17 * HOUR_MS,
        {"email": email, "action": "open", "campaign_id": newsletter, "timestamp": iso(TUE + 15 * HOUR_MS + 60_000)},
        {
            "email": email,
            "action": "unsubscribe",
            "campaign_id": newsletter,
            "timestamp": iso(TUE + 15 * HOUR_MS + 120_000),
        },
    )
    state = engine.state()
    assert engine.member(email, state)["status"] == "unsubscribed"
    assert engine.tasks_for(lead["id"], state) == []
    props = engine.contact(lead["id"], state)["properties"]
    assert props["syncd_email_status"] == "unsubscribed"
    # fit 30 + open 5 - unsubscribe 40: below the lowest band, which it counts as
    assert props["syncd_segment"] == "cold" and int(props["syncd_score"]) == -5

    result = explain(engine.settings, email, clock=sandbox.world.clock.now_ms, store=engine.ctx.store)
    negative = [e for e in result["json"]["ledger"] if e["rule"] == "unsubscribed"]
    assert len(negative) == 1 and negative[0]["points"] == -40 and negative[0]["kind"] == "negative"
    assert "unsubscribed" in result["table"] and "-40.00" in result["table"]

    # the lead keeps engaging on the CRM side: three forms, then a demo request
    for k, form in enumerate(("Contact us", "Whitepaper", "Pricing sheet")):
        _at(
            engine,
            THU + (k + 1) * HOUR_MS,
            {"email": email, "action": "form_submission", "form": form, "timestamp": iso(THU + k * HOUR_MS)},
        )
        assert engine.member(email)["status"] == "unsubscribed"
    _at(
        engine,
        FRI + 10 * HOUR_MS,
        {"email": email, "action": "form_submission", "form": "Demo request", "timestamp": iso(FRI + 9 * HOUR_MS)},
    )
    for _ in range(2):
        engine.advance(1)
        engine.cycle()
    state = engine.state()
    member = engine.member(email, state)
    assert member["status"] == "unsubscribed"  # never resubscribed (invariant 1)
    props = engine.contact(lead["id"], state)["properties"]
    assert props["syncd_email_status"] == "unsubscribed"
    # nothing syncd queued for this member could have changed its status
    for row in engine.outbox(f"mailchimp:member:{lead['hash']}"):
        assert "status" not in row.payload and row.kind != "mailchimp.subscribe", row
    # An unsubscribe withdraws consent to marketing email, not interest in buying: a demo request after
    # it is a sales signal, so the hand-off task is right here; the email side stays closed.
    result = explain(engine.settings, email, clock=sandbox.world.clock.now_ms, store=engine.ctx.store)
    assert [e["points"] for e in result["json"]["ledger"] if e["rule"] == "unsubscribed"] == [-40]
    assert result["json"]["segment"] == "hot"
    tasks = engine.tasks_for(lead["id"], state)
    assert len(tasks) == 1 and "demo_request" in tasks[0]["properties"]["hs_task_body"]
    assert "unsubscribed" in tasks[0]["properties"]["hs_task_body"]  # the penalty is shown to sales


# -- 4. a broken scoring.yaml is refused at start -----------------------------------------------------

BROKEN = {
    "kind: open\n    points: 5": "kind: opened\n    points: 5",  # unknown kind
    "{name: warm, min: 31, max: 60, cadence: biweekly}": "{name: warm, min: 25, max: 60, cadence: biweekly}",
    "half_life_days: 21": "half_life_days: -21",
}


def test_broken_scoring_file_is_refused_with_file_line_and_nothing_is_pushed(tmp_path):
    text = (ROOT / "config/scoring.yaml").read_text()
    for good, bad in BROKEN.items():
        assert text.count(good) == 1, good
        text = text.replace(good, bad)
    broken = tmp_path / "scoring.yaml"
    broken.write_text(text)
    with SandboxServer(SandboxConfig(contacts=30, seed=9, start_ms=MONDAY)) as sb:
        env = subprocess_env(sb, tmp_path)
        Path(env["SYNCD_CONFIG"]).write_text(
            f"paths: {{mappings: {ROOT / 'mappings/default.yaml'}, scoring: {broken}}}\n"
        )
        proc = subprocess.run(SYNCD + ["once"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        stats = requests.get(f"{sb.url}/_sandbox/stats", timeout=10).json()
    assert proc.returncode != 0
    assert proc.stdout == ""
    problems = [line for line in proc.stderr.splitlines() if f"{broken}:" in line]
    assert len(problems) == 3, proc.stderr
    by_line = {int(p.split(f"{broken}:")[1].split(":")[0]): p for p in problems}
    kind_line = text.splitlines().index("    kind: opened") + 1
    band_line = next(i for i, s in enumerate(text.splitlines(), 1) if "min: 25, max: 60" in s)
    decay_line = next(i for i, s in enumerate(text.splitlines(), 1) if "half_life_days: -21" in s)
    assert sorted(by_line) == sorted([kind_line, band_line, decay_line]), problems
    assert "behaviour[0].kind" in by_line[kind_line] and "'click'" in by_line[kind_line]
    assert "overlap" in by_line[band_line].lower()
    assert "half_life" in by_line[decay_line]
    assert "Traceback" not in proc.stderr
    assert stats["total"] == 0  # refused before any API call: nothing pushed


def test_broken_scoring_file_problems_are_one_per_line_on_stderr(tmp_path):
    """The message format itself: every problem on its own `file:line: reason` line, nothing else noisy."""
    text = (ROOT / "config/scoring.yaml").read_text()
    for good, bad in BROKEN.items():
        text = text.replace(good, bad)
    broken = tmp_path / "scoring.yaml"
    broken.write_text(text)
    cfg = tmp_path / "syncd.yaml"
    cfg.write_text(f"paths: {{mappings: {ROOT / 'mappings/default.yaml'}, scoring: {broken}}}\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "SYNCD_CONFIG": str(cfg),
        "SYNCD_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        "HUBSPOT_ACCESS_TOKEN": "pat-unused",
        "HUBSPOT_BASE_URL": "http://127.0.0.1:9",
        "MAILCHIMP_API_KEY": "0123abcd-us1",
        "MAILCHIMP_BASE_URL": "http://127.0.0.1:9/3.0",
        "MAILCHIMP_LIST_ID": "x",
        "SYNCD_HTTP_PORT": "0",
    }
    proc = subprocess.run(SYNCD + ["once", "--json"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    lines = [line.removeprefix("syncd once: ") for line in proc.stderr.strip().splitlines()]
    assert len(lines) == 3, proc.stderr
    assert all(line.startswith(f"{broken}:") and line.split(":")[1].isdigit() for line in lines), lines
    assert "pat-unused" not in proc.stderr and "0123abcd" not in proc.stderr
