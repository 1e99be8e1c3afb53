"""The score stage finds what changed by a count, not by times: in the daemon the pull and score jobs run at
once, and a pull stamps its writes with its tick's time, so a change stamped before a score started can commit
after that score read. Compared by times (created_ms or updated_ms against scored_ms) that change waited for
the next decay rescore, hours later (the latency benchmark saw hot leads without a task). Each test plays
that interleaving on injected clocks; each failed before identities.changes."""

from __future__ import annotations

import sqlalchemy as sa
from test_score_threshold import DAY, EMAIL, NOW, _setup

from syncd import pull
from syncd.decide import score_and_decide
from syncd.store import schema as t

PRICING = "https://www.example-saas.com/pricing"


def _click(event_id: str, occurred: int) -> dict:
    return {
        "event_id": event_id,
        "email": EMAIL,
        "kind": "click",
        "occurred": occurred,
        "campaign_id": "cmp9",
        "url": PRICING,
    }


def _score(ctx) -> float:
    with ctx.store.begin() as conn:
        return conn.execute(sa.select(t.scores.c.score).where(t.scores.c.email == EMAIL)).scalar_one()


def _race(tmp_path, late_write) -> tuple[object, list[int]]:
    """A pull tick's first page (a click) commits; a score job starting 5 s after the tick scores the lead;
    then the tick's next page commits `late_write`, stamped with the tick's time. Returns the context, with
    the clock 10 s after the tick."""
    clock = [NOW]
    _, ctx = _setup(tmp_path, clock)
    assert score_and_decide(ctx) == 1
    assert score_and_decide(ctx) == 0  # nothing changed: nothing scored
    tick = NOW + 60_000
    clock[0] = tick
    with ctx.store.begin() as conn:
        assert pull.store_events(ctx, conn, "mailchimp", [_click("first", tick - 2_000)]) == 1
    clock[0] = tick + 5_000
    assert score_and_decide(ctx) == 1  # the score job, later than the tick, reads the first page only
    clock[0] = tick  # the pull's rows carry its tick
    with ctx.store.begin() as conn:
        late_write(ctx, conn, tick)
    clock[0] = tick + 10_000
    return ctx, clock


def test_an_event_stamped_before_a_score_started_and_committed_after_it_is_scored_next(tmp_path):
    def late_click(ctx, conn, tick):
        assert pull.store_events(ctx, conn, "mailchimp", [_click("late", tick - 1_000)]) == 1

    ctx, _ = _race(tmp_path, late_click)
    mid = _score(ctx)
    assert score_and_decide(ctx) == 1  # by times the click was older than the score, and waited for decay
    assert _score(ctx) > mid
    assert score_and_decide(ctx) == 0


def test_a_contact_change_committed_after_a_later_score_is_scored_next(tmp_path):
    def late_contact(ctx, conn, tick):
        props = {"email": EMAIL, "jobtitle": "VP Marketing", "lastmodifieddate": "2026-01-01T00:00:59Z"}
        pull.ingest_contacts(ctx, conn, [{"id": "501", "properties": props, "archived": False}])

    ctx, _ = _race(tmp_path, late_contact)
    assert score_and_decide(ctx) == 1
    assert score_and_decide(ctx) == 0


def test_an_event_read_again_changes_nothing(tmp_path):
    clock = [NOW]
    _, ctx = _setup(tmp_path, clock)
    with ctx.store.begin() as conn:
        pull.store_events(ctx, conn, "mailchimp", [_click("p1", NOW - DAY)])
    score_and_decide(ctx)
    clock[0] += 60_000
    with ctx.store.begin() as conn:  # the same event, as a re-read of the campaign's activity brings it
        assert pull.store_events(ctx, conn, "mailchimp", [_click("p1", NOW - DAY)]) == 0
    assert score_and_decide(ctx) == 0
    with ctx.store.begin() as conn:
        seen = conn.execute(sa.select(t.scores.c.seen_changes).where(t.scores.c.email == EMAIL)).scalar_one()
        count = conn.execute(sa.select(t.identities.c.changes).where(t.identities.c.email == EMAIL)).scalar_one()
    assert seen == count > 0
