"""The scoring engine with the shipped rules: the issue's scenario, caps, specificity, fit, decay, replay."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from syncd.domain import scoring, segments
from syncd.domain.models import ContactView, EngagementEvent, SegmentState
from syncd.rules import load_default_rules, parse_rules

RULES = load_default_rules()
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday
EMAIL = "jane.doe@acme.example"
PRICING = "https://acme.example/pricing"


def vp_contact(stage: str = "subscriber", **extra: str) -> ContactView:
    props = {
        "firstname": "Jane",
        "lastname": "Doe",
        "jobtitle": "VP Marketing",
        "company": "Acme",
        "numemployees": "200",
        "industry": "retail",
        "lifecyclestage": stage,
        "createdate": "2025-01-10T00:00:00Z",
        **extra,
    }
    return ContactView(email=EMAIL, properties=props, hubspot_id="100001", owner_id="5001")


def ev(
    event_id: str,
    kind: str,
    at: datetime,
    campaign: str | None = "c1",
    url: str | None = None,
    bounce_type: str | None = None,
    source: str = "mailchimp",
) -> EngagementEvent:
    return EngagementEvent(
        source=source,
        event_id=event_id,
        email=EMAIL,
        kind=kind,
        occurred_at=at,
        campaign_id=campaign,
        url=url,
        bounce_type=bounce_type,
    )


def scenario_week() -> list[EngagementEvent]:
    """Two opens and three pricing clicks within a week."""
    return [
        ev("o1", "open", T0, "c1"),
        ev("o2", "open", T0 + timedelta(days=2), "c2"),
        ev("k1", "click", T0 + timedelta(days=2, hours=1), "c2", PRICING),
        ev("k2", "click", T0 + timedelta(days=4), "c2", PRICING),
        ev("k3", "click", T0 + timedelta(days=6), "c3", PRICING + "?utm=mail"),
    ]


def test_vp_who_clicks_pricing_goes_hot_then_sql_through_mql():
    events = scenario_week()
    contact, state, stages, segs = vp_contact(), None, [], []
    for i, event in enumerate(events, start=1):
        now = event.occurred_at + timedelta(minutes=5)
        result = scoring.score(RULES, contact, events[:i], now, state)
        state = segments.next_state(RULES, state, result, now)
        contact = vp_contact(stage=result.lifecycle_target or "")  # what the engine would write
        stages.append(result.lifecycle_target)
        segs.append(result.segment)
    assert stages == ["lead", "lead", "marketingqualifiedlead", "marketingqualifiedlead", "salesqualifiedlead"]
    assert segs[-1] == "hot" and segs[0] == "cold"
    assert result.score >= 80 and "lifecycle:salesqualifiedlead" in result.triggers
    assert result.fit_score == 25  # senior title 15 + company size 10 (200 staff)
    rules_hit = [e.rule for e in result.ledger]
    assert rules_hit.count("pricing_click") == 3 and "email_click" not in rules_hit


def test_same_lead_sixty_days_later_decays_to_cold_but_stage_never_goes_back():
    events = scenario_week()
    week_end = T0 + timedelta(days=6, minutes=5)
    hot = scoring.score(RULES, vp_contact(), events, week_end, None)
    assert hot.segment == "hot" and hot.lifecycle_target == "salesqualifiedlead"
    state = segments.next_state(RULES, None, hot, week_end)

    later = week_end + timedelta(days=60)
    cold = scoring.score(RULES, vp_contact(stage="salesqualifiedlead"), events, later, state)
    assert cold.segment == "cold" and cold.segment_changed
    assert cold.score <= 30
    assert cold.lifecycle_target == "salesqualifiedlead"
    assert not any(t.startswith("lifecycle:") for t in cold.triggers)
    decayed = [e for e in cold.ledger if e.rule == "pricing_click"]
    assert all(0 < e.points_after_decay < e.points * 0.15 for e in decayed)
    assert any(e.rule == "silent_30_days" for e in cold.ledger)


def test_unsubscribe_gives_negative_points():
    events = scenario_week()
    now = T0 + timedelta(days=8)
    before = scoring.score(RULES, vp_contact(), events, now)
    unsub = ev("u1", "unsubscribe", T0 + timedelta(days=7), "c3")
    after = scoring.score(RULES, vp_contact(), [*events, unsub], now)
    line = next(e for e in after.ledger if e.event_id == "u1")
    assert (line.rule, line.kind, line.points, line.points_after_decay) == ("unsubscribed", "negative", -40, -40)
    assert after.score == before.score - 40


def test_open_counts_once_per_campaign():
    opens = [ev(f"o{i}", "open", T0 + timedelta(hours=i), "c1") for i in range(4)]
    result = scoring.score(RULES, vp_contact(), opens, T0 + timedelta(hours=4))
    lines = [e for e in result.ledger if e.rule == "email_open"]
    assert len(lines) == 4
    assert sum(1 for e in lines if e.points_after_decay > 0) == 1
    kept = max(lines, key=lambda e: e.points_after_decay)
    assert kept.event_id == "o3"  # the freshest open is kept: it is worth the most
    assert all("over cap" in e.detail for e in lines if e.points_after_decay == 0)


def test_pricing_clicks_capped_per_week():
    clicks = [ev(f"k{i}", "click", T0 + timedelta(hours=i), f"c{i}", PRICING) for i in range(5)]
    nxt = ev("k9", "click", T0 + timedelta(days=7, hours=1), "c9", PRICING)  # the next ISO week
    result = scoring.score(RULES, vp_contact(), [*clicks, nxt], T0 + timedelta(days=8))
    counted = [e.event_id for e in result.ledger if e.rule == "pricing_click" and e.points_after_decay > 0]
    assert counted == ["k2", "k3", "k4", "k9"]


def test_most_specific_rule_wins_for_clicks_and_bounces():
    at = T0 + timedelta(days=1)
    events = [
        ev("k1", "click", T0, "c1", "https://acme.example/careers/open-roles"),
        ev("k2", "click", T0, "c1", "https://acme.example/blog/post"),
        ev("b1", "bounce", T0, "c2", bounce_type="hard"),
        ev("b2", "bounce", T0, "c3", bounce_type="soft"),
    ]
    result = scoring.score(RULES, vp_contact(), events, at)
    by_event = {e.event_id: e.rule for e in result.ledger if e.event_id}
    assert by_event == {"k1": "careers_click", "k2": "email_click", "b1": "hard_bounce"}


def test_fit_rules_pattern_range_in_and_missing_values():
    contact = ContactView(
        EMAIL,
        {"jobtitle": "Marketing Intern", "numemployees": "100-500", "industry": "Software", "country": None},
        None,
        None,
    )
    result = scoring.score(RULES, contact, [], T0)
    fit = {e.rule: e.points for e in result.ledger if e.kind == "fit"}
    assert fit == {"student_or_intern": -15, "company_size_fit": 10, "target_industry": 5}
    assert result.fit_score == 0
    nothing = scoring.score(RULES, ContactView(EMAIL, {}, None, None), [], T0)
    assert nothing.ledger == () and nothing.score == 0 and nothing.lifecycle_target is None


def test_negated_fit_rule_and_number_parsing():
    text = _default_text().replace(
        "fit:\n",
        "fit:\n  - name: outside_territory\n    property: country\n    in: [France, Germany]\n"
        "    negate: true\n    points: -10\n",
        1,
    )
    rules = parse_rules(text)
    far = scoring.score(rules, ContactView(EMAIL, {"country": "Peru"}, None, None), [], T0)
    near = scoring.score(rules, ContactView(EMAIL, {"country": "france"}, None, None), [], T0)
    assert far.fit_score == -10 and near.fit_score == 0
    assert [scoring.parse_number(v) for v in ("1,000", "1000+", "25-50", "n/a", "")] == [1000, 1000, 25, None, None]


def test_inactivity_counts_from_creation_when_never_engaged():
    contact = vp_contact(createdate="2025-01-01T00:00:00Z")
    result = scoring.score(RULES, contact, [], datetime(2025, 4, 15, tzinfo=UTC))  # 104 days later
    assert {e.rule for e in result.ledger if e.kind == "negative"} == {"silent_30_days", "silent_90_days"}
    epoch_ms = vp_contact(createdate=str(int(datetime(2025, 4, 1, tzinfo=UTC).timestamp() * 1000)))
    fresh = scoring.score(RULES, epoch_ms, [], datetime(2025, 4, 15, tzinfo=UTC))
    assert not [e for e in fresh.ledger if e.kind == "negative"]


def test_replay_in_any_order_with_duplicates_gives_the_same_result():
    events = [
        *scenario_week(),
        ev("u1", "unsubscribe", T0 + timedelta(days=5), "c2"),
        ev("x1", "click", T0 + timedelta(days=3), "c2", "https://acme.example/jobs"),
    ]
    now = T0 + timedelta(days=9)
    state = SegmentState("warm", T0, was_engaged=True)
    expected = scoring.score(RULES, vp_contact(), events, now, state)
    rng = random.Random(4)
    for _ in range(20):
        shuffled = events + rng.sample(events, 3)  # redelivered events are stored once
        rng.shuffle(shuffled)
        assert scoring.score(RULES, vp_contact(), shuffled, now, state) == expected


def test_events_after_now_are_not_counted_yet():
    events = scenario_week()
    mid = T0 + timedelta(days=3)
    assert scoring.score(RULES, vp_contact(), events, mid) == scoring.score(
        RULES, vp_contact(), [e for e in events if e.occurred_at <= mid], mid
    )


def test_linear_decay_keeps_points_then_fades_to_zero():
    text = _default_text().replace(
        "  mode: half_life\n  half_life_days: 21\n", "  mode: linear\n  full_days: 10\n  fade_days: 20\n"
    )
    rules = parse_rules(text)
    assert [scoring.decay_factor(rules, d) for d in (0, 10, 20, 30, 45)] == [1.0, 1.0, 0.5, 0.0, 0.0]
    click = [ev("k1", "click", T0, "c1", "https://acme.example/blog")]
    assert scoring.score(rules, ContactView(EMAIL, {}, None, None), click, T0 + timedelta(days=20)).score == 5


def test_half_life_halves_points():
    assert scoring.decay_factor(RULES, 21) == pytest.approx(0.5)
    assert scoring.decay_factor(RULES, 42) == pytest.approx(0.25)
    assert scoring.decay_factor(RULES, -3) == 1.0


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="naive"):
        scoring.score(RULES, vp_contact(), [], datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        scoring.score(RULES, vp_contact(), [ev("o", "open", datetime(2025, 1, 1))], T0)


def test_property_changes_become_form_demo_and_webinar_events():
    old = {"num_conversion_events": "1", "recent_conversion_event_name": "Ebook"}
    new = {
        "num_conversion_events": "3",
        "recent_conversion_event_name": "Book a demo",
        "last_webinar_attended": "Scoring 101",
    }
    events = scoring.events_from_property_change(RULES, EMAIL, "100001", old, new, T0)
    assert [(e.kind, e.event_id, e.detail) for e in events] == [
        ("form_submission", "100001:conversion:2", None),
        ("demo_request", "100001:conversion:3", "Book a demo"),
        ("webinar", "100001:webinar:Scoring 101", "Scoring 101"),
    ]
    assert scoring.events_from_property_change(RULES, EMAIL, "100001", new, new, T0) == ()
    result = scoring.score(RULES, vp_contact(), events, T0)
    assert {e.rule for e in result.ledger if e.kind == "behaviour"} == {
        "form_submission",
        "demo_request",
        "webinar_attended",
    }
    assert result.lifecycle_target == "salesqualifiedlead"  # a demo request with a good fit: SQL


def test_rounding_is_half_up():
    assert [scoring.round_half_up(x) for x in (30.5, 30.49, -0.5, 2.5)] == [31, 30, -1, 3]


def _default_text() -> str:
    from syncd.rules import DEFAULT_RULES_PATH

    return DEFAULT_RULES_PATH.read_text(encoding="utf-8")
