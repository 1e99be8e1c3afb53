"""Property-based tests of the scoring core (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.domain import scoring
from syncd.domain.models import ContactView, EngagementEvent
from syncd.rules import DEFAULT_RULES_PATH, load_default_rules, parse_rules

RULES = load_default_rules()
LINEAR = parse_rules(
    DEFAULT_RULES_PATH.read_text(encoding="utf-8").replace(
        "  mode: half_life\n  half_life_days: 21\n", "  mode: linear\n  full_days: 14\n  fade_days: 45\n"
    )
)
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
EMAIL = "lead@example.com"
CONTACT = ContactView(
    EMAIL, {"jobtitle": "Head of Growth", "numemployees": "80", "createdate": "2024-11-01T00:00:00Z"}, "100007", None
)

POSITIVE_URLS = [
    "https://x.example/pricing",
    "https://x.example/demo",
    "https://x.example/blog/a",
    "https://x.example/case-studies/acme",
    None,
]
NEGATIVE_URLS = ["https://x.example/careers", "https://x.example/jobs/42"]
ages = st.floats(min_value=0, max_value=300, allow_nan=False)  # some before the contact was created


@st.composite
def positive_event(draw: st.DrawFn, event_id: str) -> EngagementEvent:
    kind = draw(st.sampled_from(["open", "click", "form_submission", "demo_request", "webinar"]))
    return EngagementEvent(
        source=draw(st.sampled_from(["mailchimp", "hubspot"])),
        event_id=event_id,
        email=EMAIL,
        kind=kind,
        occurred_at=NOW - timedelta(days=draw(ages)),
        campaign_id=draw(st.sampled_from(["c1", "c2", "c3", None])),
        url=draw(st.sampled_from(POSITIVE_URLS)) if kind == "click" else None,
    )


@st.composite
def any_event(draw: st.DrawFn, event_id: str) -> EngagementEvent:
    kind = draw(st.sampled_from(["open", "click", "bounce", "unsubscribe", "form_submission", "webinar"]))
    return EngagementEvent(
        source="mailchimp",
        event_id=event_id,
        email=EMAIL,
        kind=kind,
        occurred_at=NOW - timedelta(days=draw(st.floats(min_value=-5, max_value=200))),
        campaign_id=draw(st.sampled_from(["c1", "c2", None])),
        url=draw(st.sampled_from(POSITIVE_URLS + NEGATIVE_URLS)) if kind == "click" else None,
        bounce_type=draw(st.sampled_from(["hard", "soft"])) if kind == "bounce" else None,
    )


def event_logs(maker: object, max_size: int = 25) -> st.SearchStrategy[list[EngagementEvent]]:
    return st.integers(min_value=0, max_value=max_size).flatmap(
        lambda n: st.tuples(*[maker(f"e{i}") for i in range(n)]).map(list)
    )  # type: ignore[operator]


@settings(max_examples=150, deadline=None)
@given(log=event_logs(any_event), extra=positive_event("extra"), linear=st.booleans())
def test_an_extra_positive_event_never_lowers_the_score(log, extra, linear):
    rules = LINEAR if linear else RULES
    before = scoring.score(rules, CONTACT, log, NOW)
    after = scoring.score(rules, CONTACT, [*log, extra], NOW)
    assert after.fit_score + after.engagement_score >= before.fit_score + before.engagement_score - 1e-9
    assert after.score >= before.score


@settings(max_examples=100, deadline=None)
@given(log=event_logs(any_event), seed=st.randoms(use_true_random=False))
def test_event_order_does_not_matter(log, seed):
    shuffled = list(log)
    seed.shuffle(shuffled)
    assert scoring.score(RULES, CONTACT, shuffled, NOW) == scoring.score(RULES, CONTACT, log, NOW)


@settings(deadline=None)
@given(age=ages, later=st.floats(min_value=0, max_value=100), linear=st.booleans())
def test_decay_stays_within_its_bounds_and_never_grows(age, later, linear):
    rules = LINEAR if linear else RULES
    now_share, later_share = scoring.decay_factor(rules, age), scoring.decay_factor(rules, age + later)
    assert 0.0 <= later_share <= now_share <= 1.0


@settings(max_examples=100, deadline=None)
@given(log=event_logs(positive_event))
def test_behaviour_points_after_decay_lie_between_zero_and_the_rule_points(log):
    result = scoring.score(RULES, CONTACT, log, NOW)
    for line in result.ledger:
        if line.kind == "behaviour":
            assert 0.0 <= line.points_after_decay <= line.points
    # a week later nothing new happened: behaviour can only have faded
    later = scoring.score(RULES, CONTACT, log, NOW + timedelta(days=7))
    behaviour = lambda r: sum(e.points_after_decay for e in r.ledger if e.kind == "behaviour")
    assert behaviour(later) <= behaviour(result) + 1e-9
