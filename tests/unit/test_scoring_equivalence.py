"""The fast scoring path (precompiled, memoized rule matching; caps without re-sorting by the full event key)
gives exactly what the implementation before it gave: the same ScoreResult, ledger line by line, float for
float, for a generated population and for hypothesis' event logs. tests/unit/reference_scoring.py is that
earlier implementation, kept verbatim as the reference."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.domain import scoring
from syncd.domain.models import ContactView, EngagementEvent, SegmentState, Send
from syncd.rules import DEFAULT_RULES_PATH, load_default_rules, parse_rules
from tests.unit import reference_scoring as reference

RULES = load_default_rules()
LINEAR = parse_rules(
    DEFAULT_RULES_PATH.read_text(encoding="utf-8").replace(
        "  mode: half_life\n  half_life_days: 21\n", "  mode: linear\n  full_days: 14\n  fade_days: 45\n"
    )
)
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
URLS = [
    "https://x.example/pricing",
    "https://x.example/PRICING?utm=1",
    "https://x.example/demo",
    "https://x.example/book-a-demo",
    "https://x.example/case-studies/acme",
    "https://x.example/careers",
    "https://x.example/jobs/42",
    "https://x.example/blog/a",
    "",
    None,
]
KINDS = [
    "open",
    "open",
    "open",
    "click",
    "click",
    "bounce",
    "unsubscribe",
    "form_submission",
    "demo_request",
    "webinar",
]
ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))]
JOBS = ["VP Sales", "Marketing Manager", "Student", "Head of Growth", "", "Engineer"]
SIZES = ["80", "100-500", "1,000", "5000+", "", "lots"]
INDUSTRIES = ["Software", "internet", "retail", ""]


def _lead(rnd: random.Random, i: int) -> tuple[ContactView, list[EngagementEvent], SegmentState | None, list[Send]]:
    email = f"lead{i}@example.com"
    contact = ContactView(
        email,
        {
            "jobtitle": rnd.choice(JOBS),
            "numemployees": rnd.choice(SIZES),
            "industry": rnd.choice(INDUSTRIES),
            "createdate": rnd.choice(["2025-06-01T00:00:00Z", "1735689600000", "", None]),
            "lifecyclestage": rnd.choice(["subscriber", "lead", "marketingqualifiedlead", None]),
        },
        str(i),
        None,
    )
    events = []
    for k in range(rnd.randint(0, 60)):
        kind = rnd.choice(KINDS)
        seconds = rnd.choice([rnd.randint(-3 * 86_400, 200 * 86_400), 86_400 * rnd.randint(0, 20)])  # ties too
        events.append(
            EngagementEvent(
                source=rnd.choice(["mailchimp", "mailchimp", "hubspot"]),
                event_id=f"e{rnd.randint(0, k)}",  # duplicates
                email=email,
                kind=kind,
                occurred_at=(NOW - timedelta(seconds=seconds)).astimezone(rnd.choice(ZONES)),
                campaign_id=rnd.choice(["c1", "c2", "c3", "c4", None]),
                url=rnd.choice(URLS) if kind == "click" else None,
                bounce_type=rnd.choice(["hard", "soft", "HARD", None]) if kind == "bounce" else None,
                detail=rnd.choice([None, "Ebook", "Request a demo"]),
            )
        )
    previous = rnd.choice(
        [
            None,
            SegmentState("hot", NOW - timedelta(days=rnd.randint(0, 10)), True, None),
            SegmentState("warm", NOW - timedelta(days=40), True, NOW - timedelta(days=3)),
            SegmentState("cold", None, False, None),
            SegmentState("reengage", NOW - timedelta(days=5), True, None),
        ]
    )
    sends = [Send(f"c{c}", NOW - timedelta(days=7 * c)) for c in range(1, rnd.randint(1, 7))]
    return contact, events, previous, sends


def test_a_generated_population_scores_exactly_as_before():
    rnd = random.Random(20260101)
    for i in range(1500):
        contact, events, previous, sends = _lead(rnd, i)
        rules = LINEAR if i % 4 == 0 else RULES
        now = NOW + timedelta(hours=rnd.randint(0, 72))
        fast = scoring.score(rules, contact, events, now, previous, sends)
        rnd.shuffle(events)
        slow = reference.score(rules, contact, events, now, previous, sends)
        assert fast == slow, f"lead {i}"


@st.composite
def event(draw: st.DrawFn, event_id: str) -> EngagementEvent:
    kind = draw(st.sampled_from(KINDS))
    return EngagementEvent(
        source=draw(st.sampled_from(["mailchimp", "hubspot"])),
        event_id=draw(st.sampled_from([event_id, "dup"])),
        email="a@example.com",
        kind=kind,
        occurred_at=NOW - timedelta(days=draw(st.floats(min_value=-2, max_value=120))),
        campaign_id=draw(st.sampled_from(["c1", "c2", None])),
        url=draw(st.sampled_from(URLS)) if kind == "click" else None,
        bounce_type=draw(st.sampled_from(["hard", "soft", None])) if kind == "bounce" else None,
    )


@settings(max_examples=200, deadline=None)
@given(
    log=st.integers(min_value=0, max_value=30).flatmap(lambda n: st.tuples(*[event(f"e{i}") for i in range(n)])),
    linear=st.booleans(),
)
def test_any_event_log_scores_exactly_as_before(log, linear):
    rules = LINEAR if linear else RULES
    contact = ContactView("a@example.com", {"jobtitle": "VP Marketing", "numemployees": "200"}, "1", None)
    assert scoring.score(rules, contact, list(log), NOW) == reference.score(rules, contact, list(log), NOW)
