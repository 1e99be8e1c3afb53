"""Why a lead is in its segment, in words: its band, the hysteresis holding it in a higher one (with the
real rules of config/scoring.yaml: hot from 61, out below 56 after 3 days), or re-engagement; and a
property test that the sentence says "still" exactly when segments.assign keeps the lead above its band."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from syncd.domain import segments
from syncd.domain.explain import segment_reason
from syncd.domain.models import SegmentState
from syncd.rules import load_default_rules

RULES = load_default_rules()
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_the_default_rules_are_the_ones_these_sentences_assume():
    hot = RULES.segments.band_named("hot")
    assert hot is not None and hot.min == 61
    assert (RULES.segments.hysteresis.margin, RULES.segments.hysteresis.min_dwell_days) == (5, 3)


def test_a_score_under_the_floor_held_by_hysteresis():
    since = NOW - timedelta(days=10)
    text = segment_reason(RULES, 59, "hot", since, NOW, entry_score=64)
    assert text == (
        "59 and still hot: it entered hot at 64 on 2026-11-27 and stays until it falls below 56 "
        "(5 under hot's floor of 61, against flapping)"
    )


def test_held_and_still_within_the_minimum_stay():
    since = NOW - timedelta(days=1)
    text = segment_reason(RULES, 58, "hot", since, NOW, entry_score=66)
    assert text.startswith("58 and still hot: it entered hot at 66 on 2026-12-06 and stays until it falls below 56")
    assert text.endswith("and not before 2026-12-09 10:00 (3 days in it)")


def test_below_the_exit_line_but_not_long_enough_in_the_segment():
    since = NOW - timedelta(days=2)
    text = segment_reason(RULES, 40, "hot", since, NOW, entry_score=62)
    assert text == (
        "40 and still hot: it entered hot at 62 on 2026-12-05; a lead leaves a segment only after 3 days in it, "
        "so it stays until 2026-12-08 10:00, then moves to warm unless its score is back at 56 or more"
    )


def test_an_entry_score_outside_the_band_is_not_quoted():
    # recomputed today with today's properties, the entry score can come out below the band: left unsaid
    text = segment_reason(RULES, 59, "hot", NOW - timedelta(days=9), NOW, entry_score=57)
    assert text.startswith("59 and still hot: it entered hot on 2026-11-28 and stays")


def test_a_score_in_its_own_band():
    text = segment_reason(RULES, 72, "hot", NOW - timedelta(days=4), NOW, entry_score=64)
    assert text == "score 72 is in hot's band (61 and up) (in hot since 2026-12-03, at 64)"
    assert segment_reason(RULES, 40, "warm", None, NOW) == "score 40 is in warm's band (31 to 60)"


def test_reengagement_says_since_when_and_until_when():
    engaged = NOW - timedelta(days=25)
    text = segment_reason(RULES, 20, "reengage", NOW - timedelta(days=4), NOW, 20, last_engaged_at=engaged)
    assert text == (
        "once warm or hot, silent since 2026-11-12 (21 days or more) (in reengage since 2026-12-03); "
        "back to its score's band (cold) from 2027-01-02 unless it engages again"  # 21 + 30 days after
    )


@given(
    score=st.integers(min_value=-40, max_value=120),
    previous=st.sampled_from(["cold", "warm", "hot"]),
    days_in=st.floats(min_value=0, max_value=10),
)
def test_still_is_said_exactly_when_hysteresis_keeps_the_lead_up(score, previous, days_in):
    since = NOW - timedelta(days=days_in)
    segment, _ = segments.assign(RULES, score, SegmentState(previous, since), NOW, None)
    text = segment_reason(RULES, score, segment, since, NOW)
    held = RULES.segments.bands.index(segments.band_of(RULES, score)) < RULES.segments.bands.index(
        RULES.segments.band_named(segment)
    )
    assert text.startswith(f"{score} and still {segment}:") == held
