"""Cadence per segment with the low-open-rate step down; task due dates and cooldown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncd.domain import cadence, scoring
from syncd.domain.models import ContactView, EngagementEvent, Send
from syncd.rules import load_default_rules

RULES = load_default_rules()  # last 5 sends, 15 %
T0 = datetime(2025, 2, 3, 10, 0, tzinfo=UTC)
EMAIL = "lead@example.com"


def sends(n: int) -> list[Send]:
    return [Send(f"c{i}", T0 + timedelta(days=7 * i)) for i in range(n)]


def opened(*campaigns: str, kind: str = "open") -> list[EngagementEvent]:
    return [
        EngagementEvent(
            "mailchimp",
            f"{kind}-{c}",
            EMAIL,
            kind,
            T0 + timedelta(days=40),
            c,
            "https://x.example/a" if kind == "click" else None,
        )
        for c in campaigns
    ]


def test_open_rate_over_the_last_sends():
    now = T0 + timedelta(days=60)
    assert cadence.open_rate(opened("c0", "c6"), sends(7), now, 5) == (0.2, 5)  # c2..c6: only c6
    assert cadence.open_rate(opened("c6", kind="click"), sends(7), now, 5) == (0.2, 5)  # a click is an open
    assert cadence.open_rate([], [], now, 5) == (None, 0)
    assert cadence.open_rate(opened("c1"), sends(2), now, 5) == (0.5, 2)
    assert cadence.open_rate(opened("c0"), sends(7), T0 + timedelta(days=1), 5) == (0.0, 1)  # future sends


def test_segment_cadence_and_step_down():
    assert cadence.recommend(RULES, "hot", None, 0) == "weekly"
    assert cadence.recommend(RULES, "warm", 0.5, 5) == "biweekly"
    assert cadence.recommend(RULES, "cold", 0.4, 5) == "monthly"
    assert cadence.recommend(RULES, "hot", 0.1, 5) == "biweekly"
    assert cadence.recommend(RULES, "hot", 0.0, 4) == "weekly"  # not enough sends to judge
    assert cadence.recommend(RULES, "cold", 0.0, 5) == "quarterly"
    assert cadence.recommend(RULES, "reengage", 0.0, 5) == "monthly"
    assert cadence.step_down("quarterly") == "quarterly"


def test_score_reports_open_rate_and_stepped_cadence():
    events = [EngagementEvent("mailchimp", "demo", EMAIL, "demo_request", T0 + timedelta(days=59))]
    contact = ContactView(EMAIL, {"jobtitle": "VP Sales", "numemployees": "300"}, None, None)
    result = scoring.score(RULES, contact, events, T0 + timedelta(days=60), None, sends(7))
    assert (result.segment, result.open_rate, result.cadence) == ("hot", 0.0, "biweekly")


@pytest.mark.parametrize(
    ("now", "days", "expected"),
    [
        (datetime(2025, 3, 6, 15, 0, tzinfo=UTC), 1, datetime(2025, 3, 7, 8, 0, tzinfo=UTC)),  # Thu -> Fri 09:00 CET
        (datetime(2025, 3, 7, 15, 0, tzinfo=UTC), 1, datetime(2025, 3, 10, 8, 0, tzinfo=UTC)),  # Fri -> Mon
        (datetime(2025, 3, 8, 11, 0, tzinfo=UTC), 1, datetime(2025, 3, 10, 8, 0, tzinfo=UTC)),  # Sat -> Mon
        (datetime(2025, 3, 28, 12, 0, tzinfo=UTC), 1, datetime(2025, 3, 31, 7, 0, tzinfo=UTC)),  # over DST: CEST
        (datetime(2025, 3, 6, 23, 30, tzinfo=UTC), 1, datetime(2025, 3, 10, 8, 0, tzinfo=UTC)),  # already Fri in Paris
        (datetime(2025, 3, 6, 6, 0, tzinfo=UTC), 0, datetime(2025, 3, 6, 8, 0, tzinfo=UTC)),  # 0: today 09:00
        (datetime(2025, 3, 6, 9, 0, tzinfo=UTC), 0, datetime(2025, 3, 7, 8, 0, tzinfo=UTC)),  # 0: past 09:00
        (datetime(2025, 3, 6, 15, 0, tzinfo=UTC), 3, datetime(2025, 3, 11, 8, 0, tzinfo=UTC)),
    ],
)
def test_due_date_next_business_day_at_nine_local(now, days, expected):
    assert cadence.due_date(now, days, "Europe/Paris") == expected


def test_due_date_other_zone_and_errors():
    ny = cadence.due_date(datetime(2025, 7, 4, 12, 0, tzinfo=UTC), 1, "America/New_York")
    assert ny == datetime(2025, 7, 7, 13, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        cadence.due_date(datetime(2025, 7, 4, 12, 0), 1)
    with pytest.raises(ValueError):
        cadence.due_date(T0, -1)


def test_cooldown():
    assert cadence.cooldown_allows(None, T0, 14)
    assert not cadence.cooldown_allows(T0, T0 + timedelta(days=13, hours=23), 14)
    assert cadence.cooldown_allows(T0, T0 + timedelta(days=14), 14)
    with pytest.raises(ValueError):
        cadence.cooldown_allows(T0, T0, -1)
