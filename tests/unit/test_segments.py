"""Segments: bands, hysteresis (margin + dwell), re-engagement, and the state kept between scorings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.domain import scoring, segments
from syncd.domain.models import ContactView, EngagementEvent, ScoreResult, SegmentState
from syncd.rules import load_default_rules

RULES = load_default_rules()  # cold 0-30, warm 31-60, hot 61+; margin 5, dwell 3 days
T0 = datetime(2025, 5, 5, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def state(segment: str, since: datetime | None = T0, engaged: bool = False) -> SegmentState:
    return SegmentState(segment=segment, since=since, was_engaged=engaged)


def test_band_of_covers_every_score():
    names = {s: segments.band_of(RULES, s).name for s in (-50, 0, 30, 31, 60, 61, 500)}
    assert names == {-50: "cold", 0: "cold", 30: "cold", 31: "warm", 60: "warm", 61: "hot", 500: "hot"}


def test_new_lead_takes_its_band_and_counts_as_changed():
    assert segments.assign(RULES, 45, None, T0, None) == ("warm", True)


def test_moving_up_is_immediate_even_inside_the_dwell():
    assert segments.assign(RULES, 61, state("warm", since=T0), T0 + timedelta(hours=1), T0) == ("hot", True)


def test_moving_down_needs_the_margin():
    later = T0 + 10 * DAY
    assert segments.assign(RULES, 56, state("hot"), later, later) == ("hot", False)  # 61 - 5 = 56 holds
    assert segments.assign(RULES, 55, state("hot"), later, later) == ("warm", True)
    assert segments.assign(RULES, 12, state("hot"), later, later) == ("cold", True)  # can skip a band


def test_moving_down_needs_the_dwell():
    assert segments.assign(RULES, 20, state("hot"), T0 + 2 * DAY, T0) == ("hot", False)
    assert segments.assign(RULES, 20, state("hot"), T0 + 3 * DAY, T0) == ("cold", True)


def test_reengagement_for_engaged_leads_gone_silent_then_back_to_band():
    last = T0
    prev = state("warm", since=T0 - 30 * DAY, engaged=True)
    assert segments.assign(RULES, 20, prev, last + 20 * DAY, last) == ("cold", True)
    assert segments.assign(RULES, 20, prev, last + 21 * DAY, last) == ("reengage", True)
    inside = state("reengage", since=last + 21 * DAY, engaged=True)
    assert segments.assign(RULES, 20, inside, last + 50 * DAY, last) == ("reengage", False)
    assert segments.assign(RULES, 20, inside, last + 51 * DAY, last) == ("cold", True)
    never_engaged = state("cold", since=T0 - 30 * DAY)
    assert segments.assign(RULES, 20, never_engaged, last + 25 * DAY, last) == ("cold", False)


def test_reengagement_through_full_scoring():
    contact = ContactView("a@b.example", {"jobtitle": "Director of Sales", "lifecyclestage": "lead"}, None, None)
    click = EngagementEvent("mailchimp", "k1", "a@b.example", "click", T0, "c1", "https://x.example/pricing")
    prev = state("warm", since=T0, engaged=True)
    result = scoring.score(RULES, contact, [click], T0 + 25 * DAY, prev)
    assert (result.segment, result.cadence, result.triggers) == ("reengage", "biweekly", ("segment:reengage",))


def test_next_state_tracks_since_engagement_and_tasks():
    def result(segment: str, changed: bool) -> ScoreResult:
        return ScoreResult(
            score=0,
            fit_score=0,
            engagement_score=0,
            ledger=(),
            segment=segment,
            segment_changed=changed,
            lifecycle_target=None,
            cadence="monthly",
            open_rate=None,
        )

    first = segments.next_state(RULES, None, result("cold", True), T0)
    assert first == SegmentState("cold", T0, was_engaged=False, last_hot_task_at=None)
    hot = segments.next_state(RULES, first, result("hot", True), T0 + DAY, hot_task_created=True)
    assert hot == SegmentState("hot", T0 + DAY, was_engaged=True, last_hot_task_at=T0 + DAY)
    still = segments.next_state(RULES, hot, result("hot", False), T0 + 2 * DAY)
    assert still.since == T0 + DAY and still.last_hot_task_at == T0 + DAY
    cold = segments.next_state(RULES, still, result("cold", True), T0 + 9 * DAY)
    assert cold.was_engaged and cold.since == T0 + 9 * DAY


@settings(max_examples=200, deadline=None)
@given(
    edge=st.sampled_from([31, 61]),
    start=st.integers(min_value=-5, max_value=5),
    wiggles=st.lists(st.integers(min_value=-5, max_value=5), min_size=2, max_size=60),
    step_hours=st.integers(min_value=1, max_value=24 * 10),
)
def test_oscillating_near_a_band_edge_does_not_flap(edge, start, wiggles, step_hours):
    """Scores wandering within the hysteresis margin around an edge change segment at most once."""
    margin = RULES.segments.hysteresis.margin
    assert margin >= 5
    now, prev, changes = T0, None, 0
    for offset in [start, *wiggles]:
        segment, changed = segments.assign(RULES, edge + offset, prev, now, now)
        if prev is not None and changed:
            changes += 1
        prev = SegmentState(segment, now if changed else prev.since, was_engaged=True)
        now += timedelta(hours=step_hours)
    assert changes <= 1
